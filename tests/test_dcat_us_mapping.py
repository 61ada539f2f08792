"""DCAT-US 1.1 dataset → DCAT-AP 3: the documented contract, the crosswalk, the shapes, and one test per quirk.

Real inputs are the two recorded data.json files in tests/data/dcat_us (see its README.md). Quirks no real
sample shows (template placeholders, HTML licence blobs, identifiers with spaces, restricted access levels,
temporal intervals) use small crafted payloads written next to their test, derived from a real dataset.
"""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path

import pytest
from helpers import doc_rows, doc_table, follow
from rdflib import Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, ORG, RDF, RDFS

from expectations.shacl import validate_graph
from transforms import get_mapping, vocab
from transforms.base import Institution, MappingError, SourceContext
from transforms.dcat_us import DEVIATIONS, FIELD_MAP, NOT_MAPPED, map_dataset
from transforms.dcat_us_schema import SCHEMA_BASE, registry, schema_problems
from transforms.rdf import GSP, PREFIXES, VCARD
from transforms.row import FLAT_COLUMNS
from transforms.vocab_base import DATA as VOCAB_DATA

DATA = Path(__file__).parent / "data" / "dcat_us"
CTX = SourceContext("apur", "APUR open data", "http://cassini.apur.opendata.arcgis.com/data.json",
                    Institution("Test Council", "council"), "https://data.example.org/citycat")
PATH_PREFIXES = {**PREFIXES, "org": ORG}
CFTC = json.loads((DATA / "cftc_data.json").read_text(encoding="utf-8"))["dataset"]
APUR = json.loads((DATA / "apur_arcgis_opendata_data.json").read_text(encoding="utf-8"))["dataset"]
EU = vocab.EU
# Fields whose real value may legitimately not map (R/P1W is no date, "geospatial" is no EU theme, "mailto:").
CONDITIONAL = {"modified", "theme[]", "contactPoint.hasEmail"}


def cftc(n: int) -> dict:
    return copy.deepcopy(CFTC[n - 1])


def apur(n: int = 1) -> dict:
    return copy.deepcopy(APUR[n - 1])


def full_dataset() -> dict:
    """The first APUR dataset with every documented field filled in (derived here, not recorded)."""
    ds = apur(1)
    ds.update({"@id": "http://cassini.apur.opendata.arcgis.com/id/appui-innovation",
               "accrualPeriodicity": "R/P1Y", "rights": "Open to all; see the licence.",
               "license": "https://creativecommons.org/licenses/by/4.0/",
               "temporal": "2016-01-01/2016-12-31", "language": ["fr"], "theme": ["geospatial", "Transportation"],
               "references": ["http://www.apur.org/open_data/APPUI_INNOVATION_OD.pdf"],
               "describedBy": "http://www.apur.org/open_data/dictionary.pdf",
               "conformsTo": "https://www.apur.org/standards/innovation-v1",
               "contactPoint": {"fn": "Emmanuel FAURE", "hasEmail": "mailto:open-data@apur.org"},
               "publisher": {"name": "Atelier Parisien d'Urbanisme", "subOrganizationOf": {"name": "Ville de Paris"}}})
    ds["distribution"][3].update(description="<p>All <b>points</b> as CSV</p>",
                                 describedBy="http://www.apur.org/open_data/csv-fields.pdf",
                                 conformsTo="https://www.rfc-editor.org/rfc/rfc4180")
    return ds


# --------------------------------------------------------------------------- the documented contract


def _doc_tables() -> tuple[dict[str, tuple[str, ...]], list[str]]:
    mapped = doc_table("mapping-dcat-us.md", before="\n## Not mapped")
    unmapped = [cells[0].strip("`") for cells in doc_rows("mapping-dcat-us.md", after="\n## Not mapped")]
    return mapped, unmapped


def test_doc_tables_equal_field_map_and_not_mapped():
    mapped, unmapped = _doc_tables()
    assert list(mapped) == list(FIELD_MAP) and mapped == FIELD_MAP
    assert unmapped == list(NOT_MAPPED)


