"""A :class:`~transforms.geo_draft.GeoDraft` (ISO 19139 or CSW Dublin Core) → DCAT-AP 3, per GeoDCAT-AP.

Decisions (docs/mapping-csw.md has the tables):

* The dataset URI is minted from the record id (``gmd:fileIdentifier``); the resource identifier
  (``citation/identifier``, GEMINI's unique resource identifier) is the dataset's ``dct:identifier``.
* Responsible parties go by role: publisher → ``dct:publisher``; pointOfContact → ``dcat:contactPoint``;
  owner → ``dct:rightsHolder``; originator/author → ``dct:creator``; custodian and the rest → a
  ``prov:qualifiedAttribution`` with the INSPIRE role. Records without a publisher role (most GEMINI
  records) take the owner, else the custodian, as ``dct:publisher`` and say so in a warning, because the
  inventory must show who holds the data.
* Constraints: texts and Anchors naming a known licence (URL first, then exact title) give the canonical
  licence; other use texts become a ``dct:LicenseDocument`` labelled with the text (GeoDCAT-AP), and the
  row keeps the text as ``licence_label`` with ``licence_uri`` null. Access texts give an EU access right
  when recognised (INSPIRE ``noLimitations`` → PUBLIC, other INSPIRE limitations → NON_PUBLIC), else a
  ``dct:RightsStatement`` with the text.
* Online resources by protocol: OGC:WMS/WMTS → visualisation, OGC:WFS/WCS and other service protocols → api
  (both with a ``dcat:DataService``), download protocols and file links → download, information links →
  pages (the first is the landing page).
"""

from __future__ import annotations

import math
from typing import Any

from rdflib import Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, RDFS, SKOS

from transforms import vocab
from transforms.agents import contact_point, institution
from transforms.base import Mapped, MappingError, SourceContext
from transforms.common import Out, bbox_literal, dataset_row, date_of, first_dates, keywords_and_themes, period
from transforms.geo_draft import GeoDraft, Party
from transforms.iso19139_offer import distributions, rights
from transforms.iso19139_vocab import ISO_FREQUENCY, inspire_theme, language_uri, resource_type_uri, role_uri, topic_uri
from transforms.rdf import LOCN, PROV, plain_literal, terms
from transforms.records import MISSING, catalog_record
from transforms.text import DEFAULT_MAX_CHARS, clean_line, to_plain_text
from transforms.uris import clean_url, fragment, is_http_url, mailto

DCAT, DCTERMS, FOAF, PROV, RDF, RDFS, SKOS = (terms(ns) for ns in (DCAT, DCTERMS, FOAF, PROV, RDF, RDFS, SKOS))
DCMITYPE = "http://purl.org/dc/dcmitype/"
OPEN_END_YEAR = 2999  # GeoNetwork and INSPIRE editors write 2999-01-01 for "still ongoing"



def build(d: GeoDraft, ctx: SourceContext) -> Mapped:
    """Map a draft; field problems become warnings naming the source field, a title-less record raises."""
    title = next(((f, clean_line(v)) for f, v in d.titles if clean_line(v)), None)
    if title is None:
        raise MappingError("no title (dct:title is mandatory in DCAT-AP 3)", source_id=ctx.source_id,
                           native_id=d.native_id, field="citation/title" if d.schema == "iso19139" else "dc:title")
    out = Out()
    for f, note in d.notes:
        out.warn(f, note)
    base = str(ctx.mint("dataset", d.native_id))
    ds = URIRef(base)
    identifiers = []
    for f, v in d.identifiers:
        code = clean_line(v)
        if code.startswith(("{", "[", "<")) or len(code) > 300:
            out.warn(f, f"identifier code is not an identifier (starts {code[:30]!r}, {len(code)} characters); ignored")
        elif code:
            identifiers.append(code)
    identifiers = identifiers or [d.native_id]
    row = dataset_row(ctx, ds, d.native_id, identifiers[0], title[1], out)
    for ident in list(dict.fromkeys(identifiers))[1:]:
        out.add(ds, DCTERMS.identifier, plain_literal(ident))
    _description(d, ds, row, out)
    for f, kind in ([("hierarchyLevel", d.hierarchy)] if d.hierarchy else []) + d.types:
        uri = resource_type_uri(kind) or (kind if kind.startswith(DCMITYPE) and is_http_url(kind) else None)
        if uri is None:
            out.warn(f, f"{kind[:60]!r} is neither an ISO scope code nor a DCMI type")
            continue
        out.add(ds, DCTERMS.type, URIRef(uri))
        out.add(URIRef(uri), RDF.type, SKOS.Concept)
        out.add(URIRef(uri), SKOS.prefLabel, Literal(uri.rstrip("/").rsplit("/", 1)[-1], lang="en"))
    _parties(d, base, ds, row, out)
    institution(ctx, base, ds, out)
    licence = rights(d, base, ds, row, out)
    _dates(d, ds, row, out)
    _subjects(d, ds, row, out)
    _coverage(d, base, ds, row, out)
    if d.lineage:
        node = fragment(base, "provenance")
        out.add(ds, DCTERMS.provenance, node)
        out.add(node, RDF.type, DCTERMS.ProvenanceStatement)
        out.add(node, RDFS.label, plain_literal(to_plain_text(d.lineage[1], DEFAULT_MAX_CHARS).text))
    if d.frequency:
        code = ISO_FREQUENCY.get(d.frequency[1])
        uri = vocab.frequency(code) if code else None
        if uri:
            out.concept(ds, DCTERMS.accrualPeriodicity, uri)
            row["frequency"] = code
        else:
            out.warn(d.frequency[0], f"{d.frequency[1]!r} is not an ISO MD_MaintenanceFrequencyCode")
    distributions(d, base, ds, licence, row, out)
    language = language_uri(d.metadata_language[1]) if d.metadata_language else None
    stamp = date_of(d.date_stamp[0], d.date_stamp[1], out) if d.date_stamp else None
    catalog_record(base, ds, d.native_id, stamp, out, language=language,
                   missing=("dateStamp" if d.schema == "iso19139" else "dct:modified", MISSING))
    return Mapped(uri=base, native_id=d.native_id, triples=out.triples, row=row, warnings=out.warnings)


