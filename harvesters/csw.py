"""OGC CSW 2.0.2 harvester (``kind: csw``): geoportals (pycsw, GeoNetwork, ESRI Geoportal, deegree).

A run is a series of ``GetRecords`` POSTs (``resultType=results``, ``elementSetName=full``) in the
configured ``outputSchema``: ISO 19139 (``gmd:MD_Metadata`` and 19139-2 ``gmi:MI_Metadata``) or CSW
Dublin Core (``csw:Record``). Each record element becomes one :class:`RawRecord` whose payload is that
element serialised as XML text (same infoset; prefixes are the serialiser's), so mapping can be replayed
from the archive. Native id: ``gmd:fileIdentifier`` (DC: ``dc:identifier``).

Paging: ``startPosition`` is 1-based. Servers cap ``maxRecords`` silently (pycsw at 10) and report
``nextRecord`` oddly: 0 on the last page, a restart (pycsw says 1) or a position past the end when asked
past the end. So the next position is computed from the records actually returned (via
:class:`harvesters.paging.OffsetPaginator`, which also turns a page repeating an earlier page's ids into a
:class:`FatalSourceError`), the listing ends at ``numberOfRecordsMatched``, and ``nextRecord`` is read only
as a stop signal (0, or past the matched count).

Windows: :class:`HarvestWindow` is half-open; the server side gets an OGC Filter on ``modified_property``
(``apiso:Modified``; DC ``dct:modified``) widened to whole days, because servers compare these values as
strings (pycsw: ``"2011-04-18" < "2011-04-18T00:00:00Z"``) or as dates. Every record's own modified date
(``gmd:dateStamp``; ``dct:modified``) is then checked client-side against the exact window; date-only values
count as midnight UTC. ``server_side_window: false`` lists everything and filters only client-side, for
servers whose filter support is broken.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, Literal
from xml.sax.saxutils import escape

from pydantic import Field

from harvesters.base import (FatalSourceError, HarvestWindow, HttpOptions, Mode, RawRecord, SkippableRecordError,
                             now_iso, parse_utc, register)
from harvesters.decode import parse_xml
from harvesters.http import HttpHarvester
from harvesters.paging import OffsetPaginator

CSW = "http://www.opengis.net/cat/csw/2.0.2"
GMD = "http://www.isotc211.org/2005/gmd"
GMI = "http://www.isotc211.org/2005/gmi"
GCO = "http://www.isotc211.org/2005/gco"
GMX = "http://www.isotc211.org/2005/gmx"
DC = "http://purl.org/dc/elements/1.1/"
DCT = "http://purl.org/dc/terms/"
OWS = "http://www.opengis.net/ows"
OGC = "http://www.opengis.net/ogc"
APISO = "http://www.opengis.net/cat/csw/apiso/1.0"
SCHEMAS = {"iso19139": GMD, "dc": CSW}
ISO_ROOTS = {f"{{{GMD}}}MD_Metadata", f"{{{GMI}}}MI_Metadata"}
DC_ROOTS = {f"{{{CSW}}}Record", f"{{{CSW}}}SummaryRecord", f"{{{CSW}}}BriefRecord"}
# Readable prefixes when records are re-serialised (otherwise ElementTree writes ns0:, ns1:...).
for _prefix, _uri in (("gmd", GMD), ("gmi", GMI), ("gco", GCO), ("gmx", GMX), ("csw", CSW), ("dc", DC),
                      ("dct", DCT), ("ows", OWS), ("srv", "http://www.isotc211.org/2005/srv"),
                      ("gml", "http://www.opengis.net/gml"), ("gml32", "http://www.opengis.net/gml/3.2"),
                      ("xlink", "http://www.w3.org/1999/xlink"), ("xsi", "http://www.w3.org/2001/XMLSchema-instance")):
    ET.register_namespace(_prefix, _uri)


class CswExceptionError(FatalSourceError):
    """The server answered with an ``ows:ExceptionReport``; ``code`` is its exceptionCode."""

    def __init__(self, message: str, *, code: str, **where: Any) -> None:
        self.code = code
        super().__init__(message, **where)


def local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text(el: ET.Element | None) -> str:
    return " ".join("".join(el.itertext()).split()) if el is not None else ""


def record_id(el: ET.Element) -> str:
    """``gmd:fileIdentifier`` of an ISO record (CharacterString or gmx:Anchor), ``dc:identifier`` of a DC one."""
    if el.tag in ISO_ROOTS:
        fid = el.find(f"{{{GMD}}}fileIdentifier")
        return _text(fid)
    return _text(el.find(f"{{{DC}}}identifier"))


def record_modified(el: ET.Element) -> str | None:
    """The record's own change date: ``gmd:dateStamp`` (ISO), ``dct:modified`` (DC)."""
    if el.tag in ISO_ROOTS:
        return _text(el.find(f"{{{GMD}}}dateStamp")) or None
    return _text(el.find(f"{{{DCT}}}modified")) or None