def _crosswalk() -> list[tuple[str, str]]:
    """(our field name, crosswalk DCAT path) for every dataset/distribution row of the official crosswalk."""
    lists = {"keyword", "theme", "language", "references", "distribution"}
    out = []
    path = VOCAB_DATA / "dcat-us" / "dcat-us-1.1_field_mappings.csv"
    for r in csv.DictReader(path.open(encoding="utf-8")):
        if r["section"] not in ("dataset", "distribution"):
            continue
        name = r["pod_v1_0"] if r["pod_v1_1"] == "Removed" else r["pod_v1_1"]
        name = name.replace(" -> ", ".")
        name = f"{name}[]" if name in lists else name
        if r["section"] == "distribution" and name != "@type":
            name = f"distribution[].{name}"
        dcat = "" if r["dcat"] == "n/a" else r["dcat"].replace(" -> ", "/")
        if r["section"] == "distribution" and dcat:
            dcat = f"dcat:distribution/{dcat}"
        out.append((name, dcat))
    return out


def test_every_crosswalk_field_is_mapped_or_explained():
    names = [n for n, _ in _crosswalk()]
    assert len(names) > 40
    assert [n for n in names if n not in FIELD_MAP and n not in NOT_MAPPED] == []
    assert set(DEVIATIONS) <= set(FIELD_MAP)


def test_mapped_fields_use_the_crosswalk_property_unless_a_deviation_says_why():
    wrong = [(n, d) for n, d in _crosswalk() if d and n in FIELD_MAP and n not in DEVIATIONS
             and not any(p == d or p.startswith(d + "/") for p in FIELD_MAP[n])]
    assert wrong == []


def _present(ds: dict, field: str) -> bool:
    def filled(v):
        return v not in (None, "", [], {})

    head, _, tail = field.partition("[]")
    if tail:
        items = ds.get(head) or []
        return any(filled(i.get(tail[1:])) for i in items if isinstance(i, dict))
    if "." in field:
        head, _, tail = field.partition(".")
        return isinstance(ds.get(head), dict) and filled(ds[head].get(tail))
    return filled(ds.get(head))


def _missing(ds: dict, skip: set[str]) -> list[str]:
    mapped = map_dataset(ds, CTX)
    g, node = mapped.graph(), URIRef(mapped.uri)
    missing = []
    for field, paths in FIELD_MAP.items():
        if field in skip or not _present(ds, field):
            continue
        for path in paths:
            ok = mapped.uri == ds["@id"] if path == "@id" else bool(follow(g, node, path, PATH_PREFIXES))
            if not ok:
                missing.append(f"{field} -> {path}")
    return missing


def test_full_dataset_covers_every_documented_field_and_path():
    ds = full_dataset()
    assert [f for f in FIELD_MAP if not _present(ds, f)] == []
    assert _missing(ds, skip=set()) == []


@pytest.mark.parametrize("ds", [*CFTC, *APUR], ids=lambda d: d["identifier"][-14:])
def test_documented_paths_appear_for_every_real_dataset(ds):
    assert _missing(ds, skip=CONDITIONAL) == []


def test_the_path_check_can_fail():
    ds = full_dataset()
    ds["accrualPeriodicity"] = "whenever"
    assert "accrualPeriodicity -> dct:accrualPeriodicity" in _missing(ds, skip=set())


def test_registered_mapping_and_complete_flat_row():
    assert get_mapping("dcat-us") is map_dataset
    row = map_dataset(apur(1), CTX).row
    assert set(row) == set(FLAT_COLUMNS)
    assert row["offer"] == ["api", "download", "visualisation"] and row["distribution_count"] == 6
    assert row["formats"] == ["CSV", "GEOJSON", "HTML", "KML", "REST", "ZIP"]


# --------------------------------------------------------------------------- official shapes


@pytest.mark.parametrize("n", [1, 2, 3])
def test_real_arcgis_datasets_conform(n):
    result = validate_graph(map_dataset(apur(n), CTX).graph())
    assert result.violations == 0, result.messages


def test_full_dataset_conforms():
    result = validate_graph(map_dataset(full_dataset(), CTX).graph())
    assert result.violations == 0, result.messages


@pytest.mark.parametrize("n", range(1, 8))
def test_real_cftc_datasets_conform_except_undated_catalogue_record(n):
    """CFTC's R/P1W datasets have no date anywhere: the only violation is the record's missing dct:modified."""
    ds = cftc(n)
    result = validate_graph(map_dataset(ds, CTX).graph())
    if ds["modified"].startswith("R/"):
        assert result.violations == 1, result.messages
        assert [m for m in result.messages if m.startswith("Violation")] == [
            m for m in result.messages if m.startswith("Violation") and "#record dct:modified" in m]
    else:
        assert result.violations == 0, result.messages


# --------------------------------------------------------------------------- schema and identity


