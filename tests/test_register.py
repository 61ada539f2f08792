"""The ``register`` kind: CSV/XLSX information asset registers, read from disk and from 127.0.0.1.

The register is crafted (tests/data/register/README.md says why); each quirk file carries one
real-world quirk and must yield exactly the rows of the plain CSV. The end-to-end tests run the same
stage functions as CKAN (``run_source``) and check the published feed against the DCAT-AP 3 shapes.
"""

from __future__ import annotations

import codecs
import io
import re
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from rdflib import URIRef
from rdflib.namespace import DCAT, DCTERMS

import harvesters
from citycat.localserver import Fault, LocalServer, Reply, Request
from conftest_portal import fast_http, sleeps  # noqa: F401
from harvesters.base import FatalSourceError, HarvestWindow
from harvesters.http import TruncatedResponseError
from harvesters.asset_register import RegisterHarvester, cell_text, column_letter, content_id
from helpers import doc_table, feed_pages, follow, sqlite_inventory, validated_pages, write_sources
from transforms.base import Institution, MappingError, SourceContext
from transforms.register import FIELD_MAP, map_register_row
from transforms.register_fields import access_right, contact_parts, split_list

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data" / "register"
CSV = DATA / "register.csv"
XLSX = DATA / "register.xlsx"
FULL = HarvestWindow()
T0 = datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)
COLUMNS = {"title": "Information Asset", "description": "Description", "owner": "Information Asset Owner",
           "licence": "Licence", "format": "Format", "frequency": "Update Frequency", "contact": "Contact",
           "identifier": "Asset ID", "url": "Link", "access": "Security Classification", "modified": "Last Reviewed"}
XLSX_OPTIONS = {"sheet": "Information Asset Register", "header_row": 3}
INSTITUTION = Institution("Test Borough Council", "council", "https://www.testborough.gov.uk/")
CTX = SourceContext("tb-iar", "Test Borough IAR", str(CSV), INSTITUTION, "https://data.example.org/citycat")
QUIRK_IDS = ["IA-001", content_id("Allotment Plot Holders", "Parks Manager"), "IA-012"]


def harvester(url: str | Path, http: Any = None, columns: dict | None = None, **options: Any) -> RegisterHarvester:
    options.setdefault("requests_per_second", 100)
    opts = RegisterHarvester.Options(columns=columns or COLUMNS, **options)
    return RegisterHarvester("tb-iar", str(url), opts, http)


def harvest(url: str | Path, http: Any = None, **options: Any) -> tuple[RegisterHarvester, list]:
    h = harvester(url, http, **options)
    return h, list(h.records(FULL, "full"))


@pytest.fixture(scope="module")
def plain() -> dict[str, dict]:
    """native id → row of the plain CSV: what every other reading of the register must equal."""
    return {r.native_id: r.payload["row"] for r in harvest(CSV)[1]}


# --------------------------------------------------------------------------- registry, config


def test_registered_under_its_kind_with_file_schemes():
    from citycat.config import SourceConfig

    harvesters.load_builtin()
    assert harvesters.get("register") is RegisterHarvester
    assert RegisterHarvester.cursor is None and "file" in RegisterHarvester.url_schemes
    entry = {"id": "iar", "title": "IAR", "kind": "register", "url": "tests/data/register/register.csv",
             "institution": {"name": "Test Borough Council", "kind": "council"}, "columns": COLUMNS, "header_row": 2}
    source = SourceConfig.from_entry(entry)
    assert source.options.columns.title == "Information Asset" and source.options.header_row == 2
    with pytest.raises(ValueError, match="titel"):  # a typo in a column-mapping key is a config error
        SourceConfig.from_entry({**entry, "columns": {"titel": "Information Asset"}})
    with pytest.raises(ValueError, match="unknown encoding"):
        SourceConfig.from_entry({**entry, "encoding": "utf-9"})


