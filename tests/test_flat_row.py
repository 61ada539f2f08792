"""docs/flat-row.md and transforms.row.FLAT_COLUMNS must agree, and a mapped row must match them."""

from __future__ import annotations

import json
import re
from pathlib import Path

from transforms.base import Institution, SourceContext
from transforms.ckan import map_package
from transforms.row import FLAT_COLUMNS, empty_row

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data" / "ckan_mapping"
_PY = {"str": str, "int": int, "bool": bool, "list[str]": list}


def _doc_table() -> dict[str, tuple[str, str]]:
    out = {}
    for line in (ROOT / "docs" / "flat-row.md").read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\| `([^`]+)` \| `([^`]+)` \| (.*) \|$", line)
        if m:
            out[m[1]] = (m[2].replace("\\|", "|"), m[3].strip())
    return out


def test_doc_table_equals_flat_columns_in_order():
    doc = _doc_table()
    assert list(doc) == list(FLAT_COLUMNS)
    assert doc == FLAT_COLUMNS


def test_empty_row_has_every_column():
    assert set(empty_row()) == set(FLAT_COLUMNS)


def _check_types(row: dict) -> None:
    assert set(row) == set(FLAT_COLUMNS)
    for name, (typ, _) in FLAT_COLUMNS.items():
        value = row[name]
        nullable = typ.endswith("|null")
        base = typ.removesuffix("|null")
        if value is None:
            assert nullable, f"{name} is null but typed {typ}"
            continue
        assert isinstance(value, _PY[base]), f"{name}={value!r} is not {typ}"
        if base == "list[str]":
            assert all(isinstance(v, str) for v in value), name
    json.dumps(row)  # JSON types only


def test_mapped_rows_have_exactly_the_documented_columns_and_types():
    ctx = SourceContext("dgu", "data.gov.uk", "https://data.gov.uk", Institution("Test Council", "council"),
                        "https://data.example.org/citycat")
    for name in ("dgu_package_show_inspire.json", "ckan22_package_show_no_resources.json"):
        pkg = json.loads((DATA / name).read_text(encoding="utf-8"))["result"]
        _check_types(map_package(pkg, ctx).row)
