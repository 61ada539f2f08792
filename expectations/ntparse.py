"""A lean reader of the inventory's canonical N-Triples, for scoring 100,000 datasets a run.

Building an rdflib Graph costs ~1 ms per dataset, which alone would eat the 60 s budget of the
quality stage. The inventory's form is fixed by ``transforms.rdf`` (one triple per line, no blank
nodes, IRIs never contain spaces), so a triple is three space-separated fields and the object is
the rest of the line before `` .``. Terms are kept in their N-Triples spelling (``<iri>`` or
``"literal"...``) so an IRI and a literal with the same text never compare equal.
"""

from __future__ import annotations

from rdflib.namespace import DCAT, FOAF, RDF

Index = dict[str, dict[str, list[str]]]  # subject -> predicate -> objects, all in N-Triples spelling


def iri(term: object) -> str:
    """``<...>`` spelling of an rdflib IRI / namespace term."""
    return f"<{term}>"


_TYPE = iri(RDF.type)
_DATASET = iri(DCAT.Dataset)
_PRIMARY_TOPIC = iri(FOAF.primaryTopic)


def index(nt: str, predicates: frozenset[str] | None = None) -> Index:
    """subject -> predicate -> [objects]; lines that are not triples (comments, blanks) are skipped.

    ``predicates`` (N-Triples spelling) keeps only those: a scorer that reads 20 of a graph's 40
    predicates halves the dict building, which is most of the cost.
    """
    out: Index = {}
    for line in nt.split("\n"):
        if not line or line[0] != "<":
            continue
        parts = line.split(" ", 2)
        if len(parts) < 3:
            continue
        s, p, o = parts
        if predicates is not None and p not in predicates:
            continue
        if o[-2:] == " .":
            o = o[:-2]
        props = out.get(s)
        if props is None:
            out[s] = {p: [o]}
            continue
        objs = props.get(p)
        if objs is None:
            props[p] = [o]
        else:
            objs.append(o)
    return out


def dataset_node(idx: Index) -> str | None:
    """The subject typed dcat:Dataset; with several, the one a catalogue record is about."""
    found = [s for s, props in idx.items() if _DATASET in props.get(_TYPE, ())]
    if len(found) <= 1:
        return found[0] if found else None
    topics = {o for props in idx.values() for o in props.get(_PRIMARY_TOPIC, ())}
    for s in sorted(found):
        if s in topics:
            return s
    return sorted(found)[0]


def iri_value(term: str) -> str | None:
    """The IRI inside ``<...>`` (with N-Triples ``\\uXXXX`` escapes undone), None for a literal."""
    if not term.startswith("<"):
        return None
    value = term[1:-1]
    if "\\" in value:
        value = value.encode("ascii", "backslashreplace").decode("unicode_escape")
    return value


def literal_value(term: str) -> str | None:
    """The lexical form of a literal term, None for an IRI."""
    if not term.startswith('"'):
        return None
    end = term.rfind('"')
    value = term[1:end]
    if "\\" in value:
        value = value.encode("utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8")
    return value
