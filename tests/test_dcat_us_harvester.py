"""The DCAT-US (data.json) harvester against real recorded data.json files served on 127.0.0.1.

data.json has no paging: the server serves whole documents, and the faults a single document can
show (5xx, a cut body, an HTML page with 200, a redirect loop, a redirect to another host, a body over the
cap). The end-to-end test runs the same stage functions as CKAN (``run_source``) and checks the feed.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from rdflib.namespace import DCAT, RDF

import harvesters
from citycat.localserver import Fault, LocalServer, Reply, Request
from conftest_portal import fast_http, sleeps  # noqa: F401
from harvesters.base import FatalSourceError, HarvestWindow
from harvesters.dcat_us import DcatUsHarvester, parse_modified
from harvesters.http import (RedirectRefusedError, ResponseTooLargeError, TruncatedResponseError,
                             UnexpectedContentError)
from helpers import feed_pages, validated_pages, write_sources

DATA = Path(__file__).parent / "data" / "dcat_us"
CFTC = json.loads((DATA / "cftc_data.json").read_text(encoding="utf-8"))
APUR = json.loads((DATA / "apur_arcgis_opendata_data.json").read_text(encoding="utf-8"))
FULL = HarvestWindow()
T0 = datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)


class DataJsonServer(LocalServer):
    """Serves documents by path on 127.0.0.1 (the shared fixture server); ``loop`` and ``offsite`` redirect
    to the same URL and to the same server under another host name."""

    maintenance_page = b"<html><title>Site maintenance</title></html>"

    def __init__(self, docs: dict[str, Any]) -> None:
        self.docs = {p: (d if isinstance(d, bytes) else json.dumps(d).encode("utf-8")) for p, d in docs.items()}
        super().__init__()
        self.base = self.url

    def inject(self, kind: str, times: int = 1) -> None:
        if kind in ("loop", "offsite"):
            location = f"http://localhost:{self.port}" if kind == "offsite" else ""
            return super().inject("redirect", times, location=location)
        super().inject(kind, times)

    def answer(self, request: Request, fault: Fault | None) -> Reply:
        body = self.docs.get(request.target)
        return Reply(404, b'{"error": "not found"}') if body is None else Reply(200, body)


@pytest.fixture
def server() -> Iterator[DataJsonServer]:
    with DataJsonServer({"/cftc/data.json": CFTC, "/apur/data.json": APUR}) as srv:
        yield srv


def harvester(url: str, http, **options) -> DcatUsHarvester:
    options.setdefault("requests_per_second", 100)
    return DcatUsHarvester("test-dcatus", url, DcatUsHarvester.Options(**options), http)


def test_registered_under_its_kind():
    harvesters.load_builtin()
    assert harvesters.get("dcat-us") is DcatUsHarvester
    assert DcatUsHarvester.cursor == "modified"


def test_full_harvest_yields_each_dataset_exactly_as_served(server, fast_http):
    h = harvester(server.base + "/cftc/data.json", fast_http)
    records = list(h.records(FULL, "full"))
    assert [r.native_id for r in records] == [f"cftc-dc{i}" for i in range(1, 8)]
    assert [r.payload for r in records] == CFTC["dataset"]
    assert all(r.media_type == "application/json" and not r.deleted for r in records)
    assert h.stats.complete_listing is True and (h.stats.pages, h.stats.requests) == (1, 1)
    assert h.stats.errors == [] and h.stats.skipped == {}
    # only a real date is a source-modified timestamp; R/P1W is not
    assert {r.native_id: r.source_modified for r in records}["cftc-dc5"] == "2011-06-30"
    assert records[0].source_modified is None


def test_incremental_filters_on_modified_client_side_half_open(server, fast_http):
    window = HarvestWindow(datetime(2016, 12, 6, 18, 22, 13, tzinfo=timezone.utc),
                           datetime(2016, 12, 6, 18, 26, 31, 821000, tzinfo=timezone.utc))
    h = harvester(server.base + "/apur/data.json", fast_http)
    records = list(h.records(window, "incremental"))
    # 18:22:14.177 is inside; 18:22:12.730 is before start; 18:26:31.821 is exactly `end` (excluded)
    assert [r.native_id[-34:] for r in records] == ["datasets/ce1caec3ca034334a66fba97ffa20748"[-34:]]
    assert h.stats.skipped == {"outside window": 2}
    assert h.stats.complete_listing is False and h.undated == 0


def test_quirk_repeating_interval_modified_is_always_included_in_incremental(server, fast_http):
    """CFTC: 6 of 7 datasets say ``modified: R/P1W``/``R/P1M`` (a frequency): no date, so never outside a window."""
    window = HarvestWindow(datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2026, 1, 2, tzinfo=timezone.utc))
    h = harvester(server.base + "/cftc/data.json", fast_http)
    records = list(h.records(window, "incremental"))
    assert sorted(r.native_id for r in records) == ["cftc-dc1", "cftc-dc2", "cftc-dc3", "cftc-dc4", "cftc-dc6",
                                                   "cftc-dc7"]
    assert h.undated == 6 and h.stats.skipped == {"outside window": 1}  # cftc-dc5 is dated 2011-06-30


def test_parse_modified_forms():
    assert parse_modified("2011-06-30") == datetime(2011, 6, 30, tzinfo=timezone.utc)
    assert parse_modified("2016-12-06T18:26:31.821Z") == datetime(2016, 12, 6, 18, 26, 31, 821000, tzinfo=timezone.utc)
    assert parse_modified("2016-12-06T19:26:31+01:00") == datetime(2016, 12, 6, 18, 26, 31, tzinfo=timezone.utc)
    for undated in ("R/P1W", "R/2010-01-01/P1M", "P1D", "", None, "last week", 20160101):
        assert parse_modified(undated) is None, undated


def test_quirk_identifier_with_spaces_is_trimmed_at_the_ends_only(fast_http):
    """Crafted (no real sample has one): agencies' identifiers with spaces inside and around them."""
    doc = {"conformsTo": "https://project-open-data.cio.gov/v1.1/schema",
           "dataset": [{"identifier": "  DOT 2019 crash data\t", "title": "Crashes 2019"},
                       {"identifier": "DOT 2019 crash data", "title": "The same id again"}]}
    with DataJsonServer({"/data.json": doc}) as srv:
        h = harvester(srv.base + "/data.json", fast_http)
        records = list(h.records(FULL, "full"))
    assert [r.native_id for r in records] == ["DOT 2019 crash data"]
    assert records[0].payload["identifier"] == "  DOT 2019 crash data\t"  # payload exactly as served
    assert h.stats.skipped == {"duplicate identifier": 1}
    assert "record=DOT 2019 crash data" in h.stats.errors[0] and "field=identifier" in h.stats.errors[0]


