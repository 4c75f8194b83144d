"""A scripted stand-in of daily-python: the SDK's API, its threads and its failure modes.

``FakeDaily()`` is passed where the real ``daily`` module would be (``sdk=``).
It has ``Daily.init``, ``EventHandler`` and ``CallClient`` with the real
signatures. Calls in one room reach each other through one dispatcher thread,
as the real SDK calls back on threads of its own; app messages are
serialized to JSON and back, as Daily does. Each call reports its own call
state (``joining``, ``joined``, ``leaving``, ``left``) through
``on_call_state_updated``, once per change. Scripts: ``join_error`` (the
completion carries Daily's message), ``join_hangs`` (no completion ever),
``leave(client)`` from the SFU's side, and ``inject`` for a message arriving
from nowhere. ``get_network_stats()`` answers in daily-python's shape (daily-js's
``getNetworkStats()``: ``networkState``, ``stats.latest.networkRoundTripTime`` in
seconds...); with ``network_rtt_s`` None its ``stats`` is empty, as Daily's is
before it has measured anything.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any


class FakeDaily:
    def __init__(
        self, join_error: str | None = None, join_hangs: bool = False, network_rtt_s: float | None = None
    ) -> None:
        self.join_error = join_error
        self.join_hangs = join_hangs
        self.network_rtt_s = network_rtt_s
        self.inits = 0
        self.clients: list[Any] = []
        self.rooms: dict[str, list[Any]] = {}
        self.delivered_ns: list[int] = []
        self._queue: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._dispatch, name="fake-daily", daemon=True)
        self.thread.start()
        sdk = self

        class Daily:
            @staticmethod
            def init(worker_threads: int = 2, log_level: Any = None) -> None:
                sdk.inits += 1

        class EventHandler:
            """Every callback the scripts raise is a no-op here, as in the real base class."""

            def on_app_message(self, message: Any, sender: str) -> None: ...

            def on_participant_left(self, participant: Any, reason: str) -> None: ...

            def on_call_state_updated(self, state: str) -> None: ...

            def on_error(self, message: str) -> None: ...

        class CallClient(_FakeCallClient):
            def __init__(self, event_handler: Any = None) -> None:
                super().__init__(sdk, event_handler)

        self.Daily, self.EventHandler, self.CallClient = Daily, EventHandler, CallClient

    def _dispatch(self) -> None:
        while (job := self._queue.get()) is not None:
            job()
            self._queue.task_done()

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Block the caller (the test's event loop, say) until the SDK thread has run every queued callback."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                raise AssertionError("the fake SDK thread did not finish its callbacks")
            time.sleep(0.001)

    def later(self, job: Callable[[], None]) -> None:
        """Run ``job`` on the SDK's thread, as the real SDK runs callbacks."""
        self._queue.put(job)

    def shutdown(self) -> None:
        self._queue.put(None)
        self.thread.join(5)

    def inject(self, client: Any, message: Any, sender: str = "stranger") -> None:
        self.later(lambda: client.events.on_app_message(json.loads(json.dumps(message)), sender))

    def leave(self, client: Any) -> None:
        """The SFU drops ``client`` from its room: the others hear ``on_participant_left``, ``client``
        itself its call state going to ``left``."""
        self.later(lambda: client._drop("leftCall"))


