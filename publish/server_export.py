"""CSV and JSON exports of the flat inventory, streamed.

Columns are the flat row's (docs/flat-row.md, ``transforms.row.FLAT_COLUMNS``) in that
order. CSV is for spreadsheets: list columns are joined with ``"; "``, booleans are
``true``/``false``, nulls are empty cells, and a cell starting with ``=``, ``+``, ``-``,
``@`` (or a tab/CR) gets a leading apostrophe, because harvested titles are untrusted and
a spreadsheet would otherwise run them as formulas (CSV injection). JSON is an array of
the rows exactly as stored.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from transforms.row import FLAT_COLUMNS

COLUMNS: tuple[str, ...] = tuple(FLAT_COLUMNS)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        value = "; ".join(str(v) for v in value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_lines(rows: Iterable[dict[str, Any]], *, chunk: int = 200) -> Iterator[bytes]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    n = 0
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in COLUMNS])
        n += 1
        if n % chunk == 0:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode("utf-8")


def json_array(rows: Iterable[dict[str, Any]], *, chunk: int = 200) -> Iterator[bytes]:
    parts = ["["]
    first = True
    for row in rows:
        parts.append(("" if first else ",\n") + json.dumps({c: row.get(c) for c in COLUMNS}, ensure_ascii=False))
        first = False
        if len(parts) >= chunk:
            yield "".join(parts).encode("utf-8")
            parts = []
    parts.append("]\n")
    yield "".join(parts).encode("utf-8")
