"""The audit report over a real inventory: the offline example (recorded CKAN, DCAT and OAI-PMH
responses served on 127.0.0.1) run through the whole pipeline, including the quality stage
that fills dataset_quality; the report is built by the CLI and checked against numbers
computed here straight from the inventory, and opened in a real headless chromium.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
from collections import defaultdict
from datetime import datetime, timezone
from html import escape, unescape
from pathlib import Path

import pytest
import sqlalchemy as sa

from citycat import cli
from citycat.example import run_example
from inventory import Inventory
from publish.report import IndicatorTableError, build_report
from publish.report.plan import load_indicators
from test_report_cdp import Browser, find_chromium

ROOT = Path(__file__).resolve().parent.parent
XSS_TITLE = "<script>alert(1)</script>"
XSS_PUBLISHER = "<img src=x onerror=alert(2)>"
XSS_INSTITUTION = "<i onmouseover=alert(5)>Hostile Trust</i>"
AT = datetime(2026, 11, 28, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The example inventory, one hostile row, one duplicate pair, and the report the CLI wrote."""
    tmp = tmp_path_factory.mktemp("report")
    shutil.copytree(ROOT / "examples", tmp / "examples")
    sources = tmp / "examples" / "sources.yaml"
    data = tmp / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CITYCAT_DATA_DIR", str(data))
        mp.delenv("CITYCAT_DATABASE_URL", raising=False)
        assert run_example(sources, runner=cli.cmd_run) == 0
        db = data / "inventory.sqlite"
        with sqlite3.connect(db) as con:
            # The transforms strip markup from titles (transforms.text.clean_line), so no harvested
            # record can carry a <script> title; the report must not rely on that, so one row is
            # made hostile here, as an older loader or a hand-edited inventory could leave it.
            (did, row), = con.execute("select id, row from datasets where source_id='example-ckan' "
                                      "order by native_id limit 1")
            row = json.loads(row)
            row.update(title=XSS_TITLE, publisher=XSS_PUBLISHER, landing_page="javascript:alert(3)",
                       institution=XSS_INSTITUTION)
            con.execute("update datasets set row=? where id=?", (json.dumps(row), did))
            # A duplicate pair (what the duplicate stage writes): a Zenodo record mirrored by the CKAN source.
            primary = con.execute("select id from datasets where source_id='example-zenodo' order by id").fetchone()[0]
            mirror = con.execute("select id from datasets where source_id='example-ckan' and id<>? order by id",
                                 (did,)).fetchone()[0]
            con.executemany("insert into dataset_clusters (dataset_id, cluster_id, is_primary, evidence, computed_at) "
                            "values (?,?,?,?,?)", [(primary, primary, 1, "doi", "2026-11-28 00:00:00"),
                                                   (mirror, primary, 0, "doi", "2026-11-28 00:00:00")])
        assert cli.main(["report", "--sources", str(sources), "--out", str(tmp / "out")]) == 0
    html = (tmp / "out" / "index.html").read_text(encoding="utf-8")
    return {"tmp": tmp, "db": db, "sources": sources, "html": html, "path": tmp / "out" / "index.html",
            "xss_id": did}


def _copy_db(src: Path, dst: Path) -> Path:
    """Copy a SQLite inventory with the backup API: the WAL file holds recent commits."""
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    return dst


def _rows(db: Path) -> list[dict]:
    with sqlite3.connect(db) as con:
        return [json.loads(r) for (r,) in con.execute("select row from datasets where status='active'")]


