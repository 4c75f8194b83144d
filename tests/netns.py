"""A network namespace joined to this one by a veth pair: a real, non-loopback link on one machine.

libwebrtc ignores loopback interfaces and aioice skips 127.0.0.1, so WebRTC
between two processes needs another interface. A veth pair gives one without
touching the machine's network: the namespace side (``ns_ip``) has no route
anywhere but the pair, so nothing a test starts there can reach, or be
reached from, outside this machine. Needs root and iproute2.
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

#: Names of what we create; leftovers of a killed test run are recognised by it and removed.
PREFIX = "rtcb"
_serial = itertools.count()
INSTALL_HINT = "install iproute2 (apt-get install iproute2), as .ci/run does"


@dataclass(frozen=True)
class VethNamespace:
    name: str
    host_if: str
    host_ip: str  # this side of the pair, in the machine's own namespace
    ns_ip: str  # the namespace's side

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]


def _ip(*args: str) -> str:
    return subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=10).stdout


def require() -> None:
    """Skip unless namespaces can be made here: root and iproute2 (iproute2's absence fails in CI)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create a network namespace and veth pair (libwebrtc ignores loopback)")
    if shutil.which("ip") is None:
        message = f"`ip` not found: {INSTALL_HINT}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def sweep() -> None:
    """Remove namespaces left by test runs that were killed before their cleanup ran."""
    for line in _ip("netns", "list").splitlines():
        name = line.split()[0] if line.split() else ""
        owner = name.removeprefix(f"{PREFIX}-").split("-")[0]
        if name.startswith(f"{PREFIX}-") and owner.isdigit() and not _alive(int(owner)):
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("netns", "del", name)


def _free_subnet() -> ipaddress.IPv4Network:
    """A 10.99.N.0/24 no interface here uses yet, so concurrent test runs do not collide."""
    used = _ip("-4", "-o", "addr", "show")
    for n in range(1, 255):
        subnet = ipaddress.IPv4Network(f"10.99.{n}.0/24")
        if f" 10.99.{n}." not in used:
            return subnet
    raise RuntimeError("no free 10.99.N.0/24 subnet for a test namespace")


@contextlib.contextmanager
def veth_namespace() -> Iterator[VethNamespace]:
    """A namespace ``rtcb-<pid>-<n>`` with a veth pair to this one; removed on exit, even after a failure."""
    require()
    sweep()
    made = f"{os.getpid()}-{next(_serial)}"
    name = f"{PREFIX}-{made}"
    host_if, ns_if = f"rb{made}h", f"rb{made}n"  # within the 15-character interface name limit
    subnet = _free_subnet()
    host_ip, ns_ip = str(subnet[1]), str(subnet[2])
    try:
        _ip("netns", "add", name)
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if, "netns", name)
        _ip("addr", "add", f"{host_ip}/24", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("-n", name, "addr", "add", f"{ns_ip}/24", "dev", ns_if)
        _ip("-n", name, "link", "set", ns_if, "up")
        _ip("-n", name, "link", "set", "lo", "up")
        yield VethNamespace(name, host_if, host_ip, ns_ip)
    finally:
        # Deleting the namespace destroys its end of the pair, and with it ours; the link delete
        # covers a failure before the namespace side existed.
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("netns", "del", name)
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("link", "del", host_if)
