"""LiveKitClient and LiveKitEcho against the scripted Room stand-in (``tests/fake_livekit.py``)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from livekit import api, rtc

from agent.echo import Echo
from ipc.protocol import PONG_DECODER, encode_ping
from tests.fake_livekit import FakeSfu
from transports.base import TransportError
from transports.livekit import ECHO_IDENTITY, RUNNER_IDENTITY, LiveKitClient, LiveKitEcho

URL = "ws://sfu.invalid:7880"


def token(identity: str, room: str = "bench-1") -> str:
    return (
        api.AccessToken("key", "s" * 32)
        .with_identity(identity)
        .with_grants(api.VideoGrants(room_join=True, room=room))
        .to_jwt()
    )


def credentials(**extra: Any) -> dict[str, Any]:
    base = {"server_url": URL, "room_name": "bench-1", "token": token(RUNNER_IDENTITY), "echo_identity": ECHO_IDENTITY}
    return {**base, **extra}


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[bytes, int]] = []
        self.notices: list[tuple[str, str]] = []

    def __call__(self, data: bytes, t4: int) -> None:
        self.messages.append((data, t4))

    def notify(self, kind: str, detail: str) -> None:
        self.notices.append((kind, detail))

    async def until(self, predicate: Any, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.005)


async def start_echo(sfu: FakeSfu) -> LiveKitEcho:
    echo = LiveKitEcho(URL, token(ECHO_IDENTITY), room_factory=sfu.room)
    assert await echo.start(Echo()) == {"server_url": URL}
    return echo


@pytest.mark.parametrize("reliable", [True, False])
def test_join_then_ping_to_the_echo_alone_on_the_chosen_channel(reliable: bool) -> None:
    async def scenario() -> None:
        sfu = FakeSfu()
        echo = await start_echo(sfu)
        client, inbox = LiveKitClient(reliable=reliable, room_factory=sfu.room), Inbox()
        await asyncio.wait_for(client.connect(credentials(), inbox, inbox.notify), 5)
        runner_room = sfu.made[1]
        assert runner_room.url == URL and runner_room.identity == RUNNER_IDENTITY
        assert runner_room.options.auto_subscribe is False  # data only
        t1 = time.perf_counter_ns()
        client.send(encode_ping(5, 42.0, "run"))
        await inbox.until(lambda: inbox.messages)
        data, t4 = inbox.messages[0]
        pong = PONG_DECODER.decode(data)
        assert (pong.seq, pong.client_timestamp) == (5, 42.0) and pong.t2_ns <= pong.t3_ns and t4 > t1
        assert runner_room.local_participant.published == [(encode_ping(5, 42.0, "run"), reliable, [ECHO_IDENTITY])]
        # The echo answers on the channel the ping came in on, to its sender only.
        assert sfu.made[0].local_participant.published[0][1:] == (reliable, [RUNNER_IDENTITY])
        assert set(client.versions()) == {"livekit", "livekit-api"}
        await client.close()
        await echo.close()

    asyncio.run(scenario())


def test_waits_for_the_echo_participant_before_returning() -> None:
    async def scenario() -> None:
        sfu = FakeSfu()
        client, inbox = LiveKitClient(room_factory=sfu.room), Inbox()
        joining = asyncio.ensure_future(client.connect(credentials(), inbox, inbox.notify))
        await asyncio.sleep(0.1)
        assert not joining.done()
        assert client.waiting_for == "the echo participant echo-agent to join LiveKit room bench-1"
        echo = await start_echo(sfu)
        await asyncio.wait_for(joining, 5)
        await client.close()
        await echo.close()

    asyncio.run(scenario())


def test_an_original_agent_names_no_echo_identity_so_any_participant_will_do() -> None:
    async def scenario() -> None:
        sfu = FakeSfu()
        other = LiveKitEcho(URL, token("some-original-agent"), room_factory=sfu.room)
        await other.start(Echo())
        client, inbox = LiveKitClient(room_factory=sfu.room), Inbox()
        legacy = credentials()
        del legacy["echo_identity"]
        await asyncio.wait_for(client.connect(legacy, inbox, inbox.notify), 5)
        client.send(encode_ping(1, 1.0, "r"))
        await inbox.until(lambda: inbox.messages)
        await client.close()
        await other.close()

    asyncio.run(scenario())


def test_join_failure_carries_the_sdks_message() -> None:
    async def scenario() -> None:
        client = LiveKitClient(room_factory=FakeSfu(connect_error="invalid token: signature").room)
        with pytest.raises(TransportError, match=f"could not join LiveKit room bench-1 at {URL}: invalid token"):
            await client.connect(credentials(), Inbox(), Inbox().notify)
        await client.close()

    asyncio.run(scenario())


def test_join_that_never_completes_times_out() -> None:
    async def scenario() -> None:
        client = LiveKitClient(room_factory=FakeSfu(connect_hangs=True).room)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.connect(credentials(), Inbox(), Inbox().notify), 0.2)
        assert client.waiting_for == f"the join of LiveKit room bench-1 at {URL}"
        await client.close()

    asyncio.run(scenario())


def test_bad_credentials_and_send_before_join() -> None:
    client = LiveKitClient(room_factory=FakeSfu().room)
    with pytest.raises(TransportError, match="send before connect"):
        client.send(b"{}")
    with pytest.raises(TransportError, match="need server_url and token"):
        asyncio.run(client.connect({"room_name": "x"}, Inbox(), Inbox().notify))


def test_message_before_the_echo_is_present_is_still_stamped_and_delivered() -> None:
    async def scenario() -> None:
        sfu = FakeSfu()
        client, inbox = LiveKitClient(room_factory=sfu.room), Inbox()
        joining = asyncio.ensure_future(client.connect(credentials(), inbox, inbox.notify))
        await asyncio.sleep(0.05)
        stranger = sfu.room()
        await stranger.connect(URL, token("stranger"))
        await stranger.local_participant.publish_data(b'{"type":"pong","seq":9}', destination_identities=[])
        await inbox.until(lambda: inbox.messages)
        assert inbox.messages[0][0] == b'{"type":"pong","seq":9}'
        assert not joining.done()  # a stranger is not the echo
        joining.cancel()
        await client.close()

    asyncio.run(scenario())


def test_echo_leaving_mid_run_is_reported_and_later_pings_are_unanswered() -> None:
    async def scenario() -> None:
        sfu = FakeSfu()
        echo = await start_echo(sfu)
        client, inbox = LiveKitClient(room_factory=sfu.room), Inbox()
        await client.connect(credentials(), inbox, inbox.notify)
        sfu.evict(ECHO_IDENTITY)
        await inbox.until(lambda: inbox.notices)
        assert inbox.notices == [("warning", "the LiveKit echo participant 'echo-agent' left room bench-1")]
        client.send(encode_ping(1, 1.0, "r"))
        await asyncio.sleep(0.1)
        assert inbox.messages == []
        await client.close()
        await echo.close()
        assert inbox.notices[1:] == []  # our own leaving is not news

    asyncio.run(scenario())


async def connected_with_a_pong(sfu: FakeSfu) -> tuple[LiveKitEcho, LiveKitClient, Inbox]:
    """Echo and runner in the room, one ping answered: mid-run."""
    echo = await start_echo(sfu)
    client, inbox = LiveKitClient(room_factory=sfu.room), Inbox()
    await client.connect(credentials(), inbox, inbox.notify)
    client.send(encode_ping(1, 1.0, "r"))
    await inbox.until(lambda: inbox.messages)
    return echo, client, inbox


@pytest.mark.parametrize("reason", ["PARTICIPANT_REMOVED", "DUPLICATE_IDENTITY", "SERVER_SHUTDOWN", "ROOM_DELETED"])
def test_runner_removed_mid_run_is_one_error_naming_the_reason(reason: str) -> None:
    async def scenario() -> None:
        sfu = FakeSfu()
        echo, client, inbox = await connected_with_a_pong(sfu)
        sfu.evict(RUNNER_IDENTITY, rtc.DisconnectReason.Value(reason))
        await inbox.until(lambda: inbox.notices)
        await client.close()  # the worker closes after the error: not news either
        await asyncio.sleep(0.05)
        assert inbox.notices == [("error", f"LiveKit disconnected this runner from room bench-1 ({reason})")]
        await echo.close()

    asyncio.run(scenario())


def test_closing_mid_run_is_no_error() -> None:
    async def scenario() -> None:
        sfu = FakeSfu()
        echo, client, inbox = await connected_with_a_pong(sfu)
        await client.close()  # the SDK emits "disconnected" (CLIENT_INITIATED) for our own leave too
        await asyncio.sleep(0.05)
        assert sfu.made[1].disconnects == 1
        assert inbox.notices == []
        await echo.close()

    asyncio.run(scenario())


def test_pings_are_held_back_while_the_sdk_reconnects_with_warnings_and_the_run_goes_on() -> None:
    async def scenario() -> None:
        sfu = FakeSfu()
        echo, client, inbox = await connected_with_a_pong(sfu)
        runner = sfu.made[1].local_participant
        sfu.reconnecting(RUNNER_IDENTITY)
        await inbox.until(lambda: len(inbox.notices) == 1)
        published = len(runner.published)
        client.send(encode_ping(2, 2.0, "r"))  # lost: a reconnecting SDK is not handed packets
        await asyncio.sleep(0.05)
        assert len(runner.published) == published and len(inbox.messages) == 1
        sfu.reconnected(RUNNER_IDENTITY)
        await inbox.until(lambda: len(inbox.notices) == 2)
        assert inbox.notices == [
            ("warning", f"LiveKit lost the connection to {URL}; pings until the SDK reconnects are lost"),
            ("warning", f"LiveKit reconnected to {URL}"),
        ]
        client.send(encode_ping(3, 3.0, "r"))
        await inbox.until(lambda: len(inbox.messages) == 2)
        await client.close()
        await echo.close()
        assert len(inbox.notices) == 2

    asyncio.run(scenario())


def test_pong_queued_by_the_sdk_thread_is_stamped_in_the_event_it_comes_with() -> None:
    """The rtc SDK hops from its FFI thread to the loop before ``data_received``, so t4 cannot precede the
    loop's turn; it must be taken in that event itself, before anything queued after it runs."""

    async def scenario() -> None:
        sfu = FakeSfu()
        client, inbox = LiveKitClient(room_factory=sfu.room), Inbox()
        echo = await start_echo(sfu)
        await client.connect(credentials(), inbox, inbox.notify)
        room, loop = sfu.made[-1], asyncio.get_running_loop()
        packet = rtc.DataPacket(data=b"x", kind=rtc.DataPacketKind.KIND_RELIABLE, participant=None)
        next_turn: list[int] = []

        def ffi_thread() -> None:
            loop.call_soon_threadsafe(room.emit, "data_received", packet)
            loop.call_soon_threadsafe(lambda: next_turn.append(time.perf_counter_ns()))

        sdk_thread = threading.Thread(target=ffi_thread)
        sdk_thread.start()
        sdk_thread.join()  # both callbacks are queued while the loop is busy here
        busy_until = time.perf_counter_ns()
        await inbox.until(lambda: inbox.messages and next_turn)
        assert busy_until <= inbox.messages[0][1] <= next_turn[0]  # no later hop before the stamp
        await client.close()
        await echo.close()

    asyncio.run(scenario())


