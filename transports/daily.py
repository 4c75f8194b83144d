"""Daily (daily-python): pings as app messages through Daily's SFU.

Daily's app messages are JSON objects: the SDK serializes what we send and
hands the receiver a decoded object. Our pings and pongs are JSON already, so
``to_wire`` decodes a ping to a dict when the session encodes it, ahead of
its send, and ``from_wire`` re-encodes a pong when the session matches it:
neither lies between t1 and t4. t4 is taken first thing in
``on_app_message``, on the SDK's own thread, and only then is the message
handed to the worker's event loop with ``call_soon_threadsafe``. Daily has one app-message mode (reliable, ordered);
there is no lossy channel to choose.

The SDK is passed in (``sdk=``, default the real ``daily`` module) so tests can
script it: anything with ``Daily.init``, ``CallClient`` and ``EventHandler``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Mapping
from importlib.metadata import version
from typing import Any

import msgspec

from transports import transport_rtt
from transports.base import ClientTransport, EchoHandler, Notify, Receiver, RttReport, TransportError

log = logging.getLogger(__name__)

#: The echo participant's user name; the runner watches for it leaving.
ECHO_USER_NAME = "echo-agent"
RUNNER_USER_NAME = "benchmark-runner"

#: Media off both ways: only app messages cross the room.
_NO_MEDIA_INPUTS = {"inputs": {"camera": False, "microphone": False}}
_UNSUBSCRIBED = {
    "base": {
        "camera": "unsubscribed",
        "microphone": "unsubscribed",
        "screenVideo": "unsubscribed",
        "screenAudio": "unsubscribed",
    }
}
_LEAVE_TIMEOUT_S = 5.0

_json_encode = msgspec.json.Encoder().encode
_json_decode = msgspec.json.decode

#: How long the echo waits for its own join; /connect must answer, not hang.
ECHO_JOIN_TIMEOUT_S = 30.0

_init_lock = threading.Lock()
_initialised: weakref.WeakSet[Any] = weakref.WeakSet()


def _real_sdk() -> Any:
    import daily

    return daily


def init_sdk(sdk: Any) -> None:
    """``Daily.init()`` once per process and SDK, as daily-python requires before any CallClient."""
    with _init_lock:
        if sdk not in _initialised:
            sdk.Daily.init()
            _initialised.add(sdk)


def _as_bytes(message: Any) -> bytes:
    """The SDK's decoded app message back to the JSON bytes the engine parses."""
    if isinstance(message, str):
        return message.encode()
    return _json_encode(message)


def _user_name(participant: Mapping[str, Any]) -> str | None:
    info = participant.get("info")
    return info.get("userName") if isinstance(info, Mapping) else None


class _Call:
    """One CallClient with its event handler: join, leave, release, once each."""

    def __init__(self, sdk: Any, events: Any, user_name: str) -> None:
        init_sdk(sdk)
        self.client = sdk.CallClient(event_handler=events)
        self._user_name = user_name
        self.joined = False
        self._released = False

    async def join(self, room_url: str, token: str | None) -> Mapping[str, Any]:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Mapping[str, Any]] = loop.create_future()

        def completion(data: Mapping[str, Any] | None, error: str | None) -> None:  # on the SDK's thread
            loop.call_soon_threadsafe(_settle, done, data, error)

        self.client.update_subscription_profiles(_UNSUBSCRIBED)
        self.client.join(room_url, token, client_settings=_NO_MEDIA_INPUTS, completion=completion)
        data = await done
        self.joined = True
        self.client.set_user_name(self._user_name)
        return data

    async def leave(self) -> None:
        """Leave (bounded wait) and release; a second call does nothing."""
        if self._released:
            return
        self._released = True
        if self.joined:
            loop = asyncio.get_running_loop()
            left: asyncio.Future[None] = loop.create_future()
            self.client.leave(completion=lambda error: loop.call_soon_threadsafe(_settle, left, None, error))
            try:
                await asyncio.wait_for(left, _LEAVE_TIMEOUT_S)
            except (TimeoutError, TransportError) as exc:
                log.warning("daily leave did not complete cleanly: %s", exc or "timed out")
        self.client.release()


def _settle(future: asyncio.Future, data: Any, error: str | None) -> None:
    if future.done():
        return
    if error:
        future.set_exception(TransportError(f"Daily says: {error}"))
    else:
        future.set_result(data)


class _CallRtt:
    """Either side's call: Daily's own RTT to its SFU, from ``get_network_stats()`` (transports/transport_rtt.py)."""

    _call: _Call | None
    transport_rtt_source = transport_rtt.DAILY_NETWORK

    def read_transport_rtt(self, report: RttReport) -> None:
        call = self._call
        if call is not None and call.joined:
            transport_rtt.read_daily(call.client, report)


