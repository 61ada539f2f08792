"""Socrata: the Discovery API harvester against a local catalog server, the mapping of the real Seattle view
(one test per quirk), the documented mapping table, and a run end to end through ``run_source``.

Data: tests/data/socrata (README.md there: the view is real; the catalog entries are built from it)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import rdflib
from rdflib import Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, XSD

import harvesters
from citycat import pipeline
from citycat.config import load_sources
from citycat.localcatalog import LocalCatalog
from citycat.runner import run_source
from conftest_portal import fast_http, sleeps  # noqa: F401
from expectations.shacl import validate_graph
from harvesters.base import FatalSourceError, HarvestWindow
from harvesters.http import TruncatedResponseError, UnexpectedContentError
from harvesters.socrata import SocrataHarvester, parse_socrata_time
from helpers import assert_pages_conform, doc_table, feed_pages, follow, utc, write_kind_sources
from transforms import get_mapping, vocab
from transforms.base import Institution, MappingError, SourceContext
from transforms.row import FLAT_COLUMNS
from transforms.socrata import FIELD_MAP, map_asset

DATA = Path(__file__).parent / "data" / "socrata"
VIEW = json.loads((DATA / "seattle_socrata_view_3k2p-39jp.json").read_text(encoding="utf-8"))
ENTRIES = json.loads((DATA / "catalog_v1_built_from_view.json").read_text(encoding="utf-8"))["results"]
CTX = SourceContext("sea", "Seattle open data", "https://data.seattle.gov", Institution("City of Seattle", "council"),
                    "https://data.example.org/citycat")
FULL = HarvestWindow()


def harvester(url: str, http, **options) -> SocrataHarvester:
    options.setdefault("requests_per_second", 100)
    options.setdefault("domain", "data.seattle.gov")
    return SocrataHarvester("sea", url, SocrataHarvester.Options(**options), http)


@pytest.fixture
def portal():
    with LocalCatalog("socrata", copy.deepcopy(ENTRIES), views={"3k2p-39jp": VIEW}) as cat:
        yield cat


def catalog_requests(cat: LocalCatalog) -> list[dict]:
    return [q for p, q in cat.requests if p == "/api/catalog/v1"]


# ---------------------------------------------------------------------------- harvester


def test_registered_under_its_kind():
    harvesters.load_builtin()
    assert harvesters.get("socrata") is SocrataHarvester
    assert get_mapping("socrata") is map_asset


def test_full_harvest_pages_by_offset_and_attaches_derived_views(portal, fast_http):
    h = harvester(portal.url, fast_http, page_size=2)
    got = list(h.records(FULL, "full"))
    assert [r.native_id for r in got] == ["3k2p-39jp", "kzjm-xkqj"]
    parent = got[0].payload
    assert [d["resource"]["id"] for d in parent["derived"]] == ["9x2a-7kq4", "m4p3-2hs8"]
    assert got[1].payload is not None and "resource" in got[1].payload  # nothing to add: the entry as served
    assert h.stats.skipped == {"type:story": 1, "derived view without harvested parent": 1}
    assert h.stats.complete_listing is True and h.stats.pages == 3
    reqs = catalog_requests(portal)
    assert [q["offset"] for q in reqs] == ["0", "2", "4"]
    assert all(q["domains"] == "data.seattle.gov" and q["order"] == "updatedAt" for q in reqs)


def test_scroll_paging_sends_last_id_and_gets_the_same_records(portal, fast_http):
    got = list(harvester(portal.url, fast_http, page_size=2, paging="scroll").records(FULL, "full"))
    assert sorted(r.native_id for r in got) == ["3k2p-39jp", "kzjm-xkqj"]
    ids = sorted(e["resource"]["id"] for e in ENTRIES)
    # the 4th page is empty
    assert [q.get("scroll_id") for q in catalog_requests(portal)] == [None, ids[1], ids[3], ids[5]]


def test_repeated_page_is_a_loop(portal, fast_http):
    portal.inject("repeat_page", times=-1, path="/api/catalog/v1")
    with pytest.raises(FatalSourceError, match="paging loop"):
        list(harvester(portal.url, fast_http, page_size=2).records(FULL, "full"))


def test_repeated_scroll_id_is_a_loop(portal, fast_http):
    portal.inject("repeat_page", times=-1, path="/api/catalog/v1")
    with pytest.raises(FatalSourceError, match="resumption token .* seen before"):
        list(harvester(portal.url, fast_http, page_size=2, paging="scroll").records(FULL, "full"))


def test_500_then_recovery(portal, fast_http, sleeps):
    portal.inject("status", times=1, path="/api/catalog/v1", status=500)
    got = list(harvester(portal.url, fast_http, page_size=2).records(FULL, "full"))
    assert len(got) == 2 and len(sleeps.waits) == 1


def test_truncated_body_is_a_clear_typed_error(portal, fast_http):
    portal.inject("truncate", times=-1, path="/api/catalog/v1")
    with pytest.raises(TruncatedResponseError, match="truncated body"):
        list(harvester(portal.url, fast_http).records(FULL, "full"))


def test_html_page_and_wrong_api_are_named(portal, fast_http):
    portal.inject("html200", path="/api/catalog/v1")
    with pytest.raises(UnexpectedContentError, match="HTML page"):
        list(harvester(portal.url, fast_http).records(FULL, "full"))
    portal.inject("body", path="/api/catalog/v1", data=b'{"datasets": []}')
    with pytest.raises(FatalSourceError, match="without a 'results' list.*Discovery API"):
        list(harvester(portal.url, fast_http).records(FULL, "full"))


def test_fetch_views_adds_the_view_and_a_missing_view_is_counted(portal, fast_http):
    h = harvester(portal.url, fast_http, fetch_views=True)
    got = {r.native_id: r.payload for r in h.records(FULL, "full")}
    assert got["3k2p-39jp"]["view"]["licenseId"] == "CC0_10"
    assert "view" not in got["kzjm-xkqj"] and h.stats.skipped["view HTTP 404"] == 1


def test_incremental_window_is_client_side_and_a_changed_chart_brings_its_parent(portal, fast_http):
    h = harvester(portal.url, fast_http)
    got = list(h.records(HarvestWindow(utc(2015, 6, 4), utc(2015, 6, 5)), "incremental"))
    # 3k2p-39jp itself changed on 2015-06-03, its chart on 2015-06-04; kzjm-xkqj on 2015-06-05 (end is open)
    assert [r.native_id for r in got] == ["3k2p-39jp"]
    assert got[0].source_modified == "2015-06-04T10:00:00+00:00"
    assert h.stats.skipped["outside window"] == 1 and h.stats.complete_listing is False


def test_entry_without_id_is_reported_and_listing_not_complete(fast_http):
    entries = copy.deepcopy(ENTRIES[:1]) + [{"resource": {"name": "no id", "type": "dataset"},
                                              "metadata": {"domain": "data.seattle.gov"}}]
    with LocalCatalog("socrata", entries) as cat:
        h = harvester(cat.url, fast_http)
        got = list(h.records(FULL, "full"))
    assert [r.native_id for r in got] == ["3k2p-39jp"]
    assert len(h.stats.errors) == 1 and "field=resource.id" in h.stats.errors[0]
    assert h.stats.complete_listing is False


def test_parse_socrata_time_reads_epoch_and_iso():
    assert parse_socrata_time(1390334039) == utc(2014, 1, 21, 19, 53, 59)
    assert parse_socrata_time(1390334039000) == utc(2014, 1, 21, 19, 53, 59)
    assert parse_socrata_time("2015-06-03T16:56:08.000Z") == utc(2015, 6, 3, 16, 56, 8)
    assert parse_socrata_time("soon") is None


# ---------------------------------------------------------------------------- mapping: one test per quirk


def mapped_view():
    return map_asset(copy.deepcopy(VIEW), CTX)


def test_epoch_timestamps_become_utc_date_times():
    m = mapped_view()
    g, ds = m.graph(), URIRef(m.uri)
    assert g.value(ds, DCTERMS.issued) == Literal("2014-01-21T19:53:59+00:00", datatype=XSD.dateTime)
    # modified = the later of rowsUpdatedAt (1433350568) and viewLastModified (1390334301)
    assert m.row["modified"] == "2015-06-03T16:56:08+00:00"


def test_licence_id_cc0_10_with_license_dict_is_eu_cc0():
    m = mapped_view()
    assert m.row["licence_uri"] == vocab.EU + "licence/CC0" and m.row["licence_open"] is True
    assert m.row["licence_label"] == "Creative Commons 1.0 Universal"
    view = copy.deepcopy(VIEW)
    del view["license"]  # the id alone is enough
    assert map_asset(view, CTX).row["licence_uri"] == vocab.EU + "licence/CC0"


def test_nested_custom_fields_refresh_frequency_hourly():
    m = mapped_view()
    assert m.row["frequency"] == "HOURLY"
    g = m.graph()
    creator = g.value(URIRef(m.uri), DCTERMS.creator)
    assert str(g.value(creator, FOAF.name)) == "Department of Information Technology"


def test_mojibake_bom_in_column_stats_never_reaches_the_graph():
    assert VIEW["columns"][0]["cachedContents"]["largest"].startswith("ï»¿")
    assert "ï»¿" not in mapped_view().ntriples()


def test_category_free_string_is_a_keyword_and_a_theme_only_where_vocab_maps_it():
    m = mapped_view()
    assert "Public Safety" in m.row["keywords"] and m.row["themes"] == ["JUST"]
    view = dict(copy.deepcopy(VIEW), category="Neighborhood Stuff")
    other = map_asset(view, CTX)
    assert "Neighborhood Stuff" in other.row["keywords"] and other.row["themes"] == []


def test_relative_image_urls_are_not_linked():
    assert VIEW["owner"]["profileImageUrlLarge"].startswith("/images/")
    nt = mapped_view().ntriples()
    assert "/images/" not in nt and "ccZero.png" not in nt
    assert all(str(t).startswith(("http", "mailto:")) for tr in mapped_view().triples for t in tr
               if isinstance(t, URIRef))


def test_rdf_subject_zero_is_not_the_dataset_uri():
    m = mapped_view()
    assert m.uri == "https://data.example.org/citycat/dataset/sea/3k2p-39jp"
    assert any(w.startswith("metadata.rdfSubject:") for w in m.warnings)
    view = copy.deepcopy(VIEW)
    view["metadata"]["rdfSubject"] = "https://data.seattle.gov/id/3k2p-39jp"
    assert map_asset(view, CTX).uri == "https://data.seattle.gov/id/3k2p-39jp"


def test_attachment_with_blob_id_only_is_linked_at_its_files_url():
    g = mapped_view().graph()
    pages = [str(p) for p in g.objects(None, FOAF.page)]
    assert pages == [("https://data.seattle.gov/api/views/3k2p-39jp/files/98E5052D-5E37-4BB4-B903-50BD73C97CCC"
                      "?download=true&filename=CadDataReleaserules.docx")]


def test_distributions_soda_api_and_csv_export():
    m = mapped_view()
    assert m.row["access_urls"] == ["https://data.seattle.gov/resource/3k2p-39jp.json",
                                    "https://data.seattle.gov/api/views/3k2p-39jp/rows.csv?accessType=DOWNLOAD"]
    assert m.row["download_urls"] == m.row["access_urls"][1:]
    assert m.row["offer"] == ["api", "download"] and m.row["formats"] == ["CSV", "JSON"]
    assert set(m.row) == set(FLAT_COLUMNS)


def test_derived_views_are_visualisation_distributions_not_datasets():
    m = map_asset({"discovery": ENTRIES[0], "view": VIEW, "derived": ENTRIES[1:3]}, CTX)
    assert m.row["offer"] == ["api", "download", "visualisation"] and m.row["distribution_count"] == 4
    assert "https://data.seattle.gov/d/9x2a-7kq4" in m.row["access_urls"]
    assert validate_graph(m.graph()).conforms


@pytest.mark.parametrize("payload", [VIEW, ENTRIES[0], ENTRIES[5]], ids=["view", "entry", "entry-2"])
def test_real_and_built_payloads_pass_the_dcat_ap_shapes(payload):
    result = validate_graph(map_asset(copy.deepcopy(payload), CTX).graph())
    assert result.conforms, result.messages


def test_unmappable_payloads_name_source_record_and_field():
    with pytest.raises(MappingError, match=r"source=sea, record=3k2p-39jp, field=name"):
        map_asset(dict(copy.deepcopy(VIEW), name="  "), CTX)
    with pytest.raises(MappingError, match="field=payload"):
        map_asset(["not", "an", "asset"], CTX)


def test_discovery_only_licence_name_and_contact_email():
    entry = copy.deepcopy(ENTRIES[5])
    entry["resource"]["contact_email"] = "opendata@seattle.gov"
    m = map_asset(entry, CTX)
    assert m.row["licence_uri"] == vocab.EU + "licence/CC0" and m.row["contact_email"] == "opendata@seattle.gov"
    assert m.row["modified"] == "2015-06-05T12:00:00+00:00"


# ---------------------------------------------------------------------------- the documented table


def _doc_table() -> dict[str, tuple[str, ...]]:
    return doc_table("mapping-socrata.md", after="## Mapping", sep=" | ")


def _full_payload() -> dict:
    """The real view and catalog entry with every documented field filled (derived here, not recorded)."""
    view = copy.deepcopy(VIEW)
    view["attributionLink"] = "https://www.seattle.gov/police"
    view["metadata"]["rdfSubject"] = "https://data.seattle.gov/id/3k2p-39jp"
    entry = copy.deepcopy(ENTRIES[0])
    entry["resource"]["contact_email"] = "opendata@seattle.gov"
    return {"discovery": entry, "view": view, "derived": ENTRIES[1:3]}


def _missing(payload: dict) -> list[str]:
    m = map_asset(payload, CTX)
    g, ds = m.graph(), URIRef(m.uri)
    return [f"{f} -> {p}" for f, paths in FIELD_MAP.items() for p in paths
            if not (m.uri == payload["view"]["metadata"]["rdfSubject"] if p == "@id" else follow(g, ds, p))]


def test_doc_table_equals_field_map():
    assert _doc_table() == FIELD_MAP and list(_doc_table()) == list(FIELD_MAP)


def test_every_documented_path_appears_for_the_full_payload():
    assert _missing(_full_payload()) == []


def test_the_path_check_can_fail():
    payload = _full_payload()
    payload["view"]["metadata"]["custom_fields"]["Refresh Frequency"]["Frequency"] = "whenever"
    payload["discovery"]["classification"]["domain_metadata"] = []
    assert any(m.startswith("metadata.custom_fields.*.Frequency") for m in _missing(payload))


# ---------------------------------------------------------------------------- end to end


def write_sources(path: Path, url: str, **options) -> Path:
    return write_kind_sources(path, "socrata", "sea", url, title="Seattle", institution="City of Seattle",
                              institution_kind="council", **options)


def test_run_source_loads_inventory_and_feed_conforms(env_inventory, portal):
    tmp_path, inv = env_inventory
    sources = load_sources(write_sources(tmp_path / "sources.yaml", portal.url, domain="data.seattle.gov",
                                         page_size=2, fetch_views=True))
    t0 = utc(2026, 11, 20, 2)
    out = run_source(sources.sources[0], sources, run_id="s1", mode="full", now=t0, data_dir=tmp_path / "data",
                     inventory=inv)
    assert (out.status, out.created, out.failed) == ("success", 2, 0), out.reason
    assert inv.count_datasets(status="active", source_id="sea") == 2
    feed = pipeline.publish(sources, inventory=inv, data_dir=tmp_path / "data", generated_at=t0)
    assert feed["datasets"] == 2
    pages = feed_pages(tmp_path / "data")
    assert pages
    assert_pages_conform(pages)
    g = rdflib.Graph()
    for page in pages:
        g.parse(page, format="turtle")
    assert len(set(g.subjects(rdflib.RDF.type, DCAT.Dataset))) == 2  # charts and maps are not datasets
