"""OAI Dublin Core (``oai_dc``) → :class:`~transforms.oai_common.Draft` → DCAT-AP 3 (via :mod:`transforms.oai_build`).

Simple Dublin Core is flat and untyped, so reading it means telling values apart: a ``dc:identifier``
may be a DOI, a landing page, the OAI id or an ``issn:`` pseudo-URI; a ``dc:rights`` may be a licence
URL, a licence title or an eu-repo access term (Zenodo sends all three); a ``dc:subject`` may hold a
whole comma-separated keyword list; ``dc:coverage`` may be a place or a period. ``FIELD_MAP`` is the
contract rendered in docs/mapping-oai-pmh.md and checked by tests/test_oai_mapping.py.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from transforms.base import Mapped, MappingError, SourceContext
from transforms.oai_build import build
from transforms.oai_common import Agent, Draft, OaiRecord, raw_text, read_record, split_keywords, text_of

OAI_DC = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC = "http://purl.org/dc/elements/1.1/"
_D = "{" + DC + "}"

# Dublin Core element → property paths from the dataset node ("^p" inverse step).
FIELD_MAP: dict[str, tuple[str, ...]] = {
    "header/identifier": ("dct:identifier", "^foaf:primaryTopic/dct:identifier"),
    "header/datestamp": ("^foaf:primaryTopic/dct:modified", "dct:modified"),
    "dc:title": ("dct:title",),
    "dc:description": ("dct:description",),
    "dc:creator": ("dct:creator/foaf:name",),
    "dc:contributor": ("dct:contributor/foaf:name",),
    "dc:publisher": ("dct:publisher/foaf:name",),
    "dc:date": ("dct:issued",),
    "dc:type": ("dct:type",),
    "dc:format": ("dcat:distribution/dct:format",),
    "dc:identifier": ("dct:identifier", "adms:identifier/skos:notation", "dcat:landingPage",
                      "dcat:distribution/dcat:accessURL"),
    "dc:rights": ("dct:license", "dct:accessRights", "dcat:distribution/dct:license"),
    "dc:subject": ("dcat:keyword",),
    "dc:language": ("dct:language",),
    "dc:coverage": ("dct:spatial/skos:prefLabel",),
}

_PERIOD = re.compile(r"^\s*(\d{4}(?:-\d{2}(?:-\d{2})?)?)\s*(?:/|--|\s+to\s+)\s*(\d{4}(?:-\d{2}(?:-\d{2})?)?)?\s*$")
_DCMI_PERIOD = re.compile(r"(start|end)\s*=\s*([^;]+)", re.I)


def _values(meta: ET.Element, name: str) -> list[str]:
    return [v for el in meta.findall(_D + name) if (v := text_of(el))]


def _coverage(d: Draft, value: str) -> None:
    """A period (``2010/2012``, DCMI ``start=...; end=...``) → temporal; anything else is a place name."""
    if m := _PERIOD.match(value):
        d.periods.append(("dc:coverage", m.group(1), m.group(2)))
        return
    parts = {k.lower(): v.strip() for k, v in _DCMI_PERIOD.findall(value)}
    if parts:
        d.periods.append(("dc:coverage", parts.get("start"), parts.get("end")))
        return
    d.places.append(("dc:coverage", value))


def draft_of(rec: OaiRecord, ctx: SourceContext) -> Draft:
    meta = rec.metadata
    if meta is None or meta.tag != "{" + OAI_DC + "}dc":
        raise MappingError("no <oai_dc:dc> in the record's metadata", source_id=ctx.source_id,
                           native_id=rec.native_id, field="metadata")
    d = Draft(native_id=rec.native_id, datestamp=rec.datestamp, prefix="oai_dc")
    d.titles = [("dc:title", v) for v in _values(meta, "title")]
    d.descriptions = [("dc:description", v) for el in meta.findall(_D + "description") if (v := raw_text(el))]
    d.creators = [("dc:creator", Agent(v)) for v in _values(meta, "creator")]
    d.contributors = [("dc:contributor", Agent(v)) for v in _values(meta, "contributor")]
    pubs = _values(meta, "publisher")
    d.publisher = ("dc:publisher", pubs[0]) if pubs else None
    d.issued = [("dc:date", v) for v in _values(meta, "date")]
    if rec.datestamp:  # as CKAN's metadata_modified: the record's change time stands in for the data's
        d.modified = [("header/datestamp", rec.datestamp)]
    d.types = [("dc:type", v) for v in _values(meta, "type")]
    d.formats = [("dc:format", v) for v in _values(meta, "format")]
    d.identifiers = [("dc:identifier", v) for v in _values(meta, "identifier")]
    d.rights = [("dc:rights", v, None) for v in _values(meta, "rights")]
    d.keywords = [("dc:subject", k) for v in _values(meta, "subject") for k in split_keywords(v)]
    d.languages = [("dc:language", v) for v in _values(meta, "language")]
    for v in _values(meta, "coverage"):
        _coverage(d, v)
    return d


def map_oai_dc(record: Any, ctx: SourceContext) -> Mapped:
    """Map one OAI record whose metadata is ``oai_dc``."""
    return build(draft_of(read_record(record, ctx), ctx), ctx)
