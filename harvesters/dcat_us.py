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
import os
import re
from datetime import datetime, timezone
from typing import Any, Iterator

from pydantic import Field, field_validator

from harvesters.base import (FatalSourceError, Harvester, HarvesterOptions, HarvestWindow, Mode, RawRecord,
                             SkippableRecordError, register)
from harvesters.http import HttpClient, HttpConfig

log = logging.getLogger("citycat.harvesters.dcat_us")

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REPEATING = re.compile(r"^\s*(R\d*/|P(\d|T\d))", re.I)


def parse_modified(value: Any) -> datetime | None:
    """A ``modified`` date or date-time → aware UTC datetime; None for repeating intervals and junk.

    Date-only values are midnight UTC (DCAT-US gives no zone); naive date-times are UTC.
    """
    if not isinstance(value, str) or not value.strip() or _REPEATING.match(value):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@register
class DcatUsHarvester(Harvester):
    """Harvest one Project Open Data ``data.json`` (DCAT-US 1.1; POD 1.0 bare arrays are accepted too)."""

    kind = "dcat-us"
    cursor = "modified"
    paging = "none (one document)"

    class Options(HarvesterOptions):
        requests_per_second: float = Field(2, gt=0, le=100, description="Politeness limit for this host, "
                                                                        "shared process-wide.")
        timeout: float = Field(120, gt=0, le=900, description="Read timeout in seconds: a big ArcGIS Hub "
                                                              "data.json is generated on request and can be slow.")
        max_response_mb: int = Field(200, ge=1, le=2048, description="Largest accepted data.json, in MiB "
                                                                     "(large Hub sites serve 100+ MiB).")
        allow_redirect_hosts: list[str] = Field([], description="Other hosts the data.json URL may redirect "
                                                                "to (e.g. an agency moving it to a CDN).")
        api_key_env: str | None = Field(None, description="NAME of an environment variable holding a token "
                                                          "sent as the Authorization header (never the token).")

        @field_validator("api_key_env")
        @classmethod
        def _env_name(cls, value: str | None) -> str | None:
            if value is not None and not _ENV_NAME.match(value):
                raise ValueError("api_key_env must be the NAME of an environment variable, not the key itself")
            return value

    options: Options

    def __init__(self, source_id: str, url: str, options: HarvesterOptions, http: Any = None) -> None:
        """``http`` may be an :class:`HttpConfig` (base settings, e.g. fast retries in tests)."""
        super().__init__(source_id, url, options, http)
        self.undated = 0  # datasets kept in an incremental run because ``modified`` holds no date
        self._client: HttpClient | None = None

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            opts = self.options
            base = self.http if isinstance(self.http, HttpConfig) else HttpConfig()
            config = base.with_(read_timeout=opts.timeout, requests_per_second=opts.requests_per_second,
                                max_response_bytes=opts.max_response_mb * 1024 * 1024,
                                allow_redirect_hosts=base.allow_redirect_hosts | frozenset(opts.allow_redirect_hosts))
            key = None
            if opts.api_key_env:
                key = os.environ.get(opts.api_key_env)
                if not key:
                    raise self.error(FatalSourceError, f"environment variable {opts.api_key_env} (api_key_env) "
                                                       "is not set or empty", field="api_key_env")
            self._client = HttpClient(config, source_id=self.source_id, api_key=key)
        return self._client

    def records(self, window: HarvestWindow, mode: Mode) -> Iterator[RawRecord]:
        if mode == "replay":
            raise self.error(FatalSourceError, "replay mode re-reads the raw archive; the source is not contacted")
        bounds = None if mode == "full" or window.unbounded else window
        try:
            doc = self.client.get_json(self.url)
        finally:
            self.stats.requests = self._client.requests_sent if self._client else 0
        self.stats.pages = 1
        datasets = self._datasets(doc)
        fetched_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
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
        if not isinstance(doc, dict):
            raise self.error(FatalSourceError, f"{self.url} is not a data.json catalogue (a JSON "
                                               f"{type(doc).__name__})")
        datasets = doc.get("dataset")
        if not isinstance(datasets, list):
            keys = ", ".join(sorted(map(str, doc))[:8]) or "none"
            raise self.error(FatalSourceError, f"{self.url} has no 'dataset' list (top-level keys: {keys}); "
                                               "is this a data.json (DCAT-US) URL?", field="dataset")
        return datasets

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
            self.stats.skip("duplicate identifier")
            self.stats.errors.append(str(self.error(SkippableRecordError, f"{where}: identifier listed again; "
                                                    "the first dataset with it was kept", native_id=native_id,
                                                    field="identifier")))
            return None
        seen.add(native_id)
        modified = ds.get("modified")
        when = parse_modified(modified)
        if bounds is not None:
            if when is None:
                self.undated += 1
            elif (bounds.start and when < bounds.start) or (bounds.end and when >= bounds.end):
                self.stats.skip("outside window")
                return None
        return RawRecord(source_id=self.source_id, native_id=native_id, fetched_at=fetched_at,
                         media_type="application/json", payload=ds,
                         source_modified=modified if when is not None else None)

    def _skip(self, message: str, native_id: str | None, field: str) -> None:
        line = str(self.error(SkippableRecordError, message, native_id=native_id, field=field))
        self.stats.skip(f"no {field}" if field != "dataset" else "not an object")
        self.stats.errors.append(line)
        log.warning("%s", line)
        return None
