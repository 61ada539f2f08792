"""OpenDataSoft dataset (Explore API v2.1 ``results[]`` item, or v1 search ``datasets[]`` item) → DCAT-AP 3.

ODS keeps metadata in templates: ``default`` (title, description, keyword, theme, license, modified,
publisher...), ``dcat`` (issued, accrualperiodicity, creator, contact, spatial, temporal...) and ``inspire``.
v2.1 nests them under ``metas.<template>``; v1 has ``default`` flat in ``metas`` and the others under
``interop_metas``. :func:`templates` reads both, so one table (``FIELD_MAP``, docs/mapping-opendatasoft.md,
checked by tests/test_opendatasoft.py) serves both versions. Decisions worth knowing:

* ``keyword`` and ``theme`` are lists in v2.1 but may be a bare string in v1: a string is ONE value, never
  split on commas (ODS's own theme labels contain commas: "Spatial planning, Town planning, Buildings...").
  Themes are keywords; ``dcat:theme`` only where ``transforms.vocab.theme`` maps the label or its leading part.
* Distributions: the exports (CSV, JSON, and GeoJSON when the dataset has the ``geo`` feature; offer
  ``download``) and the records API (offer ``api``), at the v2.1 or v1 addresses matching the payload's
  version; a dataset with ``has_records: false`` has no exports. Attachments are downloads too.
* ``visibility`` ``domain`` is ODS's ordinary public visibility (PUBLIC); ``restricted`` → RESTRICTED.
* INSPIRE bounding boxes arrive as strings (``"0.1568"``) and identifiers brace-wrapped (``{73E--sfA386709}``).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from rdflib import URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF

from transforms import vocab
from transforms.agents import institution, named_agent
from transforms.base import Mapped, MappingError, SourceContext
from transforms.common import Out, dataset_row, date_of, description, keywords_and_themes, link_licence, text
from transforms.distributions import Distributions
from transforms.opendatasoft_fields import contact, licence, spatial, strings, templates, temporal, theme_uri
from transforms.rdf import plain_literal, terms
from transforms.records import LEFT_TO_FEED, catalog_record
from transforms.text import clean_line
from transforms.uris import clean_url, is_http_url

DCAT, DCTERMS, FOAF, RDF = (terms(ns) for ns in (DCAT, DCTERMS, FOAF, RDF))
_API_SUFFIX = re.compile(r"/api(/.*)?$")

FIELD_MAP: dict[str, tuple[str, ...]] = {
    "dataset_id / datasetid": ("dct:identifier", "^foaf:primaryTopic/dct:identifier", "dcat:landingPage"),
    "default.title": ("dct:title",),
    "default.description": ("dct:description",),
    "default.keyword": ("dcat:keyword",),
    "default.theme": ("dcat:keyword", "dcat:theme"),
    "default.license": ("dct:license",),
    "default.license_url": ("dct:license", "dcat:distribution/dct:license"),
    "default.language": ("dct:language",),
    "default.modified": ("dct:modified", "^foaf:primaryTopic/dct:modified"),
    "default.publisher": ("dct:publisher/foaf:name",),
    "default.references": ("foaf:page",),
    "visibility / default.visibility": ("dct:accessRights",),
    "dcat.issued": ("dct:issued",),
    "dcat.created": ("dct:issued",),
    "dcat.accrualperiodicity": ("dct:accrualPeriodicity",),
    "dcat.creator": ("dct:creator/foaf:name",),
    "dcat.contact_name": ("dcat:contactPoint/vcard:fn",),
    "dcat.contact_email": ("dcat:contactPoint/vcard:hasEmail",),
    "dcat.spatial": ("dct:spatial",),
    "dcat.temporal_coverage_start": ("dct:temporal/dcat:startDate",),
    "dcat.temporal_coverage_end": ("dct:temporal/dcat:endDate",),
    "dcat.conforms_to": ("dct:conformsTo",),
    "inspire.file_identifier": ("dct:identifier",),
    "inspire.contact_individual_name": ("dcat:contactPoint/vcard:fn",),
    "inspire.contact_email": ("dcat:contactPoint/vcard:hasEmail",),
    "inspire.extend_bounding_box_*": ("dct:spatial/dcat:bbox",),
    "has_records → exports/csv, exports/json": ("dcat:distribution/dcat:downloadURL",),
    "features[geo] → exports/geojson": ("dcat:distribution/dcat:downloadURL",),
    "has_records → records API": ("dcat:distribution/dcat:accessURL",),
    "attachments[]": ("dcat:distribution/dcat:downloadURL",),
}

NOT_MAPPED: dict[str, str] = {
    "fields[]": "the record schema (names, types, descriptions, often null): DCAT-AP 3 has no column model",
    "default.records_count": "a row count; no DCAT-AP property",
    "default.data_processed / metadata_processed": "ODS processing times, not publication facts; "
                                                   "dct:modified is default.modified",
    "default.domain": "the ODS domain name; the source URL already identifies the portal",
    "default.attributions / geographic_reference / territory": "portal-specific codes and credits",
    "dcat.temporal (free text)": "mapped only when it is an ISO interval start/end (warning otherwise)",
}


def _dataset(record: Any, ctx: SourceContext) -> dict[str, Any]:
    ds = getattr(record, "payload", record)
    if isinstance(ds, dict) and isinstance(ds.get("dataset"), dict):  # v2.0 wraps each dataset
        ds = ds["dataset"]
    if not isinstance(ds, dict) or not isinstance(ds.get("metas"), dict):
        raise MappingError("payload is not an OpenDataSoft dataset object (no 'metas')", source_id=ctx.source_id,
                           native_id=str(getattr(record, "native_id", "?")), field="metas")
    return ds


def map_dataset(record: Any, ctx: SourceContext) -> Mapped:
    """Map one ODS dataset. Field problems become ``Mapped.warnings``; a dataset without id or title raises
    :class:`MappingError` naming the source, the record and the field."""
    ds = _dataset(record, ctx)
    v1 = "datasetid" in ds and "dataset_id" not in ds
    default, dcat, inspire = templates(ds)
    ds_id = text(ds.get("dataset_id") or ds.get("datasetid"))
    native_id = text(getattr(record, "native_id", None)) or ds_id
    if ds_id is None or native_id is None:
        raise MappingError("dataset has no dataset_id", source_id=ctx.source_id, native_id=native_id or "?",
                           field="dataset_id")
    title = clean_line(default.get("title"))
    if not title:
        raise MappingError("dataset has no default.title (dct:title is mandatory in DCAT-AP 3)",
                           source_id=ctx.source_id, native_id=native_id, field="default.title")
    out = Out()
    base = str(ctx.mint("dataset", native_id))
    node = URIRef(base)
    portal = _API_SUFFIX.sub("", ctx.source_url.rstrip("/"))
    row = dataset_row(ctx, node, native_id, ds_id, title, out)
    if (fid := text(inspire.get("file_identifier"))):
        fid = fid.strip("{}").strip()  # ODS sandbox: "{73E--sfA386709}"
        if fid and fid != ds_id:
            out.add(node, DCTERMS.identifier, plain_literal(fid))
    description(node, row, default.get("description"), "default.description", out, note_cut=False)

    _keywords_and_themes(default, node, row, out)
    if (pub := clean_line(default.get("publisher"))):
        named_agent(base, node, DCTERMS.publisher, "publisher", pub, out)
        row["publisher"] = pub
    else:
        out.warn("default.publisher", "none; dataset has no dct:publisher")
    if (creator := clean_line(dcat.get("creator"))):
        named_agent(base, node, DCTERMS.creator, "creator", creator, out)
    institution(ctx, base, node, out)
    row["contact_name"], row["contact_email"] = contact(dcat, inspire, base, node, out)

    lic, row["licence_label"], lic_doc = licence(default, out)
    if lic is not None:
        row["licence_uri"], row["licence_open"] = lic.uri, lic.open
    link_licence(node, lic_doc, lic is not None, out)
    visibility = text(ds.get("visibility")) or text(default.get("visibility")) or "domain"
    code = {"domain": "PUBLIC", "public": "PUBLIC", "restricted": "RESTRICTED"}.get(visibility.lower())
    if code:
        out.concept(node, DCTERMS.accessRights, vocab.access_right(code))
        row["access_rights"] = vocab.access_right(code)
    else:
        out.warn("visibility", f"unknown visibility {visibility[:40]!r}; no dct:accessRights")
    if (lang := text(default.get("language"))):
        if (uri := vocab.language(lang)):
            out.concept(node, DCTERMS.language, uri)
        else:
            out.warn("default.language", f"{lang[:40]!r} is not a known language")

    issued = date_of("dcat.issued", dcat.get("issued"), out) or date_of("dcat.created", dcat.get("created"), out)
    if issued:
        out.add(node, DCTERMS.issued, issued.literal)
        row["issued"] = issued.iso
    modified = date_of("default.modified", default.get("modified"), out)
    if modified:
        out.add(node, DCTERMS.modified, modified.literal)
        row["modified"] = modified.iso
    if (freq_raw := text(dcat.get("accrualperiodicity"))):
        if (freq := vocab.frequency(freq_raw)):
            out.concept(node, DCTERMS.accrualPeriodicity, freq)
            row["frequency"] = freq.rsplit("/", 1)[-1]
        else:
            out.warn("dcat.accrualperiodicity", f"{freq_raw[:60]!r} has no EU frequency")
    row["spatial"] = spatial(dcat, inspire, base, node, out)
    row["temporal_start"], row["temporal_end"] = temporal(dcat, base, node, out)
    for ref in strings(default.get("references")):
        if (url := clean_url(ref)) and is_http_url(url):
            out.add(node, FOAF.page, URIRef(url))
            out.add(URIRef(url), RDF.type, FOAF.Document)
        else:
            out.warn("default.references", f"not an http(s) URL {ref[:120]!r}")
    if (std := clean_url(text(dcat.get("conforms_to")))) and is_http_url(std):
        out.add(node, DCTERMS.conformsTo, URIRef(std))
        out.add(URIRef(std), RDF.type, DCTERMS.Standard)

    safe = quote(ds_id, safe="-._~@")
    landing = f"{portal}/explore/dataset/{safe}/"
    if is_http_url(landing):
        out.add(node, DCAT.landingPage, URIRef(landing))
        out.add(URIRef(landing), RDF.type, FOAF.Document)
        row["landing_page"] = landing
    dists = _distributions(ds, v1, portal, safe, base, node, lic_doc, out)
    row.update(dists.columns())
    catalog_record(base, node, ds_id, modified, out, missing=("modified", LEFT_TO_FEED), source=True,
                   see_also=ctx.source_url if is_http_url(ctx.source_url) else None)
    return Mapped(uri=base, native_id=native_id, triples=out.triples, row=row, warnings=out.warnings)


def _keywords_and_themes(default: dict[str, Any], node: URIRef, row: dict[str, Any], out: Out) -> None:
    words: dict[str, None] = {}
    for kw in strings(default.get("keyword")):
        words.setdefault(kw)
    themes: dict[str, None] = {}
    for label in strings(default.get("theme")):
        words.setdefault(label)
        if (uri := theme_uri(label)):
            themes.setdefault(uri)
    keywords_and_themes(node, row, words, themes, out)


def _distributions(ds: dict[str, Any], v1: bool, portal: str, safe: str, base: str, node: URIRef,
                   licence_doc: str | None, out: Out) -> Distributions:
    dists = Distributions()
    features = [str(f) for f in ds.get("features") or [] if isinstance(f, str)]
    if ds.get("has_records") is False:
        out.warn("has_records", "false: the dataset holds no records, so no exports are listed")
    else:
        formats = ["csv", "json"] + (["geojson"] if "geo" in features else [])
        for fmt in formats:
            url = (f"{portal}/api/records/1.0/download/?dataset={safe}&format={fmt}" if v1 else
                   f"{portal}/api/explore/v2.1/catalog/datasets/{safe}/exports/{fmt}")
            dists.add(base, node, f"export-{fmt}", access=url, title=f"{fmt.upper()} export", fmt=fmt,
                      download=True, service=None, licence=licence_doc, out=out)
        api = (f"{portal}/api/records/1.0/search/?dataset={safe}" if v1 else
               f"{portal}/api/explore/v2.1/catalog/datasets/{safe}/records")
        dists.add(base, node, "records-api", access=api, title="Records API", fmt=None, download=False,
                  service="api", licence=licence_doc, out=out)
    for i, att in enumerate(ds.get("attachments") or []):
        aid = text(att.get("id")) if isinstance(att, dict) else None
        if aid is None:
            out.warn(f"attachments[{i}]", "attachment without id; not mapped")
            continue
        url = (f"{portal}/api/datasets/1.0/{safe}/attachments/{quote(aid)}/" if v1 else
               f"{portal}/api/explore/v2.1/catalog/datasets/{safe}/attachments/{quote(aid)}")
        mime = text(att.get("mimetype"))
        dists.add(base, node, f"attachment-{aid}", access=url, title=clean_line(att.get("title")) or aid,
                  fmt=mime, download=True, service=None, licence=licence_doc, out=out)
    return dists


__all__ = ["FIELD_MAP", "NOT_MAPPED", "map_dataset"]
