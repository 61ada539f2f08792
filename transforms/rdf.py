"""Canonical N-Triples: the byte form every dataset graph is hashed, stored and published in.

A content hash only means "unchanged" if the same graph always gives the same bytes, so the form is
fixed here: one triple per line, lines sorted by code point, duplicates dropped, no blank nodes
(they would get fresh labels each run), literals escaped the RDF 1.2 canonical way (``\\"``, ``\\\\``,
``\\n``, ``\\r``, ``\\t``, ``\\b``, ``\\f``, other control characters as ``\\u00XX``; everything else,
non-ASCII included, as UTF-8), language tags lower-cased, ``xsd:string`` left implicit.
``Literal.n3()`` is not used: it writes Turtle (long strings, prefixed names), not N-Triples.

This is on the hot path (every dataset, every run), hence the IRI cache and the escape-only-if-needed test,
and the term builders below (:func:`plain_literal`, :func:`value_literal`, :func:`terms`) that the mapping
modules use instead of rdflib's general-purpose constructors.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

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


# --------------------------------------------------------------------------- fast term builders


class _Terms:
    """A namespace's terms as plain attributes, each URIRef built once.

    ``DCAT.distribution`` on rdflib's namespace objects goes through ``__getattr__`` and builds a new
    URIRef on every access (~0.5 µs); a mapped dataset does that a few hundred times. After the first
    access a term here is an ordinary instance attribute.
    """

    def __init__(self, ns: object) -> None:
        self.__dict__["_ns"] = ns

    def __getattr__(self, name: str) -> URIRef:
        if name.startswith("__"):
            raise AttributeError(name)
        term = URIRef(getattr(self._ns, name))
        self.__dict__[name] = term
        return term

    def __str__(self) -> str:
        return str(self._ns)


def terms(ns: object) -> Any:
    """Cached attribute access to ``ns`` (an rdflib namespace): ``terms(DCAT).distribution``."""
    return _Terms(ns)


_new_str = str.__new__
_LITERAL_SLOTS = ("_language", "_datatype", "_value", "_ill_typed")


def _build(lexical: str, datatype: URIRef | None, value: object) -> Literal:
    lit = _new_str(Literal, lexical)
    lit._language = None  # type: ignore[attr-defined]
    lit._datatype = datatype  # type: ignore[attr-defined]
    lit._value = value  # type: ignore[attr-defined]
    lit._ill_typed = None  # type: ignore[attr-defined]
    return lit


def _fast_literals_work() -> bool:
    """Whether :func:`_build` makes exactly what rdflib's constructor makes, checked once at import.

    The fast builders set rdflib's private slots; if an rdflib upgrade changes them, this fails and the
    builders fall back to the public constructor (slower, same output).
    """
    from datetime import date, datetime, timezone

    d, dt = date(2024, 2, 29), datetime(2024, 2, 29, 1, 2, 3, 4, tzinfo=timezone.utc)
    pairs = [(Literal("a \"b\" é"), lambda: _build("a \"b\" é", None, "a \"b\" é")),
             (Literal(d, datatype=XSD.date), lambda: _build(d.isoformat(), URIRef(XSD.date), d)),
             (Literal(dt, datatype=XSD.dateTime), lambda: _build(dt.isoformat(), URIRef(XSD.dateTime), dt))]
    try:
        if tuple(Literal.__slots__) != _LITERAL_SLOTS:
            return False
        for slow, make in pairs:
            fast = make()
            if not (type(fast) is type(slow) and str(fast) == str(slow) and fast == slow
                    and hash(fast) == hash(slow) and fast.n3() == slow.n3()
                    and all(getattr(fast, a) == getattr(slow, a) for a in _LITERAL_SLOTS)
                    and type(fast.datatype) is type(slow.datatype)):
                return False
    except Exception:  # noqa: BLE001 - any surprise means: use the public constructor
        return False
    return True


_FAST_LITERALS = _fast_literals_work()


def plain_literal(text: str) -> Literal:
    """``Literal(text)`` for a plain string (no language, no datatype).

    rdflib's constructor runs every string through its lexical→value→lexical casting tables (~1 µs);
    a plain string has nothing to cast, and a dataset carries a few dozen of them.
    """
    if _FAST_LITERALS and type(text) is str:
        return _build(text, None, text)
    return Literal(text)


def value_literal(value: object, lexical: str, datatype: URIRef) -> Literal:
    """``Literal(value, datatype=datatype)`` for a ``date``/``datetime`` whose ``isoformat()`` is ``lexical``."""
    if _FAST_LITERALS:
        return _build(lexical, datatype, value)
    return Literal(value, datatype=datatype)


# --------------------------------------------------------------------------- N-Triples

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
_LIT_TABLE = str.maketrans({**{chr(c): f"\\u{c:04X}" for c in [*range(0x20), 0x7F]}, **_ESCAPES})
_LIT_NEEDS = re.compile(r'[\\"\x00-\x1f\x7f]')
_IRI_BAD = re.compile(r'[\x00-\x20<>"{}|^`\\]')
_XSD_STRING = str(XSD.string)
_str_eq = str.__eq__

_iri_cache: dict[str, str] = {}
_IRI_CACHE_MAX = 20_000  # constants and vocabulary IRIs repeat; per-dataset ones rarely outlive a record


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
        lang = t.language
        if lang:
            return f'"{lex}"@{lang.lower()}'
        dt = t.datatype
        if dt is not None and not _str_eq(dt, _XSD_STRING):  # str's ==: rdflib's URIRef == is Python-level
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
