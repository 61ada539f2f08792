"""Quality results in the inventory: per-dataset measurements per run, link checks, run aggregates.

Quality is a product here ("how good is each institution's offer, and is it getting better?"), so
every run's measurement of every dataset is kept (``dataset_quality``), not only the latest; the
history queries aggregate them per run in SQL, so a source with 100,000 datasets and a year of
nightly runs is answered without loading the rows into Python.

Same conventions as :mod:`inventory.store`: SQLAlchemy Core on ``inventory.engine``, writes in
``inventory._write()`` transactions, the same answers on SQLite and PostgreSQL, no clock reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from inventory.models import dataset_quality, harvest_runs, link_checks

DIMENSIONS = ("findability", "accessibility", "interoperability", "reusability", "contextuality")
BANDS = ("Excellent", "Good", "Sufficient", "Bad")
_BATCH = 1000  # rows per INSERT; also keeps IN lists far below SQLite's variable limit
_QUALITY_COLS = tuple(c.name for c in dataset_quality.columns if c.name != "id")
_KEY = ("run_id", "source_id", "native_id")


class QualityStoreError(ValueError):
    """A quality row the inventory cannot take; the message names the row and the field."""


def _insert(inventory):
    return (postgresql.insert if inventory.backend == "postgresql" else sqlite.insert)


_COL_SET = frozenset(_QUALITY_COLS)


def _check_row(row: Mapping[str, Any]) -> dict[str, Any]:
    unknown = row.keys() - _COL_SET
    if unknown or any(row.get(k) in (None, "") for k in (*_KEY, "measured_at")):
        where = f"run {row.get('run_id')!r} dataset {row.get('source_id')!r}/{row.get('native_id')!r}"
        if unknown:
            raise QualityStoreError(f"dataset_quality row for {where}: unknown column(s) {sorted(unknown)}; "
                                    f"the columns are {', '.join(_QUALITY_COLS)}")
        for k in (*_KEY, "measured_at"):
            if row.get(k) in (None, ""):
                raise QualityStoreError(f"dataset_quality row for {where}: {k} is required")
    at = row["measured_at"]
    if not isinstance(at, datetime) or at.tzinfo is None:
        where = f"run {row.get('run_id')!r} dataset {row.get('source_id')!r}/{row.get('native_id')!r}"
        raise QualityStoreError(f"dataset_quality row for {where}: measured_at must be a timezone-aware "
                                f"datetime, got {at!r}")
    return {c: row.get(c) for c in _QUALITY_COLS}


def save_dataset_quality(inventory, rows: Iterable[Mapping[str, Any]]) -> int:
    """Store per-dataset measurements; a row for an existing (run, source, dataset) replaces it.

    So re-running a run's quality stage (an Airflow retry) leaves one row per dataset, not two.
    Rows go in batches of 1,000 inside one transaction: a failing batch leaves nothing half-written.
    On SQLite the batch goes to the driver's ``executemany`` as tuples, each value converted by its
    column's own type once (the run's ``measured_at`` once per run, not per row): SQLAlchemy's
    per-row parameter handling was most of the cost of storing 100,000 rows.
    """
    ins = _insert(inventory)(dataset_quality)
    stmt = ins.on_conflict_do_update(index_elements=list(_KEY),
                                     set_={c: ins.excluded[c] for c in _QUALITY_COLS if c not in _KEY})
    n = 0
    with inventory._write() as conn:
        flush = _SqliteUpsert(conn, stmt) if inventory.backend == "sqlite" else (lambda b: _flush(conn, stmt, b))
        batch: list[dict[str, Any]] = []
        for row in rows:
            batch.append(_check_row(row))
            if len(batch) >= _BATCH:
                n += flush(batch)
                batch = []
        if batch:
            n += flush(batch)
    return n


def _flush(conn: Connection, stmt, batch: list[dict[str, Any]]) -> int:
    # the same key twice in one statement is an error on PostgreSQL ("cannot affect row a second time")
    dedup = {tuple(r[k] for k in _KEY): r for r in batch}
    conn.execute(stmt, list(dedup.values()))
    return len(dedup)


class _SqliteUpsert:
    """The upsert compiled once for SQLite and run as a plain ``executemany`` of tuples."""

    def __init__(self, conn: Connection, stmt) -> None:
        compiled = stmt.compile(dialect=conn.dialect, column_keys=list(_QUALITY_COLS))
        self.conn, self.sql = conn, str(compiled)
        order = compiled.positiontup  # the ``?`` order
        if order is None or sorted(order) != sorted(_QUALITY_COLS):
            raise RuntimeError(f"unexpected dataset_quality upsert parameters: {order}")
        self.order = tuple(order)
        self.procs = {c: dataset_quality.c[c].type._cached_bind_processor(conn.dialect) for c in order}
        self._at: tuple[Any, Any] = (None, None)  # (measured_at, its stored form)

    def _value(self, col: str, value: Any) -> Any:
        if col == "measured_at":
            if self._at[0] is not value:
                proc = self.procs[col]
                self._at = (value, proc(value) if proc else value)
            return self._at[1]
        proc = self.procs[col]
        return proc(value) if proc else value

    def __call__(self, batch: list[dict[str, Any]]) -> int:
        dedup = {tuple(r[k] for k in _KEY): r for r in batch}
        value, order = self._value, self.order
        self.conn.exec_driver_sql(self.sql, [tuple(value(c, r[c]) for c in order) for r in dedup.values()])
        return len(dedup)


def delete_run_quality(inventory, run_id: str) -> int:
    """Forget a run's per-dataset rows (before re-measuring a run whose datasets changed)."""
    with inventory._write() as conn:
        return conn.execute(dataset_quality.delete().where(dataset_quality.c.run_id == run_id)).rowcount


