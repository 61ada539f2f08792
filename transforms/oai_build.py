"""A :class:`~transforms.oai_common.Draft` (any OAI metadata format) → DCAT-AP 3 triples + flat row.

Decisions (docs/mapping-oai-pmh.md has the tables):

* Dataset URI is minted from the OAI identifier, never the DOI: the same DOI is served by several
  repositories (Zenodo, DataCite itself) and would otherwise collide across sources.
* A DOI becomes a ``dct:identifier`` (the bare ``10.x/...``), an ``adms:Identifier`` at ``#identifier-doi``,
  and its ``https://doi.org/`` URL is the landing page. Without a DOI the first http(s) identifier is.
* Repository records rarely list file URLs, but DCAT-AP needs a ``dcat:Distribution``: file-like http(s)
  identifiers become download distributions; otherwise one distribution ``#distribution-landing-page``
  has the landing page as ``dcat:accessURL``. Its ``offer`` is ``download`` when the record says open
  access (the files are on that page) and ``request-only`` otherwise.
* ``info:eu-repo/semantics/*Access`` terms are access rights, not licences.
"""

from __future__ import annotations

import re
from typing import Any

from rdflib import Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, SKOS, XSD

from transforms import vocab
from transforms.agents import contact_point, institution, named_agent
from transforms.base import Mapped, MappingError, SourceContext
from transforms.common import (Out, bbox_literal, dataset_row, date_of, first_dates, keywords_and_themes, link_licence,
                               period)
from transforms.distributions import Distributions
from transforms.oai_common import Agent, Draft, doi_of, eu_repo_access
from transforms.rdf import ADMS, DCAT_VERSION, plain_literal, terms
from transforms.records import MISSING, catalog_record
from transforms.text import DEFAULT_MAX_CHARS, clean_line, to_plain_text
from transforms.uris import clean_url, fragment, is_http_url

DCAT, DCTERMS, FOAF, RDF, SKOS = (terms(ns) for ns in (DCAT, DCTERMS, FOAF, RDF, SKOS))
DCMITYPE = "http://purl.org/dc/dcmitype/"
ORCID = re.compile(r"^(?:https?://orcid\.org/)?(\d{4}-\d{4}-\d{4}-\d{3}[\dX])$", re.I)

# eu-repo publication types (dc:type on Zenodo/DSpace/OpenAIRE) and DataCite resourceTypeGeneral
# → DCMI Type; only where the meaning is the same. "other" has none and is not worth a warning.
_TYPES = {"dataset": "Dataset", "software": "Software", "image": "Image", "video": "MovingImage",
          "audiovisual": "MovingImage", "sound": "Sound", "collection": "Collection", "event": "Event",
          "interactiveresource": "InteractiveResource", "physicalobject": "PhysicalObject", "service": "Service",
          "text": "Text", "article": "Text", "book": "Text", "bookpart": "Text", "report": "Text",
          "workingpaper": "Text", "conferenceobject": "Text", "doctoralthesis": "Text", "masterthesis": "Text",
          "bachelorthesis": "Text", "preprint": "Text", "lecture": "Text", "journalarticle": "Text"}
_ACCESS = {"openAccess": "PUBLIC", "restrictedAccess": "RESTRICTED", "embargoedAccess": "RESTRICTED",
           "closedAccess": "NON_PUBLIC", "metadataOnlyAccess": "NON_PUBLIC"}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|bytes?|kb|kib|mb|mib|gb|gib|tb|tib)\s*$", re.I)
