"""The Daily echo agent end to end: its HTTP API on 127.0.0.1, a local stand-in of Daily's
REST API, and the scripted daily-python (``FakeDaily``) in place of the SDK."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import aiohttp
import pytest

from agent.app import EchoAgent
from agent.daily_rooms import DailyRooms
from agent.rooms import CredentialError
from ipc.children import AGENT_READY_PREFIX, readline_within
from ipc.protocol import PONG_DECODER, encode_ping
from tests.agent_http import agent_env, call, run, run_agent, serving
from tests.daily_api_stub import DailyApiStub
from tests.fake_daily import FakeDaily
from transports.daily import DailyClient

KEY = "test-daily-key-0123456789"
WRONG_KEY = "wrong-daily-key-SECRET-987"

# transports.daily remembers which SDK objects it has initialised by id(); a collected FakeDaily's id
# can be reused by the next one, which would then never see Daily.init(). Keep every fake alive.
_FAKES: list[FakeDaily] = []


@pytest.fixture
def daily_api():
    with DailyApiStub(KEY) as stub:
        yield stub


@pytest.fixture
def make_fake():
    made: list[FakeDaily] = []

    def make(**kw) -> FakeDaily:
        fake = FakeDaily(**kw)
        made.append(fake)
        _FAKES.append(fake)
        return fake

    yield make
    for fake in made:
        fake.shutdown()


async def until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def test_start_proves_the_key_with_one_authenticated_get(daily_api, make_fake):
    async def scenario():
        async with serving(EchoAgent({"daily": DailyRooms(KEY, daily_api.url, sdk=make_fake())})) as url:
            async with aiohttp.ClientSession() as http:
                status, health = await call(http, "GET", f"{url}/health")
        return status, health

    status, health = run(scenario())
    assert status == 200 and health["platforms"] == ["daily"] and health["sessions"] == 0
    [probe] = daily_api.seen("GET", "/rooms")
    assert probe.headers["Authorization"] == f"Bearer {KEY}"
    assert probe.query == {"limit": "1"}
    assert not daily_api.seen("POST") and not daily_api.seen("DELETE")


def test_connect_creates_an_expiring_room_joins_it_and_echoes(daily_api, make_fake):
    fake = make_fake()

    async def scenario():
        async with serving(EchoAgent({"daily": DailyRooms(KEY, daily_api.url, sdk=fake)})) as url:
            async with aiohttp.ClientSession() as http:
                before = time.time()
                status, body = await call(http, "POST", f"{url}/connect", json={"platform": "daily"})
                assert status == 200, body
                assert len(fake.clients) == 1
                echo = fake.clients[0]

                # The runner's side, on the same scripted SDK: one ping, one pong.
                pongs: asyncio.Queue[tuple[bytes, int]] = asyncio.Queue()
                warnings: list[tuple[str, str]] = []
                runner_side = DailyClient(sdk=fake)
                await runner_side.connect(
                    body["daily"], lambda data, t4: pongs.put_nowait((data, t4)), lambda *w: warnings.append(w)
                )
                sent_ms = time.time() * 1000
                runner_side.send(runner_side.to_wire(encode_ping(41, sent_ms, "run-daily")))
                data, _t4 = await asyncio.wait_for(pongs.get(), 5)
                await runner_side.close()

                status, closed = await call(http, "POST", f"{url}/disconnect", json={"room_id": body["room_id"]})
                again, _ = await call(http, "POST", f"{url}/disconnect", json={"room_id": body["room_id"]})
        return before, body, echo, data, sent_ms, status, closed, again

    before, body, echo, data, sent_ms, status, closed, again = run(scenario())

    # Daily was asked for a room that expires with the session and ejects everyone then.
    [create] = daily_api.seen("POST", "/rooms")
    assert create.headers["Authorization"] == f"Bearer {KEY}"
    assert create.body.keys() == {"properties"}
    assert create.body["properties"]["eject_at_room_exp"] is True
    exp = create.body["properties"]["exp"]
    assert isinstance(exp, int) and abs(exp - (before + 600)) <= 5

    # The runner gets the room in the original agent's shape, with the same expiry.
    [name] = daily_api.deleted
    room_url = f"https://fake.daily.co/{name}"
    assert isinstance(body["room_id"], str) and body["room_id"]
    assert body["daily"]["room_url"] == room_url
    assert body["daily"]["expires_at"] == exp

    # The echo participant joined that room, media off, under its well-known name.
    assert echo.join_args["url"] == room_url
    assert echo.join_args["client_settings"] == {"inputs": {"camera": False, "microphone": False}}
    assert echo.user_name == "echo-agent"
    assert all(v == "unsubscribed" for v in echo.profiles["base"].values())

    pong = PONG_DECODER.decode(DailyClient.from_wire(data))
    assert pong.seq == 41 and pong.client_timestamp == sent_ms and pong.message_count == 1
    assert pong.t2_ns is not None and pong.t3_ns is not None and pong.t2_ns <= pong.t3_ns

    # /disconnect deleted the room and the echo left and released its client; a second one finds nothing.
    assert status == 200 and closed["messages_echoed"] == 1
    [delete] = daily_api.seen("DELETE", f"/rooms/{name}")
    assert delete.headers["Authorization"] == f"Bearer {KEY}"
    assert echo.left == 1 and echo.released == 1
    assert again == 404


def test_agent_stop_deletes_the_rooms_still_open(daily_api, make_fake):
    fake = make_fake()

    async def scenario():
        async with serving(EchoAgent({"daily": DailyRooms(KEY, daily_api.url, sdk=fake)})) as url:
            async with aiohttp.ClientSession() as http:
                for _ in range(2):
                    status, body = await call(http, "POST", f"{url}/connect", json={"platform": "daily"})
                    assert status == 200, body
            assert not daily_api.seen("DELETE")

    run(scenario())
    assert len(daily_api.seen("DELETE")) == 2 and daily_api.rooms == {}
    assert len(fake.clients) == 2 and all(c.left == 1 and c.released == 1 for c in fake.clients)


def test_an_expired_session_deletes_its_room(daily_api, make_fake):
    fake = make_fake()
    echo_agent = EchoAgent({"daily": DailyRooms(KEY, daily_api.url, sdk=fake)}, session_ttl_s=1, sweep_interval_s=0.05)

    async def scenario():
        async with serving(echo_agent) as url:
            async with aiohttp.ClientSession() as http:
                before = time.time()
                status, body = await call(http, "POST", f"{url}/connect", json={"platform": "daily"})
                assert status == 200, body
                await until(lambda: daily_api.seen("DELETE"))
                assert echo_agent.sessions == {}
                late, _ = await call(http, "POST", f"{url}/disconnect", json={"room_id": body["room_id"]})
        return before, body, late

    before, body, late = run(scenario())
    [create] = daily_api.seen("POST", "/rooms")
    assert abs(create.body["properties"]["exp"] - (before + 1)) <= 2
    assert body["daily"]["expires_at"] == create.body["properties"]["exp"]
    assert daily_api.rooms == {}
    assert fake.clients[0].left == 1 and fake.clients[0].released == 1
    assert late == 404


def test_a_refused_room_creation_is_a_502_with_dailys_words(daily_api, make_fake):
    fake = make_fake()
    echo_agent = EchoAgent({"daily": DailyRooms(KEY, daily_api.url, sdk=fake)})
    daily_api.create_status = 500
    daily_api.create_info = "rooms are on fire"

    async def scenario():
        async with serving(echo_agent) as url:
            async with aiohttp.ClientSession() as http:
                answer = await call(http, "POST", f"{url}/connect", json={"platform": "daily"})
                _, health = await call(http, "GET", f"{url}/health")
        return answer, health

    (status, text), health = run(scenario())
    assert status == 502
    assert "HTTP 500" in text and "rooms are on fire" in text and KEY not in text
    assert health["sessions"] == 0 and echo_agent.sessions == {}
    assert fake.clients == [] and not daily_api.seen("DELETE")


def test_dailys_error_text_echoing_the_key_is_redacted(daily_api, make_fake, caplog):
    echo_agent = EchoAgent({"daily": DailyRooms(KEY, daily_api.url, sdk=make_fake())})
    daily_api.create_status = 400
    daily_api.create_info = f"key {KEY} may not create rooms"

    async def scenario():
        async with serving(echo_agent) as url, aiohttp.ClientSession() as http:
            return await call(http, "POST", f"{url}/connect", json={"platform": "daily"})

    status, text = run(scenario())
    assert status == 502 and "may not create rooms" in text
    assert KEY not in text and KEY not in caplog.text


def test_an_echo_that_cannot_join_deletes_the_room_it_made(daily_api, make_fake):
    fake = make_fake(join_error="the meeting is full")
    echo_agent = EchoAgent({"daily": DailyRooms(KEY, daily_api.url, sdk=fake)})

    async def scenario():
        async with serving(echo_agent) as url:
            async with aiohttp.ClientSession() as http:
                return await call(http, "POST", f"{url}/connect", json={"platform": "daily"})

    status, text = run(scenario())
    assert status == 502 and "the meeting is full" in text
    assert len(daily_api.seen("POST", "/rooms")) == 1
    assert len(daily_api.seen("DELETE")) == 1 and daily_api.rooms == {}
    assert echo_agent.sessions == {}
    assert fake.clients[0].released == 1


def test_a_slow_daily_api_does_not_stall_the_agent(daily_api, make_fake):
    fake = make_fake()

    async def scenario():
        async with serving(EchoAgent({"daily": DailyRooms(KEY, daily_api.url, sdk=fake)})) as url:
            async with aiohttp.ClientSession() as http:
                daily_api.delay_s = 0.5
                connecting = asyncio.create_task(call(http, "POST", f"{url}/connect", json={"platform": "daily"}))
                await until(lambda: daily_api.seen("POST", "/rooms"))
                health = await call(http, "GET", f"{url}/health")
                still_connecting = not connecting.done()
                connected = await connecting
        return health, still_connecting, connected

    (status, health), still_connecting, (connect_status, _) = run(scenario())
    assert status == 200 and health["sessions"] == 0 and still_connecting
    assert connect_status == 200


def test_a_refused_key_fails_at_start_naming_the_variable(daily_api):
    async def scenario(rooms):
        with pytest.raises(CredentialError) as raised:
            await rooms.start()
        return str(raised.value)

    message = run(scenario(DailyRooms(WRONG_KEY, daily_api.url)))
    assert "DAILY_API_KEY" in message and WRONG_KEY not in message
    assert daily_api.requests[-1].headers["Authorization"] == f"Bearer {WRONG_KEY}"

    # The same through the agent: it never gets to listen.
    async def agent_start():
        with pytest.raises(CredentialError, match="DAILY_API_KEY"):
            async with serving(EchoAgent({"daily": DailyRooms(WRONG_KEY, daily_api.url)})):
                pass

    run(agent_start())
    assert not daily_api.seen("POST")


def test_an_unreachable_api_url_fails_at_start_naming_it():
    with DailyApiStub(KEY) as gone:
        url = gone.url  # a port that was just ours and is now closed

    async def scenario():
        with pytest.raises(CredentialError) as raised:
            await DailyRooms(KEY, url).start()
        return str(raised.value)

    message = run(scenario())
    assert "DAILY_API_URL" in message and KEY not in message


# -- the echo-agent command -------------------------------------------------


def test_cli_without_key_exits_2_naming_it(tmp_path):
    proc = run_agent(tmp_path, "daily", agent_env())
    assert proc.returncode == 2, proc
    assert proc.stdout == ""
    [line] = proc.stderr.strip().splitlines()
    assert "DAILY_API_KEY" in line


def test_cli_with_a_refused_key_exits_2_and_never_prints_it(tmp_path, daily_api):
    proc = run_agent(tmp_path, "daily", agent_env(DAILY_API_KEY=WRONG_KEY, DAILY_API_URL=daily_api.url))
    assert proc.returncode == 2, proc
    [line] = proc.stderr.strip().splitlines()
    assert "DAILY_API_KEY" in line
    assert WRONG_KEY not in proc.stdout + proc.stderr
    [probe] = daily_api.seen("GET", "/rooms")
    assert probe.headers["Authorization"] == f"Bearer {WRONG_KEY}"


def test_cli_with_a_good_key_listens_and_stops_cleanly(tmp_path, daily_api):
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", "--platform", "daily", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=agent_env(DAILY_API_KEY=KEY, DAILY_API_URL=daily_api.url),
        cwd=tmp_path,
    )
    try:
        probe = daily_api.wait_for("GET", "/rooms", timeout=20)
        line = readline_within(proc, 10)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert line.startswith(AGENT_READY_PREFIX + "http://127.0.0.1:"), (line, err)
    assert proc.returncode == 0, err
    assert probe.headers["Authorization"] == f"Bearer {KEY}"
    assert KEY not in line + out + err
