"""The DCAT → DCAT-AP 3 normaliser on real samples and the crafted quirk catalogue.

Raw records are produced by the real harvester over 127.0.0.1 (the payload shape is the harvester's
contract), then mapped; SHACL is the official DCAT-AP 3.0.1 shapes (expectations.shacl).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pyoxigraph as ox
import pytest
from helpers import curie, doc_table
from rdflib import BNode, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF, XSD

from citycat.localdcat import LocalDcat
from expectations.shacl import validate_graph
from harvesters.base import HarvestWindow, RawRecord
from harvesters.dcat import DcatHarvester, PageGraph, ntriples
from harvesters.http import HttpConfig
from transforms import get_mapping
from transforms.base import Institution, MappingError, SourceContext
from transforms.dcat import FIELD_MAP, map_dataset
from transforms.dcat_terms import CURIE_PREFIXES
from transforms.row import FLAT_COLUMNS

DATA = Path(__file__).parent / "data" / "dcat"
CTX = SourceContext("src", "Src", "https://portal.example.org", Institution("Test Council", "council"),
                    "https://data.example.org/citycat")
EU = "http://publications.europa.eu/resource/authority/"
ROSTOCK = "https://www.opendata-hro.de/dataset/c1be4007-d811-48fb-8818-2cb358b06a63"
NOBEL = "http://nobelprize.org/datasets/dcat#ds1"


def _records_of(body: bytes, fmt: ox.RdfFormat, base: str = "http://example.org/doc") -> dict[str, RawRecord]:
    """What the harvester yields for a document, without HTTP (the page logic is the harvester's own)."""
    graph = PageGraph([q.triple for q in ox.parse(body, format=fmt, base_iri=base)])
    out = {}
    for node in graph.datasets():
        nt = ntriples(graph.description(node))
        native = DcatHarvester._native_id(graph, node, nt)
        out[native] = RawRecord("src", native, "2026-01-01T00:00:00+00:00", "application/n-triples", nt,
                                source_modified=graph.record_modified().get(node))
    return out


@pytest.fixture(scope="module")
def records() -> dict[str, RawRecord]:
    """Every sample harvested over HTTP by the real harvester."""
    out: dict[str, RawRecord] = {}
    with LocalDcat() as site:
        site.serve_directory(DATA)
        for name in ("rostock_dcatde_dataset.rdf", "nobelmedia_dcatap_catalog.rdf", "quirks_crafted.ttl"):
            h = DcatHarvester("src", f"{site.url}/{name}", DcatHarvester.Options(requests_per_second=100),
                              HttpConfig(requests_per_second=0))
            out.update({r.native_id: r for r in h.records(HarvestWindow(), "full")})
    return out


def _objects(mapped, s, p) -> list:
    return [o for s2, p2, o in mapped.triples if s2 == s and p2 == p]


def test_registered_in_transforms():
    assert get_mapping("dcat") is map_dataset


# ----------------------------------------------------------------------------- SHACL on the real samples


def test_rostock_conforms_to_dcat_ap3_shapes(records):
    mapped = map_dataset(records[ROSTOCK], CTX)
    result = validate_graph(mapped.graph())
    assert result.conforms, result.messages


def test_nobel_only_violation_is_the_unlabelled_eurovoc_theme(records):
    """The sample names a EuroVoc theme without its label; everything else is upgraded to conform."""
    result = validate_graph(map_dataset(records[NOBEL], CTX).graph())
    assert result.violations == 1, result.messages
    assert result.by_shape.get("shapes:Category_Shape skos:prefLabel") == 1
    assert "eurovoc.europa.eu/100142" in result.messages[0]


def test_graph_has_no_blank_nodes_and_skolem_iris_live_under_the_minted_path(records):
    mapped = map_dataset(records[ROSTOCK], CTX)
    assert not any(isinstance(t, BNode) for triple in mapped.triples for t in triple)
    minted = str(CTX.mint("dataset", ROSTOCK))
    skolem = {str(o) for _, _, o in mapped.triples if str(o).startswith(minted + "#")}
    assert {f"{minted}#distribution-{i}-checksum-1" for i in (1, 3, 6, 7, 9)} <= skolem
    assert {f"{minted}#spatial-1", f"{minted}#spatial-2", f"{minted}#contactPoint-1"} <= skolem
    assert mapped.uri == ROSTOCK


def test_same_input_gives_the_same_hash(records):
    assert map_dataset(records[ROSTOCK], CTX).content_hash() == map_dataset(records[ROSTOCK], CTX).content_hash()


# ----------------------------------------------------------------------------- DCAT-AP 2 → 3 upgrades (real quirks)


def test_quirk_adms_contact_point_becomes_dcat_contact_point(records):
    mapped = map_dataset(records[NOBEL], CTX)
    ds = URIRef(NOBEL)
    assert _objects(mapped, ds, DCAT.contactPoint)
    assert not _objects(mapped, ds, URIRef("http://www.w3.org/ns/adms#contactPoint"))
    assert mapped.row["contact_email"] == "info@nobelmedia.org" and mapped.row["contact_name"] == "Nobel Media AB"


def test_quirk_format_literals_become_eu_file_types_one_per_distribution(records):
    mapped = map_dataset(records[NOBEL], CTX)
    dist = URIRef("http://nobelprize.org/datasets/dcat#dist1")
    assert _objects(mapped, dist, DCTERMS.format) == [URIRef(EU + "file-type/RDF_XML")]
    assert _objects(mapped, dist, DCAT.mediaType) == [URIRef("https://www.iana.org/assignments/media-types/"
                                                             "application/rdf+xml")]
    assert any(w.startswith("dcat:distribution[1]/dct:format: 2 formats") for w in mapped.warnings)


def test_quirk_retired_cld_frequency_becomes_eu_frequency(records):
    mapped = map_dataset(records[NOBEL], CTX)
    assert _objects(mapped, URIRef(NOBEL), DCTERMS.accrualPeriodicity) == [URIRef(EU + "frequency/DAILY")]
    assert mapped.row["frequency"] == "DAILY"


def test_quirk_schema_dates_on_period_become_dcat_dates(records):
    mapped = map_dataset(records[NOBEL], CTX)
    assert (mapped.row["temporal_start"], mapped.row["temporal_end"]) == ("1905-03-01", "2013-01-05")
    assert not any(p == URIRef("http://schema.org/startDate") for _, p, _ in mapped.triples)


def test_quirk_untyped_dates_become_xsd_dates(records):
    issued = _objects(map_dataset(records[NOBEL], CTX), URIRef(NOBEL), DCTERMS.issued)
    assert issued == [Literal("2014-01-15", datatype=XSD.date)]


def test_quirk_decimal_byte_size_becomes_non_negative_integer(records):
    mapped = map_dataset(records[ROSTOCK], CTX)
    sizes = {o for _, p, o in mapped.triples if p == DCAT.byteSize}
    assert Literal("147253", datatype=XSD.nonNegativeInteger) in sizes
    assert all(o.datatype == XSD.nonNegativeInteger for o in sizes)


def test_quirk_naive_datetimes_with_microseconds_are_utc(records):
    modified = _objects(map_dataset(records[ROSTOCK], CTX), URIRef(ROSTOCK), DCTERMS.modified)
    assert [str(m) for m in modified] == ["2024-05-08T04:11:24.309486+00:00"]


def test_quirk_conforms_to_literal_becomes_a_standard(records):
    mapped = map_dataset(records[ROSTOCK], CTX)
    std = URIRef("http://dcat-ap.de/def/dcatde/")
    assert _objects(mapped, URIRef(ROSTOCK), DCTERMS.conformsTo) == [std]
    assert (std, RDF.type, DCTERMS.Standard) in set(mapped.triples)


def test_quirk_two_geometries_on_one_location_keep_the_wkt(records):
    mapped = map_dataset(records[ROSTOCK], CTX)
    geoms = [o for _, p, o in mapped.triples if p == URIRef("http://www.w3.org/ns/locn#geometry")]
    assert len(geoms) == 1 and geoms[0].datatype == URIRef("http://www.opengis.net/ont/geosparql#wktLiteral")


def test_quirk_adms_status_and_dcatde_checksum_algorithm_upgraded(records):
    mapped = map_dataset(records[ROSTOCK], CTX)
    statuses = {str(o) for _, p, o in mapped.triples if p == URIRef("http://www.w3.org/ns/adms#status")}
    algos = {str(o) for _, p, o in mapped.triples if p == URIRef("http://spdx.org/rdf/terms#algorithm")}
    assert statuses == {EU + "distribution-status/COMPLETED"}
    assert algos == {"https://spdx.org/rdf/terms#checksumAlgorithm_sha256"}


def test_quirk_dcatde_licence_only_on_distributions_reaches_the_row(records):
    row = map_dataset(records[ROSTOCK], CTX).row
    assert row["licence_uri"] == "http://dcat-ap.de/def/licenses/cc-zero" and row["licence_open"] is None


# ----------------------------------------------------------------------------- crafted quirks (README: CRAFTED)


def test_quirk_prefixed_names_used_as_literals(records):
    mapped = map_dataset(records["https://data.example.org/id/prefixed-type"], CTX)
    ds = URIRef(mapped.uri)
    assert _objects(mapped, ds, DCTERMS.type) == [URIRef("http://purl.org/dc/dcmitype/Dataset")]
    assert mapped.row["frequency"] == "ANNUAL"
    assert any("prefixed name used as a literal 'dctype:Dataset'" in w for w in mapped.warnings)
    assert validate_graph(mapped.graph()).conforms


def test_quirk_plain_string_access_urls(records):
    mapped = map_dataset(records["https://data.example.org/id/string-urls"], CTX)
    assert mapped.row["access_urls"] == ["https://files.example.org/bins.csv"]
    assert mapped.row["download_urls"] == ["https://files.example.org/bins.csv"]
    assert mapped.row["formats"] == ["CSV"] and mapped.row["offer"] == ["download"]
    assert any(w.startswith("dcat:distribution[1]/dcat:accessURL: plain string") for w in mapped.warnings)
    assert validate_graph(mapped.graph()).conforms


def test_quirk_empty_typed_date_literals(records):
    mapped = map_dataset(records["https://data.example.org/id/empty-dates"], CTX)
    assert "dct:issued: empty date literal dropped" in mapped.warnings
    assert mapped.row["issued"] is None and mapped.row["modified"] is None
    result = validate_graph(mapped.graph())  # nothing is invented: the record's mandatory modified is missing
    assert result.violations == 1 and "#record dct:modified" in result.messages[0]


def test_quirk_localhost_iris(records):
    mapped = map_dataset(records["http://localhost:5000/dataset/street-lights"], CTX)
    minted = str(CTX.mint("dataset", "http://localhost:5000/dataset/street-lights"))
    assert mapped.uri == minted and mapped.row["identifier"] == "http://localhost:5000/dataset/street-lights"
    assert mapped.row["landing_page"] is None
    hosts = {urlsplit(str(t)).hostname for triple in mapped.triples for t in triple if isinstance(t, URIRef)}
    assert "localhost" not in hosts
    assert any(str(s) == f"{minted}#distribution-1" for s, _, _ in mapped.triples)
    assert validate_graph(mapped.graph()).conforms


def test_quirk_blank_node_datasets(records):
    with_id = map_dataset(records["allotments-2024"], CTX)
    assert with_id.uri == str(CTX.mint("dataset", "allotments-2024")) and with_id.row["identifier"] == "allotments-2024"
    hashed = next(k for k in records if k.startswith("sha256:"))
    mapped = map_dataset(records[hashed], CTX)
    assert mapped.row["publisher"] == "Facilities" and mapped.uri.endswith("sha256%3A" + hashed[7:])
    assert validate_graph(mapped.graph()).conforms


# ----------------------------------------------------------------------------- row and errors


def test_row_has_every_flat_column_with_the_right_types(records):
    row = map_dataset(records[ROSTOCK], CTX).row
    assert set(row) == set(FLAT_COLUMNS)
    assert row["distribution_count"] == 9 and row["themes"] == ["ECON"]
    assert row["formats"] == ["CSV", "GEOJSON", "GML", "KML", "WFS_SRVC", "WMS_SRVC", "XLSX"]
    assert row["offer"] == ["api", "download", "visualisation"]
    assert row["publisher"] == "Hanse- und Universitätsstadt Rostock"


def test_dataset_without_title_is_a_mapping_error_naming_the_field():
    rec = RawRecord("src", "https://e.org/d", "t", "application/n-triples",
                    "<https://e.org/d> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <http://www.w3.org/ns/dcat#Dataset> .\n")
    with pytest.raises(MappingError) as err:
        map_dataset(rec, CTX)
    assert (err.value.field, err.value.native_id, err.value.source_id) == ("dct:title", "https://e.org/d", "src")


@pytest.mark.parametrize("payload,field", [("not n-triples at all", "payload"), ({"a": 1}, "payload"),
                                           ('<https://e.org/d> <http://purl.org/dc/terms/title> "x" .\n', "rdf:type")])
def test_unusable_payloads_are_mapping_errors(payload, field):
    with pytest.raises(MappingError) as err:
        map_dataset(RawRecord("src", "https://e.org/d", "t", "application/n-triples", payload), CTX)
    assert err.value.field == field


# ----------------------------------------------------------------------------- the documented table


def test_doc_table_equals_field_map():
    doc = doc_table("mapping-dcat.md", after="## Field table")
    assert list(doc) == list(FIELD_MAP), "same fields, same order"
    assert doc == FIELD_MAP


def _follow(triples, start, path: str) -> set:
    nodes = {start}
    for step in path.split("/"):
        p = curie(step.lstrip("^"), CURIE_PREFIXES)
        if step.startswith("^"):
            nodes = {s for s, p2, o in triples if p2 == p and o in nodes}
        else:
            nodes = {o for s, p2, o in triples if p2 == p and s in nodes}
    return nodes


def _check(record: RawRecord) -> tuple[set[str], list[str]]:
    """(source paths present, documented output paths missing)."""
    src = [tuple(t) for t in __import__("transforms.rdf", fromlist=["x"]).parse_ntriples(record.payload)]
    root = next(s for s, p, o in src if p == RDF.type and o == DCAT.Dataset
                and (str(s) == record.native_id or not isinstance(s, URIRef)))
    mapped = map_dataset(record, CTX)
    present, missing = set(), []
    for field, paths in FIELD_MAP.items():
        if field == "@id":
            if not (isinstance(root, URIRef) and str(root).startswith("https://data.")):
                continue
        elif not _follow(src, root, field):
            continue
        present.add(field)
        for path in paths:
            ok = mapped.uri == str(root) if path == "@id" else bool(_follow(mapped.triples, URIRef(mapped.uri), path))
            if not ok:
                missing.append(f"{field} -> {path}")
    return present, missing


def _full_record(records) -> RawRecord:
    """Rostock plus the documented fields no real sample carries (derived here, not recorded)."""
    extra = (f'<{ROSTOCK}> <http://purl.org/dc/terms/license> <http://creativecommons.org/publicdomain/zero/1.0/> .\n'
             f'<{ROSTOCK}> <http://www.w3.org/2002/07/owl#versionInfo> "2.1" .\n'
             f'<{ROSTOCK}> <http://purl.org/dc/terms/type> "dctype:Dataset" .\n'
             f'<{ROSTOCK}> <http://purl.org/dc/terms/accrualPeriodicity> <http://purl.org/cld/freq/monthly> .\n'
             f'<{ROSTOCK}> <http://purl.org/dc/terms/temporal> _:t .\n'
             '_:t <http://www.w3.org/ns/dcat#startDate> "2020-01-01"^^<http://www.w3.org/2001/XMLSchema#date> .\n'
             f'<{ROSTOCK}> <http://www.w3.org/ns/adms#contactPoint> _:c .\n'
             '_:c <http://www.w3.org/2006/vcard/ns#fn> "Open data team" .\n')
    base = records[ROSTOCK]
    return RawRecord("src", ROSTOCK, base.fetched_at, base.media_type, base.payload + extra, source_modified=None)


def test_every_documented_field_is_covered_by_the_inputs(records):
    covered = set()
    for rec in [_full_record(records), records[NOBEL]]:
        covered |= _check(rec)[0]
    assert [f for f in FIELD_MAP if f not in covered and f != "@id"] == []


@pytest.mark.parametrize("key", ["full", ROSTOCK, NOBEL, "https://data.example.org/id/string-urls", "allotments-2024"])
def test_every_documented_path_appears(records, key):
    rec = _full_record(records) if key == "full" else records[key]
    assert _check(rec)[1] == []


def test_the_check_can_fail(records):
    """A documented field whose value cannot be mapped is reported: guard against a vacuous check."""
    rec = _full_record(records)
    rec.payload = rec.payload.replace("<http://purl.org/cld/freq/monthly>", "<http://purl.org/cld/freq/whenever>")
    assert "dct:accrualPeriodicity -> dct:accrualPeriodicity" in _check(rec)[1]


def test_records_built_without_http_match_the_harvested_ones(records):
    """_records_of (used by other modules' tests) gives exactly what the harvester yields for the same bytes."""
    direct = _records_of((DATA / "rostock_dcatde_dataset.rdf").read_bytes(), ox.RdfFormat.RDF_XML)
    assert direct[ROSTOCK].payload == records[ROSTOCK].payload
