"""One Airflow pool per source host: derived from sources.yaml, applied to a real Airflow, used by harvest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from citycat.config import load_sources
from citycat.pools import host_pools, pool_name, pools_document

from test_dags import ROOT, _python, airflow_env  # noqa: F401 - the shared Airflow home fixture


def _sources(tmp_path: Path, *entries: str) -> Path:
    body = "".join(
        f"  - id: {sid}\n    title: {sid}\n    kind: ckan\n    url: {url}\n"
        f"    institution: {{name: T, kind: council}}\n{extra}"
        for sid, url, extra in entries)
    path = tmp_path / "sources.yaml"
    path.write_text("sources:\n" + body, encoding="utf-8")
    return path


def test_sources_sharing_a_host_share_one_pool_with_the_strictest_limit(tmp_path):
    path = _sources(tmp_path,
                    ("leeds", "https://CKAN.publishing.service.gov.uk", "    requests_per_second: 2\n"),
                    ("bradford", "https://ckan.publishing.service.gov.uk/", "    max_parallel_harvests: 3\n"
                                                                            "    requests_per_second: 1\n"),
                    ("kirklees", "https://ckan.publishing.service.gov.uk", "    max_parallel_harvests: 2\n"),
                    ("uni", "https://data.example.ac.uk:8443", ""))
    pools = {p.host: p for p in host_pools(load_sources(path).sources)}
    assert set(pools) == {"ckan.publishing.service.gov.uk", "data.example.ac.uk"}
    dgu = pools["ckan.publishing.service.gov.uk"]
    assert (dgu.name, dgu.slots, dgu.sources) == ("citycat_host__ckan.publishing.service.gov.uk", 1,
                                                  ("bradford", "kirklees", "leeds"))
    assert dgu.requests_per_second == 5  # the worst case one task may send: kirklees keeps ckan's default 5/s
    assert "at most 1 harvest task(s) at once" in dgu.description and "host worst case 5/s" in dgu.description
    assert pools["data.example.ac.uk"].slots == 1


def test_more_slots_only_when_every_source_on_the_host_allows_them(tmp_path):
    path = _sources(tmp_path, ("a", "https://portal.example.org", "    max_parallel_harvests: 4\n"),
                    ("b", "https://portal.example.org", "    max_parallel_harvests: 2\n"))
    (pool,) = host_pools(load_sources(path).sources)
    assert pool.slots == 2
    doc = pools_document([pool])
    assert doc == {"citycat_host__portal.example.org": {"slots": 2, "description": pool.description,
                                                        "include_deferred": False}}


def test_a_bad_parallelism_is_a_config_error_naming_the_key(tmp_path):
    from citycat.config import ConfigError

    path = _sources(tmp_path, ("a", "https://portal.example.org", "    max_parallel_harvests: 0\n"))
    with pytest.raises(ConfigError, match="max_parallel_harvests"):
        load_sources(path)


def test_pool_names_are_safe_for_airflow():
    assert pool_name("Data.Example.ORG") == "citycat_host__data.example.org"
    assert pool_name("[::1]") == "citycat_host_____1_"


def test_cli_prints_the_import_json_of_the_shipped_sources_file():
    done = subprocess.run([sys.executable, "-m", "citycat.cli", "airflow", "pools", "--sources",
                           str(ROOT / "sources.yaml")], capture_output=True, text=True, timeout=60, cwd=str(ROOT))
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    expected = {pool_name(s.host) for s in load_sources(ROOT / "sources.yaml").sources}
    assert set(doc) == expected
    assert all(v["slots"] >= 1 and v["description"] for v in doc.values())


@pytest.mark.airflow
def test_apply_creates_then_resizes_the_pools_in_airflow_and_harvest_uses_them(airflow_env, tmp_path):
    path = _sources(tmp_path, ("a", "https://portal.example.org", ""), ("c", "http://127.0.0.1:9", ""))
    env = dict(airflow_env, CITYCAT_SOURCES=str(path))

    def apply_and_export() -> dict:
        done = subprocess.run([sys.executable, "-m", "citycat.cli", "airflow", "pools", "--apply"], env=env,
                              capture_output=True, text=True, timeout=120, cwd=str(ROOT))
        assert done.returncode == 0, done.stderr[-3000:]
        out = tmp_path / "export.json"
        airflow = Path(sys.executable).with_name("airflow")
        done = subprocess.run([str(airflow), "pools", "export", str(out)], env=env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(out.read_text())

    pools = apply_and_export()
    assert pools["citycat_host__portal.example.org"]["slots"] == 1
    assert pools["citycat_host__127.0.0.1"]["slots"] == 1
    path.write_text(path.read_text().replace("url: https://portal.example.org\n",
                                             "url: https://portal.example.org\n    max_parallel_harvests: 3\n"))
    assert apply_and_export()["citycat_host__portal.example.org"]["slots"] == 3  # an upsert, not a duplicate

    done = _python("""
        import json
        from airflow.dag_processing.dagbag import DagBag
        bag = DagBag(dag_folder="dags")
        print("RESULT" + json.dumps({d: {t.task_id: t.pool for t in bag.dags[d].tasks}
                                     for d in ("harvest__a", "harvest__c")}))
    """, env)
    assert "RESULT" in done.stdout, done.stderr[-3000:]
    out = json.loads(done.stdout.split("RESULT", 1)[1])
    assert out["harvest__a"]["harvest"] == "citycat_host__portal.example.org"
    assert out["harvest__c"]["harvest"] == "citycat_host__127.0.0.1"
    assert out["harvest__a"]["load"] == "default_pool"  # only the task that talks to the source is limited
