"""The inventory schema, as SQLAlchemy 2 declarative models.

The Alembic migrations in ``inventory/migrations`` are the schema's source of truth; these
models must describe exactly the same tables (``tests/test_inventory.py`` compares them with
``alembic.autogenerate.compare_metadata``). The loader works on ``Model.__table__`` with
SQLAlchemy Core because it batches thousands of rows per statement; the ORM classes are
here for readers who prefer them.

Everything stays portable between SQLite (the default file) and PostgreSQL (production):
plain ``JSON``, ``Text`` and a timestamp type that keeps timezones on both.
"""

from __future__ import annotations

import zlib

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, MetaData, String,
                        Text, UniqueConstraint)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

RUN_STATUSES = ("running", "success", "failed", "gate_failed")
DATASET_STATUSES = ("active", "withdrawn")

# Named constraints, so that migrations can refer to (and later alter) them on both backends.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class CompressedText(TypeDecorator):
    """Text stored zlib-compressed: the graphs (N-Triples) are most of the inventory's bytes.

    N-Triples repeat long IRIs, so they shrink ~6-8x; a dataset is written twice (current row
    and its version), so compression cuts what a 100,000-dataset load writes from ~1.6 GB to a
    few hundred MB and makes the load faster, not slower. Level 1: the ratio of level 6 for a
    third of the CPU on this kind of text. Callers see ``str`` in and out.
    """

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else zlib.compress(value.encode("utf-8"), 1)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else zlib.decompress(value).decode("utf-8")


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC timestamp on every backend.

    SQLite has no timestamp type and SQLAlchemy's SQLite DATETIME silently drops
    ``tzinfo`` without converting, so a ``+02:00`` time would be stored two hours off.
    Binding converts to UTC first (and strips the zone for SQLite, whose text format then
    sorts and compares correctly); reading puts UTC back. Naive datetimes are refused:
    the callers (Airflow tasks) always know the zone, and guessing it is how runs get
    replayed against the wrong window.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}: {value!r}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given to the inventory; "
                             "pass a timezone-aware datetime (e.g. tzinfo=timezone.utc)")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Dataset(Base):
    """The current state of one dataset of one source; history lives in ``dataset_versions``."""

    __tablename__ = "datasets"
    __table_args__ = (
        UniqueConstraint("source_id", "native_id"),
        Index("ix_datasets_source_id_status", "source_id", "status"),
        Index("ix_datasets_last_changed", "last_changed"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[str] = mapped_column(String(200), nullable=False)
    native_id: Mapped[str] = mapped_column(String(1000), nullable=False)
    uri: Mapped[str | None] = mapped_column(String(2000), index=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    nt: Mapped[str | None] = mapped_column(CompressedText)
    row: Mapped[dict | None] = mapped_column(JSON)
    source_modified: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_changed: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    last_run_id: Mapped[str | None] = mapped_column(String(400))


class DatasetVersion(Base):
    """Every content version a dataset has had, the current one included (append-only)."""

    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    uri: Mapped[str | None] = mapped_column(String(2000))
    nt: Mapped[str | None] = mapped_column(CompressedText)
    row: Mapped[dict | None] = mapped_column(JSON)
    run_id: Mapped[str] = mapped_column(String(400), nullable=False)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class HarvestRun(Base):
    """One run of one source: what was asked (mode, window) and what came of it."""

    __tablename__ = "harvest_runs"
    __table_args__ = (Index("ix_harvest_runs_source_id_status", "source_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(String(400), nullable=False, unique=True)
    source_id: Mapped[str] = mapped_column(String(200), nullable=False)
    mode: Mapped[str] = mapped_column(String(32), nullable=False)
    window_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    counts: Mapped[dict | None] = mapped_column(JSON)
    gate: Mapped[dict | None] = mapped_column(JSON)
    stats: Mapped[dict | None] = mapped_column(JSON)
    quality: Mapped[dict | None] = mapped_column(JSON)  # run aggregates: MQA, SHACL, warnings (0002)
    data_docs: Mapped[str | None] = mapped_column(String(2000))  # the run's GX Data Docs index (0002)


class RunError(Base):
    """A record a run could not take (parse, map, validate or load), with where and why."""

    __tablename__ = "run_errors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(String(400), nullable=False, index=True)
    native_id: Mapped[str | None] = mapped_column(String(1000))
    field: Mapped[str | None] = mapped_column(String(400))
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    stage: Mapped[str | None] = mapped_column(String(32))


class QuarantinedWithdrawal(Base):
    """A withdrawal a full run would have applied but did not, because the run looked too small."""

    __tablename__ = "quarantined_withdrawals"
    __table_args__ = (UniqueConstraint("run_id", "native_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(String(400), nullable=False)
    source_id: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    native_id: Mapped[str] = mapped_column(String(1000), nullable=False)


# --------------------------------------------------------------------------- quality (issue 4, 0002)


class DatasetQuality(Base):
    """What one run measured of one dataset: MQA points, 5-star level, SHACL, failed warnings."""

    __tablename__ = "dataset_quality"
    __table_args__ = (
        UniqueConstraint("run_id", "source_id", "native_id"),
        Index("ix_dataset_quality_source_id_native_id", "source_id", "native_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(String(400), nullable=False)
    source_id: Mapped[str] = mapped_column(String(200), nullable=False)
    native_id: Mapped[str] = mapped_column(String(1000), nullable=False)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    measured_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    mqa_total: Mapped[int | None] = mapped_column(Integer)
    mqa_band: Mapped[str | None] = mapped_column(String(16))
    mqa_findability: Mapped[int | None] = mapped_column(Integer)
    mqa_accessibility: Mapped[int | None] = mapped_column(Integer)
    mqa_interoperability: Mapped[int | None] = mapped_column(Integer)
    mqa_reusability: Mapped[int | None] = mapped_column(Integer)
    mqa_contextuality: Mapped[int | None] = mapped_column(Integer)
    mqa_indicators: Mapped[dict | None] = mapped_column(JSON)  # indicator -> points, null = not checked
    stars: Mapped[int | None] = mapped_column(Integer)
    shacl_conforms: Mapped[bool | None] = mapped_column(Boolean)
    shacl_violations: Mapped[int | None] = mapped_column(Integer)
    shacl_warnings: Mapped[int | None] = mapped_column(Integer)
    findings: Mapped[list | None] = mapped_column(JSON)  # [{rule, severity, message}]


class ShaclResult(Base):
    """SHACL outcome per graph content hash and shapes version: an unchanged graph is never re-validated."""

    __tablename__ = "shacl_results"

    content_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    shapes_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    conforms: Mapped[bool] = mapped_column(Boolean, nullable=False)
    violations: Mapped[int] = mapped_column(Integer, nullable=False)
    warnings: Mapped[int] = mapped_column(Integer, nullable=False)
    by_shape: Mapped[dict | None] = mapped_column(JSON)  # shape -> count
    messages: Mapped[list | None] = mapped_column(JSON)  # first messages
    validated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class LinkCheck(Base):
    """The last check of one access/download URL (HEAD, then a ranged GET), shared by every dataset."""

    __tablename__ = "link_checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000), nullable=False, unique=True)
    status: Mapped[int | None] = mapped_column(Integer)
    ok: Mapped[bool | None] = mapped_column(Boolean)
    method: Mapped[str | None] = mapped_column(String(8))
    error: Mapped[str | None] = mapped_column(Text)
    seconds: Mapped[float | None] = mapped_column(Float)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


# --------------------------------------------------------------------------- duplicates, changes (issue 7, 0003)


class DatasetCluster(Base):
    """A dataset's place in a cross-source duplicate cluster; mirrors stay in the inventory, linked."""

    __tablename__ = "dataset_clusters"

    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    cluster_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)  # the primary's datasets.id
    is_primary: Mapped[bool] = mapped_column(Boolean, nullable=False)
    evidence: Mapped[str | None] = mapped_column(String(64))  # strongest rule that linked it
    score: Mapped[float | None] = mapped_column(Float)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class DatasetChange(Base):
    """One version step of one dataset as field-level changes (created, updated, withdrawn, restored)."""

    __tablename__ = "dataset_changes"
    __table_args__ = (
        Index("ix_dataset_changes_source_id_changed_at", "source_id", "changed_at"),
        Index("ix_dataset_changes_changed_at", "changed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False,
                                            index=True)
    source_id: Mapped[str] = mapped_column(String(200), nullable=False)
    native_id: Mapped[str] = mapped_column(String(1000), nullable=False)
    run_id: Mapped[str] = mapped_column(String(400), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    change: Mapped[str] = mapped_column(String(16), nullable=False)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    fields: Mapped[list | None] = mapped_column(JSON)  # [{field, op: added|removed|changed, old, new}]



class ClusterFeature(Base):
    """What the duplicate clustering needs of one dataset (keys, normalised title and publisher), kept
    with the content hash it was read from, so a re-clustering reads the graph of changed datasets only."""

    __tablename__ = "cluster_features"

    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    features: Mapped[dict] = mapped_column(JSON, nullable=False)


class ClusterState(Base):
    """The fingerprint of the inventory the stored clusters were computed from (one row per name)."""

    __tablename__ = "cluster_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

metadata = Base.metadata
datasets = Dataset.__table__
dataset_versions = DatasetVersion.__table__
harvest_runs = HarvestRun.__table__
run_errors = RunError.__table__
quarantined_withdrawals = QuarantinedWithdrawal.__table__
dataset_quality = DatasetQuality.__table__
shacl_results = ShaclResult.__table__
link_checks = LinkCheck.__table__
dataset_clusters = DatasetCluster.__table__
dataset_changes = DatasetChange.__table__
cluster_features = ClusterFeature.__table__
cluster_state = ClusterState.__table__