def test_schema_errors_are_warnings_naming_the_field_and_the_dataset_is_kept():
    mapped = map_dataset(apur(1), CTX)
    assert "bureauCode: schema: missing (required by DCAT-US 1.1)" in mapped.warnings
    assert "contactPoint.hasEmail: schema: 'mailto:' does not match the DCAT-US 1.1 pattern" in mapped.warnings
    assert mapped.row["title"] == "APPUI INNOVATION"
    assert not [w for w in map_dataset(cftc(1), CTX).warnings if "schema" in w]  # CFTC passes the schema


def test_schema_refs_resolve_offline_and_unknown_refs_are_refused():
    from referencing.exceptions import Unresolvable

    assert registry().resolver().lookup(SCHEMA_BASE + "vcard.json").contents["title"].endswith("vCard")
    with pytest.raises(Unresolvable):
        registry().resolver().lookup(SCHEMA_BASE + "not-shipped.json")
    problems = schema_problems({"distribution": [{"downloadURL": "http://x.org/a.csv"}]})
    assert "distribution[0].mediaType" in [f for f, _ in problems]  # found through the distribution.json $ref


@pytest.mark.parametrize("field", ["identifier", "title"])
def test_dataset_without_identity_is_a_mapping_error_naming_the_field(field):
    ds = cftc(1)
    ds[field] = "   "
    with pytest.raises(MappingError) as exc:
        map_dataset(ds, CTX)
    assert exc.value.field == field and exc.value.source_id == "apur"


# --------------------------------------------------------------------------- real-world quirks


def test_quirk_repeating_interval_in_modified():
    """CFTC ``"modified": "R/P1W"``: no dct:modified; WEEKLY derived; R/P10D has no EU frequency (warning)."""
    mapped = map_dataset(cftc(1), CTX)
    g, ds = mapped.graph(), URIRef(mapped.uri)
    assert list(g.objects(ds, DCTERMS.modified)) == [] and mapped.row["modified"] is None
    assert list(g.objects(ds, DCTERMS.accrualPeriodicity)) == [URIRef(EU + "frequency/WEEKLY")]
    assert mapped.row["frequency"] == "WEEKLY"
    assert any(w.startswith("modified: ISO 8601 repeating interval 'R/P1W'") for w in mapped.warnings)
    assert map_dataset(cftc(2), CTX).row["frequency"] == "MONTHLY"
    odd = cftc(1) | {"modified": "R/P10D"}
    mapped = map_dataset(odd, CTX)
    assert mapped.row["frequency"] is None and any("maps to no EU frequency" in w for w in mapped.warnings)
    stated = cftc(1) | {"accrualPeriodicity": "irregular"}
    assert map_dataset(stated, CTX).row["frequency"] == "IRREG"  # the stated frequency wins


def test_quirk_unfilled_template_placeholders():
    """Crafted from an ArcGIS Hub dataset: fields the Hub template could not fill are served as ``{{...}}``."""
    ds = apur(1) | {"spatial": "{{extent:computeSpatialProperty}}", "keyword": ["apur_bd_economie", "{{tags}}"],
                    "contactPoint": {"fn": "Emmanuel FAURE", "hasEmail": "{{orgContactEmail}}"},
                    "license": "{{license}}"}
    mapped = map_dataset(ds, CTX)
    nt = mapped.ntriples()
    assert "{{" not in nt
    assert mapped.row["spatial"] is None and mapped.row["keywords"] == ["apur_bd_economie", "geospatial"]
    for field in ("spatial", "keyword[1]", "contactPoint.hasEmail", "license"):
        assert any(w.startswith(f"{field}: unfilled template placeholder") for w in mapped.warnings), field
    assert mapped.row["contact_name"] == "Emmanuel FAURE" and mapped.row["contact_email"] is None


def test_quirk_html_blob_as_licence():
    """Crafted: ArcGIS Hub pastes the licence as HTML; a licence URL inside is recognised, else unknown."""
    blob = ('<div><span>This work is licensed under a <a href="https://creativecommons.org/licenses/by/4.0/" '
            'target="_blank">Creative Commons Attribution 4.0 International License</a>.</span></div>')
    mapped = map_dataset(apur(1) | {"license": blob}, CTX)
    assert mapped.row["licence_uri"] == EU + "licence/CC_BY_4_0" and mapped.row["licence_open"] is True
    assert mapped.row["licence_label"].startswith("This work is licensed")
    assert (URIRef(mapped.uri), DCTERMS.license, URIRef(EU + "licence/CC_BY_4_0")) in mapped.graph()
    vague = map_dataset(apur(1) | {"license": "<p>Please <b>credit</b> the City when using this data.</p>"}, CTX)
    assert vague.row["licence_uri"] is None and vague.row["licence_label"].startswith("Please credit the City")
    assert any(w.startswith("license: HTML names no recognised licence") for w in vague.warnings)
    assert list(vague.graph().objects(URIRef(vague.uri), DCTERMS.license)) == []


