from bench_cli.main import main

main()
