"""MQA points on three real records, worked out by hand per indicator, plus the method's edges.

Records (already shipped in tests/data for the mapping tests, see the README.md in each folder):
- data.gov.uk CKAN package "HM Land Registry INSPIRE View Service Metadata" (ckan_mapping/),
- Rostock's DCAT-AP.de dataset "Liefer- und Abholservices (Gastronomie)" (dcat/),
- the first dataset of the CFTC data.json, "Commitment of Traders" (dcat_us/),
each mapped by the real mapping (transforms.get_mapping) to the canonical N-Triples the inventory
stores. The expected points are read off those graphs (what each record has is in the comments).
"""

from __future__ import annotations

import json
from pathlib import Path

import pyoxigraph as ox
import pytest
from rdflib import Graph

from expectations.mqa import DIMENSIONS, MqaScore, aggregate, method, score_dataset
from expectations.ntparse import index
from harvesters.base import RawRecord
from harvesters.dcat import DcatHarvester, PageGraph, ntriples
from transforms import get_mapping
from transforms.base import Institution, SourceContext

DATA = Path(__file__).parent / "data"
BASE = "https://data.example.org/citycat"
ROSTOCK_RES = "https://geo.sv.rostock.de/download/opendata/lieferservices/lieferservices"


def _ckan_nt(sample: str, source: str, title: str, url: str) -> str:
    pkg = json.loads((DATA / "ckan_mapping" / sample).read_text("utf-8"))["result"]
    ctx = SourceContext(source, title, url, Institution("Test Authority", "council"), BASE)
    rec = RawRecord(source, pkg["id"], "2026-01-01T00:00:00+00:00", "application/json", pkg,
                    source_modified=pkg.get("metadata_modified"))
    return get_mapping("ckan")(rec, ctx).ntriples()


def dgu_nt() -> str:
    return _ckan_nt("dgu_package_show_inspire.json", "dgu", "data.gov.uk", "https://data.gov.uk")


def ckan22_nt() -> str:
    return _ckan_nt("ckan22_package_show_no_resources.json", "c22", "CKAN 2.2", "https://ckan.example.org")


def rostock_nt() -> str:
    body = (DATA / "dcat" / "rostock_dcatde_dataset.rdf").read_bytes()
    graph = PageGraph([q.triple for q in ox.parse(body, format=ox.RdfFormat.RDF_XML, base_iri="http://example.org/d")])
    (node,) = graph.datasets()
    nt = ntriples(graph.description(node))
    native = DcatHarvester._native_id(graph, node, nt)
    ctx = SourceContext("hro", "Rostock", "https://www.opendata-hro.de", Institution("Rostock", "council"), BASE)
    rec = RawRecord("hro", native, "2026-01-01T00:00:00+00:00", "application/n-triples", nt,
                    source_modified=graph.record_modified().get(node))
    return get_mapping("dcat")(rec, ctx).ntriples()


def cftc_nt() -> str:
    ds = json.loads((DATA / "dcat_us" / "cftc_data.json").read_text("utf-8"))["dataset"][0]
    ctx = SourceContext("cftc", "CFTC", "https://www.cftc.gov/data.json", Institution("CFTC", "national"), BASE)
    rec = RawRecord("cftc", ds["identifier"], "2026-01-01T00:00:00+00:00", "application/json", ds)
    return get_mapping("dcat-us")(rec, ctx).ntriples()


@pytest.fixture(scope="module")
def dgu() -> str:
    return dgu_nt()


@pytest.fixture(scope="module")
def rostock() -> str:
    return rostock_nt()


@pytest.fixture(scope="module")
def cftc() -> str:
    return cftc_nt()


def _check(score: MqaScore, expected: dict[str, int | None]) -> None:
    assert score.indicators == expected
    assert score.total == sum(v for v in expected.values() if v is not None)
    for d in DIMENSIONS:
        want = sum(v or 0 for i, v in expected.items() if method().by_name[i].dimension == d)
        assert score.dimensions[d] == want, d
    assert score.not_checked == [i for i, v in expected.items() if v is None]


# ----------------------------------------------------------------------------- three real records