def test_load_builtin_registers_the_kind_in_a_fresh_process():
    """Regression: a module named ``harvesters/register.py`` is shadowed by the ``register`` decorator that
    ``harvesters`` exports, so ``from harvesters import register`` never imported it (kind missing in the CLI)."""
    import subprocess
    import sys

    code = ("import harvesters; harvesters.load_builtin(); "
            "assert 'register' in harvesters.registry(), sorted(harvesters.registry()); "
            "assert callable(harvesters.register)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr


# --------------------------------------------------------------------------- reading


def test_every_row_becomes_a_raw_record_exactly_as_in_the_file():
    h, records = harvest(CSV)
    assert len(records) == 14 and h.stats.complete_listing is True and h.stats.pages == 1
    first = records[0]
    assert first.native_id == "IA-001" and first.media_type == "application/json" and not first.deleted
    assert first.payload["row"]["Format"] == "CSV, XLSX" and first.payload["row_number"] == 2
    assert first.payload["columns"] == COLUMNS and first.payload["sheet"] is None
    assert list(first.payload["row"]) == CSV.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert first.source_modified == "2024-03-12"
    toilets = next(r for r in records if r.payload["row"]["Information Asset"] == "Public Toilets")
    assert toilets.source_modified is None  # "12/02/2024" is not ISO 8601: the mapping parses it, the loader cannot


def test_csv_and_xlsx_of_the_same_register_give_the_same_records_and_mapping(plain):
    _, csv_records = harvest(CSV)
    h, xlsx_records = harvest(XLSX, **XLSX_OPTIONS)
    assert [r.native_id for r in xlsx_records] == [r.native_id for r in csv_records]
    assert [r.payload["row"] for r in xlsx_records] == [r.payload["row"] for r in csv_records]
    assert [r.source_modified for r in xlsx_records] == [r.source_modified for r in csv_records]
    assert xlsx_records[0].payload["sheet"] == "Information Asset Register"
    assert xlsx_records[0].payload["row_number"] == 4  # title row, blank row, header row above it
    for c, x in zip(csv_records, xlsx_records):
        assert map_register_row(c, CTX).ntriples() == map_register_row(x, CTX).ntriples()


def test_xlsx_sheet_by_position_and_unknown_sheet_names_the_sheets():
    _, records = harvest(XLSX, sheet=2, header_row=3)
    assert len(records) == 14
    with pytest.raises(FatalSourceError, match=r"no sheet 'Information Asset Registr'.*'Read me'.*closest: "
                                               r"'Information Asset Register'"):
        harvest(XLSX, sheet="Information Asset Registr", header_row=3)
    with pytest.raises(FatalSourceError, match="sheet 3 asked for but .* has 2 sheet"):
        harvest(XLSX, sheet=3, header_row=3)


def test_quirk_utf8_bom_before_the_first_header(plain):
    assert (DATA / "quirk_bom.csv").read_bytes().startswith(codecs.BOM_UTF8)
    h, records = harvest(DATA / "quirk_bom.csv")
    assert [r.native_id for r in records] == QUIRK_IDS  # "Asset ID" found although a BOM precedes it
    assert [r.payload["row"] for r in records] == [plain[i] for i in QUIRK_IDS] and h.stats.errors == []


def test_quirk_windows_1252_csv_is_read_as_cp1252_and_says_so(plain):
    raw = (DATA / "quirk_cp1252.csv").read_bytes()
    assert b"\xa3500" in raw  # "£500" in Windows-1252
    h, records = harvest(DATA / "quirk_cp1252.csv")
    assert [r.payload["row"] for r in records] == [plain[i] for i in QUIRK_IDS]
    assert records[2].payload["row"]["Information Asset"] == "Spending over £500"
    assert len(h.stats.errors) == 1 and "read as Windows-1252 (cp1252)" in h.stats.errors[0]
    pound = raw.index(b"\xa3")
    assert f"offset {pound}" in h.stats.errors[0]


def test_quirk_cp1252_with_explicit_utf8_encoding_is_a_config_error():
    with pytest.raises(FatalSourceError, match=r"not valid utf-8 \(byte \d+"):
        harvest(DATA / "quirk_cp1252.csv", encoding="utf-8")
    _, records = harvest(DATA / "quirk_cp1252.csv", encoding="cp1252")
    assert len(records) == 3


def test_quirk_semicolon_delimiter_is_sniffed(plain):
    h = harvester(DATA / "quirk_semicolon.csv")
    records = list(h.records(FULL, "full"))
    assert [r.payload["row"] for r in records] == [plain[i] for i in QUIRK_IDS]
    assert records[0].payload["row"]["Format"] == "CSV, XLSX"  # the comma inside a cell did not split it


def test_quirk_excel_unicode_text_export_utf16_tab_delimited(plain):
    _, records = harvest(DATA / "quirk_utf16_tab.txt")
    assert [r.payload["row"] for r in records] == [plain[i] for i in QUIRK_IDS]


def test_quirk_heading_rows_blank_rows_and_trailing_empty_columns(plain):
    h, records = harvest(DATA / "quirk_heading_rows.csv", header_row=3)
    assert [r.native_id for r in records] == QUIRK_IDS
    assert [r.payload["row"] for r in records] == [plain[i] for i in QUIRK_IDS]  # no "(column N)" keys
    assert [r.payload["row_number"] for r in records] == [4, 6, 7] and h.blank_rows == 1
    with pytest.raises(FatalSourceError, match="configured column.*Columns found: 'Test Borough Council"):
        harvest(DATA / "quirk_heading_rows.csv")  # header_row left at 1: the title line is taken as header


def test_header_row_pointing_at_a_blank_row_is_a_clear_error():
    with pytest.raises(FatalSourceError, match="header_row is 2 but in .* row 2 is empty"):
        harvest(DATA / "quirk_heading_rows.csv", header_row=2)


def test_missing_or_renamed_column_is_a_config_error_before_any_record():
    columns = {**COLUMNS, "owner": "Information Asset Owners", "frequency": "Frequency of update"}
    records = harvester(CSV, columns=columns).records(FULL, "full")
    with pytest.raises(FatalSourceError) as err:
        next(records)  # nothing was yielded before the error
    msg = str(err.value)
    assert err.value.field == "columns.owner"
    assert "columns.owner = 'Information Asset Owners' (closest: 'Information Asset Owner')" in msg
    assert "columns.frequency = 'Frequency of update' (closest: 'Update Frequency')" in msg
    assert str(CSV) in msg and "'Asset ID', 'Information Asset', 'Description'" in msg
    with pytest.raises(FatalSourceError, match="not found in sheet 'Information Asset Register' of .*register.xlsx"):
        harvest(XLSX, columns={"title": "Asset"}, **XLSX_OPTIONS)


def test_headers_match_ignoring_case_and_spacing():
    _, records = harvest(CSV, columns={"title": "information  asset", "owner": " INFORMATION ASSET OWNER"})
    assert records[0].payload["columns"] == {"title": "Information Asset", "owner": "Information Asset Owner"}


def test_rows_without_identifier_get_a_stable_content_id(tmp_path):
    _, records = harvest(CSV, columns={k: v for k, v in COLUMNS.items() if k != "identifier"})
    ids = [r.native_id for r in records]
    assert all(re.fullmatch(r"iar-[0-9a-f]{16}(-2)?", i) for i in ids) and len(set(ids)) == 14
    assert ids[0] == content_id("Council Tax Valuation Bands", "Head of Revenues and Benefits")
    # re-ordered rows, another column edited, title re-cased and re-spaced: same ids
    lines = CSV.read_text(encoding="utf-8").splitlines()
    body = [lines[1].replace("Council Tax Valuation Bands", "council tax  valuation bands")
            .replace("Monthly", "Weekly")]
    changed = tmp_path / "reordered.csv"
    changed.write_text("\n".join([lines[0], *reversed(lines[2:5]), *body]) + "\n", encoding="utf-8")
    _, again = harvest(changed, columns={k: v for k, v in COLUMNS.items() if k != "identifier"})
    assert {r.native_id for r in again} == {ids[0], ids[1], ids[2], ids[3]}


def test_duplicate_title_and_owner_gets_a_suffixed_id_and_a_clear_warning():
    h, records = harvest(CSV)
    base = content_id("Allotment Plot Holders", "Parks Manager")
    assert [r.native_id for r in records if r.native_id.startswith(base)] == [base, base + "-2"]
    [warning] = [e for e in h.stats.errors if "same title and owner" in e]
    assert "row 12" in warning and "row 6" in warning and base + "-2" in warning and "columns.identifier" in warning
    assert h.stats.skipped == {}  # both rows are kept


def test_repeated_identifier_keeps_the_first_and_untitled_rows_are_reported(tmp_path):
    path = tmp_path / "dupes.csv"
    path.write_text("Asset ID,Information Asset\nA1,First\nA1,Second\n,\n,   \nA2,\n", encoding="utf-8")
    h, records = harvest(path, columns={"identifier": "Asset ID", "title": "Information Asset"})
    assert [r.native_id for r in records] == ["A1", "A2"]  # A2 has no title: the mapping refuses it, by id
    assert h.stats.skipped == {"duplicate identifier": 1}
    assert "record=A1" in h.stats.errors[0] and "row 3" in h.stats.errors[0] and "field=Asset ID" in h.stats.errors[0]
    with pytest.raises(MappingError) as err:
        map_register_row(records[1], CTX)
    assert err.value.native_id == "A2" and err.value.field == "Information Asset"
    path.write_text("Asset ID,Information Asset,Owner\n,,Somebody\n,Kept,\n", encoding="utf-8")
    h, records = harvest(path, columns={"identifier": "Asset ID", "title": "Information Asset"})
    assert len(records) == 1 and h.stats.skipped == {"no title": 1} and "row 2" in h.stats.errors[0]


def test_file_url_and_incremental_mode_read_the_whole_register():
    h = harvester(CSV.resolve().as_uri())
    window = HarvestWindow(datetime(2030, 1, 1, tzinfo=timezone.utc), datetime(2030, 1, 2, tzinfo=timezone.utc))
    assert len(list(h.records(window, "incremental"))) == 14  # no cursor: nothing to filter on
    assert h.stats.complete_listing is True
    with pytest.raises(FatalSourceError, match="cannot read register file .*nope.csv"):
        harvest(DATA / "nope.csv")
    with pytest.raises(FatalSourceError, match="replay"):
        list(harvester(CSV).records(FULL, "replay"))


def test_cell_text_and_column_letters():
    assert [cell_text(v) for v in (None, "x ", 7, 7.0, 2.5, True, datetime(2024, 3, 12),
                                   datetime(2024, 3, 12, 9, 30))] == \
        ["", "x ", "7", "7", "2.5", "TRUE", "2024-03-12", "2024-03-12T09:30:00"]
    assert [column_letter(i) for i in (0, 25, 26, 27, 701)] == ["A", "Z", "AA", "AB", "ZZ"]


# --------------------------------------------------------------------------- XLSX safety


BOMB = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>')
XXE = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'


def _rewrite_xlsx(member: str, change) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(XLSX) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            zout.writestr(info, change(data) if info.filename == member else data)
    return out.getvalue()


def _with_prolog(prolog: str):
    def change(data: bytes) -> bytes:
        text = data.decode("utf-8")
        body = text.split("?>", 1)[1] if text.startswith("<?xml") else text
        return (prolog + body.replace("Council Tax Valuation Bands", "&lol3;" if "lol" in prolog else "&xxe;")
                ).encode("utf-8")
    return change


@pytest.mark.parametrize("member", ["xl/worksheets/sheet2.xml", "xl/workbook.xml"])
@pytest.mark.parametrize("prolog", [BOMB, XXE], ids=["billion-laughs", "external-entity"])
def test_xml_bomb_and_external_entity_inside_an_xlsx_fail_safely(tmp_path, member, prolog):
    import openpyxl

    assert openpyxl.DEFUSEDXML is True  # openpyxl picked up defusedxml
    path = tmp_path / "evil.xlsx"
    path.write_bytes(_rewrite_xlsx(member, _with_prolog(prolog)))
    with pytest.raises(FatalSourceError, match=r"entity or DTD declarations \((EntitiesForbidden|"
                                               r"ExternalReferenceForbidden|DTDForbidden)\); refused"):
        harvest(path, **XLSX_OPTIONS)


def test_xlsx_is_refused_when_openpyxl_would_parse_without_defusedxml(monkeypatch):
    import openpyxl

    monkeypatch.setattr(openpyxl, "DEFUSEDXML", False)
    with pytest.raises(FatalSourceError, match="not using defusedxml"):
        harvest(XLSX, **XLSX_OPTIONS)


def test_zip_bomb_xlsx_is_refused_before_inflating(tmp_path):
    path = tmp_path / "bomb.xlsx"
    path.write_bytes(_rewrite_xlsx("docProps/app.xml", lambda d: d + b" " * (3 * 1024 * 1024)))
    assert path.stat().st_size < 100_000
    with pytest.raises(FatalSourceError, match="would unzip to .* more than max_unzipped_mb=2; refused"):
        harvest(path, max_unzipped_mb=2, **XLSX_OPTIONS)


def test_cut_off_xlsx_and_legacy_xls_are_clear_errors(tmp_path):
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(XLSX.read_bytes()[:3000])
    with pytest.raises(FatalSourceError, match="not a readable XLSX .*cut-off download"):
        harvest(cut, **XLSX_OPTIONS)
    xls = tmp_path / "old.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    with pytest.raises(FatalSourceError, match="legacy Excel 97-2003"):
        harvest(xls)


# --------------------------------------------------------------------------- over HTTP


class RegisterServer(LocalServer):
    """Serves files by path on 127.0.0.1 (the shared fixture server); ``loop`` redirects to the same URL."""

    maintenance_page = b"<!DOCTYPE html><html><title>Sign in</title></html>"

    def __init__(self, files: dict[str, tuple[bytes, str]]) -> None:
        self.files = files
        super().__init__()
        self.base = self.url

    def inject(self, kind: str, times: int = 1) -> None:
        super().inject("redirect" if kind == "loop" else kind, times)

    def answer(self, request: Request, fault: Fault | None) -> Reply:
        body, ctype = self.files.get(request.target, (None, ""))
        return Reply(404, b"not found", "text/plain") if body is None else Reply(200, body, ctype)


@pytest.fixture
def server() -> Iterator[RegisterServer]:
    files = {"/iar.csv": (CSV.read_bytes(), "text/csv; charset=utf-8"),
             "/download?id=42": (XLSX.read_bytes(), "application/octet-stream"),
             "/iar-1252.csv": ((DATA / "quirk_cp1252.csv").read_bytes(), "text/csv")}
    with RegisterServer(files) as srv:
        yield srv


def test_http_csv_and_xlsx_without_extension_are_read_through_the_shared_client(server, fast_http, plain):
    h, records = harvest(server.base + "/iar.csv", fast_http)
    assert {r.native_id: r.payload["row"] for r in records} == plain and h.stats.requests == 1
    _, records = harvest(server.base + "/download?id=42", fast_http, **XLSX_OPTIONS)  # sniffed as a zip
    assert {r.native_id: r.payload["row"] for r in records} == plain
    h, records = harvest(server.base + "/iar-1252.csv", fast_http)
    assert records[2].payload["row"]["Information Asset"] == "Spending over £500" and "cp1252" in h.stats.errors[0]


def test_http_500_then_recovery(server, fast_http, sleeps):
    server.inject("status", times=2)
    h, records = harvest(server.base + "/iar.csv", fast_http)
    assert len(records) == 14 and h.stats.requests == 3 and len(sleeps.waits) == 2


def test_http_truncated_body_is_a_clear_typed_error(server, fast_http):
    server.inject("truncate", times=100)
    with pytest.raises(TruncatedResponseError, match="truncated body from .*/iar.csv"):
        harvest(server.base + "/iar.csv", fast_http)


@pytest.mark.parametrize("fault, message", [("html200", "HTML page, not a CSV or XLSX"),
                                            ("loop", "more than 5 redirects"), (None, "answered HTTP 404")])
def test_http_wrong_answers_are_fatal_source_errors(server, fast_http, fault, message):
    if fault:
        server.inject(fault, times=100)
    with pytest.raises(FatalSourceError, match=message):
        harvest(server.base + ("/iar.csv" if fault else "/missing.csv"), fast_http)


# --------------------------------------------------------------------------- mapping


def _mapped(native_id: str, ctx: SourceContext = CTX):
    record = next(r for r in harvest(CSV)[1] if r.native_id == native_id)
    return map_register_row(record, ctx)


def test_mapping_of_a_published_row():
    m = _mapped("IA-001")
    r = m.row
    assert (r["title"], r["publisher"], r["institution"]) == ("Council Tax Valuation Bands",
                                                              "Head of Revenues and Benefits", "Test Borough Council")
    assert r["licence_uri"].endswith("/OGL_3_0") and r["licence_open"] is True
    assert r["formats"] == ["CSV", "XLSX"] and r["media_types"] == [
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "text/csv"]
    assert r["download_urls"] == ["https://data.testborough.gov.uk/files/council-tax-bands.csv"]
    assert r["offer"] == ["download"] and r["distribution_count"] == 2 and r["frequency"] == "MONTHLY"
    assert r["access_rights"].endswith("/PUBLIC") and r["modified"] == "2024-03-12"
    assert r["contact_email"] == "revenues@testborough.gov.uk" and m.warnings == []
    g = m.graph()
    csv_dist = URIRef(m.uri + "#distribution-csv")
    assert (csv_dist, DCAT.downloadURL, URIRef(r["download_urls"][0])) in g
    assert (URIRef(m.uri + "#distribution-xlsx"), DCAT.downloadURL, None) not in g  # the link is the CSV


def test_mapping_offer_kinds_follow_the_link():
    assert _mapped("IA-003").row["offer"] == ["api"]
    assert _mapped("IA-007").row["offer"] == ["visualisation"]
    planning = _mapped("IA-002").row  # a web page about the data: landing page, nothing downloadable
    assert planning["landing_page"] == "https://planning.testborough.gov.uk/online-applications/"
    assert planning["offer"] == ["request-only"] and planning["download_urls"] == []


def test_row_without_url_is_offered_on_request_at_the_institutions_address():
    m = _mapped("IA-010")
    r = m.row
    assert r["offer"] == ["request-only"] and r["access_urls"] == ["https://www.testborough.gov.uk/"]
    assert r["access_rights"].endswith("/RESTRICTED") and r["formats"] == []
    assert any("'Paper': held on paper" in w for w in m.warnings)
    node = URIRef(m.uri + "#distribution-request")
    assert "not published online" in str(m.graph().value(node, DCTERMS.description))
    no_home = SourceContext("tb-iar", "IAR", str(CSV), Institution("Test Borough Council", "council"), CTX.base_uri)
    bare = _mapped("IA-010", no_home)
    assert bare.row["distribution_count"] == 0 and bare.row["offer"] == ["request-only"]
    assert any("no distribution" in w for w in bare.warnings)


def test_owner_missing_falls_back_to_the_institution_and_unknown_frequency_warns():
    m = _mapped("IA-013")
    assert m.row["publisher"] == "Test Borough Council" and m.row["frequency"] is None
    assert "Information Asset Owner: no information asset owner; the institution is the publisher" in m.warnings
    assert "Update Frequency: 'Every planning cycle' has no EU frequency" in m.warnings


@pytest.mark.parametrize("value, code", [("OFFICIAL", "PUBLIC"), ("Public", "PUBLIC"), ("not protectively marked",
                                         "PUBLIC"), ("OFFICIAL-SENSITIVE", "RESTRICTED"), ("Official_Sensitive",
                                         "RESTRICTED"), ("Restricted", "RESTRICTED"), ("Confidential", "NON_PUBLIC"),
                                         ("SECRET", "NON_PUBLIC"), ("Internal use only", "NON_PUBLIC"),
                                         ("Whatever", None)])
def test_access_classification_table(value, code):
    uri = access_right(value)
    assert (uri.rsplit("/", 1)[-1] if uri else None) == code


def test_contact_and_list_splitting():
    assert contact_parts("Parks Team <parks@testborough.gov.uk>") == ("Parks Team", "parks@testborough.gov.uk")
    assert contact_parts("mailto:x@testborough.gov.uk") == (None, "x@testborough.gov.uk")
    assert contact_parts("Democratic Services") == ("Democratic Services", None)
    assert split_list("CSV, XLSX;PDF | CSV\nJSON / XML") == ["CSV", "XLSX", "PDF", "JSON", "XML"]


def test_mapped_rows_pass_the_dcat_ap_3_shapes_or_name_the_missing_property():
    from expectations.shacl import validate_graph

    for nid in ("IA-001", "IA-003", "IA-010", "IA-012"):
        result = validate_graph(_mapped(nid).graph())
        assert result.conforms, (nid, result.messages)
    pest = next(r for r in harvest(CSV)[1] if r.payload["row"]["Information Asset"] == "Pest Control Requests")
    m = map_register_row(pest, CTX)
    assert "Description: empty (dct:description is mandatory in DCAT-AP)" in m.warnings
    violations = [x for x in validate_graph(m.graph()).messages if x.startswith("Violation")]
    assert any("dct:description" in v and v.split(" ")[1] == m.uri for v in violations), violations
    # the other violation is the catalogue record's date, which the feed supplies (see the e2e test)
    assert all("dct:description" in v or "#record dct:modified" in v for v in violations), violations


# --------------------------------------------------------------------------- docs table = FIELD_MAP


def _doc_table() -> dict[str, tuple[str, ...]]:
    return doc_table("mapping-register.md", after="## Field table", before="\n### ")


FULL_ROW = {"ID": "X-1", "Name": "Playgrounds", "About": "Inspections of play areas.", "Owner": "Parks Manager",
            "Licence": "OGL", "Formats": "CSV; PDF", "Frequency": "Quarterly", "Contact": "Parks <parks@tb.gov.uk>",
            "Link": "https://www.testborough.gov.uk/playgrounds", "Classification": "OFFICIAL",
            "Reviewed": "2024-05-01", "Keywords": "play, parks", "Theme": "Environment"}
FULL_COLUMNS = dict(zip(FIELD_MAP, ["ID", "Name", "About", "Owner", "Licence", "Formats", "Frequency", "Contact",
                                    "Link", "Classification", "Reviewed", "Keywords", "Theme"]))


def _missing_paths(row: dict) -> list[str]:
    payload = {"row": row, "columns": FULL_COLUMNS, "row_number": 2, "sheet": None}
    mapped = map_register_row(payload, CTX)
    g, ds = mapped.graph(), URIRef(mapped.uri)
    return [f"{f} -> {p}" for f, paths in FIELD_MAP.items() for p in paths if not follow(g, ds, p)]


def test_doc_table_equals_field_map_and_columns_model():
    assert _doc_table() == FIELD_MAP and list(_doc_table()) == list(FIELD_MAP)
    assert set(FIELD_MAP) == set(RegisterHarvester.Options.model_fields["columns"].annotation.model_fields)


def test_every_documented_path_appears_for_a_full_row_and_the_check_can_fail():
    assert _missing_paths(FULL_ROW) == []
    assert "frequency -> dct:accrualPeriodicity" in _missing_paths({**FULL_ROW, "Frequency": "whenever"})


# --------------------------------------------------------------------------- end to end


def _e2e_sources(env: Path, url: str) -> Any:
    from citycat.config import load_sources

    options = {"columns": COLUMNS}
    if url.endswith(".xlsx"):
        options.update(XLSX_OPTIONS)
    return load_sources(write_sources(env / "sources.yaml", {"id": "tb-iar", "kind": "register", "url": url,
                                                             "options": options}))


def _inventory(env: Path):
    return sqlite_inventory(env / "data" / "inventory.sqlite")


def test_end_to_end_local_xlsx_loads_the_inventory_and_the_feed_conforms(env):
    from citycat.runner import run_source

    sources = _e2e_sources(env, XLSX.resolve().as_uri())  # a file: URL
    inv = _inventory(env)
    out = run_source(sources.sources[0], sources, run_id="r1", mode="full", now=T0, data_dir=env / "data",
                     inventory=inv)
    assert (out.status, out.created, out.failed) == ("success", 14, 0), out.reason
    again = run_source(sources.sources[0], sources, run_id="r2", mode="full", now=T0 + timedelta(days=1),
                       data_dir=env / "data", inventory=inv)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 14)  # content ids are stable
    from citycat import pipeline

    pipeline.publish(sources, inventory=inv, data_dir=env / "data", generated_at=T0)
    pages = feed_pages(env / "data")
    assert len(pages) == 7  # 14 datasets, page_size 2
    pest = None
    for page, g, result in validated_pages(pages):
        titles = {str(t) for t in g.objects(None, DCTERMS.title)}
        if "Pest Control Requests" in titles:  # the register gives it no description
            pest = result
            continue
        assert result.conforms, (page.name, result.messages)
    assert pest is not None and not pest.conforms
    violations = [m for m in pest.messages if m.startswith("Violation")]
    assert violations and all("dct:description" in m for m in violations), violations


