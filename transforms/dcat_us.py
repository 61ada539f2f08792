"""DCAT-US 1.1 (Project Open Data ``data.json``) dataset → DCAT-AP 3 triples + flat row.

The mapping follows the official DCAT-US ↔ DCAT crosswalk (``vocabularies/dcat-us/dcat-us-1.1_field_mappings.csv``
and the ``catalog.jsonld`` context); ``FIELD_MAP`` is the machine-readable contract, rendered in
docs/mapping-dcat-us.md and checked by tests/test_dcat_us_mapping.py. Where DCAT-AP 3 has no home for a
crosswalk property, the mapping says where it went instead (``NOT_MAPPED``, ``DEVIATIONS``).

Decisions worth knowing:

* Every dataset is checked against the official DCAT-US 1.1 JSON Schema (offline); schema errors are
  warnings naming the field, never a refusal. Only a dataset without ``identifier`` or ``title`` is refused.
* Dataset URI: the dataset's JSON-LD ``@id`` when it is an absolute http(s) IRI, else minted from the
  identifier (``<base>/dataset/<source>/<identifier, percent-encoded>``: identifiers with spaces or that are
  themselves URLs stay one safe path segment). Auxiliary nodes live under the minted path.
* ``modified`` may be an ISO 8601 repeating interval (``R/P1W``): no ``dct:modified`` then, and the
  frequency is derived from it unless ``accrualPeriodicity`` says otherwise.
* ``theme`` values are kept as keywords; only those ``transforms.vocab.theme`` knows become EU data themes.
"""

from __future__ import annotations

from typing import Any

from rdflib import URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, RDFS

from transforms import vocab
from transforms.agents import institution
from transforms.base import Mapped, MappingError, SourceContext
from transforms.common import Out, dataset_row, date_of, description, keywords_and_themes, link_licence, text
from transforms.dcat_us_distributions import distributions
from transforms.dcat_us_fields import (access_level, contact, licence, modified, publisher, spatial, strings,
                                       strip_placeholders, temporal)
from transforms.dcat_us_schema import schema_problems
from transforms.rdf import plain_literal, terms
from transforms.records import LEFT_TO_FEED, catalog_record
from transforms.text import clean_line, to_plain_text
from transforms.uris import clean_url, fragment, is_http_url

DCAT, DCTERMS, FOAF, RDF, RDFS = (terms(ns) for ns in (DCAT, DCTERMS, FOAF, RDF, RDFS))

# DCAT-US field → property paths from the dataset node ("^p" = inverse step, "@id" = the node itself).
FIELD_MAP: dict[str, tuple[str, ...]] = {
    "@id": ("@id",),
    "identifier": ("dct:identifier", "^foaf:primaryTopic/dct:identifier"),
    "title": ("dct:title",),
    "description": ("dct:description",),
    "keyword[]": ("dcat:keyword",),
    "theme[]": ("dcat:keyword", "dcat:theme"),
    "modified": ("dct:modified", "^foaf:primaryTopic/dct:modified"),
    "issued": ("dct:issued",),
    "accrualPeriodicity": ("dct:accrualPeriodicity",),
    "publisher.name": ("dct:publisher/foaf:name",),
    "publisher.subOrganizationOf": ("dct:publisher/org:subOrganizationOf/foaf:name",),
    "contactPoint.fn": ("dcat:contactPoint/vcard:fn",),
    "contactPoint.hasEmail": ("dcat:contactPoint/vcard:hasEmail",),
    "accessLevel": ("dct:accessRights",),
    "rights": ("dct:rights/rdfs:label",),
    "license": ("dct:license", "dcat:distribution/dct:license"),
    "spatial": ("dct:spatial",),
    "temporal": ("dct:temporal/dcat:startDate", "dct:temporal/dcat:endDate"),
    "landingPage": ("dcat:landingPage",),
    "language[]": ("dct:language",),
    "references[]": ("foaf:page",),
    "describedBy": ("foaf:page",),
    "conformsTo": ("dct:conformsTo",),
    "distribution[]": ("dcat:distribution",),
    "distribution[].accessURL": ("dcat:distribution/dcat:accessURL",),
    "distribution[].downloadURL": ("dcat:distribution/dcat:downloadURL", "dcat:distribution/dcat:accessURL"),
    "distribution[].mediaType": ("dcat:distribution/dcat:mediaType",),
    "distribution[].format": ("dcat:distribution/dct:format",),
    "distribution[].title": ("dcat:distribution/dct:title",),
    "distribution[].description": ("dcat:distribution/dct:description",),
    "distribution[].describedBy": ("dcat:distribution/foaf:page",),
    "distribution[].conformsTo": ("dcat:distribution/dct:conformsTo",),
}