def test_dgu_inspire_view_service_points_per_indicator(dgu):
    expected = {
        "Keyword usage": 30,  # 14 dcat:keyword (Cadastral, Cadastre, ...)
        "Categories": 0,  # no dcat:theme: the package has no group that maps to an EU data theme
        "Geo search": 20,  # dct:spatial from the INSPIRE bbox extra
        "Time based search": 0,  # no temporal extent in the package
        "AccessURL accessibility": None,  # the WMS GetCapabilities URL was not checked (no link data)
        "DownloadURL": 0,  # the one resource is a WMS service: accessURL only
        "DownloadURL accessibility": 0,  # no download URL, so nothing can be accessible (decided, not unchecked)
        "Format": 20,  # dct:format file-type/WMS_SRVC
        "Media type": 0,  # a WMS has no dcat:mediaType
        "Format / Media type from vocabulary": 0,  # needs both format and media type aligned; media type missing
        "Non-proprietary": 20,  # WMS_SRVC is on data.europa.eu's non-proprietary list
        "Machine readable": 0,  # ... but not on its machine-readable list
        "DCAT-AP compliance": None,  # SHACL not run here
        "Licence information": 0,  # the licence extra is free text ("PSMA licence terms ...") -> no dct:license
        "Licence vocabulary": 0,  # no licence at all
        "Access restrictions": 10,  # dct:accessRights access-right/PUBLIC
        "Access restrictions vocabulary": 5,  # ... from the EU access-right table
        "Contact point": 20,  # dcat:contactPoint (HM Land Registry, e-mail)
        "Publisher": 10,  # dct:publisher
        "Rights": 0,  # no dct:rights on the distribution
        "File size": 0,  # no dcat:byteSize (a service)
        "Date of issue": 5,  # the resource's own dct:issued (created 2018-11-16)
        "Modification date": 5,  # the resource has none; the dataset's dct:modified 2017-07-17 is the fallback
    }
    s = score_dataset(dgu)
    _check(s, expected)
    assert (s.total, s.band) == (145, "Sufficient")
    assert s.checked_max == 405 - 50 - 30  # AccessURL accessibility and DCAT-AP compliance not checked


def test_rostock_dcatde_points_per_indicator(rostock):
    expected = {
        "Keyword usage": 30,  # 8 keywords (gastronomiebetriebe, handel, ...)
        "Categories": 30,  # dcat:theme data-theme/ECON
        "Geo search": 20,  # two dct:spatial (geometry and political geocoding)
        "Time based search": 0,  # no dct:temporal
        "AccessURL accessibility": None,  # 9 distributions, access URLs not checked
        "DownloadURL": 20,  # the GML, XLSX, KML, GeoJSON and CSV files carry dcat:downloadURL
        "DownloadURL accessibility": None,  # download URLs exist but were not checked
        # interoperability: the best single distribution is the CSV one (format CSV + media type text/csv,
        # both from their vocabularies, on both data.europa.eu lists = 80); GeoJSON ties, GML/XLSX score less.
        "Format": 20,
        "Media type": 10,
        "Format / Media type from vocabulary": 10,
        "Non-proprietary": 20,
        "Machine readable": 20,
        "DCAT-AP compliance": None,
        "Licence information": 20,  # every distribution has dct:license dcat-ap.de/def/licenses/cc-zero
        "Licence vocabulary": 10,  # not an EU IRI, but data.europa.eu's licence list maps it (owl:sameAs) to CC0
        "Access restrictions": 10,  # access-right/PUBLIC
        "Access restrictions vocabulary": 5,
        "Contact point": 20,  # dcat:contactPoint
        "Publisher": 10,  # the city of Rostock
        "Rights": 5,  # distributions carry dct:rights (the same licence IRI)
        "File size": 5,  # byteSize on the file distributions (e.g. CSV 60744)
        "Date of issue": 5,  # distributions' own dct:issued
        "Modification date": 5,  # distributions' own dct:modified
    }
    s = score_dataset(rostock)
    _check(s, expected)
    assert (s.total, s.band) == (275, "Good")


def test_cftc_commitment_of_traders_points_per_indicator(cftc):
    expected = {
        "Keyword usage": 30,  # "commitment of traders", "cot", "open interest"
        "Categories": 0,  # DCAT-US theme absent
        "Geo search": 0,  # no spatial
        "Time based search": 0,  # no temporal
        "AccessURL accessibility": None,  # the report's web page, not checked
        "DownloadURL": 0,  # the only distribution is a web page (accessURL)
        "DownloadURL accessibility": 0,  # no download URL
        "Format": 20,  # file-type/HTML
        "Media type": 10,  # text/html
        "Format / Media type from vocabulary": 10,  # HTML in the EU table, text/html registered at IANA
        "Non-proprietary": 20,  # HTML is on the non-proprietary list
        "Machine readable": 0,  # ... but not machine-readable
        "DCAT-AP compliance": None,
        "Licence information": 0,  # data.json gives no license for this dataset
        "Licence vocabulary": 0,
        "Access restrictions": 10,  # accessLevel "public" -> access-right/PUBLIC
        "Access restrictions vocabulary": 5,
        "Contact point": 20,  # Harold W. Hild
        "Publisher": 10,  # U.S. Commodity Futures Trading Commission
        "Rights": 0,
        "File size": 0,
        "Date of issue": 0,  # neither the distribution nor the dataset has dct:issued
        "Modification date": 0,  # "modified": "R/P1W" is a repeat interval, not a date: no dct:modified
    }
    s = score_dataset(cftc)
    _check(s, expected)
    assert (s.total, s.band) == (135, "Sufficient")


# ----------------------------------------------------------------------------- link and SHACL inputs


