"""What the static feed reads from the inventory, and nothing more.

``Inventory.iter_datasets`` decodes everything a dataset row holds: inflating every stored graph
(~40 us each) and building a dataclass per row, on every publish, though an incremental publish
re-serialises only the datasets whose change key moved. :class:`FeedSource` instead

* streams the active datasets' ids, URIs, content hashes and dates in feed order, with the
  graph left compressed (``nt_zlib``, inflated by the feed worker that needs it) or left out
  altogether (``lean``: the writer fetches the graphs it needs by row id, :meth:`fetch`);
* reads everything in one read transaction on one connection, so the graphs fetched later
  belong to the same snapshot as the hashes streamed first (SQLite: one deferred transaction;
  PostgreSQL: REPEATABLE READ);
* gives each dataset's latest quality measurement (:meth:`latest_quality`) from one ordered scan
  of the quality columns the feed publishes, folded in Python, instead of the two window
  functions of ``inventory.quality.latest_dataset_quality`` (which also sorts every row twice).

Rows are ordered by (source_id, native_id) in byte order on both backends, like
``Inventory.iter_datasets``, so the streams merge (``publish.feed_dqv.join_quality``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, LargeBinary, String, select, type_coerce

from inventory.models import dataset_quality, datasets

# what a published measurement shows (inventory.quality.RESULT_COLS; publish.feed_dqv.RESULTS)
RESULT_COLS = ("mqa_total", "mqa_findability", "mqa_accessibility", "mqa_interoperability", "mqa_reusability",
               "mqa_contextuality", "stars", "shacl_conforms")
_FETCH_BATCH = 500  # ids per IN list: far below SQLite's variable limit


class FeedSourceError(RuntimeError):
    """The inventory could not be read for the feed; names what was being read."""


def _utc(value: Any) -> datetime | None:
    """A timestamp as the driver gives it (SQLite: naive text in UTC; PostgreSQL: aware) -> aware UTC."""
    if isinstance(value, str):
        return _utc_text(value)
    if value is None or isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(timezone.utc) if value is not None else None
    return value.replace(tzinfo=timezone.utc)


@lru_cache(maxsize=4096)
def _utc_text(value: str) -> datetime:
    """Cached: a run's rows share its measured_at, so a publish parses a few distinct texts."""
    return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)


class FeedSource:
    """One read transaction on the inventory for one publish (a context manager)."""

    def __init__(self, inventory: Any) -> None:
        self.inventory = inventory
        self.backend = inventory.backend
        self.conn: Connection | None = None

    def __enter__(self) -> FeedSource:
        conn = self.inventory.engine.connect()
        if self.backend == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        conn.begin()
        self.conn = conn
        return self

    def __exit__(self, *exc: object) -> None:
        if self.conn is not None:
            self.conn.rollback()  # read only
            self.conn.close()
            self.conn = None

    def _order(self, *cols: Any) -> list[Any]:
        return [c.collate("C") for c in cols] if self.backend == "postgresql" else list(cols)

    def count(self) -> int:
        from sqlalchemy import func

        return int(self.conn.execute(select(func.count()).select_from(datasets)
                                     .where(datasets.c.status == "active")).scalar_one())

    def datasets(self, *, lean: bool, batch: int = 1000) -> Iterator[Any]:
        """The active datasets as lazy ``publish.feed_model.FeedDataset`` (``ref`` = the row id).

        ``lean``: without their graphs (an incremental publish fetches the few it needs);
        otherwise with each graph as stored, zlib-compressed. A row without a content hash (none
        since the loader writes one; kept for old rows) comes with its graph inflated, since its
        change key is the hash of the graph."""
        from publish.feed_model import FeedDataset

        d = datasets
        cols = [d.c.id, d.c.source_id, d.c.native_id, d.c.uri, d.c.content_hash, d.c.first_seen, d.c.last_changed]
        if not lean:
            cols.append(type_coerce(d.c.nt, LargeBinary).label("nt_zlib"))
        stmt = select(*cols).where(d.c.status == "active").order_by(*self._order(d.c.source_id, d.c.native_id))
        result = self.conn.execution_options(stream_results=True, yield_per=batch).execute(stmt)
        for row in result:
            rid, sid, nid, uri, h, first, last = row[:7]
            blob = None if lean else row[7]
            if h is None:
                import zlib

                blob = blob if blob is not None else self.fetch([rid]).get(rid)
                nt = zlib.decompress(blob).decode("utf-8") if blob is not None else None
                yield FeedDataset(sid, nid, uri, nt, first, last)
            else:
                yield FeedDataset(sid, nid, uri, None, first, last, content_hash=h,
                                  nt_zlib=bytes(blob) if blob is not None else None, ref=rid)

    def fetch(self, ids: list[int]) -> dict[int, bytes]:
        """Row id -> the stored (zlib-compressed) graph, for the ids asked; the writer's ``fetch``."""
        out: dict[int, bytes] = {}
        nt = type_coerce(datasets.c.nt, LargeBinary)
        for i in range(0, len(ids), _FETCH_BATCH):
            part = ids[i:i + _FETCH_BATCH]
            for rid, blob in self.conn.execute(select(datasets.c.id, nt).where(datasets.c.id.in_(part))):
                if blob is not None:
                    out[rid] = bytes(blob)
        return out

    def latest_quality(self) -> Iterator[dict[str, Any]]:
        """Each measured dataset's latest measurement (newest ``measured_at``, then newest row) with
        ``first_measured_at``: when its current run of identical results (RESULT_COLS) began, as
        ``inventory.quality.latest_dataset_quality(first_measured=True)`` gives it.

        One scan ordered by (source_id, native_id, measured_at, id) — on SQLite the
        (source_id, native_id) index gives the order and only each dataset's few rows are sorted —
        with timestamps left as the driver returns them and converted once per dataset."""
        q = dataset_quality
        at = type_coerce(q.c.measured_at, String) if self.backend == "sqlite" else q.c.measured_at
        stmt = (select(q.c.source_id, q.c.native_id, at, *[q.c[c] for c in RESULT_COLS])
                .order_by(*self._order(q.c.source_id, q.c.native_id), q.c.measured_at, q.c.id))
        result = self.conn.execution_options(stream_results=True, yield_per=5000).execute(stmt)
        key = results = first = last = None
        for row in result:
            k, r = (row[0], row[1]), tuple(row[3:])
            if k != key:
                if key is not None:
                    yield _quality(key, results, first, last)
                key, results, first = k, r, row[2]
            elif r != results:
                results, first = r, row[2]
            last = row[2]
        if key is not None:
            yield _quality(key, results, first, last)


def _quality(key: tuple[str, str], results: tuple, first: Any, last: Any) -> dict[str, Any]:
    out = dict(zip(RESULT_COLS, results))
    if out["shacl_conforms"] is not None:
        out["shacl_conforms"] = bool(out["shacl_conforms"])
    out.update(source_id=key[0], native_id=key[1], measured_at=_utc(last), first_measured_at=_utc(first))
    return out


__all__ = ["FeedSource", "FeedSourceError", "RESULT_COLS"]
