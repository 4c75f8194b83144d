"""DailyClient and DailyEcho against the scripted daily-python stand-in (``tests/fake_daily.py``)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from agent.echo import Echo
from ipc.protocol import PONG_DECODER, encode_ping
from tests.fake_daily import FakeDaily
from transports.base import TransportError
from transports.daily import DailyClient, DailyEcho

ROOM = "https://bench.daily.co/room-1"


@pytest.fixture
def sdk() -> Iterator[FakeDaily]:
    fake = FakeDaily()
    yield fake
    fake.shutdown()


class Inbox:
    """Receiver and notify callbacks that remember what they got and on which thread."""

    def __init__(self) -> None:
        self.messages: list[tuple[bytes, int, int]] = []
        self.notices: list[tuple[str, str]] = []
        self.arrived = asyncio.Event()

    def __call__(self, data: bytes, t4: int) -> None:
        self.messages.append((data, t4, threading.get_ident()))
        self.arrived.set()

    def notify(self, kind: str, detail: str) -> None:
        self.notices.append((kind, detail))
        self.arrived.set()

    async def wait(self, count: int, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.messages) + len(self.notices) < count:
                self.arrived.clear()
                await self.arrived.wait()


async def echo_and_client(sdk: FakeDaily) -> tuple[DailyEcho, DailyClient, Inbox]:
    echo = DailyEcho(ROOM, sdk=sdk)
    await echo.start(Echo())
    client, inbox = DailyClient(sdk=sdk), Inbox()
    await asyncio.wait_for(client.connect({"room_url": ROOM}, inbox, inbox.notify), 5)
    return echo, client, inbox


def test_join_sets_up_a_data_only_participant_and_round_trips_a_ping(sdk: FakeDaily) -> None:
    async def scenario() -> None:
        echo, client, inbox = await echo_and_client(sdk)
        echo_call, client_call = sdk.clients
        assert sdk.inits == 1  # once per process, however many clients
        assert client_call.join_args == {
            "url": ROOM,
            "token": None,
            "client_settings": {"inputs": {"camera": False, "microphone": False}},
        }
        assert all(v == "unsubscribed" for v in client_call.profiles["base"].values())
        assert (echo_call.user_name, client_call.user_name) == ("echo-agent", "benchmark-runner")

        t1 = time.perf_counter_ns()
        client.send(client.to_wire(encode_ping(7, 1234.5, "run-1")))
        await inbox.wait(1)
        data, t4, thread = inbox.messages[0]
        assert isinstance(data, dict)  # as Daily delivered it: converted only when matched
        pong = PONG_DECODER.decode(client.from_wire(data))
        assert (pong.seq, pong.client_timestamp, pong.message_count) == (7, 1234.5, 1)
        assert pong.t2_ns <= pong.t3_ns and t4 > t1
        assert thread == threading.get_ident()  # handed to the loop, not run on the SDK's thread
        assert echo_call.sent[0][1] == client_call.id  # the pong goes back to its sender only
        assert client.versions()["daily-python"]
        await client.close()
        await echo.close()

    asyncio.run(scenario())


def test_join_failure_carries_dailys_message(sdk: FakeDaily) -> None:
    sdk.join_error = "room not found"

    async def scenario() -> None:
        client = DailyClient(sdk=sdk)
        with pytest.raises(TransportError, match=rf"could not join Daily room {ROOM}: Daily says: room not found"):
            await client.connect({"room_url": ROOM}, Inbox(), Inbox().notify)
        await client.close()
        assert sdk.clients[0].released == 1 and sdk.clients[0].left == 0  # never joined: release only

    asyncio.run(scenario())


def test_join_that_never_completes_times_out_and_still_releases(sdk: FakeDaily) -> None:
    sdk.join_hangs = True

    async def scenario() -> None:
        client = DailyClient(sdk=sdk)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.connect({"room_url": ROOM}, Inbox(), Inbox().notify), 0.2)
        assert client.waiting_for == f"the join of Daily room {ROOM}"  # what the worker's timeout error names
        await client.close()
        assert sdk.clients[0].released == 1

    asyncio.run(scenario())


def test_missing_room_url_is_a_transport_error(sdk: FakeDaily) -> None:
    with pytest.raises(TransportError, match="daily credentials need room_url"):
        asyncio.run(DailyClient(sdk=sdk).connect({"expires_at": 1}, Inbox(), Inbox().notify))


def test_message_before_join_reaches_the_session_and_send_before_join_is_refused(sdk: FakeDaily) -> None:
    async def scenario() -> None:
        sdk.join_hangs = True
        client, inbox = DailyClient(sdk=sdk), Inbox()
        with pytest.raises(TransportError, match="send before connect"):
            client.send(b"{}")
        joining = asyncio.ensure_future(client.connect({"room_url": ROOM}, inbox, inbox.notify))
        await asyncio.sleep(0.05)
        sdk.inject(sdk.clients[0], {"type": "pong", "seq": 99})
        await inbox.wait(1)
        # Stamped and delivered like any message; the session, not the transport, calls it unknown.
        assert inbox.messages[0][0] == {"type": "pong", "seq": 99}
        joining.cancel()
        await client.close()

    asyncio.run(scenario())


def test_echo_participant_leaving_mid_run_is_reported_and_later_pings_get_no_answer(sdk: FakeDaily) -> None:
    async def scenario() -> None:
        echo, client, inbox = await echo_and_client(sdk)
        client.send(client.to_wire(encode_ping(1, 1.0, "r")))
        await inbox.wait(1)
        sdk.leave(sdk.clients[0])  # the SFU drops the echo
        await inbox.wait(2)
        assert inbox.notices == [("warning", "the Daily echo participant left the room (leftCall)")]
        client.send(client.to_wire(encode_ping(2, 2.0, "r")))
        await asyncio.sleep(0.1)
        assert len(inbox.messages) == 1  # no pong for seq 2: the session will count it lost
        await client.close()
        await echo.close()

    asyncio.run(scenario())


def test_pong_on_the_sdk_thread_is_stamped_there_while_the_loop_is_busy(sdk: FakeDaily) -> None:
    async def scenario() -> None:
        echo, client, inbox = await echo_and_client(sdk)
        sent = time.perf_counter_ns()
        client.send(client.to_wire(encode_ping(1, 1.0, "r")))
        sdk.wait_idle()  # the loop is blocked while ping and pong cross on the SDK's thread
        busy_until = time.perf_counter_ns()
        await inbox.wait(1)
        _, t4, thread = inbox.messages[0]
        pong_callback_returned = sdk.delivered_ns[-1]
        # Stamped inside the SDK's callback, before the loop could run: not when the loop got to it.
        assert sent < t4 <= pong_callback_returned < busy_until
        assert thread == threading.get_ident()
        await client.close()
        await echo.close()

    asyncio.run(scenario())


def test_close_twice_leaves_and_releases_once(sdk: FakeDaily) -> None:
    async def scenario() -> None:
        echo, client, _ = await echo_and_client(sdk)
        for _ in range(2):
            await client.close()
            await echo.close()
        assert [(c.left, c.released) for c in sdk.clients] == [(1, 1), (1, 1)]

    asyncio.run(scenario())


def test_refused_send_is_reported_once(sdk: FakeDaily) -> None:
    async def scenario() -> None:
        echo, client, inbox = await echo_and_client(sdk)
        sdk.leave(sdk.clients[1])  # this runner is dropped: Daily's completion reports "not joined"
        await inbox.wait(1)  # the drop itself: its own error, tested on its own below
        for seq in range(3):
            client.send(client.to_wire(encode_ping(seq + 1, 1.0, "r")))
        await inbox.wait(2)
        await asyncio.sleep(0.05)
        assert [n for n in inbox.notices if n[0] == "warning"] == [
            ("warning", "Daily refused an app message: not joined")
        ]
        await client.close()
        await echo.close()

    asyncio.run(scenario())


def test_runner_dropped_mid_run_is_one_error(sdk: FakeDaily) -> None:
    async def scenario() -> None:
        echo, client, inbox = await echo_and_client(sdk)
        client.send(client.to_wire(encode_ping(1, 1.0, "r")))
        await inbox.wait(1)
        sdk.leave(sdk.clients[1])  # the SFU drops this runner: its call state goes to "left"
        await inbox.wait(2)
        await client.close()  # the worker closes after the error: that leave is not news
        sdk.wait_idle()
        await asyncio.sleep(0.05)
        assert inbox.notices == [("error", "Daily ended the call")]
        assert len(inbox.messages) == 1
        await echo.close()

    asyncio.run(scenario())


def test_closing_mid_run_is_no_error(sdk: FakeDaily) -> None:
    async def scenario() -> None:
        echo, client, inbox = await echo_and_client(sdk)
        client.send(client.to_wire(encode_ping(1, 1.0, "r")))
        await inbox.wait(1)
        await client.close()  # Daily reports our own call state going to "left" too
        sdk.wait_idle()
        await asyncio.sleep(0.05)
        assert sdk.clients[1].state == "left"
        assert inbox.notices == []
        await echo.close()

    asyncio.run(scenario())


def test_a_drop_the_sdk_reported_just_before_our_close_is_not_an_error(sdk: FakeDaily) -> None:
    async def scenario() -> None:
        echo, client, inbox = await echo_and_client(sdk)
        sdk.leave(sdk.clients[1])
        sdk.wait_idle()  # "left" came on the SDK's thread; its notice waits for the loop, which closes first
        await client.close()
        await asyncio.sleep(0.05)
        assert inbox.notices == []
        await echo.close()

    asyncio.run(scenario())


def test_the_echo_answers_each_sender_and_ignores_garbage(sdk: FakeDaily) -> None:
    async def scenario() -> None:
        handler = Echo()
        echo = DailyEcho(ROOM, sdk=sdk)
        assert await echo.start(handler) == {"room_url": ROOM}
        sdk.inject(sdk.clients[0], "not a ping", sender="someone")
        sdk.inject(sdk.clients[0], {"type": "ping", "seq": 3, "timestamp": 5.0, "run_id": "r"}, sender="p-1")
        for _ in range(100):
            if sdk.clients[0].sent:
                break
            await asyncio.sleep(0.01)
        (pong, to), = sdk.clients[0].sent
        assert to == "p-1" and pong["seq"] == 3 and pong["t2_ns"] <= pong["t3_ns"]
        assert handler.malformed == 1
        await echo.close()

    asyncio.run(scenario())
