"""The inventory: one object the pipeline, the DAGs and the publisher open by URL.

SQLite is the default (one file under the data directory); PostgreSQL is production.
Both get the same schema (Alembic), the same loader and the same answers, ordering
included. No method reads the clock: every timestamp comes from the caller, so an Airflow
task re-run for the same interval writes the same values.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, delete, event, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from inventory.load import LoadResult, load_records
from inventory.models import RUN_STATUSES, dataset_versions, datasets, harvest_runs, quarantined_withdrawals, run_errors

_MIGRATE_LOCK = 0x63697479  # pg advisory lock key for migrations ("city")


class InventoryError(Exception):
    """Base of the inventory's own errors."""


class UnknownRunError(InventoryError, KeyError):
    def __init__(self, run_id: str) -> None:
        super().__init__(f"no harvest run {run_id!r} in the inventory; call start_run first")


class RunConflictError(InventoryError, ValueError):
    pass


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    source_id: str
    mode: str
    status: str
    window_start: datetime | None
    window_end: datetime | None
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, int] | None
    gate: dict | None
    stats: dict | None
    data_docs: str | None = None  # the run's GX Data Docs index (issue 4)


@dataclass(frozen=True)
class DatasetInfo:
    source_id: str
    native_id: str
    uri: str | None
    status: str
    content_hash: str | None
    nt: str | None
    row: dict | None
    source_modified: datetime | None
    first_seen: datetime
    last_changed: datetime
    withdrawn_at: datetime | None
    withdrawn_reason: str | None
    version: int
    last_run_id: str | None


@dataclass(frozen=True)
class VersionInfo:
    version: int
    content_hash: str
    uri: str | None
    nt: str | None
    row: dict | None
    run_id: str
    valid_from: datetime


def _aware(value: datetime | None, name: str) -> None:
    if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")


