"""A real, self-contained time service on 127.0.0.1: two chronyd that measure but never steer this
host's clock (``-x``), a server (``local stratum 8``) and a client of it, on unprivileged ports.

``with chrony_pair(tmp) as cmdport:`` yields the client's command port, once it has selected its
source (``chronyc -c tracking`` says ``Normal``); both daemons get SIGTERM on the way out.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

#: The client selects its source within about 5 s (CLOCKS.md); more on a busy machine.
SYNC_TIMEOUT_S = 30.0


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tracking(cmdport: int) -> str:
    argv = ["chronyc", "-c", "-n", "-h", "127.0.0.1", "-p", str(cmdport), "tracking"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=5).stdout.strip()


@contextlib.contextmanager
def chrony_pair(folder: Path) -> Iterator[int]:
    if shutil.which("chronyd") is None:
        message = "chronyd is not installed: apt-get install chrony, its service kept from starting (docs/testing.md)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    ntp, server_cmd, client_cmd = _free_udp_port(), _free_udp_port(), _free_udp_port()
    configs = {
        "server": [
            "local stratum 8", "allow 127.0.0.1", f"port {ntp}", f"cmdport {server_cmd}",
            "bindcmdaddress 127.0.0.1", f"pidfile {folder / 'server.pid'}",
        ],
        "client": [
            f"server 127.0.0.1 port {ntp} iburst minpoll -4 maxpoll -4", "port 0", f"cmdport {client_cmd}",
            "bindcmdaddress 127.0.0.1", f"pidfile {folder / 'client.pid'}",
        ],
    }  # fmt: skip
    procs = []
    try:
        for name, lines in configs.items():
            conf = folder / f"{name}.conf"
            conf.write_text("\n".join(lines) + "\n")
            log = open(folder / f"{name}.log", "w")  # noqa: SIM115 - closed with the process below
            procs.append((subprocess.Popen(["chronyd", "-x", "-d", "-f", str(conf)], stdout=log, stderr=log), log))
        deadline = time.monotonic() + SYNC_TIMEOUT_S
        while not tracking(client_cmd).endswith(",Normal") or ",0.0.0.0," in tracking(client_cmd):
            if time.monotonic() > deadline:
                pytest.fail(f"chronyd client did not select its source in {SYNC_TIMEOUT_S:g} s: {tracking(client_cmd)!r}")
            time.sleep(0.2)
        yield client_cmd
    finally:
        for proc, log in procs:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
            log.close()
