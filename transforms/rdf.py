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


_shared_terms: dict[str, _Terms] = {}


def terms(ns: object) -> Any:
    """Cached attribute access to ``ns`` (an rdflib namespace): ``terms(DCAT).distribution``.

    One cache per namespace IRI for every module, so ``rdf:type`` is the same object wherever a triple
    was made: :func:`canonical_ntriples` finds an IRI by identity then, instead of calling rdflib's
    Python-level ``__eq__`` (~50 times per dataset when each module had its own copies)."""
    key = str(ns)
    found = _shared_terms.get(key)
    if found is None:
        found = _shared_terms[key] = _Terms(ns)
    return found


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


def _fast_iris_work() -> bool:
    """Whether ``str.__new__(URIRef, v)`` makes what ``URIRef(v)`` makes (checked once at import)."""
    try:
        for v in ("http://example.org/a#b", "mailto:x@example.org"):
            fast, slow = _new_str(URIRef, v), URIRef(v)
            if not (type(fast) is type(slow) and fast == slow and hash(fast) == hash(slow)
                    and fast.n3() == slow.n3() and not hasattr(slow, "__dict__")):
                return False
    except Exception:  # noqa: BLE001 - any surprise means: use the public constructor
        return False
    return True


_FAST_IRIS = _fast_iris_work()


def iri(value: str) -> URIRef:
    """``URIRef(value)`` for a ``str`` without rdflib's per-character validity scan (~1 µs, a few dozen per
    dataset). That scan only logs a warning; an IRI N-Triples cannot carry still fails the record in
    :func:`canonical_ntriples`, which checks every IRI it writes."""
    if _FAST_IRIS and type(value) is str:
        return _new_str(URIRef, value)
    return URIRef(value)


# Datatypes rdflib keeps no Python value for (lexical form only, _value and _ill_typed None), and
# integer datatypes whose value is the int (_ill_typed False for a valid one); checked at import.
_OPAQUE_DATATYPES = frozenset(str(d) for d in (GEO.geoJSONLiteral, GEO.wktLiteral, XSD.gYear, XSD.gYearMonth))
_INTEGER_DATATYPES = frozenset(str(d) for d in (XSD.nonNegativeInteger,))


def _typed_literals_work() -> bool:
    samples = [("{\"type\":\"Point\",\"coordinates\":[1,2]}", GEO.geoJSONLiteral), ("POLYGON((1 2,3 4))", GEO.wktLiteral),
               ("2020", XSD.gYear), ("2020-01", XSD.gYearMonth), ("0", XSD.nonNegativeInteger),
               ("123456789", XSD.nonNegativeInteger)]
    try:
        for lexical, dt in samples:
            slow, fast = Literal(lexical, datatype=dt), _typed(lexical, URIRef(dt))
            if not (type(fast) is type(slow) and str(fast) == str(slow) and fast == slow and hash(fast) == hash(slow)
                    and all(getattr(fast, a) == getattr(slow, a) and type(getattr(fast, a)) is type(getattr(slow, a))
                            for a in _LITERAL_SLOTS)):
                return False
    except Exception:  # noqa: BLE001 - any surprise means: use the public constructor
        return False
    return True


def _typed(lexical: str, datatype: URIRef) -> Literal:
    lit = _build(lexical, datatype, int(lexical) if str.__str__(datatype) in _INTEGER_DATATYPES else None)
    if str.__str__(datatype) in _INTEGER_DATATYPES:
        lit._ill_typed = False  # type: ignore[attr-defined]
    return lit


_FAST_TYPED = _FAST_LITERALS and _typed_literals_work()


def typed_literal(lexical: str, datatype: URIRef) -> Literal:
    """``Literal(lexical, datatype=datatype)`` for the geometry and year datatypes and a non-negative integer's
    digits: rdflib's constructor costs ~10-30 µs there (its casting tables and well-formedness checks)."""
    if _FAST_TYPED and type(lexical) is str:
        dt = str.__str__(datatype)
        if dt in _OPAQUE_DATATYPES or (dt in _INTEGER_DATATYPES and lexical.isdigit() and lexical.isascii()
                                       and (lexical == "0" or lexical[0] != "0")):
            return _typed(lexical, datatype if type(datatype) is URIRef else URIRef(datatype))
    return Literal(lexical, datatype=datatype)


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


_plain = str.__str__  # a Literal's lexical form as an exact str


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


def _literal_nt(t: Literal) -> str:
    lex = _plain(t)
    if _LIT_NEEDS.search(lex):
        lex = lex.translate(_LIT_TABLE)
    if _FAST_LITERALS:  # slots checked at import (_fast_literals_work): the properties cost a call each
        lang, dt = t._language, t._datatype  # type: ignore[attr-defined]
    else:
        lang, dt = t.language, t.datatype
    if lang:
        return f'"{lex}"@{lang.lower()}'
    if dt is not None and not _str_eq(dt, _XSD_STRING):  # str's ==: rdflib's URIRef == is Python-level
        return f'"{lex}"^^{_iri(dt)}'
    return f'"{lex}"'


def term_nt(t: Node) -> str:
    """One term in canonical N-Triples form; raises ValueError for blank nodes and bad IRIs."""
    if type(t) is URIRef:
        return _iri(t)
    if isinstance(t, Literal):
        return _literal_nt(t)
    if isinstance(t, BNode):
        raise ValueError(f"blank node {t!r} in a dataset graph: mint an IRI for it (docs/architecture.md, Identity)")
    if isinstance(t, URIRef):
        return _iri(t)
    raise TypeError(f"not an RDF term: {t!r}")


def canonical_ntriples(triples: Iterable[Triple]) -> str:
    """Sorted, de-duplicated N-Triples text ending in a newline ('' for no triples)."""
    get = _iri_cache.get
    lines = set()
    add = lines.add
    for s, p, o in triples:  # the common cases inlined: IRIs already seen are one dict hit
        ss = get(s) if type(s) is URIRef else None
        pp = get(p) if type(p) is URIRef else None
        to = type(o)
        if to is URIRef:
            oo = get(o) or _iri(o)
        elif to is Literal:
            oo = _literal_nt(o)
        else:
            oo = term_nt(o)
        add(f"{ss or term_nt(s)} {pp or term_nt(p)} {oo} .")
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
