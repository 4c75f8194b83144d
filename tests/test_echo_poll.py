"""The udp echo's polling around each expected ping (``--busy-poll-us``): when it polls, what it grants, and a real run with it."""

from __future__ import annotations

import asyncio
import json
import time

import uvloop

from tests.conftest import call
from transports import echo_poll
from transports.echo_poll import EchoPoller

MS = 1_000_000


def test_polling_starts_before_the_learned_next_arrival_and_ends_with_it_or_its_limit() -> None:
    """Four arrivals 1 ms apart teach the schedule; the poller then polls from LEAD_NS before the fifth is
    due until a datagram waits (handed to the reader), and the next time, with none coming, until its limit."""
    looks: list[int] = []
    handed: list[int] = []
    arrives_at = [0]

    def pending() -> bool:
        now = time.perf_counter_ns()
        looks.append(now)
        return 0 < arrives_at[0] <= now

    async def scenario() -> EchoPoller:
        poller = EchoPoller(3 * MS, pending, lambda: handed.append(time.perf_counter_ns()))
        first = time.perf_counter_ns() - 4 * MS
        for k in range(5):  # arrivals at first, first + 1 ms, ... (the last one now)
            poller.arrived(first + k * MS)
        expected = first + 5 * MS  # one interval after the last arrival
        arrives_at[0] = expected
        poller.rearm()
        deadline = time.perf_counter_ns() + 50 * MS
        while not handed and time.perf_counter_ns() < deadline:
            await asyncio.sleep(0.0005)
        assert handed, "the poller never handed a waiting datagram to the reader"
        assert min(looks) >= expected - echo_poll.LEAD_NS  # it did not start before its lead
        assert min(looks) < expected  # ...and it was looking before the datagram came
        assert handed[0] >= expected
        # Nothing comes next time: polling stops at its limit, and the loop sleeps again.
        arrives_at[0] = 0
        looks.clear()
        poller.rearm()
        await asyncio.sleep(0.02)
        assert looks, "no poll around the second expected arrival"
        assert max(looks) - min(looks) <= 3 * MS + MS  # the limit, and one loop round
        quiet_from = len(looks)
        await asyncio.sleep(0.01)
        assert len(looks) == quiet_from  # stopped: no timer armed without a new arrival
        poller.close()
        return poller

    poller = uvloop.run(scenario())
    assert poller.polled == 1


def test_the_agent_grants_polling_up_to_its_cap(agent_url) -> None:
    for asked, granted in ((None, 0), (500, 500), (50_000, 2000)):
        body = {"platform": "udp", "run_id": "poll", **({"busy_poll_us": asked} if asked is not None else {})}
        status, answer = call("POST", f"{agent_url}/connect", json=body)
        assert status == 200, answer
        assert answer["udp"]["busy_poll_us"] == granted
        call("POST", f"{agent_url}/disconnect", json={"room_id": answer["room_id"]})
    status, _ = call("POST", f"{agent_url}/connect", json={"platform": "udp", "run_id": "p", "busy_poll_us": -1})
    assert status == 400


def test_a_udp_run_with_busy_polling_says_so_and_loses_nothing(cli, tmp_path) -> None:
    out = tmp_path / "r.json"
    proc = cli(
        "--platform", "udp", "--iterations", "300", "--cooldown", "2", "--busy-poll-us", "1000", "--output", str(out)
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["metadata"]["agent"]["busy_poll_us"] == 1000
    assert result["metadata"]["busy_poll_us"] == 1000
    assert result["statistics"]["successful_messages"] == 300
    assert result["metadata"]["timestamp_source"] == dict.fromkeys(("t1", "t2", "t3", "t4"), "kernel")
