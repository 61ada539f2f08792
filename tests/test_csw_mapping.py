"""CSW records (real ISO 19139 / 19139-2 / GEMINI and CSW Dublin Core) → DCAT-AP 3, the quirks, the tables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import doc_table, follow
from rdflib import Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, RDFS, SKOS

from expectations.shacl import validate_graph
from harvesters.base import RawRecord
from transforms import csw_dc
from transforms.base import Institution, MappingError, SourceContext
from transforms.csw_dc import read_dc
from transforms.geo_draft import parse_payload
from transforms.iso19139 import FIELD_MAP, map_csw_record
from transforms.iso19139_read import read_iso
from transforms.rdf import LOCN, PROV, VCARD
from transforms.row import FLAT_COLUMNS

DATA = Path(__file__).parent / "data" / "csw"
ISO = {p.name: p for p in sorted((DATA / "pycsw").glob("*.xml"))}
DC_FILES = ["cgdi_csw_record_dc.xml", "dc_040.xml"]
CTX = SourceContext("geo", "Geoportal", "https://geo.example.org/csw", Institution("Example Council", "council"),
                    "https://data.example.org/citycat")
EU = "http://publications.europa.eu/resource/authority/"


def raw(name: str, data: bytes | str | None = None) -> RawRecord:
    path = ISO.get(name) or DATA / name
    return RawRecord("geo", name, "2026-11-20T02:00:00+00:00", "application/xml",
                     data if data is not None else path.read_bytes())


def mapped(name: str, data: bytes | str | None = None):
    m = map_csw_record(raw(name, data), CTX)
    return m, m.graph(), URIRef(m.uri)


def literals(g, s, p) -> set[str]:
    return {str(o) for o in g.objects(s, p)}


@pytest.mark.parametrize("name", sorted(ISO) + DC_FILES)
def test_real_records_conform_to_dcat_ap3(name):
    m, g, _ = mapped(name)
    result = validate_graph(g)
    assert result.conforms, result.messages
    assert set(m.row) == set(FLAT_COLUMNS) and m.row["offer"]


def test_dc_record_without_modified_fails_the_catalogue_record_shape():
    m, g, _ = mapped("dc_019.xml")
    result = validate_graph(g)
    violations = [x for x in result.messages if x.startswith("Violation")]
    assert len(violations) == 1 and "#record dct:modified" in violations[0]
    assert "dct:modified: missing: the catalogue record has no dct:modified (mandatory)" in m.warnings


# ---------------------------------------------------------------------------- regressions, one per quirk


def test_empty_codelist_text_reads_code_list_value():
    """GEMINI writes <CI_RoleCode codeListValue="pointOfContact"/> and frequency codes with no text."""
    m, g, ds = mapped("wales_cadw_gemini21_whs.xml")
    assert m.row["contact_name"].startswith("CADW (The Historic Environment Service")
    assert m.row["frequency"] == "AS_NEEDED"
    assert (ds, DCTERMS.accrualPeriodicity, URIRef(EU + "frequency/AS_NEEDED")) in g


def test_nil_reason_keyword_type_with_empty_code_list_value():
    """DOV: <gmd:type gco:nilReason="missing"><MD_KeywordTypeCode codeListValue=""/> — keywords still read."""
    m, _, _ = mapped("dov_md_metadata_unwrapped.xml")
    assert {"Geologie", "grondwater", "meetnet(werk)", "Lijst M&R INSPIRE"} <= set(m.row["keywords"])


def test_mixed_crs_forms_leave_the_wgs84_box_alone():
    """DOV lists CRS as "31370", "5710" and an EPSG URI; the bbox comes from EX_GeographicBoundingBox only."""
    m, g, ds = mapped("dov_md_metadata_unwrapped.xml")
    loc = next(g.objects(ds, DCTERMS.spatial))
    wkt = "POLYGON((2.549 50.697,5.902 50.697,5.902 51.495,2.549 51.495,2.549 50.697))"
    assert literals(g, loc, DCAT.bbox) == {wkt} and literals(g, loc, LOCN.geometry) == {wkt}
    assert not any("31370" in str(o) or "3043" in str(o) for o in g.objects())


def test_open_ended_2999_sentinel_gives_no_end_date():
    m, g, ds = mapped("dov_md_metadata_unwrapped.xml")
    period = next(g.objects(ds, DCTERMS.temporal))
    assert literals(g, period, DCAT.startDate) == {"1900-01-01"} and not list(g.objects(period, DCAT.endDate))
    assert (m.row["temporal_start"], m.row["temporal_end"]) == ("1900-01-01", None)


def test_stray_dash_text_nodes_and_empty_time_positions():
    """Wales: "-" text nodes inside element-only nodes, empty begin/endPosition: no "-" values, no period."""
    m, g, ds = mapped("wales_cadw_gemini21_whs.xml")
    assert not [o for o in g.objects() if isinstance(o, Literal) and str(o).strip() in ("-", "")]
    assert not list(g.objects(ds, DCTERMS.temporal)) and m.row["temporal_start"] is None
    assert not any("temporal" in w for w in m.warnings)


def test_invalid_crs_urn_is_not_carried_over():
    """Wales puts "urn:ogc:def:crs:EPSG::Nat. Grid GB" in the CRS slot; only the WGS 84 box is used."""
    m, g, _ = mapped("wales_cadw_gemini21_whs.xml")
    assert not any("Nat. Grid" in str(o) for o in g.objects())
    assert m.row["spatial"].startswith("-6.3496692083") and m.row["spatial"].endswith("53.77117345513605")


def test_iso_8859_1_declared_encoding_is_honoured():
    latin1 = (DATA / "cgdi_csw_record_dc.xml").read_bytes().replace(b"cititzen", b"cit\xe9tzen")  # derived
    m, _, _ = mapped("cgdi_csw_record_dc.xml", latin1)
    assert "citétzen" in m.row["description"]
    # the harvester stores decoded text: a declaration left in it must not make the parser decode twice
    as_text = latin1.decode("iso-8859-1")
    assert as_text.startswith('<?xml version="1.0" encoding="ISO-8859-1"?>')
    m2, _, _ = mapped("cgdi_csw_record_dc.xml", as_text)
    assert m2.row["description"] == m.row["description"]


def test_lat_lon_order_bbox_is_read_by_its_crs():
    """EPSG:4326 ows:BoundingBox is latitude first: the CGDI "-90 -180 / 90 180" is the whole globe."""
    m, _, _ = mapped("cgdi_csw_record_dc.xml")
    assert m.row["spatial"] == "-180.0,-90.0,180.0,90.0"
    canada = (DATA / "cgdi_csw_record_dc.xml").read_text(encoding="iso-8859-1") \
        .replace("-90 -180", "41.7 -141.0").replace("90 180", "83.1 -52.6")  # derived: Canada, lat/lon
    assert mapped("cgdi_csw_record_dc.xml", canada)[0].row["spatial"] == "-141.0,41.7,-52.6,83.1"
    crs84 = canada.replace('crs="EPSG:4326"', 'crs="urn:ogc:def:crs:OGC:1.3:CRS84"')
    m3 = mapped("cgdi_csw_record_dc.xml", crs84)[0]
    assert m3.row["spatial"] is None and any("outside WGS 84" in w for w in m3.warnings)


def test_hierarchical_subjects_become_leaf_keywords():
    m, _, _ = mapped("cgdi_csw_record_dc.xml")
    assert {"Manitoba", "Western Canada", "North America", "Biology and Ecology", "Inland Water Resources"} \
        <= set(m.row["keywords"])
    assert not any(">" in k or k.startswith(("Locations", "Topic Category")) for k in m.row["keywords"])


def test_language_code_with_country_suffix():
    """CGDI says "eng; CAN"; ISO records use ISO 639-2/B codes such as "dut"."""
    _, g, ds = mapped("cgdi_csw_record_dc.xml")
    assert (ds, DCTERMS.language, URIRef(EU + "language/ENG")) in g
    _, g2, ds2 = mapped("dov_md_metadata_unwrapped.xml")
    assert (ds2, DCTERMS.language, URIRef(EU + "language/NLD")) in g2


def test_licence_only_as_free_text_is_kept_as_a_labelled_licence_document():
    m, g, ds = mapped("dov_md_metadata_unwrapped.xml")
    assert m.row["licence_uri"] is None and "Modellicentie Gratis Hergebruik" in m.row["licence_label"]
    lic = next(g.objects(ds, DCTERMS.license))
    assert (lic, RDF.type, DCTERMS.LicenseDocument) in g
    assert any("Modellicentie" in x for x in literals(g, lic, RDFS.label))
    assert any(w.startswith(("useLimitation: no known licence", "otherConstraints: no known licence"))
               for w in m.warnings)


def test_licence_from_anchor_href_and_codelist_text():
    """049: otherConstraints Anchor to the CC Public Domain Mark; 055: useLimitation codelist text "CC-By 4.0"."""
    m, _, _ = mapped("iso19139_049.xml")
    assert m.row["licence_uri"] == EU + "licence/CC_PDM_1_0" and m.row["access_rights"] == EU + "access-right/PUBLIC"
    m2, g2, ds2 = mapped("iso19139_055.xml")
    assert m2.row["licence_uri"] == EU + "licence/CC_BY_4_0" and m2.row["licence_open"] is True
    assert (ds2, DCTERMS.license, URIRef(EU + "licence/CC_BY_4_0")) in g2


def test_no_limitations_text_gives_public_access():
    m, _, _ = mapped("iso19139_002.xml")
    assert m.row["access_rights"] == EU + "access-right/PUBLIC"


def test_json_ld_blob_as_identifier_code_is_ignored():
    m, g, ds = mapped("iso19139_055.xml")
    assert m.row["identifier"] == "ie.marine.data:dataset.1135"
    assert not any(str(o).startswith("{") for o in g.objects(ds, DCTERMS.identifier))
    assert any(w.startswith("citation/identifier: identifier code is not an identifier") for w in m.warnings)


def test_inspire_theme_keyword_gives_inspire_theme():
    _, g, ds = mapped("wales_cadw_gemini21_whs.xml")
    theme = URIRef("http://inspire.ec.europa.eu/theme/ps")
    assert (ds, DCAT.theme, theme) in g and (theme, SKOS.prefLabel, Literal("Protected sites", lang="en")) in g


def test_online_resources_by_protocol():
    m, g, ds = mapped("dov_md_metadata_unwrapped.xml")
    assert m.row["offer"] == ["api", "visualisation"] and m.row["download_urls"] == []
    assert m.row["landing_page"] == "https://www.dov.vlaanderen.be/bodemverkenner"
    by_url = {str(u): d for d in g.objects(ds, DCAT.distribution) for u in g.objects(d, DCAT.accessURL)}
    wms = by_url["https://www.dov.vlaanderen.be/geoserver/ows?SERVICE=WMS&"]
    assert (wms, DCTERMS.format, URIRef(EU + "file-type/WMS_SRVC")) in g
    service = next(g.objects(wms, DCAT.accessService))
    assert (service, RDF.type, DCAT.DataService) in g and (service, DCAT.servesDataset, ds) in g
    wfs = by_url["https://www.dov.vlaanderen.be/geoserver/wfs?"]
    assert (wfs, DCTERMS.format, URIRef(EU + "file-type/WFS_SRVC")) in g
    assert len(by_url) == 7  # the information link is the landing page, not a distribution


def test_download_protocol_gives_download_url():
    m, _, _ = mapped("iso19139_058.xml")
    assert m.row["offer"] == ["download"] and m.row["download_urls"]


def test_responsible_party_roles():
    m, g, ds = mapped("iso19139_058.xml")
    assert m.row["publisher"] == "Scottish Natural Heritage"
    assert any("custodian 'Scottish Natural Heritage' is used as dct:publisher" in w for w in m.warnings)
    roles = {str(r) for a in g.objects(ds, PROV.qualifiedAttribution) for r in g.objects(a, DCAT.hadRole)}
    assert "http://inspire.ec.europa.eu/metadata-codelist/ResponsibilityRole/custodian" in roles
    m2, g2, ds2 = mapped("iso19139_002.xml")
    holder = next(g2.objects(ds2, DCTERMS.rightsHolder))
    assert literals(g2, holder, FOAF.name) == {"YPAAT"} and m2.row["publisher"] == "YPAAT"
    contact = next(g2.objects(ds2, DCAT.contactPoint))
    assert (contact, RDF.type, VCARD.Kind) in g2 and m2.row["contact_email"]


def test_mi_metadata_with_path_like_identifier_maps():
    m, g, ds = mapped("iso19139-2_036.xml", None)
    m2 = map_csw_record(RawRecord("geo", "../../../I'm Trying to go back a few directories/../..", "x",
                                  "application/xml", ISO["iso19139-2_036.xml"].read_text()), CTX)
    assert "/../" not in m2.uri and m2.uri.startswith("https://data.example.org/citycat/dataset/geo/")
    assert validate_graph(m2.graph()).conforms and m.row["title"]


def test_wms_capabilities_is_not_iso():
    with pytest.raises(MappingError, match="not ISO 19139: got WMS_Capabilities") as err:
        mapped("fcs_admin_boundaries_wms_caps.xml")
    assert err.value.field == "record"


def test_service_record_is_refused_naming_the_field():
    with pytest.raises(MappingError, match="service metadata record") as err:
        mapped("iso19139_054.xml")
    assert err.value.field == "hierarchyLevel"


def test_untitled_record_is_refused_naming_the_field():
    data = re.sub(rb"<gmd:title>\s*<gco:CharacterString>World Heritage Sites in Wales GIS[^<]*</gco:CharacterString>",
                  b"<gmd:title><gco:CharacterString> </gco:CharacterString>",
                  ISO["wales_cadw_gemini21_whs.xml"].read_bytes())
    with pytest.raises(MappingError) as err:
        mapped("wales_cadw_gemini21_whs.xml", data)
    assert err.value.field == "citation/title"


@pytest.mark.parametrize("payload", [
    b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
    b'<gmd:MD_Metadata xmlns:gmd="http://www.isotc211.org/2005/gmd">&b;</gmd:MD_Metadata>',
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b'<gmd:MD_Metadata xmlns:gmd="http://www.isotc211.org/2005/gmd">&x;</gmd:MD_Metadata>',
    b"<gmd:MD_Metadata", {"not": "xml"}], ids=["billion-laughs", "external-entity", "truncated", "dict"])
def test_unusable_payloads_raise_mapping_error(payload):
    with pytest.raises(MappingError) as err:
        map_csw_record(RawRecord("geo", "x", "t", "application/xml", payload), CTX)
    assert err.value.field == "payload"


# ---------------------------------------------------------------------------- the documented tables

# Fields whose value may legitimately not map (an unknown licence or language, a non-English INSPIRE theme,
# a fallback that a better source pre-empts).
CONDITIONAL = {"descriptiveKeywords[INSPIRE themes]", "otherConstraints", "otherConstraints[access]",
               "accessConstraints", "useLimitation", "contact", "distributionFormat/name",
               "identificationInfo/language",
               "language", "maintenanceAndUpdateFrequency", "citation/identifier", "extent/geographicBoundingBox",
               "dc:language", "dc:format", "dct:modified", "citation/date[revision]", "dc:date"}


@pytest.mark.parametrize("section, field_map", [("ISO 19139", FIELD_MAP), ("CSW Dublin Core", csw_dc.FIELD_MAP)])
def test_doc_table_equals_field_map(section, field_map):
    doc = doc_table("mapping-csw.md", section=section)
    assert list(doc) == list(field_map), "same fields, same order"
    assert doc == field_map


def _fields_present(draft) -> set[str]:
    fields = {"fileIdentifier", "dc:identifier"}
    if draft.hierarchy:
        fields.add("hierarchyLevel")
    for attr in ("titles", "abstracts", "identifiers", "created", "issued", "modified", "topics", "languages", "places",
                 "formats", "types", "pages", "access_codes"):
        fields |= {f for f, _ in getattr(draft, attr)}
    for attr in ("parties", "metadata_contacts", "keywords", "online", "rights"):
        fields |= {x.field for x in getattr(draft, attr)}
    fields |= {f for f, _ in draft.boxes} | {f for f, _, _ in draft.periods}
    fields |= {p[0] for p in (draft.date_stamp, draft.metadata_language, draft.lineage, draft.frequency) if p}
    return fields


def _missing(name: str, data: bytes | None = None, *, skip: set[str] = CONDITIONAL) -> list[str]:
    rec = raw(name, data)
    native, root = parse_payload(rec, CTX)
    draft = read_iso(root, native) if draft_is_iso(root) else read_dc(root, native)
    field_map = FIELD_MAP if draft.schema == "iso19139" else csw_dc.FIELD_MAP
    m = map_csw_record(rec, CTX)
    g, ds = m.graph(), URIRef(m.uri)
    present = _fields_present(draft) & set(field_map)
    return [f"{f} -> {p}" for f in sorted(present - skip) for p in field_map[f] if not follow(g, ds, p)]


def draft_is_iso(root) -> bool:
    return root.tag.endswith(("}MD_Metadata", "}MI_Metadata"))


@pytest.mark.parametrize("name", sorted(ISO) + DC_FILES)
def test_documented_paths_appear_for_real_records(name):
    assert _missing(name) == []


def _role(role: str, name: str, *, person: bool = False) -> bytes:
    who = "individualName" if person else "organisationName"
    return (f'<gmd:pointOfContact><gmd:CI_ResponsibleParty><gmd:{who}><gco:CharacterString>{name}'
            f'</gco:CharacterString></gmd:{who}><gmd:role><gmd:CI_RoleCode codeList="http://www.isotc211.org/2005/'
            f'resources/codeList.xml#CI_RoleCode" codeListValue="{role}"/></gmd:role></gmd:CI_ResponsibleParty>'
            f'</gmd:pointOfContact>').encode()


def full_iso() -> bytes:
    """The Welsh GEMINI record with the documented elements it lacks added (derived here, not recorded)."""
    extra = (_role("publisher", "Welsh Government") + _role("author", "A. Surveyor", person=True)
             + _role("originator", "Royal Commission") + _role("resourceProvider", "Data Cymru")
             + b'<gmd:extent><gmd:EX_Extent><gmd:description><gco:CharacterString>Wales</gco:CharacterString>'
               b'</gmd:description><gmd:geographicElement><gmd:EX_GeographicDescription><gmd:geographicIdentifier>'
               b'<gmd:MD_Identifier><gmd:code><gco:CharacterString>W92000004</gco:CharacterString></gmd:code>'
               b'</gmd:MD_Identifier></gmd:geographicIdentifier></gmd:EX_GeographicDescription>'
               b'</gmd:geographicElement></gmd:EX_Extent></gmd:extent>'
               b'<gmd:resourceConstraints><gmd:MD_LegalConstraints><gmd:accessConstraints><gmd:MD_RestrictionCode '
               b'codeListValue="restricted"/></gmd:accessConstraints></gmd:MD_LegalConstraints>'
               b'</gmd:resourceConstraints>')
    data = ISO["wales_cadw_gemini21_whs.xml"].read_bytes()
    return data.replace(b"<gmd:resourceConstraints>", extra + b"<gmd:resourceConstraints>", 1)


def full_dc() -> bytes:
    """The CGDI csw:Record with the documented elements it lacks added (derived here, not recorded)."""
    extra = (b"<dc:description>Initiatives index</dc:description><dc:publisher>Environment Canada</dc:publisher>"
             b"<dct:issued>2009-09-04</dct:issued><dc:date>2009-09-05</dc:date>"
             b"<dc:rights>http://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/</dc:rights>"
             b"<dct:license>Open Government Licence</dct:license><dct:accessRights>No limitations</dct:accessRights>"
             b'<dct:references scheme="OGC:WMS">https://maps.example.ca/wms?service=WMS</dct:references>'
             b"<dct:spatial>Canada</dct:spatial><ows:WGS84BoundingBox><ows:LowerCorner>-141 41.7</ows:LowerCorner>"
             b"<ows:UpperCorner>-52.6 83.1</ows:UpperCorner></ows:WGS84BoundingBox>")
    return (DATA / "cgdi_csw_record_dc.xml").read_bytes().replace(b"</csw:Record>", extra + b"</csw:Record>")


def test_every_documented_field_occurs_in_the_real_or_full_records():
    seen: set[str] = set()
    for name, data in [(n, None) for n in sorted(ISO) + DC_FILES] + [("wales_cadw_gemini21_whs.xml", full_iso()),
                                                                      ("cgdi_csw_record_dc.xml", full_dc())]:
        native, root = parse_payload(raw(name, data), CTX)
        seen |= _fields_present(read_iso(root, native) if draft_is_iso(root) else read_dc(root, native))
    assert [f for f in list(FIELD_MAP) + list(csw_dc.FIELD_MAP) if f not in seen] == []


@pytest.mark.parametrize("name, make", [("wales_cadw_gemini21_whs.xml", full_iso), ("cgdi_csw_record_dc.xml", full_dc)])
def test_every_documented_path_appears_for_a_full_record(name, make):
    assert _missing(name, make(), skip={"contact"}) == []  # the metadata contact is only a fallback


def test_full_records_map_roles_access_and_licence():
    m = map_csw_record(raw("wales_cadw_gemini21_whs.xml", full_iso()), CTX)
    assert m.row["publisher"] == "Welsh Government" and m.row["access_rights"] == EU + "access-right/RESTRICTED"
    dc = map_csw_record(raw("cgdi_csw_record_dc.xml", full_dc()), CTX)
    assert dc.row["licence_uri"] == EU + "licence/OGL_3_0" and dc.row["access_rights"] == EU + "access-right/PUBLIC"
    assert dc.row["offer"] == ["visualisation"] and dc.row["spatial"] == "-180.0,-90.0,180.0,90.0"  # first box
    for mapped_ in (m, dc):
        result = validate_graph(mapped_.graph())
        assert result.conforms, result.messages


def test_the_path_check_can_fail():
    """A frequency code the mapping cannot read must be reported when not skipped."""
    data = ISO["wales_cadw_gemini21_whs.xml"].read_bytes().replace(b'codeListValue="asNeeded"',
                                                                  b'codeListValue="whenever"')
    assert "maintenanceAndUpdateFrequency -> dct:accrualPeriodicity" in _missing(
        "wales_cadw_gemini21_whs.xml", data, skip=set())
