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

import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from typing import Any, Iterator, Literal
from urllib.parse import parse_qsl

from pydantic import Field

from harvesters.base import (
    FatalSourceError,
    HarvesterOptions,
    HarvestWindow,
    HttpOptions,
    Mode,
    RawRecord,
    SkippableRecordError,
    StaleCheckpointError,
    now_iso,
    parse_utc,
    register,
)
from harvesters.decode import MalformedXmlError, NotXmlError, parse_xml
from harvesters.http import HttpHarvester
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
    return parse_utc(value)


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


_OAI_ARGS = {"verb", "metadataPrefix", "resumptionToken", "from", "until", "set", "identifier"}

@register
class OaiPmhHarvester(HttpHarvester):
    """Harvest an OAI-PMH 2.0 repository with ListRecords."""

    kind = "oai-pmh"
    cursor = "datestamp"
    paging = "resumption-token"
    resumable = True  # the last resumption token; an expired one restarts the run (StaleCheckpointError)

    class Options(HttpOptions):
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

    options: Options

    def __init__(self, source_id: str, url: str, options: HarvesterOptions, http: Any = None) -> None:
        super().__init__(source_id, url, options, http)
        # Some servers answer OAI-PMH behind a fixed query (pycsw: ``/csw?mode=oaipmh``): keep it on
        # every request, but never let it carry OAI arguments of its own.
        base, _, query = url.partition("?")
        self.base_url = base
        self.base_params = {k: v for k, v in parse_qsl(query, keep_blank_values=True) if k not in _OAI_ARGS}
        self.repository = Repository()

    # -- requests ------------------------------------------------------------------------

    def _call(self, params: dict[str, str], *, allow_empty: bool = False) -> ET.Element | None:
        """One OAI request → the verb element; OAI errors raise :class:`OaiError` (``noRecordsMatch`` → None)."""
        resp = self.client.request("GET", self.base_url, params={**self.base_params, **params})
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
        """The OAI-PMH root element; None when a non-200 answer has no OAI body (the status is the news)."""
        try:
            root = parse_xml(content, where, hint="is this the OAI-PMH base URL?", source_id=self.source_id)
        except (NotXmlError, MalformedXmlError):
            if status != 200:
                return None
            raise
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
        bounds = self.bounds(window, mode)
        try:
            repo = self.identify()
            if self.options.check_formats:
                self.check_prefix()
            if repo.deleted_record in ("no", "transient") and mode != "full":
                log.info("%s: deletedRecord=%s, so incremental harvests cannot see deletions; run full harvests "
                         "to withdraw removed records", self.source_id, repo.deleted_record)
            yield from self._list(bounds, mode)
        finally:
            self.count_requests()

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
        last_cursor = -1
        stated_size: int | None = None
        pos = self.resume_position
        if pos is not None:
            pager.restore(pos["pager"])
            seen, last_cursor, stated_size = set(self.resumed_ids), int(pos["last_cursor"]), pos["stated_size"]
        first_after_resume = pager.pages + 1 if pos is not None else None
        for req in pager:
            if req.token is None:
                params = first
            else:
                params = {"verb": "ListRecords", "resumptionToken": req.token}
                if self.options.resend_prefix_with_token:
                    params["metadataPrefix"] = self.options.metadata_prefix
            try:
                body = self._call(params, allow_empty=True)
            except OaiError as exc:
                if exc.code == "badResumptionToken" and req.number == first_after_resume:
                    raise self.error(StaleCheckpointError, f"the repository no longer accepts the resumption token "
                                                           f"the checkpoint stored ({exc.reason})") from exc
                raise
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
            # pycsw ends its lists with the literal token "0"
            pager.feed(None if token == "0" else token, ids=[_header_id(r) for r in recs])
            fetched_at = now_iso()
            yield from self.page_records(req.number, recs, lambda x: self._record(x, fetched_at, bounds, seen))
            self.page_done({"pager": pager.state(), "last_cursor": last_cursor, "stated_size": stated_size})
        if mode == "full":  # completeListSize is the count
            listed = len(seen) + self.stats.skipped.get("duplicate", 0) + self.unusable
            self.stats.complete_listing = self.fully_listed(pager.done, listed, stated_size, "records")

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
        if self.outside(bounds, parse_datestamp(stamp), stamp=stamp, native_id=native_id, field="datestamp"):
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
