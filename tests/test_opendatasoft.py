"""OpenDataSoft: the Explore v2.1 / v1 harvester against a local catalog server, the mapping of the real v1
sandbox response (one test per quirk), the documented mapping table, and a run end to end.

Data: tests/data/opendatasoft (README.md there: the v1 response is real; the v2.1 one is built from it)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import rdflib
from pydantic import ValidationError
from rdflib import Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS

import harvesters
from citycat import pipeline
from citycat.config import load_sources
from citycat.localcatalog import LocalCatalog
from citycat.runner import run_source
from conftest_portal import fast_http, sleeps  # noqa: F401
from expectations.shacl import validate_graph
from harvesters.base import FatalSourceError, HarvestWindow
from harvesters.http import TruncatedResponseError, UnexpectedContentError
from harvesters.opendatasoft import OpenDataSoftHarvester, odsql_window
from helpers import doc_table, feed_pages, follow, utc, write_kind_sources
from transforms import get_mapping, vocab
from transforms.base import Institution, MappingError, SourceContext
from transforms.opendatasoft import FIELD_MAP, map_dataset
from transforms.rdf import GSP
from transforms.row import FLAT_COLUMNS

DATA = Path(__file__).parent / "data" / "opendatasoft"
V1_DOC = json.loads((DATA / "ods_v1_search_etalab_sandbox.json").read_text(encoding="utf-8"))
V1 = {d["datasetid"]: d for d in V1_DOC["datasets"]}
V21 = json.loads((DATA / "explore_v21_built_from_v1.json").read_text(encoding="utf-8"))["results"]
CTX = SourceContext("ods", "Etalab sandbox", "https://etalab-sandbox.opendatasoft.com",
                    Institution("Etalab", "national"), "https://data.example.org/citycat")
FULL = HarvestWindow()
ORDER = ["test-a", "test-b", "test-c", "test-d"]  # by modified, then id


def harvester(url: str, http, **options) -> OpenDataSoftHarvester:
    options.setdefault("requests_per_second", 100)
    return OpenDataSoftHarvester("ods", url, OpenDataSoftHarvester.Options(**options), http)


@pytest.fixture
def v21():
    with LocalCatalog("ods-v2.1", copy.deepcopy(V21)) as cat:
        yield cat


@pytest.fixture
def v1():
    with LocalCatalog("ods-v1", copy.deepcopy(V1_DOC["datasets"]), stated_total=V1_DOC["nhits"]) as cat:
        yield cat


# ---------------------------------------------------------------------------- harvester


def test_registered_under_its_kind():
    harvesters.load_builtin()
    assert harvesters.get("opendatasoft") is OpenDataSoftHarvester
    assert get_mapping("opendatasoft") is map_dataset


def test_v21_full_harvest_pages_by_offset_ordered_by_modified(v21, fast_http):
    h = harvester(v21.url, fast_http, page_size=3)
    got = list(h.records(FULL, "full"))
    assert [r.native_id for r in got] == ORDER
    assert got[0].payload == next(d for d in V21 if d["dataset_id"] == "test-a")  # as served
    assert [q["offset"] for _, q in v21.requests] == ["0", "3"]
    assert all(q["order_by"] == "modified,dataset_id" and "where" not in q for _, q in v21.requests)
    assert h.stats.complete_listing is True


def test_source_url_with_api_path_is_accepted(v21, fast_http):
    got = list(harvester(v21.url + "/api/explore/v2.1/catalog/datasets", fast_http).records(FULL, "full"))
    assert len(got) == 4


def test_v21_incremental_sends_odsql_window_and_rechecks(v21, fast_http):
    window = HarvestWindow(utc(2015, 4, 9, 10, 29), utc(2015, 4, 10, 9, 39, 13))
    got = list(harvester(v21.url, fast_http).records(window, "incremental"))
    assert [r.native_id for r in got] == ["test-b"]  # test-c/test-d at the (open) end are excluded
    assert v21.requests[0][1]["where"] == ("modified >= date'2015-04-09T10:29:00Z' AND "
                                           "modified < date'2015-04-10T09:39:13Z'")


def test_odsql_window_widens_to_whole_seconds():
    w = HarvestWindow(utc(2026, 1, 1, 0, 0, 0, 500), utc(2026, 1, 2, 0, 0, 0, 1))
    assert odsql_window(w) == "modified >= date'2026-01-01T00:00:00Z' AND modified < date'2026-01-02T00:00:01Z'"


def test_page_size_over_the_ods_cap_is_a_config_error():
    with pytest.raises(ValidationError, match="less than or equal to 100"):
        OpenDataSoftHarvester.Options(page_size=1000)


def test_v1_nhits_disagreeing_with_array_length_does_not_end_the_listing(v1, fast_http):
    """Quirk: the sandbox says nhits=3 and serves 4 datasets; trusting nhits would drop test-a."""
    h = harvester(v1.url, fast_http, api_version="v1", page_size=3)
    got = list(h.records(FULL, "full"))
    assert sorted(r.native_id for r in got) == ORDER
    assert [q["start"] for _, q in v1.requests] == ["0", "3"] and h.stated_total == 3
    assert h.stats.complete_listing is True


def test_v1_window_is_client_side(v1, fast_http):
    h = harvester(v1.url, fast_http, api_version="v1")
    got = list(h.records(HarvestWindow(utc(2015, 4, 10), None), "incremental"))
    assert sorted(r.native_id for r in got) == ["test-c", "test-d"] and h.stats.skipped["outside window"] == 2


def test_repeated_page_is_a_loop(v21, fast_http):
    v21.inject("repeat_page", times=-1)
    with pytest.raises(FatalSourceError, match="paging loop"):
        list(harvester(v21.url, fast_http, page_size=2).records(FULL, "full"))


def test_500_then_recovery(v21, fast_http, sleeps):
    v21.inject("status", times=1, status=503)
    assert len(list(harvester(v21.url, fast_http).records(FULL, "full"))) == 4 and len(sleeps.waits) == 1


def test_truncated_body_is_a_clear_typed_error(v21, fast_http):
    v21.inject("truncate", times=-1)
    with pytest.raises(TruncatedResponseError, match="truncated body"):
        list(harvester(v21.url, fast_http).records(FULL, "full"))


def test_html_page_and_v1_only_portal_are_named(v1, fast_http):
    v1.inject("html200")
    with pytest.raises(UnexpectedContentError, match="HTML page"):
        list(harvester(v1.url, fast_http, api_version="v1").records(FULL, "full"))
    v1.inject("body", data=b'{"nhits": 4, "datasets": []}')  # a v1 answer to a v2.1 client
    with pytest.raises(FatalSourceError, match="without a 'results' list.*api_version: v1"):
        list(harvester(v1.url, fast_http).records(FULL, "full"))


def test_dataset_without_id_is_reported_and_listing_not_complete(fast_http):
    items = copy.deepcopy(V21[:1]) + [{"metas": {"default": {"title": "x", "modified": "2015-04-09T10:29:11+00:00"}}}]
    with LocalCatalog("ods-v2.1", items) as cat:
        h = harvester(cat.url, fast_http)
        got = list(h.records(FULL, "full"))
    assert [r.native_id for r in got] == ["test-b"]
    assert len(h.stats.errors) == 1 and "field=dataset_id" in h.stats.errors[0]
    assert h.stats.complete_listing is False


# ---------------------------------------------------------------------------- mapping: one test per v1 quirk


def test_keyword_and_theme_string_or_list():
    b, a = map_dataset(V1["test-b"], CTX), map_dataset(V1["test-a"], CTX)
    assert b.row["keywords"][0] == "keyword1"  # "keyword": "keyword1"
    assert a.row["keywords"][:2] == ["keyword1", "keyword2"]  # "keyword": [...]


def test_comma_joined_theme_string_is_one_theme_not_split():
    m = map_dataset(V1["test-b"], CTX)
    assert "Spatial planning, Town planning, Buildings, Equipment, Housing" in m.row["keywords"]
    assert "Town planning" not in m.row["keywords"] and m.row["themes"] == []
    a = map_dataset(V1["test-a"], CTX)  # a list of themes, each a label with commas
    assert a.row["themes"] == ["EDUC", "ENVI"]


def test_visibility_domain_is_public():
    assert map_dataset(V1["test-c"], CTX).row["access_rights"] == vocab.EU + "access-right/PUBLIC"
    restricted = dict(copy.deepcopy(V1["test-c"]))
    restricted["metas"]["visibility"] = "restricted"
    assert map_dataset(restricted, CTX).row["access_rights"] == vocab.EU + "access-right/RESTRICTED"


def test_inspire_bbox_as_strings_becomes_a_wkt_bbox():
    m = map_dataset(V1["test-d"], CTX)
    g = m.graph()
    loc = g.value(URIRef(m.uri), DCTERMS.spatial)
    assert g.value(loc, DCAT.bbox) == Literal("POLYGON((0.1568 46.4944,0.5084 46.4944,0.5084 46.6848,0.1568 46.6848,"
                                              "0.1568 46.4944))", datatype=GSP.wktLiteral)
    assert m.row["spatial"] == "0.1568,46.4944,0.5084,46.6848"
    assert (m.row["contact_name"], m.row["contact_email"]) == ("ACME", "tnt@acme.com")


def test_brace_wrapped_file_identifier_is_unwrapped():
    g = map_dataset(V1["test-d"], CTX).graph()
    assert set(map(str, g.objects(None, DCTERMS.identifier))) >= {"test-d", "73E--sfA386709"}


def test_html_description_becomes_plain_text():
    assert map_dataset(V1["test-a"], CTX).row["description"] == "test-a-description"


def test_null_field_description_is_harmless():
    assert V1["test-a"]["fields"][0]["description"] is None
    m = map_dataset(V1["test-a"], CTX)
    assert set(m.row) == set(FLAT_COLUMNS) and "toto" not in m.ntriples()


def test_licence_as_a_label_is_kept_and_reported_when_unknown():
    m = map_dataset(V1["test-a"], CTX)
    assert (m.row["licence_label"], m.row["licence_uri"]) == ("Licence Ouverte (Etalab)", None)
    assert any(w.startswith("default.license:") for w in m.warnings)
    odbl = copy.deepcopy(V1["test-a"])
    odbl["metas"]["license"] = "Open Database License (ODbL)"
    assert map_dataset(odbl, CTX).row["licence_uri"] == vocab.EU + "licence/ODC_BL"


def test_exports_and_records_api_with_geojson_only_for_geo_datasets():
    d, a, c = (map_dataset(V1[k], CTX).row for k in ("test-d", "test-a", "test-c"))
    base = "https://etalab-sandbox.opendatasoft.com/api/records/1.0/download/?dataset=test-d&format="
    assert d["download_urls"] == [base + "csv", base + "json", base + "geojson"]
    assert d["offer"] == ["api", "download"] and d["formats"] == ["CSV", "GEOJSON", "JSON"]
    assert len(a["download_urls"]) == 2
    assert c["distribution_count"] == 0 and c["offer"] == ["request-only"]  # has_records: false


def test_v21_and_v1_shapes_map_alike_except_addresses():
    for built in V21:
        new, old = map_dataset(built, CTX).row, map_dataset(V1[built["dataset_id"]], CTX).row
        for k in FLAT_COLUMNS:
            if k not in ("access_urls", "download_urls"):
                assert new[k] == old[k], (built["dataset_id"], k)
    assert map_dataset(V21[3], CTX).row["access_urls"][-1] == \
        "https://etalab-sandbox.opendatasoft.com/api/explore/v2.1/catalog/datasets/test-a/records"


def test_shapes_pass_with_a_description_and_name_the_gap_without_one():
    assert validate_graph(map_dataset(V1["test-a"], CTX).graph()).conforms
    result = validate_graph(map_dataset(V1["test-b"], CTX).graph())
    assert not result.conforms and result.violations == 1
    assert "dcterms:description" in result.messages[0] and "Less than 1" in result.messages[0]


def test_unmappable_payloads_name_source_record_and_field():
    no_title = copy.deepcopy(V21[0])
    del no_title["metas"]["default"]["title"]
    with pytest.raises(MappingError, match="source=ods, record=test-b, field=default.title"):
        map_dataset(no_title, CTX)
    with pytest.raises(MappingError, match="field=metas"):
        map_dataset({"dataset_id": "x"}, CTX)


# ---------------------------------------------------------------------------- the documented table


def _doc_table() -> dict[str, tuple[str, ...]]:
    return doc_table("mapping-opendatasoft.md", after="## Mapping", sep=" | ")


def _full_dataset() -> dict:
    """The v2.1 test-d with every documented field filled (derived here, not recorded)."""
    ds = copy.deepcopy(V21[2])
    ds["metas"]["default"].update(description="<p>Sandbox <b>points</b></p>", keyword=["geo"],
                                  theme=["Transport, Mobility"], license="ODbL",
                                  license_url="https://opendatacommons.org/licenses/odbl/1.0/", publisher="Etalab",
                                  references="https://www.data.gouv.fr")
    ds["metas"]["dcat"] = {"issued": "2015-04-01", "created": "2015-03-01", "accrualperiodicity": "monthly",
                           "creator": "ACME", "contact_name": "Open data team", "contact_email": "opendata@acme.com",
                           "spatial": "Poitiers", "temporal_coverage_start": "2014-01-01",
                           "temporal_coverage_end": "2014-12-31", "conforms_to": "https://schema.data.gouv.fr/x/"}
    ds["attachments"] = [{"id": "notice_pdf", "title": "Notice", "mimetype": "application/pdf"}]
    return ds


def _missing(ds: dict) -> list[str]:
    m = map_dataset(ds, CTX)
    g, node = m.graph(), URIRef(m.uri)
    return [f"{f} -> {p}" for f, paths in FIELD_MAP.items() for p in paths if not follow(g, node, p)]


def test_doc_table_equals_field_map():
    assert _doc_table() == FIELD_MAP and list(_doc_table()) == list(FIELD_MAP)


def test_every_documented_path_appears_for_the_full_dataset():
    assert _missing(_full_dataset()) == []
    assert validate_graph(map_dataset(_full_dataset(), CTX).graph()).conforms


def test_the_path_check_can_fail():
    ds = _full_dataset()
    ds["metas"]["dcat"]["accrualperiodicity"] = "whenever"
    assert "dcat.accrualperiodicity -> dct:accrualPeriodicity" in _missing(ds)


# ---------------------------------------------------------------------------- end to end


def write_sources(path: Path, url: str, **options) -> Path:
    return write_kind_sources(path, "opendatasoft", "ods", url, title="Etalab sandbox", institution="Etalab",
                              institution_kind="national", **options)


def test_run_source_loads_inventory_and_feed_pages_validate(env_inventory, v21):
    tmp_path, inv = env_inventory
    sources = load_sources(write_sources(tmp_path / "sources.yaml", v21.url, page_size=3))
    t0 = utc(2026, 11, 20, 2)
    out = run_source(sources.sources[0], sources, run_id="o1", mode="full", now=t0, data_dir=tmp_path / "data",
                     inventory=inv)
    assert (out.status, out.created, out.failed) == ("success", 4, 0), out.reason
    assert inv.count_datasets(status="active", source_id="ods") == 4
    feed = pipeline.publish(sources, inventory=inv, data_dir=tmp_path / "data", generated_at=t0)
    assert feed["datasets"] == 4
    g = rdflib.Graph()
    for page in feed_pages(tmp_path / "data"):
        g.parse(page, format="turtle")
    result = validate_graph(g)
    # the sandbox's test-b/c/d have no description: exactly those violations, nothing else
    assert result.violations == 3 and all("description" in m for m in result.messages if "Violation" in m)
