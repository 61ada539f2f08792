"""The OAI-PMH harvester against a real local repository on 127.0.0.1 serving recorded real records."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

import harvesters
from citycat import pipeline
from citycat.config import load_sources
from citycat.runner import run_source
from citycat.localoai import DAY, LocalOai, OaiItem, items_from_response
from conftest_portal import fast_http, sleeps  # noqa: F401
from harvesters.base import FatalSourceError, HarvestWindow
from harvesters.http import TruncatedResponseError
from harvesters.oai_pmh import SECONDS, OaiError, OaiPmhHarvester, oai_window, parse_datestamp
from helpers import assert_pages_conform, feed_pages, utc, write_kind_sources

DATA = Path(__file__).parent / "data" / "oai_pmh"
FULL = HarvestWindow()
ZENODO_IDS = ["oai:zenodo.org:8433919", "oai:zenodo.org:20510666", "oai:zenodo.org:20566294",
              "oai:zenodo.org:20568304"]  # in datestamp order


def zenodo_items() -> list[OaiItem]:
    return items_from_response(DATA / "zenodo_listrecords_oai_dc.xml", "oai_dc")


def tombstone() -> list[OaiItem]:
    return items_from_response(DATA / "eur_dspace_getrecord_deleted.xml", "oai_dc")


def harvester(url: str, http, **options) -> OaiPmhHarvester:
    options.setdefault("requests_per_second", 100)
    return OaiPmhHarvester("test-oai", url, OaiPmhHarvester.Options(**options), http)


def list_requests(repo: LocalOai) -> list[dict]:
    return [r for r in repo.requests if r.get("verb") == "ListRecords"]


@pytest.fixture
def zenodo():
    with LocalOai(zenodo_items() + tombstone(), page_size=2) as repo:
        yield repo


def test_registered_under_its_kind():
    harvesters.load_builtin()
    assert harvesters.get("oai-pmh") is OaiPmhHarvester
    assert (OaiPmhHarvester.cursor, OaiPmhHarvester.paging) == ("datestamp", "resumption-token")


def test_full_harvest_follows_tokens_and_yields_each_record_once(zenodo, fast_http):
    h = harvester(zenodo.url, fast_http)
    records = list(h.records(FULL, "full"))
    assert [r.native_id for r in records] == ["hdl:1765/1160", *ZENODO_IDS]
    assert h.stats.pages == 3 and h.stats.complete_listing is True and h.stats.errors == []
    verbs = [r.get("verb") for r in zenodo.requests]
    assert verbs == ["Identify", "ListMetadataFormats", "ListRecords", "ListRecords", "ListRecords"]
    first, *rest = list_requests(zenodo)
    assert first == {"verb": "ListRecords", "metadataPrefix": "oai_dc"}
    assert all(set(r) == {"verb", "resumptionToken"} for r in rest)  # the protocol: the token alone
    rec = records[1]
    assert rec.media_type == "application/xml" and rec.payload.startswith("<oai:record")
    assert "oai:zenodo.org:8433919" in rec.payload and rec.source_modified == "2023-10-12T07:35:02Z"
    assert rec.deleted is False and records[0].deleted is True
    assert h.repository.granularity == SECONDS and h.repository.deleted_record == "persistent"


def test_identify_of_real_zenodo_with_stylesheet_pi_and_single_quoted_declaration(fast_http):
    """Quirk: Zenodo's Identify has an xml-stylesheet PI before the root and a single-quoted declaration."""
    body = (DATA / "zenodo_identify.xml").read_bytes()
    assert body.startswith(b"<?xml version='1.0'") and b"<?xml-stylesheet" in body
    with LocalOai([]) as repo:
        repo.inject("body", verb="Identify", data=body)
        repo_info = harvester(repo.url, fast_http).identify()
    assert repo_info.name == "Zenodo" and repo_info.granularity == SECONDS
    assert repo_info.deleted_record == "no" and repo_info.earliest == utc(2014, 2, 3, 14, 41, 33)


