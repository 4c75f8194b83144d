"""Running the relay: in this process until a signal (``benchmark-runner impair``), or as a child the
runner starts for ``--impair`` and stops when its workers are done."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import NamedTuple

import msgspec

from engine.impair.relay import Relay
from engine.impair.spec import ImpairSpec, parse_spec
from engine.impair.truth import Header, TruthWriter
from ipc.children import start_child, stop_process
from ipc.errors import BenchError
from ipc.lifeline import exit_with_parent
from transports.sdp import candidate_addresses, rewrite_candidates

READY_PREFIX = "impair relaying udp://"


class ProxyConfig(msgspec.Struct, frozen=True):
    spec: str
    upstream_host: str
    upstream_port: int
    listen_host: str = "127.0.0.1"
    listen_port: int = 0
    truth_log: str | None = None
    parent_pid: int | None = None  # stop when this process dies (the runner's child)


def run_proxy(config: ProxyConfig, ready: Callable[[str], None], spec: ImpairSpec | None = None) -> None:
    """Relay until SIGTERM or SIGINT, then write the rest of the truth log; ``ready`` gets the listen line."""
    spec = spec or parse_spec(config.spec)
    truth = TruthWriter(config.truth_log)
    relay = Relay(spec, (config.listen_host, config.listen_port), (config.upstream_host, config.upstream_port), truth)
    (host, port), (back_host, back_port) = relay.address, relay.back_address
    truth.header(Header(spec.describe(), f"{host}:{port}", f"{config.upstream_host}:{config.upstream_port}"))
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    previous = signal.set_wakeup_fd(wake_w)
    handlers = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGTERM, signal.SIGINT)}
    if config.parent_pid is not None:
        exit_with_parent(config.parent_pid)  # after the handler is set: the SIGTERM it may send ends the relay cleanly
    try:
        ready(f"{READY_PREFIX}{host}:{port} -> {config.upstream_host}:{config.upstream_port} from {back_host}:{back_port}")
        relay.serve(wake_r)
    finally:
        relay.close()
        signal.set_wakeup_fd(previous)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        os.close(wake_r)
        os.close(wake_w)


class Addresses(NamedTuple):
    front: tuple[str, int]  # where the client sends
    back: tuple[str, int]  # where the upstream sees the first client's datagrams come from


class ProxyProcess:
    """Context manager: the relay in a child process (its own CPU time, no GIL shared with the parent);
    yields its addresses."""

    def __init__(self, config: ProxyConfig) -> None:
        self.config = config
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> Addresses:
        argv = [sys.executable, "-m", "engine.impair", msgspec.json.encode(self.config).decode()]
        self._proc, rest = start_child(argv, READY_PREFIX, "impairment proxy")
        words = rest.split()
        front, back = (words[0].rpartition(":"), words[-1].rpartition(":"))
        return Addresses((front[0], int(front[2])), (back[0], int(back[2])))

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            stop_process(self._proc)
            self._proc = None


def route_through_proxy(
    stack: contextlib.ExitStack, platform: str, spec: str, truth_log: str | None, credentials: dict
) -> tuple[dict, dict]:
    """Start a proxy in front of a session's echo (stopped with ``stack``); returns the credentials that
    go through it and what the result's metadata records of it.

    udp: the echo's host and port become the proxy's. webrtc: the agent's offer
    names the proxy as its candidate, and ``answer_via`` tells the runner to name
    the proxy's upstream socket as its own in the answer, so ICE finds no other path.
    """
    if platform == "webrtc":
        (upstream,) = candidate_addresses(credentials["offer"]["sdp"])[:1] or [("", 0)]
    else:
        upstream = (str(credentials["host"]), int(credentials["port"]))
    if not upstream[1]:
        raise BenchError(f"--impair: the agent's {platform} credentials name no UDP address to relay to")
    config = ProxyConfig(spec, upstream[0], upstream[1], truth_log=truth_log, parent_pid=os.getpid())
    front, back = stack.enter_context(ProxyProcess(config))
    described = parse_spec(spec).describe()
    described.update(proxy=f"{front[0]}:{front[1]}", upstream=f"{upstream[0]}:{upstream[1]}", truth_log=truth_log)
    if platform == "webrtc":
        offer = {**credentials["offer"], "sdp": rewrite_candidates(credentials["offer"]["sdp"], *front)}
        return {**credentials, "offer": offer, "answer_via": f"{back[0]}:{back[1]}"}, described
    return {**credentials, "host": front[0], "port": front[1]}, described
