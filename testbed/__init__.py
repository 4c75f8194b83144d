"""What the tests and the perf suite both stand on: a real VictoriaMetrics server to write to, and result
files built from synthetic pongs through the real parent path. Neither suite imports the other."""
