"""Read-only queries the feed service (publish/server*.py) runs against the inventory.

Kept apart from :mod:`inventory.store` (the loader's API) because the service asks different
questions: a cheap fingerprint of the whole inventory (for ETags and cache keys), the page
boundaries of a filtered view (keyset paging: a page is ``id >= start ORDER BY id LIMIT n``,
never ``OFFSET``, so page 1,000 costs what page 1 costs), and streams of flat rows and
tombstones. Nothing here writes.

Pages are ordered by ``datasets.id`` (the primary key, insertion order): unlike
``(source_id, native_id)`` it needs no collation care on PostgreSQL and its index is the table.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, exists, func, not_, select
from sqlalchemy.exc import SQLAlchemyError

from inventory.models import dataset_changes, dataset_clusters, dataset_versions, datasets


@dataclass(frozen=True)
class InventoryState:
    """A fingerprint of everything the published views depend on, from index lookups only.

    Any load that creates, changes, withdraws or restores a dataset moves at least one of
    these: a new row moves ``max_id``; a content change appends a version
    (``max_version_id``); every change, withdrawal and restore appends a row to issue 7's
    ``dataset_changes`` (``max_change_id``) and sets ``last_changed`` to the run's time.
    Duplicate clustering is covered by its row count and newest ``computed_at``. Each part
    is a primary-key or index lookup, so the whole costs about a millisecond at 100,000
    datasets; counting datasets by status (an index scan) cost 50-90 ms there, and a scan of
    ``datasets`` itself (which reads the compressed graphs) ~0.5 s.
    """

    max_id: int
    max_version_id: int
    max_change_id: int
    last_changed: datetime | None
    clusters: int
    clusters_at: datetime | None

    @property
    def token(self) -> str:
        return "|".join(str(v) for v in (self.max_id, self.max_version_id, self.max_change_id,
                                          self.last_changed and self.last_changed.isoformat(),
                                          self.clusters, self.clusters_at and self.clusters_at.isoformat()))

    @property
    def modified(self) -> datetime | None:
        """When the published content last changed (for ``Last-Modified``)."""
        times = [t for t in (self.last_changed, self.clusters_at) if t is not None]
        return max(times) if times else None


def inventory_state(engine: Engine) -> InventoryState:
    d = datasets
    with engine.connect() as conn:
        # one aggregate per statement: SQLite's min/max optimisation (an index probe) only
        # applies to a statement with a single min() or max()
        max_id = conn.execute(select(func.coalesce(func.max(d.c.id), 0))).scalar_one()
        last = conn.execute(select(func.max(d.c.last_changed))).scalar_one()
        max_version = conn.execute(select(func.coalesce(func.max(dataset_versions.c.id), 0))).scalar_one()
        try:
            max_change = conn.execute(select(func.coalesce(func.max(dataset_changes.c.id), 0))).scalar_one()
            clusters = conn.execute(select(func.count()).select_from(dataset_clusters)).scalar_one()
            clusters_at = conn.execute(select(func.max(dataset_clusters.c.computed_at))).scalar_one() \
                if clusters else None
        except SQLAlchemyError:  # an inventory migrated before 0003: no changes or clusters yet
            conn.rollback()
            max_change, clusters, clusters_at = 0, 0, None
    # max() over a TypeDecorator column keeps the decorator on both backends, so these are aware UTC
    return InventoryState(int(max_id), int(max_version), int(max_change), last, int(clusters), clusters_at)


def status_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {k: int(v) for k, v in conn.execute(select(datasets.c.status, func.count())
                                                   .group_by(datasets.c.status))}


@dataclass(frozen=True)
class ViewFilter:
    """Which active datasets a feed view shows. ``sources`` None = all sources."""

    sources: tuple[str, ...] | None = None
    modified_since: datetime | None = None
    primary: bool = False

    def where(self) -> list[Any]:
        where: list[Any] = [datasets.c.status == "active"]
        if self.sources is not None:
            where.append(datasets.c.source_id.in_(self.sources))
        if self.modified_since is not None:
            where.append(datasets.c.last_changed >= self.modified_since)
        if self.primary:
            dc = dataset_clusters
            where.append(not_(exists().where(and_(dc.c.dataset_id == datasets.c.id, dc.c.is_primary.is_(False)))))
        return where


@dataclass(frozen=True)
class SourceStat:
    source_id: str
    datasets: int
    last_changed: datetime | None


@dataclass(frozen=True)
class ViewSummary:
    """A filtered view's size, page boundaries (the first id of each page) and per-source stats."""

    total: int
    page_size: int
    starts: tuple[int, ...]
    sources: tuple[SourceStat, ...]

    @property
    def pages(self) -> int:
        return max(1, len(self.starts))

    @property
    def modified(self) -> datetime | None:
        times = [s.last_changed for s in self.sources if s.last_changed is not None]
        return max(times) if times else None


