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


def test_polling_starts_at_its_lead_before_the_learned_next_arrival_and_ends_with_it_or_its_limit() -> None:
    """Arrivals 1 ms apart teach the schedule; the poller then looks from LEAD_NS before the next one is
    due until a datagram waits (here: on its third look), hands it to the reader, and the next time,
    with none coming, stops at its own deadline. Counted in looks, not timed."""
    looks: list[int] = []
    handed: list[int] = []
    waiting_from_look = [3]

    def pending() -> bool:
        looks.append(time.perf_counter_ns())
        return len(looks) >= waiting_from_look[0]

    async def settle(poller: EchoPoller) -> None:
        """Until the poller has stopped (its chain runs once per loop round)."""
        for _ in range(5_000):
            await asyncio.sleep(0.001)
            if looks and not poller._polling:
                return

    async def scenario() -> EchoPoller:
        poller = EchoPoller(3 * MS, pending, lambda: handed.append(len(looks)))
        first = time.perf_counter_ns() - 4 * MS
        for k in range(5):  # arrivals at first, first + 1 ms, ... (the last one now)
            poller.arrived(first + k * MS)
        expected = first + 5 * MS  # one interval after the last arrival
        poller.rearm()
        await settle(poller)
        assert handed == [3]  # two empty looks, then the waiting datagram went to the reader
        assert min(looks) >= expected - echo_poll.LEAD_NS  # the timer never fires before its lead
        # Nothing comes next time: it looks until its own deadline, then lets the loop sleep again.
        looks.clear()
        waiting_from_look[0] = 10**9
        poller.rearm()
        await settle(poller)
        assert len(looks) > 1
        assert sum(t > poller._deadline for t in looks) <= 1  # at most the look that found it passed
        quiet_from = len(looks)
        await asyncio.sleep(0.01)
        assert len(looks) == quiet_from  # no timer armed without a new arrival
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