class DailyClient(_CallRtt, ClientTransport):
    """Runner side: joins the agent's room and exchanges app messages with the echo participant."""

    def __init__(self, *, reliable: bool = True, sdk: Any = None) -> None:
        # ``reliable`` is taken for the uniform constructor: Daily has one mode and the CLI refuses --unreliable.
        self._sdk = sdk if sdk is not None else _real_sdk()
        self._call: _Call | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._receiver: Receiver | None = None
        self._notify: Notify | None = None
        self._send_errors = 0
        self.waiting_for = "the Daily room"

    async def connect(self, credentials: Mapping[str, Any], receiver: Receiver, notify: Notify) -> None:
        room_url = credentials.get("room_url")
        if not isinstance(room_url, str) or not room_url:
            raise TransportError(f"daily credentials need room_url, got keys {sorted(credentials)}")
        self._loop, self._receiver, self._notify = asyncio.get_running_loop(), receiver, notify
        self._call = _Call(self._sdk, _client_events(self._sdk.EventHandler, self), RUNNER_USER_NAME)
        self.waiting_for = f"the join of Daily room {room_url}"
        try:
            await self._call.join(room_url, credentials.get("token"))
        except TransportError as exc:
            raise TransportError(f"could not join Daily room {room_url}: {exc}") from None

    @property
    def in_call(self) -> bool:
        """Joined and not yet closing: what the SDK reports now is news to the user."""
        return self._call is not None and self._call.joined

    @staticmethod
    def to_wire(data: bytes) -> Any:
        return _json_decode(data)

    @staticmethod
    def from_wire(message: Any) -> bytes:
        return _as_bytes(message)

    def send(self, payload: Any) -> None:
        call = self._call
        if call is None:
            raise TransportError("daily: send before connect")
        call.client.send_app_message(payload, completion=self._sent)

    def _sent(self, error: str | None) -> None:  # on the SDK's thread
        if error:
            self._send_errors += 1
            if self._send_errors == 1 and self._loop is not None:
                self._loop.call_soon_threadsafe(self._tell, "warning", f"Daily refused an app message: {error}")

    def _deliver(self, message: Any, t4: int) -> None:
        if self._receiver is not None:
            self._receiver(message, t4)

    def _tell(self, kind: str, detail: str) -> None:
        if self._notify is not None:
            self._notify(kind, detail)

    def _from_sdk(self, method: Any, *args: Any) -> None:
        """Run ``method`` on the worker's loop; SDK callbacks arrive on Daily's threads."""
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed under a late callback: nobody is listening
                self._loop.call_soon_threadsafe(method, *args)

    async def close(self) -> None:
        call, self._call = self._call, None
        # News the SDK thread queued before this is moot now, even "Daily ended the call".
        self._receiver, self._notify = None, None
        if call is not None:
            await call.leave()

    def versions(self) -> dict[str, str]:
        return {"daily-python": version("daily-python")}


def _client_events(base: type, owner: DailyClient) -> Any:
    """An ``EventHandler`` subclass of the given SDK's, bound to ``owner``."""

    class _Events(base):
        def on_app_message(self, message: Any, sender: str) -> None:
            t4 = time.perf_counter_ns()
            owner._from_sdk(owner._deliver, message, t4)

        def on_participant_left(self, participant: Mapping[str, Any], reason: str) -> None:
            if _user_name(participant) == ECHO_USER_NAME:
                owner._from_sdk(owner._tell, "warning", f"the Daily echo participant left the room ({reason})")

        # Before the join completes, a failure reaches the user as the join's own error.
        def on_call_state_updated(self, state: str) -> None:
            if state == "left" and owner.in_call:
                owner._from_sdk(owner._tell, "error", "Daily ended the call")

        def on_error(self, message: str) -> None:
            if owner.in_call:
                owner._from_sdk(owner._tell, "warning", f"Daily error: {message}")

    return _Events()


class DailyEcho(_CallRtt):
    """Agent side: joins a room as the echo participant and answers each ping to its sender.

    The echo runs on the SDK's callback thread: t2 is its first statement, and
    the pong goes straight back through ``send_app_message`` with no loop hop.
    """

    def __init__(self, room_url: str, token: str | None = None, *, sdk: Any = None) -> None:
        self._room_url = room_url
        self._token = token
        self._sdk = sdk if sdk is not None else _real_sdk()
        self._call: _Call | None = None

    async def start(self, handler: EchoHandler) -> dict[str, Any]:
        call = self._call = _Call(self._sdk, _echo_events(self._sdk.EventHandler, self, handler), ECHO_USER_NAME)
        try:
            await asyncio.wait_for(call.join(self._room_url, self._token), ECHO_JOIN_TIMEOUT_S)
        except (TransportError, TimeoutError) as exc:
            await self.close()
            why = exc if isinstance(exc, TransportError) else f"no answer within {ECHO_JOIN_TIMEOUT_S:g} s"
            raise TransportError(f"echo could not join Daily room {self._room_url}: {why}") from None
        except BaseException:  # cancelled: still leave nothing behind
            await self.close()
            raise
        return {"room_url": self._room_url}

    def reply(self, pong: bytes, to: str) -> None:
        call = self._call
        if call is not None:
            call.client.send_app_message(_json_decode(pong), participant_id=to)

    async def close(self) -> None:
        call, self._call = self._call, None
        if call is not None:
            await call.leave()


def _echo_events(base: type, owner: DailyEcho, handler: EchoHandler) -> Any:
    class _Events(base):
        def on_app_message(self, message: Any, sender: str) -> None:
            t2 = time.time_ns()
            pong = handler(_as_bytes(message), t2)
            if pong is not None:
                owner.reply(pong, sender)

    return _Events()
