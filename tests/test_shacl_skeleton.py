"""SHACL through graph skeletons gives exactly what pyshacl gives on the graph itself.

Every dataset graph the real transforms make from the recorded inputs (CKAN, DCAT, DCAT-US, OAI-PMH,
CSW, Socrata, OpenDataSoft, registers), the hand-made SHACL samples (with blank nodes), and mutations
of them that break the shapes in the ways portals do, are validated both ways; the whole ShaclResult
(conforms, counts, by_shape and the wording of the messages) must be equal.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Iterator

import pytest
from rdflib import Graph, Literal, URIRef
from rdflib import namespace as ns

from expectations import shacl, shacl_skeleton as sk
from transforms.rdf import graph_from_ntriples

TESTS = Path(__file__).parent
DATA = TESTS / "data"
EU = "http://publications.europa.eu/resource/authority/"


# --------------------------------------------------------------------------- inputs


def _golden_nts() -> Iterator[tuple[str, str]]:
    from test_normalise_golden import CTX, cases
    from transforms import get_mapping

    synthetic = 0
    for name, kind, record in cases():
        if record.deleted:
            continue
        if name.startswith("synthetic/"):
            synthetic += 1
            if synthetic > 25:
                continue
        try:
            yield name, get_mapping(kind)(record, CTX[kind]).ntriples()
        except Exception:  # noqa: BLE001 - mapping errors are the golden test's business
            continue


def _dcat_nts() -> Iterator[tuple[str, str]]:
    import pyoxigraph as ox
    from test_dcat_mapping import CTX, _records_of
    from transforms.dcat import map_dataset

    for name, fmt in (("rostock_dcatde_dataset.rdf", ox.RdfFormat.RDF_XML),
                      ("nobelmedia_dcatap_catalog.rdf", ox.RdfFormat.RDF_XML), ("quirks_crafted.ttl", ox.RdfFormat.TURTLE)):
        for nid, rec in sorted(_records_of((DATA / "dcat" / name).read_bytes(), fmt).items()):
            try:
                yield f"dcat/{name}#{nid}", map_dataset(rec, CTX).ntriples()
            except Exception:  # noqa: BLE001
                continue


def _oai_nts() -> Iterator[tuple[str, str]]:
    from test_oai_mapping import CTX, records_in
    from transforms.oai_pmh import map_oai_record

    for name in ("zenodo_listrecords_oai_dc.xml", "crafted_listrecords_oai_datacite.xml",
                 "crafted_getrecord_datacite.xml"):
        for nid, rec in sorted(records_in(name).items()):
            if not rec.deleted:
                yield f"oai/{name}#{nid}", map_oai_record(rec, CTX).ntriples()


def _register_nts() -> Iterator[tuple[str, str]]:
    from test_register import CSV, CTX, harvest
    from transforms.register import map_register_row

    for rec in harvest(CSV)[1]:
        try:
            yield f"register#{rec.native_id}", map_register_row(rec, CTX).ntriples()
        except Exception:  # noqa: BLE001
            continue


@pytest.fixture(scope="module")
def mapped() -> dict[str, str]:
    out: dict[str, str] = {}
    for source in (_golden_nts, _dcat_nts, _oai_nts, _register_nts):
        out.update(source())
    return out


def _sample_graphs() -> dict[str, Graph]:
    """The SHACL samples as published: blank nodes and all, not through a transform."""
    return {name: Graph().parse(DATA / "shacl" / name, format=fmt)
            for name, fmt in (("known_good_dataset.ttl", "turtle"), ("rostock_dcatde_dataset.rdf", "xml"),
                              ("nobelmedia_dcatap_catalog.rdf", "xml"))}


# --------------------------------------------------------------------------- both ways


def _nt_text(g: Graph) -> str:
    """N-Triples of a graph in the canonical form, blank nodes kept (canonical_ntriples refuses them)."""
    return "".join(sorted(f"{s} {p} {o} .\n" for s, p, o in sk.triples_of_graph(g)))


def _direct(graph: Graph) -> dict:
    from pyshacl.rdfutil.stringify import stringify_blank_node

    getattr(stringify_blank_node, "dict_cache", {}).clear()  # pyshacl caches by id(graph): ids get reused
    return shacl.validate_graph(graph).as_dict()


def _via_nt(items: dict[str, str], batch_size: int = 50) -> dict[str, dict]:
    """The quality pass's path: canonical N-Triples -> skeleton -> one validation per distinct skeleton."""
    skeletons = {k: sk.skeleton(sk.with_bridge(sk.triples_of_nt(nt))) for k, nt in items.items()}
    outcomes = dict(sk.validate_skeletons({s.key: s for s in skeletons.values()}.values(), batch_size=batch_size))
    return {k: sk.result_for(outcomes[s.key], s, lambda k=k: shacl._with_bridge(graph_from_ntriples(items[k]), True)
                             ).as_dict() for k, s in skeletons.items()}