def dataset_quality_rows(inventory, run_id: str) -> list[dict[str, Any]]:
    """One run's rows, ordered by (source_id, native_id)."""
    stmt = (select(*[dataset_quality.c[c] for c in _QUALITY_COLS]).where(dataset_quality.c.run_id == run_id)
            .order_by(dataset_quality.c.source_id, dataset_quality.c.native_id))
    with inventory.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


# What a published measurement shows; a re-measurement with the same values is "the same result".
RESULT_COLS = ("mqa_total", *(f"mqa_{d}" for d in DIMENSIONS), "stars", "shacl_conforms")


def latest_dataset_quality(inventory, *, source_id: str | None = None, with_indicators: bool = True,
                           first_measured: bool = False) -> Iterator[dict[str, Any]]:
    """The latest measurement of each dataset (newest ``measured_at``, then newest row), ordered by
    (source_id, native_id) in byte order on both backends, like ``Inventory.iter_datasets``, so the
    two streams merge. ``with_indicators=False`` skips the per-indicator JSON (the feed needs totals).

    ``first_measured=True`` adds ``first_measured_at``: since when the dataset has been measured with
    exactly these results (RESULT_COLS), i.e. the first measurement after the last change. The feed
    publishes that, so a nightly re-measurement that finds the same score leaves the published
    document, and the incremental feed, unchanged.
    """
    q = dataset_quality
    cols = [c for c in _QUALITY_COLS if with_indicators or c not in ("mqa_indicators", "findings")]
    rank = func.row_number().over(partition_by=(q.c.source_id, q.c.native_id),
                                  order_by=(q.c.measured_at.desc(), q.c.id.desc())).label("rank")
    inner = select(*[q.c[c] for c in cols], rank)
    if source_id is not None:
        inner = inner.where(q.c.source_id == source_id)
    sub = inner.subquery()
    order = [sub.c.source_id, sub.c.native_id]
    if inventory.backend == "postgresql":
        order = [c.collate("C") for c in order]
    latest = select(*[sub.c[c] for c in cols]).where(sub.c.rank == 1)
    if first_measured:
        f = _first_measured(source_id)
        latest = (select(*[sub.c[c] for c in cols], f.c.first_measured_at)
                  .join_from(sub, f, and_(sub.c.source_id == f.c.source_id, sub.c.native_id == f.c.native_id))
                  .where(sub.c.rank == 1))
    stmt = latest.order_by(*order)
    with inventory.engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=_BATCH).execute(stmt)
        for r in result:
            yield dict(r._mapping)


