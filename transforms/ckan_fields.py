"""CKAN package fields that need interpretation: extras, licence, contact point, dates, spatial, temporal.

CKAN's core schema is small; everything else lives in ``extras`` (a list of key/value pairs, values
always strings) or, with ckanext-scheming, at the top level. Harvested packages (data.gov.uk INSPIRE
records) put JSON inside those strings. Each helper here reads what is there, adds triples to an
:class:`Out`, and turns field-level problems into warnings that name the field.
"""

from __future__ import annotations

import json
from typing import Any

from rdflib import Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF, SKOS

from transforms import vocab
from transforms.agents import contact_point as contact_point_node
from transforms.common import Out, bbox_literal, byte_size, date_of, period, text
from transforms.dates import ParsedDate
from transforms.rdf import GSP, LOCN, VCARD, plain_literal, terms, typed_literal
from transforms.text import clean_line
from transforms.uris import clean_url, fragment, is_http_url, mailto

# Cached term access on the hot path (transforms.rdf.terms): the same URIs as rdflib's namespaces.
DCAT, DCTERMS, GSP, LOCN, RDF, SKOS, VCARD = (terms(ns) for ns in (DCAT, DCTERMS, GSP, LOCN, RDF, SKOS, VCARD))


# ----------------------------------------------------------------------------- extras


def extras_of(pkg: dict[str, Any]) -> dict[str, Any]:
    """Extras as a dict: CKAN's ``[{"key", "value"}]`` list, a plain dict, or nothing."""
    raw = pkg.get("extras")
    if isinstance(raw, dict):
        return {str(k): v for k, v in raw.items()}
    out: dict[str, Any] = {}
    if isinstance(raw, list):
        for item in raw:
            if isinstance(item, dict) and "key" in item:
                out.setdefault(str(item["key"]), item.get("value"))
    return out


def field(pkg: dict[str, Any], ex: dict[str, Any], *keys: str) -> tuple[str, str] | None:
    """First non-empty of ``keys``, top level (ckanext-scheming) before extras: ``(name, value)``."""
    for k in keys:
        v = text(pkg.get(k))
        if v is not None:
            return k, v
        v = text(ex.get(k))
        if v is not None:
            return f"extras.{k}", v
    return None


def json_in_string(value: Any) -> Any:
    """Decode JSON that a harvester stored inside a string extra; the string itself when it is not JSON."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


# ----------------------------------------------------------------------------- licence

_LICENCE_FIELDS = ("license_id", "license_url", "license_title")
_LICENCE_EXTRAS = ("license_id", "licence", "license", "licence_url", "license_url")


def resolve_licence(pkg: dict[str, Any], ex: dict[str, Any], out: Out) -> tuple[vocab.Licence | None, str | None]:
    """(licence, label as the source stated it). A licence with a URI wins over a generic CKAN id."""
    stated: list[tuple[str, str]] = []
    for k in _LICENCE_FIELDS:
        if (v := text(pkg.get(k))) is not None:
            stated.append((k, v))
    for k in _LICENCE_EXTRAS:
        v = json_in_string(ex.get(k))
        for item in (v if isinstance(v, list) else [v]):
            if (s := text(item)) is not None:
                stated.append((f"extras.{k}", s))
    if not stated:
        return None, None
    label = next((v for k, v in stated if k == "license_title"), stated[0][1])[:500]
    generic = None
    for k, v in stated:
        lic = vocab.licence(v) or (vocab.licence_in_text(v) if k.startswith("extras.") else None)
        if lic is not None and lic.uri:
            return lic, label
        generic = generic or lic
    if generic is not None:
        out.warn("license_id", f"{generic.code!r} names no licence document; no dct:license")
        return generic, label
    k, v = stated[0]
    out.warn(k, f"unrecognised licence {v[:120]!r}")
    return None, label


# ----------------------------------------------------------------------------- contact point


def _responsible_party(ex: dict[str, Any]) -> str | None:
    parties = json_in_string(ex.get("responsible-party"))
    if not isinstance(parties, list):
        return None
    names = [(p.get("name"), p.get("roles") or []) for p in parties if isinstance(p, dict)]
    for name, roles in names:
        if text(name) and "pointOfContact" in roles:
            return clean_line(name)
    return next((clean_line(n) for n, _ in names if text(n)), None)


def contact_point(pkg: dict[str, Any], ex: dict[str, Any], base: str, dataset: URIRef, out: Out
                  ) -> tuple[str | None, str | None]:
    """``dcat:contactPoint`` as a ``vcard:Kind`` at ``<base>#contact``; returns (name, email) for the row."""
    name_f = field(pkg, ex, "maintainer", "author", "contact-name", "contact_name")
    name = clean_line(name_f[1]) if name_f else _responsible_party(ex)
    email = None
    for k in ("maintainer_email", "author_email", "contact-email", "contact_email"):
        f = field(pkg, ex, k)
        if f is None:
            continue
        ref = mailto(f[1])
        if ref is None:
            out.warn(f[0], f"not an e-mail address {f[1][:80]!r}")
            continue
        email = str(ref)[7:]
        break
    if not name and not email:
        return None, None
    contact_point_node(base, dataset, out, name, email)
    return name or None, email


# ----------------------------------------------------------------------------- dates