def test_end_to_end_over_http_csv(env, server):
    from citycat.runner import run_source

    sources = _e2e_sources(env, server.base + "/iar.csv")
    inv = _inventory(env)
    out = run_source(sources.sources[0], sources, run_id="h1", mode="full", now=T0, data_dir=env / "data",
                     inventory=inv)
    assert (out.status, out.created) == ("success", 14), out.reason
    hb = inv.get_dataset("tb-iar", "IA-004")  # no link, institution without uri: the register's URL is offered
    assert hb.row["offer"] == ["request-only"] and hb.row["access_urls"] == [server.base + "/iar.csv"]


def _run_and_publish_plain_path(env: Path) -> Any:
    from citycat import pipeline
    from citycat.runner import run_source

    sources = _e2e_sources(env, str(CSV))  # a plain path, as sources.yaml allows for this kind
    inv = _inventory(env)
    out = run_source(sources.sources[0], sources, run_id="p1", mode="full", now=T0, data_dir=env / "data",
                     inventory=inv)
    assert (out.status, out.created) == ("success", 14), out.reason
    return pipeline.publish(sources, inventory=inv, data_dir=env / "data", generated_at=T0)


def test_end_to_end_plain_path_source_loads_and_publishes(env):
    assert _run_and_publish_plain_path(env)["datasets"] == 14
    page = (env / "data" / "feed" / "catalog.ttl").read_text(encoding="utf-8")
    assert str(CSV.parent) not in page  # a machine's folders are not published
