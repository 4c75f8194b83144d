"""The LiveKit echo agent end to end: its HTTP API on 127.0.0.1, tokens decoded with livekit-api,
a stand-in of the server's /rtc/validate, and the scripted SFU (``FakeSfu``) in place of rtc.Room."""

from __future__ import annotations

import asyncio
import subprocess
import time

import aiohttp
import jwt
import pytest
from aiohttp import web
from livekit import api

from agent.app import EchoAgent
from agent.livekit_rooms import LiveKitRooms
from agent.rooms import CredentialError
from ipc.children import AGENT_READY_PREFIX
from ipc.protocol import PONG_DECODER, encode_ping
from tests.agent_http import AgentProcess, agent_env, call, run, run_agent, serving
from tests.fake_livekit import FakeSfu
from tests.threaded_app import ThreadedApp
from transports.livekit import LiveKitClient

KEY = "APItestkey01"
SECRET = "test-secret-0123456789abcdef0123456789abcdef"  # >= 32 bytes: no short-key warning from pyjwt
WRONG_SECRET = "wrong-secret-SECRET-0123456789abcdef0123456789"


class ValidateStub(ThreadedApp):
    """LiveKit's ``GET /rtc/validate?access_token=…`` on 127.0.0.1: 200 for a token signed with
    (key, secret), 401 otherwise, as the server answers. Records each token."""

    def __init__(self, key: str = KEY, secret: str = SECRET) -> None:
        super().__init__()
        self.verifier = api.TokenVerifier(key, secret)
        self.tokens: list[str] = []

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def _validate(self, request: web.Request) -> web.Response:
        token = request.query.get("access_token", "")
        self.tokens.append(token)
        try:
            self.verifier.verify(token)
        except Exception:
            return web.Response(status=401, text="invalid token")
        return web.Response(text="success")

    def make_app(self) -> web.Application:
        app = web.Application()
        app.add_routes([web.get("/rtc/validate", self._validate)])
        return app


@pytest.fixture
def server():
    with ValidateStub() as stub:
        yield stub


def raw_claims(token: str) -> dict:
    """The JWT's registered claims (exp, nbf), which livekit-api's ``Claims`` leaves out; signature checked."""
    return jwt.decode(token, SECRET, algorithms=["HS256"], issuer=KEY)


def test_start_proves_key_and_secret_against_the_server(server):
    async def scenario():
        rooms = LiveKitRooms(server.ws_url, KEY, SECRET, room_factory=FakeSfu().room)
        async with serving(EchoAgent({"livekit": rooms})) as url, aiohttp.ClientSession() as http:
            return await call(http, "GET", f"{url}/health")

    status, health = run(scenario())
    assert status == 200 and health["platforms"] == ["livekit"]
    [probe] = server.tokens
    claims = api.TokenVerifier(KEY, SECRET).verify(probe)
    assert claims.video.room_join is True and claims.identity != "benchmark-runner"


