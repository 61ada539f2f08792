"""Pass 1 of the feed writer: stream the datasets, reuse the unchanged, prepare the others.

Each dataset whose change key (:func:`publish.feed_model.dataset_digest`) matches the previous
feed's state is reused: its document is hard-linked and its page fragments are pointed at in the
previous page files, without touching its graph. The others are prepared (parsed, checked,
serialised once per format) in chunks, in worker processes once there are enough of them to repay
starting the workers (parse + serialise is CPU-bound). A lazy dataset's graph is fetched from the
inventory (the writer's ``fetch`` callback, one query per chunk) and inflated in the worker only
when it has to be prepared. Each page's entries are spooled as JSON for pass 2
(:mod:`publish.feed_pages`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import zlib
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable

import msgspec

from publish import feed_dqv
from publish.feed_lazy import resolve
from publish.feed_model import (MAX_KEPT_ERRORS, FeedDataset, FeedRecordError, PreviousState, StateEntry,
                                dataset_digest)
from publish.feed_rdf import SourceStats, prepare_dataset, segment
from publish.feed_splice import dataset_document_bytes, fragment

log = logging.getLogger("publish.feed")

# A file name is at most 255 bytes on common file systems; percent-encoding triples
# the length of non-ASCII ids, so long ids are cut and made unique with a hash.
_MAX_NAME = 200
_CHUNK = 50  # changed datasets handed to a worker at a time
_POOL_AFTER = 1_000  # changed datasets prepared in-process before workers are started

# ref -> the stored zlib-compressed graph of each ref asked for (inventory.feed_source)
Fetch = Callable[[list[Any]], dict[Any, bytes]]


def _encode(value: Any) -> bytes:
    """JSON via msgspec (~5x json's speed); json for what msgspec refuses (lone surrogates)."""
    try:
        return msgspec.json.encode(value)
    except (msgspec.EncodeError, UnicodeEncodeError):
        return json.dumps(value).encode()


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


# --------------------------------------------------------------------------- pass 1


class _Pass1:
    """Streams the datasets: reuses unchanged ones, prepares the others (in chunks, in
    worker processes once there are many), and notes each page's entries in order."""

    def __init__(self, job: _Job, prev: PreviousState | None, c: _Counters, page_size: int, workers: int,
                 fetch: Fetch | None = None) -> None:
        self.job, self.prev, self.c, self.page_size, self.workers = job, prev, c, page_size, workers
        self.fetch = fetch
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
        self.page_files: dict[int, list[str]] = {}
        self.old_docs, self.new_docs = f"{job.out_dir}/dataset/", f"{job.tmp}/dataset/"
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
        if not self.c.quality and (ds.quality is not None or (ds.nt and feed_dqv.MARKER in ds.nt)):
            self.c.quality = True  # define the metrics
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
            os.link(f"{self.old_docs}{name}", f"{self.new_docs}{name}")
        except FileExistsError:
            return _clash(ds, name)
        except OSError:
            return None  # gone, or no hard links here: prepare it afresh
        files = self.page_files.get(entry.page)
        if files is None:
            page_file = f"{self.job.out_dir}/catalog/page-{entry.page}"
            files = self.page_files[entry.page] = [f"{page_file}.{ext}" for ext in self.job.formats]
        spans = [(f, off, n) for f, (off, n) in zip(files, entry.spans)]
        return (entry.record_uri, list(entry.warnings), entry.doc_bytes, spans)

    def _submit(self) -> None:
        if not self.chunk:
            return
        self._fetch()
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

    def _fetch(self) -> None:
        """Load the stored graphs of the lazy datasets of the chunk that must be prepared."""
        need = [item for item in self.chunk
                if item[3] is None and item[0].lazy and item[0].nt_zlib is None and item[0].ref is not None]
        if not need or self.fetch is None:
            return
        got = self.fetch([item[0].ref for item in need])
        for item in need:
            data = got.get(item[0].ref)
            if data is not None:
                item[0] = replace(item[0], nt_zlib=data)

    def _consume(self, chunk: list[list], future: Future) -> None:
        results = iter(future.result())
        for ds, digest, entry, outcome in chunk:
            # its previous page may be linked only if its fragments were taken from that page's
            # files as recorded (_reuse checked them), not merely because its digest is the same
            same = outcome is not None
            if outcome is None:
                outcome = next(results)
            if isinstance(outcome, FeedRecordError):
                self.c.skip(outcome)
                continue
            record, warnings, doc_bytes, spans = outcome
            self.c.bytes += doc_bytes
            self.c.count(ds, warnings)
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
        (self.job.tmp / ".spool" / f"page-{self.pages}.json").write_bytes(_encode(self.page))
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
    from citycat.procs import mp_context

    return mp_context()


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
    try:
        ds = resolve(ds, job.base)
    except (zlib.error, UnicodeDecodeError) as exc:
        raise FeedRecordError(f"stored graph cannot be read: {exc}", source_id=ds.source_id,
                              native_id=ds.native_id, field="nt") from None
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
