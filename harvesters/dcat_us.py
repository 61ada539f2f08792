"""Project Open Data ``data.json`` harvester (``kind: dcat-us``, DCAT-US 1.1).

A ``data.json`` is one document holding the whole catalogue: ArcGIS Hub (``/data.json``,
``/api/feed/dcat-us/1.1.json``), Socrata (``/data.json``) and US agencies serve it that way. There is
no paging and no server-side filter, so every run fetches the full document, and ``complete_listing``
is true whenever it parsed (full mode). The one "repeat" a single document can show is a redirect
loop, which the HTTP client ends with a :class:`FatalSourceError` after ``max_redirects``.

Incremental mode filters client-side on each dataset's ``modified``: kept when it falls in the
half-open window. DCAT-US allows ``modified`` to be an ISO 8601 repeating interval (``R/P1W`` =
"updated weekly"); such a dataset has no modification date, so it cannot be placed outside any
window and is **always included** in incremental runs. Those are counted in :attr:`undated` and logged.

One raw record per dataset: the dataset's JSON object as served, ``native_id`` its ``identifier`` with
surrounding whitespace trimmed. Identifiers are kept otherwise verbatim (spaces and URLs are real):
they only ever appear percent-encoded in URIs and file names (``transforms.uris.encode_part``), so they
are safe as they are. A dataset without an identifier or title cannot have an identity and is
reported as a skippable record error; a repeated identifier keeps its first dataset and reports the rest.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any, Iterator

from pydantic import Field

from harvesters.base import (ApiKeyOptions, HarvesterOptions, HarvestWindow, Mode, RawRecord,
                             now_iso, parse_utc, register)
from harvesters.decode import require_list
from harvesters.http import HttpHarvester

log = logging.getLogger("citycat.harvesters.dcat_us")

_REPEATING = re.compile(r"^\s*(R\d*/|P(\d|T\d))", re.I)


def parse_modified(value: Any) -> datetime | None:
    """A ``modified`` date or date-time → aware UTC datetime; None for repeating intervals and junk.

    Date-only values are midnight UTC (DCAT-US gives no zone); naive date-times are UTC.
    """
    if not isinstance(value, str) or _REPEATING.match(value):
        return None
    return parse_utc(value)


@register
class DcatUsHarvester(HttpHarvester):
    """Harvest one Project Open Data ``data.json`` (DCAT-US 1.1; POD 1.0 bare arrays are accepted too)."""

    kind = "dcat-us"
    cursor = "modified"
    paging = "none (one document)"
    not_resumable_because = "it reads one data.json document: there is no page to resume at"
    api_key_option = "api_key_env"

    class Options(ApiKeyOptions):
        timeout: float = Field(120, gt=0, le=900, description="Read timeout in seconds: a big ArcGIS Hub "
                                                              "data.json is generated on request and can be slow.")
        max_response_mb: int = Field(200, ge=1, le=2048, description="Largest accepted data.json, in MiB "
                                                                     "(large Hub sites serve 100+ MiB).")

    options: Options

    def __init__(self, source_id: str, url: str, options: HarvesterOptions, http: Any = None) -> None:
        super().__init__(source_id, url, options, http)
        self.undated = 0  # datasets kept in an incremental run because ``modified`` holds no date

    def records(self, window: HarvestWindow, mode: Mode) -> Iterator[RawRecord]:
        bounds = self.bounds(window, mode)
        try:
            doc = self.client.get_json(self.url)
        finally:
            self.count_requests()
        self.stats.pages = 1
        datasets = self._datasets(doc)
        fetched_at = now_iso()
        seen: set[str] = set()
        for i, ds in enumerate(datasets):
            record = self._record(i, ds, fetched_at, bounds, seen)
            if record is not None:
                yield record
        if bounds is not None and self.undated:
            log.info("%s: %d datasets have no date in 'modified' (e.g. R/P1W) and were included in the "
                     "incremental run", self.source_id, self.undated)
        self.stats.complete_listing = mode == "full"

    def _datasets(self, doc: Any) -> list[Any]:
        if isinstance(doc, list):  # POD 1.0: the file is the bare array of datasets
            return doc
        return require_list(doc, "dataset", where=self.url, hint="is this a data.json (DCAT-US) URL?",
                            source_id=self.source_id)

    def _record(self, i: int, ds: Any, fetched_at: str, bounds: HarvestWindow | None, seen: set[str]
                ) -> RawRecord | None:
        where = f"dataset[{i}]"
        if not isinstance(ds, dict):
            return self._skip(f"{where}: not a JSON object ({type(ds).__name__})", None, "dataset")
        raw_id = ds.get("identifier")
        native_id = str(raw_id).strip() if isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool) else ""
        if not native_id:
            return self._skip(f"{where}: no identifier (title={str(ds.get('title'))[:80]!r})", None, "identifier")
        title = ds.get("title")
        if not isinstance(title, str) or not title.strip():
            return self._skip(f"{where}: no title", native_id, "title")
        if native_id in seen:
            self.report(f"{where}: identifier listed again; the first dataset with it was kept", native_id=native_id,
                        field="identifier", reason="duplicate identifier")
            return None
        seen.add(native_id)
        modified = ds.get("modified")
        when = parse_modified(modified)
        if bounds is not None and when is None:
            self.undated += 1
        if self.outside(bounds, when):
            return None
        return RawRecord(source_id=self.source_id, native_id=native_id, fetched_at=fetched_at,
                         media_type="application/json", payload=ds,
                         source_modified=modified if when is not None else None)

    def _skip(self, message: str, native_id: str | None, field: str) -> None:
        self.report(message, native_id=native_id, field=field,
                    reason=f"no {field}" if field != "dataset" else "not an object")
