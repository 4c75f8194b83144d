"""A result's per-sample ``measurements``, kept as columns and written to JSON in chunks.

One dict per sample cost the parent about 700 bytes a sample at its peak (a
million samples: ~800 MB RSS, perf/memory.py). Here each field stays one
numpy column in ns and becomes ms (or Unix seconds) only a chunk at a time,
while the file is written or when a caller indexes a row. Rows read or written
are exactly the seed's objects: same keys, order, types and units, and the
text ``json.dump(indent=2)`` would write for the equivalent list of dicts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

#: Rows converted per step while writing: bounds the transient text and lists (~5 MB).
CHUNK_ROWS = 16384
INDENT = "  "

#: Divisor from the stored unit to the output unit, per kind of column.
_MS, _SECONDS = 1e6, 1e9


class Measurements(Sequence):
    """Read-only sequence of row dicts over columns ``{name: (ns array | None, divisor | None)}``.

    A ``None`` array means the field is ``null`` in every row (one-way values
    of a legacy agent); a ``None`` divisor means an integer column written as is.
    """

    def __init__(self, columns: dict[str, tuple[np.ndarray | None, float | None]], length: int) -> None:
        self._columns = columns
        self._len = length

    @classmethod
    def from_ns(
        cls,
        *,
        rtt: np.ndarray,
        c2s: np.ndarray | None,
        s2c: np.ndarray | None,
        message_number: np.ndarray,
        t1_wall: np.ndarray,
        processing: np.ndarray,
        network: np.ndarray,
        send_lag: np.ndarray,
    ) -> Measurements:
        """The seed's fields in its order (then additions), from ns columns; ms rounded to the ns."""
        return cls(
            {
                "round_trip_time": (rtt, _MS),
                "client_to_server": (c2s, _MS),
                "server_to_client": (s2c, _MS),
                "message_number": (message_number, None),
                "timestamp": (t1_wall, _SECONDS),
                "server_processing": (processing, _MS),
                "network_rtt": (network, _MS),
                "send_lag": (send_lag, _MS),
            },
            len(rtt),
        )

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
        values, divisor = self._columns[name]
        if values is None:
            return np.full(self._len, np.nan)
        return np.round(values / divisor, 6) if divisor else values.astype(np.float64)

    def _values(self, name: str, start: int, stop: int) -> list[Any]:
        values, divisor = self._columns[name]
        if values is None:
            return [None] * (stop - start)
        part = values[start:stop]
        return (np.round(part / divisor, 6) if divisor else part).tolist()

    def rows(self, start: int, stop: int) -> list[dict[str, Any]]:
        names = list(self._columns)
        return [dict(zip(names, row)) for row in zip(*(self._values(n, start, stop) for n in names))]

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
            texts = [_json_texts(self._values(n, start, stop)) for n in self._columns]
            yield ",\n".join(row % cells for cells in zip(*texts))
            yield ",\n" if stop < self._len else f"\n{INDENT * level}]"


def _json_texts(values: list[Any]) -> list[str] | Iterator[str]:
    """JSON literals for one column's chunk: repr is what the json module writes for ints and finite floats."""
    if values and values[0] is None:
        return ["null"] * len(values)
    return map(repr, values)