def _figure(html: str, label: str, scope: str | None = None) -> str:
    """The <dd> after <dt>label</dt>: in the region summary, or the institution article ``scope``."""
    if scope is None:
        html = re.search(r'<section aria-labelledby="h-summary">(.*?)</section>', html, re.S).group(1)
    else:
        html = re.search(r'<article id="[^"]+" aria-labelledby="[^"]+">\s*<h3 id="[^"]+">' + re.escape(escape(scope))
                         + r"</h3>(.*?)</article>", html, re.S).group(1)
    figures = {unescape(dt): unescape(dd).strip() for dt, dd in re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", html, re.S)}
    assert label in figures, f"no figure {label!r} in {sorted(figures)}"
    return figures[label]


# --------------------------------------------------------------------------- content vs inventory


def test_report_is_self_contained_and_fetches_nothing(built):
    html = built["html"]
    assert "window.vegaEmbed=" in html  # the libraries are inlined
    assert not re.search(r"<(script|img|link|iframe)[^>]+(src|href)=\"?(https?:)?//", html, re.I)
    specs = re.findall(r'<script type="application/json" class="vl-spec" data-target="([^"]+)">(.*?)</script>',
                       html, re.S)
    assert len(specs) >= 10
    for target, spec in specs:
        parsed = json.loads(spec)
        assert parsed["$schema"].startswith("https://vega.github.io/schema/vega-lite/v6")
        assert "url" not in json.dumps(parsed.get("data", {}))  # inline values, never fetched
        assert f'id="{target}"' in html and parsed["description"]  # a container and a text alternative


def test_region_figures_match_the_inventory(built):
    rows = _rows(built["db"])
    html = built["html"]
    assert _figure(html, "datasets (active)") == str(len(rows)) == "8"
    open_share = sum(1 for r in rows if r["licence_open"] is True) / len(rows)
    missing = sum(1 for r in rows if not r["licence_uri"] and not (r["licence_label"] or "").strip()) / len(rows)
    assert _figure(html, "open licence") == f"{open_share:.1%}"
    assert _figure(html, "licence missing") == f"{missing:.1%}"
    assert _figure(html, "institutions") == str(len({r["institution"] for r in rows}))
    with sqlite3.connect(built["db"]) as con:
        totals = [t for (t,) in con.execute(
            "select q.mqa_total from dataset_quality q join datasets d on d.source_id=q.source_id "
            "and d.native_id=q.native_id where d.status='active' and q.mqa_total is not null")]
    assert totals, "the example's quality stage measured nothing"
    assert _figure(html, "mean MQA score") == f"{sum(totals) / len(totals):.0f} / 405"


def test_institution_sections_count_their_datasets(built):
    rows = _rows(built["db"])
    per = defaultdict(int)
    for r in rows:
        per[r["institution"]] += 1
    for inst, n in per.items():
        assert _figure(built["html"], "datasets", scope=inst) == str(n)
        assert f'<a href="#inst-' in built["html"]


def test_improvement_plan_is_ranked_by_total_gain_computed_from_indicators(built):
    table = load_indicators(ROOT / "expectations" / "mqa_data" / "mqa_indicators.csv")
    with sqlite3.connect(built["db"]) as con:
        measured = con.execute(
            "select json_extract(d.row,'$.institution'), q.mqa_indicators from dataset_quality q join datasets d "
            "on d.source_id=q.source_id and d.native_id=q.native_id where d.status='active'").fetchall()
    gains: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for inst, ind in measured:
        for name, got in json.loads(ind).items():
            if got is not None and name in table.indicators and got < table.indicators[name].points:
                gains[inst][name][0] += 1
                gains[inst][name][1] += table.indicators[name].points - got
    assert gains
    for inst, per in gains.items():
        article = re.search(r'<h3 id="[^"]+">' + re.escape(escape(inst)) + r"</h3>(.*?)</article>", built["html"],
                            re.S)
        steps = re.findall(r"<li>(.*?) <span class=\"muted\">\(\+([\d,]+) points in all; indicator “(.*?)”\)",
                           article.group(1))
        assert steps, f"no plan for {inst}"
        totals = [int(t.replace(",", "")) for _, t, _ in steps]
        assert totals == sorted(totals, reverse=True)
        best = max(per.items(), key=lambda kv: (kv[1][1], [-ord(c) for c in kv[0]]))
        text, total, name = steps[0]
        assert (unescape(name), int(total.replace(",", ""))) == (best[0], best[1][1])
        n = best[1][0]
        assert f"on {n} dataset{'s' if n != 1 else ''}:" in unescape(text)


def test_duplicates_section_names_who_republishes_whom(built):
    html = built["html"]
    table = re.search(r"Data table: Who re-publishes whose datasets</summary>(.*?)</table>", html, re.S).group(1)
    portal = re.escape("Recorded CKAN responses (data.gov.uk, a CKAN 2.2 portal, catalog.data.gov)")
    assert re.search(f"<td>{portal}</td><td>Example institutions</td><td>Zenodo \\(CERN\\)</td><td>1</td>", table)
    assert _figure(html, "copies of others' datasets", scope="Example institutions") == "1"


def test_dataset_links_point_to_the_dataset_page_and_the_original_record(built):
    rows = {r["uri"]: r for r in _rows(built["db"])}
    hrefs = re.findall(r'<td class="ds-title"><a href="([^"]+)">', built["html"])
    assert set(hrefs) == set(rows)  # every dataset of the example is listed (top 15 > 8)
    for uri, r in rows.items():
        if (r["landing_page"] or "").startswith("http"):
            assert f'href="{r["landing_page"]}" rel="nofollow noopener">original</a>' in unescape(built["html"])


def test_hostile_title_publisher_and_link_are_escaped_text(built):
    html = built["html"]
    assert XSS_TITLE not in html and XSS_PUBLISHER not in html and XSS_INSTITUTION not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    assert escape(XSS_INSTITUTION) in html  # in the figures, the tables and the table of contents
    assert "javascript:" not in html.replace("javascript_bundle", "")


# --------------------------------------------------------------------------- inputs not there yet


def test_empty_quality_and_cluster_tables_say_not_measured(built, tmp_path):
    db = _copy_db(built["db"], tmp_path / "inventory.sqlite")
    with sqlite3.connect(db) as con:
        con.execute("delete from dataset_quality")
        con.execute("delete from dataset_clusters")
        con.execute("update harvest_runs set quality=null")
    res = build_report(sa.create_engine(f"sqlite:///{db}"), tmp_path / "r" / "index.html", generated_at=AT)
    html = res.path.read_text(encoding="utf-8")
    assert "not measured yet" in html and "No duplicates found or computed yet." in html
    assert "MQA rating bands" not in html and "Who re-publishes" not in html
    assert res.datasets == 8 and res.charts >= 9


def test_empty_inventory_gives_a_report_not_a_crash(tmp_path):
    inv = Inventory(f"sqlite:///{tmp_path / 'inv.sqlite'}")
    inv.migrate()
    res = build_report(inv.engine, tmp_path / "index.html", generated_at=AT)
    assert "holds no active datasets yet" in res.path.read_text(encoding="utf-8")
    assert res.datasets == 0 and res.charts == 0
    inv.close()


def test_default_output_is_data_dir_report_index(built, tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    _copy_db(built["db"], data / "inventory.sqlite")
    monkeypatch.setenv("CITYCAT_DATA_DIR", str(data))
    monkeypatch.delenv("CITYCAT_DATABASE_URL", raising=False)
    assert cli.main(["report", "--sources", str(built["sources"])]) == 0
    assert (data / "report" / "index.html").stat().st_size > 100_000
    assert not list((data / "report").glob(".report-*"))  # the temp file was renamed, not left behind


def test_bad_indicator_table_names_the_file(tmp_path):
    bad = tmp_path / "mqa.csv"
    bad.write_text("record_type,dimension,indicator,points\nindicator,Findability,Keyword usage,lots\n")
    with pytest.raises(IndicatorTableError, match=re.escape(str(bad))):
        load_indicators(bad)


def test_year_only_modified_dates_count_as_dates_in_freshness(tmp_path):
    """OAI-PMH and DCAT-US sources often give only a year ("2019") or a month as dct:modified."""
    from publish.report.measures import freshness
    from publish.report.data import read_datasets

    inv = Inventory(f"sqlite:///{tmp_path / 'inv.sqlite'}")
    inv.migrate()
    recs = [{"native_id": f"n{i}", "uri": f"https://x.example/d/{i}", "deleted": False, "hash": f"{i:064d}",
             "nt": f'<https://x.example/d/{i}> <http://purl.org/dc/terms/title> "t" .\n',
             "row": {"title": "t", "institution": "I", "frequency": "ANNUAL", "modified": m}, "warnings": []}
            for i, m in enumerate(["2019", "2026-05", "2026-11-01T10:00:00+02:00"])]
    inv.load(source_id="s", run_id="r", records=iter(recs), mode="full", complete_listing=True, loaded_at=AT)
    df = read_datasets(inv.engine, institutions={})
    fr = freshness(df, __import__("pandas").Timestamp(AT))
    assert df["modified_at"].notna().all()
    assert fr.sort_index()["stale"].tolist() == [True, False, False]
    inv.close()


# --------------------------------------------------------------------------- in a real browser


@pytest.fixture(scope="module")
def page(built, tmp_path_factory):
    exe = find_chromium()
    if exe is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium); the browser checks of the report "
                    "are skipped")
    browser = Browser(exe, tmp_path_factory.mktemp("chromium-profile"))
    try:
        browser.open(built["path"].as_uri())
        browser.wait_until("[...document.querySelectorAll('.vis')].every(e => e.dataset.rendered)")
        yield browser
    finally:
        browser.close()


