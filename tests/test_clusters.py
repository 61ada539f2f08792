"""Cross-source duplicate clusters over a labelled corpus built from real records (tests/data/duplicates).

The corpus goes through the real mappings (CKAN, DCAT-US) and the real loader into SQLite and
PostgreSQL; precision and recall are computed here from the labelled groups, never hard-coded.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from itertools import combinations
from pathlib import Path

import pytest
from sqlalchemy import func, select

from citycat.normalise import normalise_line
from harvesters.base import RawRecord
from helpers import INVENTORY_BACKENDS, both_backends_inventory
from inventory import Inventory
from inventory.clusters import (ClusterSettings, _Rec, cluster_records, list_clusters, name_similarity, norm_uri,
                                recompute)
from inventory.models import dataset_clusters, datasets
from transforms import get_mapping
from transforms.base import Institution, SourceContext

HERE = Path(__file__).resolve().parent / "data" / "duplicates"
BASE = "https://data.example.org/citycat"
T1 = datetime(2026, 11, 1, 3, 0, tzinfo=timezone.utc)
SOURCES = {  # source id -> (kind, portal URL, institution)
    "council": ("ckan", "https://data.council.example.gov.uk", "Council open data portal"),
    "dgu": ("ckan", "https://data.mirror.example.gov.uk", "data.gov.uk"),
    "hub": ("dcat-us", "https://hub.region.example.org/data.json", "Combined authority data hub"),
    "neighbour": ("ckan", "https://data.neighbour.example.gov.uk", "Neighbouring council"),
}
PRIORITY = ClusterSettings(source_priority=("council", "hub", "dgu", "neighbour"))


def _payloads(source: str) -> list[tuple[str, dict]]:
    if source == "hub":
        doc = json.loads((HERE / "derived" / "hub_data.json").read_text(encoding="utf-8"))
        return [(d["identifier"], d) for d in doc["dataset"]]
    pkgs = json.loads((HERE / "derived" / f"{source}_packages.json").read_text(encoding="utf-8"))
    return [(p["id"], p) for p in pkgs]


def normalised(source: str, fetched_at: str = "2026-11-01T03:00:00+00:00") -> list[dict]:
    """The source's records as the normalise stage writes them (real mapping, real hashing)."""
    kind, url, inst = SOURCES[source]
    ctx = SourceContext(source_id=source, source_title=source, source_url=url,
                        institution=Institution(name=inst, kind="council"), base_uri=BASE)
    mapping = get_mapping(kind)
    out = []
    for n, (nid, payload) in enumerate(_payloads(source), 1):
        raw = RawRecord(source_id=source, native_id=nid, fetched_at=fetched_at, media_type="application/json",
                        payload=payload)
        status, line, _, tb = normalise_line(n, raw.to_json(), mapping, ctx)
        assert status == "mapped", (source, nid, line, tb)
        out.append(json.loads(line))
    return out


def load_corpus(inv: Inventory) -> None:
    for source in SOURCES:
        inv.load(source_id=source, run_id=f"{source}-r1", records=normalised(source), mode="full",
                 complete_listing=True, loaded_at=T1)


def labels() -> dict:
    return json.loads((HERE / "derived" / "labels.json").read_text(encoding="utf-8"))


def predicted_pairs(inv: Inventory) -> set[frozenset]:
    pairs = set()
    for c in list_clusters(inv):
        members = [(m["source_id"], m["native_id"]) for m in c["members"]]
        pairs |= {frozenset(p) for p in combinations(members, 2)}
    return pairs


def true_pairs() -> set[frozenset]:
    return {frozenset((tuple(a), tuple(b))) for g in labels()["groups"] for a, b in combinations(g, 2)}


@pytest.fixture(params=INVENTORY_BACKENDS)
def inv(request, tmp_path):
    yield from both_backends_inventory(request, tmp_path / "inventory.sqlite")


# --------------------------------------------------------------------------- the labelled corpus