def view_summary(engine: Engine, view: ViewFilter, page_size: int) -> ViewSummary:
    """Page boundaries by a window query (only every ``page_size``-th id leaves the database),
    per-source counts from the (source_id, status) index, and each source's newest
    ``last_changed`` by walking the last_changed index backwards (see :func:`_newest`)."""
    where = view.where()
    numbered = select(datasets.c.id, func.row_number().over(order_by=datasets.c.id).label("rn")).where(
        *where).subquery()
    with engine.connect() as conn:
        starts = tuple(conn.execute(select(numbered.c.id).where((numbered.c.rn - 1) % page_size == 0)
                                    .order_by(numbered.c.id)).scalars())
        counts = conn.execute(select(datasets.c.source_id, func.count()).where(*where)
                              .group_by(datasets.c.source_id).order_by(datasets.c.source_id)).all()
        sources = tuple(SourceStat(sid, int(n), _newest(conn, view, sid)) for sid, n in counts)
    return ViewSummary(sum(s.datasets for s in sources), page_size, starts, sources)


def _newest(conn: Any, view: ViewFilter, source_id: str) -> datetime | None:
    """The newest ``last_changed`` of one source's datasets in the view.

    ``column || ''`` keeps the planner off the (source_id, status) index, so it walks
    ``ix_datasets_last_changed`` from the newest end and stops at the first row of the
    source: a few row reads instead of reading every row of the source (on SQLite those
    reads go through the compressed graphs' overflow pages: ~0.5 s per 100,000 rows)."""
    d = datasets
    where = [(d.c.source_id + "") == source_id, (d.c.status + "") == "active"]
    where += ViewFilter(sources=None, modified_since=view.modified_since, primary=view.primary).where()[1:]
    return conn.execute(select(d.c.last_changed).where(*where).order_by(d.c.last_changed.desc()).limit(1)).scalar()


PAGE_COLUMNS = ("id", "source_id", "native_id", "uri", "nt", "content_hash", "first_seen", "last_changed")


def page_rows(engine: Engine, view: ViewFilter, start: int, limit: int) -> list[dict[str, Any]]:
    """The page that begins at dataset id ``start`` (keyset: no OFFSET)."""
    stmt = (select(*[datasets.c[c] for c in PAGE_COLUMNS]).where(datasets.c.id >= start, *view.where())
            .order_by(datasets.c.id).limit(limit))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def dataset_by_key(engine: Engine, source_id: str, native_id: str) -> dict[str, Any] | None:
    cols = [datasets.c[c] for c in PAGE_COLUMNS] + [datasets.c.status, datasets.c.withdrawn_at,
                                                   datasets.c.withdrawn_reason, datasets.c.row, datasets.c.version]
    with engine.connect() as conn:
        row = conn.execute(select(*cols).where(datasets.c.source_id == source_id,
                                               datasets.c.native_id == native_id)).first()
    return dict(row._mapping) if row else None


def known_sources(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(datasets.c.source_id).distinct().order_by(datasets.c.source_id)).scalars())


def withdrawn_page(engine: Engine, *, since: datetime | None, sources: Sequence[str] | None, offset: int,
                   limit: int) -> list[dict[str, Any]]:
    """Tombstones ordered by id. OFFSET here: withdrawals are a small fraction of the
    inventory and the page number must be addressable without knowing earlier pages."""
    where = [datasets.c.status == "withdrawn"]
    if since is not None:
        where.append(datasets.c.withdrawn_at >= since)
    if sources is not None:
        where.append(datasets.c.source_id.in_(tuple(sources)))
    stmt = (select(datasets.c.id, datasets.c.source_id, datasets.c.native_id, datasets.c.uri,
                   datasets.c.withdrawn_at, datasets.c.withdrawn_reason, datasets.c.first_seen)
            .where(*where).order_by(datasets.c.id).offset(offset).limit(limit))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def withdrawn_count(engine: Engine, *, since: datetime | None, sources: Sequence[str] | None) -> int:
    where = [datasets.c.status == "withdrawn"]
    if since is not None:
        where.append(datasets.c.withdrawn_at >= since)
    if sources is not None:
        where.append(datasets.c.source_id.in_(tuple(sources)))
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(datasets).where(*where)).scalar_one())


def iter_rows(engine: Engine, view: ViewFilter, *, batch: int = 1000) -> Iterator[dict[str, Any]]:
    """The view's flat rows (the ``row`` JSON column) in id order, in keyset batches so a slow
    client never holds a read transaction open for the whole download."""
    after = 0
    while True:
        stmt = (select(datasets.c.id, datasets.c.row).where(datasets.c.id > after, *view.where())
                .order_by(datasets.c.id).limit(batch))
        with engine.connect() as conn:
            rows = conn.execute(stmt).all()
        if not rows:
            return
        for _, row in rows:
            yield row or {}
        after = rows[-1][0]


def iter_graphs(engine: Engine, *, batch: int = 2000) -> Iterator[dict[str, Any]]:
    """Every active dataset's graph and dates, in keyset batches (for the SPARQL store)."""
    after = 0
    view = ViewFilter()
    while True:
        stmt = (select(*[datasets.c[c] for c in PAGE_COLUMNS]).where(datasets.c.id > after, *view.where())
                .order_by(datasets.c.id).limit(batch))
        with engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(stmt)]
        if not rows:
            return
        yield from rows
        after = rows[-1]["id"]


__all__ = ["InventoryState", "status_counts", "ViewFilter", "ViewSummary", "SourceStat", "inventory_state", "view_summary",
           "page_rows", "dataset_by_key", "known_sources", "withdrawn_page", "withdrawn_count", "iter_rows",
           "iter_graphs"]
