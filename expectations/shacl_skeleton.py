"""SHACL results by graph *skeleton*: validate one graph per structure, not one per dataset.

pyshacl does ~30 graphs/s, so a never-seen 100,000-dataset catalogue would take an hour. But what
the shipped DCAT-AP shapes say about a graph depends only on its structure, not on the names of
most IRIs or the text of most literals: they count values (sh:min/maxCount), look at node kinds,
datatypes (and whether a literal is well-typed), rdf:type links to the classes they name, sh:hasValue
on the scheme IRIs they name and three sh:pattern regexes on IRIs. So a data graph (with its
vocabulary-bridge triples) is reduced to a skeleton where every IRI the shapes do not mention and no
pattern matches becomes a numbered placeholder, every blank node a numbered blank node, and every
literal the shapes do not mention and no pattern matches a numbered placeholder of the same
datatype and language — kept verbatim when it is ill-typed or of a datatype we cannot mint
well-typed values for. The bijection preserves every fact those constraints read, so validating the
skeleton gives the graph's result, with placeholder names in the messages: the messages are kept as
templates and filled with the dataset's own terms (:func:`result_for`), exactly as validating the
graph itself would word them (tests/test_shacl_skeleton.py checks this on every recorded input).

Placeholders are numbered in order of first appearance in the sorted triples, so datasets made
from one template — a portal's records, a publisher's — share one skeleton (their minted IRIs sort
alike; interchangeable siblings give the same skeleton in either order), and one pyshacl run answers
for all of them. Sharing is best-effort; faithfulness does not depend on it. Validating skeletons
and filling the templates: expectations.shacl_skeleton_run.

This holds only for constraint components whose outcome depends on nothing else: :func:`support`
lists the components the loaded shapes use and turns the skeleton path off (callers validate
directly) when one is not in :data:`STRUCTURAL_COMPONENTS` (sh:minLength, sh:lessThan, SPARQL, ...).
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterable

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import OWL, RDF, RDFS, SH, XSD
from rdflib.term import Node

from expectations import shacl

PLACEHOLDER = "urn:x-citycat-skeleton:"
# Namespaces whose terms steer the validator itself (rdf:type, rdfs:subClassOf, sh:..., xsd:...): never renamed.
_KEPT_NAMESPACES = (str(RDF), str(RDFS), str(OWL), str(SH), str(XSD))
_KEPT_IRIS = tuple(f"<{ns}" for ns in _KEPT_NAMESPACES)

# sh: predicates of the shapes graph whose outcome depends only on the structure the skeleton keeps
# (counts, node kinds, datatypes and well-typedness, language tags, and the terms the shapes name).
STRUCTURAL_COMPONENTS = frozenset(URIRef(str(SH) + n) for n in (
    "path", "inversePath", "alternativePath", "zeroOrMorePath", "oneOrMorePath", "zeroOrOnePath",
    "property", "targetClass", "targetNode", "targetSubjectsOf", "targetObjectsOf",
    "severity", "message", "description", "name", "order", "group", "deactivated", "defaultValue",
    "class", "datatype", "nodeKind", "minCount", "maxCount", "node", "or", "and", "not", "xone",
    "hasValue", "in", "pattern", "flags", "languageIn", "uniqueLang",
    "qualifiedValueShape", "qualifiedMinCount", "qualifiedMaxCount", "qualifiedValueShapesDisjoint",
    "shape",  # not SHACL (an old draft term in the DCAT-AP files): pyshacl ignores it
))


@dataclass(frozen=True)
class Support:
    """Whether skeletons are faithful for the loaded shapes, and what they must keep verbatim."""

    enabled: bool
    reason: str
    kept: frozenset[str]  # N-Triples spellings of every IRI and literal in the shapes graph
    patterns: tuple[re.Pattern, ...]

    @property
    def pattern(self) -> re.Pattern | None:
        """The patterns as one regex (any match), for the hot loop; None without patterns."""
        return _union(self.patterns)


def analyse(shapes: Graph) -> Support:
    """The constraint components ``shapes`` uses, checked against :data:`STRUCTURAL_COMPONENTS`."""
    used = {p for p in shapes.predicates() if str(p).startswith(str(SH))}
    unsupported = sorted(str(p)[len(str(SH)):] for p in used - STRUCTURAL_COMPONENTS)
    kept = frozenset(_nt(t) for triple in shapes for t in triple if not isinstance(t, BNode))
    patterns = []
    for holder, pattern in shapes.subject_objects(SH.pattern):
        flags = str(shapes.value(holder, SH.flags) or "")
        patterns.append(re.compile(str(pattern), _re_flags(flags)))
    probe = (f"{PLACEHOLDER}0/0", "sk0", "2000-01-01", "1")
    if unsupported:
        return Support(False, "shapes use sh:" + ", sh:".join(unsupported), kept, tuple(patterns))
    if any(p.search(x) for p in patterns for x in probe):
        return Support(False, "a sh:pattern matches the placeholders", kept, tuple(patterns))
    return Support(True, "", kept, tuple(patterns))


@lru_cache(maxsize=8)
def _union(patterns: tuple[re.Pattern, ...]) -> re.Pattern | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?{_flag_letters(p.flags)}:{p.pattern})" if _flag_letters(p.flags)
                               else f"(?:{p.pattern})" for p in patterns))


def _flag_letters(flags: int) -> str:
    return "".join(letter for letter, f in (("i", re.IGNORECASE), ("m", re.MULTILINE), ("s", re.DOTALL),
                                            ("x", re.VERBOSE)) if flags & f)


def _re_flags(flags: str) -> int:
    table = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}
    out = 0
    for f in flags:
        out |= table.get(f, 0)
    return out


@lru_cache(maxsize=2)
def support(include_recommended: bool = False) -> Support:
    return analyse(shacl._shapes(include_recommended).graph)


# --------------------------------------------------------------------------- terms (N-Triples spelling)


def _nt(t: Node) -> str:
    if isinstance(t, BNode):
        return f"_:{t}"
    from transforms.rdf import term_nt

    return term_nt(t)


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    return text.encode("utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8")


def term_of(spelling: str) -> Node:
    """The rdflib term of one N-Triples spelling (as pyoxigraph + transforms.rdf would build it)."""
    if spelling[0] == "<":
        return URIRef(_unescape(spelling[1:-1]))
    if spelling[0] == "_":
        return BNode(spelling[2:])
    end = spelling.rfind('"')
    lex, suffix = _unescape(spelling[1:end]), spelling[end + 1:]
    if suffix.startswith("@"):
        return Literal(lex, lang=suffix[1:])
    if suffix.startswith("^^"):
        dt = suffix[3:-1]
        return Literal(lex) if dt == str(XSD.string) else Literal(lex, datatype=URIRef(dt))
    return Literal(lex)


def well_typed(lit: Literal) -> bool:
    """What pyshacl's sh:datatype sees when the rule is the literal's own datatype (0.40 value_constraints)."""
    if getattr(lit, "ill_typed", None) is True:
        return False
    from datetime import date, datetime, time
    from decimal import Decimal

    wanted = {XSD.string: (str, bytes), RDF.langString: (str, bytes), XSD.integer: int, XSD.float: float,
              XSD.decimal: Decimal, XSD.boolean: bool, XSD.date: date, XSD.time: time, XSD.dateTime: datetime}
    kind = wanted.get(lit.datatype) if lit.datatype is not None else None
    return kind is None or isinstance(lit.value, kind)


def _day(k: int) -> str:
    from datetime import date, timedelta

    return (date(2000, 1, 1) + timedelta(days=k)).isoformat()


_INTEGERS = ("integer", "int", "long", "short", "byte", "nonNegativeInteger", "positiveInteger",
             "unsignedLong", "unsignedInt", "unsignedShort", "unsignedByte")
# datatype -> the k-th placeholder lexical form (well-typed; distinct per k within its range)
GENERATORS: dict[str, Callable[[int], str]] = {
    **{str(XSD[n]): (lambda k: str(k + 1)) for n in _INTEGERS},
    str(XSD.decimal): lambda k: f"{k + 1}.5",
    str(XSD.double): lambda k: f"{k + 1}.5E0",
    str(XSD.float): lambda k: f"{k + 1}.5E0",
    str(XSD.date): _day,
    str(XSD.dateTime): lambda k: _day(k) + "T00:00:00",
    str(XSD.gYear): lambda k: str(2000 + k),
    str(XSD.gYearMonth): lambda k: f"{2000 + k // 12}-{k % 12 + 1:02d}",
    str(XSD.duration): lambda k: f"P{k + 1}D",
    str(XSD.hexBinary): lambda k: f"{k:04X}" if len(f"{k:X}") <= 4 else f"{k:08X}",
    str(XSD.anyURI): lambda k: f"{PLACEHOLDER}lit/{k}",
}


_DATETIME = f"^^<{XSD.dateTime}>"
_NON_NEGATIVE = f"^^<{XSD.nonNegativeInteger}>"


def _literal_info(spelling: str) -> tuple[str, bool]:
    """(normalised spelling, may be renamed) of one literal: rdflib's normal form, well-typedness."""
    if spelling[-1] == '"' or "^^" not in spelling[spelling.rfind('"'):]:
        return spelling, True  # plain or language-tagged: any text is a well-formed string
    # the two typed forms every mapped dataset has, decided without building an rdflib Literal:
    # rdflib casts xsd:dateTime with datetime.fromisoformat and writes it back with isoformat()
    if spelling.endswith(_DATETIME):
        lex = spelling[1:-len(_DATETIME) - 1]
        try:
            if datetime.fromisoformat(lex).isoformat() == lex:
                return spelling, True
        except ValueError:
            pass
    elif spelling.endswith(_NON_NEGATIVE):
        lex = spelling[1:-len(_NON_NEGATIVE) - 1]
        if lex.isascii() and lex.isdigit() and (lex == "0" or lex[0] != "0"):
            return spelling, True
    return _typed_info(spelling)


