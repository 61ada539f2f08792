"""The static DCAT feed, read as its clients read it: rdflib over the written files.

Inputs: two real DCAT RDF records (tests/data/feed, see its README) plus synthetic
datasets, 250 in all, written with page_size=100.
"""

from __future__ import annotations

import fcntl
import json
import os
import pickle
import re
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import pyshacl
import pytest
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.compare import graph_diff, to_isomorphic
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, XSD

from publish import (CatalogInfo, FeedDataset, FeedError, FeedRecordError, FeedResult, SourceInfo, dataset_file_name,
                     write_feed)
from publish.feed import wait_for_cleanup

DATA = Path(__file__).parent / "data" / "feed"
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
BASE = "http://localhost:8000"
RDFLIB_FORMAT = {"ttl": "turtle", "nt": "nt", "rdf": "xml", "jsonld": "json-ld"}
GENERATED = datetime(2025, 3, 1, 2, 30, tzinfo=timezone.utc)
CC0 = "http://publications.europa.eu/resource/authority/licence/CC0"
CATALOG = CatalogInfo(base_uri=BASE + "/", title="West Region data inventory",
                      description="Every dataset held by the region's public bodies.",
                      publisher_name="West Region Combined Authority", publisher_uri="https://west.example/org",
                      homepage="https://west.example/data", licence_uri=CC0)
SOURCES = [
    SourceInfo("city", "City data portal", "https://data.city.example/", "City Council", "https://city.example/"),
    SourceInfo("hro", "Open Data Rostock", "https://www.opendata-hro.de/", "Hanse- und Universitätsstadt Rostock",
               None),
    SourceInfo("nobel", "Nobel Media catalogue", "http://nobelprize.org/datasets/dcat", "Nobel Media AB", None),
    SourceInfo("uni", "University repository", "https://repo.uni.example/", "The University", None),
]
SPECIAL_IDS = ["résumé/2024 data?x=1&y#z", "a b", "..", "Ünïcödé-数据", "%41", "x" * 150 + "é" * 40]
T0 = datetime(2023, 5, 1, 8, 0, tzinfo=timezone.utc)


def minted(source_id: str, native_id: str) -> str:
    return f"{BASE}/dataset/{quote(source_id, safe='')}/{quote(native_id, safe='')}"


def canonical_nt(g: Graph) -> str:
    # split on "\n" only: rdflib writes form feeds, \x1c-\x1e, U+2028... raw, and str.splitlines
    # would cut a literal in two at them
    return "".join(sorted({line + "\n" for line in g.serialize(format="nt").split("\n") if line.strip()}))


def from_real_file(name: str, dataset: str, source_id: str, native_id: str, *, with_record: bool) -> FeedDataset:
    """A stored graph as the inventory keeps it: the dataset's closure, skolemised."""
    full = Graph().parse(DATA / name, format="xml").skolemize(authority=BASE, basepath="/.well-known/genid/")
    sub, todo, seen = Graph(), [URIRef(dataset)], set()
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        for p, o in full.predicate_objects(node):
            sub.add((node, p, o))
            if isinstance(o, URIRef) and (o, RDF.type, DCAT.Catalog) not in full:
                todo.append(o)
    if with_record:
        rec = URIRef(minted(source_id, native_id) + "#record")
        sub.add((rec, RDF.type, DCAT.CatalogRecord))
        sub.add((rec, FOAF.primaryTopic, URIRef(dataset)))
    return FeedDataset(source_id, native_id, dataset, canonical_nt(sub), T0, T0 + timedelta(days=3))


def synthetic(source_id: str, native_id: str, i: int, *, title: str | None = None) -> FeedDataset:
    uri = URIRef(minted(source_id, native_id))
    rec, dist = URIRef(uri + "#record"), URIRef(uri + "#distribution-1")
    g = Graph()
    for t in [(uri, RDF.type, DCAT.Dataset), (uri, DCTERMS.title, Literal(title or f"Dataset {i}", lang="en")),
              (uri, DCTERMS.description, Literal(f"Synthetic dataset {i} for the feed tests.", lang="en")),
              (uri, DCTERMS.identifier, Literal(native_id)), (uri, DCAT.distribution, dist),
              (dist, RDF.type, DCAT.Distribution), (dist, DCAT.accessURL, URIRef(f"https://files.example/{i}.csv")),
              (rec, RDF.type, DCAT.CatalogRecord), (rec, FOAF.primaryTopic, uri)]:
        g.add(t)
    return FeedDataset(source_id, native_id, str(uri), canonical_nt(g), T0 + timedelta(hours=i),
                       T0 + timedelta(days=1, hours=i))