class _FakeCallClient:
    def __init__(self, sdk: FakeDaily, events: Any) -> None:
        if sdk.inits == 0:
            raise RuntimeError("Daily.init() must be called before creating a CallClient")
        self.sdk = sdk
        self.events = events
        self.id = str(uuid.uuid4())
        self.user_name = ""
        self.room: str | None = None
        self.join_args: dict[str, Any] = {}
        self.profiles: Any = None
        self.sent: list[tuple[Any, str | None]] = []
        self.state = "initialized"
        self.left = 0
        self.released = 0
        sdk.clients.append(self)

    def _check(self) -> None:
        if self.released:
            raise RuntimeError("this object has already been released")

    def update_subscription_profiles(self, profile_settings: Any, completion: Any = None) -> None:
        self._check()
        self.profiles = profile_settings

    def join(self, meeting_url: str, meeting_token: Any = None, client_settings: Any = None, completion: Any = None):
        self._check()
        self.join_args = {"url": meeting_url, "token": meeting_token, "client_settings": client_settings}
        if self.sdk.join_hangs:
            return
        if self.sdk.join_error:
            self.sdk.later(lambda: completion(None, self.sdk.join_error))
            return

        def joined() -> None:
            self._set_state("joining")
            self._set_state("joined")
            self.room = meeting_url
            self.sdk.rooms.setdefault(meeting_url, []).append(self)
            completion({"participants": {"local": self.participant()}}, None)

        self.sdk.later(joined)

    def set_user_name(self, user_name: str) -> None:
        self.user_name = user_name

    def participant(self) -> dict[str, Any]:
        return {"id": self.id, "info": {"userName": self.user_name, "isLocal": False}}

    def send_app_message(self, message: Any, participant_id: str | None = None, serialize_none=True, completion=None):
        self._check()
        wire = json.dumps(message)  # the SDK serializes here: a non-JSON message fails in the caller
        self.sent.append((message, participant_id))

        def deliver() -> None:
            if self.room is None:
                if completion:
                    completion("not joined")
                return
            for peer in self.sdk.rooms.get(self.room, []):
                if peer is not self and participant_id in (None, "*", peer.id):
                    peer.events.on_app_message(json.loads(wire), self.id)
                    self.sdk.delivered_ns.append(time.perf_counter_ns())  # the callback has returned
            if completion:
                completion(None)

        self.sdk.later(deliver)

    def get_network_stats(self) -> dict[str, Any]:
        """A snapshot in the SDK's shape; ``stats`` is empty until the call measured something."""
        self._check()
        rtt = self.sdk.network_rtt_s
        if rtt is None or self.room is None:
            return {"networkState": "unknown", "networkStateReasons": [], "stats": {}, "threshold": "good", "quality": 100}
        latest = {
            "timestamp": time.time() * 1e3,
            "recvBitsPerSecond": 0,
            "sendBitsPerSecond": 0,
            "availableOutgoingBitrate": None,
            "networkRoundTripTime": rtt,
            "videoRecvBitsPerSecond": 0,
            "videoSendBitsPerSecond": 0,
            "audioRecvBitsPerSecond": 0,
            "audioSendBitsPerSecond": 0,
            "videoRecvPacketLoss": None,
            "videoSendPacketLoss": None,
            "audioRecvPacketLoss": None,
            "audioSendPacketLoss": None,
            "totalSendPacketLoss": None,
            "totalRecvPacketLoss": None,
        }
        return {
            "networkState": "good",
            "networkStateReasons": [],
            "stats": {
                "latest": latest,
                "worstVideoRecvPacketLoss": 0,
                "worstVideoSendPacketLoss": 0,
                "worstAudioRecvPacketLoss": 0,
                "worstAudioSendPacketLoss": 0,
                "averageNetworkRoundTripTime": rtt,
            },
            "threshold": "good",
            "quality": 100,
        }

    def leave(self, completion: Any = None) -> None:
        self._check()
        self.left += 1

        def left() -> None:
            if self.state != "left":
                self._set_state("leaving")
            self._drop("leftCall")
            if completion:
                completion(None)

        self.sdk.later(left)

    def _drop(self, reason: str) -> None:
        members = self.sdk.rooms.get(self.room or "", [])
        if self in members:
            members.remove(self)
            for peer in members:
                peer.events.on_participant_left(self.participant(), reason)
        self.room = None
        self._set_state("left")

    def _set_state(self, state: str) -> None:
        """On the SDK's thread, as Daily reports it: once per change."""
        if state != self.state:
            self.state = state
            self.events.on_call_state_updated(state)

    def release(self) -> None:
        self.released += 1
