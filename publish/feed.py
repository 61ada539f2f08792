"""The static DCAT-AP 3 feed: paged catalogue files, one document per dataset, a manifest.

Layout and URLs are documented in docs/feed.md. Four decisions shape this module:

* **Datasets are serialised once, when they change.** Each dataset is parsed once and
  written as its own document plus one *fragment* per page format; pages are spliced
  from a catalogue block and the fragments (:mod:`publish.feed_rdf`). A state file in
  the feed records each dataset's digest and where its fragments sit in the page
  files, so the next run links unchanged documents, copies unchanged fragments byte
  for byte and hard-links pages whose inputs are all unchanged. Output bytes depend
  only on the inventory's content (the catalogue's ``dct:modified`` is the newest
  ``last_changed``), so an incremental write equals a full one.
* **Two passes.** Page 1 must name the last page and the total, which a stream only
  knows at its end: pass 1 streams the datasets once (documents written, fragments
  spooled, page contents noted in a scratch file), pass 2 writes every page. Memory
  holds one page.
* **Changed datasets are prepared in worker processes** once a run has enough of
  them to repay starting the workers (pass 1 is parse + serialise, CPU-bound).
* **Atomic publication.** Everything is written to a sibling temp directory which is
  swapped with ``out_dir`` at the end (``renameat2(RENAME_EXCHANGE)`` where the kernel
  has it), so a reader sees the old feed or the new one, never a mix, and a failure
  leaves the old feed in place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import uuid
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

import pyoxigraph as ox

from publish.feed_model import (MAX_KEPT_ERRORS, CatalogInfo, FeedDataset, FeedError, FeedRecordError, FeedResult,
                                PreviousState, SourceInfo, StateEntry, StateWriter, dataset_digest)
from publish import feed_dqv
from publish.swap import swap_in, writer_lock
from publish.feed_rdf import (FORMATS, PREFIXES, SourceStats, catalog_triples, catalog_uri, dt_literal,
                              hydra_triples, link_triples, prepare_dataset, segment, source_catalog_triples, source_catalog_uri, static_page_url)
from publish.feed_splice import ENVELOPES, assemble_page, dataset_document_bytes, fragment, serialize_inner

log = logging.getLogger(__name__)

DEFAULT_FORMATS: tuple[str, ...] = ("ttl", "nt", "rdf", "jsonld")
STATE_FILE = ".feed-state.jsonl"
# A file name is at most 255 bytes on common file systems; percent-encoding triples
# the length of non-ASCII ids, so long ids are cut and made unique with a hash.
_MAX_NAME = 200
_CHUNK = 50  # changed datasets handed to a worker at a time
_POOL_AFTER = 1_000  # changed datasets prepared in-process before workers are started
_MAX_WORKERS = 4


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
               generated_at: datetime, workers: int | None = None, incremental: bool = True) -> FeedResult:
    """Write the whole feed for ``datasets`` (ordered by source id, native id) to ``out_dir``.

    ``total`` is optional and only cross-checked (a mismatch is logged): the writer
    counts while streaming, so the feed is consistent with what it was given even if
    the inventory changed between counting and reading. A bad dataset is skipped,
    logged and reported in the result; any other failure raises and leaves the
    previous feed untouched. ``generated_at`` is recorded in ``index.json`` only.
    ``workers``: processes preparing changed datasets (default: one per core, at most
    4; 1 = in-process). ``incremental=False`` ignores the previous feed's state.
    """
    out_dir = Path(out_dir)
    base = catalog.base_uri.rstrip("/")
    catalog = catalog if catalog.base_uri == base else replace(catalog, base_uri=base)
    if page_size < 1:
        raise ValueError(f"page_size must be >= 1, got {page_size}")
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"unknown feed formats {unknown or formats}; choose from {sorted(FORMATS)}")
    dt_literal(generated_at, what="generated_at")  # refuse naive times before any work
    if workers is None:
        workers = max(1, min(os.cpu_count() or 1, _MAX_WORKERS))
    out_dir.parent.mkdir(parents=True, exist_ok=True)

    with writer_lock(out_dir):
        tmp = out_dir.parent / f".{out_dir.name}.new-{uuid.uuid4().hex[:12]}"
        config = _config_digest(base, tuple(formats))
        prev = PreviousState.open(out_dir / STATE_FILE, config) if incremental else None
        job = _Job(tmp, out_dir, base, tuple(formats), "rdf" in formats, prev is None)
        try:
            result = _write_all(datasets, job, prev, config, catalog, sources, page_size, total, generated_at, workers)
            swap_in(tmp, out_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return result


def _config_digest(base: str, formats: tuple[str, ...]) -> str:
    """What every dataset's bytes depend on besides the dataset: a change rewrites all."""
    text = json.dumps([base, formats, ox.__version__, PREFIXES, {k: [v.decode() for v in ENVELOPES[k]]
                                                                  for k in formats}])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class _Job:
    """What preparing a dataset needs; sent to the worker processes with each chunk."""

    tmp: Path
    out_dir: Path
    base: str
    formats: tuple[str, ...]
    rdfxml: bool
    compare_previous: bool  # no usable state: compare documents with the previous feed's bytes


