"""The impairment spec users type: per-direction delay, loss, duplication and reordering, and a seed.

Grammar (items separated by commas; an item without a direction applies to both)::

    [up.|down.]delay=MS | uniform:LOW:HIGH | normal:MEAN:SD | trace:FILE
    [up.|down.]loss=P | dup=P | reorder=P     (P as 0.02 or 2%)
    seed=N

``up`` is runner → agent, ``down`` agent → runner; times are in ms. A trace
file holds one delay in ms per line (blank lines and ``#`` comments skipped)
and is replayed in order, from the start again when it runs out.
"""

from __future__ import annotations

import math
from pathlib import Path

import msgspec

DIRECTIONS = ("up", "down")
DELAY_KINDS = ("constant", "uniform", "normal", "trace")


class SpecError(ValueError):
    """A spec that cannot be used; the message is one line for the user."""


class Delay(msgspec.Struct, frozen=True):
    """``constant``: ``a`` ms; ``uniform``: between ``a`` and ``b`` ms; ``normal``: mean ``a``, sd ``b``
    (negative draws become 0); ``trace``: ``trace_ms`` in order, read from ``trace_path``."""

    kind: str = "constant"
    a: float = 0.0
    b: float = 0.0
    trace_path: str | None = None
    trace_ms: tuple[float, ...] = ()


class DirectionSpec(msgspec.Struct, frozen=True):
    delay: Delay = Delay()
    loss: float = 0.0
    dup: float = 0.0
    reorder: float = 0.0


class ImpairSpec(msgspec.Struct, frozen=True):
    text: str
    seed: int = 0
    up: DirectionSpec = DirectionSpec()
    down: DirectionSpec = DirectionSpec()

    def describe(self) -> dict:
        """For a result's metadata: the spec as typed, the seed, and each direction (trace values left out)."""
        out = msgspec.to_builtins(self)
        for side in DIRECTIONS:
            out[side]["delay"].pop("trace_ms", None)
        return out


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SpecError(f"{what}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise SpecError(f"{what}: {text!r} is not a finite number")
    return value


def _probability(text: str, what: str) -> float:
    value = _number(text[:-1], what) / 100 if text.endswith("%") else _number(text, what)
    if not 0.0 <= value <= 1.0:
        raise SpecError(f"{what}={text}: a probability is between 0 and 1 (or 0% and 100%)")
    return value


def _ms(text: str, what: str) -> float:
    value = _number(text.removesuffix("ms"), what)
    if value < 0:
        raise SpecError(f"{what}: {text!r} is negative")
    return value


def _read_trace(path: str, what: str) -> tuple[float, ...]:
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise SpecError(f"{what}: cannot read trace file {path}: {exc.strerror or exc}") from None
    values = []
    for number, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if line:
            values.append(_ms(line, f"{what} ({path} line {number})"))
    if not values:
        raise SpecError(f"{what}: trace file {path} holds no delays")
    return tuple(values)


def _delay(text: str, what: str) -> Delay:
    kind, _, rest = text.partition(":")
    if not rest:
        return Delay("constant", _ms(text, what))
    if kind == "trace":
        return Delay("trace", trace_path=rest, trace_ms=_read_trace(rest, what))
    args = rest.split(":")
    if kind not in ("uniform", "normal") or len(args) != 2:
        raise SpecError(f"{what}={text}: expected MS, uniform:LOW:HIGH, normal:MEAN:SD or trace:FILE")
    a, b = _ms(args[0], what), _ms(args[1], what)
    if kind == "uniform" and b < a:
        raise SpecError(f"{what}={text}: HIGH is below LOW")
    return Delay(kind, a, b)


def parse_spec(text: str) -> ImpairSpec:
    """The spec, or ``SpecError`` naming the first item that is wrong."""
    seed = 0
    sides: dict[str, dict] = {side: {} for side in DIRECTIONS}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not value:
            raise SpecError(f"impairment item {item!r} is not KEY=VALUE")
        if key == "seed":
            try:
                seed = int(value)
            except ValueError:
                raise SpecError(f"seed={value}: not an integer") from None
            continue
        side, dot, name = key.rpartition(".")
        targets = [side] if dot else list(DIRECTIONS)
        if dot and side not in DIRECTIONS:
            raise SpecError(f"impairment item {item!r}: direction must be up or down")
        if name == "delay":
            parsed = _delay(value, key)
        elif name in ("loss", "dup", "reorder"):
            parsed = _probability(value, key)
        else:
            raise SpecError(f"impairment item {item!r}: unknown key {name!r} (delay, loss, dup, reorder, seed)")
        for target in targets:
            sides[target][name] = parsed
    return ImpairSpec(text=text, seed=seed, up=DirectionSpec(**sides["up"]), down=DirectionSpec(**sides["down"]))
