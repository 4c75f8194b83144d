"""``benchmark-runner``'s command line. ``run`` is the console entry: it catches Ctrl-C from the very start.

Loading the runner imports numpy, aiohttp and msgspec, which takes a good part
of a second; a Ctrl-C then would print a traceback through whichever import
was running. ``run`` imports the runner inside the same handler that ends an
interrupted run, so Ctrl-C at any moment is one line and exit 130.
"""

import sys

EXIT_INTERRUPTED = 130


def run() -> None:
    try:
        from bench_cli.main import main
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    main()
