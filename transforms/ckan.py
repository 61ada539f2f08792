"""CKAN package (``package_show`` / ``package_search`` result) → DCAT-AP 3 triples + flat row.

Decisions worth knowing (docs/mapping-ckan.md has the full table, checked against ``FIELD_MAP``):

* Dataset URI: the package's ``uri`` extra when it is an absolute http(s) IRI (the portal already
  publishes DCAT), else minted ``<base>/dataset/<source>/<native id>``. Auxiliary nodes always live
  under the minted path (``#distribution-<id>``, ``#publisher``, ``#contact``, ``#record``...), so the
  graph has no blank nodes and does not depend on the portal's URI scheme.
* Publisher is the CKAN organisation (``foaf:Agent``). The institution from sources.yaml is the body
  that runs the catalogue we harvested, not necessarily the publisher or creator, so it is attached as a
  ``prov:qualifiedAttribution`` with the ISO 19115 role *distributor* rather than as ``dct:creator``.
* ``dcat:CatalogRecord`` ``#record``: ``dct:modified`` is the source's modification time, never the
  harvest time (that would change the hash every run); ``dct:source`` is ``#source-record``, the
  portal's own record of the package (with its API address as ``rdfs:seeAlso``).
* Vocabulary values (licence, format, media type, frequency, theme, access right, language) carry
  their DCAT-AP range class and ``skos:inScheme`` so the stored graph passes the range and vocabulary
  shapes on its own.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from rdflib import URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, SKOS

from transforms import vocab
from transforms.agents import institution, named_agent
from transforms.base import Mapped, MappingError, SourceContext
from transforms.ckan_fields import (contact_point, dataset_dates, extras_of, field, json_in_string, landing_page,
                                    resolve_licence, spatial, temporal)
from transforms.common import Out, dataset_row, date_of, description, keywords_and_themes, link_licence, text
from transforms.ckan_resources import distributions
from transforms.rdf import ADMS, DCAT_VERSION, iri, plain_literal, terms
from transforms.records import MISSING, catalog_record
from transforms.text import DEFAULT_MAX_CHARS, clean_line
from transforms.uris import clean_url, fragment, is_http_url

# Cached term access on the hot path (transforms.rdf.terms): the same URIs as rdflib's namespaces.
DCAT, DCTERMS, FOAF, RDF, SKOS = (terms(ns) for ns in (DCAT, DCTERMS, FOAF, RDF, SKOS))

MAX_DESCRIPTION_CHARS = DEFAULT_MAX_CHARS

# CKAN field → property paths from the dataset node ("^p" = inverse step, "@id" = the node itself).
# docs/mapping-ckan.md renders this table; tests/test_mapping_docs.py checks both against the output.
FIELD_MAP: dict[str, tuple[str, ...]] = {
    "id": ("dct:identifier", "^foaf:primaryTopic/dct:identifier"),
    "title": ("dct:title",),
    "notes": ("dct:description",),
    "tags[].name": ("dcat:keyword",),
    "groups[].name": ("dcat:theme",),
    "organization.title": ("dct:publisher/foaf:name",),
    "maintainer": ("dcat:contactPoint/vcard:fn",),
    "maintainer_email": ("dcat:contactPoint/vcard:hasEmail",),
    "author": ("dcat:contactPoint/vcard:fn",),
    "author_email": ("dcat:contactPoint/vcard:hasEmail",),
    "contact-email": ("dcat:contactPoint/vcard:hasEmail",),
    "license_id": ("dct:license", "dcat:distribution/dct:license"),
    "license_url": ("dct:license",),
    "private": ("dct:accessRights",),
    "metadata_created": ("dct:issued",),
    "metadata_modified": ("dct:modified", "^foaf:primaryTopic/dct:modified"),
    "url": ("dcat:landingPage",),
    "version": ("dcat:version",),
    "resources[]": ("dcat:distribution",),
    "resources[].url": ("dcat:distribution/dcat:accessURL",),
    "resources[].name": ("dcat:distribution/dct:title",),
    "resources[].description": ("dcat:distribution/dct:description",),
    "resources[].format": ("dcat:distribution/dct:format",),
    "resources[].mimetype": ("dcat:distribution/dcat:mediaType",),
    "resources[].size": ("dcat:distribution/dcat:byteSize",),
    "resources[].created": ("dcat:distribution/dct:issued",),
    "resources[].last_modified": ("dcat:distribution/dct:modified",),
    "extras.uri": ("@id",),
    "extras.guid": ("dct:identifier",),
    "extras.identifier": ("dct:identifier",),
    "extras.issued": ("dct:issued",),
    "extras.modified": ("dct:modified",),
    "extras.dataset-reference-date": ("dct:modified",),
    "extras.frequency": ("dct:accrualPeriodicity",),
    "extras.update_frequency": ("dct:accrualPeriodicity",),
    "extras.frequency-of-update": ("dct:accrualPeriodicity",),
    "extras.theme": ("dcat:theme",),
    "extras.language": ("dct:language",),
    "extras.metadata-language": ("^foaf:primaryTopic/dct:language",),
    "extras.licence": ("dct:license",),
    "extras.responsible-party": ("dcat:contactPoint/vcard:fn",),
    "extras.spatial": ("dct:spatial/locn:geometry",),
    "extras.bbox-west-long": ("dct:spatial/dcat:bbox",),
    "extras.spatial_text": ("dct:spatial/skos:prefLabel",),
    "extras.spatial_uri": ("dct:spatial",),
    "extras.temporal_start": ("dct:temporal/dcat:startDate",),
    "extras.temporal_end": ("dct:temporal/dcat:endDate",),
    "extras.harvest_url": ("adms:identifier/skos:notation",),
}


def _package(record: Any, ctx: SourceContext) -> dict[str, Any]:
    """The package dict, also from a whole ``package_show`` reply (``{"success", "result"}``, list-shaped too)."""
    pkg = getattr(record, "payload", record)
    if isinstance(pkg, dict) and "result" in pkg and "success" in pkg:
        pkg = pkg["result"]
    if isinstance(pkg, list) and len(pkg) == 1:
        pkg = pkg[0]
    if not isinstance(pkg, dict):
        raise MappingError(f"payload is a {type(pkg).__name__}, not a CKAN package object",
                           source_id=ctx.source_id, native_id=str(getattr(record, "native_id", "?")),
                           field="payload")
    return pkg


def _keywords(pkg: dict[str, Any]) -> list[str]:
    out: dict[str, None] = {}
    for t in pkg.get("tags") or []:
        name = t.get("display_name") or t.get("name") if isinstance(t, dict) else t
        if isinstance(name, str) and (kw := clean_line(name)):
            out.setdefault(kw)
    return list(out)


def _themes(pkg: dict[str, Any], ex: dict[str, Any], out: Out) -> list[str]:
    found: dict[str, None] = {}
    for g in pkg.get("groups") or []:
        if isinstance(g, dict):
            uri = vocab.theme(g.get("name")) or vocab.theme(g.get("title"))
            if uri:
                found.setdefault(uri)
    for k in ("theme", "theme-primary", "theme-secondary"):
        raw = json_in_string(ex.get(k) if ex.get(k) is not None else pkg.get(k))
        for v in (raw if isinstance(raw, list) else [raw]):
            if text(v) is None:
                continue
            uri = vocab.theme(v)
            if uri:
                found.setdefault(uri)
            else:
                out.warn(f"extras.{k}", f"{str(v)[:60]!r} has no EU data theme")
    return list(found)


def map_package(record: Any, ctx: SourceContext) -> Mapped:
    """Map one CKAN package. Field problems become ``Mapped.warnings``; an unmappable package raises
    :class:`MappingError` naming the source, the record and the field."""
    pkg = _package(record, ctx)
    native_id = text(getattr(record, "native_id", None)) or text(pkg.get("id")) or text(pkg.get("name"))
    if native_id is None:
        raise MappingError("package has neither id nor name", source_id=ctx.source_id, native_id="?", field="id")
    title = clean_line(pkg.get("title")) or clean_line(pkg.get("name"))
    if not title:
        # A title made up from an id would hide the gap from the quality report: refuse the record.
        raise MappingError("package has neither title nor name (dct:title is mandatory in DCAT-AP 3)",
                           source_id=ctx.source_id, native_id=native_id, field="title")
    out = Out()
    ex = extras_of(pkg)
    base = str(ctx.mint("dataset", native_id))
    uri_extra = text(ex.get("uri")) or text(pkg.get("uri"))
    if uri_extra and not is_http_url(uri_extra):
        out.warn("extras.uri", f"not an absolute http(s) IRI {uri_extra[:120]!r}; minted URI used")
    ds = iri(uri_extra) if uri_extra and is_http_url(uri_extra) else iri(base)
    identifier = text(pkg.get("id")) or native_id
    row = dataset_row(ctx, ds, native_id, identifier, title, out)
    if not clean_line(pkg.get("title")):
        out.warn("title", "empty; the package name is used")
    description(ds, row, pkg.get("notes"), "notes", out)

    for k in ("guid", "identifier"):
        if (v := text(ex.get(k))) is not None and v != identifier:
            out.add(ds, DCTERMS.identifier, plain_literal(v))
    if (v := text(pkg.get("version"))) is not None:
        out.add(ds, DCAT_VERSION, plain_literal(v))

    keywords_and_themes(ds, row, _keywords(pkg), _themes(pkg, ex, out), out)

    org = pkg.get("organization")
    org_name = clean_line(org.get("title") or org.get("name")) if isinstance(org, dict) else ""
    if org_name:
        named_agent(base, ds, DCTERMS.publisher, "publisher", org_name, out)
        row["publisher"] = org_name
    else:
        out.warn("organization", "none; dataset has no dct:publisher")
    institution(ctx, base, ds, out)
    row["contact_name"], row["contact_email"] = contact_point(pkg, ex, base, ds, out)

    licence, label = resolve_licence(pkg, ex, out)
    row["licence_label"] = label
    licence_uri = licence.uri if licence else None
    if licence:
        row["licence_open"] = licence.open
    if licence_uri:
        row["licence_uri"] = licence_uri
        link_licence(ds, licence_uri, True, out)

    access = vocab.access_right("NON_PUBLIC" if pkg.get("private") is True else "PUBLIC")
    out.concept(ds, DCTERMS.accessRights, access)
    row["access_rights"] = access

    issued, modified = dataset_dates(pkg, ex, out)
    if issued:
        out.add(ds, DCTERMS.issued, issued.literal)
        row["issued"] = issued.iso
    if modified:
        out.add(ds, DCTERMS.modified, modified.literal)
        row["modified"] = modified.iso

    freq_f = field(pkg, ex, "frequency", "update_frequency", "frequency-of-update", "accrual_periodicity")
    if freq_f:
        freq = vocab.frequency(freq_f[1])
        if freq:
            out.concept(ds, DCTERMS.accrualPeriodicity, freq)
            row["frequency"] = freq.rsplit("/", 1)[-1]
        else:
            out.warn(freq_f[0], f"{freq_f[1][:60]!r} has no EU frequency")
    lang_f = field(pkg, ex, "language")
    if lang_f:
        for v in (lang_f[1].replace(";", ",").split(",")):
            if text(v) and (lang := vocab.language(v)):
                out.concept(ds, DCTERMS.language, lang)
            elif text(v):
                out.warn(lang_f[0], f"{v.strip()[:40]!r} is not a known language")

    row["spatial"] = spatial(pkg, ex, base, ds, out)
    row["temporal_start"], row["temporal_end"] = temporal(pkg, ex, base, ds, out)
    landing = landing_page(pkg, ctx.source_url, out)
    if landing:
        landing_ref = iri(landing)
        out.add(ds, DCAT.landingPage, landing_ref)
        out.add(landing_ref, RDF.type, FOAF.Document)
        row["landing_page"] = landing

    row.update(distributions(pkg, base, ds, landing, licence_uri, out).columns())

    source_modified = getattr(record, "source_modified", None) or pkg.get("metadata_modified")
    _catalog_record(ctx, pkg, ex, base, ds, identifier, source_modified, out)
    return Mapped(uri=str(ds), native_id=native_id, triples=out.triples, row=row, warnings=out.warnings)


def _catalog_record(ctx: SourceContext, pkg: dict[str, Any], ex: dict[str, Any], base: str, ds: URIRef,
                    identifier: str, source_modified: Any, out: Out) -> None:
    """``#record`` dated by ``metadata_modified``; its ``#source-record`` points at the portal's package_show."""
    mod = date_of("metadata_modified", source_modified, out)
    lang_f = field(pkg, ex, "metadata-language")
    api = (f"{ctx.source_url.rstrip('/')}/api/3/action/package_show?id={quote(identifier, safe='-._~')}"
           if is_http_url(ctx.source_url) else None)
    catalog_record(base, ds, identifier, mod, out, missing=("metadata_modified", MISSING),
                   language=vocab.language(lang_f[1]) if lang_f else None, source=True, see_also=api)
    # a harvested copy's pointer to the record it was harvested from (docs/duplicates.md),
    # as an adms:Identifier: a CatalogRecord's dct:source would have to be a dated dcat:CatalogRecord.
    if (origin := harvest_origin(pkg, ex)) is not None:
        node = fragment(base, "identifier-origin")
        out.add(ds, ADMS.identifier, node)
        out.add(node, RDF.type, ADMS.Identifier)
        out.add(node, SKOS.notation, plain_literal(origin))


def harvest_origin(pkg: dict[str, Any], ex: dict[str, Any]) -> str | None:
    """The ``harvest_url`` extra (ckanext-harvest's ``default_extras`` convention) of a harvested package.

    ``harvest_object_id`` / ``harvest_source_id`` name the mirror's own harvest job and change on every
    re-harvest, so they stay out of the graph (they would change the content hash with no content change).
    """
    harvest = pkg.get("harvest")
    listed = ({str(h.get("key")): h.get("value") for h in harvest if isinstance(h, dict)}
              if isinstance(harvest, list) else {})
    for value in (ex.get("harvest_url"), pkg.get("harvest_url"), listed.get("harvest_url")):
        url = clean_url(value) if isinstance(value, str) else None
        if url and is_http_url(url):
            return url
    return None


__all__ = ["FIELD_MAP", "harvest_origin", "map_package"]
