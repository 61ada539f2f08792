"""OAI-PMH 2.0 harvester (``kind: oai-pmh``): university repositories, Zenodo, DSpace, pycsw.

One run is Identify (granularity, deletedRecord, earliestDatestamp) → ListMetadataFormats (is the
configured ``metadata_prefix`` offered?) → ListRecords paged by resumption token. Each ``<record>``
becomes one :class:`RawRecord` whose payload is the record element serialised as XML text (the same
infoset as served; namespace prefixes may be renamed by the serialiser), so the mapping can be
replayed from the archive without the repository.

Windows: :class:`HarvestWindow` is half-open ``[start, end)``; OAI's ``from``/``until`` are both
inclusive and have the repository's granularity. So the request is widened to whole units and every
record's datestamp is re-checked client-side (repositories do return records outside the asked range:
Zenodo sends a 2023 record for ``from=2026-04-01``), dropping and counting ``skipped["outside window"]``:

* seconds granularity: ``from`` = start floored to the second, ``until`` = end ceiled to the second;
* day granularity: a day datestamp ``D`` is read as ``D 00:00Z``, so a record belongs to the window that
  contains its midnight. ``from`` = the first midnight ≥ start, ``until`` = the last midnight < end. A
  window that contains no midnight asks nothing. Consecutive windows still partition the records.

Paging: resumption tokens through :class:`harvesters.paging.TokenPaginator` (a repeated token is a
loop → :class:`FatalSourceError`); an empty token, or pycsw's literal ``0``, ends the list; a page
whose ``cursor`` goes back (the server restarted the list) or that repeats an earlier page's
identifiers is a loop too. ``resend_prefix_with_token`` sends ``metadataPrefix`` with the token,
which the protocol forbids but pycsw requires.
"""

from __future__ import annotations

import hashlib
import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Iterator, Literal

import defusedxml
from defusedxml.ElementTree import fromstring as safe_fromstring
from pydantic import Field

from harvesters.base import (FatalSourceError, Harvester, HarvesterOptions, HarvestWindow, Mode, RawRecord,
                             SkippableRecordError, register)
from harvesters.http import HttpClient, HttpConfig
from harvesters.paging import TokenPaginator

log = logging.getLogger("citycat.harvesters.oai_pmh")

OAI = "http://www.openarchives.org/OAI/2.0/"
_O = "{" + OAI + "}"
DAY, SECONDS = "YYYY-MM-DD", "YYYY-MM-DDThh:mm:ssZ"
# Readable prefixes when records are re-serialised (otherwise ElementTree writes ns0:, ns1:...).
for _prefix, _uri in (("oai", OAI), ("oai_dc", "http://www.openarchives.org/OAI/2.0/oai_dc/"),
                      ("dc", "http://purl.org/dc/elements/1.1/"),
                      ("xsi", "http://www.w3.org/2001/XMLSchema-instance"),
                      ("oai_datacite", "http://schema.datacite.org/oai/oai-1.1/"),
                      ("datacite", "http://datacite.org/schema/kernel-4")):
    ET.register_namespace(_prefix, _uri)

# OAI error code → what to change. noRecordsMatch is not here: it means an empty list.
_FIXES = {
    "badResumptionToken": "the token expired or the server lost it; re-run the harvest (tokens often live "
                          "only minutes), or set resend_prefix_with_token if the server needs the prefix",
    "cannotDisseminateFormat": "set metadata_prefix to one of the formats ListMetadataFormats offers",
    "badArgument": "check set/metadata_prefix; if the server rejects from/until, set granularity: day; pycsw "
                   "needs resend_prefix_with_token: true",
    "badVerb": "the URL is probably not the repository's OAI-PMH base URL",
    "noSetHierarchy": "the repository has no sets: remove the set option",
    "noMetadataFormats": "the repository offers no metadata formats",
}


class OaiError(FatalSourceError):
    """The repository answered with an OAI-PMH ``<error>``; ``code`` is its error code."""

    def __init__(self, message: str, *, code: str, **where: Any) -> None:
        self.code = code
        super().__init__(message, **where)


@dataclass
class Repository:
    """What Identify said, as used by the harvest."""

    name: str = ""
    granularity: str = SECONDS
    deleted_record: str = "no"
    earliest: datetime | None = None
    formats: list[str] = field(default_factory=list)