def _first_measured(source_id: str | None):
    """Per dataset, when its latest run of identical results began: the time of the last measurement
    whose results differ from the one before it (window ``lag``; NULL-safe comparison), else the first."""
    q = dataset_quality
    part = dict(partition_by=(q.c.source_id, q.c.native_id), order_by=(q.c.measured_at, q.c.id))
    changed = or_(*[q.c[k].is_distinct_from(func.lag(q.c[k]).over(**part)) for k in RESULT_COLS])
    steps = select(q.c.source_id, q.c.native_id, q.c.measured_at,
                   case((changed, 1), else_=0).label("changed"))
    if source_id is not None:
        steps = steps.where(q.c.source_id == source_id)
    st = steps.subquery()
    start = func.coalesce(func.max(case((st.c.changed == 1, st.c.measured_at))), func.min(st.c.measured_at),
                          type_=q.c.measured_at.type)
    return (select(st.c.source_id, st.c.native_id, start.label("first_measured_at"))
            .group_by(st.c.source_id, st.c.native_id).subquery())


# --------------------------------------------------------------------------- history


def quality_history(inventory, *, source_ids: list[str]) -> list[dict[str, Any]]:
    """One row per run of the given sources that measured anything, oldest first.

    Each row: run_id, source_id, started_at, status, datasets, mean_total, mean_<dimension>,
    band counts (``band_excellent``...), shacl_validated, shacl_conforming, shacl_conforming_share,
    and the stars distribution (``stars_0``..``stars_5``, ``stars_unknown``).
    """
    if not source_ids:
        return []
    q = dataset_quality
    cols = [q.c.run_id, q.c.source_id, func.count().label("datasets"),
            func.avg(q.c.mqa_total).label("mean_total"),
            *[func.avg(q.c[f"mqa_{d}"]).label(f"mean_{d}") for d in DIMENSIONS],
            *[func.sum(case((q.c.mqa_band == b, 1), else_=0)).label(f"band_{b.lower()}") for b in BANDS],
            func.count(q.c.shacl_conforms).label("shacl_validated"),
            func.sum(case((q.c.shacl_conforms.is_(True), 1), else_=0)).label("shacl_conforming"),
            *[func.sum(case((q.c.stars == k, 1), else_=0)).label(f"stars_{k}") for k in range(6)],
            func.sum(case((q.c.stars.is_(None), 1), else_=0)).label("stars_unknown"),
            func.min(q.c.measured_at).label("measured_at")]
    stmt = select(*cols).where(q.c.source_id.in_(source_ids)).group_by(q.c.run_id, q.c.source_id)
    with inventory.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(stmt)]
        runs = {r.run_id: r for r in conn.execute(
            select(harvest_runs.c.run_id, harvest_runs.c.started_at, harvest_runs.c.status)
            .where(harvest_runs.c.run_id.in_([r["run_id"] for r in rows] or [""])))}
    out = []
    for r in rows:
        run = runs.get(r["run_id"])
        measured = r.pop("measured_at")  # min() keeps the column's type, so this is an aware datetime
        row = {"run_id": r["run_id"], "source_id": r["source_id"],
               "started_at": run.started_at if run else measured, "status": run.status if run else None,
               "datasets": int(r["datasets"]),
               "mean_total": _round(r["mean_total"]),
               **{f"mean_{d}": _round(r[f"mean_{d}"]) for d in DIMENSIONS},
               **{f"band_{b.lower()}": int(r[f"band_{b.lower()}"] or 0) for b in BANDS},
               "shacl_validated": int(r["shacl_validated"] or 0),
               "shacl_conforming": int(r["shacl_conforming"] or 0)}
        row["shacl_conforming_share"] = (round(row["shacl_conforming"] / row["shacl_validated"], 4)
                                         if row["shacl_validated"] else None)
        row.update({f"stars_{k}": int(r[f"stars_{k}"] or 0) for k in range(6)})
        row["stars_unknown"] = int(r["stars_unknown"] or 0)
        out.append(row)
    out.sort(key=lambda x: (x["started_at"], x["source_id"], x["run_id"]))
    return out


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)