def inputs_250() -> list[FeedDataset]:
    real = [from_real_file("rostock_dcatde_dataset.rdf",
                           "https://www.opendata-hro.de/dataset/c1be4007-d811-48fb-8818-2cb358b06a63",
                           "hro", "c1be4007-d811-48fb-8818-2cb358b06a63", with_record=True),
            from_real_file("nobelmedia_dcatap_catalog.rdf", "http://nobelprize.org/datasets/dcat#ds1",
                           "nobel", "ds1", with_record=False)]
    synth = [synthetic("city", f"city-{i:03d}", i) for i in range(150)]
    synth += [synthetic("uni", nid, 500 + k) for k, nid in enumerate(SPECIAL_IDS)]
    synth += [synthetic("uni", f"uni-{i:03d}", i) for i in range(250 - 2 - len(synth))]
    return sorted(real + synth, key=lambda d: (d.source_id, d.native_id))


def url_to_path(out: Path, url: str) -> Path:
    assert url.startswith(BASE + "/"), url
    return out / url[len(BASE) + 1:]


def parse(path: Path) -> Graph:
    return Graph().parse(path, format=RDFLIB_FORMAT[path.suffix[1:]])


def view_of(g: Graph) -> URIRef:
    views = list(g.subjects(RDF.type, HYDRA.PartialCollectionView))
    assert len(views) == 1, views
    return views[0]


@pytest.fixture(scope="module")
def feed(tmp_path_factory):
    out = tmp_path_factory.mktemp("feed") / "feed"
    datasets = inputs_250()
    result = write_feed(iter(datasets), out, catalog=CATALOG, sources=SOURCES, page_size=100,
                        generated_at=GENERATED)
    return out, datasets, result


# --------------------------------------------------------------------------- paging


def test_following_hydra_next_from_the_entry_point_recovers_exactly_the_input(feed):
    out, datasets, result = feed
    assert (result.pages, result.datasets, result.skipped) == (3, 250, 0)
    path, pages, found, typed = out / "catalog.ttl", [], [], set()
    while path is not None:
        g = parse(path)
        view = view_of(g)
        pages.append(str(view))
        assert g.value(URIRef(BASE + "/catalog"), HYDRA.totalItems).toPython() == 250
        assert g.value(view, HYDRA.last) == URIRef(f"{BASE}/catalog/page-3.ttl")
        found += list(g.objects(URIRef(BASE + "/catalog"), DCAT.dataset))
        typed |= set(g.subjects(RDF.type, DCAT.Dataset))
        nxt = g.value(view, HYDRA.next)
        path = url_to_path(out, str(nxt)) if nxt is not None else None
    assert pages == [f"{BASE}/catalog/page-{n}.ttl" for n in (1, 2, 3)]
    assert len(found) == len(set(found)) == 250
    assert {str(u) for u in found} == {d.uri for d in datasets} == {str(u) for u in typed}


def test_pages_carry_the_paged_collection_form_ckanext_dcat_reads(feed):
    """ckanext-dcat's RDFParser.next_page: a hydra:PagedCollection subject, then
    hydra:next, else hydra:nextPage. Follow it the same way over RDF/XML (its default)."""
    out, datasets, _ = feed
    url, seen = f"{BASE}/catalog.rdf", 0
    path = out / "catalog.rdf"
    while True:
        g = parse(path)
        seen += len(set(g.subjects(RDF.type, DCAT.Dataset)))
        paged = list(g.subjects(RDF.type, HYDRA.PagedCollection))
        assert len(paged) == 1
        node = paged[0]
        assert g.value(node, HYDRA.itemsPerPage).toPython() == 100
        assert g.value(node, HYDRA.totalItems).toPython() == 250
        assert g.value(node, HYDRA.firstPage) == URIRef(f"{BASE}/catalog/page-1.rdf")
        assert g.value(node, HYDRA.lastPage) == URIRef(f"{BASE}/catalog/page-3.rdf")
        assert g.value(node, HYDRA.nextPage) == g.value(node, HYDRA.next)
        nxt = g.value(node, HYDRA.nextPage)
        if nxt is None:
            break
        assert str(nxt).endswith(".rdf") and str(nxt) != url
        url, path = str(nxt), url_to_path(out, str(nxt))
    assert seen == 250


def test_previous_links_walk_back_from_the_last_page(feed):
    out, _, _ = feed
    g = parse(out / "catalog" / "page-3.nt")
    assert g.value(view_of(g), HYDRA.next) is None
    assert g.value(view_of(g), HYDRA.previous) == URIRef(f"{BASE}/catalog/page-2.nt")
    assert g.value(view_of(g), HYDRA.previousPage) == URIRef(f"{BASE}/catalog/page-2.nt")
    first = parse(out / "catalog" / "page-1.nt")
    assert first.value(view_of(first), HYDRA.previous) is None


# --------------------------------------------------------------------------- formats


def _normalise_page_links(g: Graph) -> Graph:
    """Page links name the page's own format by design; map them to .ttl to compare."""
    fix = re.compile(r"(/catalog/page-\d+)\.(?:ttl|nt|rdf|jsonld)$")

    def norm(t):
        return URIRef(fix.sub(r"\1.ttl", str(t))) if isinstance(t, URIRef) else t

    out = Graph()
    for s, p, o in g:
        out.add((norm(s), p, norm(o)))
    return out