def parse_modified(value: str | None) -> datetime | None:
    """ISO date or date-time (naive = UTC) → aware datetime; a bare date is midnight UTC; junk → None."""
    return parse_utc(value)


def window_filter(window: HarvestWindow, prop: str) -> str | None:
    """An OGC Filter 1.1 selecting ``prop`` in ``window`` widened to whole UTC days; None when unbounded."""
    parts = []
    if window.start is not None:
        lo = window.start.astimezone(timezone.utc).date().isoformat()
        parts.append(f"<ogc:PropertyIsGreaterThanOrEqualTo><ogc:PropertyName>{escape(prop)}</ogc:PropertyName>"
                     f"<ogc:Literal>{lo}</ogc:Literal></ogc:PropertyIsGreaterThanOrEqualTo>")
    if window.end is not None:
        hi = (window.end.astimezone(timezone.utc).date() + timedelta(days=1)).isoformat()
        parts.append(f"<ogc:PropertyIsLessThan><ogc:PropertyName>{escape(prop)}</ogc:PropertyName>"
                     f"<ogc:Literal>{hi}</ogc:Literal></ogc:PropertyIsLessThan>")
    if not parts:
        return None
    body = parts[0] if len(parts) == 1 else f"<ogc:And>{''.join(parts)}</ogc:And>"
    return f'<csw:Constraint version="1.1.0"><ogc:Filter>{body}</ogc:Filter></csw:Constraint>'


def get_records_body(*, start: int, max_records: int, schema: str, type_names: str,
                     constraint: str | None) -> bytes:
    """The GetRecords POST document (startPosition is 1-based)."""
    return (f'<?xml version="1.0" encoding="UTF-8"?>'
            f'<csw:GetRecords xmlns:csw="{CSW}" xmlns:ogc="{OGC}" xmlns:gmd="{GMD}" xmlns:apiso="{APISO}" '
            f'xmlns:dc="{DC}" xmlns:dct="{DCT}" service="CSW" version="2.0.2" resultType="results" '
            f'startPosition="{start}" maxRecords="{max_records}" outputSchema="{escape(schema)}">'
            f'<csw:Query typeNames="{escape(type_names)}"><csw:ElementSetName>full</csw:ElementSetName>'
            f'{constraint or ""}</csw:Query></csw:GetRecords>').encode("utf-8")


class _CswPaginator(OffsetPaginator):
    """Offset paging that also obeys CSW's stop signals: ``nextRecord`` 0, or past the matched count."""

    def feed_page(self, ids: list[str], matched: int | None, next_record: int | None) -> None:
        self.feed(ids, total=matched)
        if next_record == 0 or (matched is not None and next_record is not None and next_record > matched):
            self.done = True