def test_dataset_without_identity_is_reported_and_the_run_goes_on(fast_http):
    doc = copy.deepcopy(CFTC)
    del doc["dataset"][1]["identifier"]
    doc["dataset"][2]["title"] = "  "
    doc["dataset"].append("not an object")
    with DataJsonServer({"/data.json": doc}) as srv:
        h = harvester(srv.base + "/data.json", fast_http)
        records = list(h.records(FULL, "full"))
    assert [r.native_id for r in records] == ["cftc-dc1", "cftc-dc4", "cftc-dc5", "cftc-dc6", "cftc-dc7"]
    assert h.stats.skipped == {"no identifier": 1, "no title": 1, "not an object": 1}
    assert any("field=identifier" in e and "Bank Participation" in e for e in h.stats.errors)
    assert any("record=cftc-dc3" in e and "field=title" in e for e in h.stats.errors)
    assert h.stats.complete_listing is True  # the document itself was listed completely


def test_pod_1_0_bare_array_is_accepted(fast_http):
    with DataJsonServer({"/data.json": CFTC["dataset"][:2]}) as srv:
        records = list(harvester(srv.base + "/data.json", fast_http).records(FULL, "full"))
    assert [r.native_id for r in records] == ["cftc-dc1", "cftc-dc2"]


def test_json_that_is_not_a_catalogue_is_a_fatal_error(fast_http):
    with DataJsonServer({"/data.json": {"success": True, "result": []}}) as srv:
        with pytest.raises(FatalSourceError, match="no 'dataset' list.*result, success"):
            list(harvester(srv.base + "/data.json", fast_http).records(FULL, "full"))


def test_server_error_then_recovery(server, fast_http, sleeps):
    server.inject("status", times=2)
    h = harvester(server.base + "/cftc/data.json", fast_http)
    assert len(list(h.records(FULL, "full"))) == 7
    assert len(sleeps.waits) == 2 and h.stats.requests == 3 and h.stats.complete_listing


