"""The control plane's request bodies, decoded strictly: anything else is one 400 line, never a 500.

Typed msgspec structs refuse a list or object where a string belongs before
any handler sees it; deep nesting, invalid UTF-8 and bodies that stall are
refused here too. Unknown fields are ignored, as the original agent did.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import msgspec
from aiohttp import web

from ipc.protocol import DECODE_ERRORS

#: Bodies are a few small fields or one SDP answer (a few KiB).
MAX_BODY_BYTES = 64 * 1024
#: A client gets this long to send its whole body once its headers are in (slow bodies hold a connection).
BODY_TIMEOUT_S = 10.0


class ConnectBody(msgspec.Struct):
    """``run_id``: the runner's, carried by its every ping; a session given one answers no other pings.
    ``duration_s``: how long the runner needs the session (the agent caps it). ``kernel_t3``: send each
    pong's kernel transmit stamp after it, where the transport has one (udp). ``busy_poll_us``: poll for
    up to this long around each expected ping instead of sleeping (udp; the agent may grant less)."""

    platform: str | None = None
    reliable: bool = True
    run_id: str | None = None
    duration_s: Annotated[float, msgspec.Meta(gt=0)] | None = None
    kernel_t3: bool = False
    busy_poll_us: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 0


class DisconnectBody(msgspec.Struct):
    room_id: str


class AnswerBody(msgspec.Struct):
    sdp: str


def decode_body(raw: bytes, kind: type[msgspec.Struct]) -> msgspec.Struct:
    """``raw`` as ``kind`` (an empty body is ``kind()`` where every field has a default); else ``HTTPBadRequest``."""
    if len(raw) > MAX_BODY_BYTES:
        raise web.HTTPRequestEntityTooLarge(MAX_BODY_BYTES, len(raw))
    try:
        return msgspec.json.decode(raw or b"{}", type=kind)
    except msgspec.ValidationError as exc:
        raise web.HTTPBadRequest(text=f"bad request body: {exc}") from None
    except DECODE_ERRORS as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else "not JSON"
        raise web.HTTPBadRequest(text=f"body must be a JSON object ({reason})") from None


async def read_body(request: web.Request, kind: type[msgspec.Struct]) -> msgspec.Struct:
    """The request's body as ``kind``; the app's ``client_max_size`` (``MAX_BODY_BYTES``) caps its size."""
    try:
        raw = await asyncio.wait_for(request.read(), BODY_TIMEOUT_S)
    except TimeoutError:
        raise web.HTTPRequestTimeout(text=f"body not received within {BODY_TIMEOUT_S:g} s") from None
    return decode_body(raw, kind)
