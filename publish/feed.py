"""The static DCAT-AP 3 feed: paged catalogue files, one document per dataset, a manifest.

Layout and URLs are documented in docs/feed.md. Three decisions shape this module:

* **Streaming in two passes.** Page 1 must name the last page and the total, which a
  stream only knows at its end. Pass 1 streams the datasets once, writes each
  dataset's own document and spools each page's triples as N-Triples (plus its
  catalogue links) to a scratch file; pass 2 re-reads one spooled page at a time and
  writes it in every format with the now-known paging links. Memory holds one page;
  re-parsing N-Triples costs ~2 ms per 100 datasets, far less than guessing wrong.
* **Atomic publication.** Everything is written to a sibling temp directory which is
  swapped with ``out_dir`` at the end (``renameat2(RENAME_EXCHANGE)`` where the kernel
  has it), so a reader sees the old feed or the new one, never a mix, and a failure
  leaves the old feed in place.
* **pyoxigraph for every serialisation** (see :mod:`publish.feed_rdf`).
"""

from __future__ import annotations

import ctypes
import hashlib
import ctypes.util
import fcntl
import json
import logging
import os
import shutil
import uuid
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Iterable

import pyoxigraph as ox

from publish.feed_model import (MAX_KEPT_ERRORS, CatalogInfo, FeedDataset, FeedError, FeedRecordError,
                                FeedResult, SourceInfo)
from publish.feed_rdf import (FORMATS, Prepared, SourceStats, assemble_page, catalog_triples, catalog_uri, dataset_document,
                              dt_literal, hydra_triples, link_triples, prepare_dataset, segment, serialize,
                              source_catalog_triples, source_catalog_uri, static_page_url)

log = logging.getLogger(__name__)

DEFAULT_FORMATS: tuple[str, ...] = ("ttl", "nt", "rdf", "jsonld")
# A file name is at most 255 bytes on common file systems; percent-encoding triples
# the length of non-ASCII ids, so long ids are cut and made unique with a hash.
_MAX_NAME = 200


def dataset_file_name(native_id: str) -> str:
    """The per-dataset document's file name (without ``.ttl``): the percent-encoded
    native id, or for ids whose encoding exceeds 200 bytes a prefix of it plus
    ``--`` and 16 hex digits of the id's SHA-256."""
    name = segment(native_id)
    if len(name) <= _MAX_NAME:
        return name
    cut = name[:_MAX_NAME - 18]
    cut = cut[:cut.rfind("%")] if "%" in cut[-2:] else cut  # never split a %XX escape
    return f"{cut}--{hashlib.sha256(native_id.encode('utf-8')).hexdigest()[:16]}"


