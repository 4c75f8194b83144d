"""``python -m engine.worker --pipe FD --parent PID``: one worker, started by the parent (pyperf's way).

The spec arrives as msgpack on stdin; frames go out on the inherited pipe FD.
Only this package, ``ipc``, ``transports`` and the platform's SDK are loaded.
"""

from engine.worker.main import main

main()