_UNITS = {"b": 1, "byte": 1, "bytes": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def dcmi_type(value: str) -> str | None:
    """DCMI Type IRI for an eu-repo type term, a DataCite resourceTypeGeneral, or a plain type word."""
    word = value.strip().rsplit("/", 1)[-1].replace(" ", "").replace("_", "").lower()
    name = _TYPES.get(word)
    return DCMITYPE + name if name else None


def byte_count(value: str) -> int | None:
    """``"2048 bytes"``, ``"15 kB"`` (SI), ``"2 MiB"`` → bytes; counts of files or pages → None."""
    m = _SIZE.match(value or "")
    if not m:
        return None
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def build(d: Draft, ctx: SourceContext) -> Mapped:
    """Map a Draft; problems become warnings naming the source field, a title-less record raises."""
    title_f = next(((f, clean_line(v)) for f, v in d.titles if clean_line(v)), None)
    if title_f is None:
        raise MappingError("no title (dct:title is mandatory in DCAT-AP 3)", source_id=ctx.source_id,
                           native_id=d.native_id, field="dc:title" if d.prefix == "oai_dc" else "titles/title")
    out = Out()
    base = str(ctx.mint("dataset", d.native_id))
    ds = URIRef(base)
    row = dataset_row(ctx, ds, d.native_id, d.native_id, title_f[1], out)
    _description(d, ds, row, out)
    doi, landing, files = _identifiers(d, base, ds, out)
    row["landing_page"] = landing
    _agents(d, base, ds, row, out)
    institution(ctx, base, ds, out)
    licence_uri, access = _rights(d, ds, row, out)
    first_dates(ds, row, ((DCTERMS.issued, d.issued, "issued"), (DCTERMS.created, d.created, None),
                          (DCTERMS.modified, d.modified, "modified")), out)
    _types_keywords_languages(d, ds, row, out)
    _coverage(d, base, ds, row, out)
    if d.version:
        out.add(ds, DCAT_VERSION, plain_literal(d.version[1]))
    _distributions(d, base, ds, landing, files, licence_uri, access, row, out)
    mod = date_of("header/datestamp", d.datestamp, out) if d.datestamp else None
    catalog_record(base, ds, d.native_id, mod, out, missing=("header/datestamp", MISSING))
    return Mapped(uri=base, native_id=d.native_id, triples=out.triples, row=row, warnings=out.warnings)


def _description(d: Draft, ds: URIRef, row: dict[str, Any], out: Out) -> None:
    texts = [(f, to_plain_text(v, DEFAULT_MAX_CHARS)) for f, v in d.descriptions]
    texts = [(f, t) for f, t in texts if t.text]
    if not texts:
        out.warn("dc:description" if d.prefix == "oai_dc" else "descriptions", "no description "
                 "(dct:description is mandatory in DCAT-AP)")
        return
    body = "\n\n".join(t.text for _, t in texts)[:DEFAULT_MAX_CHARS]
    for f, t in texts:
        if t.truncated:
            out.warn(f, f"{t.original_length} characters cut to {DEFAULT_MAX_CHARS}")
    out.add(ds, DCTERMS.description, plain_literal(body))
    row["description"] = body


def _identifiers(d: Draft, base: str, ds: URIRef, out: Out) -> tuple[str | None, str | None, list[str]]:
    """(DOI, landing page, file URLs) from the record's identifiers."""
    doi = None
    pages: list[str] = []
    files: list[str] = []
    for f, value in d.identifiers:
        v = value.strip()
        found = doi_of(v)
        if found:
            if doi is None:
                doi = found
                node = fragment(base, "identifier-doi")
                out.add(ds, DCTERMS.identifier, plain_literal(found))
                out.add(ds, ADMS.identifier, node)
                out.add(node, RDF.type, ADMS.Identifier)
                out.add(node, SKOS.notation, plain_literal(found))
            continue
        url = clean_url(v) if v.lower().startswith(("http://", "https://", "www.")) else None
        if url and is_http_url(url):
            ft = vocab.file_type_for_url(url)
            (files if ft is not None and ft.kind == "file" else pages).append(url)
        elif v:
            out.add(ds, DCTERMS.identifier, plain_literal(v))
    landing = None
    if doi:
        landing = "https://doi.org/" + doi
    elif pages:
        landing = pages[0]
    for page in ([landing] if landing else []) + [p for p in pages if p != landing]:
        prop = DCAT.landingPage if page == landing else FOAF.page
        out.add(ds, prop, URIRef(page))
        out.add(URIRef(page), RDF.type, FOAF.Document)
    if landing is None:
        out.warn("dc:identifier" if d.prefix == "oai_dc" else "identifier", "no DOI and no http(s) identifier: "
                 "no landing page")
    return doi, landing, files


def _agent_node(base: str, name: str, a: Agent, out: Out) -> URIRef:
    m = ORCID.match(a.iri or "")
    node = URIRef(f"https://orcid.org/{m.group(1).upper()}") if m else (
        URIRef(a.iri) if a.iri and is_http_url(a.iri) else fragment(base, name))
    out.add(node, RDF.type, FOAF.Agent)
    if a.kind == "person":
        out.add(node, RDF.type, FOAF.Person)
    elif a.kind == "organisation":
        out.add(node, RDF.type, FOAF.Organization)
    out.add(node, FOAF.name, plain_literal(a.name))
    return node


def _agents(d: Draft, base: str, ds: URIRef, row: dict[str, Any], out: Out) -> None:
    for prop, items, stem in ((DCTERMS.creator, d.creators, "creator"), (DCTERMS.contributor, d.contributors,
                                                                          "contributor")):
        for i, (_, a) in enumerate(items, 1):
            out.add(ds, prop, _agent_node(base, f"{stem}-{i}", a, out))
    if d.publisher and (name := clean_line(d.publisher[1])):
        named_agent(base, ds, DCTERMS.publisher, "publisher", name, out)
        row["publisher"] = name
    else:
        out.warn("dc:publisher" if d.prefix == "oai_dc" else "publisher", "none; dataset has no dct:publisher")
    if d.contacts:
        row["contact_name"] = d.contacts[0][1].name
        contact_point(base, ds, out, row["contact_name"])


def _rights(d: Draft, ds: URIRef, row: dict[str, Any], out: Out) -> tuple[str | None, str | None]:
    """(licence URI, eu-repo access term). Licence URLs win over titles (a title may name no version)."""
    access = None
    labels: list[str] = []
    candidates: list[str] = []
    for f, label, uri in d.rights:
        for v in (uri, label):
            if v and (term := eu_repo_access(v)):
                access = access or term
            elif v:
                candidates.append(v)
        if label and not eu_repo_access(label):
            labels.append(label)
    ordered = [c for c in candidates if c.lower().startswith(("http", "www."))] + \
              [c for c in candidates if not c.lower().startswith(("http", "www."))]
    lic = next((x for x in (vocab.licence(c) or vocab.licence_in_text(c) for c in ordered) if x and x.uri), None)
    rights_field = "dc:rights" if d.prefix == "oai_dc" else "rightsList/rights"
    if candidates or labels:
        row["licence_label"] = (labels[0] if labels else candidates[0])[:500]
    if lic:
        row["licence_uri"], row["licence_open"] = lic.uri, lic.open
        link_licence(ds, lic.uri, True, out)
    elif candidates:
        out.warn(rights_field, f"unrecognised licence {candidates[0][:120]!r}")
    if access:
        uri = vocab.access_right(_ACCESS[access])
        out.concept(ds, DCTERMS.accessRights, uri)
        row["access_rights"] = uri
    return (lic.uri if lic else None), access


def _types_keywords_languages(d: Draft, ds: URIRef, row: dict[str, Any], out: Out) -> None:
    for f, v in d.types:
        uri = dcmi_type(v)
        if uri:
            # DCAT-AP wants a skos:Concept with a label as dct:type; DCMI types are typed so here.
            out.add(ds, DCTERMS.type, URIRef(uri))
            out.add(URIRef(uri), RDF.type, SKOS.Concept)
            out.add(URIRef(uri), SKOS.prefLabel, Literal(uri[len(DCMITYPE):], lang="en"))
        elif v.strip().rsplit("/", 1)[-1].lower() not in ("other", ""):
            out.warn(f, f"{v[:60]!r} has no DCMI type")
    seen: dict[str, None] = {}
    themes: dict[str, None] = {}
    for _, v in d.keywords:
        kw = clean_line(v)
        if kw and kw not in seen:
            seen[kw] = None
            if (theme := vocab.theme(kw)) and theme not in themes:
                themes[theme] = None
    keywords_and_themes(ds, row, seen, themes, out)
    for f, v in d.languages:
        lang = vocab.language(v)
        if lang:
            out.concept(ds, DCTERMS.language, lang)
        else:
            out.warn(f, f"{v[:40]!r} is not a known language")


def _coverage(d: Draft, base: str, ds: URIRef, row: dict[str, Any], out: Out) -> None:
    loc = fragment(base, "spatial")
    if d.places or d.boxes:
        out.add(ds, DCTERMS.spatial, loc)
        out.add(loc, RDF.type, DCTERMS.Location)
    for _, label in d.places:
        out.add(loc, SKOS.prefLabel, plain_literal(clean_line(label)))
    for _, (w, s, e, n) in d.boxes[:1]:
        out.add(loc, DCAT.bbox, bbox_literal(w, s, e, n))
    if d.places:
        row["spatial"] = clean_line(d.places[0][1])
    elif d.boxes:
        row["spatial"] = ",".join(str(x) for x in d.boxes[0][1])
    for f, start, end in d.periods[:1]:
        a = date_of(f, start, out) if start else None
        b = date_of(f, end, out) if end else None
        if a or b:
            row["temporal_start"], row["temporal_end"] = period(base, ds, a, b, out)


def _distributions(d: Draft, base: str, ds: URIRef, landing: str | None, files: list[str], licence: str | None,
                   access: str | None, row: dict[str, Any], out: Out) -> None:
    fts = [(f, v, vocab.file_type(v)) for f, v in d.formats]
    for f, v, ft in fts:
        if ft is None:
            out.warn(f, f"{v[:60]!r} has no EU file type")
    sizes = [b for _, v in d.sizes if (b := byte_count(v)) is not None]
    targets = [(f"distribution-{i}", url, True) for i, url in enumerate(files, 1)]
    if not targets and landing:
        targets = [("distribution-landing-page", landing, False)]
    if not targets:
        out.warn("dc:identifier" if d.prefix == "oai_dc" else "identifier",
                 "no file URL and no landing page: no dcat:Distribution")
    dists = Distributions()
    for name, url, is_file in targets:
        node = dists.node(base, ds, name, out)
        out.add(node, DCAT.accessURL, URIRef(url))
        dists.access_urls.append(url)
        file_ft = vocab.file_type_for_url(url) if is_file else None
        for ft in ([file_ft] if file_ft else [ft for _, _, ft in fts if ft]):
            dists.add_file_type(node, ft, out)
        if is_file:
            out.add(node, DCAT.downloadURL, URIRef(url))
            dists.download_urls.append(url)
            dists.offer.add("download")
        else:
            dists.offer.add("download" if access == "openAccess" else "request-only")
        if len(sizes) == 1 and len(targets) == 1:
            out.add(node, DCAT.byteSize, Literal(str(sizes[0]), datatype=XSD.nonNegativeInteger))
        if licence:
            out.add(node, DCTERMS.license, URIRef(licence))
    row.update(dists.columns())


__all__ = ["build", "byte_count", "dcmi_type"]
