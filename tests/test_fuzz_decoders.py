"""Property-based fuzzing of every decoder on both sides, with arbitrary bytes and boundary numbers.

Pongs (current and legacy) in the worker's session, pings in the agent's
echo, IPC frames in the parent, the agent's HTTP bodies. No exception
escapes; every input is a sample or is counted (malformed, unknown, late,
duplicate, another run's); and what a side accepts, the next one takes: a
worker's samples go through the pipe into the parent's result and its JSON,
an agent's pong is one the runner decodes. Example counts are bounded so the
whole file runs in seconds.
"""

from __future__ import annotations

import json
from multiprocessing import Pipe

import msgspec
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.bodies import AnswerBody, ConnectBody, DisconnectBody, decode_body
from agent.echo import Echo
from engine.parent.analysis.aggregator import PlatformRun
from engine.parent.analysis.offset import ClockMode
from engine.parent.results.builder import platform_result
from engine.parent.results.model import dumps
from engine.parent.settings import PlatformContext, RunSettings
from ipc import frames
from ipc.pipe import read_frames
from ipc.protocol import decode_pong
from tests.test_session import ANCHOR, T2_BASE, Scripted, due

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

BOUNDARY_INTS = [0, 1, -1, 2, 2**31 - 1, 2**31, 2**53 + 1, 2**62, 2**62 + 1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1]
BOUNDARY_INTS += [2**64 - 1, 2**64, 10**30, T2_BASE]
ints = st.sampled_from(BOUNDARY_INTS) | st.integers()
floats = st.sampled_from([0.0, -0.0, 1.7e308, -1.7e308, 5e-324, 4611686018427.388, 1e400]) | st.floats()
text = st.text(max_size=20) | st.sampled_from(["ping", "pong", "run-test", "\ud800"])
scalars = st.none() | st.booleans() | ints | floats | text
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3))


def _json(obj: object) -> bytes:
    """Anything, as a peer could send it: Python's JSON (NaN and Infinity included), surrogates as they come."""
    return json.dumps(obj, allow_nan=True).encode("utf-8", "surrogatepass")


def _message(kind: str, fields: dict[str, st.SearchStrategy]) -> st.SearchStrategy[bytes]:
    """A JSON object with some of ``fields`` (each numeric or not), a type tag, and now and then an unknown key."""
    values = {name: st.one_of(strategy, json_values) for name, strategy in fields.items()}
    return st.fixed_dictionaries({}, optional={"type": st.just(kind) | text, **values, "extra": json_values}).map(_json)


def _shaped(kind: str, required: dict, optional: dict) -> st.SearchStrategy[bytes]:
    """Messages of the right shape with any numbers in them, now and then spoilt: invalid UTF-8 in
    the type, or nested a few thousand arrays deep."""
    objects = st.fixed_dictionaries({"type": st.just(kind), **required}, optional=optional).map(_json)
    spoilt = objects.map(lambda data: data.replace(f'"{kind}"'.encode(), b'"\xff\xfe"', 1))
    nested = st.integers(100, 20_000).map(lambda n: b'{"type":"%s","x":' % kind.encode() + b"[" * n + b"]" * n + b"}")
    return objects | spoilt | nested


#: The ``timestamp`` of the pings ``Scripted`` sends, which legacy pongs echo to be matched.
SENT_TIMESTAMPS = st.sampled_from([(ANCHOR.wall_ns + due(k) - ANCHOR.perf_ns) / 1e6 for k in range(5)])
PONG_TIMES = {"client_timestamp": floats, "server_receive_time": floats, "server_send_time": floats}
PONG_FIELDS = {"seq": ints | st.integers(0, 6), **PONG_TIMES, "message_count": ints, "t2_ns": ints, "t3_ns": ints}
pongs = (
    _shaped("pong", {"seq": st.integers(1, 5) | ints, **PONG_TIMES}, {"t2_ns": ints, "t3_ns": ints, "message_count": ints})
    | _shaped("pong", {**PONG_TIMES, "client_timestamp": SENT_TIMESTAMPS | floats}, {"message_count": ints})  # legacy
    | _message("pong", PONG_FIELDS)
    | st.binary(max_size=200)
)
PING_FIELDS = {"seq": ints, "timestamp": floats, "run_id": text, "pad": text}
pings = (
    _shaped("ping", {"seq": ints, "timestamp": floats}, {"run_id": st.just("run-test") | text, "pad": text})
    | _message("ping", PING_FIELDS)
    | st.binary(max_size=200)
)