@register
class CswHarvester(HttpHarvester):
    """Harvest an OGC CSW 2.0.2 catalogue with GetRecords."""

    kind = "csw"
    cursor = "modified"
    paging = "start-position"
    resumable = True  # startPosition (kept as the paginator's 0-based offset)

    class Options(HttpOptions):
        output_schema: Literal["iso19139", "dc"] = Field("iso19139", description="Record schema to ask for: "
                                                         "iso19139 (gmd, GeoDCAT-AP mapping) or dc (csw:Record).")
        type_names: str | None = Field(None, description="csw:Query typeNames; default gmd:MD_Metadata for "
                                                         "iso19139, csw:Record for dc.")
        page_size: int = Field(50, ge=1, le=1000, description="maxRecords per request; servers may return fewer "
                                                              "(pycsw caps at 10), paging follows what came back.")
        modified_property: str | None = Field(None, description="Queryable the incremental filter uses; default "
                                              "apiso:Modified (iso19139) or dct:modified (dc).")
        server_side_window: bool = Field(True, description="Send the window as an OGC Filter; false = list "
                                         "everything and filter by each record's modified date client-side.")
        max_pages: int | None = Field(None, ge=1, description="Stop with an error after this many pages.")

    options: Options

    @property
    def schema(self) -> str:
        return SCHEMAS[self.options.output_schema]

    @property
    def type_names(self) -> str:
        return self.options.type_names or ("gmd:MD_Metadata" if self.options.output_schema == "iso19139"
                                           else "csw:Record")

    @property
    def modified_property(self) -> str:
        return self.options.modified_property or ("apiso:Modified" if self.options.output_schema == "iso19139"
                                                  else "dct:modified")

    # -- one request ---------------------------------------------------------------------

    def get_records(self, start: int, constraint: str | None) -> ET.Element:
        """POST one GetRecords; → the ``csw:SearchResults`` element, or a typed error naming the fix."""
        body = get_records_body(start=start, max_records=self.options.page_size, schema=self.schema,
                                type_names=self.type_names, constraint=constraint)
        resp = self.client.request("POST", self.url, data=body,
                                   headers={"Content-Type": "application/xml", "Accept": "application/xml"})
        where = f"GetRecords (startPosition={start}) at {self.url}"
        root = parse_xml(resp.content, f"{where} (HTTP {resp.status_code})", hint="is this the CSW endpoint?",
                         source_id=self.source_id)
        if local_name(root.tag) == "ExceptionReport":
            exc_el = next(root.iter(f"{{{OWS}}}Exception"), None)
            code = exc_el.get("exceptionCode", "unknown") if exc_el is not None else "unknown"
            text = _text(exc_el)[:300]
            hint = (f"; the server may not support filtering on {self.modified_property}: set modified_property "
                    "or server_side_window: false" if constraint and "constraint" in (code + text).lower() else "")
            raise CswExceptionError(self.client.redact(f"{where}: CSW exception {code} (HTTP {resp.status_code}): "
                                                       f"{text!r}{hint}"), code=code, source_id=self.source_id)
        if root.tag != f"{{{CSW}}}GetRecordsResponse":
            got = "an HTML page" if local_name(root.tag).lower() == "html" else local_name(root.tag)
            raise self.error(FatalSourceError, f"{where}: not a CSW GetRecords response: got {got} (HTTP "
                                               f"{resp.status_code}); check that the URL is the CSW endpoint, "
                                               "not a WMS/WFS or a record URL")
        if resp.status_code != 200:
            raise self.error(FatalSourceError, f"{where} answered HTTP {resp.status_code}")
        results = root.find(f"{{{CSW}}}SearchResults")
        if results is None:
            raise self.error(FatalSourceError, f"{where}: GetRecordsResponse without csw:SearchResults")
        return results

    # -- the harvest -----------------------------------------------------------------------

    def records(self, window: HarvestWindow, mode: Mode) -> Iterator[RawRecord]:
        bounds = self.bounds(window, mode)
        try:
            yield from self._list(bounds, mode)
        finally:
            self.count_requests()

    def _list(self, bounds: HarvestWindow | None, mode: Mode) -> Iterator[RawRecord]:
        constraint = window_filter(bounds, self.modified_property) \
            if bounds is not None and self.options.server_side_window else None
        pager = _CswPaginator(self.options.page_size, source_id=self.source_id, max_pages=self.options.max_pages,
                              stop_on_short_page=False)
        seen: set[str] = set()
        matched: int | None = None
        listed = 0
        pos = self.resume_position
        if pos is not None:
            pager.restore(pos["pager"])
            seen, listed, matched = set(self.resumed_ids), pos["listed"], pos["matched"]
        for req in pager:
            results = self.get_records((req.offset or 0) + 1, constraint)
            self.stats.pages += 1
            matched = _int(results.get("numberOfRecordsMatched"))
            next_record = _int(results.get("nextRecord"))
            elements = list(results)
            listed += len(elements)
            pager.feed_page([record_id(el) or f"#{i}" for i, el in enumerate(elements)], matched, next_record)
            fetched_at = now_iso()
            yield from self.page_records(req.number, elements, lambda x: self._record(x, fetched_at, bounds, seen))
            self.page_done({"pager": pager.state(), "listed": listed, "matched": matched})
        if mode == "full":  # numberOfRecordsMatched is the count; nextRecord 0 may end the list early
            self.stats.complete_listing = self.fully_listed(pager.done, listed, matched, "records")

    def _record(self, el: ET.Element, fetched_at: str, bounds: HarvestWindow | None,
                seen: set[str]) -> RawRecord | None:
        expected = ISO_ROOTS if self.options.output_schema == "iso19139" else DC_ROOTS
        if el.tag not in expected:
            what = "ISO 19139" if self.options.output_schema == "iso19139" else "a CSW Dublin Core record"
            raise self.error(SkippableRecordError, f"not {what}: got {local_name(el.tag)}", field="record")
        native_id = record_id(el)
        if not native_id:
            field = "gmd:fileIdentifier" if el.tag in ISO_ROOTS else "dc:identifier"
            raise self.error(SkippableRecordError, f"record without {field}", field=field)
        if native_id in seen:
            self.stats.skip("duplicate")
            return None
        seen.add(native_id)
        stamp = record_modified(el)
        if self.outside(bounds, parse_modified(stamp), stamp=stamp, native_id=native_id,
                        field="gmd:dateStamp" if el.tag in ISO_ROOTS else "dct:modified"):
            return None
        el.tail = None  # the whitespace after the element belongs to the page, not the record
        return RawRecord(source_id=self.source_id, native_id=native_id, fetched_at=fetched_at,
                         media_type="application/xml", payload=ET.tostring(el, encoding="unicode"),
                         source_modified=stamp)


def _int(value: str | None) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