def alembic_config(connection: Connection | None = None):
    """An Alembic config built in code: the package ships its migrations, not an ini file."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("inventory") / "migrations"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


class Inventory:
    """The central store of datasets, their versions and the runs that loaded them."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = make_url(url)
        self.backend = self.url.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo}
        if self.backend == "sqlite":
            kwargs["connect_args"] = {"timeout": 30}
        else:  # long-lived workers outlive server restarts and idle timeouts
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.backend == "sqlite":
            _sqlite_setup(self.engine)

    @classmethod
    def from_env(cls, data_dir: Path) -> "Inventory":
        url = os.environ.get("CITYCAT_DATABASE_URL") or f"sqlite:///{Path(data_dir).resolve() / 'inventory.sqlite'}"
        return cls(url)

    def __repr__(self) -> str:
        return f"Inventory({self.url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Inventory":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction that holds the write lock from its first statement.

        SQLite: ``BEGIN IMMEDIATE``, so two loaders queue instead of failing on lock upgrade.
        """
        with self.engine.connect() as conn:
            if self.backend == "sqlite":
                conn.execution_options(sqlite_begin="BEGIN IMMEDIATE")
            with conn.begin():
                yield conn

    # ------------------------------------------------------------------ schema

    def migrate(self) -> None:
        """Bring the schema to the newest revision; safe to call on every task start."""
        from alembic import command

        if self.backend == "sqlite" and self.url.database and self.url.database != ":memory:":
            Path(self.url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        with self._write() as conn:
            if self.backend == "postgresql":  # parallel Airflow tasks may all migrate at once
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATE_LOCK})
            command.upgrade(alembic_config(conn), "head")

    def schema_revision(self) -> str | None:
        from alembic.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    # ------------------------------------------------------------------ runs

    def start_run(self, *, source_id: str, run_id: str, mode: str, window_start: datetime | None,
                  window_end: datetime | None, started_at: datetime) -> None:
        """Record a run as running; starting the same run id again (a retry) resets it."""
        for name, value in (("window_start", window_start), ("window_end", window_end), ("started_at", started_at)):
            _aware(value, name)
        values = {"source_id": source_id, "mode": mode, "window_start": window_start, "window_end": window_end,
                  "started_at": started_at, "finished_at": None, "status": "running", "counts": None,
                  "gate": None, "stats": None}
        dialect_insert = postgresql.insert if self.backend == "postgresql" else sqlite.insert
        with self._write() as conn:
            other = conn.execute(select(harvest_runs.c.source_id).where(harvest_runs.c.run_id == run_id)).scalar()
            if other is not None and other != source_id:
                raise RunConflictError(f"run id {run_id!r} already belongs to source {other!r}, not {source_id!r}")
            stmt = dialect_insert(harvest_runs).values(run_id=run_id, **values)
            conn.execute(stmt.on_conflict_do_update(index_elements=["run_id"], set_=values))
            conn.execute(delete(run_errors).where(run_errors.c.run_id == run_id))
            conn.execute(delete(quarantined_withdrawals).where(quarantined_withdrawals.c.run_id == run_id))

    def finish_run(self, run_id: str, *, status: str, finished_at: datetime, counts: dict[str, int] | None = None,
                   gate: dict | None = None, errors: list[dict] | None = None, stats: dict | None = None,
                   data_docs: str | None = None) -> None:
        """Close a run. Given ``errors`` replace the run's errors (so repeating it is harmless).

        ``data_docs`` is the path of the run's GX Data Docs index (issue 4).
        """
        if status not in RUN_STATUSES:
            raise ValueError(f"run {run_id}: status must be one of {RUN_STATUSES}, got {status!r}")
        _aware(finished_at, "finished_at")
        values: dict[str, Any] = {"status": status, "finished_at": finished_at}
        for name, value in (("counts", counts), ("gate", gate), ("stats", stats), ("data_docs", data_docs)):
            if value is not None:
                values[name] = value
        with self._write() as conn:
            done = conn.execute(update(harvest_runs).where(harvest_runs.c.run_id == run_id).values(**values))
            if done.rowcount == 0:
                raise UnknownRunError(run_id)
            if errors is not None:
                conn.execute(delete(run_errors).where(run_errors.c.run_id == run_id))
                _insert_errors(conn, run_id, errors)

    def add_errors(self, run_id: str, errors: Iterable[dict]) -> int:
        """Append errors of one stage to a run (normalise and validate report theirs as they go)."""
        with self._write() as conn:
            return _insert_errors(conn, run_id, errors)

    def run_errors(self, run_id: str) -> list[dict[str, Any]]:
        cols = (run_errors.c.native_id, run_errors.c.field, run_errors.c.reason, run_errors.c.stage)
        with self.engine.connect() as conn:
            rows = conn.execute(select(*cols).where(run_errors.c.run_id == run_id).order_by(run_errors.c.id))
            return [dict(r._mapping) for r in rows]

    def get_run(self, run_id: str) -> RunInfo | None:
        with self.engine.connect() as conn:
            row = conn.execute(_run_select().where(harvest_runs.c.run_id == run_id)).first()
        return RunInfo(**row._mapping) if row else None

    def last_successful_run(self, source_id: str) -> RunInfo | None:
        stmt = (_run_select().where(harvest_runs.c.source_id == source_id, harvest_runs.c.status == "success")
                .order_by(harvest_runs.c.finished_at.desc(), harvest_runs.c.id.desc()).limit(1))
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return RunInfo(**row._mapping) if row else None

    def quarantined(self, run_id: str) -> list[str]:
        """Native ids whose withdrawal the run held back, sorted."""
        q = quarantined_withdrawals
        with self.engine.connect() as conn:
            return list(conn.execute(select(q.c.native_id).where(q.c.run_id == run_id).order_by(q.c.native_id))
                        .scalars())

    # ------------------------------------------------------------------ load

    def load(self, *, source_id: str, run_id: str, records: Iterable[dict], mode: str, complete_listing: bool,
             loaded_at: datetime, max_drop: float = 0.5) -> LoadResult:
        """Apply one run's normalised records in a single transaction (see inventory.load)."""
        with self._write() as conn:
            if self.backend == "postgresql":  # one loader per source at a time
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": f"citycat-load:{source_id}"})
            return load_records(conn, source_id=source_id, run_id=run_id, records=records, mode=mode,
                                complete_listing=complete_listing, loaded_at=loaded_at, max_drop=max_drop)

    # ------------------------------------------------------------------ read

    def active_count(self, source_id: str) -> int:
        return self.count_datasets(status="active", source_id=source_id)

    def count_datasets(self, *, status: str | None = "active", source_id: str | None = None,
                       modified_since: datetime | None = None) -> int:
        stmt = select(func.count()).select_from(datasets).where(*_filters(status, source_id, modified_since))
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def iter_datasets(self, *, status: str | None = "active", source_id: str | None = None,
                      modified_since: datetime | None = None, batch: int = 1000,
                      with_row: bool = True) -> Iterator[DatasetInfo]:
        """Stream datasets ordered by (source_id, native_id) in byte order on both backends.

        One read transaction for the whole walk, so a load committing meanwhile is either
        wholly visible or not at all; PostgreSQL streams through a server-side cursor.
        ``with_row=False`` leaves ``row`` as None: the feed needs only the graph, and decoding
        100,000 rows of JSON it would throw away cost ~3 s of every publish.
        """
        order = [datasets.c.source_id, datasets.c.native_id]
        if self.backend == "postgresql":
            order = [c.collate("C") for c in order]
        fields = [f for f in DatasetInfo.__dataclass_fields__ if with_row or f != "row"]
        stmt = select(*[datasets.c[f] for f in fields]).where(
            *_filters(status, source_id, modified_since)).order_by(*order)
        with self.engine.connect() as conn:
            opts: dict[str, Any] = {"stream_results": True, "yield_per": batch}
            if self.backend == "postgresql":
                opts["isolation_level"] = "REPEATABLE READ"
            result = conn.execution_options(**opts).execute(stmt)
            for row in result:
                yield DatasetInfo(**row._mapping) if with_row else DatasetInfo(row=None, **row._mapping)

    def get_dataset(self, source_id: str, native_id: str) -> DatasetInfo | None:
        stmt = select(*[datasets.c[f] for f in DatasetInfo.__dataclass_fields__]).where(
            datasets.c.source_id == source_id, datasets.c.native_id == native_id)
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return DatasetInfo(**row._mapping) if row else None

    def versions(self, source_id: str, native_id: str) -> list[VersionInfo]:
        v = dataset_versions
        stmt = (select(*[v.c[f] for f in VersionInfo.__dataclass_fields__]).join(datasets, datasets.c.id == v.c.dataset_id)
                .where(datasets.c.source_id == source_id, datasets.c.native_id == native_id).order_by(v.c.version))
        with self.engine.connect() as conn:
            return [VersionInfo(**r._mapping) for r in conn.execute(stmt)]

    def sources_summary(self) -> list[dict[str, Any]]:
        """Per source: active and withdrawn counts, the last run and the last success."""
        out: dict[str, dict[str, Any]] = {}

        def entry(sid: str) -> dict[str, Any]:
            return out.setdefault(sid, {"source_id": sid, "active": 0, "withdrawn": 0, "runs": 0,
                                        "last_run_id": None, "last_run_status": None, "last_run_started_at": None,
                                        "last_run_finished_at": None, "last_success_at": None})

        with self.engine.connect() as conn:
            counts = conn.execute(select(datasets.c.source_id, datasets.c.status, func.count())
                                  .group_by(datasets.c.source_id, datasets.c.status))
            for sid, status, n in counts:
                entry(sid)[status] = int(n)
            runs = conn.execute(select(harvest_runs.c.source_id, harvest_runs.c.run_id, harvest_runs.c.status,
                                       harvest_runs.c.started_at, harvest_runs.c.finished_at)
                                .order_by(harvest_runs.c.started_at, harvest_runs.c.id))
            for sid, rid, status, started, finished in runs:
                e = entry(sid)
                e["runs"] += 1
                e.update(last_run_id=rid, last_run_status=status, last_run_started_at=started,
                         last_run_finished_at=finished)
                if status == "success" and finished is not None:
                    e["last_success_at"] = max(filter(None, (e["last_success_at"], finished)))
        return [out[k] for k in sorted(out)]


