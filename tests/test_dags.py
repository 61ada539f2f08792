"""Real Airflow: the DAG folder imports cleanly, and a harvest DAG runs with dag.test().

Airflow reads its configuration once per process from the environment, so each check runs
in a child Python with its own AIRFLOW_HOME (a fresh SQLite metadata database).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import airflow_base_env

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow_home")
    env = airflow_base_env(home)
    env.update({
        "GX_ANALYTICS_ENABLED": "false",
        "PYTHONPATH": str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
    })
    airflow = Path(sys.executable).with_name("airflow")
    done = subprocess.run([str(airflow), "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return env


def _python(code: str, env: dict, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=str(ROOT))


@pytest.mark.parametrize("sources_file", ["sources.yaml", "tests/data/config/good_every_kind.yaml"])
def test_dagbag_imports_one_harvest_dag_per_source_and_publish(airflow_env, sources_file):
    env = dict(airflow_env, CITYCAT_SOURCES=str(ROOT / sources_file))
    done = _python("""
        import json
        from airflow.dag_processing.dagbag import DagBag
        bag = DagBag(dag_folder="dags")
        out = {"errors": {k: str(v)[:500] for k, v in bag.import_errors.items()}, "dags": {}}
        for dag_id, dag in bag.dags.items():
            out["dags"][dag_id] = {
                "timetable": type(dag.timetable).__name__, "max_active_runs": dag.max_active_runs,
                "tasks": sorted(t.task_id for t in dag.tasks), "params": sorted(dag.params.keys()),
                "retries": [t.retries for t in dag.tasks],
                "pools": {t.task_id: t.pool for t in dag.tasks},  # per-host politeness pools
                "callbacks": {t.task_id: [type(c).__name__ for c in (t.on_failure_callback or [])]
                              for t in dag.tasks},
            }
        print("RESULT" + json.dumps(out))
    """, env)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.split("RESULT", 1)[1])
    assert out["errors"] == {}
    from citycat.config import load_sources
    from citycat.pools import pool_name

    expected = {f"harvest__{s.id}" for s in load_sources(ROOT / sources_file).sources if s.enabled}
    assert expected and expected <= set(out["dags"])
    assert "publish" in out["dags"]
    for dag_id in expected:
        d = out["dags"][dag_id]
        assert d["timetable"] == "CronDataIntervalTimetable"
        assert d["max_active_runs"] == 1
        assert d["tasks"] == ["harvest", "load", "normalise", "validate"]
        assert {"mode", "replay_run"} <= set(d["params"])
        assert max(d["retries"]) >= 1
        source = load_sources(ROOT / sources_file).get(dag_id.removeprefix("harvest__"))
        assert d["pools"]["harvest"] == pool_name(source.host)  # politeness across runs
        assert all(c == ["RunAlert"] for c in d["callbacks"].values())  # alerts on every task's failure


def test_harvest_dag_test_run_loads_inventory_from_local_portal(airflow_env, tmp_path):
    from tests.test_pipeline_e2e import RECORDED

    data_dir = tmp_path / "data"
    env = dict(airflow_env, CITYCAT_DATA_DIR=str(data_dir), CITYCAT_SOURCES=str(tmp_path / "sources.yaml"))
    done = _python(f"""
        import json, sys
        from datetime import datetime, timezone
        from pathlib import Path
        sys.path.insert(0, {str(ROOT)!r})
        from citycat.localportal import DirectoryStore, LocalPortal
        from tests.helpers import write_sources
        with LocalPortal(DirectoryStore.from_directory(Path({str(RECORDED)!r}))) as portal:
            write_sources(Path({str(tmp_path / 'sources.yaml')!r}), {{"id": "rec", "url": portal.url}})
            from airflow.dag_processing.dagbag import DagBag
            bag = DagBag(dag_folder="dags")
            assert not bag.import_errors, bag.import_errors
            dag = bag.dags["harvest__rec"]
            run = dag.test(logical_date=datetime(2026, 11, 27, 2, tzinfo=timezone.utc), run_conf={{"mode": "full"}})
            n_full = len(portal.requests)
            inc = dag.test(logical_date=datetime(2026, 11, 28, 2, tzinfo=timezone.utc),
                           run_conf={{"mode": "incremental"}})
            fqs = [str(r) for r in list(portal.requests)[n_full:] if "metadata_modified" in str(r)]
            print("RESULT" + json.dumps({{"state": str(run.state), "inc_state": str(inc.state),
                                          "requests": n_full, "inc_fq": fqs[:1],
                                          "run_ids": [run.run_id, inc.run_id]}}))
    """, env)
    assert "RESULT" in done.stdout, (done.stdout[-3000:], done.stderr[-5000:])
    out = json.loads(done.stdout.split("RESULT", 1)[1])
    assert out["state"].endswith("success"), done.stdout[-5000:]
    assert out["requests"] > 0
    from inventory import Inventory

    inv = Inventory(f"sqlite:///{data_dir / 'inventory.sqlite'}")
    assert inv.count_datasets(status="active", source_id="rec") == 3
    from citycat.pipeline import run_key

    run, inc = (inv.get_run(run_key("rec", r)) for r in out["run_ids"])
    assert (run.status, run.mode, run.counts["created"]) == ("success", "full", 3)
    assert run.window_start is None  # a full run asks for everything, not the interval
    assert (inc.status, inc.mode, inc.counts["unchanged"] + inc.counts["created"]) == ("success", "incremental", 0)
    assert inc.window_start.isoformat().startswith("2026-11-27T02:00")
    # the incremental run asked the portal for exactly its data interval
    assert out["inc_state"].endswith("success")
    assert out["inc_fq"] and "2026-11-27T02:00:00Z" in out["inc_fq"][0], out["inc_fq"]


@pytest.mark.postgres
def test_harvest_dag_loads_postgresql_inventory_named_by_airflow_connection(airflow_env, tmp_path, pg_url):
    from tests.test_pipeline_e2e import RECORDED

    from inventory import Inventory

    conn_uri = pg_url.replace("postgresql+psycopg://", "postgresql://")
    env = dict(airflow_env, CITYCAT_DATA_DIR=str(tmp_path / "data"), CITYCAT_SOURCES=str(tmp_path / "sources.yaml"),
               CITYCAT_DATABASE_CONN_ID="citycat_inventory", AIRFLOW_CONN_CITYCAT_INVENTORY=conn_uri)
    done = _python(f"""
        import json, sys
        from datetime import datetime, timezone
        from pathlib import Path
        sys.path.insert(0, {str(ROOT)!r})
        from citycat.localportal import DirectoryStore, LocalPortal
        from tests.helpers import write_sources
        with LocalPortal(DirectoryStore.from_directory(Path({str(RECORDED)!r}))) as portal:
            write_sources(Path({str(tmp_path / 'sources.yaml')!r}), {{"id": "pgdag", "url": portal.url}})
            from airflow.dag_processing.dagbag import DagBag
            dag = DagBag(dag_folder="dags").dags["harvest__pgdag"]
            run = dag.test(logical_date=datetime(2026, 11, 27, 2, tzinfo=timezone.utc), run_conf={{"mode": "full"}})
            print("RESULT" + json.dumps({{"state": str(run.state)}}))
    """, env)
    assert "RESULT" in done.stdout, (done.stdout[-3000:], done.stderr[-5000:])
    assert json.loads(done.stdout.split("RESULT", 1)[1])["state"].endswith("success")
    assert Inventory(pg_url).count_datasets(status="active", source_id="pgdag") == 3
    assert not (tmp_path / "data" / "inventory.sqlite").exists()  # the connection, not the SQLite default


def test_airflow_connection_supplies_the_api_key_without_it_entering_config_or_xcom(airflow_env, tmp_path):
    """``airflow_conn_id``: the key comes from the connection's password and reaches the portal as
    the Authorization header; the source's options only name the variable holding it."""
    env = dict(airflow_env, AIRFLOW_CONN_CKAN_KEY="http://:s3cr3t-test-key@portal.invalid")
    done = _python(f"""
        import json, sys
        from pathlib import Path
        sys.path.insert(0, {str(ROOT)!r})
        from citycat.airflow_tasks import with_connection_secret
        from citycat.config import load_sources
        from citycat.localportal import LocalPortal
        from harvesters.base import HarvestWindow
        import harvesters
        with LocalPortal.synthetic(3) as portal:
            Path({str(tmp_path / 's.yaml')!r}).write_text(
                "sources:\\n  - id: leeds\\n    title: L\\n    kind: ckan\\n    url: " + portal.url +
                "\\n    institution: {{name: L, kind: council}}\\n    airflow_conn_id: ckan_key\\n")
            source = with_connection_secret(load_sources(Path({str(tmp_path / 's.yaml')!r})).sources[0])
            h = harvesters.get("ckan")(source.id, source.url, source.options)
            n = len(list(h.records(HarvestWindow(), "full")))
            print("RESULT" + json.dumps({{"n": n, "option": source.options.api_key_env,
                                          "dump": source.model_dump_json(),
                                          "auth": [r["authorization"] for r in portal.requests]}}))
    """, env)
    assert "RESULT" in done.stdout, done.stderr[-3000:]
    out = json.loads(done.stdout.split("RESULT", 1)[1])
    assert out["n"] == 3
    assert out["option"] == "CITYCAT_SECRET_LEEDS"
    assert "s3cr3t-test-key" not in out["dump"]
    assert out["auth"] and all(a == "s3cr3t-test-key" for a in out["auth"])
