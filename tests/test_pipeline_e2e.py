"""The whole spine through the CLI's stage functions, against real local CKAN APIs on 127.0.0.1."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import rdflib
from rdflib.namespace import DCAT, RDF

from citycat import cli, pipeline
from citycat.config import load_sources
from citycat.localportal import DirectoryStore, LocalPortal
from citycat.runner import run_source
from helpers import RECORDED, feed_pages, sqlite_inventory, twin_packages, validated_pages, write_sources
from inventory import Inventory

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)


def _inventory(tmp_path: Path) -> Inventory:
    return sqlite_inventory(tmp_path / "data" / "inventory.sqlite")


def test_cli_run_recorded_portal_builds_inventory_and_feed(env, recorded, capsys):
    src = write_sources(env / "sources.yaml", {"id": "rec", "url": recorded.url, "options": {"rows": 2}})
    assert cli.main(["run", "--sources", str(src), "--mode", "full"]) == 0
    out = capsys.readouterr().out
    assert "rec" in out and "success" in out and "catalog.ttl" in out
    inv = _inventory(env)
    # 3 real datasets; the catalog.data.gov harvest-source packages are skipped, not loaded
    assert inv.count_datasets(status="active") == 3
    run = inv.last_successful_run("rec")
    assert run is not None and run.counts["created"] == 3
    feed = env / "data" / "feed"
    g = rdflib.Graph().parse(feed / "catalog.ttl", format="turtle")
    assert (None, RDF.type, DCAT.Catalog) in g
    raw = next((env / "data" / "raw" / "rec").glob("*.jsonl.gz"))
    with gzip.open(raw, "rt") as fh:
        native = {json.loads(line)["native_id"] for line in fh}
    assert len(native) == 3


def test_second_identical_run_changes_nothing(env, recorded):
    src = write_sources(env / "sources.yaml", {"id": "rec", "url": recorded.url})
    sources = load_sources(src)
    inv = _inventory(env)
    data_dir = env / "data"
    first = run_source(sources.sources[0], sources, run_id="r1", mode="full", now=T0, data_dir=data_dir, inventory=inv)
    second = run_source(sources.sources[0], sources, run_id="r2", mode="full", now=T0 + timedelta(days=1),
                        data_dir=data_dir, inventory=inv)
    assert (first.status, first.created) == ("success", 3)
    assert (second.status, second.created, second.updated, second.unchanged, second.withdrawn) == ("success", 0, 0, 3, 0)


def test_unreachable_source_fails_with_reason_and_others_finish(env, recorded, capsys):
    import socket

    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    src = write_sources(env / "sources.yaml", {"id": "dead", "url": f"http://127.0.0.1:{dead}"},
                        {"id": "rec", "url": recorded.url})
    assert cli.main(["run", "--sources", str(src), "--mode", "full"]) == 1
    out = capsys.readouterr().out
    assert "dead" in out and "failed" in out and f"127.0.0.1:{dead}" in out
    inv = _inventory(env)
    assert inv.count_datasets(status="active", source_id="rec") == 3
    assert inv.last_successful_run("dead") is None


def test_incremental_window_and_withdrawal_on_synthetic_portal(env):
    with LocalPortal.synthetic(120) as portal:
        src = write_sources(env / "sources.yaml", {"id": "syn", "url": portal.url, "options": {"rows": 50}})
        sources = load_sources(src)
        s = sources.sources[0]
        inv = _inventory(env)
        data_dir = env / "data"
        full = run_source(s, sources, run_id="full1", mode="full", now=T0, data_dir=data_dir, inventory=inv)
        assert (full.status, full.created) == ("success", 120)
        # incremental over an empty window: nothing seen, nothing changes, no withdrawals
        inc = run_source(s, sources, run_id="inc1", mode="incremental", now=T0, data_dir=data_dir, inventory=inv,
                         since=datetime(2100, 1, 1, tzinfo=timezone.utc),
                         until=datetime(2100, 1, 2, tzinfo=timezone.utc))
        assert (inc.status, inc.mode, inc.seen, inc.withdrawn) == ("success", "incremental", 0, 0)
        assert inv.count_datasets(status="active", source_id="syn") == 120


def test_full_harvest_withdraws_missing_records_gates_an_empty_run_and_quarantines_a_big_drop(env, tmp_path):
    packages = sorted((RECORDED).glob("dgu_*.json")) + [RECORDED / "ckan22_package_show_no_resources.json"]
    data_dir = env / "data"
    inv = _inventory(env)
    with LocalPortal.from_paths(packages) as portal:
        src = write_sources(env / "sources.yaml", {"id": "p", "url": portal.url, "quality": {"max_drop": 0.5}})
        sources = load_sources(src)
        first = run_source(sources.sources[0], sources, run_id="a", mode="full", now=T0, data_dir=data_dir,
                           inventory=inv)
    assert first.created == 3
    with LocalPortal.from_paths(packages[:2]) as portal:  # one dataset gone: 2 of 3 is within max_drop
        sources = load_sources(write_sources(env / "sources.yaml", {"id": "p", "url": portal.url}))
        second = run_source(sources.sources[0], sources, run_id="b", mode="full", now=T0 + timedelta(days=1),
                            data_dir=data_dir, inventory=inv)
    assert (second.withdrawn, second.quarantined) == (1, 0)
    with LocalPortal.from_paths([]) as portal:  # the portal suddenly lists nothing
        sources = load_sources(write_sources(env / "sources.yaml", {"id": "p", "url": portal.url}))
        third = run_source(sources.sources[0], sources, run_id="c", mode="full", now=T0 + timedelta(days=2),
                           data_dir=data_dir, inventory=inv)
    # issue 4: an empty full run after a non-empty one now fails the critical run_not_empty
    # expectation, so the gate stops it before the loader (whose quarantine test is in test_inventory)
    assert third.status == "gate_failed" and "run_not_empty" in third.reason
    assert third.withdrawn == 0
    assert inv.count_datasets(status="active", source_id="p") == 2
    # A drop the gate lets through (1 of 2 is under quality.max_count_drop) but larger than max_drop:
    # the load runs and its withdrawal is quarantined, not applied.
    with LocalPortal.from_paths(packages[:1]) as portal:
        sources = load_sources(write_sources(env / "sources.yaml",
                                             {"id": "p", "url": portal.url, "quality": {"max_drop": 0.4}}))
        fourth = run_source(sources.sources[0], sources, run_id="d", mode="full", now=T0 + timedelta(days=3),
                            data_dir=data_dir, inventory=inv)
    assert (fourth.status, fourth.withdrawn, fourth.quarantined) == ("success", 0, 1) and fourth.reason
    assert inv.count_datasets(status="active", source_id="p") == 2


def test_replay_reprocesses_archive_without_contacting_source(env, recorded):
    src = write_sources(env / "sources.yaml", {"id": "rec", "url": recorded.url})
    sources = load_sources(src)
    inv = _inventory(env)
    data_dir = env / "data"
    run_source(sources.sources[0], sources, run_id="orig", mode="full", now=T0, data_dir=data_dir, inventory=inv)
    before = len(recorded.requests)
    replay = run_source(sources.sources[0], sources, run_id="again", mode="replay", replay_run="orig",
                        now=T0 + timedelta(hours=1), data_dir=data_dir, inventory=inv)
    assert replay.status == "success" and replay.unchanged == 3
    assert len(recorded.requests) == before


def test_gate_blocks_load_of_duplicate_uris_and_inventory_is_untouched(env, tmp_path):
    twins = twin_packages(tmp_path)  # two packages claiming the same dataset URI: a critical expectation fails
    inv = _inventory(env)
    with LocalPortal.from_paths(twins) as portal:
        sources = load_sources(write_sources(env / "sources.yaml", {"id": "tw", "url": portal.url}))
        out = run_source(sources.sources[0], sources, run_id="g", mode="full", now=T0, data_dir=env / "data",
                         inventory=inv)
    assert out.status == "gate_failed"
    assert "uri" in out.reason
    assert inv.count_datasets(status=None, source_id="tw") == 0
    assert inv.get_run(pipeline.run_key("tw", "g")).status == "gate_failed"


def test_published_feed_pages_conform_to_dcat_ap3_shapes(env, recorded):
    src = write_sources(env / "sources.yaml", {"id": "rec", "url": recorded.url})
    assert cli.main(["run", "--sources", str(src), "--mode", "full"]) == 0
    pages = feed_pages(env / "data")
    assert len(pages) == 2  # 3 datasets, page_size 2
    for page, g, result in validated_pages(pages):
        assert len(set(g.subjects(RDF.type, DCAT.Dataset))) in (1, 2)
        assert result.conforms, (page.name, result.messages)


@pytest.mark.postgres
def test_whole_pipeline_on_postgresql_inventory(env, recorded, pg_inventory):
    inv = pg_inventory
    src = write_sources(env / "sources.yaml", {"id": "pgrec", "url": recorded.url})
    sources = load_sources(src)
    first = run_source(sources.sources[0], sources, run_id="p1", mode="full", now=T0, data_dir=env / "data",
                       inventory=inv)
    again = run_source(sources.sources[0], sources, run_id="p2", mode="full", now=T0 + timedelta(days=1),
                       data_dir=env / "data", inventory=inv)
    assert (first.status, first.created) == ("success", 3)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    feed = pipeline.publish(sources, inventory=inv, data_dir=env / "data", generated_at=T0)
    assert feed["datasets"] == inv.count_datasets(status="active") >= 3


@pytest.mark.parametrize("fault", ["loop_search", "html200", "malformed"])
def test_bad_portal_after_good_run_fails_with_reason_and_loses_nothing(env, fault):
    """Real portals loop, serve HTML error pages with 200, or cut JSON: the run fails, the inventory stays."""
    inv = _inventory(env)
    with LocalPortal(DirectoryStore.from_directory(RECORDED)) as portal:
        sources = load_sources(write_sources(env / "sources.yaml", {"id": "bad", "url": portal.url,
                                                                     "options": {"rows": 2}}))
        good = run_source(sources.sources[0], sources, run_id="good", mode="full", now=T0, data_dir=env / "data",
                          inventory=inv)
        if fault == "loop_search":
            portal.loop_search = True
        else:
            portal.inject(fault, times=100, action="package_search")
        bad = run_source(sources.sources[0], sources, run_id="bad", mode="full", now=T0 + timedelta(days=1),
                         data_dir=env / "data", inventory=inv)
    assert good.status == "success" and bad.status == "failed"
    assert "bad" in bad.reason or portal.url.split("//")[1] in bad.reason, bad.reason
    assert inv.count_datasets(status="active", source_id="bad") == 3
    assert inv.get_run(pipeline.run_key("bad", "bad")).status == "failed"
    assert not list((env / "data" / "raw" / "bad").glob("bad*.jsonl.gz"))  # no half archive left as complete


def test_record_that_fails_to_map_is_reported_and_rest_of_run_loads(env, tmp_path):
    nameless = {"id": "no-title-no-name", "resources": [], "metadata_modified": "2026-01-01T00:00:00"}
    (tmp_path / "nameless.json").write_text(json.dumps(nameless))
    inv = _inventory(env)
    files = [tmp_path / "nameless.json"] + sorted(RECORDED.glob("dgu_*.json"))
    with LocalPortal.from_paths(files) as portal:
        sources = load_sources(write_sources(env / "sources.yaml", {"id": "mix", "url": portal.url,
                                                                     "quality": {"max_failed_share": 0.5}}))
        out = run_source(sources.sources[0], sources, run_id="m", mode="full", now=T0, data_dir=env / "data",
                         inventory=inv)
    assert (out.status, out.created, out.failed) == ("success", 2, 1)
    errors = inv.run_errors(pipeline.run_key("mix", "m"))
    assert any(e["native_id"] == "no-title-no-name" and e["field"] for e in errors), errors
