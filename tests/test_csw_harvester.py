"""The CSW harvester against a real pycsw 2.6.2 (its own venv, see tests/pycsw_server.py) and, for the faults
pycsw cannot produce, a small stdlib CSW on 127.0.0.1 serving the same recorded records."""

from __future__ import annotations

import re
import threading
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import harvesters
from citycat import pipeline
from citycat.config import load_sources
from citycat.runner import run_source
from conftest_portal import fast_http, sleeps  # noqa: F401
from harvesters.base import FatalSourceError, HarvestWindow
from harvesters.csw import CswExceptionError, CswHarvester, window_filter
from harvesters.http import TruncatedResponseError
from helpers import assert_pages_conform, feed_pages, utc, write_kind_sources
from pycsw_server import pycsw_iso  # noqa: F401

DATA = Path(__file__).parent / "data" / "csw"
RECORDS = sorted((DATA / "pycsw").glob("*.xml"))
FULL = HarvestWindow()
GMD = "{http://www.isotc211.org/2005/gmd}"


def _file_ids() -> dict[str, str]:
    """fileIdentifier → dateStamp of every record loaded into pycsw, read from the files themselves."""
    out = {}
    for path in RECORDS:
        root = ET.parse(path).getroot()
        fid = " ".join("".join(root.find(GMD + "fileIdentifier").itertext()).split())
        out[fid] = " ".join("".join(root.find(GMD + "dateStamp").itertext()).split())
    return out


LOADED = _file_ids()


def harvester(url: str, http=None, **options) -> CswHarvester:
    options.setdefault("requests_per_second", 100)
    return CswHarvester("test-csw", url, CswHarvester.Options(**options), http)


def test_registered_under_its_kind():
    harvesters.load_builtin()
    assert harvesters.get("csw") is CswHarvester
    assert (CswHarvester.cursor, CswHarvester.paging) == ("modified", "start-position")


def test_window_filter_is_widened_to_whole_days():
    f = window_filter(HarvestWindow(utc(2018, 2, 21, 16), utc(2018, 2, 21, 17)), "apiso:Modified")
    assert "<ogc:Literal>2018-02-21</ogc:Literal>" in f and "<ogc:Literal>2018-02-22</ogc:Literal>" in f
    assert "PropertyIsGreaterThanOrEqualTo" in f and "PropertyIsLessThan>" in f
    assert window_filter(FULL, "apiso:Modified") is None


# ---------------------------------------------------------------------------- real pycsw


def test_full_harvest_pages_over_pycsws_cap_and_recovers_every_loaded_id(pycsw_iso):
    assert len(LOADED) > 10
    h = harvester(pycsw_iso.url, page_size=50)  # pycsw answers at most 10 whatever we ask
    got = list(h.records(FULL, "full"))
    assert sorted(r.native_id for r in got) == sorted(LOADED)
    assert h.stats.pages == 2 and h.stats.complete_listing is True  # 10 + 10; nextRecord 0 ends it
    roots = {ET.fromstring(r.payload).tag.rsplit("}", 1)[-1] for r in got}
    assert roots == {"MD_Metadata", "MI_Metadata"}
    assert {r.native_id: r.source_modified for r in got} == LOADED