def test_truncated_body_is_a_clear_error_naming_the_url(server, fast_http):
    server.inject("truncate", times=-1)
    h = harvester(server.base + "/cftc/data.json", fast_http)
    with pytest.raises(TruncatedResponseError, match="truncated body from .*/cftc/data.json") as exc:
        list(h.records(FULL, "full"))
    assert exc.value.source_id == "test-dcatus" and h.stats.complete_listing is False


def test_html_page_with_status_200_is_refused(server, fast_http):
    server.inject("html200")
    with pytest.raises(UnexpectedContentError, match="Site maintenance"):
        list(harvester(server.base + "/cftc/data.json", fast_http).records(FULL, "full"))


def test_redirect_loop_is_a_fatal_error(server, fast_http):
    """The single-document analogue of a repeated page: the URL redirects to itself."""
    server.inject("loop", times=-1)
    with pytest.raises(FatalSourceError, match="more than 5 redirects"):
        list(harvester(server.base + "/cftc/data.json", fast_http).records(FULL, "full"))


def test_redirect_to_another_host_is_refused_unless_allowed(server, fast_http):
    server.inject("offsite", times=1)
    with pytest.raises(RedirectRefusedError, match="localhost"):
        list(harvester(server.base + "/cftc/data.json", fast_http).records(FULL, "full"))
    server.inject("offsite", times=1)
    h = harvester(server.base + "/cftc/data.json", fast_http, allow_redirect_hosts=["localhost"])
    assert len(list(h.records(FULL, "full"))) == 7


def test_response_size_cap(fast_http):
    big = copy.deepcopy(CFTC)
    big["dataset"] = [dict(d, identifier=f"x{i}", description="y" * 2000) for i, d in enumerate(big["dataset"] * 90)]
    with DataJsonServer({"/data.json": big}) as srv:
        with pytest.raises(ResponseTooLargeError, match="max_response_bytes"):
            list(harvester(srv.base + "/data.json", fast_http, max_response_mb=1).records(FULL, "full"))


def test_inline_secret_instead_of_env_name_is_rejected():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="NAME of an environment variable"):
        DcatUsHarvester.Options(api_key_env="abc-123-secret")


def test_replay_mode_does_not_contact_the_source(fast_http):
    with pytest.raises(FatalSourceError, match="replay"):
        list(harvester("http://127.0.0.1:9/data.json", fast_http).records(FULL, "replay"))


# --------------------------------------------------------------------------- end to end


def _sources(path: Path, entries: list[tuple[str, str]]) -> Path:
    return write_sources(path, *({"id": sid, "kind": "dcat-us", "url": url, "institution": "Test Agency",
                                  "institution_kind": "national", "options": {"requests_per_second": 50}}
                                 for sid, url in entries), page_size=4)


def test_end_to_end_run_source_loads_inventory_and_feed_conforms(server, env_inventory):
    from citycat import pipeline
    from citycat.config import load_sources
    from citycat.runner import run_source

    tmp_path, inv = env_inventory
    data_dir = tmp_path / "data"
    sources = load_sources(_sources(tmp_path / "sources.yaml", [("cftc", server.base + "/cftc/data.json"),
                                                                ("apur", server.base + "/apur/data.json")]))
    outs = [run_source(s, sources, run_id="r1", mode="full", now=T0, data_dir=data_dir, inventory=inv)
            for s in sources.sources]
    assert [(o.status, o.created, o.failed) for o in outs] == [("success", 7, 0), ("success", 3, 0)], \
        [o.reason for o in outs]
    assert inv.count_datasets(status="active") == 10
    again = run_source(sources.sources[0], sources, run_id="r2", mode="full", now=T0 + timedelta(days=1),
                       data_dir=data_dir, inventory=inv)
    assert (again.status, again.created, again.updated, again.unchanged) == ("success", 0, 0, 7)

    pipeline.publish(sources, inventory=inv, data_dir=data_dir, generated_at=T0)
    pages = feed_pages(data_dir)
    assert len(pages) == 3  # 10 datasets, page_size 4
    seen = 0
    for page, g, result in validated_pages(pages):
        seen += len(set(g.subjects(RDF.type, DCAT.Dataset)))
        assert result.conforms, (page.name, result.messages)
    assert seen == 10
