"""The per-dataset quality pass of the validate stage, the SHACL cache, and the gate's promise that a
blocked run leaves the inventory as it was (SQLite and PostgreSQL), on recorded real CKAN records."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from citycat import pipeline
from citycat.config import load_sources
from citycat.localportal import LocalPortal
from citycat.runner import begin_run, run_source
from expectations import shacl
from helpers import RECORDED, ROOT, sqlite_inventory, twin_packages, write_sources
from test_dags import airflow_env  # noqa: F401 - the real Airflow home fixture
from inventory.models import dataset_versions, datasets
from inventory.quality import dataset_quality_rows, run_quality
from inventory.shacl_cache import count_results, get_results, put_results

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)


def _stage_run(source, sources, inv, data_dir: Path, run_id: str, now: datetime) -> dict:
    """Harvest + normalise + validate (in this process, so the spy sees pyshacl) of one run."""
    mode, start, end = begin_run(source, run_id, "full", since=None, until=None, now=now, inventory=inv)
    h = pipeline.harvest(source, run_id, mode, window_start=start, window_end=end, data_dir=data_dir)
    n = pipeline.normalise(source, run_id, h.raw_path, data_dir=data_dir, base_uri=sources.catalog.base_uri)
    return pipeline.validate(source, run_id, n.normalised_path, failed_to_map=n.failed, data_dir=data_dir,
                             run_time=now, mode=mode, inventory=inv, data_docs=False)


def test_quality_pass_measures_every_dataset_and_a_second_unchanged_run_runs_no_pyshacl(env, recorded,
                                                                                         pyshacl_calls):
    sources = load_sources(write_sources(env / "sources.yaml", {"id": "rec", "url": recorded.url}))
    source, inv, data_dir = sources.sources[0], sqlite_inventory(env / "inv.sqlite"), env / "data"

    first = _stage_run(source, sources, inv, data_dir, "r1", T0)
    assert first["passed"], first["reasons"]
    assert len(pyshacl_calls) == 1  # 3 small graphs, one batch
    rows = dataset_quality_rows(inv, pipeline.run_key("rec", "r1"))
    assert len(rows) == 3 == first["rows"]
    for r in rows:
        assert r["measured_at"] == T0 and r["content_hash"]
        assert r["shacl_conforms"] is not None and r["mqa_total"] is not None and r["stars"] is not None
        assert r["mqa_total"] == sum(r[f"mqa_{d}"] for d in ("findability", "accessibility", "interoperability",
                                                             "reusability", "contextuality"))
        assert isinstance(r["findings"], list)
    q = first["quality"]
    assert (q["shacl"]["validated"], q["shacl"]["cached"], q["shacl"]["not_checked"]) == (3, 0, 0)
    assert q["datasets"] == 3 and q["mqa"]["scored"] == 3
    assert run_quality(inv, pipeline.run_key("rec", "r1"))["shacl"]["validated"] == 3
    assert count_results(inv, shacl.shapes_version()) == 3

    second = _stage_run(source, sources, inv, data_dir, "r2", T0 + timedelta(days=1))
    assert len(pyshacl_calls) == 1  # nothing changed: every graph's outcome came from the cache
    q2 = second["quality"]
    assert (q2["shacl"]["validated"], q2["shacl"]["cached"]) == (0, 3)
    again = {r["native_id"]: r for r in dataset_quality_rows(inv, pipeline.run_key("rec", "r2"))}
    for r in rows:
        same = again[r["native_id"]]
        assert (same["shacl_conforms"], same["shacl_violations"], same["mqa_total"]) == \
               (r["shacl_conforms"], r["shacl_violations"], r["mqa_total"])
    inv.close()


def test_findings_of_a_real_record_name_its_failed_warnings(env, recorded):
    sources = load_sources(write_sources(env / "sources.yaml", {"id": "rec", "url": recorded.url}))
    inv = sqlite_inventory(env / "inv.sqlite")
    out = _stage_run(sources.sources[0], sources, inv, env / "data", "r1", T0)
    rows = {r["native_id"]: r for r in dataset_quality_rows(inv, pipeline.run_key("rec", "r1"))}
    # the no-resources CKAN 2.2 package: no distribution, no licence, no publisher
    bare = next(r for r in rows.values() if any(f["rule"] == "distribution_present" for f in r["findings"]))
    rules = {f["rule"] for f in bare["findings"]}
    assert {"distribution_present", "licence_present"} <= rules
    assert all(f["severity"] == "warning" and f["message"] for f in bare["findings"])
    # the run's GX warning counts agree with the per-dataset findings
    for rule, count in out["quality"]["run_warnings"].items():
        if rule != "identifier_unique":
            assert count == sum(any(f["rule"] == rule for f in r["findings"]) for r in rows.values()), rule
    inv.close()


def test_shacl_budget_leaves_the_rest_not_checked_until_a_later_run(env, recorded, pyshacl_calls):
    sources = load_sources(write_sources(env / "sources.yaml", {"id": "rec", "url": recorded.url,
                                                                "quality": {"shacl_max_per_run": 1}}))
    source, inv = sources.sources[0], sqlite_inventory(env / "inv.sqlite")
    q1 = _stage_run(source, sources, inv, env / "data", "r1", T0)["quality"]["shacl"]
    assert (q1["validated"], q1["not_checked"]) == (1, 2)
    unchecked = [r for r in dataset_quality_rows(inv, pipeline.run_key("rec", "r1")) if r["shacl_conforms"] is None]
    assert len(unchecked) == 2 and all(r["mqa_total"] is not None for r in unchecked)
    q2 = _stage_run(source, sources, inv, env / "data", "r2", T0 + timedelta(days=1))["quality"]["shacl"]
    assert (q2["validated"], q2["cached"], q2["not_checked"]) == (1, 1, 1)
    inv.close()


def test_shacl_cache_round_trip_and_first_writer_wins(env):
    inv = sqlite_inventory(env / "inv.sqlite")
    one = {"conforms": False, "violations": 2, "warnings": 1, "by_shape": {"shapes:Dataset_Shape dct:title": 2},
           "messages": ["Violation: x"]}
    assert put_results(inv, {"h1": one}, "v1", validated_at=T0) == 1
    put_results(inv, {"h1": dict(one, violations=9)}, "v1", validated_at=T0)  # a parallel run's duplicate
    assert get_results(inv, ["h1", "h2"], "v1") == {"h1": one}
    assert get_results(inv, ["h1"], "v2") == {}  # other shapes: not known
    with pytest.raises(ValueError):
        put_results(inv, {"h3": one}, "v1", validated_at=datetime(2026, 1, 1))
    inv.close()


# --------------------------------------------------------------------------- the gate keeps the inventory


def _snapshot(inv, source_id: str) -> list[tuple]:
    with inv.engine.connect() as conn:
        ds = conn.execute(select(datasets).where(datasets.c.source_id == source_id)
                          .order_by(datasets.c.native_id)).all()
        ids = [d.id for d in ds]
        vs = conn.execute(select(dataset_versions).where(dataset_versions.c.dataset_id.in_(ids or [-1]))
                          .order_by(dataset_versions.c.dataset_id, dataset_versions.c.version)).all()
    return [tuple(r) for r in ds] + [tuple(r) for r in vs]


def _gate_keeps_inventory(inv, env: Path, tmp_path: Path, source_id: str) -> None:
    packages = sorted(RECORDED.glob("dgu_*.json"))
    data_dir = env / "data"
    quality = {"shacl": "false"}  # this test is about the inventory; SHACL has its own tests above
    with LocalPortal.from_paths(packages) as portal:
        sources = load_sources(write_sources(env / "sources.yaml", {"id": source_id, "url": portal.url,
                                                                    "quality": quality}))
        good = run_source(sources.sources[0], sources, run_id="good", mode="full", now=T0, data_dir=data_dir,
                          inventory=inv)
    assert good.status == "success" and good.created == 2
    before = _snapshot(inv, source_id)
    with LocalPortal.from_paths(packages + twin_packages(tmp_path)) as portal:
        sources = load_sources(write_sources(env / "sources.yaml", {"id": source_id, "url": portal.url,
                                                                    "quality": quality}))
        bad = run_source(sources.sources[0], sources, run_id="bad", mode="full", now=T0 + timedelta(days=1),
                         data_dir=data_dir, inventory=inv)
    assert bad.status == "gate_failed" and "uri_unique" in bad.reason
    assert _snapshot(inv, source_id) == before  # not one dataset or version touched
    run = inv.get_run(pipeline.run_key(source_id, "bad"))
    assert run.status == "gate_failed" and run.gate["failed"] == ["uri_unique"] and not run.gate["passed"]
    assert run.data_docs and Path(run.data_docs).is_file()
    assert "citycat.flat_rows." + source_id in Path(run.data_docs).read_text()
    # the blocked run's quality results are kept
    kept = dataset_quality_rows(inv, pipeline.run_key(source_id, "bad"))
    assert len(kept) == 4 and run_quality(inv, pipeline.run_key(source_id, "bad"))["gate"]["passed"] is False


def test_gate_leaves_the_sqlite_inventory_untouched(env, tmp_path):
    inv = sqlite_inventory(env / "inv.sqlite")
    _gate_keeps_inventory(inv, env, tmp_path, "gk")
    inv.close()


@pytest.mark.postgres
def test_gate_leaves_the_postgresql_inventory_untouched(env, tmp_path, pg_inventory):
    _gate_keeps_inventory(pg_inventory, env, tmp_path, "gk_pg")


# --------------------------------------------------------------------------- the Airflow validate task


@pytest.mark.airflow
def test_airflow_validate_task_fails_naming_the_failing_expectations(airflow_env, tmp_path):
    from inventory import Inventory
    from tests.test_dags import _python

    twins = twin_packages(tmp_path)
    data_dir = tmp_path / "data"
    env = dict(airflow_env, CITYCAT_DATA_DIR=str(data_dir), CITYCAT_SOURCES=str(tmp_path / "sources.yaml"))
    done = _python(f"""
        import json, sys
        from datetime import datetime, timezone
        from pathlib import Path
        sys.path.insert(0, {str(ROOT)!r})
        from citycat.localportal import LocalPortal
        from tests.helpers import write_sources
        with LocalPortal.from_paths([Path(p) for p in {[str(t) for t in twins]!r}]) as portal:
            write_sources(Path({str(tmp_path / 'sources.yaml')!r}), {{"id": "twins", "url": portal.url}})
            from airflow.dag_processing.dagbag import DagBag
            dag = DagBag(dag_folder="dags").dags["harvest__twins"]
            run = dag.test(logical_date=datetime(2026, 11, 27, 2, tzinfo=timezone.utc), run_conf={{"mode": "full"}})
            tis = {{ti.task_id: [str(ti.state), ti.try_number] for ti in run.get_task_instances()}}
            print("RESULT" + json.dumps({{"state": str(run.state), "tis": tis}}))
    """, env)
    assert "RESULT" in done.stdout, (done.stdout[-3000:], done.stderr[-5000:])
    out = json.loads(done.stdout.split("RESULT", 1)[1])
    assert out["state"].endswith("failed")
    assert out["tis"]["validate"][0].endswith("failed") and out["tis"]["validate"][1] == 1  # no retry
    assert "load" not in out["tis"] or not out["tis"]["load"][0].endswith("success")
    logs = done.stdout + done.stderr
    assert "GateFailed" in logs and "failing expectations uri_unique" in logs
    assert "Critical expectation uri_unique failed" in logs
    inv = Inventory(f"sqlite:///{data_dir / 'inventory.sqlite'}")
    (key,) = _run_keys(inv, "twins")
    run = inv.get_run(key)
    assert run.status == "gate_failed" and run.gate["failed"] == ["uri_unique"]
    assert run.data_docs and Path(run.data_docs).is_file()
    assert inv.count_datasets(status=None, source_id="twins") == 0
    assert len(dataset_quality_rows(inv, run.run_id)) == 2  # measured although blocked
    inv.close()


def _run_keys(inv, source_id: str) -> list[str]:
    from inventory.models import harvest_runs

    with inv.engine.connect() as conn:
        return list(conn.execute(select(harvest_runs.c.run_id).where(harvest_runs.c.source_id == source_id)).scalars())


# --------------------------------------------------------------------------- the link check feeds MQA


@pytest.fixture
def link_server():
    """A 127.0.0.1 HTTP server answering 200 to every HEAD and GET (the datasets' resources)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[str] = []

    class Ok(BaseHTTPRequestHandler):
        def _ok(self) -> None:
            seen.append(f"{self.command} {self.path}")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_HEAD = do_GET = _ok

        def log_message(self, *args) -> None:  # noqa: ANN002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()
    server.server_close()


def _local_resources(tmp_path: Path, base: str) -> list[Path]:
    """The recorded DGU packages with their resource URLs moved to the local server."""
    out = []
    for path in sorted(RECORDED.glob("dgu_*.json")):
        doc = json.loads(path.read_text())
        pkg = doc["result"] if "result" in doc else doc
        for i, res in enumerate(pkg.get("resources", [])):
            res["url"] = f"{base}/{pkg['name']}/{i}"
        (tmp_path / path.name).write_text(json.dumps(doc))
        out.append(tmp_path / path.name)
    return out


@pytest.mark.parametrize("enabled", [True, False])
def test_link_check_runs_before_validate_and_feeds_the_mqa_accessibility_indicator(env, tmp_path, link_server,
                                                                                   enabled):
    base, seen = link_server
    inv = sqlite_inventory(env / "inv.sqlite")
    options = "{enabled: %s, allow_private_addresses: true, per_host_interval: 0, timeout: 5}" % str(enabled).lower()
    with LocalPortal.from_paths(_local_resources(tmp_path, base)) as portal:
        sources = load_sources(write_sources(env / "sources.yaml", {"id": "lk", "url": portal.url,
                                                                    "quality": {"link_check": options}}))
        out = run_source(sources.sources[0], sources, run_id="r1", mode="full", now=T0, data_dir=env / "data",
                         inventory=inv)
    assert out.status == "success", out.reason
    rows = dataset_quality_rows(inv, pipeline.run_key("lk", "r1"))
    assert len(rows) == 2
    access = [r["mqa_indicators"]["AccessURL accessibility"] for r in rows]
    if enabled:
        assert out.stages["links"]["checked"] >= 2 and seen
        assert all(points is not None and points > 0 for points in access), access
        assert run_quality(inv, pipeline.run_key("lk", "r1"))["links_checked"] is True
    else:
        assert "links" not in out.stages and seen == []
        assert access == [None, None]  # not checked, not failed
    inv.close()


@pytest.mark.airflow
def test_dag_wires_the_link_check_before_validate_only_when_enabled(tmp_path, monkeypatch):
    import importlib
    import sys

    path = write_sources(tmp_path / "sources.yaml",
                         {"id": "with_links", "url": "https://data.example.org",
                          "quality": {"link_check": "{enabled: true}"}},
                         {"id": "without_links", "url": "https://data.example.org"})
    monkeypatch.setenv("CITYCAT_SOURCES", str(path))
    monkeypatch.syspath_prepend(str(ROOT))
    sys.modules.pop("dags.harvest", None)
    harvest = importlib.import_module("dags.harvest")
    try:
        on, off = harvest.harvest__with_links, harvest.harvest__without_links
        assert sorted(t.task_id for t in on.tasks) == ["check_links", "harvest", "load", "normalise", "validate"]
        assert "check_links" in on.get_task("validate").upstream_task_ids
        assert {"harvest", "normalise"} <= on.get_task("check_links").upstream_task_ids
        assert sorted(t.task_id for t in off.tasks) == ["harvest", "load", "normalise", "validate"]
    finally:
        sys.modules.pop("dags.harvest", None)


def test_data_docs_sites_share_one_static_copy(env, recorded):
    sources = load_sources(write_sources(env / "sources.yaml", {"id": "rec", "url": recorded.url}))
    source, inv, data_dir = sources.sources[0], sqlite_inventory(env / "inv.sqlite"), env / "data"
    paths = []
    for i, run_id in enumerate(("d1", "d2")):
        mode, start, end = begin_run(source, run_id, "full", since=None, until=None, now=T0 + timedelta(days=i),
                                     inventory=inv)
        h = pipeline.harvest(source, run_id, mode, window_start=start, window_end=end, data_dir=data_dir)
        n = pipeline.normalise(source, run_id, h.raw_path, data_dir=data_dir, base_uri=sources.catalog.base_uri)
        out = pipeline.validate(source, run_id, n.normalised_path, failed_to_map=n.failed, data_dir=data_dir,
                                run_time=T0 + timedelta(days=i), mode=mode, inventory=inv)
        paths.append(Path(out["data_docs"]))
    shared = data_dir / "quality" / "data_docs_static"
    for index in paths:
        assert index == data_dir / "quality" / "rec" / index.parent.parent.name / "data_docs" / "index.html"
        static = index.parent / "static"
        assert static.is_symlink() and static.resolve() == shared.resolve()
        local = re.findall(r'(?:href|src)="(\./static/[^"]+)"', index.read_text())
        assert local and all((index.parent / link).is_file() for link in local)  # the page's links still resolve
    assert inv.get_run(pipeline.run_key("rec", "d1")).data_docs is None  # set when the run is finished
    inv.close()


# --------------------------------------------------------------------------- SHACL through skeletons


def _variant(nt: str, k: int) -> str:
    """The same graph with other names and texts: a structurally identical dataset."""
    import re as _re

    out = _re.sub(r"de9110bc-de91-410b-a005-0000000000", f"ab{k:02d}cdef-0000-4000-8000-0000000000", nt)
    return out.replace("Air quality in Leeds City Council", f"Variant {k} of the air quality data")


def _record(nt: str, k: int) -> dict:
    import hashlib

    return {"native_id": f"n{k}", "hash": hashlib.sha256(nt.encode()).hexdigest(), "nt": nt, "row": {}}


def test_graphs_sharing_a_skeleton_cost_one_validation_and_read_as_if_validated_alone(tmp_path, pyshacl_calls):
    from citycat.quality import QualityPass
    from test_shacl_skeleton import _direct, _synthetic_nt
    from transforms.rdf import graph_from_ntriples

    base = _synthetic_nt(0)
    base = "\n".join(l for l in base.split("\n") if "/dc/terms/title>" not in l or "#distribution" in l)  # no title
    assert "de9110bc-de91-410b-a005-0000000000" in base
    nts = [_variant(base, k) for k in range(4)]
    assert len(set(nts)) == 4
    inv = sqlite_inventory(tmp_path / "inv.sqlite")
    qp = QualityPass(source_id="s", run_key="s/r1", inventory=inv, measured_at=T0, shacl_max_per_run=1)
    for k, nt in enumerate(nts[:3]):
        qp.add(_record(nt, k), [])
    q = qp.finish()["shacl"]
    assert len(pyshacl_calls) == 1 and qp.skeletons_validated == 1  # a budget of 1 is enough for all three
    assert (q["validated"], q["not_checked"], q["conforming"]) == (3, 0, 0)
    stored = get_results(inv, [_record(nt, k)["hash"] for k, nt in enumerate(nts)], shacl.shapes_version())
    for k, nt in enumerate(nts[:3]):
        assert stored[_record(nt, k)["hash"]] == _direct(graph_from_ntriples(nt)), k
    assert count_results(inv, shacl.shapes_version()) == 3
    assert count_results(inv, shacl.shapes_version(), skeletons=True) == 1

    # a later run meets a new graph of the same structure: the stored skeleton outcome answers
    calls = len(pyshacl_calls)  # the direct validations above ran pyshacl too
    later = QualityPass(source_id="s", run_key="s/r2", inventory=inv, measured_at=T0 + timedelta(days=1))
    later.add(_record(nts[3], 3), [])
    assert later.finish()["shacl"]["validated"] == 1
    assert len(pyshacl_calls) == calls
    fourth = get_results(inv, [_record(nts[3], 3)["hash"]], shacl.shapes_version())[_record(nts[3], 3)["hash"]]
    assert fourth == _direct(graph_from_ntriples(nts[3]))
    assert any("Variant" not in m and "ab03cdef" in m for m in fourth["messages"])
    inv.close()


def test_skeletons_built_in_the_helper_process_give_what_in_process_building_gives(tmp_path):
    """From the second chunk on, skeletons are built in a helper process while the previous chunk is scored;
    the stored SHACL outcomes, quality rows and aggregates must be those of building them in-process."""
    from sqlalchemy import select

    from citycat.quality import QualityPass
    from inventory.models import dataset_quality, shacl_results
    from test_shacl_skeleton import _synthetic_nt

    nts = [_synthetic_nt(k) for k in range(12)] + [_variant(_synthetic_nt(0), k) for k in range(1, 5)]
    outcomes = []
    for parallel in (False, True):
        inv = sqlite_inventory(tmp_path / f"inv-{parallel}.sqlite")
        qp = QualityPass(source_id="s", run_key="s/r1", inventory=inv, measured_at=T0, chunk=3, parallel=parallel)
        for k, nt in enumerate(nts):
            qp.add(_record(nt, k), [])
        agg = qp.finish()
        agg.pop("seconds")
        with inv.engine.connect() as conn:
            shacl_rows = conn.execute(select(shacl_results.c.content_hash, shacl_results.c.conforms,
                                             shacl_results.c.violations, shacl_results.c.messages)
                                      .order_by(shacl_results.c.content_hash)).all()
            quality_rows = conn.execute(select(dataset_quality.c.native_id, dataset_quality.c.shacl_conforms,
                                               dataset_quality.c.mqa_total, dataset_quality.c.findings)
                                        .order_by(dataset_quality.c.native_id)).all()
        outcomes.append((agg, shacl_rows, quality_rows))
        inv.close()
        import citycat.quality as cq

        assert (cq._SKELETON_POOL is not None) == parallel  # the helper process really did the building
    assert outcomes[0][2] and len(outcomes[0][2]) == len(nts)
    assert outcomes[0][0]["shacl"]["validated"] == len(nts)
    assert outcomes[0] == outcomes[1]


def _quality_pass_in_a_child(db: str, nts: list[str]) -> None:
    from citycat.quality import QualityPass

    inv = sqlite_inventory(Path(db))
    qp = QualityPass(source_id="s", run_key="s/r1", inventory=inv, measured_at=T0, chunk=2, parallel=True)
    for k, nt in enumerate(nts):
        qp.add(_record(nt, k), [])
    qp.finish()
    inv.close()


def test_a_process_that_used_the_skeleton_helper_still_exits(tmp_path):
    """Regression: the validation stage runs in a multiprocessing child, whose exit joins its own children
    and runs no atexit hooks; a skeleton helper left running made that exit (and `citycat run`) hang."""
    import multiprocessing as mp

    from test_shacl_skeleton import _synthetic_nt

    ctx = mp.get_context("forkserver")
    child = ctx.Process(target=_quality_pass_in_a_child, args=(str(tmp_path / "inv.sqlite"),
                                                               [_synthetic_nt(k) for k in range(6)]))
    child.start()
    child.join(timeout=120)
    hung = child.is_alive()
    if hung:
        child.kill()
    assert not hung and child.exitcode == 0