@lru_cache(maxsize=50_000)
def _typed_info(spelling: str) -> tuple[str, bool]:
    lit = term_of(spelling)
    return _nt(lit), str(lit.datatype) in GENERATORS and well_typed(lit)


# --------------------------------------------------------------------------- skeletons


@dataclass(frozen=True)
class Skeleton:
    """A graph with its renameable terms replaced by slots (``?i3`` IRI, ``?b1`` blank node, ``?l7`` literal)."""

    key: str  # hash of the skeleton text: equal structure, equal key
    text: str  # sorted lines "s p o" of slots and kept N-Triples spellings
    originals: dict[str, str]  # slot -> the graph's own term (N-Triples spelling)
    kinds: dict[str, str]  # literal slot -> "@lang", "^^<datatype>" or "" (plain)

    @property
    def triples(self) -> list[tuple[str, str, str]]:
        return [tuple(line.split(" ", 2)) for line in self.text.split("\n")] if self.text else []  # type: ignore


def skeleton(triples: Iterable[tuple[str, str, str]], sup: Support | None = None) -> Skeleton:
    """The skeleton of a graph given as N-Triples-spelled triples (bridge triples included).

    Renamed terms are numbered in order of first appearance in the sorted triples. Any numbering
    is a faithful renaming; this one is cheap, and it is the same for graphs whose differing
    names keep their sort order (a transform's minted IRIs do; interchangeable siblings, e.g. two
    alike distributions or keywords, give the same skeleton in either order).
    """
    sup = sup or support()
    norm: set[tuple[str, str, str]] = set()
    for s, p, o in triples:
        if o[-1] == ">" and o[0] == '"':  # a typed literal: rdflib's normal form
            o = _literal_info(o)[0]
        norm.add((s, p, o))
    ordered = sorted(norm)
    keep, pattern = _decisions(sup), sup.pattern
    slot: dict[str, str] = {}
    counter = 0
    for t in dict.fromkeys([t for triple in ordered for t in triple]):
        kept = keep.get(t)
        if kept is None:
            kept = _kept(t, sup, pattern)
            if kept or t[0] == '"':  # kept terms and texts repeat across datasets; minted IRIs do not
                if len(keep) > 100_000:
                    keep.clear()
                keep[t] = kept
        if not kept:
            c = t[0]
            slot[t] = f"?{'i' if c == '<' else 'b' if c == '_' else 'l'}{counter}"
            counter += 1
    get = slot.get
    text = "\n".join(sorted([f"{get(s, s)} {get(p, p)} {get(o, o)}" for s, p, o in ordered]))
    originals = {v: k for k, v in slot.items()}
    kinds = {v: k[k.rfind('"') + 1:] for k, v in slot.items() if v[1] == "l"}
    return Skeleton(hashlib.sha256(text.encode()).hexdigest()[:40], text, originals, kinds)


