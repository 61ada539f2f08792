"""Stored SHACL outcomes, keyed by (graph content hash, shapes version).

pyshacl costs tens of milliseconds per dataset, and a nightly run of an unchanged catalogue would
re-validate the same graphs every night. A dataset's canonical N-Triples hash fixes its graph, and
the shapes version fixes the rules, so an outcome stored under both keys stays true: the quality
pass validates only the hashes this table does not know. Rows are shared by every source and run
(two sources that publish the same graph share one outcome) and are never updated, only added.

Rows keyed ``sk:<skeleton hash>`` hold the outcome of a graph *skeleton* (expectations.shacl_skeleton):
what every graph of that structure gets, with message templates the quality pass fills per dataset.
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


def count_results(inventory, shapes_version: str | None = None, *, skeletons: bool = False) -> int:
    """Stored outcomes of graphs (``skeletons=True``: of skeletons)."""
    from sqlalchemy import func

    like = shacl_results.c.content_hash.like(SKELETON_PREFIX + "%")
    stmt = select(func.count()).select_from(shacl_results).where(like if skeletons else ~like)
    if shapes_version is not None:
        stmt = stmt.where(shacl_results.c.shapes_version == shapes_version)
    with inventory.engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


# Skeleton outcomes (expectations.shacl_skeleton) share the table: their key is the skeleton hash with
# this prefix, and their ``messages`` hold every finding as a template, not the first ten texts.
SKELETON_PREFIX = "sk:"


def get_skeleton_results(inventory, keys: Iterable[str], shapes_version: str) -> dict[str, dict[str, Any]]:
    """skeleton key -> stored outcome, for the stored ones."""
    found = get_results(inventory, [SKELETON_PREFIX + k for k in keys], shapes_version)
    return {k[len(SKELETON_PREFIX):]: v for k, v in found.items()}


def put_skeleton_results(inventory, results: Mapping[str, Mapping[str, Any]], shapes_version: str, *,
                         validated_at: datetime) -> int:
    return put_results(inventory, {SKELETON_PREFIX + k: v for k, v in results.items()}, shapes_version,
                       validated_at=validated_at)