def _assert_same(items: dict[str, str]) -> None:
    via = _via_nt(items)
    for key, nt in items.items():
        assert via[key] == _direct(graph_from_ntriples(nt)), key


def test_support_is_on_for_the_shipped_shapes():
    assert sk.support().enabled, sk.support().reason
    assert sk.support(True).enabled, sk.support(True).reason


def test_every_mapped_real_input_gives_the_direct_result(mapped):
    kinds = {name.split("/")[0].split("#")[0] for name in mapped}
    assert {"ckan", "ckan_mapping", "synthetic", "csw", "dcat_us", "socrata", "opendatasoft", "dcat", "oai",
            "register"} <= kinds, kinds
    _assert_same(mapped)
    # the comparison is not vacuous: real inputs break the shapes in several ways
    results = [_direct(graph_from_ntriples(nt)) for nt in mapped.values()]
    assert sum(not r["conforms"] for r in results) >= 3
    assert len({s for r in results for s in r["by_shape"]}) >= 5


@pytest.mark.parametrize("name", ["known_good_dataset.ttl", "rostock_dcatde_dataset.rdf",
                                  "nobelmedia_dcatap_catalog.rdf"])
def test_published_samples_with_blank_nodes_give_the_direct_result(name):
    g = _sample_graphs()[name]
    via = dict(sk.validate_many([(name, g)]))[name].as_dict()
    assert via == _direct(g)


# --------------------------------------------------------------------------- mutations


def _dataset(g: Graph) -> URIRef:
    return next(s for s in g.subjects(ns.RDF.type, ns.DCAT.Dataset) if isinstance(s, URIRef))


def _no(p):
    def mutate(g: Graph) -> None:
        g.remove((_dataset(g), p, None))
    return mutate


def _ill_typed_date(g: Graph) -> None:
    g.set((_dataset(g), ns.DCTERMS.modified, Literal("20.11.2026", datatype=ns.XSD.date)))


def _second_title(g: Graph) -> None:
    g.add((_dataset(g), ns.DCTERMS.title, Literal("Another title", lang="en")))
    g.add((_dataset(g), ns.DCTERMS.title, Literal("Noch ein Titel", lang="de")))


def _unknown_licence(g: Graph) -> None:
    for d in list(g.subjects(ns.RDF.type, ns.DCAT.Distribution)):
        g.set((d, ns.DCTERMS.license, URIRef(EU + "licence/NOT_A_LICENCE")))


def _media_type_outside_iana(g: Graph) -> None:
    for d in list(g.subjects(ns.RDF.type, ns.DCAT.Distribution)):
        g.set((d, ns.DCAT.mediaType, URIRef("https://example.org/media-types/text/csv")))


def _iana_media_type(g: Graph) -> None:
    for d in list(g.subjects(ns.RDF.type, ns.DCAT.Distribution)):
        g.set((d, ns.DCAT.mediaType, URIRef("http://www.iana.org/assignments/media-types/text/csv")))


def _duplicate_distribution(g: Graph) -> None:
    ds = _dataset(g)
    for d in list(g.objects(ds, ns.DCAT.distribution))[:1]:
        twin = URIRef(str(d) + "-twin")
        for p, o in list(g.predicate_objects(d)):
            g.add((twin, p, o))
        g.add((ds, ns.DCAT.distribution, twin))


