from bench_cli import run

run()