def test_metadata_prefix_not_offered_names_the_offered_ones(zenodo, fast_http):
    with pytest.raises(FatalSourceError) as err:
        list(harvester(zenodo.url, fast_http, metadata_prefix="marc21").records(FULL, "full"))
    assert "marc21" in str(err.value) and "oai_dc, oai_datacite, datacite" in str(err.value)
    assert err.value.field == "metadata_prefix" and not list_requests(zenodo)


def test_incremental_window_sent_as_inclusive_seconds_and_rechecked(zenodo, fast_http):
    window = HarvestWindow(datetime(2026, 6, 2, 13, 19, 56, 500000, tzinfo=timezone.utc), utc(2026, 6, 6, 7, 52, 15))
    h = harvester(zenodo.url, fast_http)
    records = list(h.records(window, "incremental"))
    req = list_requests(zenodo)[0]
    assert (req["from"], req["until"]) == ("2026-06-02T13:19:56Z", "2026-06-06T07:52:15Z")
    # 13:19:56 is before the window's start and 07:52:15 is its (excluded) end: both fetched, both dropped
    assert [r.native_id for r in records] == ["oai:zenodo.org:20566294"]
    assert h.stats.skipped == {"outside window": 2} and h.stats.complete_listing is False


def test_day_granularity_repository_gets_dates_and_midnight_rule(fast_http):
    items = [OaiItem(i.identifier, i.datestamp[:10], i.sets, i.metadata) for i in zenodo_items()]
    with LocalOai(items, granularity=DAY) as repo:
        h = harvester(repo.url, fast_http)
        got = list(h.records(HarvestWindow(utc(2026, 6, 2), utc(2026, 6, 6)), "incremental"))
        assert [r.native_id for r in got] == ["oai:zenodo.org:20510666"]
        assert {k: list_requests(repo)[0][k] for k in ("from", "until")} == {"from": "2026-06-02",
                                                                               "until": "2026-06-05"}
        before = len(repo.requests)
        assert list(h.records(HarvestWindow(utc(2026, 6, 6, 1), utc(2026, 6, 6, 23)), "incremental")) == []
        assert [r.get("verb") for r in repo.requests[before:]] == ["Identify", "ListMetadataFormats"]


def test_oai_window_rules():
    w = HarvestWindow(datetime(2026, 1, 1, 10, 0, 0, 1, tzinfo=timezone.utc), datetime(2026, 1, 3, 0, 0, 0, 5,
                                                                                      tzinfo=timezone.utc))
    assert oai_window(w, SECONDS) == ("2026-01-01T10:00:00Z", "2026-01-03T00:00:01Z")
    assert oai_window(w, DAY) == ("2026-01-02", "2026-01-03")
    assert oai_window(HarvestWindow(utc(2026, 1, 1), None), DAY) == ("2026-01-01", None)
    assert parse_datestamp("2026-01-02") == utc(2026, 1, 2) and parse_datestamp("junk") is None


def test_out_of_window_datestamp_is_dropped_client_side(fast_http):
    """Quirk: asked from=2026-04-01, Zenodo also sent a record stamped 2023-10-12."""
    with LocalOai(zenodo_items(), ignore_window=True) as repo:
        h = harvester(repo.url, fast_http)
        got = list(h.records(HarvestWindow(utc(2026, 4, 1), utc(2026, 8, 13)), "incremental"))
    assert "oai:zenodo.org:8433919" not in [r.native_id for r in got] and len(got) == 3
    assert h.stats.skipped == {"outside window": 1}


def test_set_is_sent_and_records_without_setspec_are_harvested(zenodo, fast_http):
    """Quirk: some Zenodo records carry no setSpec at all."""
    got = list(harvester(zenodo.url, fast_http, set="user-jahsm").records(FULL, "full"))
    assert sorted(r.native_id for r in got) == ["oai:zenodo.org:20566294", "oai:zenodo.org:20568304"]
    assert list_requests(zenodo)[0]["set"] == "user-jahsm"
    no_set = next(r for r in harvester(zenodo.url, fast_http).records(FULL, "full")
                  if r.native_id == "oai:zenodo.org:8433919")
    assert "setSpec" not in no_set.payload and no_set.deleted is False


