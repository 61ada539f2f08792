"""Socrata harvester (``kind: socrata``): the Discovery (catalog) API, optionally with per-view metadata.

Listing: ``GET <catalog_url>?domains=<domain>&limit=..&offset=..`` (``/api/catalog/v1`` on the portal by
default, or ``https://api.us.socrata.com/api/catalog/v1`` across domains), ordered by ``updatedAt`` so
offsets stay stable while the portal changes, or ``paging: scroll`` (``scroll_id`` = id of the last entry
of the previous page, ordered by id) for catalogues deeper than the offset window. Repeated offsets,
repeated pages and repeated scroll ids end the run with :class:`FatalSourceError`.

Derived views (charts, maps, filtered views, data lenses: ``resource.type`` in ``derived_types``) are how
the portal *presents* a dataset, not datasets of their own. They are never yielded as records: each one
whose parent (``resource.parent_fxf``) is a harvested dataset travels inside the parent's raw record
(``payload["derived"]``) and becomes a distribution offered as ``visualisation``; one whose parent is not
in the listing (private, deleted, another domain) is counted in ``stats.skipped["derived view without
harvested parent"]``. Other asset types (stories, forms, measures...) are counted by type. Because a
parent needs its children, the listing is read completely before the first record is yielded (catalogue
entries are small: about 3 kB each).

Incremental mode: the Discovery API has no modification-date filter, so the listing is complete and the
window is applied client-side on ``resource.updatedAt``. A dataset is yielded when it *or one of its derived
views* changed in ``[start, end)`` (a new chart changes the parent's distributions).

Payload: the catalog entry exactly as served when there is nothing to add; otherwise
``{"discovery": <entry>, "view": <GET /api/views/<id>.json>, "derived": [<entries>]}`` (``view`` only with
``fetch_views``; a view answering 403/404 is reported and the record keeps its catalog entry).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timezone
from typing import Any, Iterator, Literal
from urllib.parse import quote, urlsplit

from pydantic import Field

from harvesters.base import (EnvVarName, FatalSourceError, HarvesterOptions, HarvestWindow, HttpOptions, Mode,
                             RawRecord, SkippableRecordError, now_iso, parse_utc, register)
from harvesters.decode import require_list
from harvesters.http import HttpHarvester
from harvesters.paging import OffsetPaginator, TokenPaginator

log = logging.getLogger("citycat.harvesters.socrata")

_FOUR_BY_FOUR = re.compile(r"^[a-z0-9]{4}-[a-z0-9]{4}$")
DERIVED_TYPES = ["chart", "map", "filter", "datalens", "datalens_chart", "datalens_map", "visualization", "calendar"]


def parse_socrata_time(value: Any) -> datetime | None:
    """Discovery ISO strings (``2015-06-03T16:56:08.000Z``) and views-API epoch seconds → aware UTC."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    return parse_utc(str(value))


