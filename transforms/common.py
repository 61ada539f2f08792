"""Helpers every mapping module shares: the triple collector, absent-value and date handling,
byte sizes, the rules for how a distribution is offered (download / api / visualisation), and the
small dataset-level builders (description, keywords and themes, licence link, period, bounding box).

They live here, not in one kind's module, so that every source kind classifies and cleans the
same way and the audit report compares like with like across institutions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from rdflib import Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF

from transforms import vocab
from transforms.base import SourceContext, Triple
from transforms.dates import ParsedDate, parse_date
from transforms.rdf import GSP, iri, plain_literal, terms, typed_literal
from transforms.row import empty_row
from transforms.text import DEFAULT_MAX_CHARS, to_plain_text
from transforms.uris import fragment

DCAT, DCTERMS, RDF = (terms(ns) for ns in (DCAT, DCTERMS, RDF))
NO_DESCRIPTION = "no description (dct:description is mandatory in DCAT-AP)"


class Out:
    """Triples and warnings collected while mapping one package."""

    __slots__ = ("triples", "warnings")

    def __init__(self) -> None:
        self.triples: list[Triple] = []
        self.warnings: list[str] = []

    def add(self, s: Any, p: Any, o: Any) -> None:
        self.triples.append((s, p, o))

    def warn(self, field: str, message: str) -> None:
        self.warnings.append(f"{field}: {message}")

    def concept(self, s: Any, p: Any, uri: str) -> URIRef:
        """Link to a vocabulary concept and add the typing the DCAT-AP range/vocabulary shapes check."""
        ref, typing = _concept(uri)
        self.triples.append((s, p, ref))
        self.triples.extend(typing)
        return ref


@lru_cache(maxsize=4096)
def _concept(uri: str) -> tuple[URIRef, tuple[Triple, ...]]:
    """A vocabulary URI's node and stored typing, built once: a portal uses a few dozen concepts throughout."""
    typing = vocab.stored_concept_triples(uri)
    return (typing[0][0] if typing else URIRef(uri)), typing  # one object for the IRI: found by identity


def text(value: Any) -> str | None:
    """A non-empty stripped string, or None (CKAN uses "", null and whitespace alike for 'absent')."""
    if type(value) is str:  # nearly every call: skip the isinstance checks and the str() copy
        return value.strip() or None
    if value is None or isinstance(value, (dict, list)):
        return None
    s = str(value).strip()
    return s or None


def date_of(name: str, value: Any, out: Out) -> ParsedDate | None:
    """Parsed date, or None with a warning naming the field when the value is there but unusable."""
    if text(value) is None and not isinstance(value, (int, float)):
        return None
    parsed = parse_date(value)
    if not parsed:
        out.warn(name, f"{parsed.reason}")
        return None
    return parsed


