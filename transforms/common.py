"""Helpers every mapping module shares: the triple collector, absent-value and date handling,
byte sizes, and the rules for how a distribution is offered (download / api / visualisation).

They live here, not in one kind's module, so that every source kind classifies and cleans the
same way and the audit report compares like with like across institutions.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from rdflib import URIRef

from transforms import vocab
from transforms.base import Triple
from transforms.dates import ParsedDate, parse_date


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
    return URIRef(uri), vocab.stored_concept_triples(uri)


def text(value: Any) -> str | None:
    """A non-empty stripped string, or None (CKAN uses "", null and whitespace alike for 'absent')."""
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
