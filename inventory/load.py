"""Loading one run's normalised records into the inventory, inside the caller's transaction.

Why it is shaped like this:

* The source's ``native_id -> (id, hash, status, version)`` map is read once, so each
  record is classified in memory (created / updated / unchanged / reactivated / withdrawn)
  and only changes touch the database: an unchanged nightly run issues no writes at all.
* Writes are batched ``executemany`` statements (Core, not ORM): per-row round trips are
  what makes naive loaders crawl at a few hundred records per second.
* The caller owns the transaction (``Inventory.load``): an exception anywhere, in the
  record iterator included, rolls the whole run back.
* A native id seen twice in one run keeps its first occurrence; the rest are reported.
  "Last one wins" would make a re-run of the same file flip the dataset back and forth.
* Change history (issue 7): each created/updated/withdrawn/restored dataset gets a
  ``dataset_changes`` row in the same transaction; an update is diffed field by field
  (inventory.changes) against the stored state, read once per batch of changed datasets only,
  so unchanged runs still write nothing.
* Each graph is compressed once (``CompressedText``'s own code, ~130 µs for an 18 kB graph: the
  largest cost of a first load) on two threads while the caller's iterator reads the next
  records (zlib releases the GIL), and bound as bytes; ``dataset_versions`` rows and
  created/withdrawn change rows are copied by ``INSERT ... SELECT`` from the rows just written,
  so no graph or row JSON is bound twice, and no ``RETURNING`` (row-at-a-time on SQLite) is needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (JSON, Connection, DateTime, Integer, LargeBinary, String, Text, TypeDecorator, bindparam,
                        delete, insert, literal, null, select, update)

from inventory.changes import diff_versions
from inventory.models import (CompressedText, UTCDateTime, dataset_changes, dataset_versions, datasets,
                              quarantined_withdrawals)

LOAD_MODES = ("full", "incremental", "replay")
MAX_ERRORS = 10_000  # errors kept in a LoadResult; the count of rejected records stays exact
_ACTIVE, _WITHDRAWN = "active", "withdrawn"
_COMPRESS_CHUNK = 64  # graphs per compression job (a job per graph would cost more than it saves)


class RecordError(ValueError):
    """A normalised record the loader cannot take; names source, record and field."""

    def __init__(self, source_id: str, native_id: str | None, field: str, reason: str) -> None:
        self.source_id, self.native_id, self.field, self.reason = source_id, native_id, field, reason
        super().__init__(f"[source={source_id}, record={native_id}, field={field}] {reason}")

    def as_error(self) -> dict[str, Any]:
        return {"native_id": self.native_id, "field": self.field, "reason": self.reason, "stage": "load"}


@dataclass
class LoadResult:
    """What one load did. ``errors`` are per-record problems (same shape as run_errors)."""

    seen: int = 0  # distinct native ids taken from the run (datasets and tombstones)
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0  # tombstones applied plus datasets missing from a full harvest
    reactivated: int = 0
    quarantined: int = 0  # withdrawals held back by the volume guard
    tombstones: int = 0
    duplicates: int = 0
    rejected: int = 0
    quarantine_reason: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    changes_by_field: dict[str, int] = field(default_factory=dict)  # datasets per changed field (issue 7)

    @property
    def changes(self) -> int:
        return self.created + self.updated + self.withdrawn + self.reactivated

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def counts(self) -> dict[str, int]:
        """Only the integer counts: what ``finish_run(counts=...)`` stores."""
        return {k: v for k, v in asdict(self).items() if isinstance(v, int)}

    def _error(self, err: dict[str, Any]) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(err)


def parse_time(value: Any, *, source_id: str, native_id: str, field_name: str) -> datetime | None:
    """A record timestamp as aware UTC; sources often omit the zone, which means UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise RecordError(source_id, native_id, field_name, f"not an ISO 8601 timestamp: {value[:80]!r}") from None
    else:
        raise RecordError(source_id, native_id, field_name, f"expected an ISO 8601 string, got {type(value).__name__}")
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def check_record(rec: Any, source_id: str) -> tuple[str, bool]:
    """Refuse records the loader would store wrongly; returns (native_id, deleted)."""
    if not isinstance(rec, Mapping):
        raise RecordError(source_id, None, "(record)", f"expected a JSON object, got {type(rec).__name__}")
    nid = rec.get("native_id")
    if not isinstance(nid, str) or not nid.strip():
        raise RecordError(source_id, None if nid is None else str(nid), "native_id", "missing or not a non-empty string")
    if rec.get("deleted"):
        return nid, True
    for name, typ in (("uri", str), ("hash", str), ("nt", str), ("row", dict)):
        value = rec.get(name)
        if not isinstance(value, typ) or (typ is str and not value):
            raise RecordError(source_id, nid, name, f"missing or not a {'non-empty string' if typ is str else 'JSON object'} "
                                                    "(only tombstones, deleted: true, may omit it)")
    return nid, False