def test_deleted_record_with_repeated_setspec_is_a_tombstone(fast_http):
    """Quirk: the DSpace tombstone keeps its set membership, and repeats setSpec 1:1 twice."""
    with LocalOai(tombstone()) as repo:
        got = list(harvester(repo.url, fast_http, set="1:1").records(FULL, "full"))
    assert [(r.native_id, r.deleted, r.source_modified) for r in got] == [("hdl:1765/1160", True,
                                                                           "2004-02-16T13:29:54Z")]
    assert got[0].payload.count("<oai:setSpec>1:1</oai:setSpec>") == 2 and "<oai:metadata" not in got[0].payload


def test_pycsw_needs_prefix_with_token_and_ends_with_token_zero(fast_http):
    with LocalOai(zenodo_items(), page_size=2, pycsw=True) as repo:
        with pytest.raises(OaiError) as err:
            list(harvester(repo.url, fast_http).records(FULL, "full"))
        assert err.value.code == "badArgument" and "resend_prefix_with_token" in str(err.value)
        repo.requests.clear()
        h = harvester(repo.url, fast_http, resend_prefix_with_token=True)
        got = list(h.records(FULL, "full"))
    assert [r.native_id for r in got] == ZENODO_IDS and h.stats.complete_listing is True
    tokens = [r.get("resumptionToken") for r in list_requests(repo)]
    assert tokens == [None, "2"]  # the final token "0" ended the list; it was not sent back
    assert all(r["metadataPrefix"] == "oai_dc" for r in list_requests(repo))
    assert got[0].source_modified == "2023-10-12T07:35:02Z"  # read from pycsw's <dateStamp>


def test_repeated_token_is_a_loop_not_an_endless_harvest(zenodo, fast_http):
    zenodo.inject("repeat_token", times=-1)
    with pytest.raises(FatalSourceError, match="paging loop.*seen before"):
        list(harvester(zenodo.url, fast_http).records(FULL, "full"))
    assert len(list_requests(zenodo)) == 2


def test_list_that_restarts_at_cursor_zero_is_a_loop(zenodo, fast_http):
    zenodo.inject("restart", times=-1)
    with pytest.raises(FatalSourceError, match="cursor 0.*restarted"):
        list(harvester(zenodo.url, fast_http).records(FULL, "full"))


def test_max_pages_stops_with_an_error(zenodo, fast_http):
    with pytest.raises(FatalSourceError, match="max_pages=2"):
        list(harvester(zenodo.url, fast_http, max_pages=2).records(FULL, "full"))


def test_no_records_match_is_an_empty_result(zenodo, fast_http):
    h = harvester(zenodo.url, fast_http)
    assert list(h.records(HarvestWindow(utc(2030, 1, 1), utc(2030, 1, 2)), "incremental")) == []
    assert h.stats.errors == [] and h.stats.pages == 1
    with LocalOai([]) as empty:
        h = harvester(empty.url, fast_http)
        assert list(h.records(FULL, "full")) == [] and h.stats.complete_listing is True


def test_expired_token_with_422_status_names_code_and_fix(fast_http):
    with LocalOai(zenodo_items(), error_status=422) as repo:
        repo.inject("expire_token")
        with pytest.raises(OaiError) as err:
            list(harvester(repo.url, fast_http).records(FULL, "full"))
    assert err.value.code == "badResumptionToken"
    assert "HTTP 422" in str(err.value) and "re-run the harvest" in str(err.value)


def test_cannot_disseminate_format_and_bad_argument_are_fatal_with_fix(fast_http):
    with LocalOai(zenodo_items()) as repo:
        with pytest.raises(OaiError) as err:
            list(harvester(repo.url, fast_http, metadata_prefix="marc21", check_formats=False).records(FULL, "full"))
        assert err.value.code == "cannotDisseminateFormat" and "metadata_prefix" in str(err.value)
    with LocalOai(zenodo_items(), granularity=DAY) as repo:
        h = harvester(repo.url, fast_http, granularity="seconds")
        with pytest.raises(OaiError) as err:
            list(h.records(HarvestWindow(utc(2026, 1, 1), utc(2026, 7, 1)), "incremental"))
        assert err.value.code == "badArgument" and "granularity: day" in str(err.value)