def test_corpus_files_are_what_the_recipe_derives():
    """The committed derived files are exactly derive.py's output from the real records."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("derive", HERE / "derive.py")
    derive = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(derive)
    for name, obj in derive.build().items():
        assert (HERE / "derived" / name).read_text(encoding="utf-8") == derive.render(obj), name


def test_precision_and_recall_on_the_labelled_corpus(inv):
    load_corpus(inv)
    res = recompute(inv, computed_at=T1, settings=PRIORITY)
    predicted, truth = predicted_pairs(inv), true_pairs()
    assert truth and predicted
    tp = len(predicted & truth)
    precision, recall = tp / len(predicted), tp / len(truth)
    assert precision >= 0.95, sorted(map(sorted, predicted - truth))
    assert recall >= 0.95, sorted(map(sorted, truth - predicted))
    assert res.clusters == len(labels()["groups"]) and res.title_threshold == PRIORITY.title_threshold
    # every rung of the ladder did some of the work on this corpus
    assert set(res.by_evidence) == {"identifier", "origin", "download_url", "title_publisher"}, res.by_evidence


def test_near_miss_pairs_do_not_cluster(inv):
    load_corpus(inv)
    recompute(inv, computed_at=T1, settings=PRIORITY)
    predicted = predicted_pairs(inv)
    near = [frozenset((tuple(a), tuple(b))) for a, b in labels()["near_misses"]]
    assert len(near) == 8
    assert [sorted(p) for p in near if p in predicted] == []


def test_primary_follows_source_priority_and_mirrors_point_to_it(inv):
    load_corpus(inv)
    recompute(inv, computed_at=T1, settings=PRIORITY)
    clusters = list_clusters(inv)
    assert clusters
    for c in clusters:
        primaries = [m for m in c["members"] if m["primary"]]
        assert len(primaries) == 1 and primaries[0]["source_id"] == "council"
        assert primaries[0]["dataset_id"] == c["cluster_id"]
    # with the hub first, the hub's records become the primaries: priority is configuration, not code
    recompute(inv, computed_at=T1, settings=ClusterSettings(source_priority=("hub",)))
    assert {m["source_id"] for c in list_clusters(inv) for m in c["members"] if m["primary"]} == {"hub"}


def test_reclustering_replaces_the_previous_clustering_and_nothing_is_deleted(inv):
    load_corpus(inv)
    recompute(inv, computed_at=T1, settings=PRIORITY)
    with inv.engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(dataset_clusters)).scalar_one()
        n_datasets = conn.execute(select(func.count()).select_from(datasets)).scalar_one()
    recompute(inv, computed_at=T1, settings=PRIORITY)
    with inv.engine.connect() as conn:
        after = conn.execute(select(func.count()).select_from(dataset_clusters)).scalar_one()
        assert conn.execute(select(func.count()).select_from(datasets)).scalar_one() == n_datasets
    assert before == after == 36
    # a withdrawn mirror leaves its cluster on the next clustering
    dgu = normalised("dgu")
    inv.load(source_id="dgu", run_id="dgu-r2", records=dgu[1:], mode="full", complete_listing=True, loaded_at=T1)
    res = recompute(inv, computed_at=T1, settings=PRIORITY)
    assert res.clustered == 35


# --------------------------------------------------------------------------- rules, on records built in place


def _rec(i: int, source: str, title: str, publisher: str, **kw) -> _Rec:
    from inventory.clusters import norm_text

    return _Rec(i, source, f"n{i}", norm_text(title), norm_text(publisher), own=False, mirror=False, **kw)


def _pairs(recs, settings=ClusterSettings()) -> set[tuple[int, int]]:
    res = cluster_records(recs, settings, T1)
    by_cluster: dict[int, list[int]] = {}
    for row in res.rows:
        by_cluster.setdefault(row["cluster_id"], []).append(row["dataset_id"])
    return {tuple(sorted(p)) for m in by_cluster.values() for p in combinations(m, 2)}


def test_budget_2022_and_budget_2023_are_two_datasets():
    recs = [_rec(1, "a", "Council Budget 2022", "Leeds City Council"),
            _rec(2, "b", "Council Budget 2023", "Leeds City Council"),
            _rec(3, "c", "Council budget 2022", "Leeds City Council")]
    assert _pairs(recs) == {(1, 3)}


def test_same_title_from_another_publisher_is_another_dataset():
    recs = [_rec(1, "a", "Bus stops", "Leeds City Council"), _rec(2, "b", "Bus stops", "Bradford Council"),
            _rec(3, "c", "Smoke control areas", "Ashfield District Council"),
            _rec(4, "d", "Smoke control areas", "Mansfield District Council")]
    assert _pairs(recs) == set()


def test_weak_chain_does_not_join_two_records_of_one_source():
    """A1 ~ B ~ A2 by title: B joins one of them, never both (a cluster holds one record per source)."""
    recs = [_rec(1, "a", "Road traffic counts", "Leeds City Council"),
            _rec(2, "b", "Road traffic counts", "Leeds City Council"),
            _rec(3, "a", "Road traffic count", "Leeds City Council")]
    pairs = _pairs(recs)
    assert len(pairs) == 1 and (1, 3) not in pairs


def test_weak_edge_must_match_every_member_of_the_cluster():
    """C's title is close to B's but not to A's: C stays out of the A-B cluster (complete linkage)."""
    recs = [_rec(1, "a", "Air quality monitoring stations", "Leeds City Council", ids={"x"}),
            _rec(2, "b", "Air quality monitoring station list", "Leeds City Council", ids={"x"}),
            _rec(3, "c", "Air quality monitoring station lists", "Leeds City Council")]
    assert name_similarity(recs[1].title, recs[2].title, whole=True) >= 0.92
    assert name_similarity(recs[0].title, recs[2].title, whole=True) < 0.92
    assert _pairs(recs) == {(1, 2)}


