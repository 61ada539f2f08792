"""The feed service (`citycat serve`), tested as its clients use it: over HTTP on 127.0.0.1.

The inventory is built by the real pipeline (run_source) from recorded CKAN responses
(examples/ckan, provenance in its README), the synthetic CKAN portal, and copies of one
recorded data.gov.uk package whose title is an XSS probe and one of which is withdrawn by
a second full harvest. The server is `python -m citycat.cli serve` in a subprocess, found
through the environment variables a container uses (CITYCAT_DATABASE_URL, CITYCAT_DATA_DIR,
CITYCAT_SOURCES).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF

from citycat.config import load_sources
from citycat.localportal import DirectoryStore, LocalPortal
from citycat.runner import run_source
from helpers import free_port, sqlite_inventory
from inventory import Inventory

ROOT = Path(__file__).resolve().parent.parent
RECORDED = ROOT / "examples" / "ckan"
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
AS = Namespace("https://www.w3.org/ns/activitystreams#")
T0 = datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)
RDFLIB = {"text/turtle": "turtle", "application/ld+json": "json-ld", "application/rdf+xml": "xml",
          "application/n-triples": "nt"}
XSS = "<script>alert(1)</script>"


def sources_yaml(path: Path, base: str, entries: list[tuple[str, str, str]], page_size: int = 10) -> Path:
    """(id, url, institution) per source; base_uri = the server's own address, so minted
    dataset URIs dereference for real."""
    lines = ["catalog:", f"  base_uri: {base}", "  title: Test region inventory",
             "  description: Datasets of the test region.", "  publisher_name: Test Region",
             "  homepage: https://region.example/data", f"  page_size: {page_size}", "sources:"]
    for sid, url, inst in entries:
        lines += [f"  - id: {sid}", f"    title: {sid} portal", "    kind: ckan", f"    url: {url}",
                  "    institution:", f"      name: {inst}", "      kind: council", "    rows: 50"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def xss_packages(folder: Path, n: int) -> list[Path]:
    """n copies of a recorded data.gov.uk package (own ids); the first titled with a script tag."""
    doc = json.loads((RECORDED / "dgu_package_show_inspire.json").read_text())
    pkg = doc.get("result", doc)
    out = []
    for i in range(n):
        p = json.loads(json.dumps(pkg))
        p["id"], p["name"] = f"xss-{i}", f"xss-{i}"
        p["extras"] = [e for e in p.get("extras", []) if e.get("key") != "guid"]
        if i == 0:
            p["title"], p["notes"] = "Script probe", f"Before {XSS} after"
        else:
            p["title"] = f"{p['title']} copy {i}"
        out.append(folder / f"xss{i}.json")
        out[-1].write_text(json.dumps(p))
    return out


def load_title_probe(inv: Inventory, base: str) -> None:
    """A dataset titled with a script tag. The CKAN mapping strips tags from titles (only
    descriptions keep them, see xss-0), so this record is xss-1's normalised record with
    its title replaced, loaded through the real loader as source ``probe``."""
    src = inv.get_dataset("xss", "xss-1")
    uri = f"{base}/dataset/probe/probe-1"
    nt = src.nt.replace(src.uri, uri)
    title = f"<{uri}> <{DCTERMS.title}> "
    lines = [ln for ln in nt.splitlines() if not ln.startswith(title)]
    nt = "\n".join(sorted(lines + [f'{title}"{XSS}"@en .'])) + "\n"
    row = {**src.row, "uri": uri, "native_id": "probe-1", "source_id": "probe", "title": XSS}
    record = {"native_id": "probe-1", "uri": uri, "deleted": False, "hash": hashlib.sha256(nt.encode()).hexdigest(),
              "nt": nt, "row": row, "source_modified": None, "warnings": []}
    inv.start_run(source_id="probe", run_id="probe-r1", mode="full", window_start=None, window_end=None,
                  started_at=T0)
    inv.load(source_id="probe", run_id="probe-r1", records=[record], mode="full", complete_listing=True,
             loaded_at=T0)
    inv.finish_run("probe-r1", status="success", finished_at=T0)


def start_server(env: dict[str, str], port: int, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "citycat.cli", "serve", "--host", "127.0.0.1", "--port",
                             str(port), *extra], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stdout.read().decode(errors='replace')}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                return proc
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start in 30 s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    data_dir = tmp / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    inv = sqlite_inventory(data_dir / "inventory.sqlite")
    xss = xss_packages(tmp, 3)
    with LocalPortal(DirectoryStore.from_directory(RECORDED)) as rec, LocalPortal.synthetic(37) as syn, \
            LocalPortal.from_paths(xss) as x1:
        src = sources_yaml(tmp / "sources.yaml", base, [("rec", rec.url, "Recorded Council"),
                                                         ("syn", syn.url, "Synthetic Authority"),
                                                         ("xss", x1.url, "Probe Trust")])
        cfg = load_sources(src)
        for s in cfg.sources:
            out = run_source(s, cfg, run_id="r1", mode="full", now=T0, data_dir=data_dir, inventory=inv)
            assert out.status == "success", out.reason
    with LocalPortal.from_paths(xss[:2]) as x2:  # xss-2 is gone from the portal: withdrawn
        src = sources_yaml(tmp / "sources.yaml", base, [("rec", "http://127.0.0.1:9", "Recorded Council"),
                                                         ("syn", "http://127.0.0.1:9", "Synthetic Authority"),
                                                         ("xss", x2.url, "Probe Trust"),
                                                         ("probe", "http://127.0.0.1:9", "Probe Trust")])
        cfg = load_sources(src)
        out = run_source(cfg.get("xss"), cfg, run_id="r2", mode="full", now=T0 + timedelta(days=1),
                         data_dir=data_dir, inventory=inv)
        assert (out.status, out.withdrawn) == ("success", 1), out.reason
    load_title_probe(inv, base)
    env = {**os.environ, "CITYCAT_DATA_DIR": str(data_dir), "CITYCAT_SOURCES": str(src),
           "CITYCAT_DATABASE_URL": f"sqlite:///{data_dir / 'inventory.sqlite'}"}
    proc = start_server(env, port, "--sparql-timeout", "2", "--sparql-limit", "25", "--max-page-size", "50")
    try:
        yield {"base": base, "inv": inv, "data_dir": data_dir, "proc": proc, "env": env}
    finally:
        stop_server(proc)
        inv.close()


def active_uris(inv: Inventory, **kw) -> set[str]:
    return {d.uri for d in inv.iter_datasets(status="active", with_row=False, **kw)}


def get(url: str, accept: str | None = None, **kw) -> requests.Response:
    headers = kw.pop("headers", {})
    if accept:
        headers["Accept"] = accept
    return requests.get(url, headers=headers, timeout=30, **kw)


def parse(resp: requests.Response) -> Graph:
    media = resp.headers["content-type"].split(";")[0]
    return Graph().parse(data=resp.content, format=RDFLIB[media], publicID=resp.url)


def walk(start: str, accept: str | None = None) -> tuple[set[str], list[tuple[str, Graph]]]:
    """Follow hydra:next from ``start`` to the last page, as a harvester does."""
    url, seen, pages = start, set(), []
    while url:
        r = get(url, accept)
        assert r.status_code == 200, (url, r.text)
        g = parse(r)
        pages.append((url, g))
        seen |= {str(d) for d in g.objects(None, DCAT.dataset) if (d, RDF.type, DCAT.Dataset) in g}
        views = list(g.subjects(RDF.type, HYDRA.PartialCollectionView))
        assert len(views) == 1
        nxt = list(g.objects(views[0], HYDRA.next))
        url = str(nxt[0]) if nxt else None
        assert len(pages) < 100
    return seen, pages


# --------------------------------------------------------------------------- catalogue


def test_hydra_walk_recovers_exactly_the_inventory_and_pages_conform(served):
    from expectations.shacl import validate_graph

    seen, pages = walk(served["base"] + "/catalog")
    expected = active_uris(served["inv"])
    assert len(expected) == 3 + 37 + 2 + 1
    assert seen == expected
    assert len(pages) == 5  # 43 datasets, page_size 10
    last = pages[-1][1]
    view = next(last.subjects(RDF.type, HYDRA.PartialCollectionView))
    assert not list(last.objects(view, HYDRA.next))
    assert int(next(last.objects(URIRef(served["base"] + "/catalog"), HYDRA.totalItems))) == 43
    for url, g in pages:
        result = validate_graph(g)
        assert result.conforms, (url, result.messages)


def test_catalogue_metadata_and_sub_catalogues_with_portal_provenance(served):
    g = parse(get(served["base"] + "/catalog.ttl"))
    cat = URIRef(served["base"] + "/catalog")
    assert str(g.value(cat, DCTERMS.title)) == "Test region inventory"
    assert g.value(cat, DCTERMS.license) is not None and g.value(cat, DCTERMS.publisher) is not None
    subs = set(g.objects(cat, DCAT.catalog))
    assert {str(s).rsplit("/", 1)[1] for s in subs} == {"rec", "syn", "xss", "probe"}
    for sub in subs:
        assert (sub, RDF.type, DCAT.Catalog) in g
        assert str(g.value(sub, Namespace("http://xmlns.com/foaf/0.1/").homepage)).startswith("http://127.0.0.1:")


@pytest.mark.parametrize("accept,ext", [("text/turtle", "ttl"), ("application/ld+json", "jsonld"),
                                        ("application/rdf+xml", "rdf"), ("application/n-triples", "nt")])
def test_content_negotiation_by_accept_and_by_extension_give_the_same_graph(served, accept, ext):
    by_accept = get(served["base"] + "/catalog?page=2", accept)
    by_ext = get(served["base"] + f"/catalog.{ext}?page=2")
    assert by_accept.headers["content-type"].startswith(accept)
    assert by_ext.headers["content-type"].startswith(accept)
    ga, ge = parse(by_accept), parse(by_ext)
    datasets = set(ga.subjects(RDF.type, DCAT.Dataset))
    assert len(datasets) == 10 and datasets == set(ge.subjects(RDF.type, DCAT.Dataset))
    # links keep the form of the request: by extension they name the extension
    view = next(ge.subjects(RDF.type, HYDRA.PartialCollectionView))
    assert str(ge.value(view, HYDRA.next)).startswith(served["base"] + f"/catalog.{ext}?page=3")


def test_filters_source_institution_modified_since_and_primary(served):
    inv, base = served["inv"], served["base"]
    seen, _ = walk(base + "/catalog?source=syn")
    assert seen == active_uris(inv, source_id="syn")
    seen, _ = walk(base + "/catalog?institution=Probe%20Trust")
    assert seen == active_uris(inv, source_id="xss") | active_uris(inv, source_id="probe")
    # the second run (T0 + 1 day, the xss portal on a new port) changed only xss datasets
    since = T0 + timedelta(hours=1)
    seen, pages = walk(base + "/catalog?modified_since=" + since.isoformat().replace("+", "%2B"))
    assert seen == active_uris(inv, modified_since=since) == active_uris(inv, source_id="xss")
    assert len(pages) == 1
    seen, pages = walk(base + "/catalog?modified_since=2030-01-01T00:00:00Z")
    assert seen == set() and len(pages) == 1
    seen, _ = walk(base + "/catalog?modified_since=2026-11-20")
    assert seen == active_uris(inv)
    # one synthetic dataset duplicates a recorded one (as the clustering would record it)
    from sqlalchemy import insert, select

    from inventory.models import dataset_clusters, datasets

    with inv.engine.begin() as conn:
        rec_id = conn.execute(select(datasets.c.id).where(datasets.c.source_id == "rec").limit(1)).scalar_one()
        syn_id, syn_uri = conn.execute(select(datasets.c.id, datasets.c.uri)
                                       .where(datasets.c.source_id == "syn").limit(1)).one()
        conn.execute(insert(dataset_clusters), [
            {"dataset_id": rec_id, "cluster_id": rec_id, "is_primary": True, "computed_at": T0},
            {"dataset_id": syn_id, "cluster_id": rec_id, "is_primary": False, "computed_at": T0}])
    time.sleep(1.2)  # the service re-reads the inventory state at most once a second
    seen, _ = walk(base + "/catalog?primary=true")
    assert seen == active_uris(inv) - {syn_uri}
    seen, _ = walk(base + "/catalog")
    assert syn_uri in seen


def test_conditional_get_answers_304_and_gzip(served):
    url = served["base"] + "/catalog.ttl?page=1"
    first = get(url)
    etag, last_modified = first.headers["etag"], first.headers["last-modified"]
    assert first.headers["content-encoding"] == "gzip"  # requests asks for gzip
    again = get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert get(url, headers={"If-Modified-Since": last_modified}).status_code == 304
    assert get(url, headers={"If-None-Match": 'W/"other"'}).status_code == 200
    older = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert get(url, headers={"If-Modified-Since": older}).status_code == 200
    plain = get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == first.content
    head = requests.head(url, timeout=30)
    assert head.status_code == 200 and head.content == b"" and head.headers["etag"] == etag
    assert head.headers["content-type"].startswith("text/turtle")
    # a page's ETag differs from another page's and another format's
    assert get(served["base"] + "/catalog.ttl?page=2").headers["etag"] != etag
    assert get(served["base"] + "/catalog.nt?page=1").headers["etag"] != etag


# --------------------------------------------------------------------------- datasets


def test_every_dataset_uri_dereferences_as_rdf(served):
    inv = served["inv"]
    for d in list(inv.iter_datasets(status="active", with_row=False))[:6] + \
            list(inv.iter_datasets(status="active", source_id="xss", with_row=False)):
        assert d.uri.startswith(served["base"] + "/dataset/")
        for accept in RDFLIB:
            r = get(d.uri, accept)
            assert r.status_code == 200, (d.uri, r.text)
            g = parse(r)
            assert (URIRef(d.uri), RDF.type, DCAT.Dataset) in g
            assert (URIRef(served["base"] + "/catalog"), DCAT.dataset, URIRef(d.uri)) in g
        assert parse(get(d.uri + ".nt")).isomorphic(parse(get(d.uri, "application/n-triples")))
        etag = get(d.uri, "text/turtle").headers["etag"]
        assert get(d.uri, "text/turtle", headers={"If-None-Match": etag}).status_code == 304


BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_minted_institution_uris_dereference(served):
    d = served["inv"].get_dataset("syn", sorted(x.native_id for x in served["inv"].iter_datasets(source_id="syn"))[0])
    g = Graph().parse(data=d.nt, format="nt")
    minted = {o for o in g.objects() if str(o).startswith(served["base"] + "/institution/")}
    assert minted == {URIRef(served["base"] + "/institution/syn")}
    for accept in RDFLIB:
        doc = parse(get(str(next(iter(minted))), accept))
        assert str(doc.value(next(iter(minted)), Namespace("http://xmlns.com/foaf/0.1/").name)) == "Synthetic Authority"
    assert get(served["base"] + "/institution/nowhere").status_code == 404


def test_browser_gets_html_with_a_script_title_escaped(served):
    d = served["inv"].get_dataset("probe", "probe-1")
    assert d.row["title"] == XSS
    r = get(d.uri, BROWSER)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "<script" not in r.text
    assert "<h1>&lt;script&gt;alert(1)&lt;/script&gt;</h1>" in r.text
    # and the RDF still carries the title as given
    g = parse(get(d.uri, "text/turtle"))
    assert str(g.value(URIRef(d.uri), DCTERMS.title)) == XSS


def test_description_from_a_real_harvest_keeps_its_tag_as_text(served):
    d = served["inv"].get_dataset("xss", "xss-0")
    assert XSS in d.row["description"]  # the CKAN mapping keeps tags in descriptions as plain text
    r = get(d.uri, BROWSER)
    assert r.status_code == 200 and "<script" not in r.text
    assert "Before &lt;script&gt;alert(1)&lt;/script&gt; after" in r.text


def test_withdrawn_dataset_is_a_tombstone_and_its_uri_is_gone(served):
    inv, base = served["inv"], served["base"]
    gone = inv.get_dataset("xss", "xss-2")
    assert gone.status == "withdrawn"
    g = parse(get(base + "/catalog/withdrawn", "text/turtle"))
    node = URIRef(gone.uri)
    assert (node, RDF.type, AS.Tombstone) in g and (node, AS.formerType, DCAT.Dataset) in g
    when = g.value(node, AS.deleted)
    assert isinstance(when, Literal) and when.toPython() == gone.withdrawn_at
    assert (URIRef(base + "/catalog/withdrawn"), HYDRA.member, node) in g
    js = get(base + "/catalog/withdrawn.json").json()
    assert [i["uri"] for i in js["items"]] == [gone.uri] and js["total"] == 1
    assert datetime.fromisoformat(js["items"][0]["withdrawn_at"].replace("Z", "+00:00")) == gone.withdrawn_at
    later = (gone.withdrawn_at + timedelta(seconds=1)).isoformat().replace("+", "%2B")
    assert get(base + f"/catalog/withdrawn.json?since={later}").json()["items"] == []
    r = get(gone.uri, "text/turtle")
    assert r.status_code == 410 and r.json()["withdrawn_at"]
    assert gone.uri not in walk(base + "/catalog")[0]


# --------------------------------------------------------------------------- exports


def test_csv_and_json_exports_match_the_inventory(served):
    from publish.server_export import COLUMNS

    inv, base = served["inv"], served["base"]
    rows = {d.uri: d.row for d in inv.iter_datasets(status="active")}
    js = get(base + "/export.json").json()
    assert {r["uri"]: r for r in js} == {u: {c: r.get(c) for c in COLUMNS} for u, r in rows.items()}
    text = get(base + "/export.csv").content.decode("utf-8")
    table = list(csv.DictReader(io.StringIO(text)))
    assert tuple(table[0].keys()) == COLUMNS
    assert {r["uri"] for r in table} == set(rows)
    for r in table:
        src = rows[r["uri"]]
        assert r["title"] == src["title"] and r["distribution_count"] == str(src["distribution_count"])
        assert r["formats"] == "; ".join(src["formats"])
    only = get(base + "/export.json?source=rec").json()
    assert {r["uri"] for r in only} == active_uris(inv, source_id="rec")


# --------------------------------------------------------------------------- SPARQL


def test_sparql_select_ask_construct_over_the_published_graph(served):
    base = served["base"]
    q = ("PREFIX dcat: <http://www.w3.org/ns/dcat#> SELECT (COUNT(DISTINCT ?d) AS ?n) "
         "WHERE { ?c dcat:dataset ?d . ?d a dcat:Dataset }")
    r = get(base + "/sparql", params={"query": q})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/sparql-results+json")
    assert int(r.json()["results"]["bindings"][0]["n"]["value"]) == len(active_uris(served["inv"]))
    form = requests.post(base + "/sparql", data={"query": "ASK { ?s a <http://www.w3.org/ns/dcat#Catalog> }"},
                         headers={"Accept": "application/sparql-results+xml"}, timeout=30)
    assert form.status_code == 200 and "<boolean>true</boolean>" in form.text
    body = requests.post(base + "/sparql", data=b"CONSTRUCT { ?d a ?t } WHERE { ?d a ?t } LIMIT 5",
                         headers={"Content-Type": "application/sparql-query", "Accept": "text/turtle"}, timeout=30)
    assert body.status_code == 200 and len(Graph().parse(data=body.text, format="turtle")) == 5
    csv_r = get(base + "/sparql", "text/csv", params={"query": "SELECT ?s WHERE { ?s a <http://www.w3.org/ns/dcat#Catalog> }"})
    assert csv_r.text.splitlines()[0] == "s" and len(csv_r.text.splitlines()) == 1 + 1 + 4  # catalogue + 4 sources


def test_sparql_updates_are_refused(served):
    base = served["base"]
    upd = "PREFIX dct: <http://purl.org/dc/terms/> INSERT DATA { <http://x/a> dct:title \"x\" }"
    for r in (get(base + "/sparql", params={"query": upd}),
              requests.post(base + "/sparql", data={"update": upd}, timeout=30),
              requests.post(base + "/sparql", data=upd.encode(), timeout=30,
                            headers={"Content-Type": "application/sparql-update"})):
        assert r.status_code == 403 and "read-only" in r.json()["error"]
    q = "ASK { <http://x/a> ?p ?o }"
    assert get(base + "/sparql", params={"query": q}).json()["boolean"] is False


def test_sparql_result_limit_and_timeout(served):
    base = served["base"]
    r = get(base + "/sparql", params={"query": "SELECT * WHERE { ?s ?p ?o }"})
    assert r.status_code == 200 and r.headers["x-sparql-truncated"] == "true"
    assert len(r.json()["results"]["bindings"]) == 25
    heavy = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
    started = time.monotonic()
    slow = get(base + "/sparql", params={"query": heavy})
    assert slow.status_code == 503 and "limit" in slow.json()["error"]
    assert time.monotonic() - started < 10
    assert get(base + "/sparql", params={"query": "ASK {}"}).status_code == 200  # still serving


# --------------------------------------------------------------------------- bad requests


@pytest.mark.parametrize("path,status,words", [
    ("/catalog?page=99", 404, "out of range"),
    ("/catalog?page=0", 400, "out of range"),
    ("/catalog?page=abc", 400, "page"),
    ("/catalog?page_size=51", 400, "page_size"),
    ("/catalog.xyz", 404, "format"),
    ("/catalog?format=yaml", 400, "unknown format"),
    ("/catalog?modified_since=yesterday", 400, "ISO 8601"),
    ("/catalog?source=nowhere", 400, "unknown source"),
    ("/catalog?institution=Nobody", 400, "unknown institution"),
    ("/catalog/withdrawn?since=2026-13-45", 400, "ISO 8601"),
    ("/dataset/rec/no-such-dataset", 404, "no dataset"),
    ("/catalog/nowhere", 404, "no source"),
    ("/sparql", 400, "no query"),
    ("/sparql?query=SELEKT", 400, "SPARQL"),
    ("/export.csv?modified_since=31/12/2025", 400, "ISO 8601"),
    ("/report", 404, "citycat report"),
])
def test_bad_requests_get_a_4xx_with_a_clear_message(served, path, status, words):
    r = get(served["base"] + path)
    assert r.status_code == status, r.text
    assert words.lower() in r.json()["error"].lower()


def test_unacceptable_accept_is_406(served):
    r = get(served["base"] + "/catalog", "image/png")
    assert r.status_code == 406 and "text/turtle" in r.json()["available"]


def test_report_is_served_once_written(served):
    report = served["data_dir"] / "report" / "index.html"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("<!doctype html><title>audit</title><p>report</p>", encoding="utf-8")
    try:
        r = get(served["base"] + "/report")
        assert r.status_code == 200 and "<title>audit</title>" in r.text
    finally:
        report.unlink()


def test_openapi_describes_every_endpoint_with_a_summary(served):
    spec = get(served["base"] + "/openapi.json").json()
    for path in ("/catalog", "/catalog.{ext}", "/catalog/withdrawn", "/dataset/{source_id}/{native_id}",
                 "/export.csv", "/export.json", "/sparql", "/report"):
        assert path in spec["paths"], path
        for op in spec["paths"][path].values():
            assert op.get("summary"), (path, op)


def test_a_load_changes_validators_and_pages_within_a_second(served):
    """Runs last (it adds a dataset): cached pages must never outlive the inventory state."""
    inv, base = served["inv"], served["base"]
    url = base + "/catalog.ttl?source=probe"
    before = get(url)
    etag = before.headers["etag"]
    src = inv.get_dataset("probe", "probe-1")
    uri = f"{base}/dataset/probe/probe-2"
    nt = src.nt.replace(src.uri, uri)
    row = {**src.row, "uri": uri, "native_id": "probe-2"}
    recs = [{"native_id": n, "uri": u, "deleted": False, "hash": hashlib.sha256(t.encode()).hexdigest(), "nt": t,
             "row": r, "source_modified": None, "warnings": []} for n, u, t, r in
            [("probe-1", src.uri, src.nt, src.row), ("probe-2", uri, nt, row)]]
    at = T0 + timedelta(days=2)
    inv.start_run(source_id="probe", run_id="probe-r2", mode="full", window_start=None, window_end=None,
                  started_at=at)
    inv.load(source_id="probe", run_id="probe-r2", records=recs, mode="full", complete_listing=True, loaded_at=at)
    inv.finish_run("probe-r2", status="success", finished_at=at)
    time.sleep(1.2)
    after = get(url, headers={"If-None-Match": etag})
    assert after.status_code == 200 and after.headers["etag"] != etag
    assert {str(s) for s in parse(after).subjects(RDF.type, DCAT.Dataset)} == {src.uri, uri}
    assert get(uri, "text/turtle").status_code == 200


def test_change_feed_router_is_mounted(served):
    pytest.importorskip("publish.server_changes", reason="issue 7's change feed module is not in this tree")
    r = get(served["base"] + "/catalog/changes?since=2020-01-01")
    assert r.status_code == 200 and "items" in r.json()
    assert get(served["base"] + "/catalog/changes?since=someday").status_code == 400


def test_sparql_refused_above_its_dataset_cap(served):
    port = free_port()
    proc = start_server(served["env"], port, "--sparql-max-datasets", "5")
    try:
        r = get(f"http://127.0.0.1:{port}/sparql", params={"query": "ASK {}"})
        assert r.status_code == 503 and "--sparql-max-datasets" in r.json()["error"]
        assert get(f"http://127.0.0.1:{port}/catalog").status_code == 200  # the feed is unaffected
    finally:
        stop_server(proc)