def test_500_then_recovery(zenodo, fast_http, sleeps):
    zenodo.inject("status", times=1, verb="ListRecords", status=500)
    got = list(harvester(zenodo.url, fast_http).records(FULL, "full"))
    assert len(got) == 5 and len(sleeps.waits) == 1


def test_truncated_body_is_a_clear_typed_error(zenodo, fast_http):
    zenodo.inject("truncate", times=-1, verb="ListRecords")
    with pytest.raises(TruncatedResponseError, match="truncated body"):
        list(harvester(zenodo.url, fast_http).records(FULL, "full"))


def test_truncated_xml_with_200_is_a_clear_error(zenodo, fast_http):
    body = (DATA / "zenodo_listrecords_oai_dc.xml").read_bytes()
    zenodo.inject("body", verb="ListRecords", data=body[: len(body) // 2])
    with pytest.raises(FatalSourceError, match="malformed or truncated XML"):
        list(harvester(zenodo.url, fast_http).records(FULL, "full"))


def test_html_and_wrong_url_are_named(zenodo, fast_http):
    zenodo.inject("html200", verb="Identify")
    with pytest.raises(FatalSourceError, match="HTML page.*OAI-PMH base URL"):
        list(harvester(zenodo.url, fast_http).records(FULL, "full"))
    with pytest.raises(FatalSourceError, match="HTTP 404"):
        list(harvester(zenodo.url.replace("/oai", "/wrong"), fast_http).records(FULL, "full"))


BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
                  b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
                  b'<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><Identify><repositoryName>&lol3;'
                  b'</repositoryName></Identify></OAI-PMH>')
EXTERNAL_ENTITY = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
                   b'<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><Identify><repositoryName>&xxe;'
                   b'</repositoryName></Identify></OAI-PMH>')


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion-laughs", "external-entity"])
def test_entity_attacks_are_refused(zenodo, fast_http, body):
    zenodo.inject("body", verb="Identify", data=body)
    with pytest.raises(FatalSourceError, match="unsafe XML refused"):
        list(harvester(zenodo.url, fast_http).records(FULL, "full"))


def test_record_without_identifier_is_reported_and_listing_not_complete(fast_http):
    body = (b"<?xml version='1.0'?><OAI-PMH xmlns='http://www.openarchives.org/OAI/2.0/'><ListRecords>"
            b"<record><header><datestamp>2026-01-01T00:00:00Z</datestamp></header><metadata><x/></metadata></record>"
            b"<record><header><identifier>oai:a:1</identifier><datestamp>2026-01-01T00:00:00Z</datestamp></header>"
            b"<metadata><x/></metadata></record></ListRecords></OAI-PMH>")
    with LocalOai([]) as repo:
        repo.inject("body", verb="ListRecords", data=body)
        h = harvester(repo.url, fast_http)
        got = list(h.records(FULL, "full"))
    assert [r.native_id for r in got] == ["oai:a:1"]
    assert len(h.stats.errors) == 1 and "field=identifier" in h.stats.errors[0]
    assert h.stats.complete_listing is False  # a record we could not identify may be one we would withdraw


# ---------------------------------------------------------------------------- end to end


def write_oai_sources(path: Path, source_id: str, url: str, **options) -> Path:
    return write_kind_sources(path, "oai-pmh", source_id, url, institution="Example University",
                              institution_kind="university", **options)


