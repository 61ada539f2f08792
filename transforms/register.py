"""Information asset register row (``kind: register``) → DCAT-AP 3 triples + flat row.

The raw payload carries the row (header → cell text) and the column mapping it was read with
(see harvesters/asset_register.py), so this function needs nothing from today's config and a replay maps
the same way. ``FIELD_MAP`` is the contract, rendered in docs/mapping-register.md and checked by
tests/test_register.py. Decisions worth knowing:

* Dataset URI: always minted (``<base>/dataset/<source>/<native id>``); a register has no URIs of its own.
* Publisher: the information asset owner (often a job title, "Head of Planning") as a ``foaf:Agent``;
  a row without an owner gets the institution from sources.yaml as publisher, with a warning.
* A row without a URL still gets distributions, at the institution's (else the source's) web address,
  described as available on request, and ``offer`` ``request-only``: registers list data that is held but
  not published, and the audit must see it.
* Access rights come from an access/security classification column (``register_fields.ACCESS_RIGHTS``);
  no column or an empty cell → no ``dct:accessRights`` (unknown is not the same as public).
"""

from __future__ import annotations

from typing import Any

from rdflib import URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF

from transforms import vocab
from transforms.agents import contact_point, institution, named_agent
from transforms.base import Mapped, MappingError, SourceContext
from transforms.common import Out, dataset_row, date_of, description, keywords_and_themes, link_licence, text
from transforms.rdf import terms
from transforms.records import LEFT_TO_FEED, catalog_record
from transforms.register_fields import access_right, contact_parts, distributions, split_list
from transforms.text import clean_line
from transforms.uris import is_http_url

DCAT, DCTERMS, FOAF, RDF = (terms(ns) for ns in (DCAT, DCTERMS, FOAF, RDF))

# Column-mapping field → property paths from the dataset node ("^p" = inverse step).
FIELD_MAP: dict[str, tuple[str, ...]] = {
    "identifier": ("dct:identifier", "^foaf:primaryTopic/dct:identifier"),
    "title": ("dct:title",),
    "description": ("dct:description",),
    "owner": ("dct:publisher/foaf:name",),
    "licence": ("dct:license", "dcat:distribution/dct:license"),
    "format": ("dcat:distribution/dct:format", "dcat:distribution/dcat:mediaType"),
    "frequency": ("dct:accrualPeriodicity",),
    "contact": ("dcat:contactPoint/vcard:hasEmail", "dcat:contactPoint/vcard:fn"),
    "url": ("dcat:distribution/dcat:accessURL", "dcat:landingPage"),
    "access": ("dct:accessRights",),
    "modified": ("dct:modified", "^foaf:primaryTopic/dct:modified"),
    "keywords": ("dcat:keyword",),
    "theme": ("dcat:theme",),
}


def _parts(record: Any, ctx: SourceContext) -> tuple[str, dict[str, str], dict[str, str]]:
    payload = getattr(record, "payload", record)
    native_id = str(getattr(record, "native_id", "?"))
    row = payload.get("row") if isinstance(payload, dict) else None
    columns = payload.get("columns") if isinstance(payload, dict) else None
    if not isinstance(row, dict) or not isinstance(columns, dict) or "title" not in columns:
        raise MappingError("payload is not a register row ({'row': {...}, 'columns': {'title': ...}})",
                           source_id=ctx.source_id, native_id=native_id, field="payload")
    return native_id, row, columns