def test_link_results_fill_the_accessibility_indicators(rostock):
    ok = {f"{ROSTOCK_RES}.csv": True, "https://geo.sv.rostock.de/geodienste/lieferservices/wms": False}
    s = score_dataset(rostock, links=ok)
    assert s.indicators["AccessURL accessibility"] == 50  # the CSV's access URL (= its download URL) answered
    assert s.indicators["DownloadURL accessibility"] == 30
    assert s.total == 275 + 80


def test_all_links_failed_is_zero_and_partly_unchecked_stays_unknown(rostock):
    urls = [line.split(" ")[2][1:-1] for line in rostock.splitlines()
            if "#accessURL>" in line or "#downloadURL>" in line]
    failed = score_dataset(rostock, links={u: False for u in urls})
    assert failed.indicators["AccessURL accessibility"] == 0
    assert failed.indicators["DownloadURL accessibility"] == 0
    assert failed.not_checked == ["DCAT-AP compliance"]
    partly = score_dataset(rostock, links={urls[0]: False})  # the others might still answer
    assert partly.indicators["AccessURL accessibility"] is None


def test_shacl_verdict_gives_or_withholds_the_compliance_points(cftc):
    assert score_dataset(cftc, shacl_conforms=True).indicators["DCAT-AP compliance"] == 30
    assert score_dataset(cftc, shacl_conforms=False).indicators["DCAT-AP compliance"] == 0
    assert score_dataset(cftc, shacl_conforms=True).total == 135 + 30


def test_package_without_resources_scores_distribution_indicators_zero_not_unchecked():
    # CKAN 2.2 package with "resources": [] (a real quirk of old portals): nothing to reach, decided as 0
    s = score_dataset(ckan22_nt(), links={})
    for name in ("AccessURL accessibility", "DownloadURL", "DownloadURL accessibility", "Format", "Media type",
                 "Machine readable", "Licence information", "Date of issue", "Modification date"):
        assert s.indicators[name] == 0, name
    assert s.not_checked == ["DCAT-AP compliance"]


def test_interoperability_counts_one_distribution_not_the_sum(rostock):
    s = score_dataset(rostock, shacl_conforms=True)
    assert s.dimensions["interoperability"] == 110  # 80 (best distribution) + 30, never 9 x 80


# ----------------------------------------------------------------------------- the method itself


def test_shipped_table_adds_up_to_405_and_bands_cover_it():
    m = method()
    assert m.total_max == 405 and sum(m.dimension_max.values()) == 405
    assert [(m.band(t)) for t in (0, 120, 121, 220, 221, 350, 351, 405)] == [
        "Bad", "Bad", "Sufficient", "Sufficient", "Good", "Good", "Excellent", "Excellent"]
    assert len(m.indicators) == 23


def test_no_dataset_in_graph_is_a_clear_error():
    with pytest.raises(ValueError, match="dcat:Dataset"):
        score_dataset('<http://x/a> <http://purl.org/dc/terms/title> "x" .\n')


def test_lean_parser_reads_every_triple_rdflib_reads(dgu, rostock, cftc):
    for nt in (dgu, rostock, cftc):
        idx = index(nt)
        ours = sum(len(objs) for props in idx.values() for objs in props.values())
        assert ours == len(Graph().parse(data=nt, format="nt"))


def test_aggregate_means_and_bands(dgu, rostock, cftc):
    scores = [score_dataset(nt) for nt in (dgu, rostock, cftc)]
    agg = aggregate(scores)
    assert agg["count"] == 3
    assert agg["mean_total"] == round((145 + 275 + 135) / 3, 2)
    assert agg["bands"] == {"Excellent": 0, "Good": 1, "Sufficient": 2, "Bad": 0}
    assert agg["mean_dimensions"]["findability"] == round((50 + 80 + 30) / 3, 2)
    assert aggregate([])["count"] == 0 and aggregate([])["mean_total"] is None


# ----------------------------------------------------------------------------- quirks


def test_quirk_dcatde_licence_uri_counts_as_known_licence(rostock):
    # Rostock writes DCAT-AP.de's own licence IRI; data.europa.eu's list maps it (owl:sameAs) to EU CC0
    assert "<http://dcat-ap.de/def/licenses/cc-zero>" in rostock
    assert score_dataset(rostock).indicators["Licence vocabulary"] == 10
    unknown = rostock.replace("<http://dcat-ap.de/def/licenses/cc-zero>", "<https://opendata-hro.de/lizenz>")
    assert score_dataset(unknown).indicators["Licence vocabulary"] == 0
    assert score_dataset(unknown).indicators["Licence information"] == 20  # still set


def test_quirk_format_as_plain_literal_is_set_but_not_from_the_vocabulary(cftc):
    # derived from the CFTC record: the source wrote "HTML" as a string instead of the EU IRI
    lit = cftc.replace("<http://publications.europa.eu/resource/authority/file-type/HTML> .", '"HTML" .')
    s = score_dataset(lit)
    assert s.indicators["Format"] == 20 and s.indicators["Non-proprietary"] == 20
    assert s.indicators["Format / Media type from vocabulary"] == 0