@register
class SocrataHarvester(HttpHarvester):
    """Harvest one Socrata domain through the Discovery API (``/api/catalog/v1``)."""

    kind = "socrata"
    cursor = "resource.updatedAt"
    paging = "offset (limit/offset) or scroll_id"
    # Socrata identifies apps, not users, by a token in its own header; a wrong key name here
    # would be sent as Authorization and ignored, hence an option of its own.
    api_key_option = "app_token_env"
    api_key_header = "X-App-Token"
    not_resumable_because = ("the whole catalog listing is read before the first record is yielded (derived views "
                             "are attached to their parents), so there is no page boundary to resume at")

    class Options(HttpOptions):
        domain: str | None = Field(None, description="Socrata domain to list (the `domains` filter); default: "
                                                     "the host of the source url, e.g. data.seattle.gov.")
        catalog_url: str | None = Field(None, description="Discovery API endpoint; default <url>/api/catalog/v1 "
                                                          "(use https://api.us.socrata.com/api/catalog/v1 or the "
                                                          "api.eu host for the federated index).")
        only: list[str] | None = Field(None, description="Asset types to ask for (the `only` filter, e.g. "
                                                         "[dataset]); default all, so derived views can be "
                                                         "attached to their parents.")
        page_size: int = Field(100, ge=1, le=10000, description="Entries per Discovery API page (`limit`).")
        paging: Literal["offset", "scroll"] = Field("offset", description="offset = limit/offset ordered by "
                                                    "updatedAt; scroll = scroll_id paging ordered by id, for "
                                                    "catalogues deeper than the API's offset window.")
        fetch_views: bool = Field(False, description="Also GET /api/views/<id>.json per dataset for what the "
                                                     "catalog entry lacks (licence id and terms link, custom "
                                                     "fields, attachments, epoch timestamps). One request each.")
        dataset_types: list[str] = Field(["dataset", "file", "href"], min_length=1,
                                         description="resource.type values harvested as datasets.")
        derived_types: list[str] = Field(DERIVED_TYPES, description="resource.type values that are derived "
                                         "views: attached to their parent as visualisation distributions.")
        app_token_env: EnvVarName = Field(None, description="NAME of the environment variable holding a "
                                                            "Socrata app token (sent as X-App-Token).")

    options: Options

    def __init__(self, source_id: str, url: str, options: HarvesterOptions, http: Any = None) -> None:
        super().__init__(source_id, url, options, http)
        self.base = url.rstrip("/")
        self.domain = self.options.domain or urlsplit(url).hostname or ""
        self.catalog_url = self.options.catalog_url or f"{self.base}/api/catalog/v1"
        self.derived_attached = 0

    # -- the harvest -------------------------------------------------------------------

    def records(self, window: HarvestWindow, mode: Mode) -> Iterator[RawRecord]:
        bounds = self.bounds(window, mode)
        try:
            entries, listed_all = self._listing()
            yield from self._records(entries, bounds)
        finally:
            self.count_requests()
        self.stats.complete_listing = mode == "full" and listed_all

    def _page(self, params: dict[str, Any]) -> tuple[list[Any], int | None]:
        params = {"domains": self.domain, **({"only": ",".join(self.options.only)} if self.options.only else {}),
                  **params}
        doc = self.client.get_json(self.catalog_url, params=params)
        results = require_list(doc, "results", where=self.catalog_url, source_id=self.source_id,
                               hint="is this the Socrata Discovery API (/api/catalog/v1)?")
        self.stats.pages += 1
        total = doc.get("resultSetSize")
        return results, total if isinstance(total, int) and not isinstance(total, bool) else None

    def _listing(self) -> tuple[list[dict[str, Any]], bool]:
        """Every catalog entry, in listing order, and whether the listing is known to be complete."""
        size = self.options.page_size
        entries: list[dict[str, Any]] = []
        total: int | None = None
        if self.options.paging == "scroll":
            tokens = TokenPaginator(source_id=self.source_id)
            for req in tokens:
                page, total = self._page({"limit": size, "order": "id", **({"scroll_id": req.token} if req.token
                                                                           else {})})
                ids = [_entry_id(e) for e in page]
                if page and ids[-1] is None:
                    raise self.error(FatalSourceError, "a scroll page ended with an entry without resource.id; "
                                                       "cannot continue scrolling", field="resource.id")
                tokens.feed(ids[-1] if len(page) == size else None)
                entries.extend(page)
            done = tokens.done
        else:
            pager = OffsetPaginator(size, source_id=self.source_id)
            for req in pager:
                page, total = self._page({"limit": req.limit, "offset": req.offset, "order": "updatedAt"})
                pager.feed([_entry_id(e) or repr(e)[:80] for e in page], total=total)
                entries.extend(page)
            done = pager.done
        complete = self.fully_listed(done, len(entries), total, "catalog entries")  # resultSetSize is the count
        return [e for e in entries if self._usable(e)], complete and not self.stats.errors

    def _usable(self, entry: Any) -> bool:
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            self._report("catalog entry without a 'resource' object", None, "resource")
            return False
        if not _entry_id(entry):
            self._report(f"catalog entry without a 4x4 resource.id (name={str(entry['resource'].get('name'))[:80]!r})",
                         None, "resource.id")
            return False
        return True

    def _records(self, entries: list[dict[str, Any]], bounds: HarvestWindow | None) -> Iterator[RawRecord]:
        opts = self.options
        datasets: dict[str, dict[str, Any]] = {}
        derived: list[dict[str, Any]] = []
        for e in entries:
            rtype = str(e["resource"].get("type") or "dataset")
            native_id = _entry_id(e)
            if rtype in opts.dataset_types:
                if native_id in datasets:
                    self.stats.skip("duplicate")
                    continue
                datasets[native_id] = e
            elif rtype in opts.derived_types:
                derived.append(e)
            else:
                self.stats.skip(f"type:{rtype}")
        children: dict[str, list[dict[str, Any]]] = {}
        for d in derived:
            parents = [p for p in (d["resource"].get("parent_fxf") or []) if p in datasets]
            if not parents:
                self.stats.skip("derived view without harvested parent")
                continue
            children.setdefault(parents[0], []).append(d)
            self.derived_attached += 1
        fetched_at = now_iso()
        for native_id, entry in datasets.items():
            kids = sorted(children.get(native_id, []), key=_entry_id)  # stable whatever the listing order
            stamps = [s for s in (parse_socrata_time(x["resource"].get("updatedAt")) for x in [entry, *kids]) if s]
            latest = max(stamps) if stamps else None
            # In the window when the dataset or any of its derived views changed in it.
            changed = next((s for s in stamps if bounds is None or bounds.contains(s)), latest)
            if self.outside(bounds, changed):
                continue
            payload: Any = entry
            view = self._view(native_id) if opts.fetch_views else None
            if view is not None or kids:
                payload = {"discovery": entry, **({"view": view} if view is not None else {}), "derived": kids}
            yield RawRecord(source_id=self.source_id, native_id=native_id, fetched_at=fetched_at,
                            media_type="application/json", payload=payload,
                            source_modified=latest.isoformat() if latest else None)

    def _view(self, native_id: str) -> dict[str, Any] | None:
        url = f"{self.base}/api/views/{quote(native_id)}.json"
        resp = self.client.request("GET", url, expect_json=True)
        if resp.status_code in (401, 403, 404, 410):
            self.stats.skip(f"view HTTP {resp.status_code}")
            log.warning("%s", self.error(SkippableRecordError, f"{url} answered HTTP {resp.status_code}; the catalog "
                                                               "entry alone is mapped", native_id=native_id))
            return None
        if resp.status_code >= 400:
            raise self.error(FatalSourceError, f"{url} answered HTTP {resp.status_code}", native_id=native_id)
        try:
            view = resp.json()
        except ValueError as exc:
            raise self.error(FatalSourceError, f"{url} served malformed JSON ({exc})", native_id=native_id) from None
        return view if isinstance(view, dict) else None

    def _report(self, message: str, native_id: str | None, field: str) -> None:
        self.report(message, native_id=native_id, field=field, reason=f"no {field}")


def _entry_id(entry: Any) -> str | None:
    res = entry.get("resource") if isinstance(entry, dict) else None
    rid = res.get("id") if isinstance(res, dict) else None
    return rid.strip() if isinstance(rid, str) and _FOUR_BY_FOUR.match(rid.strip()) else None
