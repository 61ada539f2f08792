"""Catalogue pages and dataset documents rendered from the inventory, and their caches.

The graph-building is :mod:`publish.feed_rdf`'s (the static feed's): the same catalogue
block, sub-catalogues, Hydra links and spliced dataset fragments, so a page served here is
what the static writer would have written for the same datasets, with ``?page=n`` URLs.

Why caches, and which: a page of 100 datasets costs ~30-60 ms to render (decompress, parse
and serialise 100 graphs), far from the 300 pages/s the service must serve. Rendered pages
are kept, whole and pre-gzipped, in a byte-bounded LRU keyed by (inventory state, view,
page, format, link form), so memory stays flat under load and any load that changes the
inventory changes the state and so every key. The state itself is one aggregate query,
re-read at most once per ``state_ttl`` seconds; view summaries (page boundaries for keyset
paging) are cached by state too. Dataset fragments are cached by content, so a dataset
shown in several views (filtered, other page sizes) is parsed once.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from collections import OrderedDict
from typing import Any, Hashable

from sqlalchemy import Engine

from inventory.queries import (InventoryState, ViewFilter, ViewSummary, dataset_by_key, inventory_state, page_rows,
                               view_summary)
from publish.feed_model import CatalogInfo, FeedDataset, FeedRecordError, SourceInfo
from publish.feed_rdf import (FORMATS, SourceStats, catalog_triples, dataset_document, hydra_triples, link_triples,
    prepare_dataset, serialize, source_catalog_triples, source_catalog_uri)
from publish.feed_splice import assemble_page, fragment, page_document, serialize_inner
from publish.server_http import Body, weak_etag

log = logging.getLogger(__name__)


class LRU:
    """A thread-safe LRU bounded by total ``size`` of its values (``len`` when they have none)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes, self.bytes = max_bytes, 0
        self._d: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable) -> Any:
        with self._lock:
            item = self._d.get(key)
            if item is None:
                self.misses += 1
                return None
            self._d.move_to_end(key)
            self.hits += 1
            return item[0]

    def put(self, key: Hashable, value: Any, size: int) -> None:
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._d.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            self._d[key] = (value, size)
            self.bytes += size
            while self.bytes > self.max_bytes and self._d:
                _, (_, n) = self._d.popitem(last=False)
                self.bytes -= n

    def __len__(self) -> int:
        return len(self._d)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._d