@pytest.mark.parametrize("page", [1, 2, 3])
def test_every_format_of_a_page_is_the_same_graph(feed, page):
    out, _, _ = feed
    reference = to_isomorphic(_normalise_page_links(parse(out / "catalog" / f"page-{page}.ttl")))
    assert len(reference) > 500
    for ext in ("nt", "rdf", "jsonld"):
        other = to_isomorphic(_normalise_page_links(parse(out / "catalog" / f"page-{page}.{ext}")))
        _, only_ttl, only_other = graph_diff(reference, other)
        assert (len(only_ttl), len(only_other)) == (0, 0), (ext, sorted(only_ttl)[:3], sorted(only_other)[:3])


def test_entry_point_is_the_first_page_in_each_format(feed):
    out, _, result = feed
    assert result.formats == ("ttl", "nt", "rdf", "jsonld")
    for ext in result.formats:
        assert (out / f"catalog.{ext}").read_bytes() == (out / "catalog" / f"page-1.{ext}").read_bytes()


def test_turtle_uses_readable_prefixes(feed):
    out, _, _ = feed
    text = (out / "catalog" / "page-2.ttl").read_text("utf-8")
    for prefix in ("dcat", "dct", "foaf", "hydra", "xsd"):
        assert f"@prefix {prefix}: " in text
    assert "a dcat:Catalog , hydra:Collection" in text and "dct:title" in text


# --------------------------------------------------------------------------- catalogue


def test_catalogue_metadata_and_sub_catalogues(feed):
    out, datasets, _ = feed
    g = parse(out / "catalog" / "page-2.jsonld")
    cat = URIRef(BASE + "/catalog")
    assert (cat, RDF.type, DCAT.Catalog) in g
    assert g.value(cat, DCTERMS.title) == Literal(CATALOG.title)
    assert g.value(cat, DCTERMS.description) == Literal(CATALOG.description)
    pub = g.value(cat, DCTERMS.publisher)
    assert pub == URIRef(CATALOG.publisher_uri) and (pub, RDF.type, FOAF.Agent) in g
    assert g.value(pub, FOAF.name) == Literal(CATALOG.publisher_name)
    home = g.value(cat, FOAF.homepage)
    assert home == URIRef(CATALOG.homepage) and (home, RDF.type, FOAF.Document) in g
    assert g.value(cat, DCTERMS.license) == URIRef(CC0)
    assert g.value(cat, DCTERMS.language) == URIRef(CATALOG.language)
    # the dates are on the entry point only (a change would otherwise rewrite every page)
    assert g.value(cat, DCTERMS.modified) is None
    first = parse(out / "catalog.jsonld")
    # when the catalogue's content last changed, not when the feed was written
    assert first.value(cat, DCTERMS.modified).toPython() == max(d.last_changed for d in datasets) != GENERATED
    for s in SOURCES:
        newest = max(d.last_changed for d in datasets if d.source_id == s.source_id)
        assert first.value(URIRef(f"{BASE}/catalog/{s.source_id}"), DCTERMS.modified).toPython() == newest
        assert g.value(URIRef(f"{BASE}/catalog/{s.source_id}"), DCTERMS.modified) is None
    subs = set(g.objects(cat, DCAT.catalog))
    assert subs == {URIRef(f"{BASE}/catalog/{s.source_id}") for s in SOURCES}
    for s in SOURCES:
        sub = URIRef(f"{BASE}/catalog/{s.source_id}")
        assert (sub, RDF.type, DCAT.Catalog) in g and g.value(sub, DCTERMS.title) == Literal(s.title)
        assert g.value(sub, FOAF.homepage) == URIRef(s.url)
        assert g.value(sub, DCTERMS.source) == URIRef(s.url)  # provenance back to the portal
        inst = g.value(sub, DCTERMS.publisher)
        assert g.value(inst, FOAF.name) == Literal(s.institution_name)
        # the institution node the mappings attach to datasets (transforms.agents), not a feed-only one
        assert inst == URIRef(s.institution_uri or f"{BASE}/institution/{s.source_id}")
    on_page = {d.uri: d.source_id for d in datasets[100:200]}
    for uri, sid in on_page.items():
        assert (URIRef(f"{BASE}/catalog/{sid}"), DCAT.dataset, URIRef(uri)) in g
    assert len(set(g.objects(cat, DCAT.dataset))) == 100


def test_catalogue_records_get_first_seen_and_last_changed(feed):
    out, datasets, _ = feed
    g = Graph()
    for n in (1, 2, 3):
        g += parse(out / "catalog" / f"page-{n}.nt")
    cat = URIRef(BASE + "/catalog")
    for d in datasets:
        recs = list(g.subjects(FOAF.primaryTopic, URIRef(d.uri)))
        assert len(recs) == 1, d.native_id
        rec = recs[0]
        assert (cat, DCAT.record, rec) in g
        assert list(g.objects(rec, DCTERMS.issued)) == [Literal(d.first_seen.isoformat().replace("+00:00", "Z"),
                                                                datatype=XSD.dateTime)]
        assert [o.toPython() for o in g.objects(rec, DCTERMS.modified)] == [d.last_changed]
    # the Nobel record had no CatalogRecord: one is minted under the inventory's path
    nobel_rec = URIRef(f"{BASE}/dataset/nobel/ds1#record")
    assert (nobel_rec, RDF.type, DCAT.CatalogRecord) in g
    assert g.value(nobel_rec, FOAF.primaryTopic) == URIRef("http://nobelprize.org/datasets/dcat#ds1")


