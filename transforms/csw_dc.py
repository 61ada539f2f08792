"""Read a CSW Dublin Core ``csw:Record`` into a :class:`GeoDraft` (then :mod:`transforms.iso19139_build`).

CSW's Dublin Core is OAI's plus ``dct:`` refinements and OWS bounding boxes, and servers fill it from
their ISO records: ``dct:abstract`` instead of ``dc:description``, links as ``dct:references`` with a
``scheme`` (pycsw writes the ISO protocol there), ``ows:BoundingBox`` whose axis order follows its CRS
(``EPSG:4326`` is latitude first, ``CRS84`` and ``ows:WGS84BoundingBox`` longitude first), and
subjects as paths (``Locations: Canada > Manitoba``). ``FIELD_MAP`` is the contract rendered in
docs/mapping-csw.md and checked by tests/test_csw_mapping.py.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from transforms.geo_draft import GeoDraft, Keyword, Online, Party, Rights, squash

CSW = "http://www.opengis.net/cat/csw/2.0.2"
DC = "http://purl.org/dc/elements/1.1/"
DCT = "http://purl.org/dc/terms/"
OWS = "http://www.opengis.net/ows"
ROOTS = {f"{{{CSW}}}Record", f"{{{CSW}}}SummaryRecord", f"{{{CSW}}}BriefRecord"}

# CSW Dublin Core element → property paths from the dataset node ("^p" = inverse step).
FIELD_MAP: dict[str, tuple[str, ...]] = {
    "dc:identifier": ("dct:identifier", "^foaf:primaryTopic/dct:identifier"),
    "dct:modified": ("^foaf:primaryTopic/dct:modified", "dct:modified"),
    "dc:title": ("dct:title",),
    "dct:abstract": ("dct:description",),
    "dc:description": ("dct:description",),
    "dc:creator": ("dct:creator/foaf:name",),
    "dc:contributor": ("dct:contributor/foaf:name",),
    "dc:publisher": ("dct:publisher/foaf:name",),
    "dct:created": ("dct:created",),
    "dct:issued": ("dct:issued",),
    "dc:date": ("dct:issued",),
    "dc:type": ("dct:type",),
    "dc:subject": ("dcat:keyword",),
    "dc:format": ("dcat:distribution/dct:format",),
    "dc:language": ("dct:language",),
    "dc:rights": ("dct:license",),
    "dct:license": ("dct:license",),
    "dct:accessRights": ("dct:accessRights",),
    "dct:references": ("dcat:distribution/dcat:accessURL",),
    "dc:source": ("foaf:page",),
    "ows:BoundingBox": ("dct:spatial/dcat:bbox", "dct:spatial/locn:geometry"),
    "ows:WGS84BoundingBox": ("dct:spatial/dcat:bbox", "dct:spatial/locn:geometry"),
    "dct:spatial": ("dct:spatial/skos:prefLabel",),
}

_LAT_FIRST = re.compile(r"(EPSG:+(?:\d+(?:\.\d+)*:)?4326)$", re.I)


def _values(rec: ET.Element, qname: str) -> list[str]:
    ns, _, name = qname.partition(":")
    uri = {"dc": DC, "dct": DCT}[ns]
    return [v for el in rec.findall(f"{{{uri}}}{name}") if (v := squash("".join(el.itertext())))]


def _corners(box: ET.Element) -> tuple[list[float], list[float]] | None:
    try:
        lo = [float(x) for x in (box.findtext(f"{{{OWS}}}LowerCorner") or "").split()]
        hi = [float(x) for x in (box.findtext(f"{{{OWS}}}UpperCorner") or "").split()]
    except ValueError:
        return None
    return (lo, hi) if len(lo) == 2 and len(hi) == 2 else None


def _boxes(rec: ET.Element, d: GeoDraft) -> None:
    for box in rec.iter():
        name = box.tag.rsplit("}", 1)[-1]
        if box.tag.split("}")[0][1:] != OWS or name not in ("BoundingBox", "WGS84BoundingBox"):
            continue
        corners = _corners(box)
        if corners is None:
            d.boxes.append((f"ows:{name}", (float("nan"),) * 4))
            continue
        (a, b), (c, e) = corners
        crs = (box.get("crs") or "").strip()
        if name == "WGS84BoundingBox" or "CRS84" in crs.upper():
            d.boxes.append((f"ows:{name}", (a, b, c, e)))
        elif _LAT_FIRST.search(crs):
            d.boxes.append((f"ows:{name}", (b, a, e, c)))  # latitude first (EPSG axis order)
        else:
            d.notes.append((f"ows:{name}", f"crs {crs or '(none stated)'} is not WGS 84 (EPSG:4326/CRS84); not mapped"))


def _subject(value: str) -> str:
    """``Locations: Canada > Manitoba`` → ``Manitoba``; ``Topic Category: Biology`` → ``Biology``."""
    if re.match(r"^[A-Z][\w ]{1,40}:\s", value) and not value.lower().startswith(("http:", "https:", "urn:")):
        value = value.split(":", 1)[1]
    return value.rsplit(">", 1)[-1].strip()


def read_dc(rec: ET.Element, native_id: str) -> GeoDraft:
    d = GeoDraft(native_id=native_id, schema="dc")
    modified = _values(rec, "dct:modified")
    d.date_stamp = ("dct:modified", modified[0]) if modified else None
    d.modified = [("dct:modified", v) for v in modified[:1]]
    d.titles = [("dc:title", v) for v in _values(rec, "dc:title")]
    d.abstracts = [("dct:abstract", v) for v in _values(rec, "dct:abstract")] + \
                  [("dc:description", v) for v in _values(rec, "dc:description")]
    d.created = [("dct:created", v) for v in _values(rec, "dct:created")]
    d.issued = [("dct:issued", v) for v in _values(rec, "dct:issued")] + \
               [("dc:date", v) for v in _values(rec, "dc:date")]
    d.parties = [Party("dc:publisher", "publisher", organisation=v) for v in _values(rec, "dc:publisher")]
    d.parties += [Party("dc:creator", "originator", organisation=v) for v in _values(rec, "dc:creator")]
    d.parties += [Party("dc:contributor", "contributor", organisation=v) for v in _values(rec, "dc:contributor")]
    seen: set[str] = set()
    for v in _values(rec, "dc:subject"):
        kw = _subject(v)
        if kw and kw.lower() not in seen:
            seen.add(kw.lower())
            d.keywords.append(Keyword("dc:subject", kw))
    d.types = [("dc:type", v) for v in _values(rec, "dc:type")]
    d.formats = [("dc:format", v) for v in _values(rec, "dc:format")]
    d.languages = [("dc:language", v) for v in _values(rec, "dc:language")]
    d.rights = [Rights("dc:rights", v) for v in _values(rec, "dc:rights")] + \
               [Rights("dct:license", v) for v in _values(rec, "dct:license")] + \
               [Rights("dct:accessRights", v, access=True) for v in _values(rec, "dct:accessRights")]
    for el in rec.findall(f"{{{DCT}}}references"):
        if url := squash(el.text):
            d.online.append(Online("dct:references", url, protocol=squash(el.get("scheme"))))
    d.places = [("dct:spatial", v) for v in _values(rec, "dct:spatial")]
    d.pages = [("dc:source", v) for v in _values(rec, "dc:source")]
    _boxes(rec, d)
    return d


__all__ = ["FIELD_MAP", "ROOTS", "read_dc"]
