"""OAI-PMH records (real Zenodo oai_dc, crafted DataCite) → DCAT-AP 3, the quirks, and the documented tables."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from rdflib import Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, SKOS

from defusedxml.ElementTree import fromstring
from expectations.shacl import validate_graph
from harvesters.base import RawRecord
from harvesters.oai_pmh import _O, _serialise
from helpers import doc_table, follow
from transforms import datacite, oai_dc
from transforms.base import Institution, MappingError, SourceContext
from transforms.oai_pmh import map_oai_record
from transforms.rdf import ADMS
from transforms.row import FLAT_COLUMNS

DATA = Path(__file__).parent / "data" / "oai_pmh"
CTX = SourceContext("uni", "University repository", "https://repository.example.ac.uk/oai2d",
                    Institution("Example University", "university"), "https://data.example.org/citycat")
EU = "http://publications.europa.eu/resource/authority/"


def records_in(name: str) -> dict[str, RawRecord]:
    """Raw records exactly as the harvester builds them from a recorded response."""
    out = {}
    for rec in fromstring((DATA / name).read_bytes()).iter(_O + "record"):
        header = rec.find(_O + "header")
        nid = header.findtext(_O + "identifier")
        out[nid] = RawRecord("uni", nid, "2026-11-20T02:00:00+00:00", "application/xml", _serialise(rec),
                             deleted=header.get("status") == "deleted", source_modified=header.findtext(_O + "datestamp"))
    return out


ZENODO = records_in("zenodo_listrecords_oai_dc.xml")
DATACITE = {**records_in("crafted_listrecords_oai_datacite.xml"), **records_in("crafted_getrecord_datacite.xml")}


def mapped(record: RawRecord):
    m = map_oai_record(record, CTX)
    return m, m.graph(), URIRef(m.uri)


@pytest.mark.parametrize("nid", sorted(ZENODO))
def test_real_zenodo_records_conform_to_dcat_ap3(nid):
    m, g, _ = mapped(ZENODO[nid])
    result = validate_graph(g)
    assert result.conforms, result.messages
    assert set(m.row) == set(FLAT_COLUMNS) and m.row["offer"] == ["download"]


@pytest.mark.parametrize("nid", [n for n, r in sorted(DATACITE.items()) if not r.deleted])
def test_datacite_records_conform_to_dcat_ap3(nid):
    m, g, _ = mapped(DATACITE[nid])
    result = validate_graph(g)
    assert result.conforms, result.messages
    assert set(m.row) == set(FLAT_COLUMNS)


def test_double_escaped_html_description_is_plain_text():
    """Quirk: Zenodo descriptions are HTML escaped twice (&amp;lt;p&amp;gt; in the XML)."""
    m, g, ds = mapped(ZENODO["oai:zenodo.org:20566294"])
    desc = str(g.value(ds, DCTERMS.description))
    assert desc.startswith("Abstract\n\nMalaria is an endemic disease")
    assert "&lt;" not in desc and "<p>" not in desc and "&amp;" not in desc and "&ldquo;" not in desc
    assert "“malaria”" in desc and m.row["description"] == desc


def test_dc_rights_three_ways_give_licence_access_and_label():
    """Quirk: Zenodo repeats rights as an eu-repo term, a licence title (no version) and a licence URL."""
    m, g, ds = mapped(ZENODO["oai:zenodo.org:20510666"])
    assert g.value(ds, DCTERMS.license) == URIRef(EU + "licence/CC_BY_4_0")  # the URL's version, not CC_BY
    assert g.value(ds, DCTERMS.accessRights) == URIRef(EU + "access-right/PUBLIC")
    assert m.row["licence_label"] == "Creative Commons Attribution 4.0 International"
    assert m.row["licence_open"] is True and m.warnings == []


def test_mixed_dc_identifier_kinds():
    """Quirk: dc:identifier mixes a DOI URL, the oai id, a landing page and an issn: pseudo-URI."""
    m, g, ds = mapped(ZENODO["oai:zenodo.org:20568304"])
    ids = {str(o) for o in g.objects(ds, DCTERMS.identifier)}
    assert ids == {"oai:zenodo.org:20568304", "10.58614/jahsm593", "issn:2583-1887"}
    assert g.value(ds, DCAT.landingPage) == URIRef("https://doi.org/10.58614/jahsm593")
    assert g.value(ds, FOAF.page) == URIRef("https://www.jpub.org/article-details.php?article-id=246")
    adms = g.value(ds, ADMS.identifier)
    assert g.value(adms, SKOS.notation) == Literal("10.58614/jahsm593")
    dist = g.value(ds, DCAT.distribution)
    assert g.value(dist, DCAT.accessURL) == URIRef("https://doi.org/10.58614/jahsm593")
    assert m.row["landing_page"] == "https://doi.org/10.58614/jahsm593" and m.row["download_urls"] == []


def test_comma_separated_subject_becomes_keywords_and_language_maps():
    m, g, ds = mapped(ZENODO["oai:zenodo.org:20566294"])
    assert m.row["keywords"] == ["Malaria", "Antimalarials", "Plasmodium falciparum", "Antimalarial Resistance",
                                 "Drug-resistant malaria"]
    assert g.value(ds, DCTERMS.language) == URIRef(EU + "language/ENG")
    creators = sorted(str(g.value(c, FOAF.name)) for c in g.objects(ds, DCTERMS.creator))
    assert len(creators) == 7 and "Ishaleku, David" in creators


def test_record_without_setspec_and_eu_repo_other_type_maps_without_warnings():
    m, g, ds = mapped(ZENODO["oai:zenodo.org:8433919"])
    assert m.warnings == [] and g.value(ds, DCTERMS.type) is None
    assert m.row["issued"] == "2023-10-12" and m.row["modified"] == "2023-10-12T07:35:02+00:00"


def test_article_type_becomes_dcmi_text():
    _, g, ds = mapped(ZENODO["oai:zenodo.org:20568304"])
    assert g.value(ds, DCTERMS.type) == URIRef("http://purl.org/dc/dcmitype/Text")


def test_datacite_wrapped_record_maps_the_alignment():
    m, g, ds = mapped(DATACITE["oai:repository.example.ac.uk:4411"])
    orcid = URIRef("https://orcid.org/0000-0002-1825-0097")
    assert orcid in set(g.objects(ds, DCTERMS.creator)) and (orcid, RDF.type, FOAF.Person) in g
    assert str(g.value(orcid, FOAF.name)) == "Carberry, Josiah"
    org = [c for c in g.objects(ds, DCTERMS.creator) if c != orcid][0]
    assert (org, RDF.type, FOAF.Organization) in g
    assert str(g.value(ds, DCTERMS.title)) == "Street-level air quality sensor readings, 2019-2023"
    assert m.row["description"].startswith("Hourly NO2 and PM2.5 readings")  # Abstract first, HTML cleaned
    assert m.row["publisher"] == "Example University" and m.row["contact_name"].startswith("Data Steward")
    assert (m.row["issued"], m.row["modified"]) == ("2024-03-01", "2026-10-02")
    assert str(g.value(ds, DCTERMS.created)) == "2023-12-20"
    assert (m.row["temporal_start"], m.row["temporal_end"]) == ("2019-01-01", "2023-12-31")
    assert m.row["licence_uri"] == EU + "licence/CC_BY_4_0" and m.row["access_rights"].endswith("PUBLIC")
    assert m.row["keywords"] == ["air quality", "Atmospheric sciences", "Environment"] and m.row["themes"] == ["ENVI"]
    assert m.row["formats"] == ["CSV"] and m.row["media_types"] == ["text/csv"] and m.row["offer"] == ["download"]
    dist = g.value(ds, DCAT.distribution)
    assert int(g.value(dist, DCAT.byteSize)) == 48213  # "2 files" is a count, not a byte size
    assert str(g.value(ds, URIRef(str(DCAT) + "version"))) == "1.2"
    assert m.row["spatial"] == "Leeds, West Yorkshire"
    assert "POLYGON((-1.8 53.69" in str(g.value(g.value(ds, DCTERMS.spatial), DCAT.bbox))
    assert g.value(ds, DCAT.landingPage) == URIRef("https://doi.org/10.5072/example.4411")
    assert g.value(ds, DCTERMS.type) == URIRef("http://purl.org/dc/dcmitype/Dataset")


def test_bare_datacite_orcid_url_spdx_identifier_and_available_date():
    m, g, ds = mapped(DATACITE["oai:repository.example.ac.uk:4620"])
    assert URIRef("https://orcid.org/0000-0002-1825-0097") in set(g.objects(ds, DCTERMS.creator))
    assert m.row["licence_uri"] == EU + "licence/CC0" and m.row["issued"] == "2026-01-15"
    assert int(g.value(g.value(ds, DCAT.distribution), DCAT.byteSize)) == 1_500_000
    assert m.row["themes"] == ["TRAN"] and m.row["formats"] == ["ZIP"]


def test_restricted_record_is_request_only_with_a_named_warning():
    m, g, ds = mapped(DATACITE["oai:repository.example.ac.uk:4502"])
    assert m.row["offer"] == ["request-only"] and m.row["access_rights"] == EU + "access-right/RESTRICTED"
    assert m.row["licence_uri"] is None and m.row["issued"] == "2025"
    assert "rightsList/rights: unrecognised licence 'Restricted Access'" in m.warnings
    assert m.row["access_urls"] == ["https://doi.org/10.5072/example.4502"]


def _swap(record: RawRecord, old: str, new: str) -> RawRecord:
    assert old in record.payload
    return RawRecord(record.source_id, record.native_id, record.fetched_at, record.media_type,
                     record.payload.replace(old, new, 1), source_modified=record.source_modified)


def test_record_without_title_is_refused_naming_the_field():
    rec = _swap(ZENODO["oai:zenodo.org:8433919"], "<dc:title>Machine-Learning-For-Laser-Ablation-In-Liquid</dc:title>",
                "")
    with pytest.raises(MappingError) as err:
        map_oai_record(rec, CTX)
    assert (err.value.field, err.value.native_id) == ("dc:title", "oai:zenodo.org:8433919")


def test_file_identifier_becomes_a_download_distribution():
    rec = _swap(ZENODO["oai:zenodo.org:8433919"], "<dc:publisher>",
                "<dc:identifier>https://repository.example.ac.uk/files/readings.csv</dc:identifier><dc:publisher>")
    m, g, ds = mapped(rec)
    assert m.row["download_urls"] == ["https://repository.example.ac.uk/files/readings.csv"]
    assert m.row["offer"] == ["download"] and m.row["formats"] == ["CSV"]


@pytest.mark.parametrize("payload, field", [
    ("<record xmlns='http://www.openarchives.org/OAI/2.0/'><header><identifier>x</identifier></header>"
     "<metadata><marc xmlns='http://www.loc.gov/MARC21/slim'/></metadata></record>", "metadata"),
    ("<record xmlns='http://www.openarchives.org/OAI/2.0/'><header status='deleted'><identifier>x</identifier>"
     "</header></record>", "header/@status"),
    ("<record xmlns='http://www.openarchives.org/OAI/2.0/'><header>", "payload"),
    ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><r>&b;</r>',
     "payload"),
    ({"not": "xml"}, "payload"),
], ids=["unsupported-format", "tombstone", "truncated", "entity-expansion", "json-payload"])
def test_unmappable_records_raise_mapping_error_naming_the_field(payload, field):
    with pytest.raises(MappingError) as err:
        map_oai_record(RawRecord("uni", "x", "t", "application/xml", payload), CTX)
    assert err.value.field == field and err.value.source_id == "uni"


# ---------------------------------------------------------------------------- the documented tables


@pytest.mark.parametrize("section, field_map", [("oai_dc", oai_dc.FIELD_MAP), ("DataCite", datacite.FIELD_MAP)])
def test_doc_table_equals_field_map(section, field_map):
    doc = doc_table("mapping-oai-pmh.md", section=section)
    assert list(doc) == list(field_map) and doc == field_map


def _missing(record: RawRecord, field_map: dict[str, tuple[str, ...]]) -> list[str]:
    m, g, ds = mapped(record)
    return [f"{f} -> {p}" for f, paths in field_map.items() for p in paths if not follow(g, ds, p)]


def _full_oai_dc() -> RawRecord:
    """The real Zenodo article with the Dublin Core elements it lacks filled in (derived here, not recorded)."""
    return _swap(ZENODO["oai:zenodo.org:20568304"], "<dc:title>",
                 "<dc:contributor>Data Office</dc:contributor><dc:format>text/csv</dc:format>"
                 "<dc:coverage>Leeds</dc:coverage><dc:title>")


def _full_datacite() -> RawRecord:
    return _swap(DATACITE["oai:repository.example.ac.uk:4411"], '<datacite:date dateType="Issued">',
                 '<datacite:date dateType="Available">2024-03-02</datacite:date><datacite:date dateType="Issued">')


@pytest.mark.parametrize("make, field_map", [(_full_oai_dc, oai_dc.FIELD_MAP), (_full_datacite, datacite.FIELD_MAP)],
                         ids=["oai_dc", "datacite"])
def test_every_documented_path_appears_for_a_full_record(make, field_map):
    record = make()
    root = ET.fromstring(record.payload)
    names = {el.tag.rsplit("}", 1)[-1] for el in root.iter()} | {a for el in root.iter() for a in el.attrib}
    values = {v for el in root.iter() for v in el.attrib.values()}
    for f in field_map:  # the full record really has every documented element (and dateType)
        name = f.split("[")[0].split("/")[-1].split(":")[-1].lstrip("@")
        assert name in names, f
        if "=" in f:
            assert f.split("=")[1].rstrip("]") in values, f
    assert _missing(record, field_map) == []


def test_the_path_check_can_fail():
    rec = _swap(_full_oai_dc(), "<dc:language>eng</dc:language>", "<dc:language>Elvish tongue</dc:language>")
    assert "dc:language -> dct:language" in _missing(rec, oai_dc.FIELD_MAP)