def test_real_records_keep_their_own_triples(feed):
    out, datasets, _ = feed
    g = Graph()
    for n in (1, 2, 3):
        g += parse(out / "catalog" / f"page-{n}.ttl")
    for d in datasets:
        if d.source_id in ("hro", "nobel"):
            stored = Graph().parse(data=d.nt, format="nt")
            assert len(stored) > 20
            missing = [t for t in stored if t not in g]
            assert missing == []


def test_a_page_conforms_to_the_dcat_ap_3_shapes(tmp_path):
    """Catalogue, sub-catalogues, agents and records the writer adds meet DCAT-AP 3.0.1's
    mandatory constraints (synthetic datasets only: the real samples carry their portals'
    own gaps)."""
    datasets = [synthetic("city", f"c{i}", i) for i in range(3)] + [synthetic("uni", "u1", 9)]
    write_feed(datasets, tmp_path / "feed", catalog=CATALOG, sources=SOURCES, generated_at=GENERATED)
    shapes = Graph().parse(DATA / "dcat-ap-3.0.1-shapes.ttl", format="turtle")
    for ext in ("ttl", "jsonld"):
        conforms, _, text = pyshacl.validate(parse(tmp_path / "feed" / f"catalog.{ext}"), shacl_graph=shapes,
                                             allow_warnings=True)
        assert conforms, text


# --------------------------------------------------------------------------- per-dataset documents


def test_every_dataset_has_its_own_document(feed):
    out, datasets, _ = feed
    for d in datasets:
        path = out / "dataset" / quote(d.source_id, safe="") / f"{dataset_file_name(d.native_id)}.ttl"
        g = Graph().parse(path, format="turtle")
        stored = Graph().parse(data=d.nt, format="nt")
        assert all(t in g for t in stored), d.native_id
        rec = g.value(None, FOAF.primaryTopic, URIRef(d.uri))
        assert g.value(rec, DCTERMS.modified).toPython() == d.last_changed
        assert (URIRef(f"{BASE}/catalog/{d.source_id}"), DCAT.dataset, URIRef(d.uri)) in g
    assert sum(1 for _ in (out / "dataset").rglob("*.ttl")) == 250


def test_special_characters_in_native_ids_give_valid_names_and_uris(feed):
    out, datasets, _ = feed
    by_id = {d.native_id: d for d in datasets}
    names = set(os.listdir(out / "dataset" / "uni"))
    for nid in SPECIAL_IDS:
        name = dataset_file_name(nid) + ".ttl"
        assert name in names and "/" not in name and len(name.encode()) <= 255
        if len(quote(nid, safe="")) <= 200:  # the document sits at the minted URI + .ttl
            assert f"{BASE}/dataset/uni/{name}" == by_id[nid].uri + ".ttl"
        g = Graph().parse(out / "dataset" / "uni" / name, format="turtle")
        assert g.value(URIRef(by_id[nid].uri), DCTERMS.identifier) == Literal(nid)
    long_id = SPECIAL_IDS[-1]
    assert dataset_file_name(long_id) != quote(long_id, safe="")
    assert dataset_file_name(long_id) != dataset_file_name(long_id + "x")
    assert dataset_file_name("..") == ".." and (out / "dataset" / "uni" / "...ttl").is_file()


def test_index_json_describes_the_feed(feed):
    out, _, result = feed
    index = json.loads((out / "index.json").read_text("utf-8"))
    assert index["datasets"] == 250 and index["pages"] == 3 and index["page_size"] == 100
    assert index["generated_at"] == "2025-03-01T02:30:00Z"
    assert index["catalog_uri"] == BASE + "/catalog"
    assert index["formats"]["rdf"]["media_type"] == "application/rdf+xml"
    for ext, spec in index["formats"].items():
        assert (out / spec["entry"]).is_file()
        assert [(out / p).is_file() for p in spec["pages"]] == [True] * 3
    counts = {s["source_id"]: s["datasets"] for s in index["sources"]}
    assert counts == {"city": 150, "hro": 1, "nobel": 1, "uni": 98}
    assert result.bytes == index["bytes"] > 0


# --------------------------------------------------------------------------- edge cases