def test_browser_page_loads_without_console_errors_or_network(page):
    assert page.console_errors() == []
    assert [u for u in page.requested_urls() if not u.startswith(("file:", "data:"))] == []


def test_browser_every_chart_renders_marks(page, built):
    charts = page.evaluate("""[...document.querySelectorAll('.vis')].map(e => ({
        id: e.id, state: e.dataset.rendered, svg: e.querySelectorAll('svg').length,
        marks: e.querySelectorAll('svg g.role-mark > *').length,
        title: (e.querySelector('svg > title') || {}).textContent,
        labelled: document.getElementById((e.querySelector('svg') || {getAttribute: () => ''})
                                          .getAttribute('aria-labelledby') || 'none')?.textContent,
        desc: (e.querySelector('svg > desc') || {}).textContent}))""")
    specs = re.findall(r'class="vl-spec" data-target="([^"]+)"', built["html"])
    assert sorted(c["id"] for c in charts) == sorted(specs)
    for c in charts:
        assert c["state"] == "true" and c["svg"] == 1 and c["marks"] > 0, c
        assert c["title"] and c["labelled"] == c["title"] and c["desc"], f"{c['id']}: no text alternative: {c}"
    out = Path(os.environ.get("CI_ARTIFACTS") or built["tmp"]) / "report.png"
    page.screenshot(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 50_000


def test_browser_shows_hostile_title_as_text_and_runs_none_of_it(page):
    assert page.dialogs == []
    titles = page.evaluate("[...document.querySelectorAll('td.ds-title')].map(td => td.textContent)")
    assert XSS_TITLE in titles
    assert page.evaluate("document.querySelectorAll('td img, a[href^=\"javascript\"], [onmouseover], [onerror]')"
                         ".length") == 0
    # the hostile institution name is chart text too (axis labels): drawn as text, not markup
    labels = page.evaluate("[...document.querySelectorAll('#chart-held-source svg text')].map(t => t.textContent)")
    assert any(t.startswith("<i onmouseover=alert(5)>") for t in labels), labels
    assert page.evaluate("[...document.querySelectorAll('script')].every(s => !s.textContent.includes('alert(1)'))")


# --------------------------------------------------------------------------- the publish DAG


@pytest.mark.airflow
def test_publish_dag_writes_feed_then_report(built, tmp_path):
    """Real Airflow (dag.test in a child with its own AIRFLOW_HOME): feed first, then the report."""
    import subprocess
    import sys
    import textwrap

    data = tmp_path / "data"
    data.mkdir()
    _copy_db(built["db"], data / "inventory.sqlite")
    home = tmp_path / "airflow_home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CITYCAT"))}
    env.update({"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
                "GX_ANALYTICS_ENABLED": "false", "CITYCAT_DATA_DIR": str(data),
                "CITYCAT_SOURCES": str(built["sources"]),
                "PYTHONPATH": str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")})
    airflow = Path(sys.executable).with_name("airflow")
    done = subprocess.run([str(airflow), "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    code = textwrap.dedent("""
        import json
        from datetime import datetime, timezone
        from airflow.dag_processing.dagbag import DagBag
        bag = DagBag(dag_folder="dags")
        assert not bag.import_errors, bag.import_errors
        dag = bag.dags["publish"]
        run = dag.test(logical_date=datetime(2026, 11, 27, 2, tzinfo=timezone.utc))
        tis = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
        print("RESULT" + json.dumps({"state": str(run.state), "tasks": tis,
                                     "order": [t.task_id for t in dag.topological_sort()]}))
    """)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                          cwd=str(ROOT))
    assert "RESULT" in done.stdout, (done.stdout[-3000:], done.stderr[-5000:])
    out = json.loads(done.stdout.split("RESULT", 1)[1])
    assert out["state"].endswith("success"), done.stdout[-5000:]
    assert out["order"] == ["publish", "report"] and all(s.endswith("success") for s in out["tasks"].values())
    assert (data / "feed" / "catalog.ttl").exists()
    html = (data / "report" / "index.html").read_text(encoding="utf-8")
    assert "Generated 2026-11-27" in html  # dated by the DAG run, not the clock
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --------------------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
def test_report_over_postgresql_inventory(pg_inventory, tmp_path):
    """The row fields are extracted by the database (->> on PostgreSQL, json_extract on SQLite)."""
    inv = pg_inventory
    rows = [{"title": "Bus stops", "institution": "Council", "licence_uri": "http://x/lic", "licence_open": True,
             "formats": ["CSV", "PDF"], "offer": ["download"], "themes": ["TRAN"], "frequency": "MONTHLY",
             "modified": "2026-11-01", "landing_page": "https://portal.example/bus"},
            {"title": "Budget", "institution": "Council", "licence_open": None, "formats": [],
             "offer": ["request-only"], "themes": [], "modified": "2019"},
            {"title": XSS_TITLE, "institution": "University", "licence_open": False, "licence_label": "all rights",
             "formats": ["XLSX"], "offer": ["download", "api"], "themes": ["EDUC", "TRAN"]}]
    recs = [{"native_id": f"n{i}", "uri": f"https://x.example/d/{i}", "deleted": False, "hash": f"{i:064d}",
             "nt": f'<https://x.example/d/{i}> <http://purl.org/dc/terms/title> "t" .\n', "row": r, "warnings": []}
            for i, r in enumerate(rows)]
    inv.load(source_id="s", run_id="r1", records=iter(recs), mode="full", complete_listing=True, loaded_at=AT)
    from inventory.models import dataset_quality

    with inv.engine.begin() as conn:
        conn.execute(dataset_quality.insert(), [
            {"run_id": "r1", "source_id": "s", "native_id": f"n{i}", "measured_at": AT, "mqa_total": 100 + i,
             "mqa_reusability": 10, "stars": i, "shacl_conforms": True,
             "mqa_indicators": {"Licence information": 0 if i else 20, "Keyword usage": None}} for i in range(3)])
    res = build_report(inv.engine, tmp_path / "index.html", generated_at=AT)
    html = res.path.read_text(encoding="utf-8")
    assert res.datasets == 3
    assert re.search(r"<dt>open licence</dt><dd>33.3%</dd>", html)
    assert "add a licence on 1 dataset: +20 reusability points each" in html  # Council's n1 (n0 has full points)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and XSS_TITLE not in html
    assert 'href="https://portal.example/bus"' in html


def test_observed_update_interval_comes_from_the_stored_versions(tmp_path):
    """A dataset that says MONTHLY but whose versions show 92 days between modifications."""
    from publish.report.data import read_update_intervals

    inv = Inventory(f"sqlite:///{tmp_path / 'inv.sqlite'}")
    inv.migrate()

    def rec(modified: str, rev: int) -> dict:
        return {"native_id": "n0", "uri": "https://x.example/d/0", "deleted": False, "hash": f"{rev:064d}",
                "nt": f'<https://x.example/d/0> <http://purl.org/dc/terms/title> "t{rev}" .\n',
                "row": {"title": "t", "institution": "I", "frequency": "MONTHLY", "modified": modified}, "warnings": []}

    for rev, (modified, day) in enumerate([("2026-01-01", 2), ("2026-04-03", 5), ("2026-07-04", 8)]):
        inv.load(source_id="s", run_id=f"r{rev}", records=iter([rec(modified, rev)]), mode="full",
                 complete_listing=True, loaded_at=datetime(2026, 7, day, tzinfo=timezone.utc))
    intervals = read_update_intervals(inv.engine)
    assert intervals.tolist() == [92.0]  # 92 and 92 days between the three modified dates
    res = build_report(inv.engine, tmp_path / "index.html", generated_at=AT)
    html = res.path.read_text(encoding="utf-8")
    table = html.split("<h3>Stated frequency vs modification history</h3>", 1)[1].split("</table>", 1)[0]
    row = re.search(r"<tr><td>MONTHLY</td>(.*?)</tr>", table, re.S).group(1)
    assert re.findall(r"<td>(.*?)</td>", row)[:4] == ["1", "31", "92", "1"]
    inv.close()
