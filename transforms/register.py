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
from transforms.base import Mapped, MappingError, SourceContext
from transforms.ckan import DCAT_AP_3, _institution  # same attribution and catalogue-record conventions
from transforms.common import Out, date_of, text
from transforms.rdf import VCARD, plain_literal, terms
from transforms.register_fields import access_right, contact_parts, distributions, split_list
from transforms.row import empty_row
from transforms.text import DEFAULT_MAX_CHARS, clean_line, to_plain_text
from transforms.uris import fragment, is_http_url, mailto

DCAT, DCTERMS, FOAF, RDF, VCARD = (terms(ns) for ns in (DCAT, DCTERMS, FOAF, RDF, VCARD))

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
    row_out = empty_row()
    row_out.update(uri=base, identifier=native_id, source_id=ctx.source_id, native_id=native_id, title=title,
                   institution=ctx.institution.name)
    out.add(ds, RDF.type, DCAT.Dataset)
    out.add(ds, DCTERMS.title, plain_literal(title))
    out.add(ds, DCTERMS.identifier, plain_literal(native_id))
    desc = to_plain_text(get("description"), DEFAULT_MAX_CHARS)
    if desc.text:
        out.add(ds, DCTERMS.description, plain_literal(desc.text))
        row_out["description"] = desc.text
        if desc.truncated:
            out.warn(header("description"), f"{desc.original_length} characters cut to {DEFAULT_MAX_CHARS}")
    else:
        out.warn(header("description"), "empty (dct:description is mandatory in DCAT-AP)")

    owner = clean_line(get("owner"))
    pub = fragment(base, "publisher")
    out.add(ds, DCTERMS.publisher, pub)
    out.add(pub, RDF.type, FOAF.Agent)
    out.add(pub, FOAF.name, plain_literal(owner or ctx.institution.name))
    row_out["publisher"] = owner or ctx.institution.name
    if not owner:
        out.warn(header("owner"), "no information asset owner; the institution is the publisher")
    _institution(ctx, base, ds, out)
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
    row_out["keywords"] = [kw for kw in (clean_line(k) for k in split_list(get("keywords"))) if kw]
    for kw in row_out["keywords"]:
        out.add(ds, DCAT.keyword, plain_literal(kw))
    for word in split_list(get("theme")):
        if (theme := vocab.theme(word)):
            out.concept(ds, DCAT.theme, theme)
            row_out["themes"].append(theme.rsplit("/", 1)[-1])
        else:
            out.warn(header("theme"), f"{word[:60]!r} is no EU data theme")

    inst_uri = ctx.institution.uri if is_http_url(ctx.institution.uri) else None
    fallback = inst_uri or (ctx.source_url if is_http_url(ctx.source_url) else None)
    dists = distributions(base, ds, get("url"), header("url"), get("format"), header("format"), fallback,
                          licence_uri, out)
    if dists.landing_page:
        out.add(ds, DCAT.landingPage, URIRef(dists.landing_page))
        out.add(URIRef(dists.landing_page), RDF.type, FOAF.Document)
        row_out["landing_page"] = dists.landing_page
    row_out.update(formats=dists.formats, media_types=dists.media_types, access_urls=dists.access_urls,
                   download_urls=dists.download_urls, distribution_count=dists.count,
                   offer=sorted(dists.offer) if dists.offer else ["request-only"])
    _catalog_record(base, ds, native_id, modified, header("modified"), out)
    return Mapped(uri=base, native_id=native_id, triples=out.triples, row=row_out, warnings=out.warnings)


def _contact(value: str, header: str, base: str, ds: URIRef, out: Out) -> tuple[str | None, str | None]:
    name, email = contact_parts(value)
    node = fragment(base, "contact")
    out.add(ds, DCAT.contactPoint, node)
    out.add(node, RDF.type, VCARD.Kind)
    if name:
        out.add(node, VCARD.fn, plain_literal(name))
    if email and (ref := mailto(email)):
        out.add(node, VCARD.hasEmail, ref)
    elif "@" in value:
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
    if lic.uri.startswith(vocab.EU):
        out.concept(ds, DCTERMS.license, lic.uri)
    else:
        out.add(ds, DCTERMS.license, URIRef(lic.uri))
        out.add(URIRef(lic.uri), RDF.type, DCTERMS.LicenseDocument)
    return lic.uri


def _catalog_record(base: str, ds: URIRef, identifier: str, modified: Any, header: str, out: Out) -> None:
    """``#record``; its dct:modified is the row's own date, never the harvest time (the feed adds the inventory's)."""
    rec = fragment(base, "record")
    out.add(rec, RDF.type, DCAT.CatalogRecord)
    out.add(rec, FOAF.primaryTopic, ds)
    out.add(rec, DCTERMS.identifier, plain_literal(identifier))
    out.add(rec, DCTERMS.conformsTo, DCAT_AP_3)
    out.add(DCAT_AP_3, RDF.type, DCTERMS.Standard)
    if modified:
        out.add(rec, DCTERMS.modified, modified.literal)
    else:
        out.warn(header, "no date: the catalogue record has no dct:modified (the feed adds the inventory's)")
