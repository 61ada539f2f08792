"""The static DCAT-AP 3 feed: paged catalogue files, one document per dataset, a manifest.

Layout and URLs are documented in docs/feed.md. The writer is split by pass: this module (the
entry point, the swap, ``index.json``), :mod:`publish.feed_pass1` (streaming and preparing the
datasets) and :mod:`publish.feed_pages` (the pages). Five decisions shape it:

* **Datasets are serialised once, when they change.** Each dataset is parsed once and
  written as its own document plus one *fragment* per page format; pages are spliced
  from a catalogue block and the fragments (:mod:`publish.feed_splice`). A state file in
  the feed records each dataset's digest and where its fragments sit in the page
  files, so the next run links unchanged documents, copies unchanged fragments byte
  for byte and hard-links pages whose inputs are all unchanged. Output bytes depend
  only on the inventory's content (the catalogue's ``dct:modified`` is the newest
  ``last_changed``), so an incremental write equals a full one.
* **Unchanged datasets are not read.** Lazy datasets (``FeedDataset.lazy``, from
  :mod:`publish.feed_publish`) carry their change key but not their graph; the writer
  fetches and inflates a graph only when it has to prepare the dataset.
* **Only the entry point carries the catalogue's dates.** ``dct:modified`` of the catalogue
  and sub-catalogues moves on every run that changes anything; on page 1 only, a change
  rewrites page 1 and the pages holding changed datasets, not every page.
* **Two passes.** Page 1 must name the last page and the total, which a stream only
  knows at its end: pass 1 streams the datasets once (documents written, fragments
  spooled, page contents noted in a scratch file), pass 2 writes every page. Memory
  holds one page. Changed datasets are prepared in worker processes once a run has
  enough of them to repay starting the workers (parse + serialise is CPU-bound).
* **Atomic publication.** Everything is written to a sibling temp directory which is
  swapped with ``out_dir`` at the end (``renameat2(RENAME_EXCHANGE)`` where the kernel
  has it), so a reader sees the old feed or the new one, never a mix, and a failure
  leaves the old feed in place. The previous feed is deleted in the background.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import uuid
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Iterable

import pyoxigraph as ox

from publish import swap
from publish.feed_model import CatalogInfo, FeedDataset, FeedResult, PreviousState, SourceInfo
from publish.feed_pages import STATE_FILE, _write_pages
from publish.feed_pass1 import Fetch, _Counters, _Job, _Pass1, dataset_file_name  # noqa: F401 (re-exported)
from publish.feed_rdf import FORMATS, PREFIXES, catalog_uri, dt_literal, segment, source_catalog_uri
from publish.feed_splice import ENVELOPES

log = logging.getLogger(__name__)

DEFAULT_FORMATS: tuple[str, ...] = ("ttl", "nt", "rdf", "jsonld")
_MAX_WORKERS = 4


def write_feed(datasets: Iterable[FeedDataset], out_dir: Path, *, catalog: CatalogInfo,
               sources: list[SourceInfo], page_size: int = 100,
               formats: tuple[str, ...] = DEFAULT_FORMATS, total: int | None = None,
               generated_at: datetime, workers: int | None = None, incremental: bool = True,
               fetch: Fetch | None = None) -> FeedResult:
    """Write the whole feed for ``datasets`` (ordered by source id, native id) to ``out_dir``.

    ``total`` is optional and only cross-checked (a mismatch is logged): the writer
    counts while streaming, so the feed is consistent with what it was given even if
    the inventory changed between counting and reading. A bad dataset is skipped,
    logged and reported in the result; any other failure raises and leaves the
    previous feed untouched. ``generated_at`` is recorded in ``index.json`` only.
    ``workers``: processes preparing changed datasets (default: one per core, at most
    4; 1 = in-process). ``incremental=False`` ignores the previous feed's state.

    ``fetch(refs) -> {ref: zlib-compressed N-Triples}`` loads the graphs of lazy datasets
    (``FeedDataset.lazy`` with only ``ref``) that have to be prepared after all.

    The previous feed is deleted in a background thread after the swap (100,000 hard links
    to unlink take seconds); :func:`wait_for_cleanup` waits for it, and the next write to the
    same folder does so before it starts.
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
    wait_for_cleanup()

    with swap.writer_lock(out_dir):
        tmp = out_dir.parent / f".{out_dir.name}.new-{uuid.uuid4().hex[:12]}"
        config = _config_digest(base, tuple(formats))
        prev = PreviousState.open(out_dir / STATE_FILE, config) if incremental else None
        job = _Job(tmp, out_dir, base, tuple(formats), "rdf" in formats, prev is None)
        try:
            result = _write_all(datasets, job, prev, config, catalog, sources, page_size, total, generated_at, workers,
                                fetch)
            _swap_in(tmp, out_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return result


def _config_digest(base: str, formats: tuple[str, ...]) -> str:
    """What every dataset's bytes depend on besides the dataset: a change rewrites all."""
    text = json.dumps([base, formats, ox.__version__, PREFIXES, {k: [v.decode() for v in ENVELOPES[k]]
                                                                  for k in formats}])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _write_all(datasets: Iterable[FeedDataset], job: _Job, prev: PreviousState | None, config: str,
               catalog: CatalogInfo, sources: list[SourceInfo], page_size: int, total: int | None,
               generated_at: datetime, workers: int, fetch: Fetch | None) -> FeedResult:
    (job.tmp / ".spool").mkdir(parents=True)
    (job.tmp / "catalog").mkdir()
    c = _Counters()
    pass1 = _Pass1(job, prev, c, page_size, workers, fetch)
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


# --------------------------------------------------------------------------- swap


_cleanups: list[threading.Thread] = []


def _swap_in(tmp: Path, out_dir: Path) -> None:
    """Put ``tmp`` at ``out_dir`` atomically (publish.swap) and delete the previous feed in the
    background: with most files hard-linked from it, deleting it is ~100,000 unlinks that the
    caller need not wait for. A non-daemon thread, so an exiting process still finishes it; a
    killed one leaves a ``.<name>.new-*`` folder that the next writer's lock removes."""
    if not out_dir.exists():
        os.rename(tmp, out_dir)
        return
    if swap.exchange(tmp, out_dir):
        old = tmp  # tmp now holds the previous feed
    else:  # two renames: a window of microseconds with no out_dir, never a half-written one
        old = out_dir.parent / f".{out_dir.name}.new-{uuid.uuid4().hex[:12]}-old"
        os.rename(out_dir, old)
        os.rename(tmp, out_dir)
    t = threading.Thread(target=shutil.rmtree, args=(old,), kwargs={"ignore_errors": True},
                         name=f"feed-cleanup-{old.name}")
    t.start()
    _cleanups.append(t)


def wait_for_cleanup() -> None:
    """Wait until the previous feeds replaced by this process are deleted."""
    while _cleanups:
        _cleanups.pop().join()


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
