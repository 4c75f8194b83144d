"""A result's per-sample ``measurements``, derived from the raw stamps and written to JSON in chunks.

One dict per sample cost the parent about 700 bytes a sample at its peak (a
million samples: ~800 MB RSS, perf/memory.py), and even one float column per
field costs 8 bytes a sample each. Here a field is a function of a row range:
it is computed from the raw stamp columns in ns and turned into ms (or Unix
seconds) only a chunk at a time, while the file is written or when a caller
indexes a row. Rows read or written are exactly the original's objects: same keys,
order, types and units, and the text ``json.dump(indent=2)`` would write for
the equivalent list of dicts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

#: Rows converted per step while writing: bounds the transient text and lists (~1.5 MB).
CHUNK_ROWS = 4096
INDENT = "  "

#: The fields of a row, in the file's order: the original's five, then additions.
FIELDS = (
    "round_trip_time",
    "client_to_server",
    "server_to_client",
    "message_number",
    "timestamp",
    "server_processing",
    "network_rtt",
    "send_lag",
)

#: Divisor from the stored unit to the output unit, per kind of column.
_MS, _SECONDS = 1e6, 1e9


#: ``field(start, stop)`` -> that row range of one field, in ns (or a plain integer).
Field = Callable[[int, int], np.ndarray]


class Measurements(Sequence):
    """Read-only sequence of row dicts over fields ``{name: (Field | None, divisor | None)}``.

    A ``None`` field means ``null`` in every row (one-way values of a legacy
    agent); a ``None`` divisor means an integer written as is.
    """

    def __init__(self, columns: dict[str, tuple[Field | None, float | None]], length: int) -> None:
        self._columns = columns
        self._len = length

    @classmethod
    def from_stamps(
        cls,
        raw: Mapping[str, np.ndarray],
        *,
        wall_minus_perf: int,
        theta: float,
        one_way: bool,
        warmup: int,
        unavailable: np.ndarray | None = None,
    ) -> Measurements:
        """The original's fields in its order (then additions) from the raw columns (seq, due, t1, t4, t2,
        processing_ns); ``wall_minus_perf`` turns a perf_counter stamp into epoch ns. Rows marked
        ``unavailable`` (implausible agent stamps) get null agent-side fields."""
        seq, due, t1, t4, t2, processing = (raw[k] for k in ("seq", "due", "t1", "t4", "t2", "processing_ns"))

        def rtt(a: int, b: int) -> np.ndarray:
            return t4[a:b] - t1[a:b]

        # Differences in int64 first: epoch ns as float64 would round to 256 ns.
        def c2s(a: int, b: int) -> np.ndarray:
            return (t2[a:b] - (t1[a:b] + wall_minus_perf)) - theta

        def s2c(a: int, b: int) -> np.ndarray:
            return ((t4[a:b] + wall_minus_perf) - (t2[a:b] + processing[a:b])) + theta

        def agent_side(field: Field) -> Field:
            if unavailable is None or not unavailable.any():
                return field
            return lambda a, b: np.where(unavailable[a:b], np.nan, field(a, b))

        return cls(
            {
                "round_trip_time": (rtt, _MS),
                "client_to_server": (agent_side(c2s) if one_way else None, _MS),
                "server_to_client": (agent_side(s2c) if one_way else None, _MS),
                "message_number": (lambda a, b: seq[a:b] - warmup, None),
                "timestamp": (lambda a, b: t1[a:b] + wall_minus_perf, _SECONDS),
                "server_processing": (agent_side(lambda a, b: processing[a:b]), _MS),
                "network_rtt": (agent_side(lambda a, b: rtt(a, b) - processing[a:b]), _MS),
                "send_lag": (lambda a, b: t1[a:b] - due[a:b], _MS),
            },
            len(seq),
        )

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping[str, Any]]) -> Measurements:
        """Rows read back from a file: each field a column already in its output unit (``None`` kept)."""
        names = list(rows[0]) if rows else list(FIELDS)
        return cls({name: _column_of(rows, name) for name in names}, len(rows))

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, index):  # int -> dict, slice -> list of dicts, like a list
        if isinstance(index, slice):
            return self.rows(*index.indices(self._len)[:2]) if index.step in (None, 1) else list(self)[index]
        i = range(self._len)[index]  # negative indices and IndexError, as a list does
        return self.rows(i, i + 1)[0]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for start in range(0, self._len, CHUNK_ROWS):
            yield from self.rows(start, min(start + CHUNK_ROWS, self._len))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and not isinstance(other, str) and list(self) == list(other)

    __hash__ = None  # a sequence compared by value, like a list

    def column(self, name: str) -> np.ndarray:
        """One field for every row in its output unit (float64; NaN for a null field)."""
        field, divisor = self._columns[name]
        if field is None:
            return np.full(self._len, np.nan)
        values = field(0, self._len)
        return np.round(values / divisor, 6) if divisor else np.array(values, dtype=np.float64)

    def chunks_ns(self, name: str) -> Iterator[np.ndarray]:
        """A field of stamps-built measurements in ns, a chunk at a time (nothing for a null field)."""
        field = self._columns[name][0]
        if field is not None:
            for start in range(0, self._len, CHUNK_ROWS):
                yield field(start, min(start + CHUNK_ROWS, self._len))

    def mean_ns(self, name: str) -> float:
        """Mean of a field's available rows in ns, summed a chunk at a time: no full-length temporary column."""
        field = self._columns[name][0]
        total, count = 0.0, 0
        for start in range(0, self._len, CHUNK_ROWS):
            part = field(start, min(start + CHUNK_ROWS, self._len))
            if part.dtype.kind == "f":  # NaN marks an unavailable row
                part = part[~np.isnan(part)]
            total += float(part.sum(dtype=np.float64))
            count += len(part)
        return total / count

    def values(self, name: str, start: int, stop: int) -> list[Any]:
        """One field of rows ``start:stop`` in its output unit (ms rounded to the ns), or ``None`` each."""
        field, divisor = self._columns[name]
        if field is None:
            return [None] * (stop - start)
        part = field(start, stop)
        if not divisor:
            return part.tolist()
        scaled = np.round(part / divisor, 6)
        if scaled.dtype.kind == "f" and np.isnan(scaled).any():
            return [None if v != v else v for v in scaled.tolist()]  # NaN != NaN: an unavailable row
        return scaled.tolist()

    def rows(self, start: int, stop: int) -> list[dict[str, Any]]:
        names = list(self._columns)
        return [dict(zip(names, row)) for row in zip(*(self.values(n, start, stop) for n in names))]

    def iter_json(self, level: int) -> Iterator[str]:
        """The list's JSON text, indented as ``json.dump(indent=2)`` would at nesting ``level``."""
        if not self._len:
            yield "[]"
            return
        pad, field_pad = INDENT * (level + 1), INDENT * (level + 2)
        row = f"{pad}{{\n" + ",\n".join(f'{field_pad}"{n}": %s' for n in self._columns) + f"\n{pad}}}"
        yield "[\n"
        for start in range(0, self._len, CHUNK_ROWS):
            stop = min(start + CHUNK_ROWS, self._len)
            texts = [_json_texts(self.values(n, start, stop)) for n in self._columns]
            yield ",\n".join(row % cells for cells in zip(*texts))
            yield ",\n" if stop < self._len else f"\n{INDENT * level}]"


def _column_of(rows: Sequence[Mapping[str, Any]], name: str) -> tuple[Field | None, None]:
    """One field of read-back rows as a column: ints stay ints, a field null in every row stays null."""
    values = [row[name] for row in rows]
    if rows and all(v is None for v in values):
        return None, None
    kind = np.int64 if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values) else object
    column = np.array(values, dtype=kind)
    return (lambda a, b: column[a:b]), None


def _json_texts(values: list[Any]) -> list[str] | Iterator[str]:
    """JSON literals for one column's chunk: repr is what the json module writes for ints and finite floats."""
    if None in values:
        return ["null" if v is None else repr(v) for v in values]
    return map(repr, values)