def test_connect_mints_a_runner_token_for_that_room_only_and_echoes(server):
    sfu = FakeSfu()

    async def scenario():
        rooms = LiveKitRooms(server.ws_url, KEY, SECRET, room_factory=sfu.room)
        async with serving(EchoAgent({"livekit": rooms})) as url, aiohttp.ClientSession() as http:
            status, body = await call(http, "POST", f"{url}/connect", json={"platform": "livekit"})
            assert status == 200, body
            [echo_room] = sfu.made

            # The runner's side, on the same scripted SFU, with the token it was given: one ping, one pong.
            pongs: asyncio.Queue[bytes] = asyncio.Queue()
            client = LiveKitClient(room_factory=sfu.room)
            await asyncio.wait_for(
                client.connect(body["livekit"], lambda data, t4: pongs.put_nowait(data), lambda *w: None), 5
            )
            sent_ms = time.time() * 1000
            client.send(encode_ping(5, sent_ms, "run-livekit"))
            data = await asyncio.wait_for(pongs.get(), 5)
            runner_identity = sfu.made[1].identity
            await client.close()

            disconnects_before = echo_room.disconnects
            status, closed = await call(http, "POST", f"{url}/disconnect", json={"room_id": body["room_id"]})
            assert status == 200 and closed["messages_echoed"] == 1
        return body, echo_room, data, sent_ms, runner_identity, disconnects_before

    body, echo_room, data, sent_ms, runner_identity, disconnects_before = run(scenario())

    creds = body["livekit"]
    assert isinstance(body["room_id"], str) and body["room_id"]
    assert creds.keys() >= {"server_url", "room_name", "token", "expires_at", "echo_identity"}
    assert creds["server_url"] == server.ws_url
    assert creds["echo_identity"] == "echo-agent"

    claims = api.TokenVerifier(KEY, SECRET).verify(creds["token"])
    assert claims.identity == "benchmark-runner" == runner_identity
    assert claims.video.room == creds["room_name"]
    assert claims.video.room_join is True and claims.video.can_publish_data is True
    assert claims.video.can_publish is False and claims.video.can_subscribe is True
    assert not (claims.video.room_create or claims.video.room_admin or claims.video.room_list)
    registered = raw_claims(creds["token"])
    assert abs(registered["exp"] - registered["nbf"] - 600) <= 2
    assert abs(creds["expires_at"] - registered["exp"]) <= 2

    # The echo joined that room, as echo-agent, with a token for that room only.
    assert echo_room.url == server.ws_url
    assert echo_room.identity == "echo-agent" and echo_room.name is None  # left since
    assert echo_room.options.auto_subscribe is False
    assert disconnects_before == 0 and echo_room.disconnects == 1

    pong = PONG_DECODER.decode(data)
    assert pong.seq == 5 and pong.client_timestamp == sent_ms and pong.message_count == 1
    assert pong.t2_ns is not None and pong.t3_ns is not None and pong.t2_ns <= pong.t3_ns


def test_a_connect_without_a_body_makes_the_echo_join_again_after_the_runner(server):
    """The original runner posts /connect with no body and then waits for a participant to join."""
    sfu = FakeSfu()

    async def scenario():
        rooms = LiveKitRooms(server.ws_url, KEY, SECRET, room_factory=sfu.room)
        async with serving(EchoAgent({"livekit": rooms})) as url, aiohttp.ClientSession() as http:
            status, body = await call(http, "POST", f"{url}/connect")
            assert status == 200, body
            joined: asyncio.Queue[str] = asyncio.Queue()
            runner = sfu.room()
            runner.on("participant_connected", lambda p: joined.put_nowait(p.identity))
            await runner.connect(body["livekit"]["server_url"], body["livekit"]["token"])
            assert await asyncio.wait_for(joined.get(), 5) == "echo-agent"
            await runner.disconnect()
            await call(http, "POST", f"{url}/disconnect", json={"room_id": body["room_id"]})

    run(scenario())
    assert [r.identity for r in sfu.made] == ["echo-agent", "benchmark-runner", "echo-agent"]


def test_the_echo_token_is_for_the_session_room_only(server):
    """The echo's own token: read back from what the scripted SFU was handed."""
    sfu = FakeSfu()
    handed: list[str] = []

    def factory():
        room = sfu.room()
        connect = room.connect

        async def recording_connect(url, token, options=None):
            handed.append(token)
            await connect(url, token, options)

        room.connect = recording_connect
        return room

    async def scenario():
        rooms = LiveKitRooms(server.ws_url, KEY, SECRET, room_factory=factory)
        async with serving(EchoAgent({"livekit": rooms})) as url, aiohttp.ClientSession() as http:
            _, first = await call(http, "POST", f"{url}/connect", json={"platform": "livekit"})
            _, second = await call(http, "POST", f"{url}/connect", json={"platform": "livekit"})
        return first, second

    first, second = run(scenario())
    assert first["livekit"]["room_name"] != second["livekit"]["room_name"]
    for token, body in zip(handed, (first, second)):
        claims = api.TokenVerifier(KEY, SECRET).verify(token)
        assert claims.identity == "echo-agent"
        assert claims.video.room == body["livekit"]["room_name"] and claims.video.room_join is True
        assert not (claims.video.room_create or claims.video.room_admin or claims.video.room_list)
        assert abs(raw_claims(token)["exp"] - raw_claims(body["livekit"]["token"])["exp"]) <= 2
    # The agent stopping leaves every room.
    assert [room.disconnects for room in sfu.made] == [1, 1]