def save_run_quality(inventory, run_id: str, quality: Mapping[str, Any]) -> None:
    """Store a run's quality aggregates (MQA means, bands, SHACL share...) on its harvest_runs row."""
    with inventory._write() as conn:
        done = conn.execute(update(harvest_runs).where(harvest_runs.c.run_id == run_id).values(quality=dict(quality)))
        if done.rowcount == 0:
            raise QualityStoreError(f"no harvest run {run_id!r} in the inventory to attach quality results to; "
                                    "start the run first")


def run_quality(inventory, run_id: str) -> dict[str, Any] | None:
    with inventory.engine.connect() as conn:
        return conn.execute(select(harvest_runs.c.quality).where(harvest_runs.c.run_id == run_id)).scalar()


# --------------------------------------------------------------------------- link checks


def link_status(inventory, urls: Iterable[str], *, since: datetime | None = None) -> dict[str, bool | None]:
    """url -> ok of its last check (None: never checked, checked before ``since``, or undecided)."""
    wanted = list(dict.fromkeys(u for u in urls if u))
    out: dict[str, bool | None] = {u: None for u in wanted}
    for row in link_rows(inventory, wanted, since=since):
        out[row["url"]] = row["ok"]
    return out


def link_rows(inventory, urls: Iterable[str], *, since: datetime | None = None) -> list[dict[str, Any]]:
    """The stored checks of ``urls`` (those checked at or after ``since``, when given)."""
    lc = link_checks
    wanted = list(dict.fromkeys(u for u in urls if u))
    out: list[dict[str, Any]] = []
    with inventory.engine.connect() as conn:
        for i in range(0, len(wanted), _BATCH):
            cond = [lc.c.url.in_(wanted[i:i + _BATCH])]
            if since is not None:
                cond.append(lc.c.checked_at >= since)
            stmt = select(lc.c.url, lc.c.status, lc.c.ok, lc.c.method, lc.c.error, lc.c.seconds,
                          lc.c.checked_at).where(and_(*cond))
            out.extend(dict(r._mapping) for r in conn.execute(stmt))
    return out


_LINK_COLS = ("url", "status", "ok", "method", "error", "seconds", "checked_at")


def save_link_checks(inventory, results: Iterable[Any]) -> int:
    """Store link check results (``LinkResult`` objects or dicts), one row per URL: the last check wins."""
    ins = _insert(inventory)(link_checks)
    stmt = ins.on_conflict_do_update(index_elements=["url"], set_={c: ins.excluded[c] for c in _LINK_COLS
                                                                    if c != "url"})
    rows: dict[str, dict[str, Any]] = {}
    for r in results:
        d = r if isinstance(r, Mapping) else r.as_dict()
        row = {c: d.get(c) for c in _LINK_COLS}
        if not row["url"] or row["checked_at"] is None:
            raise QualityStoreError(f"link check {row['url']!r}: url and checked_at are required")
        if row["method"] is not None:
            row["method"] = str(row["method"])[:8]
        rows[row["url"]] = row
    with inventory._write() as conn:
        values = list(rows.values())
        for i in range(0, len(values), _BATCH):
            conn.execute(stmt, values[i:i + _BATCH])
    return len(rows)


__all__ = ["QualityStoreError", "dataset_quality_rows", "delete_run_quality", "latest_dataset_quality",
           "link_rows", "link_status", "quality_history", "run_quality", "save_dataset_quality",
           "save_link_checks", "save_run_quality"]