def test_shared_download_url_inside_one_source_is_not_evidence():
    """One portal's WMS shared by many layers: the URL identifies none of them."""
    wms = {"maps.example.org/wms?request=getcapabilities"}
    recs = [_rec(1, "a", "Trees", "A Council", downloads=set(wms)), _rec(2, "a", "Lamps", "A Council", downloads=set(wms)),
            _rec(3, "b", "Benches", "A Council", downloads=set(wms))]
    assert _pairs(recs) == set()


def test_identifier_normalisation():
    assert norm_uri(" HTTPS://Data.Example.org/Dataset/1/ ") == norm_uri("http://data.example.org/dataset/1")
    assert norm_uri("https://doi.org/10.5281/ZENODO.1") == norm_uri("doi:10.5281/zenodo.1") == "doi:10.5281/zenodo.1"


def test_clustering_is_deterministic(inv):
    load_corpus(inv)
    first = recompute(inv, computed_at=T1, settings=PRIORITY)
    second = recompute(inv, computed_at=T1, settings=PRIORITY, force=True)
    # the first run read every graph; the forced second one only the cached features, and agrees
    assert first.features_read == first.datasets > 0 and second.features_read == 0
    assert first.rows == second.rows


def test_unchanged_inventory_keeps_its_clusters_without_recomputing(inv):
    load_corpus(inv)
    first = recompute(inv, computed_at=T1, settings=PRIORITY)
    again = recompute(inv, computed_at=T1, settings=PRIORITY)
    assert again.unchanged and not first.unchanged
    assert (again.clusters, again.clustered, again.datasets) == (first.clusters, first.clustered, first.datasets)
    assert predicted_pairs(inv) and again.rows == []
    # other settings are another question: recomputed
    other = recompute(inv, computed_at=T1, settings=ClusterSettings(source_priority=("hub",)))
    assert not other.unchanged