def test_quirk_mailto_without_address():
    """APUR ``"hasEmail": "mailto:"``: the name is kept, no e-mail, a warning on the field."""
    mapped = map_dataset(apur(1), CTX)
    g = mapped.graph()
    contact = next(g.objects(URIRef(mapped.uri), DCAT.contactPoint))
    assert list(g.objects(contact, VCARD.fn)) == [Literal("Emmanuel FAURE")]
    assert list(g.objects(contact, VCARD.hasEmail)) == []
    assert "contactPoint.hasEmail: 'mailto:' has no address; no e-mail" in mapped.warnings


def test_quirk_identifier_with_spaces():
    """Crafted: identifiers with spaces are real; trimmed at the ends, percent-encoded in the minted URI."""
    mapped = map_dataset(cftc(5) | {"identifier": "  DOT 2019 crash data "}, CTX)
    assert mapped.native_id == "DOT 2019 crash data" and mapped.row["identifier"] == "DOT 2019 crash data"
    assert mapped.uri == "https://data.example.org/citycat/dataset/apur/DOT%202019%20crash%20data"
    assert (URIRef(mapped.uri), DCTERMS.identifier, Literal("DOT 2019 crash data")) in mapped.graph()
    assert mapped.ntriples()  # canonical N-Triples refuses IRIs with spaces: this must not raise


def test_quirk_spatial_bbox_string():
    """APUR ``"spatial": "1.9515,48.6827,2.598,49.0496"`` (minLon,minLat,maxLon,maxLat) → dcat:bbox WKT."""
    mapped = map_dataset(apur(1), CTX)
    g = mapped.graph()
    loc = next(g.objects(URIRef(mapped.uri), DCTERMS.spatial))
    assert (loc, RDF.type, DCTERMS.Location) in g
    assert list(g.objects(loc, DCAT.bbox)) == [Literal(
        "POLYGON((1.9515 48.6827,2.598 48.6827,2.598 49.0496,1.9515 49.0496,1.9515 48.6827))",
        datatype=GSP.wktLiteral)]
    assert mapped.row["spatial"] == "1.9515,48.6827,2.598,49.0496"
    swapped = map_dataset(apur(1) | {"spatial": "48.6827,1.9515,49.0496,200"}, CTX)
    assert swapped.row["spatial"] is None and any("out of range" in w for w in swapped.warnings)
    named = map_dataset(apur(1) | {"spatial": "Paris"}, CTX)
    assert named.row["spatial"] == "Paris"


def test_quirk_licence_as_per_dataset_license_json():
    """APUR ``license`` is an ArcGIS per-dataset license.json: linked as the licence document, not identified."""
    ds = apur(1)
    mapped = map_dataset(ds, CTX)
    g, doc = mapped.graph(), URIRef(ds["license"])
    assert (URIRef(mapped.uri), DCTERMS.license, doc) in g and (doc, RDF.type, DCTERMS.LicenseDocument) in g
    assert mapped.row["licence_uri"] is None and mapped.row["licence_label"] == ds["license"]
    assert mapped.row["licence_open"] is None
    assert any(w.startswith("license: per-dataset licence document") for w in mapped.warnings)
    unknown = map_dataset(ds | {"license": "https://project-open-data.cio.gov/unknown-license/"}, CTX)
    assert list(unknown.graph().objects(URIRef(unknown.uri), DCTERMS.license)) == []


def test_quirk_landing_page_used_as_distribution():
    """CFTC lists its web page as the only distribution, accessURL only: a page, not a download."""
    ds = cftc(1)
    mapped = map_dataset(ds, CTX)
    g = mapped.graph()
    page = URIRef(ds["distribution"][0]["accessURL"])
    dist = next(g.objects(URIRef(mapped.uri), DCAT.distribution))
    assert list(g.objects(dist, DCAT.accessURL)) == [page] and list(g.objects(dist, DCAT.downloadURL)) == []
    assert list(g.objects(dist, DCTERMS.format)) == [URIRef(EU + "file-type/HTML")]
    assert mapped.row["landing_page"] == str(page) and mapped.row["download_urls"] == []
    assert mapped.row["offer"] == ["request-only"]


