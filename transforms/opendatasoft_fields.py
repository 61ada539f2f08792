"""OpenDataSoft metadata templates and the fields that need interpretation: licence labels, themes,
contact, spatial (INSPIRE bounding boxes as strings) and temporal coverage.

Each helper turns a field problem into a warning naming the template field (``default.license``,
``inspire.extend_bounding_box_westbound_longitude``...), so a run report points at what to fix in the portal.
"""

from __future__ import annotations

from typing import Any

from rdflib import URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF, SKOS

from transforms import vocab
from transforms.agents import contact_point
from transforms.common import Out, bbox_literal, date_of, period, text
from transforms.rdf import plain_literal, terms
from transforms.text import clean_line
from transforms.uris import fragment, is_http_url, mailto

DCAT, DCTERMS, RDF, SKOS = (terms(ns) for ns in (DCAT, DCTERMS, RDF, SKOS))

# ODS's standard licence labels that transforms.vocab cannot read as they are.
_LICENCE_LABELS = {"licence ouverte v2.0 (etalab)": "etalab-2.0", "licence ouverte v2.0": "etalab-2.0",
                   "open licence v2.0 (etalab)": "etalab-2.0", "open database license (odbl)": "ODbL-1.0",
                   "open data commons open database license (odbl)": "ODbL-1.0", "cc0 1.0": "CC0-1.0",
                   "cc by 4.0": "CC-BY-4.0", "cc by-sa 4.0": "CC-BY-SA-4.0"}
_BBOX = ("westbound_longitude", "southbound_latitude", "eastbound_longitude", "northbound_latitude")


def _template(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def templates(ds: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(default, dcat, inspire) metadata of a v2.1 (``metas.<t>``) or v1 (``metas`` + ``interop_metas.<t>``) dataset."""
    metas = _template(ds.get("metas"))
    if isinstance(metas.get("default"), dict):
        return metas["default"], _template(metas.get("dcat")), _template(metas.get("inspire"))
    interop = _template(ds.get("interop_metas"))
    return metas, _template(interop.get("dcat")), _template(interop.get("inspire"))


def strings(value: Any) -> list[str]:
    """A list field that v1 may serve as a bare string: a string is one value (never split on commas)."""
    items = value if isinstance(value, list) else [value]
    return [s for s in (clean_line(v) for v in items if isinstance(v, (str, int, float)) and not isinstance(v, bool))
            if s]


def theme_uri(label: str) -> str | None:
    """EU data theme for an ODS theme label, or for its leading part ("Culture, Heritage" → Culture → EDUC)."""
    return vocab.theme(label) or (vocab.theme(label.split(",")[0]) if "," in label else None)


def licence(default: dict[str, Any], out: Out) -> tuple[vocab.Licence | None, str | None, str | None]:
    """(canonical licence, label as stated, licence document URI to link): ``license_url`` first, then the label
    (as written, then ODS's standard labels, then the abbreviation in brackets: "... (ODbL)")."""
    label = clean_line(default.get("license")) or None
    url = text(default.get("license_url"))
    if label is None and url is None:
        return None, None, None
    tries = [url, label, _LICENCE_LABELS.get(label.lower()) if label else None]
    if label and "(" in label and label.endswith(")"):
        tries.append(label[label.rindex("(") + 1:-1])
    for value in tries:
        found = vocab.licence(value) if value else None
        if found is not None and found.uri:
            return found, label or url, found.uri
    if url and is_http_url(url):
        out.warn("default.license_url", f"unrecognised licence {url[:120]!r}: linked, but not identified")
        return None, label or url, url
    out.warn("default.license", f"unrecognised licence {(label or url or '')[:120]!r}; licence unknown")
    return None, label or url, None


def contact(dcat: dict[str, Any], inspire: dict[str, Any], base: str, node: URIRef, out: Out
            ) -> tuple[str | None, str | None]:
    """``dcat:contactPoint`` from ``dcat.contact_*``, else ``inspire.contact_*``; returns (name, email)."""
    name = clean_line(dcat.get("contact_name")) or clean_line(inspire.get("contact_individual_name")) or None
    email = None
    for where, raw in (("dcat.contact_email", dcat.get("contact_email")),
                       ("inspire.contact_email", inspire.get("contact_email"))):
        if text(raw) is None:
            continue
        if (ref := mailto(str(raw))) is not None:
            email = str(ref)[7:]
            break
        out.warn(where, f"not an e-mail address {str(raw)[:80]!r}")
    if not name and not email:
        return None, None
    contact_point(base, node, out, name, email)
    return name, email


def _bbox(inspire: dict[str, Any], out: Out) -> tuple[float, float, float, float] | None:
    raw = [inspire.get(f"extend_bounding_box_{k}") for k in _BBOX]
    if all(v in (None, "") for v in raw):
        return None
    try:
        w, s, e, n = (float(str(v).strip()) for v in raw)  # ODS serves the numbers as strings
    except (TypeError, ValueError):
        out.warn("inspire.extend_bounding_box_*", f"not four numbers {raw!r}; no bounding box")
        return None
    if not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= n <= 90):
        out.warn("inspire.extend_bounding_box_*", f"outside WGS 84 ranges ({w}, {s}, {e}, {n}); no bounding box")
        return None
    return w, s, e, n


def spatial(dcat: dict[str, Any], inspire: dict[str, Any], base: str, node: URIRef, out: Out) -> str | None:
    """``dct:spatial``: ``dcat.spatial`` (a place URI as is, text as a label) and the INSPIRE bounding box as
    ``dcat:bbox`` WKT on a ``dct:Location`` at ``#spatial``. Returns the row value (URI, label or "W,S,E,N")."""
    row = None
    loc = fragment(base, "spatial")
    used = False
    for place in strings(dcat.get("spatial")):
        if is_http_url(place):
            out.add(node, DCTERMS.spatial, URIRef(place))
            out.add(URIRef(place), RDF.type, DCTERMS.Location)
        else:
            out.add(loc, SKOS.prefLabel, plain_literal(place))
            used = True
        row = row or place
    if (box := _bbox(inspire, out)):
        w, s, e, n = box
        out.add(loc, DCAT.bbox, bbox_literal(w, s, e, n))
        used = True
        row = row or ",".join(str(x) for x in box)
    if used:
        out.add(node, DCTERMS.spatial, loc)
        out.add(loc, RDF.type, DCTERMS.Location)
    return row


def temporal(dcat: dict[str, Any], base: str, node: URIRef, out: Out) -> tuple[str | None, str | None]:
    """``dct:temporal`` from ``temporal_coverage_start``/``_end``, else an ISO ``start/end`` in ``dcat.temporal``."""
    start = date_of("dcat.temporal_coverage_start", dcat.get("temporal_coverage_start"), out)
    end = date_of("dcat.temporal_coverage_end", dcat.get("temporal_coverage_end"), out)
    free = text(dcat.get("temporal"))
    if not start and not end and free:
        if "/" in free:
            a, _, b = free.partition("/")
            start, end = date_of("dcat.temporal", a, out), date_of("dcat.temporal", b, out)
        else:
            out.warn("dcat.temporal", f"{free[:60]!r} is not an ISO start/end interval; not mapped")
    return period(base, node, start, end, out)