# Crosswalk fields with no DCAT-AP 3 property, and why (docs/mapping-dcat-us.md lists them too).
NOT_MAPPED: dict[str, str] = {
    "@type": "always dcat:Dataset / dcat:Distribution; the node types say it",
    "bureauCode": "US OMB budget code: no DCAT-AP property (schema-checked only)",
    "programCode": "US Federal Program Inventory code: no DCAT-AP property; the placeholder 000:000 is reported",
    "dataQuality": "no DCAT-AP property (DQV quality annotations are not asserted from a boolean)",
    "isPartOf": "a collection id string, not a dataset IRI: dcat:inSeries needs an IRI",
    "systemOfRecords": "US Privacy Act notice: no DCAT-AP property",
    "primaryITInvestmentUII": "US IT investment id: no DCAT-AP property",
    "describedByType": "media type of the data dictionary: DCAT-AP's foaf:Document carries none",
    "distribution[].describedByType": "as describedByType",
    "webService": "POD 1.0 key (removed in 1.1); ArcGIS still serves it and lists the same URL as a distribution",
}

# Where this mapping differs from the crosswalk's DCAT column, and why.
DEVIATIONS: dict[str, str] = {
    "accessLevel": "crosswalk has no DCAT term (pod:accessLevel); DCAT-AP's dct:accessRights with the EU "
                   "access-right table carries the same three levels",
    "references[]": "catalog.jsonld makes it dcat:references (@vocab); DCAT-AP 3 documents related documents "
                    "with foaf:page (documentation)",
    "describedBy": "the data dictionary is documentation: foaf:page (crosswalk: none; context: powder:describedby)",
    "conformsTo": "crosswalk: none; dct:conformsTo as in the JSON-LD context",
    "theme[]": "free-text categories: dcat:keyword always, dcat:theme only for EU data themes",
    "distribution[].describedBy": "as describedBy",
    "distribution[].conformsTo": "as conformsTo",
}

PLACEHOLDER_CODES = {"000:000", "000:00", "000:0000"}


def _dataset(record: Any, ctx: SourceContext) -> dict[str, Any]:
    ds = getattr(record, "payload", record)
    if not isinstance(ds, dict):
        raise MappingError(f"payload is a {type(ds).__name__}, not a data.json dataset object",
                           source_id=ctx.source_id, native_id=str(getattr(record, "native_id", "?")),
                           field="payload")
    return ds