def _decimal_byte_size(g: Graph) -> None:
    for d in list(g.subjects(ns.RDF.type, ns.DCAT.Distribution)):
        g.set((d, ns.DCAT.byteSize, Literal("12.5", datatype=ns.XSD.decimal)))


def _plain_landing_page(g: Graph) -> None:
    g.set((_dataset(g), ns.DCAT.landingPage, Literal("https://portal.example.org/x")))


def _distribution_without_access_url(g: Graph) -> None:
    g.remove((None, ns.DCAT.accessURL, None))


def _two_publishers(g: Graph) -> None:
    g.add((_dataset(g), ns.DCTERMS.publisher, URIRef("https://data.example.org/agent/other")))


MUTATIONS = {"no-title": _no(ns.DCTERMS.title), "no-description": _no(ns.DCTERMS.description),
             "no-publisher": _no(ns.DCTERMS.publisher), "ill-typed-date": _ill_typed_date,
             "second-title": _second_title, "unknown-licence": _unknown_licence,
             "media-type-outside-iana": _media_type_outside_iana, "iana-media-type": _iana_media_type,
             "duplicate-distribution": _duplicate_distribution, "decimal-byte-size": _decimal_byte_size,
             "plain-landing-page": _plain_landing_page, "no-access-url": _distribution_without_access_url,
             "two-publishers": _two_publishers}


@pytest.fixture(scope="module")
def bases(mapped) -> dict[str, Graph]:
    synthetic = sorted(k for k in mapped if k.startswith("synthetic/"))[3]
    out = {k: graph_from_ntriples(mapped[k]) for k in ("ckan_mapping/dgu_package_show_inspire.json#0", synthetic)}
    out.update({k: graph_from_ntriples(v) for k, v in mapped.items() if k.startswith("dcat/rostock")})
    out["known_good"] = _sample_graphs()["known_good_dataset.ttl"]
    assert len(out) >= 4, sorted(out)
    return out


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_mutations_give_the_direct_result(bases, mutation):
    items: dict[str, str] = {}
    for name, base in bases.items():
        g = copy.deepcopy(base)
        MUTATIONS[mutation](g)
        items[name] = _nt_text(g)
    _assert_same(items)
    if mutation in ("no-title", "decimal-byte-size", "no-access-url"):  # the mutation does break the graphs
        assert not any(_via_nt(items)[k]["conforms"] for k in items), mutation


def test_a_batch_of_skeletons_gives_each_its_own_result(mapped):
    """Many distinct skeletons in one pyshacl call (small batches too) answer as if validated alone."""
    items = dict(list(mapped.items())[:60])
    for size in (7, 50):
        via = _via_nt(items, batch_size=size)
        for key, nt in items.items():
            assert via[key] == _direct(graph_from_ntriples(nt)), (size, key)


# --------------------------------------------------------------------------- sharing and what is kept


def _synthetic_nt(i: int, seed: int = 5) -> str:
    from citycat.synthetic import SyntheticPackages, SyntheticSpec
    from test_normalise_golden import CTX
    from harvesters.base import RawRecord
    from transforms import get_mapping

    p = SyntheticPackages(SyntheticSpec(count=i + 1, seed=seed)).package(i)
    rec = RawRecord("bench", p["id"], "2026-11-20T02:00:00+00:00", "application/json", p)
    return get_mapping("ckan")(rec, CTX["ckan"]).ntriples()


def test_structurally_identical_datasets_share_one_skeleton():
    from test_shacl import good_graph

    a, b = good_graph("first-dataset"), good_graph("another-one")
    b.set((URIRef(str(shacl_uri("another-one"))), ns.DCTERMS.title, Literal("A wholly different title", lang="en")))
    ska, skb = (sk.skeleton(sk.with_bridge(sk.triples_of_graph(g))) for g in (a, b))
    assert ska.key == skb.key and ska.triples == skb.triples
    assert ska.originals != skb.originals
    ra, rb = (r.as_dict() for _, r in sk.validate_many([("a", a), ("b", b)]))
    assert ra == _direct(a) and rb == _direct(b) and ra["messages"] != rb["messages"]