_decision_cache: dict[int, tuple[Support, dict[str, bool]]] = {}


def _decisions(sup: Support) -> dict[str, bool]:
    entry = _decision_cache.get(id(sup))
    if entry is None or entry[0] is not sup:
        entry = _decision_cache[id(sup)] = (sup, {})
    return entry[1]


def _kept(t: str, sup: Support, pattern: re.Pattern | None) -> bool:
    """Whether a term stays verbatim in skeletons: the shapes name it, a pattern (``sup.pattern``)
    matches it, it steers the validator (rdf:, rdfs:, sh:, ...), or it is a literal we cannot mint a
    well-typed twin for."""
    if t in sup.kept:
        return True
    c = t[0]
    if c == "<":
        return t.startswith(_KEPT_IRIS) or (pattern is not None and pattern.search(t[1:-1]) is not None)
    if c == "_":
        return False
    return ((pattern is not None and pattern.search(_unescape(t[1:t.rfind('"')])) is not None)
            or (t[-1] != '"' and not _literal_info(t)[1]))


def triples_of_nt(nt: str) -> list[tuple[str, str, str]]:
    """The triples of canonical N-Triples text (one per line, single spaces: transforms.rdf's form)."""
    out = []
    for line in nt.split("\n"):
        if not line or line[0] == "#":
            continue
        s, p, o = line.split(" ", 2)
        if not o.endswith(" .") or s[0] not in "<_" or p[0] != "<":
            raise ValueError(f"not canonical N-Triples: {line[:120]!r}")
        out.append((s, p, o[:-2]))
    return out