class _Counters:
    def __init__(self) -> None:
        self.datasets = 0
        self.skipped = 0
        self.warnings = 0
        self.bytes = 0
        self.errors: list[dict[str, str]] = []
        self.by_source: dict[str, SourceStats] = {}
        self.newest: datetime | None = None
        self.quality = False  # some dataset carries DQV measurements (publish.feed_dqv)

    def skip(self, err: FeedRecordError) -> None:
        self.skipped += 1
        log.warning("feed: skipped %s", err)
        if len(self.errors) < MAX_KEPT_ERRORS:
            self.errors.append(err.as_dict())

    def count(self, ds: FeedDataset, warnings: Iterable[str]) -> None:
        self.datasets += 1
        for w in warnings:
            self.warnings += 1
            log.warning("feed: %s", w)
        old = self.by_source.get(ds.source_id)
        last = ds.last_changed if old is None or old.last_changed is None else max(old.last_changed, ds.last_changed)
        self.by_source[ds.source_id] = SourceStats((old.datasets if old else 0) + 1, last)
        self.newest = ds.last_changed if self.newest is None else max(self.newest, ds.last_changed)


# A dataset on a page, kept as a list so pages spool as JSON: ids, IRIs, digest, where its
# fragments are now ([file, offset, length] per format), its page and spans in the previous
# feed when unchanged (else 0, None), its document's size and its warnings.
_Entry = list
SID, NID, URI, REC, DIGEST, SPANS, PREV_PAGE, PREV_SPANS, DOC, WARN = range(10)


def _write_all(datasets: Iterable[FeedDataset], job: _Job, prev: PreviousState | None, config: str,
               catalog: CatalogInfo, sources: list[SourceInfo], page_size: int, total: int | None,
               generated_at: datetime, workers: int) -> FeedResult:
    (job.tmp / ".spool").mkdir(parents=True)
    (job.tmp / "catalog").mkdir()
    c = _Counters()
    pass1 = _Pass1(job, prev, c, page_size, workers)
    try:
        for ds in datasets:
            pass1.add(ds)
        pass1.finish()
    finally:
        pass1.close()
    pages = pass1.pages
    if total is not None and total != c.datasets + c.skipped:
        log.warning("feed: expected %d datasets, streamed %d (%d skipped); the feed follows the stream",
                    total, c.datasets + c.skipped, c.skipped)

    known = {s.source_id for s in sources}
    all_sources = list(sources) + [_unconfigured(sid, catalog) for sid in sorted(c.by_source) if sid not in known]
    _write_pages(job, prev, config, catalog, all_sources, c, pages, page_size)
    shutil.rmtree(job.tmp / ".spool")
    _write_index(job.tmp, catalog, all_sources, c, pages, page_size, job.formats, generated_at)
    return FeedResult(path=job.out_dir, pages=pages, datasets=c.datasets, bytes=c.bytes, formats=job.formats,
                      skipped=c.skipped, warnings=c.warnings, errors=tuple(c.errors))


# --------------------------------------------------------------------------- pass 1


