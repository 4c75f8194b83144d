"""The result file: its model, how it is built from a run, written, read back and compared."""
