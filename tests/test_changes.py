"""Field-level change history: the loader's dataset_changes rows, the diff, the CLI and /catalog/changes.

Records are real (tests/data/duplicates: the APUR dataset as the council's CKAN package, and the
real data.gov.uk Ashfield package), mapped by the real CKAN mapping and loaded by the real loader.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import select

from citycat.normalise import normalise_line
from harvesters.base import RawRecord
from helpers import free_port
from inventory.models import dataset_changes
from test_clusters import BASE, HERE, SOURCES, inv  # noqa: F401  (inv: the SQLite/PostgreSQL fixture)
from transforms import get_mapping
from transforms.base import Institution, SourceContext

T1 = datetime(2026, 11, 1, 3, 0, tzinfo=timezone.utc)
T2 = T1 + timedelta(days=1)
T3 = T2 + timedelta(days=1)


def _ctx(source: str = "council") -> SourceContext:
    _, url, inst = SOURCES[source]
    return SourceContext(source_id=source, source_title=source, source_url=url,
                         institution=Institution(name=inst, kind="council"), base_uri=BASE)


def line(pkg: dict, *, source: str = "council", fetched_at: str = "2026-11-01T03:00:00+00:00") -> dict:
    raw = RawRecord(source_id=source, native_id=pkg["id"], fetched_at=fetched_at, media_type="application/json",
                    payload=pkg)
    status, text, _, tb = normalise_line(1, raw.to_json(), get_mapping("ckan"), _ctx(source))
    assert status == "mapped", (text, tb)
    return json.loads(text)


def council(title: str) -> dict:
    pkgs = json.loads((HERE / "derived" / "council_packages.json").read_text(encoding="utf-8"))
    return copy.deepcopy(next(p for p in pkgs if p["title"] == title))


def ashfield() -> dict:
    return json.loads((HERE / "real" / "dgu_package_show_ashfield_smoke_control.json").read_text(
        encoding="utf-8"))["result"]


def load(inv, records, run: str, at: datetime, *, source: str = "council", mode: str = "incremental"):
    return inv.load(source_id=source, run_id=run, records=records, mode=mode, complete_listing=mode == "full",
                    loaded_at=at)


def change_rows(inv) -> list[dict]:
    c = dataset_changes
    with inv.engine.connect() as conn:
        rows = conn.execute(select(c.c.native_id, c.c.change, c.c.version, c.c.run_id, c.c.fields, c.c.changed_at)
                            .order_by(c.c.id))
        return [dict(r._mapping) for r in rows]


def edited_apur() -> dict:
    """Title changed, a licence where there was none, the GeoJSON distribution gone."""
    pkg = council("APPUI INNOVATION")
    pkg["title"] = "APPUI INNOVATION (quartiers)"
    pkg["license_id"] = "odc-odbl"
    pkg["resources"] = [r for r in pkg["resources"] if not r["url"].endswith(".geojson")]
    return pkg


def test_title_licence_and_distribution_change_gives_exactly_those_fields(inv):
    pkg = council("APPUI INNOVATION")
    load(inv, [line(pkg)], "r1", T1)
    res = load(inv, [line(edited_apur())], "r2", T2)
    assert res.updated == 1
    rows = change_rows(inv)
    assert [(r["change"], r["version"]) for r in rows] == [("created", 1), ("updated", 2)]
    fields = {f["field"]: f for f in rows[1]["fields"]}
    # the three edits, as the row and the graph see them; nothing else moved
    assert set(fields) == {"title", "licence_uri", "licence_label", "licence_open", "distribution",
                           "distribution.license", "formats", "media_types", "access_urls", "download_urls",
                           "distribution_count"}
    assert (fields["title"]["op"], fields["title"]["old"], fields["title"]["new"]) == (
        "changed", "APPUI INNOVATION", "APPUI INNOVATION (quartiers)")
    assert fields["licence_uri"]["op"] == "added"
    assert fields["licence_uri"]["new"] == "http://publications.europa.eu/resource/authority/licence/ODC_BL"
    assert fields["distribution"]["op"] == "removed" and fields["distribution"]["old"].endswith(".geojson")
    assert fields["formats"]["old"] == sorted(set(fields["formats"]["new"]) | {"GEOJSON"})
    # the run's counts by field: one dataset changed each of those fields
    assert res.changes_by_field["title"] == 1 and res.changes_by_field["distribution"] == 1
    assert set(res.changes_by_field) == set(fields)


def test_harvest_timestamp_only_difference_is_not_a_version(inv):
    """Regression: the same package fetched at another time (fetched_at) maps to the same hash."""
    pkg = ashfield()
    first = line(pkg, fetched_at="2026-11-01T03:00:00+00:00")
    again = line(pkg, fetched_at="2026-11-09T23:59:59+00:00")
    assert first["hash"] == again["hash"]
    assert "2026-11-09" not in again["nt"]
    load(inv, [first], "r1", T1)
    res = load(inv, [again], "r2", T2)
    assert (res.unchanged, res.updated, res.changes_by_field) == (1, 0, {})
    assert [r["change"] for r in change_rows(inv)] == ["created"]
    assert len(inv.versions("council", pkg["id"])) == 1


def test_harvest_object_id_of_a_mirror_is_not_content(inv):
    """Regression: a mirror's re-harvest gives the package a new harvest_object_id; not a version."""
    pkg = ashfield()
    again = copy.deepcopy(pkg)
    again["harvest"] = [dict(h, value="00000000-0000-4000-8000-000000000001") if h["key"] == "harvest_object_id"
                        else h for h in again["harvest"]]
    load(inv, [line(pkg)], "r1", T1)
    res = load(inv, [line(again)], "r2", T2)
    assert res.unchanged == 1 and [r["change"] for r in change_rows(inv)] == ["created"]


