"""The plain records the feed writer takes and returns, and its errors.

Kept apart from the writer so the feed service (issue 5) and the lead's wiring can
build these records without importing the serialisation code, and so ``publish``
never has to import ``inventory``: the inventory's rows are mapped onto
:class:`FeedDataset` by the caller. The state file the writer keeps between runs
(what it needs to reuse unchanged datasets' bytes) is read and written here too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import msgspec

log = logging.getLogger(__name__)


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
    ``content_hash`` (the inventory's SHA-256 of ``nt``) is optional: given, it spares
    the writer hashing ``nt`` to learn whether the dataset changed since the last feed,
    so it must change whenever ``nt`` does.

    **Lazy form** (``publish.feed_publish``): the feed re-serialises only datasets whose change key
    moved, so reading and inflating every stored graph on every publish is wasted work. A lazy
    dataset has ``nt=None`` and a ``content_hash`` (the change key), and either ``nt_zlib`` (the
    inventory's zlib-compressed graph, inflated by the worker that prepares it) or only ``ref``
    (the inventory row id, fetched by the writer's ``fetch`` callback when it turns out to be
    needed). Its quality measurement and cluster links are kept as data (``quality``, ``links``)
    and turned into N-Triples only then (``publish.feed_lazy.resolve``), giving the same bytes as
    the eager form, where they are appended to ``nt`` at once.
    """

    source_id: str
    native_id: str
    uri: str
    nt: str | None
    first_seen: datetime
    last_changed: datetime
    content_hash: str | None = None
    nt_zlib: bytes | None = None
    ref: int | None = None
    quality: Any = None  # Mapping of the latest measurement (publish.feed_dqv), lazy form only
    links: tuple[str | None, tuple[str, ...]] | None = None  # (primary URI, mirror URIs), lazy form only

    @property
    def lazy(self) -> bool:
        return self.nt is None and (self.nt_zlib is not None or self.ref is not None)


def dataset_digest(ds: FeedDataset) -> str:
    """Everything a dataset's feed output depends on besides the feed's configuration."""
    content = f"h:{ds.content_hash}" if ds.content_hash else \
        "n:" + hashlib.sha256(str(ds.nt).encode("utf-8", "surrogatepass")).hexdigest()
    key = "\x00".join(map(str, [ds.source_id, ds.native_id, ds.uri, content, ds.first_seen, ds.last_changed]))
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


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


# --------------------------------------------------------------------------- state file
#
# JSON lines, in feed order: a header ["H", version, config digest]; per page
# ["P", n, page digest, {ext: [size, mtime_ns]}] followed by its datasets
# ["D", source_id, native_id, digest, record IRI, document bytes, warnings, [[offset, length] per format]];
# a trailer ["E", SHA-256 of every line before it]. The offsets locate each dataset's
# fragment in its page file of each format, so the next run copies it instead of
# re-parsing and re-serialising the dataset.

STATE_VERSION = 1


@dataclass(frozen=True)
class StateEntry:
    """What the previous feed holds for one dataset."""

    digest: str
    page: int
    record_uri: str
    doc_bytes: int
    warnings: tuple[str, ...]
    spans: tuple[tuple[int, int], ...]


class StateWriter:
    def __init__(self, path: Path, config: str) -> None:
        self.fh = open(path, "wb")
        self.sha = hashlib.sha256()
        self._line(["H", STATE_VERSION, config])

    def _line(self, value: list[Any]) -> None:
        # msgspec: ~5x json's speed, and one line per dataset is written on every publish
        try:
            data = msgspec.json.encode(value) + b"\n"
        except (msgspec.EncodeError, UnicodeEncodeError):  # lone surrogates: json escapes them
            data = json.dumps(value, separators=(",", ":")).encode() + b"\n"
        self.sha.update(data)
        self.fh.write(data)

    def page(self, n: int, digest: str, files: dict[str, list[int]]) -> None:
        self._line(["P", n, digest, files])

    def dataset(self, source_id: str, native_id: str, e: StateEntry) -> None:
        self._line(["D", source_id, native_id, e.digest, e.record_uri, e.doc_bytes, list(e.warnings),
                    [list(s) for s in e.spans]])

    def close(self) -> None:
        self.fh.write(json.dumps(["E", self.sha.hexdigest()]).encode() + b"\n")
        self.fh.close()


_decode = msgspec.json.Decoder().decode


class PreviousState:
    """The previous feed's state, checked whole before use and then read alongside the
    (sorted) input: memory holds one line and the page table, not one entry per dataset."""

    def __init__(self, path: Path, pages: dict[int, tuple[str, dict[str, list[int]]]]) -> None:
        self.path, self.pages = path, pages
        self._lines = self._datasets()
        self._next: tuple[tuple[str, str], StateEntry] | None = next(self._lines, None)

    @classmethod
    def open(cls, path: Path, config: str) -> PreviousState | None:
        """None (with the reason logged) when the file is missing, corrupt, truncated or
        written for another configuration: the caller then writes everything afresh."""
        try:
            sha, pages, header, trailer = hashlib.sha256(), {}, None, None
            with open(path, "rb") as fh:
                for raw in fh:
                    if trailer is not None:
                        raise ValueError("lines after the trailer")
                    if raw.startswith(b'["E",'):
                        trailer = json.loads(raw)
                        continue
                    sha.update(raw)
                    if header is None:
                        header = json.loads(raw)
                    elif raw.startswith(b'["P",'):
                        _, n, digest, files = json.loads(raw)
                        pages[int(n)] = (str(digest), files)
            if trailer != ["E", sha.hexdigest()]:
                raise ValueError("checksum mismatch (truncated or edited)")
            if header != ["H", STATE_VERSION, config]:
                log.info("feed: previous state is for another version or configuration; writing everything")
                return None
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:
            log.warning("feed: ignoring unusable state file %s (%s); writing everything", path, exc)
            return None
        return cls(path, pages)

    def _datasets(self) -> Iterator[tuple[tuple[str, str], StateEntry]]:
        page = 0
        with open(self.path, "rb") as fh:
            for raw in fh:
                if raw.startswith(b'["P",'):
                    page = json.loads(raw)[1]
                elif raw.startswith(b'["D",'):
                    _, sid, nid, digest, rec, doc, warnings, spans = _decode(raw)
                    yield (sid, nid), StateEntry(digest, page, rec, doc, tuple(warnings),
                                                 tuple((a, b) for a, b in spans))

    def lookup(self, key: tuple[str, str]) -> StateEntry | None:
        """The entry for ``key``; keys must be asked for in increasing order (a key
        smaller than the last one asked is simply not found)."""
        while self._next is not None and self._next[0] < key:
            self._next = next(self._lines, None)
        if self._next is not None and self._next[0] == key:
            return self._next[1]
        return None

    def page_files_unchanged(self, n: int, folder: Path, formats: tuple[str, ...]) -> bool:
        """Whether the previous feed's page ``n`` files are still the ones recorded."""
        files = self.pages.get(n, (None, {}))[1]
        for ext in formats:
            try:
                st = os.stat(folder / f"page-{n}.{ext}")
            except OSError:
                return False
            if files.get(ext) != [st.st_size, st.st_mtime_ns]:
                return False
        return True