def byte_size(value: Any) -> int | None:
    """A clean non-negative integer size (``"1234"``, ``1234``, ``1234.0``); None for anything else."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float):
        return int(value) if value >= 0 and value.is_integer() else None
    s = str(value).strip()
    if re.fullmatch(r"\d+(\.0+)?", s):
        return int(s.split(".")[0])
    return None


_API_WORDS = {"api", "json api", "rest", "rest api", "odata", "sparql", "sparql endpoint", "graphql",
              "ogc api", "ogc api features", "soap", "wsdl", "feed", "rss", "atom"}
_VIS_WORDS = {"dashboard", "map", "web map", "arcgis web map", "app", "web app", "visualisation",
              "visualization", "chart", "tableau", "power bi", "powerbi", "story map", "viewer"}
SERVICE_WORDS = _API_WORDS | _VIS_WORDS  # format words that name a service, not a file type
_API_URL = re.compile(r"(/api/|/rest/services/|/odata/|/sparql|[?&]service=(wfs|wcs|csw)\b|/wfs\b|"
                      r"/featureserver\b|/graphql\b)", re.I)
_VIS_URL = re.compile(r"([?&]service=wms\b|/wms\b|/mapserver\b|/wmts\b|/dashboards?/|/apps/|/webmap)", re.I)
_QUERY_OR_FRAGMENT = re.compile(r"[?#]")
_PAGE_EXT = re.compile(r"\.(s?html?|php|aspx?|jsp|cfm)$", re.I)


def offer_of(fmt_word: str, ft: vocab.FileType | None, url: str, download: bool, rtype: str) -> set[str]:
    """How a distribution is offered: download, api and/or visualisation (the flat row's ``offer``)."""
    kinds: set[str] = set()
    if download:
        kinds.add("download")
    code = ft.code if ft else ""
    if code in {"WMS_SRVC", "WMTS_SRVC", "MAP_SRVC", "MAP_PRVW"} or fmt_word in _VIS_WORDS \
            or rtype in {"visualization", "visualisation", "app"} or _VIS_URL.search(url):
        kinds.add("visualisation")
    if code in {"WFS_SRVC", "WCS_SRVC", "REST", "SPARQLQ"} or fmt_word in _API_WORDS \
            or rtype == "api" or _API_URL.search(url):
        kinds.add("api")
    return kinds


def looks_like_file(url: str, ft: vocab.FileType | None, url_ft: vocab.FileType | None, url_type: str) -> bool:
    """Whether a URL is a file to download rather than an API endpoint or a web page."""
    if url_type == "upload":
        return True
    path = _QUERY_OR_FRAGMENT.split(url, maxsplit=1)[0]
    if _PAGE_EXT.search(path):
        return False
    if url_ft is not None and url_ft.kind == "file":
        return True
    if _API_URL.search(url) or _VIS_URL.search(url):
        return False
    return ft is not None and ft.kind == "file" and "?" not in url and not path.endswith("/")


# ----------------------------------------------------------------------------- dataset-level builders


def dataset_row(ctx: SourceContext, node: URIRef, native_id: str, identifier: str, title: str, out: Out
                ) -> dict[str, Any]:
    """The ``dcat:Dataset`` with its title and identifier, and a flat row with the identity columns filled."""
    row = empty_row()
    row.update(uri=str(node), identifier=identifier, source_id=ctx.source_id, native_id=native_id, title=title,
               institution=ctx.institution.name)
    out.add(node, RDF.type, DCAT.Dataset)
    out.add(node, DCTERMS.title, plain_literal(title))
    out.add(node, DCTERMS.identifier, plain_literal(identifier))
    return row


DateChoice = tuple[URIRef, Iterable[tuple[str, Any]], str | None]  # property, (field, value) candidates, row column


def first_dates(ds: URIRef, row: dict[str, Any], choices: Iterable[DateChoice], out: Out) -> None:
    """For each (property, candidate (field, value) pairs, row column): the first candidate that parses as a
    date; the ones before it are warned about by :func:`date_of`."""
    for prop, candidates, column in choices:
        for name, value in candidates:
            parsed = date_of(name, value, out)
            if parsed:
                out.add(ds, prop, parsed.literal)
                if column:
                    row[column] = parsed.iso
                break


def description(ds: URIRef, row: dict[str, Any], value: Any, field: str, out: Out, *,
                missing: str | None = NO_DESCRIPTION, note_cut: bool = True) -> None:
    """``dct:description`` as plain text (HTML and markup removed, cut at ``DEFAULT_MAX_CHARS``) and the row's
    ``description``; ``missing`` is warned when there is none, a cut is warned when ``note_cut``."""
    desc = to_plain_text(value, DEFAULT_MAX_CHARS)
    if desc.text:
        out.add(ds, DCTERMS.description, plain_literal(desc.text))
        row["description"] = desc.text
        if note_cut and desc.truncated:
            out.warn(field, f"{desc.original_length} characters cut to {DEFAULT_MAX_CHARS}")
    elif missing:
        out.warn(field, missing)


def keywords_and_themes(ds: URIRef, row: dict[str, Any], keywords: Iterable[str], themes: Iterable[str],
                        out: Out) -> None:
    """``dcat:keyword`` literals and EU data-theme concepts, and the row's ``keywords`` and ``themes`` (codes)."""
    row["keywords"] = list(keywords)
    for kw in row["keywords"]:
        out.add(ds, DCAT.keyword, plain_literal(kw))
    uris = list(themes)
    for uri in uris:
        out.concept(ds, DCAT.theme, uri)
    row["themes"] = [u.rsplit("/", 1)[-1] for u in uris]


def link_licence(node: URIRef, licence_uri: str | None, is_known: bool, out: Out) -> None:
    """``dct:license``: an EU licence as a typed vocabulary concept, anything else as a ``dct:LicenseDocument``."""
    if not licence_uri:
        return
    if is_known and licence_uri.startswith(vocab.EU):
        out.concept(node, DCTERMS.license, licence_uri)
    else:
        out.add(node, DCTERMS.license, iri(licence_uri))
        out.add(iri(licence_uri), RDF.type, DCTERMS.LicenseDocument)


def period(base: str, ds: URIRef, start: ParsedDate | None, end: ParsedDate | None, out: Out
           ) -> tuple[str | None, str | None]:
    """``dct:temporal`` as a ``dct:PeriodOfTime`` at ``<base>#temporal`` (nothing when both ends are missing);
    returns the row's (start, end)."""
    if not start and not end:
        return None, None
    node = fragment(base, "temporal")
    out.add(ds, DCTERMS.temporal, node)
    out.add(node, RDF.type, DCTERMS.PeriodOfTime)
    if start:
        out.add(node, DCAT.startDate, start.literal)
    if end:
        out.add(node, DCAT.endDate, end.literal)
    return (start.iso if start else None), (end.iso if end else None)


def bbox_literal(w: float, s: float, e: float, n: float) -> Literal:
    """A west/south/east/north box as the WKT polygon ``dcat:bbox`` takes (GeoDCAT-AP)."""
    return typed_literal(f"POLYGON(({w} {s},{e} {s},{e} {n},{w} {n},{w} {s}))", GSP.wktLiteral)