def test_refused_publish_is_reported_once() -> None:
    async def scenario() -> None:
        sfu = FakeSfu()
        echo = await start_echo(sfu)
        client, inbox = LiveKitClient(room_factory=sfu.room), Inbox()
        await client.connect(credentials(), inbox, inbox.notify)
        sfu.made[1].name = None  # the SDK now raises from publish_data
        for seq in range(3):
            client.send(encode_ping(seq + 1, 1.0, "r"))
        await inbox.until(lambda: inbox.notices)
        await asyncio.sleep(0.05)
        assert inbox.notices == [("warning", "LiveKit refused a data packet: the room isn't connected")]
        await client.close()
        await echo.close()

    asyncio.run(scenario())


def test_close_twice_disconnects_once() -> None:
    async def scenario() -> None:
        sfu = FakeSfu()
        echo = await start_echo(sfu)
        client = LiveKitClient(room_factory=sfu.room)
        await client.connect(credentials(), Inbox(), Inbox().notify)
        for _ in range(2):
            await client.close()
            await echo.close()
        assert [r.disconnects for r in sfu.made] == [1, 1]

    asyncio.run(scenario())


def test_echo_join_failure_is_a_transport_error() -> None:
    async def scenario() -> None:
        echo = LiveKitEcho(URL, token(ECHO_IDENTITY), room_factory=FakeSfu(connect_error="401 unauthorized").room)
        with pytest.raises(TransportError, match="echo could not join LiveKit at .*401 unauthorized"):
            await echo.start(Echo())
        await echo.close()

    asyncio.run(scenario())