def map_dataset(record: Any, ctx: SourceContext) -> Mapped:
    """Map one ``data.json`` dataset object. Field problems become ``Mapped.warnings``; a dataset without
    identifier or title raises :class:`MappingError` naming the source, the record and the field."""
    raw = _dataset(record, ctx)
    out = Out()
    for field_, message in schema_problems(raw):
        out.warn(field_, f"schema: {message}")
    ds = strip_placeholders(raw, "", out)
    identifier = text(ds.get("identifier"))
    native_id = text(getattr(record, "native_id", None)) or identifier
    if identifier is None or native_id is None:
        raise MappingError("dataset has no identifier (DCAT-US requires one; it is the record's identity)",
                           source_id=ctx.source_id, native_id=native_id or "?", field="identifier")
    title = clean_line(ds.get("title"))
    if not title:
        raise MappingError("dataset has no title (dct:title is mandatory in DCAT-AP 3)",
                           source_id=ctx.source_id, native_id=native_id, field="title")
    base = str(ctx.mint("dataset", native_id))
    at_id = text(ds.get("@id"))
    if at_id and not is_http_url(at_id):
        out.warn("@id", f"not an absolute http(s) IRI {at_id[:120]!r}; minted URI used")
    node = URIRef(at_id) if at_id and is_http_url(at_id) else URIRef(base)
    row = dataset_row(ctx, node, native_id, identifier, title, out)
    description(node, row, ds.get("description"), "description", out, missing=None)

    _keywords_and_themes(ds, node, row, out)
    _codes(ds, out)
    row["publisher"] = publisher(ds, base, node, out)
    institution(ctx, base, node, out)
    row["contact_name"], row["contact_email"] = contact(ds, base, node, out)

    lic, row["licence_label"], lic_doc = licence(ds, out)
    if lic is not None:
        row["licence_open"] = lic.open
        row["licence_uri"] = lic.uri
    link_licence(node, lic_doc, lic is not None, out)
    if (rights := to_plain_text(ds.get("rights"), 2_000).text):
        statement = fragment(base, "rights")
        out.add(node, DCTERMS.rights, statement)
        out.add(statement, RDF.type, DCTERMS.RightsStatement)
        out.add(statement, RDFS.label, plain_literal(rights))
    if (access := access_level(ds, out)):
        out.concept(node, DCTERMS.accessRights, access)
        row["access_rights"] = access

    issued = date_of("issued", ds.get("issued"), out)
    if issued:
        out.add(node, DCTERMS.issued, issued.literal)
        row["issued"] = issued.iso
    mod, freq = modified(ds, out)
    if mod:
        out.add(node, DCTERMS.modified, mod.literal)
        row["modified"] = mod.iso
    if (stated := text(ds.get("accrualPeriodicity"))):
        freq = vocab.frequency(stated) or freq
        if vocab.frequency(stated) is None:
            out.warn("accrualPeriodicity", f"{stated[:60]!r} has no EU frequency")
    if freq:
        out.concept(node, DCTERMS.accrualPeriodicity, freq)
        row["frequency"] = freq.rsplit("/", 1)[-1]
    for lang in strings(ds.get("language")):
        if (uri := vocab.language(lang)):
            out.concept(node, DCTERMS.language, uri)
        else:
            out.warn("language", f"{lang[:40]!r} is not a known language")

    row["spatial"] = spatial(ds, base, node, out)
    row["temporal_start"], row["temporal_end"] = temporal(ds, base, node, out)
    for key in ("references", "describedBy"):
        for ref in strings(ds.get(key)):
            if (url := clean_url(ref)) and is_http_url(url):
                out.add(node, FOAF.page, URIRef(url))
                out.add(URIRef(url), RDF.type, FOAF.Document)
            else:
                out.warn(key, f"not an http(s) URL {ref[:120]!r}")
    if (std := clean_url(text(ds.get("conformsTo")))) and is_http_url(std):
        out.add(node, DCTERMS.conformsTo, URIRef(std))
        out.add(URIRef(std), RDF.type, DCTERMS.Standard)

    landing = clean_url(text(ds.get("landingPage")))
    if text(ds.get("landingPage")) and not (landing and is_http_url(landing)):
        out.warn("landingPage", f"not an http(s) URL {str(ds.get('landingPage'))[:120]!r}")
        landing = None
    dists = distributions(ds, base, node, landing, row["licence_uri"] or lic_doc, out)
    if landing is None and dists.pages:
        landing = dists.pages[0]  # an agency listing its web page as the "distribution" (CFTC): it is the landing page
    if landing:
        out.add(node, DCAT.landingPage, URIRef(landing))
        out.add(URIRef(landing), RDF.type, FOAF.Document)
        row["landing_page"] = landing
    row.update(dists.columns())

    catalog_record(base, node, identifier, mod, out, missing=("modified", LEFT_TO_FEED), source=True,
                   see_also=ctx.source_url if is_http_url(ctx.source_url) else None)
    return Mapped(uri=str(node), native_id=native_id, triples=out.triples, row=row, warnings=out.warnings)


def _keywords_and_themes(ds: dict[str, Any], node: URIRef, row: dict[str, Any], out: Out) -> None:
    keywords: dict[str, None] = {}
    for kw in strings(ds.get("keyword")):
        keywords.setdefault(kw)
    themes: dict[str, None] = {}
    for t in strings(ds.get("theme")):
        keywords.setdefault(t)
        if (uri := vocab.theme(t)):
            themes.setdefault(uri)
    keywords_and_themes(node, row, keywords, themes, out)


def _codes(ds: dict[str, Any], out: Out) -> None:
    """``programCode``/``bureauCode`` have no DCAT-AP home; a placeholder code is still worth reporting."""
    for key in ("programCode", "bureauCode"):
        for code in strings(ds.get(key)):
            if code in PLACEHOLDER_CODES:
                out.warn(key, f"placeholder {code!r} (no real code assigned); not mapped")
