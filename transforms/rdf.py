"""Canonical N-Triples: the byte form every dataset graph is hashed, stored and published in.

A content hash only means "unchanged" if the same graph always gives the same bytes, so the form is
fixed here: one triple per line, lines sorted by code point, duplicates dropped, no blank nodes
(they would get fresh labels each run), literals escaped the RDF 1.2 canonical way (``\\"``, ``\\\\``,
``\\n``, ``\\r``, ``\\t``, ``\\b``, ``\\f``, other control characters as ``\\u00XX``; everything else,
non-ASCII included, as UTF-8), language tags lower-cased, ``xsd:string`` left implicit.
``Literal.n3()`` is not used: it writes Turtle (long strings, prefixed names), not N-Triples.

This is on the hot path (every dataset, every run), hence the IRI cache and the escape-only-if-needed test.
"""

from __future__ import annotations

import re
from typing import Iterable

import pyoxigraph as ox
from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, GEO, PROV, RDF, RDFS, SKOS, XSD
from rdflib.term import Node

from transforms.base import Triple

ADMS = Namespace("http://www.w3.org/ns/adms#")
DCATAP = Namespace("http://data.europa.eu/r5r/")
LOCN = Namespace("http://www.w3.org/ns/locn#")
GSP = GEO  # GeoSPARQL (geoJSONLiteral, wktLiteral)
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
# rdflib 7.6 ships no vCard namespace object; this is the W3C vCard ontology namespace.
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
# rdflib's DCAT is DCAT 2 and warns on DCAT 3 terms such as dcat:version.
DCAT_VERSION = URIRef(str(DCAT) + "version")
SPDX_NS = Namespace("http://spdx.org/rdf/terms#")

PREFIXES = {"dcat": DCAT, "dct": DCTERMS, "foaf": FOAF, "vcard": VCARD, "adms": ADMS, "dcatap": DCATAP,
            "locn": LOCN, "gsp": GSP, "skos": SKOS, "xsd": XSD, "rdf": RDF, "rdfs": RDFS, "hydra": HYDRA,
            "prov": PROV, "spdx": SPDX_NS}


def bind_prefixes(g: Graph) -> Graph:
    """Bind the DCAT-AP prefixes (``dct`` rather than rdflib's default ``dcterms``); returns ``g``."""
    for prefix, ns in PREFIXES.items():
        g.bind(prefix, ns, override=True, replace=True)
    return g


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
_LIT_TABLE = str.maketrans({**{chr(c): f"\\u{c:04X}" for c in [*range(0x20), 0x7F]}, **_ESCAPES})
_LIT_NEEDS = re.compile(r'[\\"\x00-\x1f\x7f]')
_IRI_BAD = re.compile(r'[\x00-\x20<>"{}|^`\\]')
_XSD_STRING = str(XSD.string)

_iri_cache: dict[str, str] = {}
_IRI_CACHE_MAX = 200_000


def _iri(value: str) -> str:
    out = _iri_cache.get(value)
    if out is None:
        if _IRI_BAD.search(value):
            raise ValueError(f"IRI contains characters N-Triples cannot carry: {value!r}")
        out = f"<{value}>"
        if len(_iri_cache) >= _IRI_CACHE_MAX:
            _iri_cache.clear()
        _iri_cache[value] = out
    return out


def term_nt(t: Node) -> str:
    """One term in canonical N-Triples form; raises ValueError for blank nodes and bad IRIs."""
    if type(t) is URIRef:
        return _iri(t)
    if isinstance(t, Literal):
        lex = str(t)
        if _LIT_NEEDS.search(lex):
            lex = lex.translate(_LIT_TABLE)
        if t.language:
            return f'"{lex}"@{t.language.lower()}'
        dt = t.datatype
        if dt is not None and dt != XSD.string:
            return f'"{lex}"^^{_iri(dt)}'
        return f'"{lex}"'
    if isinstance(t, BNode):
        raise ValueError(f"blank node {t!r} in a dataset graph: mint an IRI for it (docs/architecture.md, Identity)")
    if isinstance(t, URIRef):
        return _iri(t)
    raise TypeError(f"not an RDF term: {t!r}")


def canonical_ntriples(triples: Iterable[Triple]) -> str:
    """Sorted, de-duplicated N-Triples text ending in a newline ('' for no triples)."""
    cache = _iri_cache
    lines = set()
    add = lines.add
    for s, p, o in triples:  # the common cases inlined: IRIs already seen are one dict hit
        ss = cache.get(s) if type(s) is URIRef else None
        pp = cache.get(p) if type(p) is URIRef else None
        oo = cache.get(o) if type(o) is URIRef else None
        add(f"{ss or term_nt(s)} {pp or term_nt(p)} {oo or term_nt(o)} .")
    if not lines:
        return ""
    return "\n".join(sorted(lines)) + "\n"


_RDF_LANGSTRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"


def _from_ox(t: object) -> Node:
    if isinstance(t, ox.NamedNode):
        return URIRef(t.value)
    if isinstance(t, ox.Literal):
        if t.language:
            return Literal(t.value, lang=t.language)
        dt = t.datatype.value
        if dt == _XSD_STRING:
            return Literal(t.value)
        return Literal(t.value, datatype=URIRef(dt))
    if isinstance(t, ox.BlankNode):
        return BNode(t.value)
    raise TypeError(f"unsupported term {t!r}")


def parse_ntriples(text: str | bytes) -> list[Triple]:
    """N-Triples → rdflib triples, parsed by pyoxigraph (an order of magnitude faster than rdflib's parser)."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return [(_from_ox(q.subject), _from_ox(q.predicate), _from_ox(q.object))
            for q in ox.parse(data, format=ox.RdfFormat.N_TRIPLES)]


def graph_from_triples(triples: Iterable[Triple]) -> Graph:
    """An rdflib Graph with the usual prefixes, for SHACL and the graph API."""
    g = bind_prefixes(Graph())
    for t in triples:
        g.add(t)
    return g


def graph_from_ntriples(text: str | bytes) -> Graph:
    return graph_from_triples(parse_ntriples(text))


def triples_of(g: Graph) -> list[Triple]:
    return list(g.triples((None, None, None)))