def test_small_pages_end_on_next_record_zero(pycsw_iso):
    h = harvester(pycsw_iso.url, page_size=3)
    got = list(h.records(FULL, "full"))
    assert len(got) == len(LOADED) and h.stats.pages == -(-len(LOADED) // 3)
    assert h.stats.complete_listing is True


def test_dublin_core_output_schema_lists_the_same_records(pycsw_iso):
    h = harvester(pycsw_iso.url, output_schema="dc")
    got = list(h.records(FULL, "full"))
    assert sorted(r.native_id for r in got) == sorted(LOADED)
    assert all(r.payload.startswith("<csw:Record") for r in got)


@pytest.mark.parametrize("server_side", [True, False], ids=["ogc-filter", "client-side"])
def test_incremental_window_on_apiso_modified(pycsw_iso, server_side):
    window = HarvestWindow(utc(2015, 1, 1), utc(2018, 3, 1))
    expected = sorted(i for i, stamp in LOADED.items() if "2015-01-01" <= stamp[:10] < "2018-03-01")
    assert 0 < len(expected) < len(LOADED)
    h = harvester(pycsw_iso.url, server_side_window=server_side)
    got = list(h.records(window, "incremental"))
    assert sorted(r.native_id for r in got) == expected
    dropped = h.stats.skipped.get("outside window", 0)
    assert dropped == (0 if server_side else len(LOADED) - len(expected))
    assert h.stats.complete_listing is False  # only a full run may withdraw


def test_window_inside_one_day_is_exact_client_side(pycsw_iso):
    """The server is asked for the whole day (string-compared dates); the record's time decides."""
    inside = harvester(pycsw_iso.url).records(HarvestWindow(utc(2018, 2, 21, 16), utc(2018, 2, 21, 17)), "incremental")
    assert [r.native_id for r in inside] == ["6c39d716-aecc-4fbc-bac8-4f05a49a78d5"]
    h = harvester(pycsw_iso.url)
    assert list(h.records(HarvestWindow(utc(2018, 2, 21, 17), utc(2018, 2, 22)), "incremental")) == []
    assert h.stats.skipped == {"outside window": 1}


def test_unknown_queryable_is_a_csw_exception_naming_the_fix(pycsw_iso):
    h = harvester(pycsw_iso.url, modified_property="apiso:NoSuchThing")
    with pytest.raises(CswExceptionError, match="modified_property") as err:
        list(h.records(HarvestWindow(utc(2015, 1, 1), utc(2016, 1, 1)), "incremental"))
    assert err.value.code


# ---------------------------------------------------------------------------- stdlib fault server


class FakeCsw:
    """A CSW 2.0.2 GetRecords endpoint over recorded records, with the quirks real servers have."""

    def __init__(self, records: list[bytes], *, page_cap: int = 10, next_record: str = "pycsw") -> None:
        self.records, self.page_cap, self.next_record = records, page_cap, next_record
        self.faults: list[tuple[int, bytes, dict]] = []  # (status, body, headers) served before normal pages
        self.ignore_start = False
        self.body_override: bytes | None = None
        self.starts: list[int] = []
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/csw"

    def page(self, start: int, max_records: int) -> bytes:
        if self.ignore_start:
            start = 1
        chunk = self.records[start - 1:start - 1 + min(max_records, self.page_cap)]
        matched, end = len(self.records), start - 1 + len(chunk)
        nxt = {"pycsw": 0 if end >= matched else end + 1, "past-end": end + 1, "early-zero": 0}[self.next_record]
        body = b"".join(re.sub(rb"^<\?xml[^>]*\?>", b"", r.strip()) for r in chunk)
        return (b'<?xml version="1.0" encoding="UTF-8"?><csw:GetRecordsResponse '
                b'xmlns:csw="http://www.opengis.net/cat/csw/2.0.2" version="2.0.2"><csw:SearchResults '
                + f'numberOfRecordsMatched="{matched}" numberOfRecordsReturned="{len(chunk)}" '
                  f'nextRecord="{nxt}">'.encode() + body + b"</csw:SearchResults></csw:GetRecordsResponse>")

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                req = ET.fromstring(body)
                start, max_records = int(req.get("startPosition")), int(req.get("maxRecords"))
                fake.starts.append(start)
                headers: dict = {}
                if fake.faults:
                    status, data, headers = fake.faults.pop(0)
                else:
                    status, data = 200, fake.body_override or fake.page(start, max_records)
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", headers.get("Content-Length", str(len(data))))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def __enter__(self) -> "FakeCsw":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def real_records(n: int = 12) -> list[bytes]:
    return [p.read_bytes() for p in RECORDS[:n]]


def test_500_then_recovery(fast_http, sleeps):
    with FakeCsw(real_records()) as csw:
        csw.faults.append((500, b"<html>Internal Server Error</html>", {}))
        got = list(harvester(csw.url, fast_http).records(FULL, "full"))
    assert len(got) == 12 and len(sleeps.waits) == 1 and csw.starts == [1, 1, 11]


def test_truncated_body_is_a_clear_typed_error(fast_http):
    with FakeCsw(real_records()) as csw:
        page = csw.page(1, 10)
        csw.faults += [(200, page[:500], {"Content-Length": str(len(page))})] * 5
        with pytest.raises(TruncatedResponseError, match="truncated"):
            list(harvester(csw.url, fast_http).records(FULL, "full"))


def test_repeated_page_is_a_fatal_loop(fast_http):
    with FakeCsw(real_records()) as csw:
        csw.ignore_start = True  # a server that ignores startPosition returns page one forever
        with pytest.raises(FatalSourceError, match="paging loop"):
            list(harvester(csw.url, fast_http).records(FULL, "full"))
        assert csw.starts == [1, 11]


def test_next_record_past_the_end_stops_without_another_request(fast_http):
    with FakeCsw(real_records(), next_record="past-end") as csw:
        h = harvester(csw.url, fast_http)
        assert len(list(h.records(FULL, "full"))) == 12
    assert csw.starts == [1, 11] and h.stats.complete_listing is True


def test_next_record_zero_before_the_end_stops_and_listing_is_incomplete(fast_http):
    with FakeCsw(real_records(), next_record="early-zero") as csw:
        h = harvester(csw.url, fast_http)
        assert len(list(h.records(FULL, "full"))) == 10
    assert csw.starts == [1] and h.stats.complete_listing is False


WMS_CAPS = (DATA / "fcs_admin_boundaries_wms_caps.xml").read_bytes()


def test_wms_capabilities_served_as_the_response_is_fatal(fast_http):
    with FakeCsw([]) as csw:
        csw.body_override = WMS_CAPS
        with pytest.raises(FatalSourceError, match="not a CSW GetRecords response: got WMS_Capabilities"):
            list(harvester(csw.url, fast_http).records(FULL, "full"))


def test_wms_capabilities_where_a_record_was_expected_is_skipped(fast_http):
    with FakeCsw(real_records(2) + [WMS_CAPS]) as csw:
        h = harvester(csw.url, fast_http)
        got = list(h.records(FULL, "full"))
    assert len(got) == 2
    assert len(h.stats.errors) == 1 and "not ISO 19139: got WMS_Capabilities" in h.stats.errors[0]
    assert h.stats.complete_listing is False


def test_record_without_file_identifier_is_reported(fast_http):
    broken = re.sub(rb"<gmd:fileIdentifier>.*?</gmd:fileIdentifier>", b"", RECORDS[0].read_bytes(), flags=re.S)
    with FakeCsw([broken] + real_records(2)) as csw:
        h = harvester(csw.url, fast_http)
        got = list(h.records(FULL, "full"))
    assert len(got) == 2 and "field=gmd:fileIdentifier" in h.stats.errors[0]


def test_iso_8859_1_declared_response_is_decoded_by_its_declaration(fast_http):
    """The CGDI record declares ISO-8859-1; a Latin-1 é in it (derived) must arrive as é, not mojibake."""
    cgdi = (DATA / "cgdi_csw_record_dc.xml").read_bytes().replace(b"cititzen", b"cit\xe9tzen")
    with FakeCsw([]) as csw:
        page = csw.page(1, 10).replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"')
        csw.body_override = page.replace(b'numberOfRecordsMatched="0" numberOfRecordsReturned="0" nextRecord="0">',
                                         b'numberOfRecordsMatched="1" numberOfRecordsReturned="1" nextRecord="0">'
                                         + cgdi.split(b"?>", 1)[1])
        got = list(harvester(csw.url, fast_http, output_schema="dc").records(FULL, "full"))
    assert [r.native_id for r in got] == ["9250AA67-F3AC-6C12-0CB9-0662231AA181"]
    assert "citétzen" in got[0].payload and got[0].source_modified == "2009-09-03"


def test_exception_report_names_code(fast_http):
    report = (b'<?xml version="1.0"?><ows:ExceptionReport xmlns:ows="http://www.opengis.net/ows" version="1.2.0">'
              b'<ows:Exception exceptionCode="InvalidParameterValue" locator="outputschema"><ows:ExceptionText>'
              b'Invalid outputSchema</ows:ExceptionText></ows:Exception></ows:ExceptionReport>')
    with FakeCsw([]) as csw:
        csw.faults.append((400, report, {}))
        with pytest.raises(CswExceptionError, match="InvalidParameterValue") as err:
            list(harvester(csw.url, fast_http).records(FULL, "full"))
    assert err.value.code == "InvalidParameterValue"


BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
                  b'<csw:GetRecordsResponse xmlns:csw="http://www.opengis.net/cat/csw/2.0.2">&lol2;'
                  b'</csw:GetRecordsResponse>')