def _description(d: GeoDraft, ds: URIRef, row: dict[str, Any], out: Out) -> None:
    texts = [(f, t) for f, v in d.abstracts if (t := to_plain_text(v, DEFAULT_MAX_CHARS)).text]
    if not texts:
        out.warn("abstract" if d.schema == "iso19139" else "dct:abstract",
                 "no abstract (dct:description is mandatory in DCAT-AP)")
        return
    f, t = texts[0]
    if t.truncated:
        out.warn(f, f"{t.original_length} characters cut to {DEFAULT_MAX_CHARS}")
    out.add(ds, DCTERMS.description, plain_literal(t.text))
    row["description"] = t.text


def _agent(base: str, p: Party, agents: dict[str, URIRef], out: Out) -> URIRef:
    """One foaf:Agent per distinct name, at ``#agent-<n>`` in order of first mention."""
    key = p.name.lower()
    node = agents.get(key)
    if node is None:
        node = agents[key] = fragment(base, f"agent-{len(agents) + 1}")
        out.add(node, RDF.type, FOAF.Agent)
        out.add(node, RDF.type, FOAF.Organization if p.organisation else FOAF.Person)
        out.add(node, FOAF.name, plain_literal(p.name))
        if p.email and (mbox := mailto(p.email)):
            out.add(node, FOAF.mbox, mbox)
    return node


def _parties(d: GeoDraft, base: str, ds: URIRef, row: dict[str, Any], out: Out) -> None:
    agents: dict[str, URIRef] = {}
    named = [p for p in d.parties if p.name]
    publisher = next((p for p in named if p.role == "publisher"), None)
    if publisher is None:
        publisher = next((p for r in ("owner", "custodian") for p in named if p.role == r), None)
        if publisher is not None:
            out.warn(publisher.field, f"no party with role publisher; {publisher.role} {publisher.name!r} is "
                                      "used as dct:publisher")
        else:
            out.warn("pointOfContact[publisher]" if d.schema == "iso19139" else "dc:publisher",
                     "none; dataset has no dct:publisher")
    if publisher is not None:
        out.add(ds, DCTERMS.publisher, _agent(base, publisher, agents, out))
        row["publisher"] = publisher.name
    for i, p in enumerate(named, 1):
        if p.role == "publisher":
            continue
        node = _agent(base, p, agents, out)
        if p.role == "owner":
            out.add(ds, DCTERMS.rightsHolder, node)
        elif p.role in ("originator", "author"):
            out.add(ds, DCTERMS.creator, node)
        elif p.role == "contributor":
            out.add(ds, DCTERMS.contributor, node)
        elif p.role != "pointOfContact":
            role = role_uri(p.role)
            if role is None:
                out.warn(p.field, f"role {p.role!r} is not an INSPIRE responsibility role; {p.name!r} not mapped")
                continue
            att = fragment(base, f"attribution-{i}")
            out.add(ds, PROV.qualifiedAttribution, att)
            out.add(att, RDF.type, PROV.Attribution)
            out.add(att, PROV.agent, node)
            out.add(att, DCAT.hadRole, URIRef(role))
            out.add(URIRef(role), RDF.type, DCAT.Role)
    contact = next((p for p in named if p.role == "pointOfContact"), None) or \
        next((p for p in d.metadata_contacts if p.name), None)
    if contact is not None:
        row["contact_name"] = contact.name
        if contact.email and (mbox := mailto(contact.email)):
            row["contact_email"] = str(mbox)[len("mailto:"):]
        elif contact.email:
            out.warn(contact.field, f"{contact.email[:80]!r} is not an e-mail address")
        url = clean_url(contact.url) if contact.url else None
        contact_point(base, ds, out, contact.name, row["contact_email"], url if url and is_http_url(url) else None)


