"""Pages spliced from separately serialised pieces (used by the static feed and the feed service).

Pages are spliced from separately serialised pieces: the format's fixed envelope, the
page's catalogue/paging block, then one fragment per dataset. A dataset's fragments are
thus made once, when its content changes, and copied byte for byte into later feeds.
pyoxigraph's writers are streaming (one block per run of triples with the same subject,
namespaces of unprefixed predicates declared on the element in RDF/XML), so a splice is
a valid document of the union; a subject split over two pieces is written as two blocks,
which every RDF parser merges. Full and incremental writes use the same splice, so they
give the same bytes.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import pyoxigraph as ox

from publish.feed_model import FeedDataset
from publish.feed_rdf import FORMATS, A, _n, catalog_uri, dataset_links, serialize


def _envelope(ext: str) -> tuple[bytes, bytes]:
    probe = serialize([ox.Triple(_n("http://example.org/s"), A, _n("http://example.org/o"))], ext)
    if ext == "ttl":  # the prefix block: pyoxigraph writes every given prefix, used or not
        body = probe.index(b"<http://example.org/s>")
        return probe[:body], b""
    if ext == "rdf":
        start = probe.index(b">\n", probe.index(b"<rdf:RDF")) + 2
        return probe[:start], b"</rdf:RDF>"
    if ext == "jsonld":
        return b"[", b"]"
    return b"", b""


ENVELOPES: dict[str, tuple[bytes, bytes]] = {ext: _envelope(ext) for ext in FORMATS}


def serialize_inner(triples: Sequence, ext: str) -> bytes:
    """``triples`` in format ``ext`` without the format's envelope (prefixes, XML root, ``[]``)."""
    if not triples:
        return b""
    data = serialize(triples, ext)
    head, tail = ENVELOPES[ext]
    if not (data.startswith(head) and data.endswith(tail)):  # a pyoxigraph upgrade changed its output
        raise RuntimeError(f"pyoxigraph {ox.__version__} wrote an unexpected {ext} envelope; "
                           "publish.feed_splice.ENVELOPES needs updating")
    return data[len(head):len(data) - len(tail)]


def fragment(triples: Sequence, ext: str) -> bytes:
    """A dataset's piece of a page: what follows the page's catalogue block (JSON-LD node
    objects need a separating comma, which is stored with the fragment)."""
    inner = serialize_inner(triples, ext)
    return b"," + inner if ext == "jsonld" and inner else inner


def page_document(ext: str, header: bytes, fragments: Iterable[bytes]) -> bytes:
    """A whole page: envelope around the catalogue block (``serialize_inner`` of
    :func:`assemble_page`'s metadata) and the datasets' fragments."""
    head, tail = ENVELOPES[ext]
    return b"".join((head, header, *fragments, tail))


def dataset_document_bytes(base_uri: str, ds: FeedDataset, record_uri: str, ttl_fragment: bytes) -> bytes:
    """A dataset's own Turtle document, spliced from its page fragment and its links."""
    return ENVELOPES["ttl"][0] + ttl_fragment + serialize_inner(dataset_links(base_uri, ds, record_uri), "ttl")


def assemble_page(base_uri: str, meta: list[ox.Triple], body: list[ox.Triple]) -> list[ox.Triple]:
    """Order a page for readable output: the catalogue first, then one block per other
    subject of the catalogue/paging metadata, types first (the sort is stable, so the
    rest keep their order), then the datasets' own triples in their stored order."""
    cat = catalog_uri(base_uri)
    return sorted(meta, key=lambda t: (t.subject.value != cat, t.subject.value, t.predicate != A)) + body