class _DbTime(TypeDecorator):
    """A timestamp already in the database's form (``UTCDateTime``'s output, computed once per load):
    the run's time is the same for every row, and converting it per row cost ~10 µs a row on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def bind_processor(self, dialect: Any) -> None:
        return None


class _Loader:
    """One load's state: the preloaded map, the pending batches and the counts."""

    def __init__(self, conn: Connection, *, source_id: str, run_id: str, loaded_at: datetime, batch: int) -> None:
        self.conn, self.source_id, self.run_id, self.loaded_at, self.batch = conn, source_id, run_id, loaded_at, batch
        self.result = LoadResult()
        self.known: dict[str, tuple[int, str | None, str, int]] = {}
        self.new: list[dict[str, Any]] = []
        self.changed: list[dict[str, Any]] = []
        self.bumped: list[int] = []  # dataset ids of ``changed`` whose version steps up
        self.withdrawals: list[dict[str, Any]] = []
        # change history. Parallel to ``changed``: (native id, change, version, new graph text)
        self.changed_meta: list[tuple[str, str, int, str]] = []
        self.change_rows: list[dict[str, Any]] = []
        self.record_changes = True
        self.seen_ids: set[str] = set()
        self.present = 0
        # graph compression: (param dict, key) waiting for bytes, and the jobs under way
        self._pool: ThreadPoolExecutor | None = None
        self._to_compress: list[tuple[dict[str, Any], str, str]] = []
        self._jobs: list[tuple[list[tuple[dict[str, Any], str, str]], Future]] = []
        self._compress = datasets.c.nt.type.process_bind_param  # the stored form, as CompressedText makes it
        at = datasets.c.first_seen.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        self._at = at(loaded_at) if at else loaded_at  # loaded_at as the database stores it
        self._insert = insert(datasets).values(nt=bindparam("nt_z", type_=LargeBinary),
                                               first_seen=bindparam("at", type_=_DbTime()),
                                               last_changed=bindparam("at", type_=_DbTime()))
        self._update = (
            update(datasets).where(datasets.c.id == bindparam("b_id", type_=Integer)).values(
                uri=bindparam("b_uri", type_=String), status=_ACTIVE,
                content_hash=bindparam("b_hash", type_=String), nt=bindparam("b_nt_z", type_=LargeBinary),
                row=bindparam("b_row", type_=JSON), source_modified=bindparam("b_modified", type_=UTCDateTime),
                last_changed=loaded_at, withdrawn_at=None, withdrawn_reason=None,
                version=bindparam("b_version", type_=Integer), last_run_id=run_id))
        self._withdraw = (
            update(datasets).where(datasets.c.id == bindparam("b_id", type_=Integer)).values(
                status=_WITHDRAWN, withdrawn_at=loaded_at, last_changed=loaded_at,
                withdrawn_reason=bindparam("b_reason", type_=Text), last_run_id=run_id))

    def preload(self) -> int:
        rows = self.conn.execute(select(datasets.c.native_id, datasets.c.id, datasets.c.content_hash,
                                        datasets.c.status, datasets.c.version)
                                 .where(datasets.c.source_id == self.source_id)).all()
        self.known = {nid: (id_, h, st, v) for nid, id_, h, st, v in rows}
        return sum(1 for v in self.known.values() if v[2] == _ACTIVE)

    def take(self, rec: Any) -> None:
        res = self.result
        try:
            nid, deleted = check_record(rec, self.source_id)
            modified = None if deleted else parse_time(rec.get("source_modified"), source_id=self.source_id,
                                                       native_id=nid, field_name="source_modified")
        except RecordError as err:
            res.rejected += 1
            res._error(err.as_error())
            return
        if nid in self.seen_ids:
            res.duplicates += 1
            res._error({"native_id": nid, "field": "native_id", "stage": "load",
                        "reason": "native id repeated in the run; the first occurrence was loaded"})
            return
        self.seen_ids.add(nid)
        res.seen += 1
        entry = self.known.get(nid)
        if deleted:
            res.tombstones += 1
            if entry is not None and entry[2] == _ACTIVE:
                self.withdrawals.append({"b_id": entry[0], "b_reason": "deleted at source"})
                res.withdrawn += 1
            self._maybe_flush()
            return
        self.present += 1
        h = rec["hash"]
        if entry is None:
            res.created += 1
            params = {"source_id": self.source_id, "native_id": nid, "uri": rec["uri"], "status": _ACTIVE,
                      "content_hash": h, "row": rec["row"], "source_modified": modified,
                      "at": self._at, "version": 1,
                      "last_run_id": self.run_id}
            self.new.append(params)
            self._compress_later(params, "nt_z", rec["nt"])
        elif entry[2] == _ACTIVE and entry[1] == h:
            res.unchanged += 1
            return
        else:
            if entry[2] == _ACTIVE:
                res.updated += 1
            else:
                res.reactivated += 1
            version = entry[3] + 1 if entry[1] != h else entry[3]
            params = {"b_id": entry[0], "b_uri": rec["uri"], "b_hash": h, "b_row": rec["row"],
                      "b_modified": modified, "b_version": version}
            self.changed.append(params)
            self._compress_later(params, "b_nt_z", rec["nt"])
            self.changed_meta.append((nid, "updated" if entry[2] == _ACTIVE else "restored", version, rec["nt"]))
            if version != entry[3]:
                self.bumped.append(entry[0])
        self._maybe_flush()

    # ------------------------------------------------------------------ graph compression

    def _compress_later(self, params: dict[str, Any], key: str, nt: str) -> None:
        self._to_compress.append((params, key, nt))
        if len(self._to_compress) >= _COMPRESS_CHUNK:
            self._submit()

    def _submit(self) -> None:
        if not self._to_compress:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="citycat-load-zlib")
        items, self._to_compress = self._to_compress, []
        compress = self._compress
        self._jobs.append((items, self._pool.submit(lambda: [compress(nt, None) for _, _, nt in items])))

    def _compressed(self) -> None:
        """Wait for every graph handed out so far and put its bytes into its parameters."""
        self._submit()
        for items, job in self._jobs:
            for (params, key, _), data in zip(items, job.result(), strict=True):
                params[key] = data
        self._jobs.clear()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    # ------------------------------------------------------------------ writes

    def _maybe_flush(self) -> None:
        if max(len(self.new), len(self.changed), len(self.withdrawals)) >= self.batch:
            self.flush()

    def flush(self) -> None:
        conn = self.conn
        if self.new or self.changed:
            self._compressed()
        if self.new:
            conn.execute(self._insert, self.new)
            natives = [r["native_id"] for r in self.new]
            where = (datasets.c.source_id == self.source_id, datasets.c.native_id.in_(natives))
            self._versions_from_table(where)
            if self.record_changes:
                self._changes_from_table(where, "created")
            self.new.clear()
        if self.changed:
            if self.record_changes:
                self._record_changes()
            conn.execute(self._update, self.changed)
            self.changed.clear()
            self.changed_meta.clear()
        if self.bumped:
            self._versions_from_table((datasets.c.id.in_(self.bumped),))
            self.bumped.clear()
        if self.withdrawals:
            conn.execute(self._withdraw, self.withdrawals)
            if self.record_changes:
                self._changes_from_table((datasets.c.id.in_([w["b_id"] for w in self.withdrawals]),), "withdrawn")
            self.withdrawals.clear()
        if self.change_rows and self.record_changes:
            conn.execute(insert(dataset_changes), self.change_rows)
        self.change_rows.clear()

    def _versions_from_table(self, where: tuple) -> None:
        """The current state of the given datasets as their new version rows, copied by the database:
        the compressed graph and the row JSON are not bound a second time."""
        d = datasets
        rows = select(d.c.id, d.c.version, d.c.content_hash, d.c.uri, d.c.nt, d.c.row, literal(self.run_id, String),
                      literal(self.loaded_at, UTCDateTime)).where(*where).order_by(d.c.id)
        self.conn.execute(insert(dataset_versions).from_select(
            ["dataset_id", "version", "content_hash", "uri", "nt", "row", "run_id", "valid_from"], rows))

    def _changes_from_table(self, where: tuple, change: str) -> None:
        """created/withdrawn rows (no field list) written by one INSERT ... SELECT per batch.

        Building them as Python rows cost a fifth of a first load's time (per-row bind processing);
        the database copies ids, native ids and versions itself.
        """
        d = datasets
        rows = select(d.c.id, d.c.source_id, d.c.native_id, literal(self.run_id, String), d.c.version,
                      literal(change, String), literal(self.loaded_at, UTCDateTime), null()
                      ).where(*where).order_by(d.c.id)
        self.conn.execute(insert(dataset_changes).from_select(
            ["dataset_id", "source_id", "native_id", "run_id", "version", "change", "changed_at", "fields"], rows))

    def _change_row(self, dataset_id: int, nid: str, change: str, version: int,
                    fields: list[dict[str, Any]] | None) -> dict[str, Any]:
        return {"dataset_id": dataset_id, "source_id": self.source_id, "native_id": nid, "run_id": self.run_id,
                "version": version, "change": change, "changed_at": self.loaded_at, "fields": fields}

    def _record_changes(self) -> None:
        """Diff each changed dataset against its stored state (read in one query per batch) before it is overwritten."""
        ids = [c["b_id"] for c in self.changed]
        old = {i: {"uri": u, "row": r, "nt": nt} for i, u, r, nt in self.conn.execute(
            select(datasets.c.id, datasets.c.uri, datasets.c.row, datasets.c.nt).where(datasets.c.id.in_(ids)))}
        by_field = self.result.changes_by_field
        for c, (nid, change, version, nt) in zip(self.changed, self.changed_meta, strict=True):
            before = old.get(c["b_id"])
            fields = diff_versions(before, {"uri": c["b_uri"], "row": c["b_row"], "nt": nt}) \
                if before is not None and before.get("nt") is not None else None
            for name in {f["field"] for f in fields or ()}:
                by_field[name] = by_field.get(name, 0) + 1
            self.change_rows.append(self._change_row(c["b_id"], nid, change, version, fields))

    def finish_full(self, active_before: int, max_drop: float) -> None:
        """Withdraw what a complete listing no longer has, unless the listing looks broken."""
        missing = [nid for nid, e in self.known.items() if e[2] == _ACTIVE and nid not in self.seen_ids]
        if not missing:
            return
        res = self.result
        floor = (1.0 - max_drop) * active_before
        if self.present == 0:
            res.quarantine_reason = (f"full harvest {self.run_id} saw 0 records while source {self.source_id} had "
                                     f"{active_before} active datasets; {len(missing)} withdrawals quarantined")
        elif self.present < floor:
            res.quarantine_reason = (f"full harvest {self.run_id} saw {self.present} records, fewer than "
                                     f"(1 - max_drop {max_drop:g}) x {active_before} active = {floor:g}; "
                                     f"{len(missing)} withdrawals quarantined")
        if res.quarantine_reason:
            res.quarantined = len(missing)
            rows = [{"run_id": self.run_id, "source_id": self.source_id, "native_id": nid} for nid in missing]
            for i in range(0, len(rows), self.batch):
                self.conn.execute(insert(quarantined_withdrawals), rows[i:i + self.batch])
            return
        reason = f"missing from full harvest {self.run_id}"
        for nid in missing:
            self.withdrawals.append({"b_id": self.known[nid][0], "b_reason": reason})
            res.withdrawn += 1
            self._maybe_flush()