def write_feed(datasets: Iterable[FeedDataset], out_dir: Path, *, catalog: CatalogInfo,
               sources: list[SourceInfo], page_size: int = 100,
               formats: tuple[str, ...] = DEFAULT_FORMATS, total: int | None = None,
               generated_at: datetime) -> FeedResult:
    """Write the whole feed for ``datasets`` (ordered by source id, native id) to ``out_dir``.

    ``total`` is optional and only cross-checked (a mismatch is logged): the writer
    counts while streaming, so the feed is consistent with what it was given even if
    the inventory changed between counting and reading. A bad dataset is skipped,
    logged and reported in the result; any other failure raises and leaves the
    previous feed untouched.
    """
    out_dir = Path(out_dir)
    base = catalog.base_uri.rstrip("/")
    catalog = _with_base(catalog, base)
    if page_size < 1:
        raise ValueError(f"page_size must be >= 1, got {page_size}")
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"unknown feed formats {unknown or formats}; choose from {sorted(FORMATS)}")
    dt_literal(generated_at, what="generated_at")  # refuse naive times before any work
    out_dir.parent.mkdir(parents=True, exist_ok=True)

    with _writer_lock(out_dir):
        tmp = out_dir.parent / f".{out_dir.name}.new-{uuid.uuid4().hex[:12]}"
        try:
            result = _write_all(datasets, tmp, out_dir, catalog, sources, page_size, tuple(formats),
                                total, generated_at)
            _swap_in(tmp, out_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return result


class _Counters:
    def __init__(self) -> None:
        self.datasets = 0
        self.skipped = 0
        self.warnings = 0
        self.bytes = 0
        self.errors: list[dict[str, str]] = []
        self.by_source: dict[str, SourceStats] = {}

    def skip(self, err: FeedRecordError) -> None:
        self.skipped += 1
        log.warning("feed: skipped %s", err)
        if len(self.errors) < MAX_KEPT_ERRORS:
            self.errors.append(err.as_dict())


def _write_all(datasets: Iterable[FeedDataset], tmp: Path, out_dir: Path, catalog: CatalogInfo,
               sources: list[SourceInfo], page_size: int, formats: tuple[str, ...], total: int | None,
               generated_at: datetime) -> FeedResult:
    base = catalog.base_uri
    spool = tmp / ".spool"
    spool.mkdir(parents=True)
    (tmp / "catalog").mkdir()
    c = _Counters()

    # ---- pass 1: per-dataset documents, and each page spooled as N-Triples + links
    page_no, page_links, page_file = 0, [], None
    made_dirs: set[str] = set()
    previous_key: tuple[str, str] | None = None
    rdfxml = "rdf" in formats
    try:
        for ds in datasets:
            key = (ds.source_id, ds.native_id)
            try:
                if key == previous_key:
                    raise FeedRecordError("duplicate (source_id, native_id) in the input", source_id=ds.source_id,
                                          native_id=ds.native_id, field="native_id")
                prepared = prepare_dataset(ds, base, rdfxml=rdfxml)
                c.bytes += _write_dataset_doc(tmp, out_dir, base, ds, prepared, made_dirs)
            except FeedRecordError as err:
                c.skip(err)
                continue
            previous_key = key
            if page_file is None:
                page_no += 1
                page_file = open(spool / f"page-{page_no}.nt", "wb")
            ox.serialize(prepared.triples, page_file, ox.RdfFormat.N_TRIPLES)
            page_links.append((ds.source_id, ds.uri, prepared.record_uri))
            _count(c, ds, prepared)
            if len(page_links) == page_size:
                page_file.close()
                page_file = None
                _dump_links(spool, page_no, page_links)
                page_links = []
    finally:
        if page_file is not None:
            page_file.close()
    if page_no == 0:
        (spool / "page-1.nt").write_bytes(b"")  # empty catalogue: one page, no datasets
        page_no = 1
        _dump_links(spool, 1, [])
    elif page_links:
        _dump_links(spool, page_no, page_links)
    pages = page_no
    if total is not None and total != c.datasets + c.skipped:
        log.warning("feed: expected %d datasets, streamed %d (%d skipped); the feed follows the stream",
                    total, c.datasets + c.skipped, c.skipped)

    # ---- pass 2: every page in every format, now that the last page is known
    header = catalog_triples(catalog, generated_at)
    known = {s.source_id for s in sources}
    all_sources = list(sources) + [_unconfigured(sid, catalog) for sid in sorted(c.by_source) if sid not in known]
    for s in all_sources:
        header += source_catalog_triples(base, s, c.by_source.get(s.source_id))
    page_url = static_page_url(base)
    for n in range(1, pages + 1):
        body = [q.triple for q in ox.parse(path=spool / f"page-{n}.nt", format=ox.RdfFormat.N_TRIPLES)]
        links = [tuple(x) for x in json.loads((spool / f"page-{n}.links.json").read_text("utf-8"))]
        page_links_rdf = link_triples(base, links)
        for ext in formats:
            paging = hydra_triples(base, page_url, page=n, pages=pages, total=c.datasets,
                                   page_size=page_size, ext=ext)
            data = serialize(assemble_page(base, header + paging + page_links_rdf, body), ext)
            c.bytes += _write(tmp / "catalog" / f"page-{n}.{ext}", data)
            if n == 1:
                c.bytes += _write(tmp / f"catalog.{ext}", data)
    shutil.rmtree(spool)

    _write_index(tmp, catalog, all_sources, c, pages, page_size, formats, generated_at)
    return FeedResult(path=out_dir, pages=pages, datasets=c.datasets, bytes=c.bytes, formats=formats,
                      skipped=c.skipped, warnings=c.warnings, errors=tuple(c.errors))


def _count(c: _Counters, ds: FeedDataset, prepared: Prepared) -> None:
    c.datasets += 1
    c.warnings += len(prepared.warnings)
    for w in prepared.warnings:
        log.warning("feed: %s", w)
    old = c.by_source.get(ds.source_id)
    last = ds.last_changed if old is None or old.last_changed is None else max(old.last_changed, ds.last_changed)
    c.by_source[ds.source_id] = SourceStats((old.datasets if old else 0) + 1, last)


def _write_dataset_doc(tmp: Path, out_dir: Path, base: str, ds: FeedDataset, prepared: Prepared,
                       made: set[str]) -> int:
    """Write one dataset's document, hard-linking the previous feed's file when its bytes
    are identical: creating a file costs ~1 ms on this machine's disks, a link ~16 us, and
    most datasets are unchanged from one night to the next. Files are never modified in
    place, so sharing an inode with the previous feed is safe."""
    folder = segment(ds.source_id)
    if folder not in made:
        (tmp / "dataset" / folder).mkdir(parents=True, exist_ok=True)
        made.add(folder)
    name = f"{folder}/{dataset_file_name(ds.native_id)}.ttl"
    data = serialize(dataset_document(base, ds, prepared), "ttl")
    target = tmp / "dataset" / name
    previous = out_dir / "dataset" / name
    if _same_bytes(previous, data):
        try:
            os.link(previous, target)
            return len(data)
        except FileExistsError:
            pass  # fall through: _write reports the collision
        except OSError:
            pass  # no hard links here (other file system, permissions): write a copy
    try:
        return _write(target, data)
    except FileExistsError:
        raise FeedRecordError(f"file name dataset/{name} is already used by another dataset in this feed "
                              "(ids differing only in case on a case-insensitive disk, or unsorted duplicates)",
                              source_id=ds.source_id, native_id=ds.native_id, field="native_id") from None


def _same_bytes(path: Path, data: bytes) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        return os.read(fd, len(data) + 1) == data
    finally:
        os.close(fd)


def _dump_links(spool: Path, n: int, links: list[tuple[str, str, str]]) -> None:
    (spool / f"page-{n}.links.json").write_text(json.dumps(links), "utf-8")


def _write(path: Path, data: bytes) -> int:
    """Create ``path`` (never overwrite: a clash means two datasets share a name)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    return len(data)


def _with_base(catalog: CatalogInfo, base: str) -> CatalogInfo:
    return catalog if catalog.base_uri == base else replace(catalog, base_uri=base)


def _unconfigured(source_id: str, catalog: CatalogInfo) -> SourceInfo:
    """A source still in the inventory but gone from sources.yaml: described minimally."""
    log.warning("feed: source %r has datasets but no sources.yaml entry; describing it minimally", source_id)
    return SourceInfo(source_id=source_id, title=source_id, url=source_catalog_uri(catalog.base_uri, source_id),
                      institution_name=catalog.publisher_name, institution_uri=catalog.publisher_uri)


def _write_index(tmp: Path, catalog: CatalogInfo, sources: list[SourceInfo], c: _Counters, pages: int,
                 page_size: int, formats: tuple[str, ...], generated_at: datetime) -> None:
    base = catalog.base_uri
    index = {
        "generated_at": dt_literal(generated_at).value,
        "catalog_uri": catalog_uri(base),
        "base_uri": base,
        "datasets": c.datasets,
        "skipped": c.skipped,
        "warnings": c.warnings,
        "pages": pages,
        "page_size": page_size,
        "bytes": c.bytes,
        "formats": {ext: {"media_type": FORMATS[ext][1], "entry": f"catalog.{ext}",
                          "pages": [f"catalog/page-{n}.{ext}" for n in range(1, pages + 1)]} for ext in formats},
        "sources": [{"source_id": s.source_id, "title": s.title, "url": s.url,
                     "catalog_uri": source_catalog_uri(base, s.source_id),
                     "datasets": c.by_source[s.source_id].datasets if s.source_id in c.by_source else 0,
                     "dataset_dir": f"dataset/{segment(s.source_id)}/"} for s in sources],
        "errors": c.errors,
    }
    (tmp / "index.json").write_text(json.dumps(index, indent=2, ensure_ascii=False) + "\n", "utf-8")


# --------------------------------------------------------------------------- publication


class _writer_lock:
    """One writer per feed directory: a second concurrent run would swap half a feed in.

    Holding the lock also makes any leftover ``.<name>.new-*`` directory (from a
    killed run) safe to delete.
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.path = out_dir.parent / f".{out_dir.name}.lock"

    def __enter__(self) -> None:
        self.fh = open(self.path, "a+")
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.fh.close()
            raise FeedError(f"another feed writer holds {self.path}; not writing {self.out_dir}") from None
        for stale in self.out_dir.parent.glob(f".{self.out_dir.name}.new-*"):
            shutil.rmtree(stale, ignore_errors=True)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two directories (Linux renameat2); False where unsupported."""
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    fn = getattr(libc, "renameat2", None)
    if fn is None:
        return False
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


def _swap_in(tmp: Path, out_dir: Path) -> None:
    """Put ``tmp`` at ``out_dir`` and delete the previous feed.

    With an atomic exchange readers never see a missing feed; the fallback (two
    renames) has a window of microseconds with no ``out_dir`` but still never a
    half-written one.
    """
    if not out_dir.exists():
        os.rename(tmp, out_dir)
        return
    if _exchange(tmp, out_dir):
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the previous feed
        return
    old = out_dir.parent / f".{out_dir.name}.old-{uuid.uuid4().hex[:12]}"
    os.rename(out_dir, old)
    os.rename(tmp, out_dir)
    shutil.rmtree(old, ignore_errors=True)
