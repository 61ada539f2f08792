"""Socrata asset (Discovery catalog entry and/or views-API document) → DCAT-AP 3 triples + flat row.

``FIELD_MAP`` is the contract (docs/mapping-socrata.md renders it; tests/test_socrata.py checks both against the
output). Keys name the views-API field and the Discovery API field that feed the same property
(``view field / discovery field``). Decisions worth knowing:

* Timestamps: the views API gives Unix epoch seconds, Discovery ISO strings; both become ``xsd:dateTime`` in UTC.
  ``dct:modified`` is the latest of the data and metadata update times (the dataset changed when either did).
* ``metadata.rdfSubject`` becomes the dataset URI only when it is an absolute http(s) IRI (Seattle serves ``"0"``);
  otherwise the URI is minted ``<base>/dataset/<source>/<4x4>``, where all auxiliary nodes live.
* ``category`` is a free string: always a keyword, a ``dcat:theme`` only where ``transforms.vocab.theme`` maps it.
* Distributions: the SODA endpoint ``/resource/<id>.json`` (offer ``api``) and the CSV export
  ``/api/views/<id>/rows.csv?accessType=DOWNLOAD`` (offer ``download``); each derived view the harvester attached
  (chart, map, filtered view) is a distribution at its own page (offer ``visualisation``).
* Attachments carry only a ``blobId`` (or ``assetId``): their URL is built the way the portal serves them
  (``/api/views/<id>/files/<blobId>?download=true&filename=..``) and linked as ``foaf:page`` (documentation).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from rdflib import URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF

from transforms import vocab
from transforms.agents import contact_point, institution, named_agent
from transforms.base import Mapped, MappingError, SourceContext
from transforms.common import Out, dataset_row, date_of, description, keywords_and_themes, link_licence, text
from transforms.dates import ParsedDate
from transforms.distributions import Distributions
from transforms.rdf import plain_literal, terms
from transforms.records import LEFT_TO_FEED, catalog_record
from transforms.socrata_fields import Asset, asset_of, custom_fields, socrata_licence
from transforms.text import clean_line
from transforms.uris import is_http_url, mailto

DCAT, DCTERMS, FOAF, RDF = (terms(ns) for ns in (DCAT, DCTERMS, FOAF, RDF))

FIELD_MAP: dict[str, tuple[str, ...]] = {
    "id / resource.id": ("dct:identifier", "^foaf:primaryTopic/dct:identifier"),
    "name / resource.name": ("dct:title",),
    "description / resource.description": ("dct:description",),
    "tags[] / classification.domain_tags[]": ("dcat:keyword",),
    "category / classification.domain_category": ("dcat:keyword", "dcat:theme"),
    "attribution / resource.attribution": ("dct:publisher/foaf:name",),
    "attributionLink / resource.attribution_link": ("dct:publisher/foaf:homepage",),
    "- / resource.contact_email": ("dcat:contactPoint/vcard:hasEmail",),
    "metadata.custom_fields.*.Frequency / classification.domain_metadata[*_Frequency]": ("dct:accrualPeriodicity",),
    "metadata.custom_fields.*.Owner / classification.domain_metadata[*_Owner]": ("dct:creator/foaf:name",),
    "license.termsLink": ("dct:license", "dcat:distribution/dct:license"),
    "licenseId": ("dct:license",),
    "license.name / metadata.license": ("dct:license",),
    "publicationDate / resource.publication_date": ("dct:issued",),
    "createdAt / resource.createdAt": ("dct:issued",),
    "rowsUpdatedAt / resource.data_updated_at": ("dct:modified", "^foaf:primaryTopic/dct:modified"),
    "viewLastModified / resource.metadata_updated_at": ("dct:modified",),
    "- / resource.updatedAt": ("dct:modified",),
    "metadata.rdfSubject": ("@id",),
    "metadata.attachments[]": ("foaf:page",),
    "- / permalink": ("dcat:landingPage",),
    "id → /resource/<id>.json": ("dcat:distribution/dcat:accessURL",),
    "id → /api/views/<id>/rows.csv": ("dcat:distribution/dcat:downloadURL",),
    "derived views (payload.derived[])": ("dcat:distribution/dcat:accessURL", "dcat:distribution/dct:title"),
}

# Read but deliberately not mapped (docs/mapping-socrata.md lists them too).
NOT_MAPPED: dict[str, str] = {
    "columns[] / resource.columns_*": "column schema and cached statistics: DCAT-AP 3 has no column model "
                                      "(and Seattle's stats hold mojibake such as a UTF-8 BOM read as Latin-1)",
    "owner / tableAuthor": "the Socrata user account that owns the asset, not a publisher; its image URLs are relative",
    "license.logoUrl": "a relative image path",
    "downloadCount / viewCount / page_views": "usage statistics",
    "grants / rights / flags": "every harvested asset is public (anonymous listing); dct:accessRights is PUBLIC",
    "other custom fields": "portal-specific; only frequency and owner fields have a DCAT-AP home",
}

_FREQUENCY_FIELDS = ("frequency", "update frequency", "refresh frequency", "update cycle")
_OWNER_FIELDS = ("owner", "data owner", "department", "dataset owner")


def _asset(record: Any, ctx: SourceContext) -> Asset:
    payload = getattr(record, "payload", record)
    a = asset_of(payload)
    if a is None:
        raise MappingError("payload is neither a Socrata catalog entry nor a views-API document",
                           source_id=ctx.source_id, native_id=str(getattr(record, "native_id", "?")), field="payload")
    return a


def map_asset(record: Any, ctx: SourceContext) -> Mapped:
    """Map one Socrata dataset. Field problems become ``Mapped.warnings``; a dataset without a 4x4 id or a
    name raises :class:`MappingError` naming the source, the record and the field."""
    a = _asset(record, ctx)
    id_f = a.first("id", "id")
    native_id = text(getattr(record, "native_id", None)) or (text(id_f[1]) if id_f else None)
    if native_id is None or id_f is None:
        raise MappingError("asset has no id (its 4x4 identifier)", source_id=ctx.source_id,
                           native_id=native_id or "?", field="id")
    identifier = str(id_f[1]).strip()
    name_f = a.first("name", "name")
    title = clean_line(name_f[1]) if name_f else ""
    if not title:
        raise MappingError("asset has no name (dct:title is mandatory in DCAT-AP 3)", source_id=ctx.source_id,
                           native_id=native_id, field="name")
    out = Out()
    base = str(ctx.mint("dataset", native_id))
    subject = text(a.view_meta.get("rdfSubject"))
    if subject and not is_http_url(subject):
        out.warn("metadata.rdfSubject", f"{subject[:80]!r} is not an IRI; minted URI used")
    node = URIRef(subject) if subject and is_http_url(subject) else URIRef(base)
    portal = _portal(a, ctx)
    row = dataset_row(ctx, node, native_id, identifier, title, out)
    desc_f = a.first("description", "description")
    description(node, row, desc_f[1] if desc_f else None, "description", out, note_cut=False)

    _keywords_and_theme(a, node, row, out)
    row["publisher"] = _publisher(a, base, node, out)
    institution(ctx, base, node, out)
    row["contact_email"] = _contact(a, base, node, out)
    fields = custom_fields(a)
    _custom(fields, base, node, row, out)

    lic, row["licence_label"], lic_doc = socrata_licence(a, out)
    if lic is not None:
        row["licence_uri"], row["licence_open"] = lic.uri, lic.open
    link_licence(node, lic_doc, lic is not None, out)
    access = vocab.access_right("PUBLIC")
    out.concept(node, DCTERMS.accessRights, access)
    row["access_rights"] = access

    issued = _date(a, out, ("publicationDate", "publication_date"), ("createdAt", "createdAt"))
    if issued:
        out.add(node, DCTERMS.issued, issued.literal)
        row["issued"] = issued.iso
    modified = _latest(a, out)
    if modified:
        out.add(node, DCTERMS.modified, modified.literal)
        row["modified"] = modified.iso

    landing = text(a.disc.get("permalink")) or f"{portal}/d/{quote(native_id)}"
    if is_http_url(landing):
        out.add(node, DCAT.landingPage, URIRef(landing))
        out.add(URIRef(landing), RDF.type, FOAF.Document)
        row["landing_page"] = landing
    _attachments(a, portal, native_id, node, out)
    dists = _distributions(a, portal, native_id, landing, base, node, lic_doc, out)
    row.update(dists.columns())
    catalog_record(base, node, identifier, modified, out, missing=("modified", LEFT_TO_FEED), source=True,
                   see_also=ctx.source_url if is_http_url(ctx.source_url) else None)
    return Mapped(uri=str(node), native_id=native_id, triples=out.triples, row=row, warnings=out.warnings)


def _portal(a: Asset, ctx: SourceContext) -> str:
    """The asset's own domain (Discovery ``metadata.domain``; the federated index lists many), else the source URL."""
    meta = a.disc.get("metadata") if isinstance(a.disc.get("metadata"), dict) else {}
    domain = text(meta.get("domain"))
    return f"https://{domain}" if domain and "/" not in domain else ctx.source_url.rstrip("/")


