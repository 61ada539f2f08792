"""Controlled vocabularies: what a source wrote → the EU / IANA / SPDX URI a DCAT-AP consumer expects.

Portals spell the same licence, format or frequency a dozen ways (``uk-ogl``, ``OGL-UK-3.0``, a
nationalarchives URL; ``XLS``, ``Excel``, ``application/vnd.ms-excel``). Each lookup here folds the
spelling to one key and reads a dict built once from the shipped tables in ``vocabularies/`` (see its
PROVENANCE.md), so the hot path is a dict hit. Every lookup returns ``None`` for what it does not know and
never raises: the caller decides whether that is a warning. Hand-written aliases are facts about how
CKAN and data.gov.uk spell things; each says why it maps where it does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from transforms.vocab_base import DATA, EU, IANA, SPDX, _flag, _key, _looks_like_url, _rows, _url_key  # noqa: F401


@dataclass(frozen=True)
class Licence:
    """A licence as understood: ``uri`` is None for generic CKAN ids (``other-open``) that name no document."""

    uri: str | None
    code: str
    label: str
    open: bool | None  # Open Definition conformant; None when nobody has said


@dataclass(frozen=True)
class FileType:
    code: str  # EU file-type code, e.g. CSV
    uri: str
    label: str
    media_type: str | None  # IANA-registered media type, when the format has one
    machine_readable: bool  # data.europa.eu MQA list (what MQA scores)
    non_proprietary: bool  # data.europa.eu MQA list
    kind: str  # "file", "service" (WMS, WFS, Esri REST...) or "page" (HTML)


# ----------------------------------------------------------------------------- licences

# CKAN's default licence ids/titles/URLs and common portal spellings → EU licence code. CKAN's
# ``cc-by``/``cc-by-sa``/``cc-nc`` name no version: the portal's own licence page links 4.0 since CKAN 2.9,
# so 4.0 is used. ``uk-ogl``/``ogl`` on data.gov.uk mean the current OGL, v3.0 (since 2014).
_LICENCE_ALIASES = {
    "OGL_3_0": ["uk-ogl", "ogl", "ogl-uk", "ogl3", "ogl-3", "uk-ogl-3", "open-government-licence",
                "uk open government licence (ogl)", "open government licence",
                "reference.data.gov.uk/id/open-government-licence",
                "nationalarchives.gov.uk/doc/open-government-licence",
                "nationalarchives.gov.uk/doc/open-government-licence/open-government-licence",
                "nationalarchives.gov.uk/doc/open-government-licence/version/3"],
    "CC_BY_4_0": ["cc-by", "creative commons attribution", "opendefinition.org/licenses/cc-by"],
    "CC_BYSA_4_0": ["cc-by-sa", "creative commons attribution share-alike",
                    "opendefinition.org/licenses/cc-by-sa"],
    "CC_BYNC_4_0": ["cc-nc", "creative commons non-commercial (any)", "opendefinition.org/licenses/cc-nc"],
    "CC0": ["cc-zero", "cc0", "creative commons cczero", "opendefinition.org/licenses/cc-zero"],
    "ODC_BL": ["odc-odbl", "odbl", "open data commons open database license (odbl)"],
    "ODC_BY": ["odc-by", "open data commons attribution license"],
    "ODC_PDDL": ["odc-pddl", "pddl", "open data commons public domain dedication and license (pddl)"],
    "GNU_FDL": ["gfdl", "gnu free documentation license"],
}
# Generic CKAN ids that name no licence document; the Open Definition data has no verdict on these two.
_NOT_OPEN = {"other-closed", "other-nc", "ukcrown"}


@lru_cache(maxsize=1)
def _licence_index() -> dict[str, Licence]:
    idx: dict[str, Licence] = {}
    od_by_id = {_key(r["id"]): r for r in _rows("licences/opendefinition-licenses.csv")}
    spdx_rows = _rows("licences/spdx-licenses.csv")
    spdx_open = {_key(r["licenseId"]): _flag(r["is_open_data_licence"]) for r in spdx_rows}

    def od_open(code: str) -> bool | None:
        row = od_by_id.get(_key(code))
        return {"approved": True, "rejected": False}.get(row["od_conformance"]) if row else None

    def put(keys: list[str], lic: Licence) -> None:
        for k in keys:
            if k:
                idx.setdefault(_url_key(k) if _looks_like_url(k) or "/" in k else _key(k), lic)

    eu: dict[str, Licence] = {}
    eu_rows = _rows("licence.csv")
    for r in eu_rows:
        spdx_id = r["spdx_id"]
        is_open = {"conformant": True, "rejected": False}.get(r["od_conformance_via_spdx"])
        if is_open is None and spdx_id:
            is_open = spdx_open.get(_key(spdx_id))
            if is_open is None:
                is_open = od_open(spdx_id)
        eu[r["code"]] = Licence(r["uri"], r["code"], r["label_en"], is_open)
    for code, spellings in _LICENCE_ALIASES.items():
        put(spellings, eu[code])
    for r in eu_rows:
        lic = eu[r["code"]]
        put([r["uri"], r["code"], r["spdx_id"], r["exact_match"], r["label_en"]], lic)
        if r["spdx_id"]:
            put([SPDX + r["spdx_id"], f"spdx.org/licenses/{r['spdx_id']}.json"], lic)
    for r in spdx_rows:
        lid = r["licenseId"]
        lic = Licence(SPDX + lid, lid, r["name"], spdx_open.get(_key(lid)) if spdx_open.get(_key(lid))
                      is not None else od_open(lid))
        put([lid, SPDX + lid, f"spdx.org/licenses/{lid}.json", r["name"]], lic)
    for r in od_by_id.values():
        known = idx.get(_key(r["id"]))
        if known is None:  # generic CKAN ids (other-open, notspecified, ukcrown...): no document URI
            verdict = {"approved": True, "rejected": False}.get(r["od_conformance"])
            known = Licence(None, r["id"], r["title"], False if r["id"] in _NOT_OPEN else verdict)
        legacy = re.findall(r"'([^']+)'", r["legacy_ids"] or "")
        put([r["id"], *legacy, r["title"], r["url"]], known)
    return idx


def licence(value: Any) -> Licence | None:
    """The canonical licence for a CKAN ``license_id``, licence title or licence URL; None if unknown."""
    if value is None or not str(value).strip():
        return None
    s = str(value).strip()
    idx = _licence_index()
    if _looks_like_url(s):
        return idx.get(_url_key(s))
    return idx.get(_key(s))


_URL_IN_TEXT = re.compile(r"(?:https?://|www\.)[^\s\"'<>)\],;]+", re.I)


def licence_in_text(text: str) -> Licence | None:
    """A licence named exactly in free text: first a licence URL inside it, else the whole text as a title.

    Deliberately no fuzzy matching: a guessed licence is worse than an honest "unknown".
    """
    for url in _URL_IN_TEXT.findall(text or ""):
        found = licence(url.rstrip("."))
        if found:
            return found
    return licence(text) if text and len(text) < 200 else None


# ----------------------------------------------------------------------------- formats

_SERVICES = {"WMS_SRVC", "WFS_SRVC", "WCS_SRVC", "WMTS_SRVC", "REST", "MAP_SRVC", "SPARQLQ"}
_PAGES = {"HTML", "XHTML", "XHTML5", "XHTML_SIMPL"}
# Spellings seen in CKAN resource formats with no exact EU label/code/extension/media-type match.
_FORMAT_ALIASES = {
    "XLS": ["excel", "ms excel", "microsoft excel", "excel (xls)", "xls (excel)"],
    "XLSX": ["excel (xlsx)", "xlsx (excel)", "excel 2007"],
    "REST": ["esri rest api", "arcgis rest", "arcgis geoservices rest api", "arcgis rest api",
             "esri rest service", "arcgis map service", "arcgis featureserver"],
    "WMS_SRVC": ["ogc wms", "wms service", "web map service"],
    "WFS_SRVC": ["ogc wfs", "wfs service", "web feature service"],
    "WMTS_SRVC": ["ogc wmts"],
    "SHP": ["shapefile", "esri shapefile", "shape", "shp (zipped)", "zipped shapefile"],
    "HTML": ["web page", "webpage", "website", "web site", "html page"],
    "DOC": ["word", "ms word", "microsoft word"],
    "TXT": ["text", "plain text"],
    "JSON": ["application/json", "text/json", "json api"],
    "XML": ["application/xml", "text/xml"],
    "GEOJSON": ["geo+json", "geo json"],
    "KML": ["google earth"],
    "ZIP": ["zipped", "compressed"],
    "GPKG": ["geopackage", "application/geopackage+sqlite3"],
    "PDF": ["application/pdf", "adobe pdf"],  # the table lists it under PDF1X only
}
# Media types the file-type table lists only by shared extension and gets wrong.
_NO_MEDIA_TYPE = {"SHP"}  # .dbf's type is not a shapefile's


@lru_cache(maxsize=1)
def _iana() -> dict[str, str]:
    """Registered media type → IANA URI (mime-db rows whose source is IANA)."""
    return {r["media_type"]: r["iana_uri"] for r in _rows("iana-media-types.csv") if r["iana_uri"]}


@lru_cache(maxsize=1)
def _format_index() -> tuple[dict[str, FileType], dict[str, FileType]]:
    """(spelling → FileType, extension → FileType), built in priority order: code, label, aliases, types."""
    rows = _rows("file-type.csv")
    types: dict[str, FileType] = {}
    for r in rows:
        iana = [m for m in r["iana_media_types"].split("|") if m]
        by_ext = [m for m in r["iana_media_types_by_extension"].split("|") if m]
        # OP gives Office formats the ``...document.main+xml`` part type, not the file's type
        iana = [m for m in iana if not m.endswith(".main+xml")]
        mt = None if r["code"] in _NO_MEDIA_TYPE else (iana or by_ext or [None])[0]
        kind = "service" if r["code"] in _SERVICES else "page" if r["code"] in _PAGES else "file"
        types[r["code"]] = FileType(r["code"], r["uri"], r["label_en"] or r["code"], mt,
                                    r["edp_machine_readable"] == "true", r["edp_non_proprietary"] == "true",
                                    kind)
    idx: dict[str, FileType] = {}
    exts: dict[str, FileType] = {}
    for r in rows:
        idx.setdefault(_key(r["code"]), types[r["code"]])
        idx.setdefault(r["uri"].lower(), types[r["code"]])
    for r in rows:
        for s in (r["label_en"], r["alt_label_en"]):
            if s:
                idx.setdefault(_key(s), types[r["code"]])
    for code, spellings in _FORMAT_ALIASES.items():
        for s in spellings:
            idx.setdefault(_key(s), types[code])
    for r in rows:
        ft = types[r["code"]]
        for m in (*r["media_types"].split("|"), *r["iana_media_types"].split("|")):
            if m:
                idx.setdefault(m.lower(), ft)
        for e in re.split(r"[|\s]+", r["extensions"]):
            e = e.strip().lstrip(".").lower()
            if e:
                exts.setdefault(e, idx.get(e, ft))
                idx.setdefault(e, exts[e])
    for r in rows:  # weakest: the first media type sharing the format's extension
        first = r["iana_media_types_by_extension"].split("|")[0]
        if first and r["code"] not in _NO_MEDIA_TYPE:
            idx.setdefault(first.lower(), types[r["code"]])
    return idx, exts


def file_type(value: Any) -> FileType | None:
    """EU file type for a CKAN ``format``, a media type (``text/csv; charset=utf-8``), ``.csv`` or a file-type URI."""
    if value is None:
        return None
    s = str(value).strip()
    if not s:
        return None
    idx, _ = _format_index()
    low = s.lower()
    if low.startswith(EU + "file-type/"):
        return idx.get(low)
    if "/" in low and ";" in low:
        low = low.split(";")[0].strip()
    if low.startswith(IANA):
        low = low[len(IANA):]
    return idx.get(low) or idx.get(_key(low.lstrip(".")))


_QUERY_OR_FRAGMENT = re.compile(r"[?#]")


def file_type_for_url(url: str | None) -> FileType | None:
    """EU file type from a URL's file extension (``.../data.csv?x=1`` → CSV); None for no/unknown extension."""
    if not url:
        return None
    path = _QUERY_OR_FRAGMENT.split(url, maxsplit=1)[0]
    last = path.rsplit("/", 1)[-1]
    if "." not in last:
        return None
    return _format_index()[1].get(last.rsplit(".", 1)[-1].lower())


def media_type_uri(value: Any) -> str | None:
    """IANA URI for a registered media type (parameters dropped); None for unregistered or junk."""
    if value is None:
        return None
    s = str(value).strip().lower().split(";")[0].strip()
    if s.startswith(IANA):
        s = s[len(IANA):]
    return _iana().get(s)


# Concept vocabularies live in their own module; re-exported so callers use one name, ``vocab``.
from transforms.vocab_concepts import (  # noqa: E402
    access_right, concept_triples, frequency, language, stored_concept_triples, theme,
)

__all__ = ["DATA", "EU", "FileType", "IANA", "Licence", "SPDX", "access_right", "concept_triples", "file_type",
           "file_type_for_url", "frequency", "language", "licence", "licence_in_text", "media_type_uri",
           "stored_concept_triples", "theme"]