def test_a_changed_dataset_is_the_only_graph_read_again(inv):
    from sqlalchemy import update

    load_corpus(inv)
    before = recompute(inv, computed_at=T1, settings=PRIORITY)
    with inv.engine.begin() as conn:  # one dataset's content moves (its title is rewritten)
        did, row = conn.execute(select(datasets.c.id, datasets.c.row).where(datasets.c.source_id == "hub")
                                .order_by(datasets.c.id)).first()
        conn.execute(update(datasets).where(datasets.c.id == did).values(
            content_hash="0" * 64, row={**row, "title": "Something else entirely 1999"}))
    after = recompute(inv, computed_at=T1, settings=PRIORITY)
    assert not after.unchanged and after.features_read == 1
    # and the cached answer is the from-scratch answer
    with inv.engine.begin() as conn:
        from inventory.models import cluster_features

        conn.execute(cluster_features.delete())
    scratch = recompute(inv, computed_at=T1, settings=PRIORITY, force=True)
    assert scratch.features_read == scratch.datasets and scratch.rows == after.rows
    with inv.engine.connect() as conn:  # the cache holds what the new content says
        feats = conn.execute(select(cluster_features.c.features).where(cluster_features.c.dataset_id == did)).scalar()
    assert feats["title"] == "something else entirely 1999" and before.features_read == before.datasets


def test_one_source_has_no_cross_source_duplicates_and_clears_old_clusters(inv):
    from sqlalchemy import update

    load_corpus(inv)
    assert recompute(inv, computed_at=T1, settings=PRIORITY).clusters > 0
    with inv.engine.begin() as conn:
        conn.execute(update(datasets).where(datasets.c.source_id != "council").values(status="withdrawn"))
    res = recompute(inv, computed_at=T1, settings=PRIORITY)
    assert res.clusters == 0 and res.features_read == 0 and res.datasets > 0
    assert predicted_pairs(inv) == set()


# --------------------------------------------------------------------------- the feed


def test_feed_mirrors_point_to_their_primary_and_membership_changes_republish(tmp_path):
    from rdflib import Graph, URIRef

    from inventory.clusters import feed_links
    from publish.feed import FeedDataset
    from publish.feed_links import HAS_VERSION, IS_VERSION_OF, join_cluster_links

    inv = Inventory(f"sqlite:///{tmp_path}/inventory.sqlite")
    inv.migrate()
    load_corpus(inv)
    recompute(inv, computed_at=T1, settings=PRIORITY)

    def feed() -> dict[tuple[str, str], FeedDataset]:
        ds = (FeedDataset(source_id=d.source_id, native_id=d.native_id, uri=d.uri, nt=d.nt, first_seen=d.first_seen,
                          last_changed=d.last_changed, content_hash=d.content_hash)
              for d in inv.iter_datasets(with_row=False))
        return {(d.source_id, d.native_id): d for d in join_cluster_links(ds, feed_links(inv))}

    before = feed()
    council_id, dgu_id, hub_id = labels()["groups"][0]
    mirror, primary = before[tuple(dgu_id)], before[tuple(council_id)]
    g = Graph().parse(data=mirror.nt, format="nt")
    assert set(g.objects(URIRef(mirror.uri), URIRef(IS_VERSION_OF))) == {URIRef(primary.uri)}
    g = Graph().parse(data=primary.nt, format="nt")
    assert set(g.objects(URIRef(primary.uri), URIRef(HAS_VERSION))) == {URIRef(before[tuple(hub_id)].uri),
                                                                    URIRef(mirror.uri)}
    lonely = next(d for k, d in before.items() if k[0] == "neighbour")
    assert "isVersionOf" not in lonely.nt and "hasVersion" not in lonely.nt
    # the hub becomes primary: every member's change key moves, so an incremental publish rewrites them
    recompute(inv, computed_at=T1, settings=ClusterSettings(source_priority=("hub",)))
    after = feed()
    assert after[tuple(dgu_id)].content_hash != mirror.content_hash
    assert after[tuple(council_id)].content_hash != primary.content_hash
    assert after[lonely.source_id, lonely.native_id].content_hash == lonely.content_hash