def test_quirk_arcgis_format_labels():
    """APUR ``format`` "Esri REST" → REST (an API), "Web page" → HTML; ``application/vnd.geo+json`` is unregistered."""
    mapped = map_dataset(apur(1), CTX)
    g = mapped.graph()
    by_title = {str(next(g.objects(d, DCTERMS.title))): d for d in g.objects(URIRef(mapped.uri), DCAT.distribution)}
    assert list(g.objects(by_title["Esri Rest API"], DCTERMS.format)) == [URIRef(EU + "file-type/REST")]
    assert list(g.objects(by_title["ArcGIS Open Dataset"], DCTERMS.format)) == [URIRef(EU + "file-type/HTML")]
    assert "distribution[2].mediaType: 'application/vnd.geo+json' is not an IANA-registered media type" \
        in mapped.warnings
    assert not any("format" in w for w in mapped.warnings)


def test_quirk_program_code_placeholder():
    """CFTC ``"programCode": ["000:000"]`` passes the schema pattern but names no programme."""
    mapped = map_dataset(cftc(1), CTX)
    assert "programCode: placeholder '000:000' (no real code assigned); not mapped" in mapped.warnings
    assert "000:000" not in mapped.ntriples()
    real = map_dataset(cftc(1) | {"programCode": ["339:001"]}, CTX)
    assert not any(w.startswith("programCode") for w in real.warnings)


def test_quirk_distribution_order_does_not_change_the_graph():
    """ArcGIS reorders distributions between exports: node names hash the URL, so the hash is stable."""
    ds = apur(1)
    shuffled = ds | {"distribution": list(reversed(ds["distribution"]))}
    assert map_dataset(ds, CTX).content_hash() == map_dataset(shuffled, CTX).content_hash()


# --------------------------------------------------------------------------- other fields


def test_publisher_and_sub_organisation_chain():
    mapped = map_dataset(cftc(1), CTX)
    g = mapped.graph()
    pub = next(g.objects(URIRef(mapped.uri), DCTERMS.publisher))
    parent = next(g.objects(pub, ORG.subOrganizationOf))
    assert list(g.objects(parent, FOAF.name)) == [Literal("U.S. Government")]
    assert mapped.row["publisher"] == "U.S. Commodity Futures Trading Commission"
    unnamed = map_dataset(cftc(1) | {"publisher": {"name": "", "subOrganizationOf": {"name": "U.S. Government"}}},
                          CTX)
    assert unnamed.row["publisher"] == "U.S. Government"
    assert any(w.startswith("publisher.name: empty; the nearest named parent") for w in unnamed.warnings)


@pytest.mark.parametrize("level,code", [("public", "PUBLIC"), ("restricted public", "RESTRICTED"),
                                        ("non-public", "NON_PUBLIC"), ("Non-Public", "NON_PUBLIC")])
def test_access_level_to_eu_access_right(level, code):
    mapped = map_dataset(cftc(1) | {"accessLevel": level}, CTX)
    assert mapped.row["access_rights"] == EU + f"access-right/{code}"


def test_unknown_access_level_is_a_warning():
    mapped = map_dataset(cftc(1) | {"accessLevel": "internal"}, CTX)
    assert mapped.row["access_rights"] is None and any(w.startswith("accessLevel:") for w in mapped.warnings)


def test_rights_and_temporal_interval():
    mapped = map_dataset(cftc(5) | {"rights": "Restricted to <b>staff</b>", "temporal": "2010-01-01/2011-06-30"},
                         CTX)
    g, ds = mapped.graph(), URIRef(mapped.uri)
    rights = next(g.objects(ds, DCTERMS.rights))
    assert list(g.objects(rights, RDFS.label)) == [Literal("Restricted to staff")]
    assert (mapped.row["temporal_start"], mapped.row["temporal_end"]) == ("2010-01-01", "2011-06-30")
    open_end = map_dataset(cftc(5) | {"temporal": "2010-01-01T00:00:00Z/P1Y"}, CTX)
    assert open_end.row["temporal_start"] == "2010-01-01T00:00:00+00:00" and open_end.row["temporal_end"] is None
    assert any(w.startswith("temporal: end 'P1Y' is a duration") for w in open_end.warnings)


def test_eu_theme_only_where_the_vocabulary_maps_it():
    mapped = map_dataset(apur(1) | {"theme": ["geospatial", "Transportation"]}, CTX)
    assert mapped.row["themes"] == ["TRAN"]
    assert mapped.row["keywords"] == ["apur_bd_economie", "geospatial", "Transportation"]
