"""The validate stage's frame in memory that hardly grows with the run: no Python object per row.

A run of 100,000 datasets held as a frame of Python strings (identifiers, URIs, titles) cost
~0.7 kB a row once the allocator's fragmentation was counted (the reader's 20 kB records are freed
between long-lived small strings), which put the validation process above its 300 MB budget. Here:

* uri, identifier and native_id — what the uniqueness and not-null expectations read — are given
  to GX as 64-bit keys (``Int64``, BLAKE2b of the value; null stays null), so GX still decides
  uniqueness and nullness over the whole run; their texts are kept packed in one ``bytearray`` per
  column, to turn GX's examples (keys, row numbers) back into the values and native ids people read;
* title, description and licence_uri become shared one-letter stand-ins
  (:func:`compact_row`), and the warning columns' texts are shared per run,
  so those columns hold pointers only.

Two different values with the same 64-bit key would read as a duplicate: at 100,000 rows the
chance is ~3e-10 a run.
"""

from __future__ import annotations

import math
import re
from array import array
from hashlib import blake2b
from typing import TYPE_CHECKING, Any

from expectations.row_checks import CHECK_COLUMNS
from expectations.suites import SUITE_COLUMNS

if TYPE_CHECKING:  # pragma: no cover
    import pandas

KEYED = ("uri", "identifier", "native_id")
_NON_SPACE = re.compile(r"\S")  # what title_not_empty searches for (its regex)


def compact_row(fr: dict[str, Any], shared: dict[Any, Any]) -> dict[str, Any]:
    """An :func:`expectations.suites.frame_row` reduced, in place, to what its expectations read.

    title, description and licence_uri are only asked "is it there" (and, for the title, "does it
    have a non-space character"), with rows, not values, as examples: a present value becomes a
    one-letter stand-in that gives GX the same answers. Repeated warning texts share one string
    through ``shared`` (one dict per run). The keyed columns are left to :class:`LeanFrame`.
    """
    title = fr["title"]
    if isinstance(title, str):
        fr["title"] = "t" if _NON_SPACE.search(title) else ""
    for c, stand_in in (("description", "d"), ("licence_uri", "l")):
        if isinstance(fr[c], str):
            fr[c] = stand_in
    for c in CHECK_COLUMNS:
        v = fr[c]
        if v is not None:
            fr[c] = shared.setdefault(v, v)
    return fr


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def value_key(value: Any) -> int:
    """A signed 64-bit key of a non-null value; a string and a non-string never share one."""
    data = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else b"\0" + repr(value).encode()
    return int.from_bytes(blake2b(data, digest_size=8).digest(), "little", signed=True)


class LeanFrame:
    """Rows go in one by one (:meth:`add`); :meth:`frame` builds the suite's frame once at the end."""

    def __init__(self) -> None:
        self._objects: dict[str, list[Any]] = {c: [] for c in SUITE_COLUMNS if c not in KEYED}
        self._keys = {c: array("q") for c in KEYED}
        self._nulls = {c: bytearray() for c in KEYED}
        self._text = {c: bytearray() for c in KEYED}
        self._ends = {c: array("q") for c in KEYED}
        self._odd: dict[str, dict[int, Any]] = {c: {} for c in KEYED}  # row -> a value that is not a string
        self._shared: dict[Any, Any] = {}
        self.rows = 0

    def add(self, fr: dict[str, Any]) -> None:
        """One :func:`expectations.suites.frame_row` (changed in place by :func:`compact_row`)."""
        compact_row(fr, self._shared)
        for c, values in self._objects.items():
            values.append(fr[c])
        for c in KEYED:
            v = fr[c]
            null = _is_null(v)
            self._keys[c].append(0 if null else value_key(v))
            self._nulls[c].append(null)
            if isinstance(v, str):
                self._text[c] += v.encode("utf-8", "surrogatepass")
            elif not null:
                self._odd[c][self.rows] = v
            self._ends[c].append(len(self._text[c]))
        self.rows += 1

    def frame(self) -> "pandas.DataFrame":
        """The suite's frame (SUITE_COLUMNS, rows 0..n-1); the object columns' lists are handed over."""
        import numpy as np
        import pandas as pd

        names = list(self._objects)
        block = np.empty((len(names), self.rows), dtype=object)
        for i, c in enumerate(names):
            block[i, :] = self._objects[c]
            self._objects[c] = []
        df = pd.DataFrame(block.T, columns=names, dtype=object, copy=False)  # no inference, no copy
        for c in KEYED:
            keys = np.frombuffer(self._keys[c], dtype=np.int64)
            nulls = np.frombuffer(self._nulls[c], dtype=np.bool_)
            df.insert(SUITE_COLUMNS.index(c), c, pd.arrays.IntegerArray(keys, nulls))
        return df

    # ------------------------------------------------------------------ back to values

    def value(self, column: str, row: int) -> Any:
        """The original value of a keyed column in one row."""
        if self._nulls[column][row]:
            return None
        if row in self._odd[column]:
            return self._odd[column][row]
        ends = self._ends[column]
        start = ends[row - 1] if row else 0
        return bytes(self._text[column][start:ends[row]]).decode("utf-8", "surrogatepass")

    def native_id(self, row: int) -> Any:
        return self.value("native_id", row)

    def original(self, column: str, example: Any) -> Any:
        """A value GX reports for ``column`` as people know it: a key back to its text."""
        if column not in KEYED or example is None:
            return example
        import numpy as np

        keys = np.frombuffer(self._keys[column], dtype=np.int64)
        nulls = np.frombuffer(self._nulls[column], dtype=np.bool_)
        rows = np.flatnonzero((keys == int(example)) & ~nulls)
        return self.value(column, int(rows[0])) if len(rows) else example
