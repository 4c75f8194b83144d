"""``python -m engine.worker --platform NAME --pipe FD --parent PID``: one worker, started by the parent.

It loads its platform's transport at once; the spec follows as msgpack on
stdin (none: the run was called off), and frames go out on the inherited pipe FD.
Only this package, ``ipc``, ``transports`` and the platform's SDK are loaded.
"""

from engine.worker.main import main

main()
