"""Quality in the feed as DQV: measurements per dataset, metric definitions, DCAT-AP conformance of the
pages, and the incremental writer republishing a dataset whose score changed (and only then)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pyshacl
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import PROV, RDF, XSD

from citycat import pipeline
from citycat.config import SourcesFile
from expectations.mqa import score_dataset
from expectations.stars import five_star
from helpers import feed_pages, sqlite_inventory
from inventory.quality import save_dataset_quality
from publish import write_feed
from publish.feed_dqv import join_quality, metric_uri, quality_ntriples, with_quality
from test_feed import BASE, CATALOG, DATA, GENERATED, SOURCES, parse, synthetic
from test_mqa import cftc_nt, rostock_nt

DQV = Namespace("http://www.w3.org/ns/dqv#")
PV = Namespace("https://piveau.eu/ns/voc#")
AT = datetime(2026, 11, 28, 3, 0, tzinfo=timezone.utc)
DIMS = ("findability", "accessibility", "interoperability", "reusability", "contextuality")


def _quality(ds, total: int, *, at=AT, stars=3, conforms=True) -> dict:
    return {"source_id": ds.source_id, "native_id": ds.native_id, "measured_at": at, "mqa_total": total,
            **{f"mqa_{d}": total // 5 for d in DIMS}, "stars": stars, "shacl_conforms": conforms}


def _measured(g: Graph, dataset: str) -> dict[str, object]:
    out = {}
    for m in g.objects(URIRef(dataset), DQV.hasQualityMeasurement):
        assert (m, RDF.type, DQV.QualityMeasurement) in g
        assert g.value(m, DQV.computedOn) == URIRef(dataset)
        assert g.value(m, PROV.generatedAtTime) == Literal(AT.isoformat().replace("+00:00", "Z"),
                                                           datatype=XSD.dateTime)
        out[str(g.value(m, DQV.isMeasurementOf))] = g.value(m, DQV.value).toPython()
    return out


def test_measurements_of_one_dataset():
    ds = synthetic("city", "c1", 1)
    g = Graph().parse(data=quality_ntriples(ds, _quality(ds, 275), base_uri=BASE), format="nt")
    assert _measured(g, ds.uri) == {str(PV.score): 275, **{metric_uri(BASE, f"mqa-{d}"): 55 for d in DIMS},
                                    metric_uri(BASE, "five-star"): 3, str(PV.dcatApCompliance): True}
    value = g.value(URIRef(f"{ds.uri}#quality-mqa-score"), DQV.value)
    assert value.datatype == XSD.integer  # minted under the inventory's own dataset address


def test_unmeasured_fields_are_left_out_and_no_quality_leaves_the_dataset_alone():
    ds = synthetic("city", "c1", 1)
    g = Graph().parse(data=quality_ntriples(ds, _quality(ds, 100, stars=None, conforms=None), base_uri=BASE),
                      format="nt")
    assert str(PV.dcatApCompliance) not in _measured(g, ds.uri)
    assert metric_uri(BASE, "five-star") not in _measured(g, ds.uri)
    assert with_quality(ds, None, base_uri=BASE) is ds


def test_pages_carry_measurements_and_metric_definitions_and_still_conform(tmp_path):
    datasets = [synthetic("city", f"c{i}", i) for i in range(3)] + [synthetic("uni", "u1", 9)]
    quality = [_quality(d, 100 + 10 * i) for i, d in enumerate(datasets[:3])]  # u1 not measured
    write_feed(join_quality(datasets, quality, base_uri=BASE), tmp_path / "feed", catalog=CATALOG,
               sources=SOURCES, generated_at=GENERATED)
    shapes = Graph().parse(DATA / "dcat-ap-3.0.1-shapes.ttl", format="turtle")
    for ext in ("ttl", "jsonld", "rdf", "nt"):
        g = parse(tmp_path / "feed" / f"catalog.{ext}")
        assert _measured(g, datasets[2].uri)[str(PV.score)] == 120
        assert _measured(g, datasets[3].uri) == {}
        m = URIRef(metric_uri(BASE, "mqa-findability"))
        assert (m, RDF.type, DQV.Metric) in g and g.value(m, DQV.inDimension) == PV.findability
        assert g.value(URIRef(metric_uri(BASE, "five-star")), DQV.inDimension) == PV.interoperability
        if ext in ("ttl", "jsonld"):
            conforms, _, text = pyshacl.validate(g, shacl_graph=shapes, allow_warnings=True)
            assert conforms, text
    doc = Graph().parse(tmp_path / "feed" / "dataset" / "city" / "c0.ttl", format="turtle")
    assert _measured(doc, datasets[0].uri)[str(PV.score)] == 100  # the dataset's own document too
    assert "@prefix dqv: " in (tmp_path / "feed" / "catalog.ttl").read_text("utf-8")


def test_no_quality_anywhere_adds_no_metric_definitions(tmp_path):
    write_feed([synthetic("city", "c0", 0)], tmp_path / "feed", catalog=CATALOG, sources=SOURCES,
               generated_at=GENERATED)
    g = parse(tmp_path / "feed" / "catalog.ttl")
    assert not list(g.subjects(RDF.type, DQV.Metric))


def test_changed_score_republishes_the_dataset_unchanged_score_links_it(tmp_path):
    datasets = [synthetic("city", f"c{i}", i) for i in range(4)]
    out = tmp_path / "feed"

    def publish(totals: list[int]) -> None:
        q = [_quality(d, t) for d, t in zip(datasets, totals)]
        write_feed(join_quality(datasets, q, base_uri=BASE), out, catalog=CATALOG, sources=SOURCES,
                   page_size=2, generated_at=GENERATED, workers=1)

    publish([100, 110, 120, 130])
    docs = {d.native_id: out / "dataset" / "city" / f"{d.native_id}.ttl" for d in datasets}
    before = {k: os.stat(p).st_ino for k, p in docs.items()}
    publish([100, 110, 125, 130])  # only c2's score changed; its metadata did not
    after = {k: os.stat(p).st_ino for k, p in docs.items()}
    assert [k for k in docs if before[k] != after[k]] == ["c2"]
    g = parse(out / "catalog" / "page-2.ttl")
    assert _measured(g, datasets[2].uri)[str(PV.score)] == 125
    # and the incremental result equals a full rewrite byte for byte
    full = tmp_path / "full"
    q = [_quality(d, t) for d, t in zip(datasets, [100, 110, 125, 130])]
    write_feed(join_quality(datasets, q, base_uri=BASE), full, catalog=CATALOG, sources=SOURCES, page_size=2,
               generated_at=GENERATED, workers=1, incremental=False)
    for n in (1, 2):
        for ext in ("ttl", "nt", "rdf", "jsonld"):
            assert (out / "catalog" / f"page-{n}.{ext}").read_bytes() == \
                (full / "catalog" / f"page-{n}.{ext}").read_bytes()


def test_publish_stage_adds_the_latest_stored_quality(tmp_path):
    """pipeline.publish: inventory datasets (real records) + dataset_quality rows -> DQV in the feed."""
    import hashlib

    inv = sqlite_inventory(tmp_path / "inventory.sqlite")
    records = []
    for native, nt in (("hro-1", rostock_nt()), ("cftc-1", cftc_nt())):
        uri = next(line.split(" ")[0][1:-1] for line in nt.splitlines()
                   if line.endswith("<http://www.w3.org/ns/dcat#Dataset> ."))
        records.append({"native_id": native, "uri": uri, "deleted": False, "nt": nt, "row": {"title": native},
                        "hash": hashlib.sha256(nt.encode()).hexdigest(), "source_modified": None})
    t0 = AT - timedelta(days=2)
    inv.start_run(source_id="mix", run_id="mix:r1", mode="full", window_start=None, window_end=None, started_at=t0)
    inv.load(source_id="mix", run_id="mix:r1", records=records, mode="full", complete_listing=True, loaded_at=t0)
    old = score_dataset(rostock_nt())
    new = score_dataset(rostock_nt(), shacl_conforms=True)
    save_dataset_quality(inv, [
        {"run_id": "mix:r0", "source_id": "mix", "native_id": "hro-1", "measured_at": t0, **old.columns()},
        {"run_id": "mix:r1", "source_id": "mix", "native_id": "hro-1", "measured_at": AT, "stars": 3,
         "shacl_conforms": True, **new.columns()}])
    sources = SourcesFile.model_validate({"catalog": {"base_uri": BASE}, "sources": [], "path": tmp_path})
    pipeline.publish(sources, inventory=inv, data_dir=tmp_path, generated_at=AT)
    g = Graph()
    for page in feed_pages(tmp_path):
        g += Graph().parse(page, format="turtle")
    hro = records[0]["uri"]
    assert _measured(g, hro) == {str(PV.score): 305, **{metric_uri(BASE, f"mqa-{d}"): new.dimensions[d]
                                                         for d in DIMS},
                                 metric_uri(BASE, "five-star"): five_star(rostock_nt()),
                                 str(PV.dcatApCompliance): True}
    assert _measured(g, records[1]["uri"]) == {}  # CFTC was never measured
    inv.close()


def test_join_skips_measurements_of_datasets_not_published():
    ds = [synthetic("city", n, i) for i, n in enumerate(["a", "b", "é"])] + [synthetic("uni", "a", 5)]
    q = [_quality(ds[0], 100), {**_quality(ds[1], 0), "native_id": "a2"},  # a2: withdrawn, not in the feed
         _quality(ds[2], 300), {**_quality(ds[3], 0), "source_id": "town"}, ]
    out = list(join_quality(ds, sorted(q, key=lambda r: (r["source_id"], r["native_id"])), base_uri=BASE))
    scores = [_measured(Graph().parse(data=d.nt, format="nt"), d.uri).get(str(PV.score)) for d in out]
    assert scores == [100, None, 300, None]
    assert out[1] is ds[1] and out[3] is ds[3]


def test_republish_after_same_score_remeasured_keeps_files_and_time(tmp_path):
    import hashlib

    inv = sqlite_inventory(tmp_path / "inventory.sqlite")
    nt = rostock_nt()
    uri = next(line.split(" ")[0][1:-1] for line in nt.splitlines()
               if line.endswith("<http://www.w3.org/ns/dcat#Dataset> ."))
    rec = {"native_id": "hro-1", "uri": uri, "deleted": False, "nt": nt, "row": {"title": "x"},
           "hash": hashlib.sha256(nt.encode()).hexdigest(), "source_modified": None}
    t0 = AT - timedelta(days=2)
    inv.start_run(source_id="hro", run_id="hro__r1", mode="full", window_start=None, window_end=None, started_at=t0)
    inv.load(source_id="hro", run_id="hro__r1", records=[rec], mode="full", complete_listing=True, loaded_at=t0)
    sources = SourcesFile.model_validate({"catalog": {"base_uri": BASE}, "sources": [], "path": tmp_path})
    s = score_dataset(nt)

    def measure(run: str, at: datetime, score) -> None:
        save_dataset_quality(inv, [{"run_id": run, "source_id": "hro", "native_id": "hro-1", "measured_at": at,
                                    **score.columns()}])
        pipeline.publish(sources, inventory=inv, data_dir=tmp_path, generated_at=at)

    measure("hro__r1", AT, s)
    doc = next((tmp_path / "feed").glob("dataset/hro/*.ttl"))
    first = os.stat(doc).st_ino
    measure("hro__r2", AT + timedelta(days=1), s)  # same results the next night
    assert os.stat(doc).st_ino == first  # linked, not rewritten
    g = Graph().parse(doc, format="turtle")
    assert _measured(g, uri)[str(PV.score)] == 275  # (_measured checks generatedAtTime == AT, the first time)
    measure("hro__r3", AT + timedelta(days=2), score_dataset(nt, shacl_conforms=True))
    assert os.stat(doc).st_ino != first
    g = Graph().parse(doc, format="turtle")
    times = set(g.objects(None, PROV.generatedAtTime))
    assert times == {Literal((AT + timedelta(days=2)).isoformat().replace("+00:00", "Z"), datatype=XSD.dateTime)}
    inv.close()