def _keywords_and_theme(a: Asset, node: URIRef, row: dict[str, Any], out: Out) -> None:
    words: dict[str, None] = {}
    for source in (a.view.get("tags"), a.cls.get("domain_tags"), a.cls.get("tags")):
        for t in source if isinstance(source, list) else []:
            if (kw := clean_line(t)):
                words.setdefault(kw)
    categories = [a.view.get("category"), a.cls.get("domain_category"), *(a.cls.get("categories") or [])]
    themes: dict[str, None] = {}
    for c in categories:
        if (cat := clean_line(c)):
            words.setdefault(cat)
            if (uri := vocab.theme(cat)):
                themes.setdefault(uri)
    keywords_and_themes(node, row, words, themes, out)


def _publisher(a: Asset, base: str, node: URIRef, out: Out) -> str | None:
    """``attribution`` ("Data provided by") is the publisher; the owning user account is not."""
    f = a.first("attribution", "attribution")
    name = clean_line(f[1]) if f else ""
    if not name:
        out.warn("attribution", "none; dataset has no dct:publisher")
        return None
    agent = named_agent(base, node, DCTERMS.publisher, "publisher", name, out)
    link = a.first("attributionLink", "attribution_link")
    if link and is_http_url(str(link[1]).strip()):
        out.add(agent, FOAF.homepage, URIRef(str(link[1]).strip()))
        out.add(URIRef(str(link[1]).strip()), RDF.type, FOAF.Document)
    elif link:
        out.warn(link[0], f"not an http(s) URL {str(link[1])[:80]!r}")
    return name


