"""Vocabulary lookups: each spelling a real portal uses folds to one canonical URI; unknowns are None."""

from __future__ import annotations

import pytest
from rdflib import URIRef
from rdflib.namespace import DCTERMS, RDF, SKOS

from transforms import vocab

EU = "http://publications.europa.eu/resource/authority/"
OGL3 = EU + "licence/OGL_3_0"


@pytest.mark.parametrize("spelling", ["uk-ogl", "OGL-UK-3.0", "ogl", "UK Open Government Licence (OGL)",
                                      "http://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/",
                                      "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3",
                                      "http://reference.data.gov.uk/id/open-government-licence", "OGL_3_0", OGL3])
def test_ogl_spellings_fold_to_the_op_code(spelling):
    lic = vocab.licence(spelling)
    assert lic is not None and lic.uri == OGL3 and lic.open is True


@pytest.mark.parametrize("spelling,uri,is_open", [
    ("cc-by", EU + "licence/CC_BY_4_0", True),
    ("CC-BY-4.0", EU + "licence/CC_BY_4_0", True),
    ("https://creativecommons.org/licenses/by/4.0/legalcode", EU + "licence/CC_BY_4_0", True),
    ("cc-zero", EU + "licence/CC0", True),
    ("odc-odbl", EU + "licence/ODC_BL", True),
    ("odc-by", EU + "licence/ODC_BY", True),
    ("odc-pddl", EU + "licence/ODC_PDDL", True),
    ("cc-nc", EU + "licence/CC_BYNC_4_0", False),
    ("OGL-UK-2.0", EU + "licence/OGL_2_0", True),
    ("OGL-Canada-2.0", "https://spdx.org/licenses/OGL-Canada-2.0", True),  # not in the EU table: SPDX
])
def test_licence_ids_titles_and_urls(spelling, uri, is_open):
    lic = vocab.licence(spelling)
    assert (lic.uri, lic.open) == (uri, is_open)


@pytest.mark.parametrize("ckan_id,is_open", [("other-open", True), ("other-pd", True), ("notspecified", None),
                                             ("other-closed", False), ("other-nc", False)])
def test_generic_ckan_licence_ids_have_no_uri_but_an_open_flag(ckan_id, is_open):
    lic = vocab.licence(ckan_id)
    assert lic is not None and lic.uri is None and lic.open is is_open


@pytest.mark.parametrize("junk", [None, "", "  ", "my own licence", "http://example.org/licence"])
def test_unknown_licence_is_none(junk):
    assert vocab.licence(junk) is None


def test_licence_named_by_url_inside_free_text():
    text = "Licensed under http://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/."
    assert vocab.licence_in_text(text).uri == OGL3
    assert vocab.licence_in_text("subject to PSMA licence terms : http://bit.ly/OaJ4Vs") is None


@pytest.mark.parametrize("spelling,code", [
    ("CSV", "CSV"), ("csv", "CSV"), (".csv", "CSV"), ("text/csv", "CSV"), ("text/csv; charset=utf-8", "CSV"),
    ("Excel", "XLS"), ("XLS", "XLS"), ("XLSX", "XLSX"), ("application/vnd.ms-excel", "XLS"),
    ("GeoJSON", "GEOJSON"), ("WMS", "WMS_SRVC"), ("WFS", "WFS_SRVC"), ("Esri REST", "REST"), ("HTML", "HTML"),
    ("PDF", "PDF"), ("application/pdf", "PDF"), ("ZIP", "ZIP"), ("JSON", "JSON"), ("application/json", "JSON"),
    ("shapefile", "SHP"), (EU + "file-type/KML", "KML")])
def test_format_spellings(spelling, code):
    ft = vocab.file_type(spelling)
    assert ft is not None and ft.code == code and ft.uri == EU + "file-type/" + code


def test_format_flags_and_media_types():
    csv = vocab.file_type("csv")
    assert (csv.media_type, csv.machine_readable, csv.non_proprietary, csv.kind) == ("text/csv", True, True, "file")
    xls = vocab.file_type("xls")
    assert xls.machine_readable and not xls.non_proprietary
    assert vocab.file_type("WMS").kind == "service" and vocab.file_type("HTML").kind == "page"
    assert vocab.file_type("SHP").media_type is None  # the table's .dbf guess is not a shapefile's type
    assert vocab.file_type("docx").media_type.endswith("wordprocessingml.document")


@pytest.mark.parametrize("junk", ["API", "", None, "no such format"])
def test_unknown_format_is_none(junk):
    assert vocab.file_type(junk) is None


def test_format_from_url_extension():
    assert vocab.file_type_for_url("https://x.org/files/data.CSV?download=1").code == "CSV"
    assert vocab.file_type_for_url("https://x.org/dataset/") is None


def test_iana_media_type_uri():
    assert vocab.media_type_uri("text/csv; charset=utf-8") == "https://www.iana.org/assignments/media-types/text/csv"
    assert vocab.media_type_uri("application/x-made-up") is None


@pytest.mark.parametrize("spelling,code", [
    ("annual", "ANNUAL"), ("monthly", "MONTHLY"), ("daily", "DAILY"), ("weekly", "WEEKLY"),
    ("quarterly", "QUARTERLY"), ("irregular", "IRREG"), ("never", "NEVER"), ("Fortnightly", "BIWEEKLY"),
    ("http://purl.org/cld/freq/annual", "ANNUAL"), ("http://purl.org/cld/freq/threeTimesAYear", "ANNUAL_3"),
    ("R/P1W", "WEEKLY"), ("P1M", "MONTHLY"), (EU + "frequency/DAILY", "DAILY")])
def test_frequencies(spelling, code):
    assert vocab.frequency(spelling) == EU + "frequency/" + code


@pytest.mark.parametrize("spelling,code", [("environment", "ENVI"), ("Transport", "TRAN"), ("crime-and-justice", "JUST"),
                                           ("HEAL", "HEAL"), ("Economy and finance", "ECON")])
def test_themes(spelling, code):
    assert vocab.theme(spelling) == EU + "data-theme/" + code


@pytest.mark.parametrize("spelling", ["en", "eng", "ENG", "English", "en-GB", "http://id.loc.gov/vocabulary/iso639-1/en"])
def test_languages(spelling):
    assert vocab.language(spelling) == EU + "language/ENG"


def test_unknowns_are_none_not_errors():
    assert vocab.frequency("whenever we feel like it") is None
    assert vocab.theme("mapping") is None
    assert vocab.language("xx-yy") is None


def test_concept_triples_bridge_language_from_the_trimmed_csv():
    uri = EU + "language/ENG"
    triples = set(vocab.concept_triples(uri))
    ref = URIRef(uri)
    assert (ref, RDF.type, DCTERMS.LinguisticSystem) in triples
    assert (ref, SKOS.inScheme, URIRef(EU + "language")) in triples
    assert any(p == SKOS.prefLabel and str(o) == "English" for _, p, o in triples)
    assert vocab.concept_triples("https://example.org/x") == []