def test_withdrawn_and_restored_are_recorded(inv):
    a, b = line(council("APPUI INNOVATION")), line(council("HAUTEUR BATI 2012"))
    load(inv, [a, b], "r1", T1, mode="full")
    load(inv, [a], "r2", T2, mode="full")  # b missing from a full harvest: withdrawn
    res = load(inv, [a, line(edited_apur()) | {"native_id": b["native_id"]}], "r3", T3, mode="full")
    assert res.reactivated == 1
    rows = [(r["native_id"] == b["native_id"], r["change"], r["version"], r["run_id"]) for r in change_rows(inv)]
    assert rows == [(False, "created", 1, "r1"), (True, "created", 1, "r1"), (True, "withdrawn", 1, "r2"),
                    (True, "restored", 2, "r3")]
    restored = change_rows(inv)[-1]
    assert {"title", "distribution"} <= {f["field"] for f in restored["fields"]}
    assert restored["changed_at"] == T3


def test_changes_cli_lists_them(tmp_path, monkeypatch, capsys):
    from citycat.cli import main
    from inventory import Inventory

    inv = Inventory(f"sqlite:///{tmp_path}/inventory.sqlite")
    inv.migrate()

    load(inv, [line(council("APPUI INNOVATION"))], "r1", T1)
    load(inv, [line(edited_apur())], "r2", T2)
    monkeypatch.setenv("CITYCAT_DATABASE_URL", inv.url.render_as_string(hide_password=False))
    assert main(["changes", "council", "--since", "2026-11-02"]) == 0
    out = capsys.readouterr().out
    assert "updated   v2" in out and "created" not in out
    assert "title changed from 'APPUI INNOVATION' to 'APPUI INNOVATION (quartiers)'" in out
    assert "distribution removed: 'http://cassini.apur.opendata.arcgis.com/datasets/" in out
    assert main(["changes", "council", "--since", "2026-11-05"]) == 0
    assert "no changes since" in capsys.readouterr().out


def test_changes_cli_refuses_a_bad_date(capsys):
    from citycat.cli import main

    with pytest.raises(SystemExit):
        main(["changes", "council", "--since", "last tuesday"])
    assert "not an ISO 8601 date" in capsys.readouterr().err