def test_an_empty_inventory_writes_a_valid_empty_catalogue(tmp_path):
    result = write_feed([], tmp_path / "feed", catalog=CATALOG, sources=SOURCES, generated_at=GENERATED)
    assert (result.pages, result.datasets) == (1, 0)
    for ext in ("ttl", "nt", "rdf", "jsonld"):
        g = parse(tmp_path / "feed" / f"catalog.{ext}")
        view = view_of(g)
        assert g.value(URIRef(BASE + "/catalog"), HYDRA.totalItems).toPython() == 0
        assert g.value(view, HYDRA.first) == g.value(view, HYDRA.last) == view
        assert g.value(view, HYDRA.next) is None
        assert g.value(URIRef(BASE + "/catalog"), DCTERMS.title) == Literal(CATALOG.title)
        assert list(g.subjects(RDF.type, DCAT.Dataset)) == []


def test_an_exception_mid_iteration_leaves_the_previous_feed_untouched(tmp_path):
    out = tmp_path / "feed"
    datasets = inputs_250()
    write_feed(datasets[:30], out, catalog=CATALOG, sources=SOURCES, generated_at=GENERATED)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def failing():
        for i, d in enumerate(datasets):
            if i == 120:
                raise ConnectionError("inventory connection lost")
            yield d

    with pytest.raises(ConnectionError):
        write_feed(failing(), out, catalog=CATALOG, sources=SOURCES, generated_at=GENERATED + timedelta(days=1))
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".feed.new-")] == []


def test_republishing_links_unchanged_documents_and_rewrites_changed_ones(tmp_path):
    out = tmp_path / "feed"
    datasets = [synthetic("city", f"c{i}", i) for i in range(5)]
    write_feed(datasets, out, catalog=CATALOG, sources=SOURCES, generated_at=GENERATED)
    ino = {d.native_id: (out / "dataset" / "city" / f"{d.native_id}.ttl").stat().st_ino for d in datasets}
    changed = FeedDataset(**{**datasets[2].__dict__, "last_changed": datasets[2].last_changed + timedelta(days=9)})
    write_feed(datasets[:2] + [changed] + datasets[3:], out, catalog=CATALOG, sources=SOURCES,
               generated_at=GENERATED + timedelta(days=1))
    now = {d.native_id: (out / "dataset" / "city" / f"{d.native_id}.ttl").stat().st_ino for d in datasets}
    assert [now[k] == ino[k] for k in sorted(ino)] == [True, True, False, True, True]
    g = Graph().parse(out / "dataset" / "city" / "c2.ttl", format="turtle")
    rec = g.value(None, FOAF.primaryTopic, URIRef(changed.uri))
    assert g.value(rec, DCTERMS.modified).toPython() == changed.last_changed


def test_without_renameat2_the_swap_falls_back_to_two_renames(tmp_path, monkeypatch):
    """Kernels/libcs without RENAME_EXCHANGE (non-Linux, old glibc) cannot be had here, so
    the exchange is switched off to exercise the fallback for real on the file system."""
    import publish.swap as swap_module

    out = tmp_path / "feed"
    write_feed([synthetic("city", "c1", 1)], out, catalog=CATALOG, sources=SOURCES, generated_at=GENERATED)
    monkeypatch.setattr(swap_module, "exchange", lambda a, b: False)
    write_feed([synthetic("city", "c2", 2)], out, catalog=CATALOG, sources=SOURCES, generated_at=GENERATED)
    wait_for_cleanup()  # the previous feed is deleted in the background
    assert sorted(p.name for p in (out / "dataset" / "city").iterdir()) == ["c2.ttl"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".feed.lock", "feed"]


def test_bad_records_are_skipped_with_typed_errors_and_the_rest_published(tmp_path):
    good = [synthetic("city", f"c{i}", i) for i in range(4)]
    blank = FeedDataset("city", "c1b", minted("city", "c1b"),
                        f'<{minted("city", "c1b")}> <{DCAT.contactPoint}> _:b0 .\n', T0, T0)
    broken = FeedDataset("city", "c1c", minted("city", "c1c"), "this is not n-triples\n", T0, T0)
    naive = FeedDataset(**{**synthetic("city", "c1d", 9).__dict__, "last_changed": datetime(2024, 1, 1)})
    untyped = FeedDataset("city", "c1e", minted("city", "c1e"),
                          f'<{minted("city", "c1e")}> <{DCTERMS.title}> "no type" .\n', T0, T0)
    stream = [good[0], good[1], blank, broken, naive, untyped, good[1], good[2], good[3]]
    result = write_feed(stream, tmp_path / "feed", catalog=CATALOG, sources=SOURCES, generated_at=GENERATED)
    assert (result.datasets, result.skipped) == (4, 5)
    got = {(e["native_id"], e["field"]) for e in result.errors}
    assert got == {("c1b", "nt"), ("c1c", "nt"), ("c1d", "last_changed"), ("c1e", "uri"), ("c1", "native_id")}
    assert all(e["source_id"] == "city" and e["reason"] for e in result.errors)
    index = json.loads((tmp_path / "feed" / "index.json").read_text("utf-8"))
    assert index["skipped"] == 5 and index["errors"] == list(result.errors)
    # the result travels as plain data (XCom, the run report)
    assert json.loads(json.dumps(asdict(result), default=str))["skipped"] == 5


