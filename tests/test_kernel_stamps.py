"""Kernel timestamps on udp: used when the kernel gives them, said so, and closer to the wire than user stamps.

Real sockets on 127.0.0.1 throughout: the agent's own echo (in a thread, or in a
process of its own where timing matters) or the CLI with its embedded agent; the runner's side is the worker's Session and
UdpClient on uvloop.
"""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import time

import numpy as np
import pytest
import uvloop

from agent.echo import Echo
from engine.worker.session import Session
from ipc.clocks.anchors import Anchor, take_anchor
from ipc.frames import KERNEL_T1, KERNEL_T2, KERNEL_T3, KERNEL_T4, Samples
from ipc.protocol import PONG_DECODER, STAMP_DECODER, encode_ping_sized
from tests.agent_stub import StubAgent, legacy, modern
from tests.conftest import scripted_echo, serving_udp_echo
from transports.kernel_stamps import FORCE_USER_ENV
from transports.udp import UdpClient

MS = 1_000_000
ALL_KERNEL = dict.fromkeys(("t1", "t2", "t3", "t4"), "kernel")
ALL_USER = dict.fromkeys(("t1", "t2", "t3", "t4"), "user")
#: The kernel turns receive stamping on lazily (net_enable_timestamp defers it to a work item), so
#: the very first datagrams after a socket asks can arrive unstamped: they are the warmup here.
WARMUP = 2


def ping_pong(credentials: dict, count: int, interval_s: float, paused: frozenset[int] = frozenset()):
    """``count`` measured pings (after ``WARMUP``) through the worker's Session and UdpClient; after
    sending ping k in ``paused`` the loop is blocked for 20 ms, so its pong waits in the socket.
    Returns (samples, anchor, warnings)."""

    async def main() -> tuple[Samples, Anchor, list[str]]:
        client = UdpClient()
        anchor = take_anchor()
        session = Session(
            run_id="stamps",
            iterations=count,
            warmup=WARMUP,
            timeout_ns=1000 * MS,
            interval_ns=int(interval_s * 1e9),
            payload_bytes=credentials.get("min_ping_bytes", 0),  # as the runner pads for the agent's echo
            anchor=anchor,
            send=client.send,
            tx_stamps=client.take_tx_stamps,
        )
        warnings: list[str] = []
        await client.connect(credentials, session.on_receive, lambda kind, detail: warnings.append(detail))
        try:
            for k in range(count + WARMUP):
                session.send(k, time.perf_counter_ns())
                if k in paused:
                    time.sleep(0.02)  # the worker's loop blocked while the pong arrives
                await asyncio.sleep(interval_s)
            deadline = time.monotonic() + 5
            while session.arrivals < count + WARMUP and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)  # the last pong's follow-up stamp, when the echo sends them
            samples = session.take_samples()
        finally:
            await client.close()
        assert samples is not None and len(samples.seq) == count
        return samples, anchor, warnings

    return uvloop.run(main())


def test_kernel_stamps_lie_between_the_user_stamps(udp_echo: dict) -> None:
    s, _, warnings = ping_pong(udp_echo, 300, 0.001)
    assert warnings == []
    assert s.kernel == [KERNEL_T1 | KERNEL_T2 | KERNEL_T4] * 300
    t1, t4 = np.array(s.t1), np.array(s.t4)
    t1_user, t4_user = np.array(s.t1_user), np.array(s.t4_user)
    assert (t1_user <= t1).all(), "a kernel TX stamp before the user-space stamp taken ahead of the send"
    assert (t4 <= t4_user).all(), "a kernel RX stamp after the user-space stamp of the same pong"
    # The agent's time between its kernel t2 and its t3 lies inside the kernel round trip.
    assert (t4 - t1 > np.array(s.processing_ns)).all()


def test_asked_for_it_the_echo_follows_each_pong_with_the_instant_it_left() -> None:
    with serving_udp_echo(Echo("stamps", kernel_t3=True)) as credentials:
        assert credentials["kernel_t3"] is True
        s, anchor, _ = ping_pong(credentials, 300, 0.001)
    assert s.kernel == [KERNEL_T1 | KERNEL_T2 | KERNEL_T3 | KERNEL_T4] * 300
    # Four kernel stamps of one host's CLOCK_REALTIME, in the order the packets went (t1 and t4 put back
    # on the wall clock through the anchor they were moved to the perf timeline with: exact).
    wall = anchor.wall_ns - anchor.perf_ns
    t1, t2, t3, t4 = np.array(s.t1) + wall, np.array(s.t2), np.array(s.t3), np.array(s.t4) + wall
    assert (t1 < t2).all() and (t2 < t3).all() and (t3 < t4).all()
    assert (np.array(s.processing_ns) == t3 - t2).all()