def test_a_wrong_secret_fails_at_start_naming_the_variables(server):
    async def scenario():
        with pytest.raises(CredentialError) as raised:
            await LiveKitRooms(server.ws_url, KEY, WRONG_SECRET, room_factory=FakeSfu().room).start()
        message = str(raised.value)
        with pytest.raises(CredentialError):
            async with serving(EchoAgent({"livekit": LiveKitRooms(server.ws_url, KEY, WRONG_SECRET)})):
                pass
        return message

    message = run(scenario())
    assert "LIVEKIT_API_KEY" in message and "LIVEKIT_API_SECRET" in message
    assert WRONG_SECRET not in message
    assert len(server.tokens) == 2


def test_a_bad_scheme_is_refused_naming_livekit_url():
    with pytest.raises(CredentialError, match="LIVEKIT_URL"):
        LiveKitRooms("ftp://livekit.example", KEY, SECRET)


# -- the echo-agent command -------------------------------------------------


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_cli_without_livekit_url_exits_2_naming_it(tmp_path):
    line = one_line(run_agent(tmp_path, "livekit", agent_env(LIVEKIT_API_KEY=KEY, LIVEKIT_API_SECRET=SECRET)))
    assert "LIVEKIT_URL" in line and SECRET not in line


def test_cli_with_a_bad_scheme_exits_2(tmp_path):
    env = agent_env(LIVEKIT_URL="livekit.example:7880", LIVEKIT_API_KEY=KEY, LIVEKIT_API_SECRET=SECRET)
    line = one_line(run_agent(tmp_path, "livekit", env))
    assert "LIVEKIT_URL" in line and "wss://" in line


def test_cli_with_a_wrong_secret_exits_2_and_never_prints_it(tmp_path, server):
    env = agent_env(LIVEKIT_URL=server.ws_url, LIVEKIT_API_KEY=KEY, LIVEKIT_API_SECRET=WRONG_SECRET)
    proc = run_agent(tmp_path, "livekit", env)
    line = one_line(proc)
    assert "LIVEKIT_API_SECRET" in line
    assert WRONG_SECRET not in proc.stdout + proc.stderr
    [probe] = server.tokens
    assert probe not in proc.stdout + proc.stderr


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # the stand-in verifies with it too
def test_a_short_secret_is_one_line_of_our_own(tmp_path):
    short = "short-secret"
    with ValidateStub(secret=short) as stub:
        env = agent_env(LIVEKIT_URL=stub.ws_url, LIVEKIT_API_KEY=KEY, LIVEKIT_API_SECRET=short)
        with AgentProcess("livekit", env, tmp_path) as agent:
            assert agent.url
        assert agent.returncode == 0
    lines = agent.output.strip().splitlines()
    assert lines[0].startswith(AGENT_READY_PREFIX) and len(lines) == 2, agent.output
    assert "LIVEKIT_API_SECRET is 12 bytes" in lines[1] and short not in agent.output


def test_cli_with_an_unreachable_server_exits_2_naming_livekit_url(tmp_path):
    with ValidateStub() as gone:
        url = gone.ws_url  # a port that was just ours and is now closed
    env = agent_env(LIVEKIT_URL=url, LIVEKIT_API_KEY=KEY, LIVEKIT_API_SECRET=SECRET)
    line = one_line(run_agent(tmp_path, "livekit", env))
    assert "LIVEKIT_URL" in line and SECRET not in line