def triples_of_graph(graph: Graph) -> list[tuple[str, str, str]]:
    return [(_nt(s), _nt(p), _nt(o)) for s, p, o in graph]


def with_bridge(triples: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """``triples`` plus their vocabulary-bridge triples (expectations.shacl.bridge_triples, spelt)."""
    extra: list[tuple[str, str, str]] = []
    for _, p, o in triples:
        if o[0] == "<":
            if o.startswith(_BRIDGED):
                extra.extend(_bridge_of(o))
            if p in _DOCUMENT_PROPERTIES:
                extra.append((o, _TYPE, _DOCUMENT))
    return triples + extra


_BRIDGED = (f"<{shacl.AUTHORITY}", f"<{shacl.IANA_MEDIA_TYPES}")
_TYPE, _DOCUMENT = f"<{RDF.type}>", f"<{shacl.FOAF.Document}>"


_DOCUMENT_PROPERTIES = frozenset(_nt(p) for p in shacl._DOCUMENT_PROPERTIES)


@lru_cache(maxsize=20_000)
def _bridge_of(o: str) -> tuple[tuple[str, str, str], ...]:
    """The bridge triples of one vocabulary or IANA IRI (the same rules: shacl.bridge_triples)."""
    g = Graph()
    g.add((URIRef(f"{PLACEHOLDER}s"), RDFS.seeAlso, term_of(o)))
    return tuple((_nt(s), _nt(p), _nt(x)) for s, p, x in shacl.bridge_triples(g))


# validating skeletons lives in its own module (which imports this one); its API is reached from here too
_RUN_API = frozenset({"SkeletonError", "result_for", "validate_many", "validate_skeletons"})


def __getattr__(name: str):
    if name in _RUN_API:
        from expectations import shacl_skeleton_run

        return getattr(shacl_skeleton_run, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
