"""The loopback LiveKit server against the real ``livekit`` SDK: what the transport tests rely on.

Each test starts the server in a network namespace (root only) and joins it
with ``rtc.Room`` from this process over the veth pair, then checks one part
of LIVEKIT-LOOPBACK's protocol: presence, relay by channel and destination,
duplicate identities, token refusal, keepalive, shutdown.
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable

import pytest
from livekit import api, rtc

from tests.livekit_loopback.launch import ServerProcess

#: Root and a test namespace for the loopback server, which is a real server process.
pytestmark = [pytest.mark.root, pytest.mark.netns, pytest.mark.server]

BOUND_S = 60.0


def token(server: ServerProcess, identity: str, room: str = "room-1", secret: str | None = None) -> str:
    grants = api.VideoGrants(room_join=True, room=room, can_publish_data=True, can_subscribe=True)
    return (
        api.AccessToken(server.api_key, secret or server.api_secret)
        .with_identity(identity)
        .with_grants(grants)
        .to_jwt()
    )


class Peer:
    """An SDK participant that records what its room tells it."""

    def __init__(self, identity: str) -> None:
        self.identity = identity
        self.room = rtc.Room()
        self.inbox: asyncio.Queue[tuple[bytes, int, str]] = asyncio.Queue()
        self.arrived: list[str] = []
        self.departed: list[str] = []
        self.disconnected: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.room.on("data_received", lambda p: self.inbox.put_nowait((p.data, p.kind, p.participant.identity)))
        self.room.on("participant_connected", lambda p: self.arrived.append(p.identity))
        self.room.on("participant_disconnected", lambda p: self.departed.append(p.identity))
        self.room.on("disconnected", lambda reason: self.disconnected.done() or self.disconnected.set_result(reason))

    async def join(self, server: ServerProcess, room: str = "room-1") -> Peer:
        await self.room.connect(server.url, token(server, self.identity, room), rtc.RoomOptions(auto_subscribe=False))
        return self

    async def send(self, data: bytes, *, reliable: bool = True, to: list[str] | None = None) -> None:
        await self.room.local_participant.publish_data(data, reliable=reliable, destination_identities=to or [])

    async def leave(self) -> None:
        await self.room.disconnect()


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


def run(scenario):
    return asyncio.run(asyncio.wait_for(scenario, BOUND_S))


def test_presence_and_relay_on_the_reliable_and_lossy_channels(livekit_server):
    async def scenario() -> None:
        alice = await Peer("alice").join(livekit_server)
        bob = await Peer("bob").join(livekit_server)
        assert set(bob.room.remote_participants) == {"alice"}  # from the join response
        await until(lambda: alice.arrived == ["bob"])  # from a participant update
        await alice.send(b"over reliable", reliable=True, to=["bob"])
        await alice.send(b"over lossy", reliable=False, to=["bob"])
        await bob.send(b"back", to=["alice"])
        got = sorted([await asyncio.wait_for(bob.inbox.get(), 10) for _ in range(2)])
        assert got == [
            (b"over lossy", rtc.DataPacketKind.KIND_LOSSY, "alice"),
            (b"over reliable", rtc.DataPacketKind.KIND_RELIABLE, "alice"),
        ]
        assert await asyncio.wait_for(alice.inbox.get(), 10) == (b"back", rtc.DataPacketKind.KIND_RELIABLE, "bob")
        await bob.leave()
        await until(lambda: alice.departed == ["bob"])
        await alice.leave()

    run(scenario())
    livekit_server.stop()
    assert livekit_server.stats["relayed"] == {"_reliable": 2, "_lossy": 1}


def test_destination_identities_are_honoured(livekit_server):
    async def scenario() -> None:
        alice, bob, carol = [await Peer(name).join(livekit_server) for name in ("alice", "bob", "carol")]
        await alice.send(b"for bob", to=["bob"])
        await alice.send(b"for all")  # no destination: everyone else
        assert [(await asyncio.wait_for(bob.inbox.get(), 10))[0] for _ in range(2)] == [b"for bob", b"for all"]
        # Reliable and ordered: had "for bob" reached carol, it would be ahead of "for all".
        assert (await asyncio.wait_for(carol.inbox.get(), 10))[0] == b"for all"
        assert carol.inbox.empty() and alice.inbox.empty()
        for peer in (alice, bob, carol):
            await peer.leave()

    run(scenario())


def test_a_second_session_with_the_same_identity_evicts_the_first(livekit_server):
    async def scenario() -> None:
        first = await Peer("echo").join(livekit_server)
        watcher = await Peer("watcher").join(livekit_server)
        second = await Peer("echo").join(livekit_server)
        assert await asyncio.wait_for(first.disconnected, 10) == rtc.DisconnectReason.DUPLICATE_IDENTITY
        assert not second.disconnected.done()
        await watcher.send(b"to echo", to=["echo"])
        assert (await asyncio.wait_for(second.inbox.get(), 10))[0] == b"to echo"
        assert first.inbox.empty()
        await second.leave()
        await watcher.leave()

    run(scenario())


def test_a_forged_token_is_refused_at_join_and_by_validate(livekit_server):
    forged = token(livekit_server, "mallory", secret="not-the-server-secret-but-long-enough")

    async def scenario() -> None:
        with pytest.raises(rtc.ConnectError):
            await rtc.Room().connect(livekit_server.url, forged, rtc.RoomOptions(auto_subscribe=False))

    run(scenario())
    validate = livekit_server.url.replace("ws://", "http://") + "/rtc/validate?access_token="
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(validate + urllib.parse.quote(forged), timeout=10)
    assert refused.value.code == 401 and b"invalid token" in refused.value.read()
    with urllib.request.urlopen(validate + token(livekit_server, "alice"), timeout=10) as ok:
        assert ok.status == 200


def test_keepalive_holds_an_idle_connection_past_the_ping_timeout(veth, tmp_path):
    server = ServerProcess(veth, tmp_path / "server.log", extra=("--ping-interval", "1", "--ping-timeout", "2")).start()

    async def scenario() -> None:
        alice = await Peer("alice").join(server)
        await asyncio.sleep(5)  # 2.5 ping timeouts: without pongs the SDK would have dropped the link
        assert not alice.disconnected.done()
        assert alice.room.connection_state == rtc.ConnectionState.CONN_CONNECTED
        await alice.leave()

    try:
        run(scenario())
    finally:
        server.stop()
    assert server.stats["keepalives"] >= 3, server.server_log()


def test_shutdown_tells_every_participant_to_leave(livekit_server):
    async def scenario() -> list[int]:
        peers = [await Peer(name).join(livekit_server) for name in ("alice", "bob")]
        loop = asyncio.get_running_loop()
        code = await loop.run_in_executor(None, livekit_server.stop)
        assert code == 0
        return [await asyncio.wait_for(p.disconnected, 5) for p in peers]

    assert run(scenario()) == [rtc.DisconnectReason.SERVER_SHUTDOWN] * 2


def test_the_older_rtc_path_joins_too(livekit_server):
    async def scenario() -> None:
        alice = await Peer("alice").join(livekit_server)
        bob = Peer("bob")
        options = rtc.RoomOptions(auto_subscribe=False, single_peer_connection=False)  # /rtc, offer sent later
        await bob.room.connect(livekit_server.url, token(livekit_server, "bob"), options)
        await until(lambda: alice.arrived == ["bob"])
        await bob.send(b"from the older path", to=["alice"])
        assert (await asyncio.wait_for(alice.inbox.get(), 10))[0] == b"from the older path"
        await alice.send(b"to the older path", to=["bob"])
        assert (await asyncio.wait_for(bob.inbox.get(), 10))[0] == b"to the older path"
        await bob.leave()
        await alice.leave()

    run(scenario())
    assert "bob joined via /rtc\n" in livekit_server.server_log()