# --------------------------------------------------------------------------- /catalog/changes over real HTTP


def _serve(app):
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    return server, thread, f"http://127.0.0.1:{port}"


def _minimal_app(inv):
    from fastapi import FastAPI

    from publish.server_changes import router

    app = FastAPI()
    app.state.engine = inv.engine
    app.include_router(router)
    return app


def _feed_app(inv):
    from publish.feed_model import CatalogInfo
    from publish.server import create_app

    return create_app(inv, catalog=CatalogInfo(base_uri=BASE, title="t", description="d", publisher_name="p",
                                               publisher_uri=None, homepage=None, licence_uri=None), sources=[])


@pytest.mark.parametrize("make_app", [_minimal_app, _feed_app], ids=["router", "feed-service"])
def test_changes_feed_over_http(inv, make_app):
    a, b = line(council("APPUI INNOVATION")), line(council("HAUTEUR BATI 2012"))
    load(inv, [a, b], "r1", T1, mode="full")
    load(inv, [line(edited_apur())], "r2", T2)
    load(inv, [a | {"native_id": "x"}, line(edited_apur())], "r3", T3, mode="full")  # b withdrawn, x created
    server, thread, url = _serve(make_app(inv))
    try:
        r = httpx.get(f"{url}/catalog/changes", params={"since": "2026-11-01T12:00:00Z", "page_size": 2})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["total"] == 3 and [i["change"] for i in body["items"]] == ["updated", "created"]
        assert "title" in {f["field"] for f in body["items"][0]["fields"]}
        nxt = httpx.get(body["next"]).json()
        assert [i["change"] for i in nxt["items"]] == ["withdrawn"] and nxt["next"] is None
        assert nxt["items"][0]["native_id"] == b["native_id"]
        assert httpx.get(f"{url}/catalog/changes", params={"since": "2026-11-01", "source": "other"}).json()["total"] == 0
        ld = httpx.get(f"{url}/catalog/changes", params={"since": "2026-11-01T12:00:00Z"},
                       headers={"Accept": "application/ld+json"})
        assert ld.headers["content-type"].startswith("application/ld+json")
        assert [i["type"] for i in ld.json()["orderedItems"]] == ["Update", "Create", "Delete"]
        bad = httpx.get(f"{url}/catalog/changes", params={"since": "yesterday"})
        assert bad.status_code == 400 and "since" in bad.text
        assert httpx.get(f"{url}/catalog/changes").status_code in (400, 422)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_run_summary_counts_changes_by_field():
    """The CLI's run summary says what changed: "2 modified dates, 1 licence changes, 1 title"."""
    from citycat.cli import format_summary
    from citycat.runner import SourceSummary

    s = SourceSummary("council", "r2", "full", "success", updated=2,
                      stages={"load": {"changes_by_field": {"modified": 2, "licence_uri": 1, "title": 1}}})
    assert "council: changed fields: 2 modified dates, 1 licence changes, 1 title" in format_summary([s])
    assert "changed fields" not in format_summary([SourceSummary("council", "r3", "full", "success")])


def test_line_diff_finds_what_the_whole_graph_diff_finds():
    """The fast path (changed lines only) and the whole-graph diff agree on which fields changed."""
    from inventory.changes import _diff_whole, diff_graphs

    a, b = line(council("APPUI INNOVATION")), line(edited_apur())
    fast = diff_graphs(a["uri"], a["nt"], b["uri"], b["nt"])
    whole = _diff_whole(a["uri"], a["nt"], b["uri"], b["nt"])
    key = sorted((f["field"], f["op"], f.get("node")) for f in fast)
    assert key == sorted((f["field"], f["op"], f.get("node")) for f in whole)
    assert ("distribution", "removed") in {(f["field"], f["op"]) for f in fast}
    assert diff_graphs(a["uri"], a["nt"], a["uri"], a["nt"]) == []