def _reference_dates(ex: dict[str, Any]) -> dict[str, str]:
    """INSPIRE ``dataset-reference-date``: ``[{"type": "revision", "value": "2017-07-17"}]`` → type → value."""
    refs = json_in_string(ex.get("dataset-reference-date"))
    out: dict[str, str] = {}
    if isinstance(refs, list):
        for r in refs:
            if isinstance(r, dict) and text(r.get("type")) and text(r.get("value")):
                out.setdefault(str(r["type"]).strip().lower(), str(r["value"]).strip())
    return out


def dataset_dates(pkg: dict[str, Any], ex: dict[str, Any], out: Out) -> tuple[ParsedDate | None, ParsedDate | None]:
    """(issued, modified): the publisher's own dates first, CKAN's record timestamps as the fallback."""
    refs = _reference_dates(ex)
    issued_c = [("extras.issued", ex.get("issued")),
                ("extras.dataset-reference-date", refs.get("publication") or refs.get("creation")),
                ("metadata_created", pkg.get("metadata_created"))]
    modified_c = [("extras.modified", ex.get("modified")),
                  ("extras.dataset-reference-date", refs.get("revision")),
                  ("metadata_modified", pkg.get("metadata_modified"))]
    found = []
    for cands in (issued_c, modified_c):
        hit = None
        for name, value in cands:
            hit = date_of(name, value, out)
            if hit:
                break
        found.append(hit)
    return found[0], found[1]


# ----------------------------------------------------------------------------- spatial, temporal

_BBOX = ("bbox-west-long", "bbox-south-lat", "bbox-east-long", "bbox-north-lat")


def _bbox(ex: dict[str, Any]) -> tuple[float, float, float, float] | None:
    try:
        w, s, e, n = (float(str(ex[k]).strip()) for k in _BBOX)
    except (KeyError, ValueError, TypeError):
        return None
    if not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= n <= 90):
        return None
    return w, s, e, n


def spatial(pkg: dict[str, Any], ex: dict[str, Any], base: str, dataset: URIRef, out: Out) -> str | None:
    """``dct:spatial``: a place URI as is; GeoJSON / bbox / label on a ``dct:Location`` at ``<base>#spatial``.

    Returns the row's ``spatial`` value: the URI, else the label, else the bbox as "W,S,E,N".
    """
    row: str | None = None
    uri_f = field(pkg, ex, "spatial_uri")
    if uri_f:
        if is_http_url(uri_f[1]):
            out.add(dataset, DCTERMS.spatial, URIRef(uri_f[1]))
            out.add(URIRef(uri_f[1]), RDF.type, DCTERMS.Location)
            row = uri_f[1]
        else:
            out.warn(uri_f[0], f"not an http(s) URI {uri_f[1][:80]!r}")
    loc = fragment(base, "spatial")
    used = False
    geo_f = field(pkg, ex, "spatial")
    if geo_f:
        geo = json_in_string(geo_f[1])
        if isinstance(geo, dict) and isinstance(geo.get("type"), str) and ("coordinates" in geo or "geometries" in geo):
            lit = json.dumps(geo, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
            out.add(loc, LOCN.geometry, typed_literal(lit, GSP.geoJSONLiteral))
            used = True
        else:
            out.warn(geo_f[0], f"not a GeoJSON geometry {geo_f[1][:80]!r}")
    box = _bbox(ex)
    if box:
        w, s, e, n = box
        out.add(loc, DCAT.bbox, bbox_literal(w, s, e, n))
        used = True
    label_f = field(pkg, ex, "spatial_text")
    if label_f:
        out.add(loc, SKOS.prefLabel, plain_literal(clean_line(label_f[1])))
        used = True
        row = row or clean_line(label_f[1])
    if used:
        out.add(dataset, DCTERMS.spatial, loc)
        out.add(loc, RDF.type, DCTERMS.Location)
    if row is None and box:
        row = ",".join(str(x) for x in box)
    return row


_TEMPORAL = (("temporal_start", "temporal-extent-begin", "temporal_coverage-from"),
             ("temporal_end", "temporal-extent-end", "temporal_coverage-to"))


def temporal(pkg: dict[str, Any], ex: dict[str, Any], base: str, dataset: URIRef, out: Out
             ) -> tuple[str | None, str | None]:
    """``dct:temporal`` as a ``dct:PeriodOfTime`` at ``<base>#temporal``; returns (start, end) ISO strings."""
    ends: list[ParsedDate | None] = []
    for keys in _TEMPORAL:
        f = field(pkg, ex, *keys)
        ends.append(date_of(f[0], f[1], out) if f else None)
    start, end = ends
    if start and end and start.iso and end.iso and end.iso[:10] < start.iso[:10]:
        out.warn("temporal_end", f"end {end.iso} is before start {start.iso}")
    return period(base, dataset, start, end, out)


def landing_page(pkg: dict[str, Any], source_url: str, out: Out) -> str | None:
    """The package's ``url`` when it is a web address, else the portal's own page for the package."""
    raw = text(pkg.get("url"))
    if raw:
        url = clean_url(raw)
        if url and is_http_url(url):
            return url
        out.warn("url", f"not an http(s) URL {raw[:120]!r}; portal page used")
    name = text(pkg.get("name")) or text(pkg.get("id"))
    if name and is_http_url(source_url):
        from urllib.parse import quote

        return f"{source_url.rstrip('/')}/dataset/{quote(name, safe='-._~')}"
    return None


__all__ = ["Out", "byte_size", "contact_point", "dataset_dates", "date_of", "extras_of", "field", "json_in_string",
           "landing_page", "resolve_licence", "spatial", "temporal", "text"]
