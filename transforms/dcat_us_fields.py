"""DCAT-US 1.1 dataset fields that need interpretation: placeholders, publisher chain, contact, licence,
access level, modified-as-frequency, spatial and temporal.

Each helper reads one ``data.json`` field, adds triples to an :class:`~transforms.ckan_fields.Out` and turns
field problems into warnings that name the DCAT-US field, so a run report points at what the publisher
should fix in their ``data.json``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rdflib import Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, ORG, RDF, SKOS

from transforms import vocab
from transforms.agents import contact_point
from transforms.common import Out, bbox_literal, date_of, period, text
from transforms.dates import ParsedDate
from transforms.rdf import GSP, LOCN, plain_literal, terms
from transforms.text import clean_line, to_plain_text
from transforms.uris import clean_url, fragment, is_http_url, mailto

DCAT, DCTERMS, FOAF, GSP, LOCN, ORG, RDF, SKOS = (terms(ns) for ns in (DCAT, DCTERMS, FOAF, GSP, LOCN, ORG, RDF, SKOS))

# ArcGIS Hub fills data.json from templates; a field it could not compute is served as the template itself.
_PLACEHOLDER = re.compile(r"^\s*\{\{[^{}]*\}\}\s*$")
MAX_PARENT_DEPTH = 10  # subOrganizationOf chains are 2-4 deep; a cycle must not loop


# ----------------------------------------------------------------------------- placeholders


def strip_placeholders(value: Any, path: str, out: Out) -> Any:
    """A copy of ``value`` without unfilled ``{{...}}`` template strings (each dropped with a warning).

    Only whole-value placeholders are dropped; a placeholder inside longer text is left for the reader.
    """
    if isinstance(value, str):
        if _PLACEHOLDER.match(value):
            out.warn(path or "dataset", f"unfilled template placeholder {value.strip()[:80]!r}; dropped")
            return None
        return value
    if isinstance(value, list):
        kept = [strip_placeholders(v, f"{path}[{i}]", out) for i, v in enumerate(value)]
        return [v for v in kept if v is not None]
    if isinstance(value, dict):
        return {k: strip_placeholders(v, f"{path}.{k}" if path else k, out) for k, v in value.items()}
    return value


def strings(value: Any) -> list[str]:
    """A DCAT-US list field as clean strings; a bare string (POD 1.0 style) counts as a one-item list."""
    items = value if isinstance(value, list) else [value]
    return [s for s in (clean_line(v) for v in items if isinstance(v, (str, int, float))) if s]


# ----------------------------------------------------------------------------- publisher, contact


def publisher(ds: dict[str, Any], base: str, node: URIRef, out: Out) -> str | None:
    """``dct:publisher`` from ``publisher.name``; an unnamed publisher falls back to the nearest named parent.

    The ``subOrganizationOf`` chain above the publisher becomes ``org:subOrganizationOf`` links between
    ``foaf:Agent`` nodes at ``#publisher``, ``#publisher-parent-1``... Returns the publisher's name.
    """
    pub = ds.get("publisher")
    if isinstance(pub, str):  # POD 1.0 wrote the publisher as a plain name
        pub = {"name": pub}
    names: list[str] = []
    level = pub
    while isinstance(level, dict) and len(names) < MAX_PARENT_DEPTH:
        names.append(clean_line(level.get("name")))
        level = level.get("subOrganizationOf")
    named = [n for n in names if n]
    if not named:
        out.warn("publisher.name", "no publisher name in the organisation chain; dataset has no dct:publisher")
        return None
    if not names[0]:
        out.warn("publisher.name", f"empty; the nearest named parent organisation {named[0]!r} is the publisher")
    agents = [fragment(base, "publisher")] + [fragment(base, f"publisher-parent-{i}") for i in range(1, len(named))]
    out.add(node, DCTERMS.publisher, agents[0])
    for i, (agent, name) in enumerate(zip(agents, named)):
        out.add(agent, RDF.type, FOAF.Agent)
        out.add(agent, FOAF.name, plain_literal(name))
        if i:
            out.add(agents[i - 1], ORG.subOrganizationOf, agent)
    return named[0]


def contact(ds: dict[str, Any], base: str, node: URIRef, out: Out) -> tuple[str | None, str | None]:
    """``dcat:contactPoint`` (``vcard:Kind`` at ``#contact``) from ``contactPoint.fn``/``hasEmail``."""
    cp = ds.get("contactPoint")
    if not isinstance(cp, dict):
        return None, None
    name = clean_line(cp.get("fn")) or None
    email = None
    raw = text(cp.get("hasEmail"))
    if raw is not None:
        ref = mailto(raw)
        if ref is not None:
            email = str(ref)[7:]
        elif raw.lower().rstrip(":") in ("mailto", ""):
            out.warn("contactPoint.hasEmail", f"{raw!r} has no address; no e-mail")
        else:
            out.warn("contactPoint.hasEmail", f"not an e-mail address {raw[:80]!r}; no e-mail")
    if not name and not email:
        return None, None
    contact_point(base, node, out, name, email)
    return name, email


# ----------------------------------------------------------------------------- licence, access

# POD's own "we do not know" licence page: a statement of absence, not a licence document.
_UNKNOWN_LICENCES = ("project-open-data.cio.gov/unknown-license",)
_HTML = re.compile(r"<[a-zA-Z/][^>]*>")


def licence(ds: dict[str, Any], out: Out) -> tuple[vocab.Licence | None, str | None, str | None]:
    """(canonical licence, label as stated, licence document URI to link).

    A recognised licence links its canonical URI. An HTML blob (ArcGIS Hub pastes its licence text) is
    searched for a licence URL. Any other http(s) URL (a per-dataset ``license.json``, an agency terms page)
    is linked as the publisher's licence document, but the licence stays unidentified (warning).
    """
    raw = ds.get("license")
    if text(raw) is None:
        return None, None, None
    s = str(raw).strip()
    if _HTML.search(s) or not re.match(r"^\s*(https?://|www\.)\S+\s*$", s, re.I):
        label = to_plain_text(s, 500).text or s[:500]
        found = vocab.licence_in_text(s)
        if found is not None:
            return found, label, found.uri
        what = "HTML" if _HTML.search(s) else "text"
        out.warn("license", f"{what} names no recognised licence ({label[:80]!r}); licence unknown")
        return None, label, None
    url = clean_url(s)
    found = vocab.licence(url or s)
    if found is not None:
        return found, s[:500], found.uri
    if url is None or not is_http_url(url) or any(u in url for u in _UNKNOWN_LICENCES):
        out.warn("license", f"{s[:120]!r} identifies no licence; licence unknown")
        return None, s[:500], None
    what = "per-dataset licence document" if url.rstrip("/").endswith("license.json") else "unrecognised licence URL"
    out.warn("license", f"{what} {url[:120]!r}: linked, but the licence is not identified")
    return None, s[:500], url


_ACCESS = {"public": "PUBLIC", "restricted public": "RESTRICTED", "non-public": "NON_PUBLIC"}


def access_level(ds: dict[str, Any], out: Out) -> str | None:
    """EU access-right URI for ``accessLevel`` (public / restricted public / non-public)."""
    raw = text(ds.get("accessLevel"))
    if raw is None:
        return None
    key = re.sub(r"[\s_-]+", " ", raw.lower()).replace("non public", "non-public").replace("nonpublic", "non-public")
    code = _ACCESS.get(key)
    if code is None:
        out.warn("accessLevel", f"{raw[:40]!r} is not public, restricted public or non-public; no dct:accessRights")
        return None
    return vocab.access_right(code)


# ----------------------------------------------------------------------------- modified, frequency


def is_repeating(value: str) -> bool:
    """ISO 8601 repeating interval (``R/P1W``, ``R5/2020-01-01/P1M``) or bare duration (``P1W``)."""
    s = value.strip().upper()
    return bool(re.match(r"^R\d*/", s)) or bool(re.match(r"^P(\d|T\d)", s))


def modified(ds: dict[str, Any], out: Out) -> tuple[ParsedDate | None, str | None]:
    """(dct:modified, frequency URI derived from a repeating interval in ``modified``).

    POD allows ``modified`` to be an ISO 8601 repeating interval (``R/P1W`` = "updated weekly"): that is a
    frequency, not a date, so there is no ``dct:modified`` and the frequency is derived where the EU table has it.
    """
    raw = text(ds.get("modified"))
    if raw is None:
        return None, None
    if not is_repeating(raw):
        return date_of("modified", raw, out), None
    duration = raw.strip().split("/")[-1]
    freq = vocab.frequency("R/" + duration) if duration.upper().startswith("P") else None
    derived = f"; dct:accrualPeriodicity {freq.rsplit('/', 1)[-1]} derived from it" if freq else \
        "; it maps to no EU frequency"
    out.warn("modified", f"ISO 8601 repeating interval {raw[:40]!r} is an update frequency, not a date: "
                         f"no dct:modified{derived}")
    return None, freq


# ----------------------------------------------------------------------------- spatial, temporal

_NUM = r"\s*(-?\d+(?:\.\d+)?)\s*"
_BBOX = re.compile(rf"^{_NUM},{_NUM},{_NUM},{_NUM}$")


def _geojson(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str) and value.strip()[:1] == "{":
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if isinstance(value, dict) and isinstance(value.get("type"), str) and (
            "coordinates" in value or "geometries" in value):
        return value
    return None


def spatial(ds: dict[str, Any], base: str, node: URIRef, out: Out) -> str | None:
    """``dct:spatial``: a place URI as is; a ``W,S,E,N`` string as ``dcat:bbox`` (WKT), GeoJSON as
    ``locn:geometry``, other text as a label, on a ``dct:Location`` at ``#spatial``. Returns the row value."""
    raw = ds.get("spatial")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    loc = fragment(base, "spatial")
    geo = _geojson(raw)
    s = raw.strip() if isinstance(raw, str) else ""
    if geo is not None:
        lit = json.dumps(geo, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
        out.add(loc, LOCN.geometry, Literal(lit, datatype=GSP.geoJSONLiteral))
        row = lit[:200]
    elif m := _BBOX.match(s):
        w, so, e, n = (float(x) for x in m.groups())
        if not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= so <= n <= 90):
            out.warn("spatial", f"bounding box {s[:80]!r} is out of range (minLon,minLat,maxLon,maxLat); dropped")
            return None
        out.add(loc, DCAT.bbox, bbox_literal(w, so, e, n))
        row = ",".join(str(x) for x in (w, so, e, n))
    elif is_http_url(s):
        out.add(node, DCTERMS.spatial, URIRef(s))
        out.add(URIRef(s), RDF.type, DCTERMS.Location)
        return s
    elif s:
        label = clean_line(s)
        out.add(loc, SKOS.prefLabel, plain_literal(label))
        row = label
    else:
        out.warn("spatial", f"not a place name, URI, bounding box or GeoJSON geometry: {str(raw)[:80]!r}")
        return None
    out.add(node, DCTERMS.spatial, loc)
    out.add(loc, RDF.type, DCTERMS.Location)
    return row


def temporal(ds: dict[str, Any], base: str, node: URIRef, out: Out) -> tuple[str | None, str | None]:
    """``dct:temporal`` from a ``start/end`` interval; a duration end (``2015-01-01/P1Y``) is not expanded."""
    raw = text(ds.get("temporal"))
    if raw is None:
        return None, None
    parts = [p.strip() for p in raw.split("/")]
    if parts and re.match(r"^R\d*$", parts[0], re.I):
        parts = parts[1:]
    if len(parts) != 2:
        out.warn("temporal", f"{raw[:80]!r} is not a start/end interval")
        return None, None
    ends: list[ParsedDate | None] = []
    for part, name in zip(parts, ("start", "end")):
        if part.upper().startswith("P"):
            out.warn("temporal", f"{name} {part!r} is a duration, not a date; left open")
            ends.append(None)
        else:
            ends.append(date_of("temporal", part, out))
    start, end = ends
    if start and end and start.iso and end.iso and end.iso[:10] < start.iso[:10]:
        out.warn("temporal", f"end {end.iso} is before start {start.iso}")
    return period(base, node, start, end, out)


__all__ = ["access_level", "contact", "is_repeating", "licence", "modified", "publisher", "spatial",
           "strings", "strip_placeholders", "temporal"]