def _contact(a: Asset, base: str, node: URIRef, out: Out) -> str | None:
    raw = text(a.res.get("contact_email"))
    if raw is None:
        return None
    ref = mailto(raw)
    if ref is None:
        out.warn("resource.contact_email", f"not an e-mail address {raw[:80]!r}")
        return None
    contact_point(base, node, out, email=str(ref)[7:])
    return str(ref)[7:]


def _custom(fields: dict[tuple[str, str], tuple[str, str]], base: str, node: URIRef, row: dict[str, Any],
            out: Out) -> None:
    for (_, name), (where, value) in fields.items():
        if name in _FREQUENCY_FIELDS and row["frequency"] is None:
            if (freq := vocab.frequency(value)):
                out.concept(node, DCTERMS.accrualPeriodicity, freq)
                row["frequency"] = freq.rsplit("/", 1)[-1]
            else:
                out.warn(where, f"{value[:60]!r} has no EU frequency")
        elif name in _OWNER_FIELDS and (owner := clean_line(value)):
            named_agent(base, node, DCTERMS.creator, "creator", owner, out)


def _date(a: Asset, out: Out, *pairs: tuple[str, str]) -> ParsedDate | None:
    for view_key, disc_key in pairs:
        f = a.first(view_key, disc_key)
        if f and (d := date_of(f[0], f[1], out)):
            return d
    return None