def _dates(d: GeoDraft, ds: URIRef, row: dict[str, Any], out: Out) -> None:
    # the record's dateStamp stands in for a missing revision date, as metadata_modified does for CKAN
    modified = d.modified or ([d.date_stamp] if d.date_stamp else [])
    first_dates(ds, row, ((DCTERMS.issued, d.issued, "issued"), (DCTERMS.created, d.created, None),
                          (DCTERMS.modified, modified, "modified")), out)


def _subjects(d: GeoDraft, ds: URIRef, row: dict[str, Any], out: Out) -> None:
    keywords: dict[str, None] = {}
    themes: dict[str, None] = {}
    for kw in d.keywords:
        label = clean_line(kw.value)
        if label:
            keywords.setdefault(label)
        if kw.field.endswith("[INSPIRE themes]"):
            found = inspire_theme(label, kw.href)
            if found:
                uri, en = found
                out.add(ds, DCAT.theme, URIRef(uri))
                out.add(URIRef(uri), RDF.type, SKOS.Concept)
                out.add(URIRef(uri), SKOS.prefLabel, Literal(en, lang="en"))
                out.add(URIRef(uri), SKOS.inScheme, URIRef("http://inspire.ec.europa.eu/theme"))
        if label and (theme := vocab.theme(label)):
            themes.setdefault(theme)
    keywords_and_themes(ds, row, keywords, themes, out)
    for f, code in d.topics:
        if uri := topic_uri(code):
            out.add(ds, DCTERMS.subject, URIRef(uri))
            out.add(URIRef(uri), RDF.type, SKOS.Concept)
            out.add(URIRef(uri), SKOS.prefLabel, Literal(code, lang="en"))
        else:
            out.warn(f, f"{code!r} is not an ISO topic category")
    for f, v in d.languages:
        if lang := language_uri(v):
            out.concept(ds, DCTERMS.language, lang)
        else:
            out.warn(f, f"{v[:40]!r} is not a known language")


def _coverage(d: GeoDraft, base: str, ds: URIRef, row: dict[str, Any], out: Out) -> None:
    loc = fragment(base, "spatial")
    box = None
    for f, (w, s, e, n) in d.boxes:
        if any(math.isnan(x) for x in (w, s, e, n)):
            out.warn(f, "bounding box without four numbers; not mapped")
        elif not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= n <= 90):
            out.warn(f, f"bounding box {w},{s},{e},{n} is outside WGS 84 longitude/latitude; not mapped")
        elif box is None:
            box = (w, s, e, n)
    labels = list(dict.fromkeys(clean_line(v) for _, v in d.places if clean_line(v)))
    if box or labels:
        out.add(ds, DCTERMS.spatial, loc)
        out.add(loc, RDF.type, DCTERMS.Location)
    for label in labels:
        out.add(loc, SKOS.prefLabel, plain_literal(label))
    if box:
        w, s, e, n = box
        wkt = bbox_literal(w, s, e, n)
        out.add(loc, DCAT.bbox, wkt)
        out.add(loc, LOCN.geometry, wkt)
        row["spatial"] = f"{w},{s},{e},{n}"
    elif labels:
        row["spatial"] = labels[0]
    for f, begin, end in d.periods:
        start = date_of(f, begin, out) if begin else None
        stop = date_of(f, end, out) if end else None
        if stop is not None and stop.iso[:4].isdigit() and int(stop.iso[:4]) >= OPEN_END_YEAR:
            stop = None  # the open-ended sentinel: still ongoing, no end date
        if start or stop:
            row["temporal_start"], row["temporal_end"] = period(base, ds, start, stop, out)
            break


__all__ = ["build"]
