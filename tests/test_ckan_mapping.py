"""CKAN → DCAT-AP 3 mapping on recorded real packages; one regression test per real-world quirk.

Payloads: tests/data/ckan_mapping/ (README.md there). Where a test needs a field the two real packages
lack, it derives a payload from the data.gov.uk package in code (``_derived``) and says what it changed.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from rdflib import BNode, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, XSD

from harvesters.base import RawRecord
from transforms import get_mapping
from transforms.base import Institution, MappingError, SourceContext
from transforms.ckan import map_package
from transforms.rdf import GSP, LOCN, VCARD

DATA = Path(__file__).parent / "data" / "ckan_mapping"
BASE = "https://data.example.org/citycat"
CTX = SourceContext("dgu", "data.gov.uk", "https://data.gov.uk", Institution("Test Combined Authority", "combined authority"),
                    BASE)
EU = "http://publications.europa.eu/resource/authority/"


def _load(name: str) -> dict:
    return json.loads((DATA / name).read_text(encoding="utf-8"))["result"]


DGU = _load("dgu_package_show_inspire.json")
CKAN22 = _load("ckan22_package_show_no_resources.json")


def _record(pkg: dict, fetched_at: str = "2026-01-01T00:00:00+00:00", source_modified: str | None = None) -> RawRecord:
    return RawRecord("dgu", pkg.get("id") or pkg.get("name") or "", fetched_at, "application/json", pkg,
                     source_modified=source_modified or pkg.get("metadata_modified"))


def _map(pkg: dict):
    return map_package(_record(pkg), CTX)


def _derived(**top) -> dict:
    pkg = copy.deepcopy(DGU)
    pkg.update(top)
    return pkg


def _one(m, s, p):
    values = list(m.graph().objects(URIRef(str(s)), p))
    assert len(values) == 1, f"{p}: {values}"
    return values[0]


# ----------------------------------------------------------------------------- data.gov.uk INSPIRE package


def test_dgu_licence_json_list_inside_extras_string():
    m = _map(DGU)
    assert m.row["licence_uri"] is None and m.row["licence_open"] is None
    # the label is the decoded first list entry: escaped quotes and \n restored
    assert m.row["licence_label"].startswith("The data supplied through this service is subject to PSMA licence")
    assert '"Use of this data' in m.row["licence_label"] and "\nc Crown copyright" in m.row["licence_label"]
    assert any(w.startswith("extras.licence: unrecognised licence") for w in m.warnings)
    assert not list(m.graph().objects(URIRef(m.uri), DCTERMS.license))


def test_dgu_licence_url_in_extras_string_is_recognised():
    pkg = copy.deepcopy(DGU)
    for e in pkg["extras"]:
        if e["key"] == "licence":
            e["value"] = json.dumps(["Open Government Licence: "
                                     "http://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/"])
    m = _map(pkg)
    assert m.row["licence_uri"] == EU + "licence/OGL_3_0" and m.row["licence_open"] is True
    dist = _one(m, m.uri, DCAT.distribution)
    assert _one(m, dist, DCTERMS.license) == URIRef(EU + "licence/OGL_3_0")
    assert (URIRef(EU + "licence/OGL_3_0"), RDF.type, DCTERMS.LicenseDocument) in m.graph()


def test_dgu_json_in_string_spatial_geojson_and_bbox():
    m = _map(DGU)
    loc = _one(m, m.uri, DCTERMS.spatial)
    geom = _one(m, loc, LOCN.geometry)
    assert geom.datatype == GSP.geoJSONLiteral and json.loads(str(geom))["type"] == "Polygon"
    bbox = _one(m, loc, DCAT.bbox)
    assert bbox.datatype == GSP.wktLiteral and str(bbox).startswith("POLYGON((-8.17167 49.9553,")
    assert m.row["spatial"] == "-8.17167,49.9553,1.74944,60.8433"


def test_dgu_json_in_string_dataset_reference_date_is_modified():
    m = _map(DGU)
    assert _one(m, m.uri, DCTERMS.modified) == Literal("2017-07-17", datatype=XSD.date)
    assert m.row["modified"] == "2017-07-17"
    assert m.row["issued"] == "2018-11-16T09:57:09.158821+00:00"  # metadata_created, naive → UTC


def test_dgu_json_in_string_responsible_party_and_top_level_contact_email():
    m = _map(DGU)
    contact = _one(m, m.uri, DCAT.contactPoint)
    assert str(contact) == f"{BASE}/dataset/dgu/{DGU['id']}#contact"
    assert _one(m, contact, VCARD.fn) == Literal("HM Land Registry")
    assert _one(m, contact, VCARD.hasEmail) == URIRef("mailto:commercial.services@landregistry.gov.uk")
    assert (m.row["contact_name"], m.row["contact_email"]) == ("HM Land Registry", "commercial.services@landregistry.gov.uk")


def test_dgu_curly_quotes_and_trailing_spaces_in_notes():
    m = _map(DGU)
    desc = str(_one(m, m.uri, DCTERMS.description))
    assert "“Published by HM Land Registry. Licensed under “By using" in desc  # runs of spaces collapsed
    assert desc == m.row["description"] and not desc.endswith((" ", "\n"))


def test_dgu_frequency_of_update_extra():
    m = _map(DGU)
    assert _one(m, m.uri, DCTERMS.accrualPeriodicity) == URIRef(EU + "frequency/MONTHLY")
    assert m.row["frequency"] == "MONTHLY"


def test_dgu_wms_resource_is_a_service_not_a_download():
    m = _map(DGU)
    dist = _one(m, m.uri, DCAT.distribution)
    assert _one(m, dist, DCTERMS.format) == URIRef(EU + "file-type/WMS_SRVC")
    assert str(_one(m, dist, DCAT.accessURL)).startswith("http://inspire.landregistry.gov.uk/inspire/ows?")
    assert not list(m.graph().objects(dist, DCAT.downloadURL))
    assert m.row["offer"] == ["visualisation"] and m.row["formats"] == ["WMS_SRVC"] and m.row["download_urls"] == []


def test_dgu_null_url_gives_portal_landing_page():
    m = _map(DGU)
    page = f"https://data.gov.uk/dataset/{DGU['name']}"
    assert _one(m, m.uri, DCAT.landingPage) == URIRef(page) and m.row["landing_page"] == page


def test_dgu_guid_extra_is_a_second_identifier_and_metadata_language_on_the_record():
    m = _map(DGU)
    ids = {str(o) for o in m.graph().objects(URIRef(m.uri), DCTERMS.identifier)}
    assert ids == {DGU["id"], "e218d303-6bcf-4bf3-921a-08a6001fef36"}
    assert _one(m, m.uri + "#record", DCTERMS.language) == URIRef(EU + "language/ENG")


def test_dgu_harvest_list_is_not_mapped_and_graph_has_no_blank_nodes():
    m = _map(DGU)
    nt = m.ntriples()
    assert "harvest_object_id" not in nt and "52154f7f" not in nt
    assert not any(isinstance(t, BNode) for triple in m.triples for t in triple)
    minted = f"{BASE}/dataset/dgu/{DGU['id']}"
    assert m.uri == minted
    for s in {s for s, _, _ in m.triples if str(s).startswith(minted)}:
        assert str(s) == minted or str(s).startswith(minted + "#")


# ----------------------------------------------------------------------------- CKAN 2.2 package


def test_ckan22_no_resources_is_request_only():
    m = _map(CKAN22)
    assert not list(m.graph().objects(URIRef(m.uri), DCAT.distribution))
    assert m.row["distribution_count"] == 0 and m.row["offer"] == ["request-only"] and m.row["formats"] == []


def test_ckan22_notspecified_licence_has_no_dct_license():
    m = _map(CKAN22)
    assert not list(m.graph().objects(URIRef(m.uri), DCTERMS.license))
    assert (m.row["licence_uri"], m.row["licence_label"], m.row["licence_open"]) == (None, "License not specified", None)
    assert any(w.startswith("license_id: 'notspecified'") for w in m.warnings)


def test_ckan22_no_organisation_means_no_publisher():
    m = _map(CKAN22)
    assert not list(m.graph().objects(URIRef(m.uri), DCTERMS.publisher))
    assert m.row["publisher"] is None and "organization: none; dataset has no dct:publisher" in m.warnings
    assert m.row["institution"] == "Test Combined Authority"  # the institution is still attributed
    att = _one(m, m.uri, URIRef("http://www.w3.org/ns/prov#qualifiedAttribution"))
    agent = _one(m, att, URIRef("http://www.w3.org/ns/prov#agent"))
    assert str(agent) == f"{BASE}/institution/dgu" and _one(m, agent, FOAF.name) == Literal("Test Combined Authority")


def test_ckan22_accented_tags_with_spaces():
    m = _map(CKAN22)
    assert set(m.row["keywords"]) == {"intermittent du spectacle", "économie"}
    assert set(m.graph().objects(URIRef(m.uri), DCAT.keyword)) == {Literal("intermittent du spectacle"), Literal("économie")}
    assert '"économie"' in m.ntriples()


def test_ckan22_author_with_empty_author_email():
    m = _map(CKAN22)
    contact = _one(m, m.uri, DCAT.contactPoint)
    assert _one(m, contact, VCARD.fn) == Literal("Jerome Herneaux")
    assert not list(m.graph().objects(contact, VCARD.hasEmail)) and m.row["contact_email"] is None


def test_ckan22_external_url_is_landing_page():
    assert _map(CKAN22).row["landing_page"] == "http://www.mescachets.com/"


# ----------------------------------------------------------------------------- record, identity, provenance


def test_whole_package_show_reply_and_list_shaped_result_are_unwrapped():
    raw = json.loads((DATA / "ckan22_package_show_no_resources.json").read_text(encoding="utf-8"))
    assert map_package(_record(raw), CTX).ntriples() == _map(CKAN22).ntriples()
    listed = {"success": True, "result": [CKAN22]}
    assert map_package(_record(listed), CTX).uri == _map(CKAN22).uri


def test_catalog_record_has_source_modified_not_harvest_time():
    a = map_package(_record(DGU, fetched_at="2026-01-01T00:00:00+00:00"), CTX)
    b = map_package(_record(DGU, fetched_at="2027-06-30T12:00:00+00:00"), CTX)
    assert a.content_hash() == b.content_hash()
    assert "2026-01-01" not in a.ntriples()
    rec = URIRef(a.uri + "#record")
    assert _one(a, rec, FOAF.primaryTopic) == URIRef(a.uri)
    assert _one(a, rec, DCTERMS.modified) == Literal("2018-11-16T09:57:09.158830+00:00", datatype=XSD.dateTime)
    assert _one(a, rec, DCTERMS.identifier) == Literal(DGU["id"])
    src = _one(a, rec, DCTERMS.source)
    assert (src, RDF.type, DCAT.CatalogRecord) in a.graph()
    later = map_package(_record(DGU, source_modified="2019-01-01T00:00:00Z"), CTX)
    assert _one(later, rec, DCTERMS.modified) == Literal("2019-01-01T00:00:00+00:00", datatype=XSD.dateTime)


def test_uri_extra_is_kept_as_the_dataset_uri():
    pkg = _derived(extras=DGU["extras"] + [{"key": "uri", "value": "https://portal.example.gov.uk/id/dataset/land"}])
    m = _map(pkg)
    assert m.uri == "https://portal.example.gov.uk/id/dataset/land"
    assert str(_one(m, m.uri, DCAT.distribution)).startswith(f"{BASE}/dataset/dgu/{DGU['id']}#distribution-")


def test_relative_uri_extra_falls_back_to_minted_with_warning():
    m = _map(_derived(extras=DGU["extras"] + [{"key": "uri", "value": "/dataset/land"}]))
    assert m.uri == f"{BASE}/dataset/dgu/{DGU['id']}"
    assert any(w.startswith("extras.uri:") for w in m.warnings)


def test_unmappable_package_raises_mapping_error_naming_source_record_field():
    with pytest.raises(MappingError) as e:
        map_package(RawRecord("dgu", "rec-7", "2026-01-01T00:00:00Z", "application/json", {"notes": "x"}), CTX)
    assert (e.value.source_id, e.value.native_id, e.value.field) == ("dgu", "rec-7", "title")
    assert "source=dgu" in str(e.value) and "record=rec-7" in str(e.value)
    with pytest.raises(MappingError, match="field=payload"):
        map_package(RawRecord("dgu", "rec-8", "2026-01-01T00:00:00Z", "application/json", "<html>oops</html>"), CTX)


def test_title_missing_uses_name_with_warning():
    m = _map(_derived(title=""))
    assert m.row["title"] == DGU["name"] and "title: empty; the package name is used" in m.warnings


# ----------------------------------------------------------------------------- field problems and caps


def test_bad_values_become_warnings_naming_the_field():
    res = dict(DGU["resources"][0], url="javascript:alert(1)", size="12 MB", format="Foo Bar", mimetype="nonsense")
    pkg = _derived(metadata_created="n/a", maintainer_email="not-an-address", resources=[res])
    m = _map(pkg)
    joined = "\n".join(m.warnings)
    for needle in ("metadata_created: placeholder 'n/a'", "maintainer_email: not an e-mail address",
                   "resources[0].url: not a usable URL", "resources[0].size: not a byte count '12 MB'",
                   "resources[0].format: 'Foo Bar' has no EU file type", "resources[0].mimetype: 'nonsense'"):
        assert needle in joined
    dist = _one(m, m.uri, DCAT.distribution)
    assert _one(m, dist, DCAT.accessURL) == URIRef(m.row["landing_page"])  # mandatory, so the landing page
    assert m.row["issued"] is None


def test_csv_resource_download_size_and_media_type():
    res = dict(DGU["resources"][0], url="https://data.example.gov.uk/files/parcels.csv", format="csv ",
               size="1234", mimetype="text/csv", last_modified="28/11/2026", id="r1")
    m = _map(_derived(resources=[res, dict(res, id="r2", url="https://x.gov.uk/api/3/parcels", format="API")]))
    dist = URIRef(f"{BASE}/dataset/dgu/{DGU['id']}#distribution-r1")
    assert _one(m, dist, DCAT.downloadURL) == URIRef("https://data.example.gov.uk/files/parcels.csv")
    assert _one(m, dist, DCAT.byteSize) == Literal("1234", datatype=XSD.nonNegativeInteger)
    assert _one(m, dist, DCAT.mediaType) == URIRef("https://www.iana.org/assignments/media-types/text/csv")
    assert _one(m, dist, DCTERMS.modified) == Literal("2026-11-28", datatype=XSD.date)
    assert m.row["formats"] == ["CSV"] and m.row["media_types"] == ["text/csv"]
    assert m.row["offer"] == ["api", "download"] and m.row["distribution_count"] == 2
    assert m.row["download_urls"] == ["https://data.example.gov.uk/files/parcels.csv"]


def test_temporal_extras_make_a_period_of_time():
    extras = DGU["extras"] + [{"key": "temporal_start", "value": "2020-01-01"}, {"key": "temporal_end", "value": "31/12/2020"}]
    m = _map(_derived(extras=extras))
    period = _one(m, m.uri, DCTERMS.temporal)
    assert (period, RDF.type, DCTERMS.PeriodOfTime) in m.graph()
    assert _one(m, period, DCAT.startDate) == Literal("2020-01-01", datatype=XSD.date)
    assert (m.row["temporal_start"], m.row["temporal_end"]) == ("2020-01-01", "2020-12-31")


def test_groups_map_to_eu_themes_and_private_is_non_public():
    m = _map(_derived(groups=[{"name": "transport", "title": "Transport"}, {"name": "mapping"}], private=True))
    assert _one(m, m.uri, DCAT.theme) == URIRef(EU + "data-theme/TRAN") and m.row["themes"] == ["TRAN"]
    assert m.row["access_rights"] == EU + "access-right/NON_PUBLIC"


def test_ten_thousand_resources_are_all_kept():
    base = DGU["resources"][0]
    resources = [dict(base, id=f"r{i}", url=f"https://x.gov.uk/files/{i}.csv", format="CSV") for i in range(10_000)]
    m = _map(_derived(resources=resources))
    assert m.row["distribution_count"] == 10_000 and len(m.row["download_urls"]) == 10_000
    assert m.ntriples().count("<http://www.w3.org/ns/dcat#Distribution>") == 10_000


def test_five_megabyte_description_is_truncated_with_a_warning():
    m = _map(_derived(notes="Lorem ipsum dolor sit amet. " * 190_000))
    assert 0 < len(m.row["description"]) <= 20_002
    assert any(w.startswith("notes: 5320000 characters cut to 20000") for w in m.warnings)


def test_registry_imports_the_ckan_mapping_lazily():
    assert get_mapping("ckan") is map_package
    with pytest.raises(KeyError, match="known: ckan"):
        get_mapping("gopher")