def test_a_follow_up_is_sent_only_where_pong_and_stamp_fit_in_the_ping() -> None:
    """No amplification: pong + stamp never outweigh the ping they answer."""
    with serving_udp_echo(Echo("stamps", kernel_t3=True)) as credentials:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.3)
            sock.connect((credentials["host"], credentials["port"]))
            replies = {}
            for seq, size in ((1, credentials["min_ping_bytes"]), (2, 280)):
                ping = encode_ping_sized(seq, time.time_ns() / 1e6, "stamps", size)
                sock.send(ping)
                got = []
                try:
                    while True:
                        got.append(sock.recv(4096))
                except TimeoutError:
                    pass
                assert sum(map(len, got)) <= len(ping)
                replies[seq] = got
    pong, stamp = replies[1]
    assert PONG_DECODER.decode(pong).seq == 1 and STAMP_DECODER.decode(stamp).seq == 1
    assert STAMP_DECODER.decode(stamp).t3_ns >= PONG_DECODER.decode(pong).t3_ns
    assert len(replies[2]) == 1 and PONG_DECODER.decode(replies[2][0]).seq == 2  # the pong alone


def test_forced_fallback_uses_user_stamps_and_says_so_once(udp_echo: dict, monkeypatch) -> None:
    monkeypatch.setenv(FORCE_USER_ENV, "1")
    s, _, warnings = ping_pong(udp_echo, 50, 0.001)
    assert len(warnings) == 1 and FORCE_USER_ENV in warnings[0]
    assert all(k & (KERNEL_T1 | KERNEL_T4) == 0 for k in s.kernel)
    assert s.t1 == s.t1_user and s.t4 == s.t4_user


def test_a_blocked_loop_grows_user_rtts_but_not_kernel_ones() -> None:
    # 50 paused pings beside 150 others, and an echo that never sleeps: its own wake-up latency
    # (tenths of a ms, either way) would otherwise move one median against the other.
    paused = frozenset(range(5, 200, 4))
    with scripted_echo(rtt_us=0, busy=True) as echo:  # its own process: our blocked loop cannot slow it down
        s, _, _ = ping_pong(echo, 200, 0.002, paused)
    seq = np.array(s.seq)
    is_paused = np.isin(seq - 1, list(paused))
    kernel_rtt = np.array(s.t4) - np.array(s.t1)
    user_rtt = np.array(s.t4_user) - np.array(s.t1_user)
    assert s.kernel == [KERNEL_T1 | KERNEL_T4] * 200
    # The pongs of paused pings waited in the socket for the rest of the 20 ms block: the user stamps
    # see it, the kernel's do not. (The median: with an echo this fast, a pong can now and then be read
    # while the send that preceded the block is still finishing.)
    assert statistics.median((user_rtt[is_paused] - kernel_rtt[is_paused]).tolist()) > 15 * MS
    quiet = statistics.median(kernel_rtt[~is_paused].tolist())
    assert abs(statistics.median(kernel_rtt[is_paused].tolist()) - quiet) < 0.1 * MS


def _result(cli, tmp_path, *args: str, env: dict | None = None) -> tuple[dict, str]:
    out = tmp_path / "r.json"
    proc = cli("--platform", "udp", "--iterations", "200", "--cooldown", "2", *args, "--output", str(out), env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text()), proc.stdout


def test_a_run_reports_kernel_stamps_and_the_stack_delay(cli, tmp_path) -> None:
    result, stdout = _result(cli, tmp_path)
    meta, stats = result["metadata"], result["statistics"]
    assert meta["timestamp_source"] == ALL_KERNEL
    assert not any("kernel" in w for w in meta["warnings"])
    p50, p99, top = stats["stack_delay_p50"], stats["stack_delay_p99"], stats["stack_delay_max"]
    assert 0 < p50 <= p99 <= top
    assert "t4 kernel" in stdout and "stack" in stdout


def test_forced_fallback_in_a_run_gives_user_stamps_and_one_warning(cli, tmp_path) -> None:
    result, _ = _result(cli, tmp_path, env={FORCE_USER_ENV: "1"})
    meta, stats = result["metadata"], result["statistics"]
    assert meta["timestamp_source"] == ALL_USER
    assert sum(FORCE_USER_ENV in w for w in meta["warnings"]) == 1
    assert stats["stack_delay_p50"] is None and stats["stack_delay_max"] is None
    assert stats["successful_messages"] == 200


@pytest.mark.parametrize("reply, one_way", [(modern, True), (legacy, False)], ids=["user-stamping", "legacy"])
def test_agents_without_kernel_stamps_still_work(cli, tmp_path, reply, one_way) -> None:
    with StubAgent(reply=reply) as agent:
        result, _ = _result(cli, tmp_path, "--agent-url", agent.url)
    meta = result["metadata"]
    assert result["statistics"]["successful_messages"] == 200
    assert meta["timestamp_source"] == {**ALL_KERNEL, "t2": "user", "t3": "user"}
    assert meta["one_way_available"] is one_way