def test_graph_keys_read_identifiers_and_origin_pointers_of_the_dataset_only():
    """dct:source / adms:identifier (a DOI) / owl:sameAs are pointers; our own #source-record is not."""
    from inventory.clusters import graph_keys

    ds, rec = "https://a.example.org/ds/1", "https://inv.example.org/dataset/s/1#record"
    nt = "\n".join([
        f'<{ds}#id> <http://www.w3.org/2004/02/skos/core#notation> "10.5281/zenodo.123" .',
        f'<{ds}> <http://purl.org/dc/terms/identifier> "A \\"quoted\\" id" .',
        f"<{ds}> <http://purl.org/dc/terms/source> <https://origin.example.org/ds/9> .",
        f"<{ds}> <http://www.w3.org/2002/07/owl#sameAs> <https://other.example.org/ds/9> .",
        f"<{ds}> <http://www.w3.org/ns/adms#identifier> <{ds}#id> .",
        f'<{rec}> <http://purl.org/dc/terms/identifier> "record-id" .',
        f"<{rec}> <http://purl.org/dc/terms/source> <https://inv.example.org/dataset/s/1#source-record> .",
    ]) + "\n"
    idents, pointers = graph_keys(ds, nt)
    assert idents == ['A "quoted" id']
    assert sorted(pointers) == ["10.5281/zenodo.123", "https://origin.example.org/ds/9",
                                "https://other.example.org/ds/9"]


def test_after_load_hook_reports_instead_of_raising(tmp_path):
    """The post-load hook never turns a committed load into a failed run; disabled means skipped."""
    from citycat.config import DuplicatesConfig
    from inventory.clusters import after_load

    inv = Inventory(f"sqlite:///{tmp_path}/inventory.sqlite")
    inv.migrate()
    load_corpus(inv)
    out = after_load(inv, DuplicatesConfig(source_priority=["council"]), computed_at=T1)
    assert out["clusters"] == 12 and out["title_threshold"] == 0.92
    assert "skipped" in after_load(inv, DuplicatesConfig(enabled=False), computed_at=T1)
    broken = Inventory(f"sqlite:///{tmp_path}/missing/dir/inventory.sqlite")  # cannot even be opened
    assert "error" in after_load(broken, None, computed_at=T1)
    assert list_clusters(inv)  # the previous clustering is untouched


def test_duplicates_cli_lists_clusters_with_evidence(tmp_path, monkeypatch, capsys):
    from citycat.cli import main

    inv = Inventory(f"sqlite:///{tmp_path}/inventory.sqlite")
    inv.migrate()
    load_corpus(inv)
    recompute(inv, computed_at=T1, settings=PRIORITY)
    monkeypatch.setenv("CITYCAT_DATABASE_URL", inv.url.render_as_string(hide_password=False))
    assert main(["duplicates", "--source", "hub"]) == 0
    out = capsys.readouterr().out
    assert out.count("cluster ") == 12 and "12 clusters" in out
    assert "mirror  title_publisher" in out and "mirror  origin" in out
    assert main(["duplicates", "--source", "neighbour"]) == 0
    assert "no duplicate clusters with a dataset of neighbour" in capsys.readouterr().out


def test_version_links_add_no_shacl_violation_to_the_merged_graph(tmp_path):
    """Primary + mirror in one graph, as a feed consumer merges them: the links add no violation
    (owl:sameAs would fuse the two nodes; see docs/duplicates.md)."""
    from rdflib import Graph

    from expectations.shacl import validate_graph
    from inventory.clusters import feed_links
    from publish.feed import FeedDataset
    from publish.feed_links import IS_VERSION_OF, join_cluster_links

    assert IS_VERSION_OF == "http://www.w3.org/ns/dcat#isVersionOf"
    inv = Inventory(f"sqlite:///{tmp_path}/inventory.sqlite")
    inv.migrate()
    load_corpus(inv)
    recompute(inv, computed_at=T1, settings=PRIORITY)
    council_id, dgu_id, _ = labels()["groups"][0]
    plain = [FeedDataset(source_id=d.source_id, native_id=d.native_id, uri=d.uri, nt=d.nt, first_seen=d.first_seen,
                         last_changed=d.last_changed, content_hash=d.content_hash)
             for d in inv.iter_datasets(with_row=False)
             if [d.source_id, d.native_id] in (council_id, dgu_id)]
    linked = list(join_cluster_links(plain, feed_links(inv)))
    assert [d.nt for d in linked] != [d.nt for d in plain]

    def merged(items) -> Graph:
        g = Graph()
        for d in items:
            g.parse(data=d.nt, format="nt")
        return g

    before, after = validate_graph(merged(plain)), validate_graph(merged(linked))
    assert after.violations == before.violations, after.messages