class _Pass1:
    """Streams the datasets: reuses unchanged ones, prepares the others (in chunks, in
    worker processes once there are many), and notes each page's entries in order."""

    def __init__(self, job: _Job, prev: PreviousState | None, c: _Counters, page_size: int, workers: int) -> None:
        self.job, self.prev, self.c, self.page_size, self.workers = job, prev, c, page_size, workers
        self.pool: ProcessPoolExecutor | None = None
        self.inflight: deque[tuple[list, Future]] = deque()
        self.chunk: list[list] = []  # [dataset, digest, previous entry, outcome or None]
        self.todo = 0
        self.prepared = 0
        self.previous_key: tuple[str, str] | None = None
        self.ordered = True
        self.page: list[_Entry] = []
        self.pages = 0
        self.prev_pages_ok: dict[int, bool] = {}
        self.made: set[str] = set()

    def add(self, ds: FeedDataset) -> None:
        key = (ds.source_id, ds.native_id)
        if key == self.previous_key:
            self._consume_all()  # keep the error in stream order
            self.c.skip(FeedRecordError("duplicate (source_id, native_id) in the input", source_id=ds.source_id,
                                        native_id=ds.native_id, field="native_id"))
            return
        if self.previous_key is not None and key < self.previous_key and self.ordered:
            self.ordered = False  # unsorted input: no merge with the state, no parallel races
            self._consume_all()
            self._stop_pool()
        self.previous_key = key
        if not self.c.quality and ds.nt and feed_dqv.MARKER in ds.nt:  # define the metrics
            self.c.quality = True
        digest = dataset_digest(ds)
        entry = self.prev.lookup(key) if self.prev is not None and self.ordered else None
        outcome = self._reuse(ds, entry) if entry is not None and entry.digest == digest else None
        self.chunk.append([ds, digest, entry, outcome])
        if outcome is None:
            self.todo += 1
        if self.todo >= _CHUNK or len(self.chunk) >= 20 * _CHUNK:
            self._submit()

    def _reuse(self, ds: FeedDataset, entry: StateEntry) -> Any:
        """Link the previous document and point at the previous fragments, or None."""
        ok = self.prev_pages_ok.get(entry.page)
        if ok is None:
            ok = self.prev_pages_ok[entry.page] = self.prev.page_files_unchanged(
                entry.page, self.job.out_dir / "catalog", self.job.formats)
        if not ok:
            return None
        name = f"{_doc_folder(self.job, ds, self.made)}/{dataset_file_name(ds.native_id)}.ttl"
        try:
            os.link(f"{self.job.out_dir}/dataset/{name}", f"{self.job.tmp}/dataset/{name}")
        except FileExistsError:
            return _clash(ds, name)
        except OSError:
            return None  # gone, or no hard links here: prepare it afresh
        page_file = str(self.job.out_dir / "catalog" / f"page-{entry.page}")
        spans = [(f"{page_file}.{ext}", off, n) for ext, (off, n) in zip(self.job.formats, entry.spans)]
        return (entry.record_uri, list(entry.warnings), entry.doc_bytes, spans)

    def _submit(self) -> None:
        if not self.chunk:
            return
        todo = [item[0] for item in self.chunk if item[3] is None]
        self.prepared += len(todo)
        if self.pool is None and self.workers > 1 and self.ordered and self.prepared > _POOL_AFTER:
            self.pool = ProcessPoolExecutor(self.workers, mp_context=_mp_context())
        if self.pool is not None and todo:
            future = self.pool.submit(_prepare_chunk, self.job, todo)
        else:
            future = Future()
            future.set_result(_prepare_chunk(self.job, todo) if todo else [])
        self.inflight.append((self.chunk, future))
        self.chunk, self.todo = [], 0
        while self.inflight and (len(self.inflight) > 2 * self.workers or self.inflight[0][1].done()):
            self._consume(*self.inflight.popleft())

    def _consume(self, chunk: list[list], future: Future) -> None:
        results = iter(future.result())
        for ds, digest, entry, outcome in chunk:
            if outcome is None:
                outcome = next(results)
            if isinstance(outcome, FeedRecordError):
                self.c.skip(outcome)
                continue
            record, warnings, doc_bytes, spans = outcome
            self.c.bytes += doc_bytes
            self.c.count(ds, warnings)
            same = entry is not None and entry.digest == digest
            self.page.append([ds.source_id, ds.native_id, ds.uri, record, digest, spans,
                              entry.page if same else 0, entry.spans if same else None, doc_bytes, warnings])
            if len(self.page) == self.page_size:
                self._end_page()

    def _consume_all(self) -> None:
        self._submit()
        while self.inflight:
            self._consume(*self.inflight.popleft())

    def _end_page(self) -> None:
        self.pages += 1
        (self.job.tmp / ".spool" / f"page-{self.pages}.json").write_text(json.dumps(self.page), "utf-8")
        self.page = []

    def finish(self) -> None:
        self._consume_all()
        if self.page or self.pages == 0:  # an empty catalogue is one page without datasets
            self._end_page()

    def _stop_pool(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    def close(self) -> None:
        self._stop_pool()
        _close_spools()


def _mp_context() -> multiprocessing.context.BaseContext:
    """forkserver where available: a plain fork would copy this process's threads' held
    locks (Airflow task processes and progress bars have threads)."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


# Worker side (also run in-process): per process, one append-only spool file per format.
_spools: dict[str, list[Any]] = {}
_made_dirs: set[str] = set()


def _prepare_chunk(job: _Job, items: list[FeedDataset]) -> list[Any]:
    out: list[Any] = []
    for ds in items:
        try:
            out.append(_prepare_one(job, ds))
        except FeedRecordError as err:
            out.append(err)
    for fh, _ in _spools.values():
        fh.flush()
    return out


def _prepare_one(job: _Job, ds: FeedDataset) -> tuple[str, list[str], int, list[tuple[str, int, int]]]:
    prepared = prepare_dataset(ds, job.base, rdfxml=job.rdfxml)
    frags = {ext: fragment(prepared.triples, ext) for ext in job.formats}
    ttl = frags["ttl"] if "ttl" in frags else fragment(prepared.triples, "ttl")
    doc_bytes = _write_dataset_doc(job, ds, dataset_document_bytes(job.base, ds, prepared.record_uri, ttl))
    spans = []
    for ext in job.formats:
        path = f"{job.tmp}/.spool/frag-{os.getpid()}.{ext}"
        spool = _spools.get(path)
        if spool is None:
            spool = _spools[path] = [open(path, "ab"), 0]
        spool[0].write(frags[ext])
        spans.append((path, spool[1], len(frags[ext])))
        spool[1] += len(frags[ext])
    return prepared.record_uri, prepared.warnings, doc_bytes, spans


def _close_spools() -> None:
    for fh, _ in _spools.values():
        fh.close()
    _spools.clear()
    _made_dirs.clear()


def _doc_folder(job: _Job, ds: FeedDataset, made: set[str]) -> str:
    folder = segment(ds.source_id)
    if folder not in made:
        (job.tmp / "dataset" / folder).mkdir(parents=True, exist_ok=True)
        made.add(folder)
    return folder


def _clash(ds: FeedDataset, name: str) -> FeedRecordError:
    return FeedRecordError(f"file name dataset/{name} is already used by another dataset in this feed "
                           "(ids differing only in case on a case-insensitive disk, or unsorted duplicates)",
                           source_id=ds.source_id, native_id=ds.native_id, field="native_id")


def _write_dataset_doc(job: _Job, ds: FeedDataset, data: bytes) -> int:
    """Write one dataset's document. Without a usable state, the previous feed's file is
    hard-linked when its bytes are identical: creating a file costs ~1 ms on this
    machine's disks, a link ~16 us. Files are never modified in place, so sharing an
    inode with the previous feed is safe."""
    name = f"{_doc_folder(job, ds, _made_dirs)}/{dataset_file_name(ds.native_id)}.ttl"
    target, previous = f"{job.tmp}/dataset/{name}", f"{job.out_dir}/dataset/{name}"
    if job.compare_previous and _same_bytes(previous, data):
        try:
            os.link(previous, target)
            return len(data)
        except FileExistsError:
            raise _clash(ds, name) from None
        except OSError:
            pass  # no hard links here (other file system, permissions): write a copy
    try:
        return _write(target, data)
    except FileExistsError:
        raise _clash(ds, name) from None


def _same_bytes(path: str, data: bytes) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        return os.read(fd, len(data) + 1) == data
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- pass 2


def _write_pages(job: _Job, prev: PreviousState | None, config: str, catalog: CatalogInfo,
                 sources: list[SourceInfo], c: _Counters, pages: int, page_size: int) -> None:
    """Every page in every format: hard-linked from the previous feed when its inputs are
    unchanged, else spliced from a fresh catalogue block and the datasets' fragments."""
    base = job.base
    header = catalog_triples(catalog, c.newest)
    for s in sources:
        header += source_catalog_triples(base, s, c.by_source.get(s.source_id))
    if c.quality:  # the DQV metrics the datasets' measurements refer to, once per page
        header += feed_dqv.metric_triples(base)
    page_key = hashlib.sha256(json.dumps([config, repr(catalog), [repr(s) for s in sources],
                                          sorted((k, repr(v)) for k, v in c.by_source.items()),
                                          str(c.newest), pages, c.datasets, page_size,
                                          c.quality]).encode()).hexdigest()
    state = StateWriter(job.tmp / STATE_FILE, config)
    reader = _Ranges()
    try:
        for n in range(1, pages + 1):
            entries = json.loads((job.tmp / ".spool" / f"page-{n}.json").read_text("utf-8"))
            inputs = json.dumps([page_key, n, [e[URI:SPANS] for e in entries]])
            digest = hashlib.sha256(inputs.encode()).hexdigest()[:32]
            if (prev is not None and prev.pages.get(n, ("",))[0] == digest
                    and all(e[PREV_PAGE] == n for e in entries) and _link_page(job, n)):
                spans = [e[PREV_SPANS] for e in entries]
            else:
                spans = _splice_page(job, n, entries, header, pages, page_size, c.datasets, reader)
            files = {}
            for ext in job.formats:
                st = os.stat(job.tmp / "catalog" / f"page-{n}.{ext}")
                files[ext] = [st.st_size, st.st_mtime_ns]
                c.bytes += st.st_size * (2 if n == 1 else 1)
                if n == 1:
                    _link_or_copy(job.tmp / "catalog" / f"page-1.{ext}", job.tmp / f"catalog.{ext}")
            state.page(n, digest, files)
            for e, sp in zip(entries, spans):
                state.dataset(e[SID], e[NID], StateEntry(e[DIGEST], n, e[REC], e[DOC], tuple(e[WARN]), tuple(sp)))
    finally:
        reader.close()
    state.close()


def _splice_page(job: _Job, n: int, entries: list[_Entry], header: list, pages: int, page_size: int,
                 total: int, reader: _Ranges) -> list[list[tuple[int, int]]]:
    """Write page ``n`` in every format; returns each entry's (offset, length) per format."""
    base = job.base
    links = link_triples(base, [(e[SID], e[URI], e[REC]) for e in entries])
    spans: list[list[tuple[int, int]]] = [[] for _ in entries]
    for k, ext in enumerate(job.formats):
        paging = hydra_triples(base, static_page_url(base), page=n, pages=pages, total=total,
                               page_size=page_size, ext=ext)
        block = serialize_inner(assemble_page(base, header + paging + links, []), ext)
        head, tail = ENVELOPES[ext]
        pos = len(head) + len(block)
        for e, sp in zip(entries, spans):
            sp.append((pos, e[SPANS][k][2]))
            pos += e[SPANS][k][2]
        _write(job.tmp / "catalog" / f"page-{n}.{ext}",
               b"".join([head, block, *reader.read([e[SPANS][k] for e in entries]), tail]))
    return spans


class _Ranges:
    """Reads fragments (file, offset, length) from spool and previous page files, one
    read per run of adjacent fragments, keeping a few files open."""

    def __init__(self) -> None:
        self.fds: dict[str, int] = {}

    def read(self, spans: list[list[Any]]) -> list[bytes]:
        runs: list[list[Any]] = []
        for path, off, n in spans:
            if runs and runs[-1][0] == path and runs[-1][1] + runs[-1][2] == off:
                runs[-1][2] += n
            else:
                runs.append([path, off, n])
        out = []
        for path, off, n in runs:
            data = os.pread(self._fd(path), n, off)
            if len(data) != n:
                raise FeedError(f"{path} is shorter than recorded ({off}+{n}); it changed during the run")
            out.append(data)
        return out

    def _fd(self, path: str) -> int:
        fd = self.fds.get(path)
        if fd is None:
            if len(self.fds) >= 32:
                self.close()
            fd = self.fds[path] = os.open(path, os.O_RDONLY)
        return fd

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()


def _link_page(job: _Job, n: int) -> bool:
    """Hard-link the previous feed's page ``n`` in every format (all or none)."""
    made = []
    try:
        for ext in job.formats:
            target = job.tmp / "catalog" / f"page-{n}.{ext}"
            os.link(job.out_dir / "catalog" / f"page-{n}.{ext}", target)
            made.append(target)
    except OSError:
        for t in made:
            t.unlink()
        return False
    return True


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _write(path: Path | str, data: bytes) -> int:
    """Create ``path`` (never overwrite: a clash means two datasets share a name)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    return len(data)


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