def shacl_uri(slug: str) -> URIRef:
    from test_shacl import dataset_uri

    return dataset_uri(slug)


def test_synthetic_catalogue_shares_skeletons():
    """Datasets of one portal's template share skeletons (bench/shacl_rate.py: ~340 for 5,000)."""
    from citycat.synthetic import SyntheticPackages, SyntheticSpec
    from harvesters.base import RawRecord
    from test_normalise_golden import CTX
    from transforms import get_mapping

    pkgs, mapping, keys = SyntheticPackages(SyntheticSpec(count=400, seed=5)), get_mapping("ckan"), []
    for i in range(400):
        p = pkgs.package(i)
        nt = mapping(RawRecord("bench", p["id"], "2026-11-20T02:00:00+00:00", "application/json", p),
                     CTX["ckan"]).ntriples()
        keys.append(sk.skeleton(sk.with_bridge(sk.triples_of_nt(nt))).key)
    assert len(set(keys)) < len(keys) / 2, len(set(keys))


def test_interchangeable_siblings_do_not_split_a_skeleton():
    from test_shacl import good_graph

    g = good_graph("siblings")
    _duplicate_distribution(g)
    nt = _nt_text(g)
    renamed = nt.replace("-twin", "-aaa-first")  # the twin now sorts before its original
    assert renamed != nt
    one, two = (sk.skeleton(sk.with_bridge(sk.triples_of_nt(x))) for x in (nt, renamed))
    assert one.key == two.key


def test_pattern_relevant_iris_are_kept_verbatim():
    from test_shacl import good_graph

    g = good_graph()
    _iana_media_type(g)
    s = sk.skeleton(sk.with_bridge(sk.triples_of_graph(g)))
    flat = {t for tr in s.triples for t in tr}
    assert "<http://www.iana.org/assignments/media-types/text/csv>" in flat
    assert "<http://purl.org/dc/terms/title>" in flat and f"<{EU}data-theme>" not in s.originals.values()
    assert not any(str(_dataset(g)) in t for t in flat)  # the dataset's own IRI is a placeholder
    assert any(t.startswith("?i") for t in flat) and any(t.startswith("?l") for t in flat)


def test_ill_typed_literals_are_kept_and_well_typed_ones_renamed():
    from test_shacl import good_graph

    g = good_graph()
    _ill_typed_date(g)
    g.add((_dataset(g), ns.DCTERMS.issued, Literal("2024-02-29", datatype=ns.XSD.date)))
    flat = {t for tr in sk.skeleton(sk.with_bridge(sk.triples_of_graph(g))).triples for t in tr}
    assert f'"20.11.2026"^^<{ns.XSD.date}>' in flat
    assert f'"2024-02-29"^^<{ns.XSD.date}>' not in flat


def test_unsupported_constraint_component_turns_skeletons_off():
    shapes = Graph()
    shapes.parse(data="""
        @prefix sh: <http://www.w3.org/ns/shacl#> . @prefix dct: <http://purl.org/dc/terms/> .
        @prefix dcat: <http://www.w3.org/ns/dcat#> .
        <urn:s> a sh:NodeShape ; sh:targetClass dcat:Dataset ;
            sh:property [ sh:path dct:title ; sh:minCount 1 ; sh:maxLength 80 ] .
    """, format="turtle")
    sup = sk.analyse(shapes)
    assert not sup.enabled and "maxLength" in sup.reason
    shapes.remove((None, URIRef(str(ns.SH) + "maxLength"), None))
    assert sk.analyse(shapes).enabled


def test_validate_many_falls_back_to_direct_validation_when_unsupported(monkeypatch):
    from test_shacl import good_graph

    calls = []
    off = sk.Support(False, "test", frozenset(), ())
    monkeypatch.setattr(sk, "support", lambda include_recommended=False: off)
    monkeypatch.setattr(sk, "validate_skeletons", lambda *a, **k: calls.append(a) or iter(()))
    g = good_graph()
    assert dict(sk.validate_many([("g", g)]))["g"].as_dict() == _direct(g)
    assert not calls