def test_run_source_loads_inventory_and_feed_conforms_then_tombstone_withdraws(env_inventory):
    tmp, inv = env_inventory
    t0 = utc(2026, 11, 20, 2)
    with LocalOai(zenodo_items(), page_size=3) as repo:
        sources = load_sources(write_oai_sources(tmp / "sources.yaml", "zen", repo.url))
        first = run_source(sources.sources[0], sources, run_id="r1", mode="full", now=t0, data_dir=tmp / "data",
                           inventory=inv)
    assert (first.status, first.created, first.failed) == ("success", 4, 0), first.reason
    assert inv.count_datasets(status="active", source_id="zen") == 4
    feed = pipeline.publish(sources, inventory=inv, data_dir=tmp / "data", generated_at=t0)
    assert feed["datasets"] == 4
    pages = feed_pages(tmp / "data")
    assert len(pages) == 2
    assert_pages_conform(pages)
    # the repository now announces one record deleted: an incremental run withdraws it
    gone = OaiItem("oai:zenodo.org:20510666", "2026-11-20T10:00:00Z", ["software"], {}, deleted=True)
    with LocalOai([i for i in zenodo_items() if i.identifier != gone.identifier] + [gone]) as repo:
        sources = load_sources(write_oai_sources(tmp / "sources.yaml", "zen", repo.url))
        second = run_source(sources.sources[0], sources, run_id="r2", mode="incremental", now=utc(2026, 11, 21, 2),
                            data_dir=tmp / "data", inventory=inv, since=utc(2026, 11, 20), until=utc(2026, 11, 21))
    assert (second.status, second.seen, second.withdrawn) == ("success", 1, 1), second.reason
    assert inv.count_datasets(status="active", source_id="zen") == 3


def test_run_source_with_oai_datacite_and_pycsw_quirks(env_inventory):
    tmp, inv = env_inventory
    items = items_from_response(DATA / "crafted_listrecords_oai_datacite.xml", "oai_datacite")
    with LocalOai(items, page_size=1, pycsw=True) as repo:
        sources = load_sources(write_oai_sources(tmp / "sources.yaml", "dc", repo.url, metadata_prefix="oai_datacite",
                                                 resend_prefix_with_token=True))
        out = run_source(sources.sources[0], sources, run_id="d1", mode="full", now=utc(2026, 11, 20, 2),
                         data_dir=tmp / "data", inventory=inv)
    assert (out.status, out.created, out.failed) == ("success", 2, 0), out.reason
    assert inv.count_datasets(status="active", source_id="dc") == 2


def test_bad_token_after_good_run_fails_and_loses_nothing(env_inventory):
    tmp, inv = env_inventory
    with LocalOai(zenodo_items(), page_size=2) as repo:
        sources = load_sources(write_oai_sources(tmp / "sources.yaml", "zen", repo.url))
        good = run_source(sources.sources[0], sources, run_id="g", mode="full", now=utc(2026, 11, 20, 2),
                          data_dir=tmp / "data", inventory=inv)
        repo.inject("repeat_token", times=-1)
        bad = run_source(sources.sources[0], sources, run_id="b", mode="full", now=utc(2026, 11, 21, 2),
                         data_dir=tmp / "data", inventory=inv)
    assert good.status == "success" and bad.status == "failed" and "paging loop" in bad.reason
    assert inv.count_datasets(status="active", source_id="zen") == 4


# --------------------------------------------------------------------------- real pycsw

from pycsw_server import pycsw_iso  # noqa: E402,F401  (session fixture: a real pycsw on 127.0.0.1)


def test_real_pycsw_oai_endpoint_behind_a_query_string_lists_every_record(pycsw_iso, fast_http):
    """pycsw answers OAI-PMH at ``/csw?mode=oaipmh``, ends lists with token ``0`` and needs the prefix
    resent with each token: the harvester keeps the base query on every request and pages to the end."""
    import harvesters

    harvesters.load_builtin()
    cls = harvesters.get("oai-pmh")
    opts = cls.Options(metadata_prefix="oai_dc", resend_prefix_with_token=True, granularity="seconds")
    h = cls("pycsw-oai", pycsw_iso.oai_url, opts, http=fast_http)
    records = list(h.records(HarvestWindow(), "full"))
    ids = [r.native_id for r in records]
    # the same server's CSW interface lists the same records: the two protocols must agree
    csw = harvesters.get("csw")("pycsw-csw", pycsw_iso.url, harvesters.get("csw").Options(), http=fast_http)
    csw_ids = {r.native_id for r in csw.records(HarvestWindow(), "full")}
    assert len(ids) == len(set(ids)) == 20
    assert set(ids) == csw_ids
    assert h.stats.pages >= 2 and h.stats.complete_listing  # pycsw pages OAI by 10 as well
    assert all(r.payload.lstrip().startswith("<") for r in records)