EXTERNAL_ENTITY = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
                   b'<csw:GetRecordsResponse xmlns:csw="http://www.opengis.net/cat/csw/2.0.2">&xxe;'
                   b'</csw:GetRecordsResponse>')


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion-laughs", "external-entity"])
def test_entity_attacks_are_refused(fast_http, body):
    with FakeCsw([]) as csw:
        csw.body_override = body
        with pytest.raises(FatalSourceError, match="unsafe XML refused"):
            list(harvester(csw.url, fast_http).records(FULL, "full"))


# ---------------------------------------------------------------------------- end to end


def write_csw_sources(path: Path, source_id: str, url: str, **options) -> Path:
    return write_kind_sources(path, "csw", source_id, url, institution="Example Geoportal",
                              institution_kind="national", catalog_page_size=5, **options)


def test_run_source_against_pycsw_loads_inventory_and_feed_conforms(env_inventory, pycsw_iso):
    tmp, inv = env_inventory
    t0 = utc(2026, 11, 20, 2)
    sources = load_sources(write_csw_sources(tmp / "sources.yaml", "geo", pycsw_iso.url))
    first = run_source(sources.sources[0], sources, run_id="r1", mode="full", now=t0, data_dir=tmp / "data",
                       inventory=inv)
    assert (first.status, first.created, first.failed) == ("success", len(LOADED), 0), first.reason
    assert inv.count_datasets(status="active", source_id="geo") == len(LOADED)
    feed = pipeline.publish(sources, inventory=inv, data_dir=tmp / "data", generated_at=t0)
    assert feed["datasets"] == len(LOADED)
    pages = feed_pages(tmp / "data")
    assert len(pages) == -(-len(LOADED) // 5)
    assert_pages_conform(pages)
    again = run_source(sources.sources[0], sources, run_id="r2", mode="full", now=utc(2026, 11, 21, 2),
                       data_dir=tmp / "data", inventory=inv)
    assert (again.status, again.unchanged, again.withdrawn) == ("success", len(LOADED), 0), again.reason


def test_run_source_dc_records_without_modified_show_the_violation(env_inventory, fast_http):
    """Native DC records (pycsw's CITE suite) lack dct:modified: the catalogue record fails the shapes."""
    from expectations.shacl import validate_graph
    from transforms.iso19139 import map_csw_record

    tmp, inv = env_inventory
    with FakeCsw([(DATA / "dc_019.xml").read_bytes(), (DATA / "cgdi_csw_record_dc.xml").read_bytes()]) as csw:
        sources = load_sources(write_csw_sources(tmp / "sources.yaml", "dc", csw.url, output_schema="dc"))
        out = run_source(sources.sources[0], sources, run_id="d1", mode="full", now=utc(2026, 11, 20, 2),
                         data_dir=tmp / "data", inventory=inv)
        h = harvester(csw.url, fast_http, output_schema="dc")
        recs = {r.native_id: r for r in h.records(FULL, "full")}
    assert out.status == "success" and out.created == 2, out.reason
    bad = validate_graph(map_csw_record(recs["urn:uuid:19887a8a-f6b0-4a63-ae56-7fba0e17801f"], _ctx()).graph())
    assert not bad.conforms
    assert any("#record" in m and "modified" in m for m in bad.messages if m.startswith("Violation"))
    good = validate_graph(map_csw_record(recs["9250AA67-F3AC-6C12-0CB9-0662231AA181"], _ctx()).graph())
    assert good.conforms, good.messages


def _ctx():
    from transforms.base import Institution, SourceContext

    return SourceContext("dc", "dc", "http://127.0.0.1/csw", Institution("Example Geoportal", "national"),
                         "http://localhost:8000")
