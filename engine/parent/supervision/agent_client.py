"""The runner's side of the echo agent's HTTP control plane: /health, /connect, /disconnect.

Every way an agent can be unusable (refused, silent, not JSON, wrong shape,
too large) becomes one ``BenchError`` line naming the URL and the problem.
An agent in public wants its token: ``AGENT_TOKEN`` (environment or .env) is
sent as ``Authorization: Bearer`` with every request when it is set.
"""

from __future__ import annotations

import html
import math
import os
import re
import time
from typing import Annotated, Any
from urllib.parse import urljoin

import aiohttp
import msgspec

from ipc.errors import BenchError
from ipc.protocol import DECODE_ERRORS, MAX_MESSAGE_BYTES

HTTP_TIMEOUT_S = 10.0
#: Agents answer a few KiB (an SDP offer at most); more is refused before it fills the runner's memory.
MAX_RESPONSE_BYTES = 1024 * 1024
TOKEN_ENV = "AGENT_TOKEN"


class Health(msgspec.Struct):
    """/health; ``boot_id`` proves a same-host agent. Legacy agents send only ``status``."""

    status: str
    boot_id: str | None = None
    platforms: list[str] | None = None
    version: str | None = None


#: /connect's whole answer: ``room_id`` and the credentials objects, keyed by platform name.
ConnectAnswer = dict[str, str | dict[str, Any] | None]  # the original agent sends null for platforms it does not serve


async def _request(
    method: str, url: str, body: dict[str, Any] | None, kind: type, timeout_s: float = HTTP_TIMEOUT_S
) -> Any:
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    token = os.environ.get(TOKEN_ENV, "").strip()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with aiohttp.ClientSession(timeout=timeout, headers=headers) as http:
            async with http.request(method, url, json=body) as resp:
                data = await _read_capped(resp, url)
                if resp.status >= 400:
                    raise BenchError(f"agent {url} answered HTTP {resp.status} {resp.reason or ''}: {first_words(data)}")
    except TimeoutError:
        raise BenchError(f"agent {url} did not answer within {timeout_s:g} s") from None
    except aiohttp.InvalidURL:
        raise BenchError(f"agent URL {url} is not a valid http URL") from None
    except aiohttp.ClientError as exc:
        raise BenchError(f"agent {url} unreachable: {exc}") from None
    try:
        return msgspec.json.decode(data, type=kind)
    except msgspec.ValidationError as exc:  # a DecodeError subclass: test it first
        raise BenchError(f"agent {url} answered an unexpected shape: {exc}") from None
    except DECODE_ERRORS:  # not JSON, invalid UTF-8 in a string, nested too deeply
        raise BenchError(f"agent {url} answered something that is not JSON: {data[:80]!r}") from None


async def _read_capped(resp: aiohttp.ClientResponse, url: str) -> bytes:
    data = bytearray()
    async for chunk in resp.content.iter_chunked(64 * 1024):
        data += chunk
        if len(data) > MAX_RESPONSE_BYTES:
            raise BenchError(f"agent {url} answered more than {MAX_RESPONSE_BYTES // 1024} KiB; no agent does")
    return bytes(data)


def first_words(body: bytes, limit: int = 80) -> str:
    """The start of an error body as one line: markup dropped, whitespace collapsed (a web server's 404 page is HTML)."""
    text = re.sub(r"<(script|style)\b.*?</\1>|<[^>]*>", " ", body[:4096].decode(errors="replace"), flags=re.S | re.I)
    words = " ".join(html.unescape(text).split())
    return words if len(words) <= limit else words[: limit - 1] + "…"


def _url(base: str, path: str) -> str:
    if not base.startswith(("http://", "https://")):
        raise BenchError(f"agent URL {base!r} must start with http:// or https://")
    return urljoin(base.rstrip("/") + "/", path)


async def health(base: str, timeout_s: float = HTTP_TIMEOUT_S) -> Health:
    return await _request("GET", _url(base, "health"), None, Health, timeout_s)


async def connect(
    base: str,
    platform: str,
    reliable: bool,
    timeout_s: float = HTTP_TIMEOUT_S,
    duration_s: float | None = None,
    *,
    run_id: str | None = None,
    busy_poll_us: int = 0,
) -> tuple[str, dict[str, Any]]:
    """Ask the agent for a room/session lasting ``duration_s`` whose echo answers this run's pings;
    returns (room_id, the platform's credentials).

    The agent may grant less (it caps session length). Its ``session.duration_s`` becomes ``session_ends_at``
    in the credentials, on this host's clock (counted from before the request, so never late): the agent's
    own ``expires_at`` is on its clock, which may be set differently.
    """
    url = _url(base, "connect")
    # kernel_t3: every pong's kernel transmit stamp, sent after it where the echo has one (agents before it ignore it)
    body: dict[str, Any] = {"platform": platform, "reliable": reliable, "kernel_t3": True}
    if run_id is not None:
        body["run_id"] = run_id
    if duration_s is not None:
        body["duration_s"] = math.ceil(duration_s)
    if busy_poll_us:  # the udp echo then polls around each ping too (the agent may grant less)
        body["busy_poll_us"] = busy_poll_us
    asked_at = time.time()
    answer = await _request("POST", url, body, ConnectAnswer, timeout_s)
    room_id, credentials = answer.get("room_id"), answer.get(platform)
    if not isinstance(room_id, str):
        raise BenchError(f"agent {url} answered an unexpected shape: no room_id")
    if not isinstance(credentials, dict):
        raise BenchError(f"agent {url} returned no {platform!r} credentials (is it an agent for another platform?)")
    least = credentials.get("min_ping_bytes", 0)
    if type(least) is not int or not 0 <= least <= MAX_MESSAGE_BYTES:
        raise BenchError(f"agent {url} asked for pings of {least!r} bytes; at most {MAX_MESSAGE_BYTES} are possible")
    if isinstance(answer.get("clock"), dict):  # the agent's clock reading (agents before it send none)
        credentials["agent_clock"] = answer["clock"]
    granted = answer.get("session")
    if isinstance(granted, dict) and isinstance(granted.get("duration_s"), int):
        credentials["session_ends_at"] = asked_at + granted["duration_s"] - 1  # the agent rounds its clock down
    return room_id, credentials


Seq = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]


class PingsReceived(msgspec.Struct):
    """The seqs a session's echo received, as sorted inclusive ranges (``ipc.received``)."""

    count: Seq
    ranges: list[tuple[Seq, Seq]]
    complete: bool = True


class SessionRecord(msgspec.Struct):
    """What /disconnect's reply says of the session's pings and the agent's clock; agents before these
    fields (the original's included) send neither."""

    pings_received: PingsReceived | None = None
    clock: dict[str, Any] | None = None  # the agent's clock reading at the session's end (ipc.clocks.discipline)


def session_record(reply: dict[str, Any]) -> SessionRecord | None:
    """The reply's record, None when its fields are not in a shape we know (then a loss's direction comes
    from the pongs' running counts, or is unknown, and the agent's clock bound is missing)."""
    try:
        return msgspec.convert(reply, SessionRecord)
    except msgspec.ValidationError:
        return None


async def disconnect(base: str, room_id: str) -> dict[str, Any] | None:
    """Best effort: a run's result never depends on the agent cleaning up. The agent's reply (its own side
    of the transport RTT, ``transport_rtt``), or None where there was none."""
    try:
        return await _request("POST", _url(base, "disconnect"), {"room_id": room_id}, dict)
    except BenchError:
        return None
