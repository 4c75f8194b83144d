"""The runner's side of the echo agent's HTTP control plane: /health, /connect, /disconnect.

Every way an agent can be unusable (refused, silent, not JSON, wrong shape)
becomes one ``BenchError`` line naming the URL and the problem.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

import aiohttp
import msgspec

from engine.parent.errors import BenchError

HTTP_TIMEOUT_S = 10.0


class Health(msgspec.Struct):
    """/health; ``boot_id`` proves a same-host agent. Legacy agents send only ``status``."""

    status: str
    boot_id: str | None = None
    platforms: list[str] | None = None
    version: str | None = None


#: /connect's whole answer: ``room_id`` and the credentials objects, keyed by platform name.
ConnectAnswer = dict[str, str | dict[str, Any]]


async def _request(
    method: str, url: str, body: dict[str, Any] | None, kind: type, timeout_s: float = HTTP_TIMEOUT_S
) -> Any:
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http:
            async with http.request(method, url, json=body) as resp:
                data = await resp.read()
                if resp.status >= 400:
                    raise BenchError(f"agent {url} answered HTTP {resp.status}: {data[:200].decode(errors='replace')}")
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
    except msgspec.DecodeError:
        raise BenchError(f"agent {url} answered something that is not JSON: {data[:80]!r}") from None


def _url(base: str, path: str) -> str:
    if not base.startswith(("http://", "https://")):
        raise BenchError(f"agent URL {base!r} must start with http:// or https://")
    return urljoin(base.rstrip("/") + "/", path)


async def health(base: str, timeout_s: float = HTTP_TIMEOUT_S) -> Health:
    return await _request("GET", _url(base, "health"), None, Health, timeout_s)


async def connect(
    base: str, platform: str, reliable: bool, timeout_s: float = HTTP_TIMEOUT_S
) -> tuple[str, dict[str, Any]]:
    """Ask the agent for a room/session; returns (room_id, the platform's credentials)."""
    url = _url(base, "connect")
    answer = await _request("POST", url, {"platform": platform, "reliable": reliable}, ConnectAnswer, timeout_s)
    room_id, credentials = answer.get("room_id"), answer.get(platform)
    if not isinstance(room_id, str):
        raise BenchError(f"agent {url} answered an unexpected shape: no room_id")
    if not isinstance(credentials, dict):
        raise BenchError(f"agent {url} returned no {platform!r} credentials (is it an agent for another platform?)")
    return room_id, credentials


async def disconnect(base: str, room_id: str) -> None:
    """Best effort: a run's result never depends on the agent cleaning up."""
    try:
        await _request("POST", _url(base, "disconnect"), {"room_id": room_id}, dict)
    except BenchError:
        pass
