"""SHACL validation with the official DCAT-AP 3.0.1 shapes, on real and hand-written graphs."""

from __future__ import annotations

from pathlib import Path

import pytest
from rdflib import Graph, Literal, URIRef
from rdflib import namespace as ns

from expectations import shacl
from expectations.shacl import bridge_triples, validate_graph, validate_many

DATA = Path(__file__).parent / "data" / "shacl"
GOOD_TTL = (DATA / "known_good_dataset.ttl").read_text(encoding="utf-8")
GOOD_URI = URIRef("https://data.example.org/citycat/dataset/leeds-ckan/household-waste-collections")
CC_BY = URIRef("http://publications.europa.eu/resource/authority/licence/CC_BY_4_0")


def good_graph(slug: str = "household-waste-collections") -> Graph:
    return Graph().parse(data=GOOD_TTL.replace("household-waste-collections", slug), format="turtle")


def dataset_uri(slug: str) -> URIRef:
    return URIRef(str(GOOD_URI).replace("household-waste-collections", slug))


def without_title(g: Graph, uri: URIRef = GOOD_URI) -> Graph:
    g.remove((uri, ns.DCTERMS.title, None))
    return g


def with_unknown_licence(g: Graph) -> Graph:
    for dist in g.subjects(ns.RDF.type, ns.DCAT.Distribution):
        g.set((dist, ns.DCTERMS.license, URIRef("http://publications.europa.eu/resource/authority/licence/NOT_A_LICENCE")))
    return g


# ----------------------------------------------------------------------------- known-good graph


def test_known_good_dataset_conforms_with_only_the_corporate_body_warning():
    result = validate_graph(good_graph())
    assert result.conforms, result.messages
    assert result.violations == 0
    # The publisher is not in the OP corporate-body table: an mdr warning, allowed (gotcha 3).
    assert result.by_shape == {"mdr:Dataset_ShapeCV dct:publisher": 1}
    assert result.warnings == 1


def test_missing_title_violates_and_the_message_names_dct_title():
    result = validate_graph(without_title(good_graph()))
    assert not result.conforms
    assert result.violations == 1
    assert result.by_shape.get("shapes:Dataset_Shape dct:title") == 1
    assert any("dct:title" in m and str(GOOD_URI) in m and m.startswith("Violation") for m in result.messages)


def test_caller_graph_is_not_changed_by_the_bridge():
    g = good_graph()
    before = len(g)
    validate_graph(g)
    assert len(g) == before


def test_vocabulary_bridge_is_needed_and_makes_range_and_mdr_pass():
    g = good_graph()
    bare = validate_graph(g, bridge=False)
    assert not bare.conforms
    violated = {shape for shape, n in bare.by_shape.items() if n}
    # Every complaint without background data comes from the range or vocabulary shapes ...
    assert all(s.startswith(("range:", "mdr:")) for s in violated), violated
    # ... and they are the known false positives of SEMICeu/DCAT-AP#125.
    for expected in ("range:Distribution_Shape dct:license", "range:Distribution_Shape dct:format",
                     "mdr:Distribution_ShapeCV dct:format", "range:Distribution_Shape dcat:mediaType",
                     "range:Dataset_Shape dct:accrualPeriodicity", "mdr:Dataset_ShapeCV dct:accrualPeriodicity",
                     "range:Dataset_Shape dcat:landingPage", "range:Dataset_Shape dct:language",
                     "mdr:Dataset_ShapeCV dct:language"):
        assert expected in violated
    bridged = validate_graph(g)
    assert bridged.violations == 0 and not any(s.startswith("range:") for s in bridged.by_shape)


def test_bridge_adds_only_the_concepts_the_graph_uses():
    g = good_graph()
    added = bridge_triples(g)
    subjects = {s for s, _, _ in added}
    used = set(g.objects())
    assert subjects <= used
    assert CC_BY in subjects
    assert URIRef("http://publications.europa.eu/resource/authority/licence/CC0_1_0") not in subjects
    assert {p for _, p, _ in added} <= {ns.RDF.type, URIRef("http://www.w3.org/2004/02/skos/core#inScheme"),
                                        URIRef("http://www.w3.org/2004/02/skos/core#prefLabel")}
    assert (URIRef("http://www.iana.org/assignments/media-types/text/csv"), ns.RDF.type, ns.DCTERMS.MediaType) in added
    assert (URIRef("https://datamillnorth.org/dataset/household-waste-collections"), ns.RDF.type, ns.FOAF.Document) in added


@pytest.mark.parametrize("table", shacl.BRIDGED_TABLES)
def test_every_bridged_table_is_shipped_in_the_project(table):
    concepts = shacl._vocab_table(table)
    assert len(concepts) >= 7, f"no vocabulary data for {table} in {shacl.VOCAB_DIRS}"
    some = next(iter(concepts.values()))
    assert {p for _, p, _ in some} == {ns.RDF.type, ns.SKOS.inScheme, ns.SKOS.prefLabel}


def test_bridge_does_not_vouch_for_a_licence_outside_the_op_table():
    result = validate_graph(with_unknown_licence(good_graph()))
    assert not result.conforms
    assert result.by_shape.get("range:Distribution_Shape dct:license") == 1