def parse_datestamp(value: str | None) -> datetime | None:
    """OAI datestamp (day or seconds; naive = UTC) → aware datetime; day datestamps are midnight UTC."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), tzinfo=timezone.utc)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def oai_window(window: HarvestWindow, granularity: str) -> tuple[str | None, str | None] | None:
    """``(from, until)`` covering ``window`` at ``granularity`` (see module doc); None = nothing to ask."""
    start = window.start.astimezone(timezone.utc) if window.start else None
    end = window.end.astimezone(timezone.utc) if window.end else None
    if granularity == DAY:
        lo = hi = None
        if start is not None:
            first = datetime.combine(start.date(), time(), tzinfo=timezone.utc)
            lo = first if first >= start else first + timedelta(days=1)
        if end is not None:
            last = datetime.combine(end.date(), time(), tzinfo=timezone.utc)
            hi = last if last < end else last - timedelta(days=1)
        if lo is not None and hi is not None and lo > hi:
            return None
        return (lo.date().isoformat() if lo else None), (hi.date().isoformat() if hi else None)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    lo_s = start.replace(microsecond=0).strftime(fmt) if start else None
    if end is not None and end.microsecond:
        end = end.replace(microsecond=0) + timedelta(seconds=1)
    return lo_s, (end.strftime(fmt) if end else None)


@register
class OaiPmhHarvester(Harvester):
    """Harvest an OAI-PMH 2.0 repository with ListRecords."""

    kind = "oai-pmh"
    cursor = "datestamp"
    paging = "resumption-token"

    class Options(HarvesterOptions):
        metadata_prefix: str = Field("oai_dc", min_length=1, description="OAI metadataPrefix to harvest: "
                                     "oai_dc, oai_datacite or datacite (the mappings citycat has).")
        set: str | None = Field(None, description="OAI setSpec to harvest (e.g. Zenodo 'openaire_data'); "
                                                  "omitted = the whole repository.")
        resend_prefix_with_token: bool = Field(False, description="Send metadataPrefix again with each "
                                               "resumptionToken. Not allowed by OAI-PMH, but pycsw needs it.")
        granularity: Literal["auto", "day", "seconds"] = Field("auto", description="Datestamp granularity of "
                                                               "from/until; auto = what Identify declares.")
        check_formats: bool = Field(True, description="Ask ListMetadataFormats first and fail clearly when "
                                                      "metadata_prefix is not offered.")
        max_pages: int | None = Field(None, ge=1, description="Stop with an error after this many pages.")
        requests_per_second: float = Field(2, gt=0, le=100, description="Politeness limit for this host.")
        timeout: float = Field(60, gt=0, le=600, description="Read timeout per request, in seconds.")
        max_response_mb: int = Field(50, ge=1, le=1024, description="Largest accepted response body, in MiB.")

    options: Options

    def __init__(self, source_id: str, url: str, options: HarvesterOptions, http: Any = None) -> None:
        """``http`` may be an :class:`HttpConfig` (base settings, e.g. fast retries in tests)."""
        super().__init__(source_id, url, options, http)
        self.base_url = url.split("?", 1)[0]
        self.repository = Repository()
        self._client: HttpClient | None = None

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            o = self.options
            base = self.http if isinstance(self.http, HttpConfig) else HttpConfig()
            self._client = HttpClient(base.with_(read_timeout=o.timeout, requests_per_second=o.requests_per_second,
                                                 max_response_bytes=o.max_response_mb * 1024 * 1024),
                                      source_id=self.source_id)
        return self._client

    # -- requests ------------------------------------------------------------------------

    def _call(self, params: dict[str, str], *, allow_empty: bool = False) -> ET.Element | None:
        """One OAI request → the verb element; OAI errors raise :class:`OaiError` (``noRecordsMatch`` → None)."""
        resp = self.client.request("GET", self.base_url, params=params)
        where = f"{params.get('verb')} at {self.base_url}"
        root = self._parse(resp.content, where, resp.status_code)
        if root is None:  # not XML, non-200: the HTTP status is the news
            raise self.error(FatalSourceError, f"{where} answered HTTP {resp.status_code} without an OAI-PMH body")
        errors = root.findall(_O + "error")
        if errors:
            code = errors[0].get("code") or "unknown"
            text = " ".join((errors[0].text or "").split())[:300]
            if code == "noRecordsMatch" and allow_empty:
                return None
            fix = _FIXES.get(code, "see the OAI-PMH specification, section 3.6")
            status = f" (HTTP {resp.status_code})" if resp.status_code != 200 else ""
            raise OaiError(self.client.redact(f"{where}: OAI error {code}{status}: {text!r}; fix: {fix}"),
                           code=code, source_id=self.source_id)
        if resp.status_code != 200:
            raise self.error(FatalSourceError, f"{where} answered HTTP {resp.status_code}")
        body = root.find(_O + params["verb"])
        if body is None:
            raise self.error(FatalSourceError, f"{where}: OAI-PMH response without a <{params['verb']}> element")
        return body

    def _parse(self, content: bytes, where: str, status: int) -> ET.Element | None:
        head = content[:512].lstrip().lower()
        if not head.startswith(b"<"):
            if status != 200:
                return None
            raise self.error(FatalSourceError, f"{where} answered 200 with a body that is not XML "
                                               f"(starts {content[:40]!r}): is this the OAI-PMH base URL?")
        try:
            root = safe_fromstring(content, forbid_dtd=False, forbid_entities=True, forbid_external=True)
        except defusedxml.DefusedXmlException as exc:
            raise self.error(FatalSourceError, f"{where}: unsafe XML refused ({type(exc).__name__}: entity "
                                               "declarations and external references are not processed)") from None
        except ET.ParseError as exc:
            if status != 200:
                return None
            raise self.error(FatalSourceError, f"{where}: malformed or truncated XML ({exc})") from None
        if root.tag != _O + "OAI-PMH":
            if status != 200:
                return None
            kind = "an HTML page" if root.tag.lower().endswith("html") else f"<{root.tag}>"
            raise self.error(FatalSourceError, f"{where} answered {kind}, not an OAI-PMH response: "
                                               "check that the URL is the repository's OAI-PMH base URL")
        return root

    def identify(self) -> Repository:
        body = self._call({"verb": "Identify"})
        assert body is not None
        repo = Repository(name=_text(body, "repositoryName"), granularity=_text(body, "granularity") or DAY,
                          deleted_record=_text(body, "deletedRecord") or "no",
                          earliest=parse_datestamp(_text(body, "earliestDatestamp")))
        if repo.granularity not in (DAY, SECONDS):
            log.warning("%s: unknown granularity %r; using day granularity", self.source_id, repo.granularity)
            repo.granularity = DAY
        forced = {"day": DAY, "seconds": SECONDS}.get(self.options.granularity)
        repo.granularity = forced or repo.granularity
        self.repository = repo
        return repo

    def check_prefix(self) -> None:
        body = self._call({"verb": "ListMetadataFormats"})
        assert body is not None
        self.repository.formats = [_text(f, "metadataPrefix") for f in body.findall(_O + "metadataFormat")]
        if self.options.metadata_prefix not in self.repository.formats:
            offered = ", ".join(self.repository.formats) or "none"
            raise self.error(FatalSourceError, f"metadata_prefix {self.options.metadata_prefix!r} is not offered by "
                                               f"{self.base_url}; it offers: {offered}", field="metadata_prefix")

    # -- the harvest -----------------------------------------------------------------------

    def records(self, window: HarvestWindow, mode: Mode) -> Iterator[RawRecord]:
        if mode == "replay":
            raise self.error(FatalSourceError, "replay mode re-reads the raw archive; the source is not contacted")
        try:
            repo = self.identify()
            if self.options.check_formats:
                self.check_prefix()
            if repo.deleted_record in ("no", "transient") and mode != "full":
                log.info("%s: deletedRecord=%s, so incremental harvests cannot see deletions; run full harvests "
                         "to withdraw removed records", self.source_id, repo.deleted_record)
            bounds = None if mode == "full" or window.unbounded else window
            yield from self._list(bounds, mode)
        finally:
            self.stats.requests = self._client.requests_sent if self._client else 0

    def _first_params(self, bounds: HarvestWindow | None) -> dict[str, str] | None:
        params = {"verb": "ListRecords", "metadataPrefix": self.options.metadata_prefix}
        if self.options.set:
            params["set"] = self.options.set
        if bounds is not None:
            earliest = self.repository.earliest
            if earliest and bounds.end and bounds.end <= earliest:
                return None  # the window ends before the repository's first datestamp
            span = oai_window(bounds, self.repository.granularity)
            if span is None:
                return None
            lo, hi = span
            if lo and not (earliest and bounds.start and bounds.start <= earliest):
                params["from"] = lo
            if hi:
                params["until"] = hi
        return params

    def _list(self, bounds: HarvestWindow | None, mode: Mode) -> Iterator[RawRecord]:
        first = self._first_params(bounds)
        if first is None:
            self.stats.complete_listing = False
            return
        pager = TokenPaginator(source_id=self.source_id, max_pages=self.options.max_pages)
        seen: set[str] = set()
        pages: dict[bytes, int] = {}
        last_cursor = -1
        unusable = 0
        stated_size: int | None = None
        for req in pager:
            if req.token is None:
                params = first
            else:
                params = {"verb": "ListRecords", "resumptionToken": req.token}
                if self.options.resend_prefix_with_token:
                    params["metadataPrefix"] = self.options.metadata_prefix
            body = self._call(params, allow_empty=True)
            self.stats.pages += 1
            if body is None:  # noRecordsMatch: an empty list, not a failure
                pager.feed(None)
                break
            recs = body.findall(_O + "record")
            token_el = body.find(_O + "resumptionToken")
            token = (token_el.text or "").strip() if token_el is not None else ""
            if token_el is not None and (token_el.get("completeListSize") or "").isdigit():
                stated_size = int(token_el.get("completeListSize") or 0)
            cursor = token_el.get("cursor") if token_el is not None else None
            if cursor is not None and cursor.isdigit() and req.number > 1 and int(cursor) <= last_cursor:
                raise self.error(FatalSourceError, f"paging loop: page {req.number} reports cursor {cursor} after "
                                                   f"cursor {last_cursor}; the repository restarted the list")
            if cursor is not None and cursor.isdigit():
                last_cursor = int(cursor)
            ids = [_header_id(r) for r in recs]
            fp = hashlib.blake2b("\x00".join(ids).encode("utf-8", "surrogatepass"), digest_size=16).digest()
            if recs and fp in pages:
                raise self.error(FatalSourceError, f"paging loop: page {req.number} holds exactly the records of "
                                                   f"page {pages[fp]}; the repository ignores the resumption token")
            pages[fp] = req.number
            pager.feed(None if token == "0" else token)
            fetched_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
            for n, rec in enumerate(recs):
                try:
                    record = self._record(rec, fetched_at, bounds, seen)
                except SkippableRecordError as exc:
                    unusable += 1
                    self.stats.errors.append(f"{exc} (page {req.number}, record {n + 1})")
                    log.warning("%s", exc)
                    continue
                if record is not None:
                    yield record
        if mode == "full":
            listed = len(seen) + self.stats.skipped.get("duplicate", 0) + unusable
            short = stated_size is not None and listed < stated_size
            self.stats.complete_listing = pager.done and unusable == 0 and not short
            if short:
                log.warning("%s: listed %d records but the repository stated completeListSize=%d; withdrawals "
                            "will not be computed", self.source_id, listed, stated_size)

    def _record(self, rec: ET.Element, fetched_at: str, bounds: HarvestWindow | None,
                seen: set[str]) -> RawRecord | None:
        header = rec.find(_O + "header")
        if header is None:
            raise self.error(SkippableRecordError, "record without <header>", field="header")
        native_id = _text(header, "identifier")
        if not native_id:
            raise self.error(SkippableRecordError, "record header without <identifier>", field="identifier")
        stamp = _text(header, "datestamp") or _text(header, "dateStamp")  # pycsw spells it dateStamp
        deleted = header.get("status") == "deleted"
        if not deleted and rec.find(_O + "metadata") is None:
            raise self.error(SkippableRecordError, "record is neither deleted nor has <metadata>",
                             native_id=native_id, field="metadata")
        if native_id in seen:
            self.stats.skip("duplicate")
            return None
        seen.add(native_id)
        if bounds is not None:
            when = parse_datestamp(stamp)
            if when is None:
                log.warning("%s", self.error(SkippableRecordError, f"unreadable datestamp {stamp!r}; kept",
                                             native_id=native_id, field="datestamp"))
            elif (bounds.start and when < bounds.start) or (bounds.end and when >= bounds.end):
                self.stats.skip("outside window")
                return None
        payload = _serialise(rec)
        return RawRecord(source_id=self.source_id, native_id=native_id, fetched_at=fetched_at,
                         media_type="application/xml", payload=payload, deleted=deleted,
                         source_modified=stamp or None)


def _text(el: ET.Element, name: str) -> str:
    child = el.find(_O + name)
    return (child.text or "").strip() if child is not None else ""


def _header_id(rec: ET.Element) -> str:
    header = rec.find(_O + "header")
    return _text(header, "identifier") if header is not None else ""


def _serialise(rec: ET.Element) -> str:
    rec.tail = None  # the whitespace after </record> belongs to the page, not the record
    return ET.tostring(rec, encoding="unicode")
