"""Pass 2 of the feed writer: every page in every format.

A page whose inputs (catalogue block, paging, its datasets' change keys) are unchanged is
hard-linked from the previous feed; any other is spliced from a freshly serialised catalogue
block and its datasets' fragments, read from the previous page files or pass 1's spool (one read
per run of adjacent fragments), so no unchanged dataset is serialised again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import msgspec

from publish import feed_dqv
from publish.feed_model import CatalogInfo, FeedError, PreviousState, SourceInfo, StateEntry, StateWriter
from publish.feed_pass1 import (DIGEST, DOC, NID, PREV_PAGE, PREV_SPANS, REC, SID, SPANS, URI, WARN, _Counters, _Entry,
                                 _Job)
from publish.feed_rdf import catalog_triples, hydra_triples, link_triples, source_catalog_triples, static_page_url
from publish.feed_splice import ENVELOPES, assemble_page, serialize_inner

STATE_FILE = ".feed-state.jsonl"


def _write_pages(job: _Job, prev: PreviousState | None, config: str, catalog: CatalogInfo,
                 sources: list[SourceInfo], c: _Counters, pages: int, page_size: int) -> None:
    """Every page in every format: hard-linked from the previous feed when its inputs are
    unchanged, else spliced from a fresh catalogue block and the datasets' fragments."""
    base = job.base
    headers = [catalog_triples(catalog, c.newest), catalog_triples(catalog, None)]
    for s in sources:
        headers[0] += source_catalog_triples(base, s, c.by_source.get(s.source_id))
        headers[1] += source_catalog_triples(base, s, None)
    if c.quality:  # the DQV metrics the datasets' measurements refer to, once per page
        metrics = feed_dqv.metric_triples(base)
        headers = [h + metrics for h in headers]
    # What a page's bytes depend on besides its datasets. Only page 1 (the entry point) carries the
    # dates of the catalogue and sub-catalogues (dct:modified: the newest last_changed), which move
    # on every run that changes anything: were they on every page, every page would be rewritten.
    common = [config, repr(catalog), [repr(s) for s in sources], pages, c.datasets, page_size, c.quality]
    keys = [hashlib.sha256(json.dumps(common + extra).encode()).hexdigest()
            for extra in ([sorted((k, repr(v)) for k, v in c.by_source.items()), str(c.newest)], [])]
    state = StateWriter(job.tmp / STATE_FILE, config)
    reader = _Ranges()
    try:
        for n in range(1, pages + 1):
            entries = msgspec.json.decode((job.tmp / ".spool" / f"page-{n}.json").read_bytes())
            header, page_key = (headers[0], keys[0]) if n == 1 else (headers[1], keys[1])
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
        fd = os.open(job.tmp / "catalog" / f"page-{n}.{ext}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            _write_all(fd, head + block)
            reader.copy([e[SPANS][k] for e in entries], fd)
            _write_all(fd, tail)
        finally:
            os.close(fd)
    return spans


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class _Ranges:
    """Reads fragments (file, offset, length) from spool and previous page files, one
    read per run of adjacent fragments, keeping a few files open."""

    def __init__(self) -> None:
        self.fds: dict[str, int] = {}
        self.kernel_copy = hasattr(os, "copy_file_range")

    def copy(self, spans: list[list[Any]], out: int) -> None:
        """Append the fragments at ``spans`` to the file ``out``, in order. ``copy_file_range``
        copies inside the kernel: most of a re-publish is copying unchanged fragments into the
        pages that must be rewritten, and this spares two copies through Python bytes."""
        runs: list[list[Any]] = []
        for path, off, n in spans:
            if runs and runs[-1][0] == path and runs[-1][1] + runs[-1][2] == off:
                runs[-1][2] += n
            else:
                runs.append([path, off, n])
        for path, off, n in runs:
            src, end = self._fd(path), off + n
            while off < end:
                done = 0
                if self.kernel_copy:
                    try:
                        done = os.copy_file_range(src, out, end - off, off)
                    except OSError:  # another file system, an old kernel: copy through user space
                        self.kernel_copy = False
                if not self.kernel_copy:
                    data = os.pread(src, min(end - off, 1 << 24), off)
                    _write_all(out, data)
                    done = len(data)
                if done == 0:
                    raise FeedError(f"{path} is shorter than recorded ({off}+{n}); it changed during the run")
                off += done

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