def test_recommended_shapes_only_add_warnings():
    result = validate_graph(good_graph(), include_recommended=True)
    assert result.conforms
    assert result.by_shape.get("recommended:Dataset_Shape dct:temporal") == 1
    assert result.warnings > validate_graph(good_graph()).warnings


def test_shapes_are_parsed_once_per_process():
    validate_graph(good_graph())
    misses = shacl._shapes.cache_info().misses
    validate_graph(good_graph())
    list(validate_many([("a", good_graph())]))
    assert shacl._shapes.cache_info().misses == misses


# ----------------------------------------------------------------------------- real samples


@pytest.fixture(scope="module")
def rostock() -> tuple[Graph, shacl.ShaclResult]:
    g = Graph().parse(DATA / "rostock_dcatde_dataset.rdf", format="xml")
    return g, validate_graph(g)


@pytest.fixture(scope="module")
def nobel() -> tuple[Graph, shacl.ShaclResult]:
    g = Graph().parse(DATA / "nobelmedia_dcatap_catalog.rdf", format="xml")
    return g, validate_graph(g)


def test_rostock_conformsto_plain_literal_violates(rostock):
    g, result = rostock
    literals = [o for o in g.objects(None, ns.DCTERMS.conformsTo) if isinstance(o, Literal)]
    assert Literal("http://dcat-ap.de/def/dcatde/") in literals
    assert not result.conforms
    assert result.by_shape["shapes:Dataset_Shape dct:conformsTo"] == 1  # nodeKind: not an IRI
    assert result.by_shape["range:Dataset_Shape dct:conformsTo"] == 1  # and so not a dct:Standard


def test_rostock_bytesize_decimal_violates(rostock):
    g, result = rostock
    decimals = [o for o in g.objects(None, ns.DCAT.byteSize) if o.datatype == ns.XSD.decimal]
    assert len(decimals) == 5
    assert result.by_shape["shapes:Distribution_Shape dcat:byteSize"] == len(decimals)


def test_rostock_geometry_given_twice_violates(rostock):
    _, result = rostock
    assert result.by_shape["shapes:Location_Shape locn:geometry"] == 1


def test_rostock_dcatde_vocabularies_fail_the_mdr_shapes(rostock):
    _, result = rostock
    # DCAT-AP.de hash-algorithm URIs are not the SPDX checksum algorithms DCAT-AP 3 expects.
    assert result.by_shape["mdr:Checksum_ShapeCV spdx:algorithm"] == 5
    assert result.warnings > 0 and result.violations > result.warnings


def test_nobelmedia_format_as_literal_mime_strings_violates(nobel):
    g, result = nobel
    formats = [o for o in g.objects(None, ns.DCTERMS.format)]
    assert len(formats) == 2 and all(isinstance(o, Literal) for o in formats)
    assert result.by_shape["shapes:Distribution_Shape dct:format"] == 3  # maxCount 1 + nodeKind twice


def test_nobelmedia_homepage_plain_literal_violates(nobel):
    _, result = nobel
    assert result.by_shape["shapes:Catalog_Shape foaf:homepage"] == 1
    assert any("foaf:homepage" in m and "BlankNodeOrIRI" in m for m in result.messages)


def test_nobelmedia_untyped_dates_violate(nobel):
    _, result = nobel
    assert result.by_shape["shapes:Catalog_Shape dct:issued"] == 1
    assert result.by_shape["shapes:Catalog_Shape dct:modified"] == 1


def test_messages_are_capped_at_ten(rostock):
    _, result = rostock
    assert result.violations + result.warnings > 10
    assert len(result.messages) == 10


# ----------------------------------------------------------------------------- batches


def test_validate_many_attributes_violations_to_the_right_dataset():
    slugs = [f"ds-{i}" for i in range(7)]
    bad_title, bad_licence = {"ds-1", "ds-5"}, {"ds-3"}
    items = []
    for slug in slugs:
        g = good_graph(slug)
        if slug in bad_title:
            without_title(g, dataset_uri(slug))
        if slug in bad_licence:
            with_unknown_licence(g)
        items.append((slug, g))
    # batch_size 3 puts good and bad graphs together and crosses batch boundaries
    results = dict(validate_many(iter(items), batch_size=3))
    assert list(results) == slugs
    for slug, g in items:
        alone = validate_graph(g)
        assert results[slug].by_shape == alone.by_shape, slug
        assert results[slug].conforms == (slug not in bad_title | bad_licence), slug
    assert results["ds-1"].by_shape.get("shapes:Dataset_Shape dct:title") == 1
    assert all(str(dataset_uri("ds-1")) in m for m in results["ds-1"].messages if "dct:title" in m)
    assert "shapes:Dataset_Shape dct:title" not in results["ds-3"].by_shape


def test_validate_many_rejects_a_zero_batch():
    with pytest.raises(ValueError, match="batch_size"):
        list(validate_many([("a", good_graph())], batch_size=0))


