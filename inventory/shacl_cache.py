"""Stored SHACL outcomes, keyed by (graph content hash, shapes version).

pyshacl costs tens of milliseconds per dataset, and a nightly run of an unchanged catalogue would
re-validate the same graphs every night. A dataset's canonical N-Triples hash fixes its graph, and
the shapes version fixes the rules, so an outcome stored under both keys stays true: the quality
pass validates only the hashes this table does not know. Rows are shared by every source and run
(two sources that publish the same graph share one outcome) and are never updated, only added.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from inventory.models import shacl_results

_CHUNK = 500  # hashes per IN list: far below SQLite's variable limit
COLUMNS = ("conforms", "violations", "warnings", "by_shape", "messages")


def get_results(inventory, hashes: Iterable[str], shapes_version: str) -> dict[str, dict[str, Any]]:
    """content_hash -> {conforms, violations, warnings, by_shape, messages} for the stored ones."""
    wanted = list(dict.fromkeys(h for h in hashes if h))
    t = shacl_results
    out: dict[str, dict[str, Any]] = {}
    with inventory.engine.connect() as conn:
        for i in range(0, len(wanted), _CHUNK):
            stmt = (select(t.c.content_hash, *[t.c[c] for c in COLUMNS])
                    .where(t.c.shapes_version == shapes_version, t.c.content_hash.in_(wanted[i:i + _CHUNK])))
            for row in conn.execute(stmt):
                m = dict(row._mapping)
                out[m.pop("content_hash")] = m
    return out


def put_results(inventory, results: Mapping[str, Mapping[str, Any]], shapes_version: str, *,
                validated_at: datetime) -> int:
    """Store outcomes by content hash; one already stored (a parallel run got there first) is kept."""
    if validated_at.tzinfo is None:
        raise ValueError(f"validated_at must be timezone-aware, got {validated_at!r}")
    rows = [{"content_hash": h, "shapes_version": shapes_version, "validated_at": validated_at,
             **{c: r.get(c) for c in COLUMNS}} for h, r in results.items()]
    if not rows:
        return 0
    insert = (postgresql.insert if inventory.backend == "postgresql" else sqlite.insert)(shacl_results)
    stmt = insert.on_conflict_do_nothing(index_elements=["content_hash", "shapes_version"])
    with inventory._write() as conn:
        for i in range(0, len(rows), _CHUNK):
            conn.execute(stmt, rows[i:i + _CHUNK])
    return len(rows)


def count_results(inventory, shapes_version: str | None = None) -> int:
    from sqlalchemy import func

    stmt = select(func.count()).select_from(shacl_results)
    if shapes_version is not None:
        stmt = stmt.where(shacl_results.c.shapes_version == shapes_version)
    with inventory.engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())
