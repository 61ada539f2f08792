"""The publish stage from the inventory (publish.feed_publish, inventory.feed_source): the lazy path
(graphs read only for datasets that changed) writes exactly the feed of the eager path, first and
incremental publishes alike, and the quality it publishes is inventory.quality's latest measurement."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from rdflib import Graph, URIRef
from rdflib.namespace import DCTERMS

from citycat.config import SourcesFile
from helpers import INVENTORY_BACKENDS, both_backends_inventory
from inventory.feed_source import FeedSource
from inventory.quality import latest_dataset_quality, save_dataset_quality
from publish import write_feed
from publish.feed import wait_for_cleanup
from publish.feed_dqv import join_quality, with_quality
from publish.feed_lazy import resolve
from publish.feed_links import join_cluster_links, with_cluster_links
from publish.feed_model import FeedDataset
from publish.feed_publish import feed_catalog, publish_inventory
from test_feed import BASE, synthetic
from test_feed_dqv import AT, DIMS, DQV, PV, _measured

T0 = datetime(2026, 11, 1, 3, 0, tzinfo=timezone.utc)


@pytest.fixture(params=INVENTORY_BACKENDS)
def inv(request, tmp_path):
    yield from both_backends_inventory(request, tmp_path / "inventory.sqlite")


def _record(source: str, nid: str, i: int, *, title: str | None = None) -> dict:
    d = synthetic(source, nid, i, title=title)
    return {"native_id": nid, "uri": d.uri, "deleted": False, "nt": d.nt, "row": {"title": nid},
            "hash": hashlib.sha256(d.nt.encode()).hexdigest(), "source_modified": None}


def _load(inv, source: str, run: str, at: datetime, recs: list[dict], mode: str = "full") -> None:
    inv.start_run(source_id=source, run_id=run, mode=mode, window_start=None, window_end=None, started_at=at)
    inv.load(source_id=source, run_id=run, records=recs, mode=mode, complete_listing=mode == "full", loaded_at=at)


def _q(source: str, nid: str, run: str, at: datetime, total: int | None, *, stars: int | None = 3) -> dict:
    return {"run_id": run, "source_id": source, "native_id": nid, "measured_at": at, "mqa_total": total,
            **{f"mqa_{d}": None if total is None else total // 5 for d in DIMS}, "stars": stars,
            "shacl_conforms": None if total is None else total > 150}


def _sources(tmp_path: Path) -> SourcesFile:
    return SourcesFile.model_validate({"catalog": {"base_uri": BASE, "page_size": 7}, "sources": [],
                                       "path": tmp_path})


def _eager(inv, sources: SourcesFile, out: Path, at: datetime) -> None:
    """The previous pipeline.publish: every graph read and extended before the writer sees it."""
    from inventory.clusters import feed_links

    catalog, infos = feed_catalog(sources)
    ds = (FeedDataset(d.source_id, d.native_id, d.uri, d.nt, d.first_seen, d.last_changed, d.content_hash)
          for d in inv.iter_datasets(status="active", with_row=False))
    ds = join_quality(ds, latest_dataset_quality(inv, with_indicators=False, first_measured=True), base_uri=BASE)
    write_feed(join_cluster_links(ds, feed_links(inv)), out, catalog=catalog, sources=infos, page_size=7,
               generated_at=at, incremental=False)


def _tree(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != ".feed-state.jsonl"}


def _ino(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_ino for p in out.rglob("*.ttl")}


def test_lazy_publish_equals_the_eager_feed_first_and_after_changes(inv, tmp_path):
    a = [_record("city", f"c{i:02d}", i) for i in range(30)]
    b = [_record("uni", f"u{i:02d}", 100 + i) for i in range(12)]
    _load(inv, "city", "city__r1", T0, a)
    _load(inv, "uni", "uni__r1", T0, b)
    save_dataset_quality(inv, [_q("city", r["native_id"], "city__r1", T0, 100 + i) for i, r in enumerate(a[:25])])
    save_dataset_quality(inv, [_q("uni", r["native_id"], "uni__r1", T0, 50, stars=None) for r in b])
    sources, data = _sources(tmp_path), tmp_path / "data"
    first = publish_inventory(sources, inventory=inv, data_dir=data, generated_at=T0)
    assert (first["datasets"], first["pages"], first["skipped"]) == (42, 6, 0)
    _eager(inv, sources, tmp_path / "eager1", T0)
    assert _tree(data / "feed") == _tree(tmp_path / "eager1")
    before = _ino(data / "feed")

    # next night: c03 changes, c07 is re-measured with another score, c11 with the same one, c29 goes
    t1 = T0 + timedelta(days=1)
    changed = _record("city", "c03", 3, title="Renamed")
    _load(inv, "city", "city__r2", t1, [r for r in a if r["native_id"] != "c29"][:3] + [changed]
          + [r for r in a if r["native_id"] not in ("c00", "c01", "c02", "c03", "c29")])
    save_dataset_quality(inv, [_q("city", "c07", "city__r2", t1, 190), _q("city", "c11", "city__r2", t1, 111)])
    second = publish_inventory(sources, inventory=inv, data_dir=data, generated_at=t1)
    wait_for_cleanup()
    assert second["datasets"] == 41
    _eager(inv, sources, tmp_path / "eager2", t1)
    assert _tree(data / "feed") == _tree(tmp_path / "eager2")
    after = _ino(data / "feed")
    redone = sorted(k for k in after if k.startswith("dataset/") and after[k] != before.get(k))
    assert redone == ["dataset/city/c03.ttl", "dataset/city/c07.ttl"]  # c11: same results, kept
    g = Graph().parse(data / "feed" / "dataset" / "city" / "c03.ttl", format="turtle")
    assert str(g.value(URIRef(changed["uri"]), DCTERMS.title)) == "Renamed"
    g = Graph().parse(data / "feed" / "dataset" / "city" / "c07.ttl", format="turtle")
    assert _measured_total(g, a[7]["uri"]) == 190


def _measured_total(g: Graph, uri: str) -> int:
    for m in g.objects(URIRef(uri), DQV.hasQualityMeasurement):
        if g.value(m, DQV.isMeasurementOf) == PV.score:
            return g.value(m, DQV.value).toPython()
    raise AssertionError("no score")


def test_latest_quality_matches_the_inventorys_window_query(inv):
    t = [T0 + timedelta(days=k) for k in range(4)]
    rows = [
        _q("s", "a", "r0", t[0], 100), _q("s", "a", "r1", t[1], 120), _q("s", "a", "r2", t[2], 100),  # A B A
        _q("s", "b", "r0", t[0], 90), _q("s", "b", "r1", t[1], 90), _q("s", "b", "r2", t[2], 90),  # same x3
        _q("s", "c", "r1", t[1], None, stars=None),  # nothing measured
        _q("s", "é", "r3", t[3], 10), _q("s", "é", "r0", t[0], 10),  # inserted out of time order
        _q("t", "a", "r0", t[2], 5), _q("t", "a", "r1", t[2], 6),  # same time: the newer row wins
    ]
    save_dataset_quality(inv, rows)
    want = [{k: r[k] for k in ("source_id", "native_id", "measured_at", "first_measured_at", "mqa_total",
                               *[f"mqa_{d}" for d in DIMS], "stars", "shacl_conforms")}
            for r in latest_dataset_quality(inv, with_indicators=False, first_measured=True)]
    with FeedSource(inv) as src:
        got = [{k: r[k] for k in want[0]} for r in src.latest_quality()]
    assert got == want
    assert [(r["native_id"], r["first_measured_at"]) for r in got][:2] == [("a", t[2]), ("b", t[0])]


def test_fetch_and_lean_rows_come_from_one_snapshot(inv, tmp_path):
    _load(inv, "city", "city__r1", T0, [_record("city", f"c{i}", i) for i in range(3)])
    with FeedSource(inv) as src:
        lean = list(src.datasets(lean=True))
        assert [d.nt for d in lean] == [None] * 3 and all(d.lazy for d in lean)
        # a load committing meanwhile is not seen by this publish
        _load(inv, "city", "city__r2", T0 + timedelta(days=1),
              [_record("city", f"c{i}", i, title="new") for i in range(3)], mode="incremental")
        blobs = src.fetch([d.ref for d in lean])
        full = list(src.datasets(lean=False))
    for d, f in zip(lean, full):
        got = resolve(FeedDataset(**{**d.__dict__, "nt_zlib": blobs[d.ref]}), BASE)
        assert got.nt == synthetic("city", d.native_id, int(d.native_id[1:])).nt == resolve(f, BASE).nt
        assert f.content_hash == d.content_hash


def test_resolve_gives_the_eager_bytes_with_quality_and_links():
    import zlib

    d = synthetic("city", "c1", 1)
    q = _q("city", "c1", "r", AT, 200) | {"first_measured_at": AT}
    eager = with_cluster_links(with_quality(d, q, base_uri=BASE), "http://x.example/primary", ["http://m.example/1"])
    lazy = FeedDataset(d.source_id, d.native_id, d.uri, None, d.first_seen, d.last_changed, content_hash=d.content_hash
                       or hashlib.sha256(d.nt.encode()).hexdigest(), nt_zlib=zlib.compress(d.nt.encode()), ref=1)
    lazy = with_cluster_links(with_quality(lazy, q, base_uri=BASE), "http://x.example/primary", ["http://m.example/1"])
    assert lazy.nt is None and lazy.content_hash == eager.content_hash
    assert resolve(lazy, BASE).nt == eager.nt
    assert _measured(Graph().parse(data=eager.nt, format="nt"), d.uri)
