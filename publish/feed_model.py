"""The plain records the feed writer takes and returns, and its errors.

Kept apart from the writer so the feed service (issue 5) and the lead's wiring can
build these records without importing the serialisation code, and so ``publish``
never has to import ``inventory``: the inventory's rows are mapped onto
:class:`FeedDataset` by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class CatalogInfo:
    """The region's catalogue (``sources.yaml`` top-level ``catalog:`` section).

    ``base_uri`` is where the feed directory is served; the catalogue's IRI is
    ``<base_uri>/catalog``.
    """

    base_uri: str
    title: str
    description: str
    publisher_name: str
    publisher_uri: str | None
    homepage: str | None
    licence_uri: str
    language: str = "http://publications.europa.eu/resource/authority/language/ENG"


@dataclass(frozen=True)
class SourceInfo:
    """One harvested portal; published as a sub-catalogue of the region's catalogue."""

    source_id: str
    title: str
    url: str
    institution_name: str
    institution_uri: str | None


@dataclass(frozen=True)
class FeedDataset:
    """One inventory dataset as the feed needs it.

    ``nt`` is the stored canonical N-Triples (no blank nodes, with its
    ``dcat:CatalogRecord``); the harvest-independent dates come separately because
    the stored graph deliberately has none (they would make every run a change).
    """

    source_id: str
    native_id: str
    uri: str
    nt: str
    first_seen: datetime
    last_changed: datetime


class FeedError(Exception):
    """The feed as a whole could not be written; the previous feed is left in place."""


class FeedRecordError(FeedError):
    """One dataset could not be published; it is left out and the run goes on."""

    def __init__(self, message: str, *, source_id: str, native_id: str, field: str) -> None:
        self.source_id, self.native_id, self.field, self.reason = source_id, native_id, field, message
        super().__init__(f"[source={source_id}, record={native_id}, field={field}] {message}")

    def __reduce__(self):  # keyword-only __init__: make pickle/deepcopy rebuild it properly
        return (_rebuild_record_error, (self.reason, self.source_id, self.native_id, self.field))

    def as_dict(self) -> dict[str, str]:
        return {"source_id": self.source_id, "native_id": self.native_id, "field": self.field,
                "reason": self.reason}


def _rebuild_record_error(reason: str, source_id: str, native_id: str, field: str) -> FeedRecordError:
    return FeedRecordError(reason, source_id=source_id, native_id=native_id, field=field)


@dataclass(frozen=True)
class FeedResult:
    """What :func:`publish.feed.write_feed` wrote.

    ``errors`` keeps the first :data:`MAX_KEPT_ERRORS` skipped records as plain dicts
    (``source_id``, ``native_id``, ``field``, ``reason``; all are logged and counted in
    ``skipped``), so the result stays JSON-able for XCom and bounded in size.
    """

    path: Path
    pages: int
    datasets: int
    bytes: int
    formats: tuple[str, ...]
    skipped: int = 0
    warnings: int = 0
    errors: tuple[dict[str, str], ...] = field(default_factory=tuple)


MAX_KEPT_ERRORS = 100