SETTINGS = RunSettings(
    run_id="fuzz", iterations=5, timeout_ms=1000, cooldown_ms=10, warmup=0, payload_bytes=0, location_id="lab"
)


def _parent_takes(run: PlatformRun) -> None:
    """What the parent does with a finished run: the result object and its JSON text."""
    for mode in ClockMode:
        dumps(platform_result(run, SETTINGS, PlatformContext("http://agent", mode), 100.0, 101.0))


@FUZZ
@given(st.lists(pongs, min_size=1, max_size=8))
def test_worker_pong_decoding(messages):
    h = Scripted(iterations=5)
    h.send(5)
    for data in messages:
        h.receive(data, h.t1[1] + 1_000_000)
    samples = h.session.take_samples()
    received = len(samples.seq) if samples else 0
    assert received + sum(h.session.counters.values()) == len(messages)
    # Whatever the worker kept crosses the pipe and becomes a result.
    run = PlatformRun("udp")
    run.add(frames.Hello("udp", 1, 1_790_000_000_000_000_000, 0, 50))
    if samples:
        run.add(frames.decode(frames.encode(samples)))
    assert run.received == received
    _parent_takes(run)


@FUZZ
@given(st.lists(pings, min_size=1, max_size=8), st.sampled_from([None, "run-test"]))
def test_agent_ping_decoding(messages, run_id):
    echo = Echo(run_id=run_id)
    for data in messages:
        pong = echo(data, T2_BASE)
        if pong is not None:
            decode_pong(pong)  # the runner takes every pong the agent makes
    assert echo.message_count + echo.malformed + echo.foreign == len(messages)


_columns = st.lists(ints, max_size=4)
_FIELDS = {
    "Hello": {"platform": text, "pid": ints, "anchor_wall_ns": ints, "anchor_perf_ns": ints, "anchor_uncertainty_ns": ints},
    "Samples": dict.fromkeys(frames.Samples.__struct_fields__, _columns),
    "Lost": dict.fromkeys(frames.Lost.__struct_fields__, _columns),
    "Event": {"kind": text, "detail": text, "fatal": st.booleans(), "value": st.none() | floats},
    "Done": {"sent": ints, "counters": st.dictionaries(text, ints, max_size=3), "partial": st.booleans(),
             "legacy_agent": st.booleans(), "cpu_s": floats, "measuring_cpu_s": floats, "peak_rss_kb": ints},
}  # fmt: skip
#: Frames as a broken worker could write them: any tag, any field left out, any value in range or not.
_frames = st.sampled_from([*_FIELDS, "Nope"]).flatmap(
    lambda tag: st.fixed_dictionaries({"type": st.just(tag)}, optional={**_FIELDS.get(tag, {}), "x": json_values})
)


def _encoded(frame: dict) -> bytes | None:
    try:
        return msgspec.msgpack.encode(frame)
    except (OverflowError, UnicodeEncodeError):  # msgpack holds no int past 64 bits, no lone surrogate
        return None


@FUZZ
@given(st.lists(_frames.map(_encoded) | st.binary(max_size=100), min_size=1, max_size=6))
def test_parent_frame_decoding(payloads):
    reader, writer = Pipe(duplex=False)
    sent = [p for p in payloads if p is not None]
    for payload in sent:
        writer.send_bytes(payload)
    writer.close()
    run = PlatformRun("udp")
    got = 0
    while True:
        [(_, frame)] = list(read_frames([reader], 1.0))
        if frame is None:
            break
        got += 1
        run.add(frame)
    reader.close()
    assert got == len(sent)
    _parent_takes(run)


@FUZZ
@given(st.sampled_from([ConnectBody, DisconnectBody, AnswerBody]), json_values.map(_json) | st.binary(max_size=100))
def test_agent_body_decoding(kind, raw):
    try:
        body = decode_body(raw, kind)
    except web.HTTPException as exc:
        assert 400 <= exc.status < 500 and "\n" not in exc.text
    else:
        assert isinstance(body, kind)