class Renderer:
    """Everything the routes render, over one inventory engine and one catalogue config."""

    def __init__(self, engine: Engine, catalog: CatalogInfo, sources: list[SourceInfo], *,
                 state_ttl: float = 1.0, page_cache_bytes: int = 64 << 20, fragment_cache_bytes: int = 32 << 20) -> None:
        self.engine, self.catalog, self.sources = engine, catalog, list(sources)
        self.base = catalog.base_uri.rstrip("/")
        self.by_id = {s.source_id: s for s in self.sources}
        self.state_ttl = state_ttl
        self._state: tuple[float, InventoryState] | None = None
        self._state_lock = threading.Lock()
        self.pages = LRU(page_cache_bytes)
        self.fragments = LRU(fragment_cache_bytes)
        self.summaries = LRU(4 << 20)
        self._render_locks: dict[Hashable, threading.Lock] = {}
        self._prefetching = threading.Lock()
        self._prefetcher = ThreadPoolExecutor(1, thread_name_prefix="citycat-prefetch")
        self._prefetched: set[tuple] = set()
        self._locks_lock = threading.Lock()

    # ------------------------------------------------------------------ state

    def state(self) -> InventoryState:
        """The inventory's fingerprint, re-read at most every ``state_ttl`` seconds.

        One request re-reads it; requests arriving meanwhile use the previous one rather than
        queue behind the query (a state at most ``state_ttl`` + a few ms old)."""
        cached = self._state
        if cached is not None and time.monotonic() - cached[0] < self.state_ttl:
            return cached[1]
        if not self._state_lock.acquire(blocking=cached is None):
            return cached[1]
        try:
            cached = self._state
            if cached is not None and time.monotonic() - cached[0] < self.state_ttl:
                return cached[1]
            state = inventory_state(self.engine)
            self._state = (time.monotonic(), state)
            return state
        finally:
            self._state_lock.release()

    def cached_state(self) -> InventoryState | None:
        """The state if it is fresh, without touching the database (the async fast path)."""
        cached = self._state
        if cached is not None and time.monotonic() - cached[0] < self.state_ttl:
            return cached[1]
        return None

    def summary(self, view: ViewFilter, page_size: int, state: InventoryState) -> ViewSummary:
        key = (state.token, view, page_size)
        found = self.summaries.get(key)
        if found is None:
            found = view_summary(self.engine, view, page_size)
            self.summaries.put(key, found, 64 + 8 * len(found.starts) + 64 * len(found.sources))
        return found

    # ------------------------------------------------------------------ pages

    def page_key(self, state: InventoryState, view: ViewFilter, page: int, page_size: int, ext: str,
                 template: str) -> tuple:
        return ("page", state.token, view, page, page_size, ext, template)

    def catalog_page(self, state: InventoryState, view: ViewFilter, page: int, page_size: int, ext: str,
                     template: str, *, prefetch: bool = True) -> Body:
        """Page ``page`` of ``view`` in ``ext``; ``template`` is this page's URL with ``{n}``
        where the page number goes (the Hydra links keep the request's form and filters)."""
        key = self.page_key(state, view, page, page_size, ext, template)
        body = self.pages.get(key)
        if body is not None:
            self.hit(key)
            return body
        with self._lock_for(key):  # a burst of misses for one page renders it once
            body = self.pages.get(key)
            if body is None:
                body = self._render_page(state, view, page, page_size, ext, template)
                self.pages.put(key, body, body.size)
                if prefetch:
                    self._prefetch(state, view, page + 1, page_size, ext, template)
        return body

    def _prefetch(self, state: InventoryState, view: ViewFilter, page: int, page_size: int, ext: str,
                  template: str) -> None:
        """A miss on page n is usually a harvester walking the pages: render page n+1 in the
        background while it parses page n, so its next request is a hit; a hit on a
        prefetched page prefetches the one after (:meth:`hit`), so the walk stays one page
        ahead. At most one prefetch runs at a time; none starts while another runs."""
        key = self.page_key(state, view, page, page_size, ext, template)
        if page > self.summary(view, page_size, state).pages or key in self.pages:
            return
        if not self._prefetching.acquire(blocking=False):
            return

        def run() -> None:
            try:
                self.catalog_page(state, view, page, page_size, ext, template, prefetch=False)
                with self._locks_lock:
                    self._prefetched.add(key)
                    if len(self._prefetched) > 256:
                        self._prefetched.clear()
            except Exception as exc:  # noqa: BLE001 - a failed prefetch is only a lost optimisation
                log.debug("serve: prefetch of page %d failed: %s", page, exc)
            finally:
                self._prefetching.release()

        self._prefetcher.submit(run)

    def hit(self, key: tuple) -> None:
        """A cached page was served: if we had prefetched it, a walk is on; fetch the next."""
        if key not in self._prefetched:
            return
        with self._locks_lock:
            self._prefetched.discard(key)
        _, _, view, page, page_size, ext, template = key
        state = self.cached_state()
        # only with the view's summary at hand: this runs on the event loop, which must not query
        if state is not None and state.token == key[1] and (state.token, view, page_size) in self.summaries:
            self._prefetch(state, view, page + 1, page_size, ext, template)

    def _lock_for(self, key: Hashable) -> threading.Lock:
        with self._locks_lock:
            if len(self._render_locks) > 1024:
                self._render_locks = {k: v for k, v in self._render_locks.items() if v.locked()}
            return self._render_locks.setdefault(key, threading.Lock())

    def _render_page(self, state: InventoryState, view: ViewFilter, page: int, page_size: int, ext: str,
                     template: str) -> Body:
        summary = self.summary(view, page_size, state)
        rows = page_rows(self.engine, view, summary.starts[page - 1], page_size) if summary.starts else []
        frags, links = [], []
        for r in rows:
            ds = _feed_dataset(r)
            got = self._fragment(ds, ext)
            if got is None:
                continue
            frag, record = got
            frags.append(frag)
            links.append((ds.source_id, ds.uri, record))
        header = catalog_triples(self.catalog, summary.modified)
        for info, stats in self._sub_catalogues(view, summary):
            header += source_catalog_triples(self.base, info, stats)
        paging = hydra_triples(self.base, lambda n, _ext: template.replace("{n}", str(n)), page=page,
                               pages=summary.pages, total=summary.total, page_size=page_size, ext=ext)
        block = serialize_inner(assemble_page(self.base, header + paging + link_triples(self.base, links), []), ext)
        data = page_document(ext, block, frags)
        etag = weak_etag(state.token, repr(view), page, page_size, ext, template)
        # Last-Modified is the whole inventory's: a withdrawal changes a view without moving
        # the newest last_changed of the datasets still in it
        return Body.make(data, FORMATS[ext][1], etag, state.modified)

    def _sub_catalogues(self, view: ViewFilter, summary: ViewSummary) -> list[tuple[SourceInfo, SourceStats | None]]:
        """Every configured source for the whole catalogue (as the static feed); for a filtered
        view, the sources it shows plus those asked for by name."""
        stats = {s.source_id: SourceStats(s.datasets, s.last_changed) for s in summary.sources}
        unfiltered = view == ViewFilter()
        wanted = set(stats) | set(view.sources or ())
        out = [(s, stats.get(s.source_id)) for s in self.sources if unfiltered or s.source_id in wanted]
        configured = {s.source_id for s in self.sources}
        out += [(self._unconfigured(sid), stats[sid]) for sid in sorted(stats) if sid not in configured]
        return out

    def _unconfigured(self, source_id: str) -> SourceInfo:
        """A source still in the inventory but gone from sources.yaml: described minimally."""
        return SourceInfo(source_id=source_id, title=source_id, url=source_catalog_uri(self.base, source_id),
                          institution_name=self.catalog.publisher_name, institution_uri=self.catalog.publisher_uri)

    def _fragment(self, ds: FeedDataset, ext: str) -> tuple[bytes, str] | None:
        key = ("frag", ds.uri, ds.content_hash, ds.first_seen, ds.last_changed, ext)
        got = self.fragments.get(key)
        if got is not None:
            return got
        try:
            prepared = prepare_dataset(ds, self.base, rdfxml=ext == "rdf")
        except FeedRecordError as err:
            log.warning("serve: left out of the page: %s", err)
            return None
        got = (fragment(prepared.triples, ext), prepared.record_uri)
        self.fragments.put(key, got, len(got[0]) + 200)
        return got

    # ------------------------------------------------------------------ datasets

    def dataset(self, source_id: str, native_id: str) -> dict[str, Any] | None:
        return dataset_by_key(self.engine, source_id, native_id)

    def dataset_body(self, row: dict[str, Any], ext: str) -> Body:
        """A dataset's own document: its graph, the record's dates and links to its catalogues."""
        ds = _feed_dataset(row)
        key = ("doc", ds.uri, ds.content_hash, ds.first_seen, ds.last_changed, ext)
        body = self.pages.get(key)
        if body is None:
            prepared = prepare_dataset(ds, self.base, rdfxml=ext == "rdf")
            data = serialize(dataset_document(self.base, ds, prepared), ext)
            body = Body.make(data, FORMATS[ext][1], weak_etag(*key), ds.last_changed)
            self.pages.put(key, body, body.size)
        return body

    def stats(self) -> dict[str, Any]:
        return {"page_cache": {"entries": len(self.pages), "bytes": self.pages.bytes, "hits": self.pages.hits,
                               "misses": self.pages.misses},
                "fragment_cache": {"entries": len(self.fragments), "bytes": self.fragments.bytes}}


def _feed_dataset(r: dict[str, Any]) -> FeedDataset:
    return FeedDataset(source_id=r["source_id"], native_id=r["native_id"], uri=r["uri"] or "", nt=r["nt"] or "",
                       first_seen=r["first_seen"], last_changed=r["last_changed"], content_hash=r["content_hash"])