def load_records(conn: Connection, *, source_id: str, run_id: str, records: Iterable[dict], mode: str,
                 complete_listing: bool, loaded_at: datetime, max_drop: float = 0.5,
                 batch: int = 1000, record_changes: bool = True) -> LoadResult:
    """Apply one run's records to the inventory through ``conn`` (already in a transaction).

    ``record_changes=False`` skips the change history (dataset_changes); only the benchmark uses it,
    to measure what the history costs.
    """
    if mode not in LOAD_MODES:
        raise ValueError(f"[source={source_id}, run={run_id}] unknown load mode {mode!r}; expected one of {LOAD_MODES}")
    if not 0.0 <= max_drop <= 1.0:
        raise ValueError(f"[source={source_id}, run={run_id}] max_drop must be between 0 and 1, got {max_drop!r}")
    if loaded_at.tzinfo is None:
        raise ValueError(f"[source={source_id}, run={run_id}] loaded_at must be timezone-aware")
    loader = _Loader(conn, source_id=source_id, run_id=run_id, loaded_at=loaded_at, batch=batch)
    loader.record_changes = record_changes
    # A retried run replaces, not adds to, what it quarantined last time.
    conn.execute(delete(quarantined_withdrawals).where(quarantined_withdrawals.c.run_id == run_id))
    try:
        active_before = loader.preload()
        for rec in records:
            loader.take(rec)
        if mode == "full" and complete_listing:
            loader.finish_full(active_before, max_drop)
        loader.flush()
    finally:
        loader.close()
    loader.result.changes_by_field = dict(sorted(loader.result.changes_by_field.items(),
                                                 key=lambda kv: (-kv[1], kv[0])))
    return loader.result
