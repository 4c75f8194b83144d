"""The test namespace fixture: a working veth link, and nothing left behind, even after a failure."""

from __future__ import annotations

import subprocess

import pytest

from tests import netns


def links() -> str:
    return subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout


def namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout


@pytest.mark.root
@pytest.mark.netns
def test_the_pair_links_the_namespace_and_everything_goes_when_the_block_fails():
    netns.require()
    with pytest.raises(RuntimeError, match="a failing test"), netns.veth_namespace() as ns:
        assert ns.name in namespaces()
        # The namespace side answers on the pair; it has no other route (nothing outside is reachable).
        routes = subprocess.run(ns.command(["ip", "route"]), capture_output=True, text=True, check=True).stdout
        assert routes.split()[0] == f"{ns.ns_ip.rsplit('.', 1)[0]}.0/24" and "default" not in routes
        probe = subprocess.run(
            ns.command(["python3", "-c", f"import socket; socket.create_connection(('{ns.host_ip}', 9), 2)"]),
            capture_output=True,
            text=True,
        )
        assert "Connection refused" in probe.stderr  # reached this side's kernel, which had no listener
        raise RuntimeError("a failing test")
    assert ns.name not in namespaces()
    assert ns.host_if not in links()


@pytest.mark.root
@pytest.mark.netns
def test_namespaces_of_killed_runs_are_swept():
    netns.require()
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = f"{netns.PREFIX}-{dead.pid}-0"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    try:
        netns.sweep()
        assert stale not in namespaces()
    finally:
        subprocess.run(["ip", "netns", "del", stale], capture_output=True)


def test_without_root_they_skip_and_say_why(monkeypatch):
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    with pytest.raises(pytest.skip.Exception, match="needs root to create a network namespace"):
        netns.require()
