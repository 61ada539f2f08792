"""The feed service over a PostgreSQL inventory: the same queries (keyset pages, state,
filters, tombstones, exports) must work there too."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
import requests
from sqlalchemy import insert, select

from citycat.config import load_sources
from citycat.localportal import DirectoryStore, LocalPortal
from citycat.runner import run_source
from inventory.models import dataset_clusters, datasets
from test_server import (RECORDED, T0, XSS, free_port, get, sources_yaml, start_server, stop_server, walk,
                         xss_packages)


@pytest.mark.postgres
def test_serve_on_postgresql_inventory(tmp_path, pg_url, pg_inventory):
    inv = pg_inventory
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    xss = xss_packages(tmp_path, 3)
    with LocalPortal(DirectoryStore.from_directory(RECORDED)) as rec, LocalPortal.from_paths(xss) as x1:
        src = sources_yaml(tmp_path / "sources.yaml", base, [("pgsrv-rec", rec.url, "Recorded Council"),
                                                              ("pgsrv-x", x1.url, "Probe Trust")], page_size=2)
        cfg = load_sources(src)
        for s in cfg.sources:
            assert run_source(s, cfg, run_id="pgs1", mode="full", now=T0, data_dir=tmp_path / "data",
                              inventory=inv).status == "success"
    with LocalPortal.from_paths(xss[:2]) as x2:
        src = sources_yaml(tmp_path / "sources.yaml", base, [("pgsrv-rec", "http://127.0.0.1:9", "Recorded Council"),
                                                              ("pgsrv-x", x2.url, "Probe Trust")], page_size=2)
        cfg = load_sources(src)
        out = run_source(cfg.get("pgsrv-x"), cfg, run_id="pgs2", mode="full", now=T0 + timedelta(days=1),
                         data_dir=tmp_path / "data", inventory=inv)
        assert out.withdrawn == 1
    with inv.engine.begin() as conn:  # one recorded dataset marked a duplicate of an x one
        a = conn.execute(select(datasets.c.id).where(datasets.c.source_id == "pgsrv-x",
                                                     datasets.c.status == "active").limit(1)).scalar_one()
        b, b_uri = conn.execute(select(datasets.c.id, datasets.c.uri)
                                .where(datasets.c.source_id == "pgsrv-rec").limit(1)).one()
        conn.execute(insert(dataset_clusters), [
            {"dataset_id": a, "cluster_id": a, "is_primary": True, "computed_at": T0},
            {"dataset_id": b, "cluster_id": a, "is_primary": False, "computed_at": T0}])
    env = {**os.environ, "CITYCAT_DATA_DIR": str(tmp_path / "data"), "CITYCAT_SOURCES": str(src),
           "CITYCAT_DATABASE_URL": pg_url}
    proc = start_server(env, port)
    try:
        ours = "pgsrv-rec,pgsrv-x"
        expected = {d.uri for s in ours.split(",") for d in inv.iter_datasets(source_id=s, with_row=False)}
        assert len(expected) == 3 + 2
        seen, pages = walk(f"{base}/catalog.jsonld?source={ours}")
        assert seen == expected and len(pages) == 3
        seen, _ = walk(f"{base}/catalog?source={ours}&primary=true")
        assert seen == expected - {b_uri}
        gone = inv.get_dataset("pgsrv-x", "xss-2")
        js = get(f"{base}/catalog/withdrawn.json?source=pgsrv-x").json()
        assert [i["uri"] for i in js["items"]] == [gone.uri]
        rows = get(f"{base}/export.json?source={ours}").json()
        assert {r["uri"] for r in rows} == expected
        r = get(f"{base}/dataset/pgsrv-x/xss-0", "text/html")
        assert r.status_code == 200 and "<script" not in r.text and "&lt;script&gt;" in r.text
        etag = get(f"{base}/catalog?source={ours}").headers["etag"]
        assert requests.get(f"{base}/catalog?source={ours}", headers={"If-None-Match": etag},
                            timeout=10).status_code == 304
        assert get(f"{base}/catalog?page=999").status_code == 404
    finally:
        stop_server(proc)