def test_nested_details_of_a_warning_are_not_counted():
    """Gotcha 3: pyshacl also types a Warning's nested details as sh:ValidationResult (marked Violation)."""
    import pyshacl

    data = shacl._with_bridge(good_graph(), True)
    _, report, _ = pyshacl.validate(data, shacl_graph=shacl._shapes(False).graph, allow_warnings=True)
    nested = set(report.subjects(ns.RDF.type, ns.SH.ValidationResult)) - set(report.objects(None, ns.SH.result))
    assert nested  # the publisher warning carries nested details ...
    result = validate_graph(good_graph())
    assert (result.violations, result.warnings) == (0, 1)  # ... which are not counted


@pytest.mark.parametrize("name, fmt", [("known_good_dataset.ttl", "turtle"), ("rostock_dcatde_dataset.rdf", "xml"),
                                       ("nobelmedia_dcatap_catalog.rdf", "xml")])
def test_reused_compiled_shapes_give_the_same_report_as_plain_pyshacl(name, fmt):
    """validate_graph reuses pyshacl's harvested shapes across calls; it must not change the answer."""
    import pyshacl

    g = Graph().parse(DATA / name, format=fmt)
    data = shacl._with_bridge(g, True)
    _, report, _ = pyshacl.validate(data, shacl_graph=shacl._shapes(False).graph, allow_warnings=True)
    top = list(report.objects(None, ns.SH.result))
    expected = sum(report.value(r, ns.SH.resultSeverity) == ns.SH.Violation for r in top)
    for _ in range(2):  # twice: the second run reuses the same compiled shapes
        result = validate_graph(g)
        assert (result.violations, result.violations + result.warnings) == (expected, len(top))


# ----------------------------------------------------------------------------- batching is faithful


def _shared_publisher(g: Graph, slug: str, name: str = "Leeds City Council") -> Graph:
    """Point the dataset at one publisher node shared by every dataset (as a CKAN organisation is)."""
    own = URIRef(str(dataset_uri(slug)) + "#publisher")
    shared = URIRef("https://data.example.org/citycat/publisher/leeds")
    for t in list(g.triples((own, None, None))):
        g.remove(t)
    g.set((dataset_uri(slug), ns.DCTERMS.publisher, shared))
    g.add((shared, ns.RDF.type, ns.FOAF.Agent))
    g.add((shared, ns.FOAF.name, Literal(name, lang="en")))
    return g


def _same_as_alone(results: dict, items: list) -> None:
    for key, g in items:
        alone = validate_graph(g)
        assert (results[key].conforms, results[key].by_shape) == (alone.conforms, alone.by_shape), key


def test_identically_described_shared_node_keeps_one_batch(pyshacl_calls):
    items = [(s, _shared_publisher(good_graph(s), s)) for s in ("a", "b", "c")]
    results = dict(validate_many(items, batch_size=10))
    assert len(pyshacl_calls) == 1
    _same_as_alone(results, items)


def test_differently_described_shared_node_splits_the_batch(pyshacl_calls):
    items = [("a", _shared_publisher(good_graph("a"), "a")),
             ("b", _shared_publisher(good_graph("b"), "b", name="Leeds CC"))]
    # the shared agent gets a second dct:type in the union; alone each graph has one
    for key, g in items:
        g.add((URIRef("https://data.example.org/citycat/publisher/leeds"), ns.DCTERMS.type,
               URIRef(f"http://purl.org/adms/publishertype/{'LocalAuthority' if key == 'a' else 'NationalAuthority'}")))
    results = dict(validate_many(items, batch_size=10))
    assert len(pyshacl_calls) == 2
    _same_as_alone(results, items)


def test_link_to_a_sibling_dataset_is_not_resolved_by_the_batch(pyshacl_calls):
    from expectations.shacl import _validate_batch

    a, b = good_graph("a"), good_graph("b")
    a.add((dataset_uri("a"), ns.DCTERMS.hasVersion, dataset_uri("b")))  # b is described in b's graph only
    items = [("a", a), ("b", b)]
    # the naive union lends a the sibling's rdf:type, so the range check passes that fails alone
    naive = dict(_validate_batch(items, False, True))
    assert "range:Dataset_Shape dct:hasVersion" not in naive["a"].by_shape
    pyshacl_calls.clear()
    results = dict(validate_many(items, batch_size=10))
    assert len(pyshacl_calls) == 2
    _same_as_alone(results, items)
    assert results["a"].by_shape.get("range:Dataset_Shape dct:hasVersion") == 1 and results["b"].conforms


def test_shapes_version_changes_with_the_shapes(tmp_path, monkeypatch):
    import shutil

    before = shacl.shapes_version()
    assert before == shacl.shapes_version() and len(before) == 32
    copy = tmp_path / "shapes"
    shutil.copytree(shacl.SHAPES_DIR, copy)
    with (copy / "shapes.ttl").open("a") as fh:
        fh.write("\n# edited\n")
    monkeypatch.setattr(shacl, "SHAPES_DIR", copy)
    shacl.shapes_version.cache_clear()
    try:
        assert shacl.shapes_version() != before
    finally:
        monkeypatch.undo()
        shacl.shapes_version.cache_clear()
    assert shacl.shapes_version() == before
