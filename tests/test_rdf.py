"""Canonical N-Triples: escaping that rdflib and pyoxigraph read back to the same graph, order, no blank nodes."""

from __future__ import annotations

import pytest
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import DCTERMS, RDF, XSD

from transforms.rdf import bind_prefixes, canonical_ntriples, graph_from_ntriples, parse_ntriples

S = URIRef("https://data.example.org/dataset/x")
TRICKY = [
    Literal('He said "hi" \\ bye'),
    Literal("line one\nline two\r\nthree\ttab"),
    Literal("control \x00 \x01 \x1f \x7f \b \f chars"),
    Literal("économie — “curly” 日本語 😀"),
    Literal("Colour", lang="en-gb"),  # lower case: tags are case-insensitive, the canonical form lowers them
    Literal("2026-11-28", datatype=XSD.date),
    Literal("2026-11-28T10:00:00+01:00", datatype=XSD.dateTime),
    Literal("12345", datatype=XSD.nonNegativeInteger),
    Literal('{"type":"Point","coordinates":[1,2]}', datatype=URIRef("http://www.opengis.net/ont/geosparql#geoJSONLiteral")),
    Literal("ends with backslash \\"),
    Literal(""),
]


def _triples():
    return [(S, DCTERMS.description, lit) for lit in TRICKY] + [
        (S, RDF.type, URIRef("http://www.w3.org/ns/dcat#Dataset")),
        (S, DCTERMS.relation, URIRef("https://x.org/a%20b?q=1&r=é#frag")),
    ]


def test_rdflib_reads_back_an_isomorphic_graph():
    triples = _triples()
    text = canonical_ntriples(triples)
    expected = Graph()
    for t in triples:
        expected.add(t)
    parsed = Graph().parse(data=text, format="nt")
    assert len(parsed) == len(expected)
    assert isomorphic(parsed, expected)


def test_pyoxigraph_parse_round_trips_to_the_same_text():
    text = canonical_ntriples(_triples())
    assert canonical_ntriples(parse_ntriples(text)) == text
    assert isomorphic(graph_from_ntriples(text), Graph().parse(data=text, format="nt"))


def test_escapes_are_canonical_not_turtle():
    text = canonical_ntriples([(S, DCTERMS.title, Literal('a "q"\nb\\'))])
    assert text == f'<{S}> <{DCTERMS.title}> "a \\"q\\"\\nb\\\\" .\n'
    assert '"""' not in canonical_ntriples(_triples())
    assert "\\u0000" in canonical_ntriples(_triples())  # control characters as \\uXXXX
    assert "😀" in canonical_ntriples(_triples())  # non-ASCII stays UTF-8


def test_language_tags_lowercased_and_xsd_string_implicit():
    text = canonical_ntriples([(S, DCTERMS.title, Literal("x", lang="en-GB")),
                               (S, DCTERMS.alternative, Literal("y", datatype=XSD.string))])
    assert '"x"@en-gb' in text and '"y" .' in text and "XMLSchema#string" not in text


def test_sorted_and_deduplicated():
    triples = _triples()
    text = canonical_ntriples(triples + list(reversed(triples)))
    lines = text.splitlines()
    assert lines == sorted(set(lines)) and len(lines) == len(set(triples))
    assert text.endswith(" .\n")
    assert canonical_ntriples(reversed(triples)) == canonical_ntriples(triples)
    assert canonical_ntriples([]) == ""


def test_blank_nodes_are_refused():
    with pytest.raises(ValueError, match="blank node"):
        canonical_ntriples([(BNode(), DCTERMS.title, Literal("x"))])
    with pytest.raises(ValueError, match="blank node"):
        canonical_ntriples([(S, DCTERMS.publisher, BNode())])


def test_iris_that_ntriples_cannot_carry_are_refused():
    with pytest.raises(ValueError, match="IRI"):
        canonical_ntriples([(S, DCTERMS.source, URIRef("https://x.org/a b"))])


def test_bind_prefixes_uses_dct():
    g = bind_prefixes(Graph())
    assert dict(g.namespaces())["dct"] == URIRef(str(DCTERMS))
    assert "dcat" in dict(g.namespaces()) and "vcard" in dict(g.namespaces())