def _latest(a: Asset, out: Out) -> ParsedDate | None:
    """The latest of the data and metadata update times, from whichever API gave them."""
    found: list[ParsedDate] = []
    for key in ("rowsUpdatedAt", "viewLastModified"):
        if a.view.get(key) is not None and (d := date_of(key, a.view[key], out)):
            found.append(d)
    for key in ("data_updated_at", "metadata_updated_at", "updatedAt"):
        if a.res.get(key) is not None and (d := date_of(f"resource.{key}", a.res[key], out)):
            found.append(d)
    return max(found, key=lambda d: d.iso or "") if found else None  # all UTC: ISO strings order by time


def _attachments(a: Asset, portal: str, native_id: str, node: URIRef, out: Out) -> None:
    items = a.view_meta.get("attachments")
    for i, att in enumerate(items if isinstance(items, list) else []):
        if not isinstance(att, dict):
            continue
        filename = text(att.get("filename")) or text(att.get("name")) or "attachment"
        if (blob := text(att.get("blobId"))):
            url = f"{portal}/api/views/{quote(native_id)}/files/{quote(blob)}?" + urlencode(
                {"download": "true", "filename": filename})
        elif (asset := text(att.get("assetId"))):
            url = f"{portal}/api/assets/{quote(asset)}?" + urlencode({"download": "true"})
        else:
            out.warn(f"metadata.attachments[{i}]", "neither blobId nor assetId; not linked")
            continue
        out.add(node, FOAF.page, URIRef(url))
        out.add(URIRef(url), RDF.type, FOAF.Document)
        out.add(URIRef(url), DCTERMS.title, plain_literal(clean_line(att.get("name")) or filename))


def _distributions(a: Asset, portal: str, native_id: str, landing: str, base: str, node: URIRef,
                   licence: str | None, out: Out) -> Distributions:
    dists = Distributions()
    rtype = text(a.res.get("type")) or "dataset"
    safe = quote(native_id)
    if rtype == "dataset":
        dists.add(base, node, "api", access=f"{portal}/resource/{safe}.json", title="SODA API (JSON)", fmt="JSON",
                  download=False, service="api", licence=licence, out=out)
        dists.add(base, node, "csv", access=f"{portal}/api/views/{safe}/rows.csv?accessType=DOWNLOAD",
                  title="CSV export", fmt="CSV", download=True, service=None, licence=licence, out=out)
    elif rtype == "file" and is_http_url(landing):
        dists.add(base, node, "file", access=landing, title=clean_line(a.res.get("name")) or None,
                  fmt=text(a.res.get("blob_mime_type")), download=False, service=None, licence=licence, out=out)
        dists.offer.add("download")
    elif is_http_url(landing):  # href: a link to data published elsewhere
        dists.add(base, node, "link", access=landing, title=None, fmt=None, download=False, service=None,
                  licence=licence, out=out)
    for i, child in enumerate(a.derived):
        res = child.get("resource") if isinstance(child, dict) else None
        cid = text(res.get("id")) if isinstance(res, dict) else None
        if cid is None:
            out.warn(f"derived[{i}]", "derived view without resource.id; not mapped")
            continue
        page = text(child.get("permalink")) or f"{portal}/d/{quote(cid)}"
        if not is_http_url(page):
            out.warn(f"derived[{i}].permalink", f"not an http(s) URL {page[:80]!r}")
            continue
        kind = text(res.get("type")) or "view"
        dists.add(base, node, f"view-{cid}", access=page, title=clean_line(res.get("name")) or f"{kind} {cid}",
                  fmt=None, download=False, service="visualisation", licence=licence, out=out)
    return dists