def test_record_errors_name_source_record_and_field_and_survive_pickling():
    err = FeedRecordError("not N-Triples", source_id="city", native_id="c1", field="nt")
    assert str(err) == "[source=city, record=c1, field=nt] not N-Triples"
    again = pickle.loads(pickle.dumps(err))
    assert (again.source_id, again.native_id, again.field, again.reason) == ("city", "c1", "nt", "not N-Triples")


def test_naive_generated_at_and_unknown_formats_are_refused(tmp_path):
    with pytest.raises(ValueError, match="generated_at"):
        write_feed([], tmp_path / "feed", catalog=CATALOG, sources=SOURCES, generated_at=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="xml"):
        write_feed([], tmp_path / "feed", catalog=CATALOG, sources=SOURCES, formats=("ttl", "xml"),
                   generated_at=GENERATED)
    assert not (tmp_path / "feed").exists()


def test_a_second_writer_is_refused_while_one_holds_the_lock(tmp_path):
    with open(tmp_path / ".feed.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with pytest.raises(FeedError, match="another feed writer"):
            write_feed([], tmp_path / "feed", catalog=CATALOG, sources=SOURCES, generated_at=GENERATED)
    assert not (tmp_path / "feed").exists()


def test_a_source_missing_from_sources_yaml_still_gets_a_sub_catalogue(tmp_path):
    result = write_feed([synthetic("gone", "g1", 1)], tmp_path / "feed", catalog=CATALOG, sources=SOURCES[:1],
                        generated_at=GENERATED)
    g = parse(tmp_path / "feed" / "catalog.ttl")
    sub = URIRef(f"{BASE}/catalog/gone")
    assert result.datasets == 1 and (sub, RDF.type, DCAT.Catalog) in g
    assert (sub, DCAT.dataset, URIRef(minted("gone", "g1"))) in g


# --------------------------------------------------------------------------- real-world quirks


def test_quirk_control_characters_in_description_pasted_from_pdf(tmp_path):
    """Portal descriptions carry form feeds / vertical tabs (copied from PDFs); XML 1.0
    cannot hold them, so they are replaced in every format and the RDF/XML still parses."""
    d = synthetic("city", "pdf", 1, title="Budget 2024\x0cAnnex\x0bB")
    result = write_feed([d], tmp_path / "feed", catalog=CATALOG, sources=SOURCES, generated_at=GENERATED)
    assert (result.datasets, result.warnings) == (1, 1)
    for ext in ("rdf", "ttl", "jsonld"):
        g = parse(tmp_path / "feed" / f"catalog.{ext}")
        assert g.value(URIRef(d.uri), DCTERMS.title) == Literal("Budget 2024\ufffdAnnex\ufffdB", lang="en")


def test_quirk_predicate_iri_ending_in_a_digit_cannot_be_rdf_xml(tmp_path):
    """pyoxigraph writes ill-formed RDF/XML for a predicate like <http://x/prop/7>; such a
    record is skipped when RDF/XML is wanted and kept when it is not."""
    d = synthetic("city", "odd", 1)
    d = FeedDataset(**{**d.__dict__, "nt": d.nt + f'<{d.uri}> <http://vocab.example/prop/7> "v" .\n'})
    with_xml = write_feed([d], tmp_path / "a", catalog=CATALOG, sources=SOURCES, generated_at=GENERATED)
    assert (with_xml.datasets, with_xml.skipped, with_xml.errors[0]["field"]) == (0, 1, "nt")
    assert "RDF/XML" in with_xml.errors[0]["reason"]
    without = write_feed([d], tmp_path / "b", catalog=CATALOG, sources=SOURCES, formats=("ttl", "nt"),
                         generated_at=GENERATED)
    assert without.datasets == 1
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == [".feed-state.jsonl", "catalog", "catalog.nt",
                                                                   "catalog.ttl", "dataset", "index.json"]


def test_quirk_stored_record_already_has_a_harvest_time(tmp_path):
    """A record graph carrying its own dct:modified (a mapping that put harvest time in)
    must not end up with two: the inventory's dates replace it."""
    d = synthetic("city", "stale", 1)
    stale = f'<{d.uri}#record> <{DCTERMS.modified}> "2001-01-01T00:00:00Z"^^<{XSD.dateTime}> .\n'
    d = FeedDataset(**{**d.__dict__, "nt": d.nt + stale})
    write_feed([d], tmp_path / "feed", catalog=CATALOG, sources=SOURCES, generated_at=GENERATED)
    g = parse(tmp_path / "feed" / "catalog.nt")
    assert [o.toPython() for o in g.objects(URIRef(d.uri + "#record"), DCTERMS.modified)] == [d.last_changed]


# --------------------------------------------------------------------------- incremental publish


def _tree(out: Path) -> dict[str, bytes]:
    """Every published file's bytes (the writer's state file is not part of the feed)."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != ".feed-state.jsonl"}


def _inodes(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_ino for p in out.rglob("*") if p.is_file()}


def _bump(d: FeedDataset, days: int = 30) -> FeedDataset:
    """The dataset as the inventory holds it after a real change: new content, new hash,
    last_changed moved on."""
    nt = d.nt + f'<{d.uri}> <{DCTERMS.alternative}> "changed {days}"@en .\n'
    return FeedDataset(**{**d.__dict__, "nt": nt, "content_hash": f"changed-{days}-{d.native_id}",
                          "last_changed": d.last_changed + timedelta(days=days)})


def _hashed(datasets: list[FeedDataset]) -> list[FeedDataset]:
    return [FeedDataset(**{**d.__dict__, "content_hash": f"h-{d.native_id}"}) for d in datasets]


@pytest.mark.parametrize("change", ["none", "changed", "added", "removed"])
def test_incremental_publish_equals_a_full_rewrite_byte_for_byte(tmp_path, change):
    before = _hashed(inputs_250())
    after = list(before)
    if change == "changed":
        after[130] = _bump(after[130])
    elif change == "added":
        after.insert(60, synthetic("city", "city-060a", 999))
    elif change == "removed":
        del after[60]
    out = tmp_path / "feed"
    write_feed(before, out, catalog=CATALOG, sources=SOURCES, generated_at=GENERATED)
    inc = write_feed(after, out, catalog=CATALOG, sources=SOURCES, generated_at=GENERATED + timedelta(days=1))
    full = write_feed(after, tmp_path / "fresh", catalog=CATALOG, sources=SOURCES,
                      generated_at=GENERATED + timedelta(days=1))
    assert (inc.datasets, inc.pages, inc.bytes) == (full.datasets, full.pages, full.bytes)
    got, want = _tree(out), _tree(tmp_path / "fresh")
    assert sorted(got) == sorted(want)
    assert [name for name in want if got[name] != want[name]] == []
    if change != "none":  # the change is really in the feed
        assert got != _tree_of(before, tmp_path / "old")


def _tree_of(datasets: list[FeedDataset], out: Path, generated_at: datetime = GENERATED + timedelta(days=1)
             ) -> dict[str, bytes]:
    """What a full write of ``datasets`` into a fresh directory gives."""
    write_feed(datasets, out, catalog=CATALOG, sources=SOURCES, generated_at=generated_at)
    return _tree(out)


def test_republishing_unchanged_content_links_every_file_and_keeps_modified(tmp_path):
    out = tmp_path / "feed"
    datasets = _hashed(inputs_250())
    write_feed(datasets, out, catalog=CATALOG, sources=SOURCES, generated_at=GENERATED)
    ino = _inodes(out)
    write_feed(datasets, out, catalog=CATALOG, sources=SOURCES, generated_at=GENERATED + timedelta(days=7))
    now = _inodes(out)
    published = [k for k in ino if k not in ("index.json", ".feed-state.jsonl")]
    assert len(published) == 250 + 3 * 4 + 4  # documents, pages, entry points
    assert [k for k in published if now[k] != ino[k]] == []
    g = parse(out / "catalog.ttl")
    assert g.value(URIRef(BASE + "/catalog"), DCTERMS.modified).toPython() == max(d.last_changed for d in datasets)


def test_a_change_that_keeps_the_catalogue_dates_rewrites_only_its_page(tmp_path):
    """A page whose datasets and catalogue block are unchanged is hard-linked; the changed
    dataset's page is spliced from the other datasets' previous bytes and the new one."""
    out = tmp_path / "feed"
    datasets = _hashed(inputs_250())
    write_feed(datasets, out, catalog=CATALOG, sources=SOURCES, generated_at=GENERATED)
    ino = _inodes(out)
    changed = list(datasets)
    d = changed[120]  # page 2; same last_changed, so no dct:modified moves
    changed[120] = FeedDataset(**{**d.__dict__, "nt": d.nt + f'<{d.uri}> <{DCTERMS.alternative}> "v2" .\n',
                                  "content_hash": "v2"})
    write_feed(changed, out, catalog=CATALOG, sources=SOURCES, generated_at=GENERATED)
    now = _inodes(out)
    for ext in ("ttl", "nt", "rdf", "jsonld"):
        assert now[f"catalog/page-1.{ext}"] == ino[f"catalog/page-1.{ext}"] == now[f"catalog.{ext}"]
        assert now[f"catalog/page-3.{ext}"] == ino[f"catalog/page-3.{ext}"]
        assert now[f"catalog/page-2.{ext}"] != ino[f"catalog/page-2.{ext}"]
    g = parse(out / "catalog" / "page-2.rdf")
    assert g.value(URIRef(d.uri), DCTERMS.alternative) == Literal("v2")
    assert _tree(out) == _tree_of(changed, tmp_path / "fresh", GENERATED)


def test_a_change_that_moves_the_catalogue_dates_rewrites_its_page_and_the_entry_point_only(tmp_path):
    """The newest last_changed moves on every run that changes anything; it is on page 1 only, so
    the other pages whose datasets did not change are still hard-linked."""
    out = tmp_path / "feed"
    datasets = _hashed(inputs_250())
    write_feed(datasets, out, catalog=CATALOG, sources=SOURCES, generated_at=GENERATED)
    ino = _inodes(out)
    changed = list(datasets)
    changed[230] = _bump(changed[230], days=400)  # page 3; now the newest dataset of all
    write_feed(changed, out, catalog=CATALOG, sources=SOURCES, generated_at=GENERATED)
    now = _inodes(out)
    for ext in ("ttl", "nt", "rdf", "jsonld"):
        assert now[f"catalog/page-2.{ext}"] == ino[f"catalog/page-2.{ext}"]
        assert now[f"catalog/page-1.{ext}"] != ino[f"catalog/page-1.{ext}"]
        assert now[f"catalog/page-3.{ext}"] != ino[f"catalog/page-3.{ext}"]
    g = parse(out / "catalog.ttl")
    assert g.value(URIRef(BASE + "/catalog"), DCTERMS.modified).toPython() == changed[230].last_changed
    assert _tree(out) == _tree_of(changed, tmp_path / "fresh", GENERATED)


@pytest.mark.parametrize("damage", ["missing", "truncated", "edited", "garbage", "page_edited"])
def test_an_unusable_state_falls_back_to_a_full_write(tmp_path, damage):
    out = tmp_path / "feed"
    datasets = _hashed(inputs_250())
    write_feed(datasets, out, catalog=CATALOG, sources=SOURCES, generated_at=GENERATED)
    state = out / ".feed-state.jsonl"
    text = state.read_text("utf-8")
    if damage == "missing":
        state.unlink()
    elif damage == "truncated":
        state.write_text(text[: len(text) // 2], "utf-8")
    elif damage == "edited":  # a plausible but wrong offset: the checksum catches it
        state.write_text(text.replace('"D","city","city-010"', '"D","city","city-011"', 1), "utf-8")
    elif damage == "garbage":
        state.write_bytes(b"\x00\xff not json\n")
    else:  # someone edited a page by hand: its recorded size no longer matches
        (out / "catalog" / "page-2.nt").write_bytes((out / "catalog" / "page-2.nt").read_bytes() + b"# x\n")
    ino = _inodes(out)
    after = list(datasets)
    after[5] = _bump(after[5])
    write_feed(after, out, catalog=CATALOG, sources=SOURCES, generated_at=GENERATED)
    assert _tree(out) == _tree_of(after, tmp_path / "fresh", GENERATED)
    now = _inodes(out)
    if damage != "page_edited":  # nothing was taken from the state: every page is new
        assert all(now[f"catalog/page-{n}.nt"] != ino[f"catalog/page-{n}.nt"] for n in (1, 2, 3))


def test_worker_processes_write_the_same_bytes_as_one_process(tmp_path, monkeypatch):
    import publish.feed_pass1 as feed_module

    monkeypatch.setattr(feed_module, "_POOL_AFTER", 20)  # start the pool after 20 datasets, not 1,000
    monkeypatch.setattr(feed_module, "_CHUNK", 7)
    datasets = inputs_250()
    pooled = write_feed(datasets, tmp_path / "a", catalog=CATALOG, sources=SOURCES, generated_at=GENERATED,
                        workers=2)
    single = write_feed(datasets, tmp_path / "b", catalog=CATALOG, sources=SOURCES, generated_at=GENERATED,
                        workers=1)
    assert pooled == FeedResult(**{**single.__dict__, "path": tmp_path / "a"})
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")
    spool_writers = {p.name for p in (tmp_path / "a").rglob("*")}  # the scratch spool is gone
    assert not any(n.startswith("frag-") for n in spool_writers)


def test_content_hash_is_only_a_shortcut(tmp_path):
    plain = inputs_250()
    write_feed(plain, tmp_path / "a", catalog=CATALOG, sources=SOURCES, generated_at=GENERATED)
    write_feed(_hashed(plain), tmp_path / "b", catalog=CATALOG, sources=SOURCES, generated_at=GENERATED)
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")
    # without hashes, a changed nt is noticed by hashing it
    changed = list(plain)
    extra = f'<{plain[3].uri}> <{DCTERMS.alternative}> "x" .\n'
    changed[3] = FeedDataset(**{**plain[3].__dict__, "nt": plain[3].nt + extra})
    write_feed(changed, tmp_path / "a", catalog=CATALOG, sources=SOURCES, generated_at=GENERATED)
    assert _tree(tmp_path / "a") == _tree_of(changed, tmp_path / "fresh", GENERATED)


def test_rows_without_uri_or_nt_are_skipped_not_fatal(tmp_path):
    """The inventory's columns are nullable; a row missing them is one bad record."""
    rows = [FeedDataset("city", "n1", None, None, T0, T0),
            FeedDataset("city", "n2", minted("city", "n2"), None, T0, T0),
            synthetic("city", "n3", 3)]
    result = write_feed(rows, tmp_path / "feed", catalog=CATALOG, sources=SOURCES, generated_at=GENERATED)
    assert (result.datasets, result.skipped) == (1, 2)
    assert {(e["native_id"], e["field"]) for e in result.errors} == {("n1", "uri"), ("n2", "nt")}