class OriginalRunner:
    """The original runner's LiveKit side: joins, then waits for a ``participant_connected``."""

    def __init__(self, sfu: FakeSfu) -> None:
        self.room = sfu.room()
        self.events: list[tuple[str, str]] = []
        self.pongs: list[bytes] = []
        self.room.on("participant_connected", lambda p: self.events.append(("connected", p.identity)))
        self.room.on("participant_disconnected", lambda p: self.events.append(("disconnected", p.identity)))
        self.room.on("data_received", lambda packet: self.pongs.append(packet.data))


@pytest.mark.parametrize("announce", [True, False], ids=["original-runner", "our-runner"])
def test_for_the_original_runner_the_echo_joins_again_after_it(announce: bool) -> None:
    async def scenario() -> None:
        sfu = FakeSfu()
        echo = LiveKitEcho(
            URL, token(ECHO_IDENTITY), room_factory=sfu.room, announce_to=RUNNER_IDENTITY if announce else None
        )
        await echo.start(Echo())
        runner = OriginalRunner(sfu)
        await runner.room.connect(URL, token(RUNNER_IDENTITY))
        await asyncio.sleep(0.1)
        if not announce:  # our runner finds the echo in the room and needs no event
            assert runner.events == [] and [r.identity for r in sfu.made] == [ECHO_IDENTITY, RUNNER_IDENTITY]
            await echo.close()
            return
        assert runner.events == [("disconnected", ECHO_IDENTITY), ("connected", ECHO_IDENTITY)]
        assert [r.identity for r in sfu.made] == [ECHO_IDENTITY, RUNNER_IDENTITY, ECHO_IDENTITY]
        # A later arrival does not make it leave again.
        await sfu.room().connect(URL, token(RUNNER_IDENTITY + "-2"))
        await asyncio.sleep(0.05)
        assert len(sfu.made) == 4
        # The original's ping, to everyone, gets the original pong from the rejoined echo.
        await runner.room.local_participant.publish_data(b'{"type":"ping","timestamp":12.5}')
        await Inbox().until(lambda: runner.pongs)
        assert PONG_DECODER.decode(runner.pongs[0]).client_timestamp == 12.5
        await echo.close()
        assert [r.disconnects for r in sfu.made if r.identity == ECHO_IDENTITY] == [1, 1]

    asyncio.run(scenario())