def _run_select():
    return select(*[harvest_runs.c[f] for f in RunInfo.__dataclass_fields__])


def _filters(status: str | None, source_id: str | None, modified_since: datetime | None) -> list:
    _aware(modified_since, "modified_since")
    where = []
    if status is not None:
        where.append(datasets.c.status == status)
    if source_id is not None:
        where.append(datasets.c.source_id == source_id)
    if modified_since is not None:
        where.append(datasets.c.last_changed >= modified_since)
    return where


def _insert_errors(conn: Connection, run_id: str, errors: Iterable[dict]) -> int:
    rows = [{"run_id": run_id, "native_id": e.get("native_id"), "field": e.get("field"),
             "reason": str(e.get("reason") or "(no reason given)"), "stage": e.get("stage")} for e in errors]
    if rows:
        conn.execute(insert(run_errors), rows)
    return len(rows)


def _sqlite_setup(engine: Engine) -> None:
    """Pragmas on every connection, and transactions that begin when we say so.

    Python's sqlite3 starts transactions lazily at the first write, so the loader's preload
    read would run outside the transaction that writes; taking over BEGIN fixes that and
    lets writers ask for BEGIN IMMEDIATE.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # noqa: ANN001
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "temp_store=MEMORY"):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(conn.get_execution_options().get("sqlite_begin", "BEGIN"))
