"""The feed's RDF: catalogue description, Hydra paging, and per-dataset preparation.

Everything here builds pyoxigraph terms, not rdflib ones: rdflib's pretty Turtle
serialiser is super-linear (1,000 datasets ~25 s here) while pyoxigraph writes a
page of 100 datasets in every format in a few milliseconds. Vocabulary IRIs still
come from ``rdflib.namespace`` so there is one spelling of each term in the project.

The functions are pure (no files) so the feed service (issue 5) can assemble the
same pages from the inventory on request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Iterable, Sequence
from urllib.parse import quote

import pyoxigraph as ox
from rdflib.namespace import DCAT, DCTERMS, FOAF, ODRL2, OWL, PROV, RDF, RDFS, SDO, SKOS, XSD, Namespace

from transforms.uris import mint_uri
from publish.feed_model import CatalogInfo, FeedDataset, FeedRecordError, SourceInfo

# Not shipped by rdflib.namespace (7.6): spelled once, here.
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")

PREFIXES: dict[str, str] = {
    "rdf": str(RDF), "rdfs": str(RDFS), "xsd": str(XSD), "owl": str(OWL),
    "dcat": str(DCAT), "dct": str(DCTERMS), "foaf": str(FOAF), "vcard": str(VCARD),
    "skos": str(SKOS), "prov": str(PROV), "odrl": str(ODRL2), "schema": str(SDO),
    "hydra": str(HYDRA),
    "adms": "http://www.w3.org/ns/adms#",
    "dcatap": "http://data.europa.eu/r5r/",
    "locn": "http://www.w3.org/ns/locn#",
    "spdx": "http://spdx.org/rdf/terms#",
    # the quality measurements publish.feed_dqv adds
    "dqv": "http://www.w3.org/ns/dqv#",
    "pv": "https://piveau.eu/ns/voc#",
}

# ext -> (pyoxigraph format, media type). The extension is also the page URL's suffix.
FORMATS: dict[str, tuple[ox.RdfFormat, str]] = {
    "ttl": (ox.RdfFormat.TURTLE, "text/turtle"),
    "nt": (ox.RdfFormat.N_TRIPLES, "application/n-triples"),
    "rdf": (ox.RdfFormat.RDF_XML, "application/rdf+xml"),
    "jsonld": (ox.RdfFormat.JSON_LD, "application/ld+json"),
}


def _n(term: str) -> ox.NamedNode:
    return ox.NamedNode(str(term))


A = _n(RDF.type)
T_CATALOG, T_DATASET, T_RECORD = _n(DCAT.Catalog), _n(DCAT.Dataset), _n(DCAT.CatalogRecord)
P_DATASET, P_RECORD, P_CATALOG = _n(DCAT.dataset), _n(DCAT.record), _n(DCAT.catalog)
P_TITLE, P_DESCRIPTION, P_PUBLISHER = _n(DCTERMS.title), _n(DCTERMS.description), _n(DCTERMS.publisher)
P_LICENSE, P_LANGUAGE = _n(DCTERMS.license), _n(DCTERMS.language)
P_ISSUED, P_MODIFIED = _n(DCTERMS.issued), _n(DCTERMS.modified)
P_PRIMARY_TOPIC, P_HOMEPAGE, P_NAME = _n(FOAF.primaryTopic), _n(FOAF.homepage), _n(FOAF.name)
T_AGENT, T_DOCUMENT = _n(FOAF.Agent), _n(FOAF.Document)
T_LICENSE_DOC, T_LINGUISTIC = _n(DCTERMS.LicenseDocument), _n(DCTERMS.LinguisticSystem)
XSD_DATETIME, XSD_INTEGER = _n(XSD.dateTime), _n(XSD.integer)

# Characters XML 1.0 cannot carry even escaped; real portal text has them (form feeds
# and vertical tabs pasted from PDFs) and they make RDF/XML unreadable.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# RDF/XML writes a predicate (and a node's type) as an element name, so the IRI must
# end in an XML NCName; pyoxigraph silently writes ill-formed XML otherwise.
_NCNAME_TAIL = re.compile(r"[A-Za-z_][\w.\-]*\Z")


# --------------------------------------------------------------------------- URIs and paths


def segment(value: str) -> str:
    """Percent-encode one path segment (every byte outside RFC 3986 unreserved).

    The same rule names the minted dataset URI, the record IRI and the per-dataset
    file, so a dataset's document sits at its URI plus ``.ttl``.
    """
    return quote(value, safe="")


def catalog_uri(base_uri: str) -> str:
    return f"{base_uri}/catalog"


def source_catalog_uri(base_uri: str, source_id: str) -> str:
    return f"{base_uri}/catalog/{segment(source_id)}"


def minted_record_uri(base_uri: str, source_id: str, native_id: str) -> str:
    """The record IRI for a stored graph that has none (also used by the feed service's SPARQL store)."""
    return f"{base_uri}/dataset/{segment(source_id)}/{segment(native_id)}#record"


def static_page_url(base_uri: str) -> Callable[[int, str], str]:
    """Page URLs of the static feed: ``<base_uri>/catalog/page-<n>.<ext>``."""
    return lambda n, ext: f"{base_uri}/catalog/page-{n}.{ext}"


def dt_literal(value: datetime, *, what: str = "datetime") -> ox.Literal:
    """An ``xsd:dateTime`` in UTC; naive datetimes are refused (their zone is a guess)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {value!r}")
    text = value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    return ox.Literal(text, datatype=XSD_DATETIME)


def int_literal(value: int) -> ox.Literal:
    return ox.Literal(str(value), datatype=XSD_INTEGER)


# --------------------------------------------------------------------------- catalogue


def catalog_triples(catalog: CatalogInfo, modified: datetime | None) -> list[ox.Triple]:
    """The region catalogue's own DCAT-AP 3 description (mandatory + recommended props).

    ``modified`` is the newest ``last_changed`` of the published datasets (None for an
    empty catalogue: no ``dct:modified``), not the time of the run: the catalogue's
    content changed then, and a re-publish of unchanged content gives unchanged bytes."""
    cat = _n(catalog_uri(catalog.base_uri))
    publisher = _n(catalog.publisher_uri or f"{catalog_uri(catalog.base_uri)}#publisher")
    out = [
        ox.Triple(cat, A, T_CATALOG),
        ox.Triple(cat, P_TITLE, ox.Literal(catalog.title)),
        ox.Triple(cat, P_DESCRIPTION, ox.Literal(catalog.description)),
        ox.Triple(cat, P_PUBLISHER, publisher),
        ox.Triple(cat, P_LICENSE, _n(catalog.licence_uri)),
        ox.Triple(cat, P_LANGUAGE, _n(catalog.language)),
    ]
    if modified is not None:
        out.append(ox.Triple(cat, P_MODIFIED, dt_literal(modified, what="modified")))
    if catalog.homepage:
        out.append(ox.Triple(cat, P_HOMEPAGE, _n(catalog.homepage)))
    out += [
        ox.Triple(publisher, A, T_AGENT),
        ox.Triple(publisher, P_NAME, ox.Literal(catalog.publisher_name)),
        ox.Triple(_n(catalog.licence_uri), A, T_LICENSE_DOC),
        ox.Triple(_n(catalog.language), A, T_LINGUISTIC),
    ]
    if catalog.homepage:
        out.append(ox.Triple(_n(catalog.homepage), A, T_DOCUMENT))
    return out


@dataclass(frozen=True)
class SourceStats:
    """What the writer learnt about a source while streaming (for dct:modified)."""

    datasets: int
    last_changed: datetime | None


def source_catalog_triples(base_uri: str, source: SourceInfo, stats: SourceStats | None) -> list[ox.Triple]:
    """A source's sub-catalogue: title, publisher (the institution) and the portal as
    ``foaf:homepage`` (DCAT-AP's catalogue homepage property), typed ``foaf:Document``."""
    sub = _n(source_catalog_uri(base_uri, source.source_id))
    # The same node the mappings attach to every dataset (transforms.agents), so the institution
    # is one resource across the feed, and the feed service dereferences it at /institution/<id>.
    inst = _n(source.institution_uri or str(mint_uri(base_uri, source.source_id, "institution")))
    # A register read from a file has no public page: a local path is neither an IRI nor
    # something to publish (it names a machine's folders), so the feed only says "a file".
    web = source.url.startswith(("http://", "https://"))
    origin = source.url if web else "a file"
    out = [
        ox.Triple(_n(catalog_uri(base_uri)), P_CATALOG, sub),
        ox.Triple(sub, A, T_CATALOG),
        ox.Triple(sub, P_TITLE, ox.Literal(source.title)),
        ox.Triple(sub, P_DESCRIPTION, ox.Literal(f"Datasets of {source.institution_name}, harvested from {origin}")),
        ox.Triple(sub, P_PUBLISHER, inst),
    ]
    if web:
        portal = _n(source.url)
        # dct:source: provenance back to the portal the sub-catalogue was harvested from.
        out += [ox.Triple(sub, P_HOMEPAGE, portal), ox.Triple(portal, A, T_DOCUMENT),
                ox.Triple(sub, _n(DCTERMS.source), portal)]
    if stats and stats.last_changed is not None:
        out.append(ox.Triple(sub, P_MODIFIED, dt_literal(stats.last_changed)))
    out += [
        ox.Triple(inst, A, T_AGENT),
        ox.Triple(inst, P_NAME, ox.Literal(source.institution_name)),
    ]
    return out


def hydra_triples(base_uri: str, page_url: Callable[[int, str], str], *, page: int, pages: int,
                  total: int, page_size: int, ext: str) -> list[ox.Triple]:
    """Paging links for one page, in both Hydra forms.

    Current Hydra: the catalogue is a ``hydra:Collection`` with ``hydra:totalItems``
    and ``hydra:view`` → a ``hydra:PartialCollectionView`` (first/last/next/previous).
    The same page node is also a ``hydra:PagedCollection`` with the deprecated
    ``firstPage``/``lastPage``/``nextPage``/``previousPage``, ``totalItems`` and
    ``itemsPerPage``, because that is the class ckanext-dcat's RDF harvester (and
    harvesters modelled on it) look for before following ``next``/``nextPage``.
    Links are IRIs of the same format as the page, so a harvester configured for
    one serialisation stays in it.
    """
    return paged_collection_triples(catalog_uri(base_uri), lambda n: page_url(n, ext), page=page, pages=pages,
                                    total=total, page_size=page_size)


def paged_collection_triples(collection: str, page_url: Callable[[int], str], *, page: int, pages: int,
                             total: int, page_size: int) -> list[ox.Triple]:
    """The Hydra paging triples (both forms, as ``hydra_triples`` describes) of page ``page`` of ``pages``
    of ``collection``; ``page_url(n)`` is page n's IRI. Shared by the feed and the withdrawn list."""
    cat = _n(collection)
    view = _n(page_url(page))
    h = HYDRA
    out = [
        ox.Triple(cat, A, _n(h.Collection)),
        ox.Triple(cat, _n(h.totalItems), int_literal(total)),
        ox.Triple(cat, _n(h.view), view),
        ox.Triple(view, A, _n(h.PartialCollectionView)),
        ox.Triple(view, A, _n(h.PagedCollection)),
        ox.Triple(view, _n(h.totalItems), int_literal(total)),
        ox.Triple(view, _n(h.itemsPerPage), int_literal(page_size)),
    ]
    links = [("first", "firstPage", 1), ("last", "lastPage", pages)]
    if page < pages:
        links.append(("next", "nextPage", page + 1))
    if page > 1:
        links.append(("previous", "previousPage", page - 1))
    for new, old, n in links:
        target = _n(page_url(n))
        out.append(ox.Triple(view, _n(h[new]), target))
        out.append(ox.Triple(view, _n(h[old]), target))
    return out


def link_triples(base_uri: str, links: Iterable[tuple[str, str, str]]) -> list[ox.Triple]:
    """``dcat:dataset``/``dcat:record`` from the catalogue, and ``dcat:dataset`` from each
    dataset's sub-catalogue, for ``(source_id, dataset_uri, record_uri)`` links."""
    cat = _n(catalog_uri(base_uri))
    datasets = [ox.Triple(cat, P_DATASET, _n(ds)) for _, ds, _ in links]
    records = [ox.Triple(cat, P_RECORD, _n(rec)) for _, _, rec in links]
    subs = [ox.Triple(_n(source_catalog_uri(base_uri, sid)), P_DATASET, _n(ds)) for sid, ds, _ in links]
    return datasets + records + subs


# --------------------------------------------------------------------------- datasets


@dataclass
class Prepared:
    """A dataset ready for the feed: its triples with the record's dates, and its record.

    ``triples`` holds pyoxigraph ``Triple``s or default-graph ``Quad``s (as parsed:
    converting ~100 quads per dataset to triples costs more than it is worth, and every
    pyoxigraph serialiser takes both)."""

    triples: list
    record_uri: str
    warnings: list[str]


DEFAULT_GRAPH = ox.DefaultGraph()


def prepare_dataset(ds: FeedDataset, base_uri: str, *, rdfxml: bool) -> Prepared:
    """Parse a stored graph and add what only the feed knows (the record's dates).

    The record is the node whose ``foaf:primaryTopic`` is the dataset; a graph without
    one gets ``<base_uri>/dataset/<source>/<native id>#record`` (the inventory's own
    minting rule). Any ``dct:issued``/``dct:modified`` already on the record is replaced:
    DCAT-AP allows one of each and the inventory's dates are the authoritative ones.
    Raises :class:`FeedRecordError` naming the field at fault.

    This runs once per changed dataset on every publish, so each check is one
    comprehension over the parsed quads (a few microseconds each) rather than one
    Python loop doing everything per triple (which cost ~3x the parse itself).
    """
    def fail(field: str, message: str) -> FeedRecordError:
        return FeedRecordError(message, source_id=ds.source_id, native_id=ds.native_id, field=field)

    if not ds.native_id:
        raise fail("native_id", "empty native id")
    try:
        ds_node = ox.NamedNode(ds.uri)
    except (ValueError, TypeError) as exc:
        raise fail("uri", f"not an IRI: {ds.uri!r} ({exc})") from None
    try:
        first_seen = dt_literal(ds.first_seen, what="first_seen")
    except (ValueError, AttributeError) as exc:
        raise fail("first_seen", str(exc)) from None
    try:
        last_changed = dt_literal(ds.last_changed, what="last_changed")
    except (ValueError, AttributeError) as exc:
        raise fail("last_changed", str(exc)) from None
    try:
        parsed = list(ox.parse(ds.nt, ox.RdfFormat.N_TRIPLES))
    except (SyntaxError, ValueError, TypeError) as exc:
        raise fail("nt", f"not N-Triples: {exc}") from None

    if _BLANK_SCREEN.search(ds.nt):
        blank = [q for q in parsed if isinstance(q.subject, ox.BlankNode) or isinstance(q.object, ox.BlankNode)]
        if blank:
            raise fail("nt", f"blank node in stored graph ({blank[0].triple}); graphs must be skolemised")
    if ox.Quad(ds_node, A, T_DATASET, DEFAULT_GRAPH) not in parsed:
        raise fail("uri", f"the graph has no <{ds.uri}> a dcat:Dataset")
    if rdfxml:
        _check_rdfxml(fail, {q.predicate for q in parsed} | {q.object for q in parsed if q.predicate == A})

    records = [q.subject for q in parsed if q.predicate == P_PRIMARY_TOPIC and q.object == ds_node]
    if records:
        record = records[0]
        dated = [q for q in parsed if (q.predicate == P_ISSUED or q.predicate == P_MODIFIED) and q.subject == record]
        if dated:
            parsed = [q for q in parsed if q not in dated]
    else:
        record = ox.NamedNode(minted_record_uri(base_uri, ds.source_id, ds.native_id))
        parsed += [ox.Quad(record, A, T_RECORD, DEFAULT_GRAPH),
                   ox.Quad(record, P_PRIMARY_TOPIC, ds_node, DEFAULT_GRAPH)]
    warnings: list[str] = []
    if _may_be_xml_invalid(ds.nt):
        parsed, warnings = _clean_literals(ds, parsed)
    parsed += [ox.Quad(record, P_ISSUED, first_seen, DEFAULT_GRAPH),
               ox.Quad(record, P_MODIFIED, last_changed, DEFAULT_GRAPH)]
    return Prepared(parsed, record.value, warnings)


# Cheap screens over the N-Triples text (~5 us each for 18 kB; `str.__contains__` with a
# two-character needle takes 3x longer, a regex character-class scan 8x): a blank node
# needs "_:" in the text; a literal can only hold an XML-invalid character if the text
# has one raw (IRIs cannot) or has an escape that may decode to one. The raw check
# deletes those bytes and compares lengths.
_BLANK_SCREEN = re.compile("_:")
_ESCAPE_SCREEN = re.compile(r"\\[bfuU]")
_C0_INVALID = bytes(range(0x00, 0x09)) + b"\x0b\x0c" + bytes(range(0x0e, 0x20))


def _may_be_xml_invalid(nt: str) -> bool:
    if "\ufffe" in nt or "\uffff" in nt or _ESCAPE_SCREEN.search(nt):
        return True
    raw = nt.encode("utf-8", "surrogatepass")
    return len(raw.translate(None, _C0_INVALID)) != len(raw)


def _clean_literals(ds: FeedDataset, parsed: list) -> tuple[list, list[str]]:
    out, warnings = [], []
    for q in parsed:
        o = q.object
        if isinstance(o, ox.Literal) and _XML_INVALID.search(o.value):
            q = ox.Quad(q.subject, q.predicate, _clean_literal(o), DEFAULT_GRAPH)
            warnings.append(f"[source={ds.source_id}, record={ds.native_id}, field=nt] "
                            f"control characters replaced in <{q.predicate.value}>")
        out.append(q)
    return out, warnings


# IRIs already known to be fine as RDF/XML element names: a small vocabulary in practice,
# capped so a source minting a predicate per record cannot grow it without bound.
_RDFXML_OK: set[ox.NamedNode] = set()


def _check_rdfxml(fail: Callable[[str, str], FeedRecordError], iris: set) -> None:
    """Predicates and ``rdf:type`` objects become RDF/XML element names."""
    for iri in iris - _RDFXML_OK:
        if not isinstance(iri, ox.NamedNode):
            continue
        if _NCNAME_TAIL.search(iri.value):
            if len(_RDFXML_OK) < 10_000:
                _RDFXML_OK.add(iri)
        else:
            raise fail("nt", f"<{iri.value}> cannot be written in RDF/XML (its IRI does not end "
                             "in an XML name); drop 'rdf' from the feed formats or fix the mapping")


def _clean_literal(lit: ox.Literal) -> ox.Literal:
    """Replace XML-invalid characters with U+FFFD, keeping language or datatype."""
    value = _XML_INVALID.sub("\ufffd", lit.value)
    if lit.language:
        return ox.Literal(value, language=lit.language)
    return ox.Literal(value, datatype=lit.datatype)


def dataset_links(base_uri: str, ds: FeedDataset, record_uri: str) -> list[ox.Triple]:
    """The links from a dataset's catalogues that its own document carries, so a reader of
    one file can find the catalogue it belongs to."""
    ds_node, rec = _n(ds.uri), _n(record_uri)
    cat, sub = _n(catalog_uri(base_uri)), _n(source_catalog_uri(base_uri, ds.source_id))
    return [ox.Triple(cat, P_DATASET, ds_node), ox.Triple(cat, P_RECORD, rec),
            ox.Triple(cat, P_CATALOG, sub), ox.Triple(sub, A, T_CATALOG), ox.Triple(sub, P_DATASET, ds_node)]


def dataset_document(base_uri: str, ds: FeedDataset, prepared: Prepared) -> list:
    """A dataset's own document: its triples plus :func:`dataset_links`."""
    return prepared.triples + dataset_links(base_uri, ds, prepared.record_uri)


def serialize(triples: Iterable, ext: str) -> bytes:
    """Only Turtle and RDF/XML use prefixes (JSON-LD is written expanded); passing them
    costs pyoxigraph ~2 us per call even where unused."""
    fmt = FORMATS[ext][0]
    return ox.serialize(triples, None, fmt, prefixes=PREFIXES if ext in ("ttl", "rdf") else None)