def map_register_row(record: Any, ctx: SourceContext) -> Mapped:
    """Map one register row. Field problems become ``Mapped.warnings`` named by the register's column header;
    a row without a title raises :class:`MappingError` naming the title column."""
    native_id, row, columns = _parts(record, ctx)

    def get(field: str) -> str | None:
        return text(row.get(columns[field])) if field in columns else None

    def header(field: str) -> str:
        return columns.get(field, field)

    title = clean_line(get("title"))
    if not title:
        raise MappingError(f"the row has no title in column {header('title')!r} (dct:title is mandatory)",
                           source_id=ctx.source_id, native_id=native_id, field=header("title"))
    out = Out()
    base = str(ctx.mint("dataset", native_id))
    ds = URIRef(base)
    row_out = dataset_row(ctx, ds, native_id, native_id, title, out)
    description(ds, row_out, get("description"), header("description"), out,
                missing="empty (dct:description is mandatory in DCAT-AP)")

    owner = clean_line(get("owner"))
    named_agent(base, ds, DCTERMS.publisher, "publisher", owner or ctx.institution.name, out)
    row_out["publisher"] = owner or ctx.institution.name
    if not owner:
        out.warn(header("owner"), "no information asset owner; the institution is the publisher")
    institution(ctx, base, ds, out)
    if (contact := get("contact")):
        row_out["contact_name"], row_out["contact_email"] = _contact(contact, header("contact"), base, ds, out)

    licence_uri = _licence(get("licence"), header("licence"), ds, row_out, out)
    if (access := get("access")):
        if (uri := access_right(access)):
            out.concept(ds, DCTERMS.accessRights, uri)
            row_out["access_rights"] = uri
        else:
            out.warn(header("access"), f"{access[:60]!r} is not a known access classification")
    modified = date_of(header("modified"), get("modified"), out) if get("modified") else None
    if modified:
        out.add(ds, DCTERMS.modified, modified.literal)
        row_out["modified"] = modified.iso
    if (freq_raw := get("frequency")):
        if (freq := vocab.frequency(freq_raw)):
            out.concept(ds, DCTERMS.accrualPeriodicity, freq)
            row_out["frequency"] = freq.rsplit("/", 1)[-1]
        else:
            out.warn(header("frequency"), f"{freq_raw[:60]!r} has no EU frequency")
    themes = []
    for word in split_list(get("theme")):
        if (theme := vocab.theme(word)):
            themes.append(theme)
        else:
            out.warn(header("theme"), f"{word[:60]!r} is no EU data theme")
    keywords_and_themes(ds, row_out, [kw for kw in (clean_line(k) for k in split_list(get("keywords"))) if kw],
                        themes, out)

    inst_uri = ctx.institution.uri if is_http_url(ctx.institution.uri) else None
    fallback = inst_uri or (ctx.source_url if is_http_url(ctx.source_url) else None)
    dists = distributions(base, ds, get("url"), header("url"), get("format"), header("format"), fallback,
                          licence_uri, out)
    if dists.landing_page:
        out.add(ds, DCAT.landingPage, URIRef(dists.landing_page))
        out.add(URIRef(dists.landing_page), RDF.type, FOAF.Document)
        row_out["landing_page"] = dists.landing_page
    row_out.update(dists.columns())
    catalog_record(base, ds, native_id, modified, out, missing=(header("modified"), LEFT_TO_FEED))
    return Mapped(uri=base, native_id=native_id, triples=out.triples, row=row_out, warnings=out.warnings)


def _contact(value: str, header: str, base: str, ds: URIRef, out: Out) -> tuple[str | None, str | None]:
    name, email = contact_parts(value)  # an e-mail address found here is checked (transforms.uris.is_email)
    contact_point(base, ds, out, name, email)
    if not email and "@" in value:
        out.warn(header, f"not an e-mail address {value[:80]!r}")
    return name, email


def _licence(value: str | None, header: str, ds: URIRef, row: dict[str, Any], out: Out) -> str | None:
    if not value:
        return None
    row["licence_label"] = value[:500]
    lic = vocab.licence(value) or vocab.licence_in_text(value)
    if lic is None or lic.uri is None:
        out.warn(header, f"unrecognised licence {value[:120]!r}" if lic is None
                 else f"{lic.code!r} names no licence document; no dct:license")
        if lic is not None:
            row["licence_open"] = lic.open
        return None
    row["licence_uri"], row["licence_open"] = lic.uri, lic.open
    link_licence(ds, lic.uri, True, out)
    return lic.uri
