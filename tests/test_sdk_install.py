"""The real SDKs, imported and constructed as the transports use them, with no network.

A broken wheel (a missing native library) or an API change in daily-python,
livekit or livekit-api fails here, in CI, instead of at the first live run.
Each check runs in a child process so the SDKs' native threads never live
inside pytest.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

OK = "SDK-CHECK-OK"

DAILY = """
import inspect

import daily

import transports.daily as td
from agent.echo import Echo

def params(fn):
    return list(inspect.signature(fn).parameters)

daily.Daily.init()
client = td.DailyClient()
events = td._client_events(daily.EventHandler, client)
assert isinstance(events, daily.EventHandler)
call = daily.CallClient(event_handler=events)
call.update_subscription_profiles(td._UNSUBSCRIBED)
call.set_user_name(td.RUNNER_USER_NAME)
call.release()

echo = td.DailyEcho("https://x.daily.co/r")
echo_events = td._echo_events(daily.EventHandler, echo, Echo())
echo_call = daily.CallClient(event_handler=echo_events)
echo_call.release()

# What the transports call, with the arguments they pass.
assert params(daily.CallClient.join)[1:4] == ["meeting_url", "meeting_token", "client_settings"], params(daily.CallClient.join)
assert "completion" in params(daily.CallClient.join)
assert {"message", "participant_id", "completion"} <= set(params(daily.CallClient.send_app_message))
assert "completion" in params(daily.CallClient.leave)
assert "profile_settings" in params(daily.CallClient.update_subscription_profiles)
# The callbacks the transports override must be ones the SDK calls.
for name in ("on_app_message", "on_participant_left", "on_call_state_updated", "on_error"):
    assert hasattr(daily.EventHandler, name), name
assert client.versions()["daily-python"]
print("daily ok")
"""

LIVEKIT = """
import asyncio
import inspect

from livekit import api, rtc

import transports.livekit as tl
from agent.livekit_rooms import LiveKitRooms

def params(fn):
    return inspect.signature(fn).parameters

async def main():
    room = rtc.Room()
    for method in ("on", "connect", "disconnect"):
        assert callable(getattr(room, method)), method
    assert room.remote_participants == {}
    client = tl.LiveKitClient(reliable=False)
    echo = tl.LiveKitEcho("wss://x.livekit.cloud", "token")
    assert client.reliable is False and echo is not None
    assert set(client.versions()) == {"livekit", "livekit-api"}

asyncio.run(main())

options = rtc.RoomOptions(auto_subscribe=False)
assert options.auto_subscribe is False
assert {"url", "token", "options"} <= set(params(rtc.Room.connect))
publish = params(rtc.LocalParticipant.publish_data)
assert "reliable" in publish and "destination_identities" in publish
assert publish["reliable"].kind is inspect.Parameter.KEYWORD_ONLY
packet = rtc.DataPacket(data=b"x", kind=rtc.DataPacketKind.KIND_RELIABLE, participant=None)
assert packet.kind != rtc.DataPacketKind.KIND_LOSSY
assert issubclass(rtc.ConnectError, Exception)
assert rtc.DisconnectReason.CLIENT_INITIATED is not None

# livekit-api: the agent's token minting and the check a server does on it.
secret = "s" * 40
token = LiveKitRooms("wss://x.livekit.cloud", "key", secret).token(tl.RUNNER_IDENTITY, "room-1", 600)
claims = api.TokenVerifier("key", secret).verify(token)
assert claims.identity == tl.RUNNER_IDENTITY and claims.video.room == "room-1"
assert claims.video.can_publish_data is True
print("livekit ok")
"""


def run_check(code: str) -> subprocess.CompletedProcess[str]:
    script = textwrap.dedent(code) + f"\nprint({OK!r})\n"
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith(("DAILY_", "LIVEKIT_"))},
    )


def test_daily_python_loads_and_the_transport_builds_on_it():
    proc = run_check(DAILY)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == OK, proc.stdout


def test_livekit_sdks_load_and_the_transport_builds_on_them():
    proc = run_check(LIVEKIT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == OK, proc.stdout
