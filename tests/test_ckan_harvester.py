"""The CKAN harvester against the CKAN-shaped local portal (synthetic and recorded real packages)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

import harvesters
from citycat.localportal import DirectoryStore, LocalPortal
from citycat.synthetic import SyntheticPackages, SyntheticSpec
from conftest_portal import (CKAN_DATA, closed_port, fast_http, recorded_package, recorded_portal,  # noqa: F401
                             sleeps, synthetic_portal)
from harvesters.base import FatalSourceError, HarvestWindow, RetriableError
from harvesters.ckan import CkanHarvester, parse_ckan_time, solr_window
from harvesters.http import ResponseTooLargeError, TruncatedResponseError, UnexpectedContentError

FULL = HarvestWindow()


def harvester(url: str, http, source_id: str = "test-ckan", **options) -> CkanHarvester:
    options.setdefault("requests_per_second", 100)
    return CkanHarvester(source_id, url, CkanHarvester.Options(**options), http)


def ids_of(records) -> list[str]:
    return [r.native_id for r in records]


def test_registered_under_its_kind():
    harvesters.load_builtin()
    assert harvesters.get("ckan") is CkanHarvester
    assert CkanHarvester.cursor == "metadata_modified" and CkanHarvester.paging == "offset"


def test_full_harvest_pages_and_returns_each_package_once(synthetic_portal, fast_http):
    h = harvester(synthetic_portal.url, fast_http, rows=500)
    records = list(h.records(FULL, "full"))
    expected = {SyntheticPackages(SyntheticSpec(2345)).package_id(i) for i in range(2345)}
    assert len(records) == 2345 and set(ids_of(records)) == expected
    assert h.stats.pages == 5 and h.stats.complete_listing is True and h.stats.errors == []
    searches = [r["params"] for r in synthetic_portal.requests if r["action"] == "package_search"]
    assert [p["start"] for p in searches] == [0, 500, 1000, 1500, 2000]
    assert all(p["sort"] == "metadata_modified asc, id asc" and p["rows"] == 500 for p in searches)
    first = records[0]
    assert first.media_type == "application/json" and first.payload["id"] == first.native_id
    assert first.source_modified == first.payload["metadata_modified"] and first.deleted is False


def test_incremental_window_is_half_open_and_sent_as_solr_fq(synthetic_portal, fast_http):
    s = SyntheticPackages(SyntheticSpec(2345))
    window = HarvestWindow(s.modified(100), s.modified(200))
    h = harvester(synthetic_portal.url, fast_http)
    records = list(h.records(window, "incremental"))
    assert ids_of(records) == [s.package_id(i) for i in range(100, 200)]
    # the end bound was widened to a whole second for Solr; the package at exactly `end` is dropped here
    assert h.stats.skipped == {"outside window": 1}
    assert h.stats.complete_listing is False  # only full mode may claim a complete listing
    fq = synthetic_portal.requests[-1]["params"]["fq"]
    assert fq == solr_window(window) and fq.startswith("metadata_modified:[2020-01-01T01:40:00Z TO ")


def test_solr_window_bounds_are_whole_seconds_in_utc():
    from datetime import timedelta
    plus2 = timezone(timedelta(hours=2))
    w = HarvestWindow(datetime(2024, 3, 1, 2, 0, 0, 500, tzinfo=plus2),
                      datetime(2024, 3, 2, 0, 0, 0, 1, tzinfo=timezone.utc))
    assert solr_window(w) == "metadata_modified:[2024-03-01T00:00:00Z TO 2024-03-02T00:00:01Z]"
    assert solr_window(HarvestWindow(end=w.end)).startswith("metadata_modified:[* TO ")


@pytest.mark.parametrize("synthetic_portal", [{"count": 600}], indirect=True)
def test_organisation_filter(synthetic_portal, fast_http):
    h = harvester(synthetic_portal.url, fast_http, organization="leeds-city-council")
    records = list(h.records(FULL, "full"))
    assert len(records) == 50 and {r.payload["organization"]["name"] for r in records} == {"leeds-city-council"}
    assert synthetic_portal.requests[-1]["params"]["fq"] == "organization:leeds-city-council"

    two = harvester(synthetic_portal.url, fast_http, organization=["leeds-city-council", "york-council"])
    assert len(list(two.records(FULL, "full"))) == 100
    assert synthetic_portal.requests[-1]["params"]["fq"] == "organization:(leeds-city-council OR york-council)"


@pytest.mark.parametrize("synthetic_portal", [{"count": 700, "deleted_every": 7}], indirect=True)
def test_deleted_state_becomes_a_tombstone(synthetic_portal, fast_http):
    records = list(harvester(synthetic_portal.url, fast_http).records(FULL, "full"))
    deleted = [r for r in records if r.deleted]
    assert len(records) == 700 and len(deleted) == 100
    assert all(r.payload["state"] == "deleted" for r in deleted)


@pytest.mark.parametrize("synthetic_portal", [{"count": 450, "harvest_every": 50}], indirect=True)
def test_non_dataset_types_are_skipped_and_counted(synthetic_portal, fast_http):
    h = harvester(synthetic_portal.url, fast_http, rows=100)
    records = list(h.records(FULL, "full"))
    assert len(records) == 441 and h.stats.skipped == {"type:harvest": 9}
    assert h.stats.complete_listing is True  # skipped packages were still listed
    both = harvester(synthetic_portal.url, fast_http, include_types=["dataset", "harvest"])
    assert len(list(both.records(FULL, "full"))) == 450


@pytest.mark.parametrize("synthetic_portal", [{"count": 120}], indirect=True)
def test_fallback_to_package_list_when_search_is_disabled(synthetic_portal, fast_http):
    expected = ids_of(harvester(synthetic_portal.url, fast_http).records(FULL, "full"))
    synthetic_portal.search_disabled = True
    h = harvester(synthetic_portal.url, fast_http, rows=50)
    records = list(h.records(FULL, "full"))
    assert sorted(ids_of(records)) == sorted(expected)
    assert "Action name not known: package_search" in h.fallback_reason
    assert h.stats.complete_listing is True
    actions = [r["action"] for r in synthetic_portal.requests]
    assert actions.count("package_show") == 120 and actions.count("package_list") == 4  # 50+50+20+empty


@pytest.mark.parametrize("synthetic_portal", [{"count": 120}], indirect=True)
def test_use_search_false_filters_the_window_client_side(synthetic_portal, fast_http):
    s = SyntheticPackages(SyntheticSpec(120))
    h = harvester(synthetic_portal.url, fast_http, use_search=False)
    records = list(h.records(HarvestWindow(s.modified(10), s.modified(20)), "incremental"))
    assert ids_of(records) == [s.package_id(i) for i in range(10, 20)]
    assert h.stats.skipped == {"outside window": 110}
    assert not any(r["action"] == "package_search" for r in synthetic_portal.requests)


def test_looping_portal_is_a_fatal_error(synthetic_portal, fast_http):
    synthetic_portal.loop_search = True
    h = harvester(synthetic_portal.url, fast_http, rows=1000, source_id="loopy")
    seen = []
    with pytest.raises(FatalSourceError) as err:
        for record in h.records(FULL, "full"):
            seen.append(record.native_id)
    message = str(err.value)
    assert "paging loop" in message and "source=loopy" in message and "ignores the offset" in message
    assert len(seen) == 1000 == len(set(seen))  # page one once, never its repeats
    assert h.stats.complete_listing is False


def test_server_errors_then_recovery(synthetic_portal, fast_http, sleeps):
    synthetic_portal.inject("status", action="package_search", status=500)
    synthetic_portal.inject("status", action="package_search", status=502)
    h = harvester(synthetic_portal.url, fast_http)
    assert len(list(h.records(FULL, "full"))) == 2345
    assert sleeps.waits == [0.01, 0.02] and h.stats.complete_listing is True


def test_429_retry_after_is_waited_through_the_injected_sleep(synthetic_portal, fast_http, sleeps):
    synthetic_portal.inject("retry_after", action="package_search", value="3")
    assert len(list(harvester(synthetic_portal.url, fast_http).records(FULL, "full"))) == 2345
    assert sleeps.waits == [3.0]


def test_truncated_body_names_the_url(synthetic_portal, fast_http):
    synthetic_portal.inject("truncate", times=-1, action="package_search")
    with pytest.raises(TruncatedResponseError) as err:
        list(harvester(synthetic_portal.url, fast_http, source_id="trunc").records(FULL, "full"))
    assert f"{synthetic_portal.url}/api/3/action/package_search" in str(err.value)
    assert "source=trunc" in str(err.value)


def test_html_page_with_status_200_names_the_url(synthetic_portal, fast_http):
    synthetic_portal.inject("html200", action="package_search")
    with pytest.raises(UnexpectedContentError) as err:
        list(harvester(synthetic_portal.url, fast_http).records(FULL, "full"))
    assert f"{synthetic_portal.url}/api/3/action/package_search answered 200 with an HTML page" in str(err.value)


def test_malformed_json_names_the_url(synthetic_portal, fast_http):
    synthetic_portal.inject("malformed", action="package_search")
    with pytest.raises(UnexpectedContentError) as err:
        list(harvester(synthetic_portal.url, fast_http).records(FULL, "full"))
    message = str(err.value)
    assert "package_search answered 200 with malformed JSON" in message and "source=test-ckan" in message


def test_response_size_cap(synthetic_portal, fast_http):
    with pytest.raises(ResponseTooLargeError, match=r"package_search announced \d+ bytes, more than "
                                                    r"max_response_bytes=1048576"):
        list(harvester(synthetic_portal.url, fast_http, max_response_mb=1).records(FULL, "full"))


def test_unreachable_portal_fails_fast(closed_port, fast_http):
    h = harvester(f"http://127.0.0.1:{closed_port}", fast_http, source_id="gone")
    with pytest.raises(RetriableError, match=r"\[source=gone\] cannot reach 127.0.0.1: connection refused"):
        list(h.records(FULL, "full"))


def test_redirect_to_another_host_is_refused(synthetic_portal, fast_http):
    synthetic_portal.inject("redirect", location=f"http://localhost:{synthetic_portal.port}")
    with pytest.raises(FatalSourceError, match=r"redirected to another host \(localhost\)"):
        list(harvester(synthetic_portal.url, fast_http).records(FULL, "full"))


def test_api_key_is_sent_but_never_appears_in_errors_or_logs(synthetic_portal, fast_http, monkeypatch, caplog):
    monkeypatch.setenv("TEST_CKAN_KEY", "tok-9f8e7d6c5b4a")
    synthetic_portal.inject("echo_auth", times=-1)  # the portal echoes the key back in its error body
    h = harvester(synthetic_portal.url, fast_http, api_key_env="TEST_CKAN_KEY")
    with pytest.raises(FatalSourceError) as err:
        list(h.records(FULL, "full"))
    assert synthetic_portal.requests[0]["authorization"] == "tok-9f8e7d6c5b4a"
    assert "not authorised" in str(err.value) and "***" in str(err.value)
    assert "tok-9f8e7d6c5b4a" not in str(err.value) + repr(err.value) + caplog.text + (h.fallback_reason or "")


def test_missing_api_key_variable_is_a_config_error(synthetic_portal, fast_http, monkeypatch):
    monkeypatch.delenv("NO_SUCH_CKAN_KEY", raising=False)
    h = harvester(synthetic_portal.url, fast_http, api_key_env="NO_SUCH_CKAN_KEY")
    with pytest.raises(FatalSourceError, match="environment variable NO_SUCH_CKAN_KEY"):
        list(h.records(FULL, "full"))


def test_inline_secret_instead_of_env_name_is_rejected():
    with pytest.raises(ValidationError, match="NAME of an environment variable"):
        CkanHarvester.Options(api_key_env="a1b2-c3d4-e5f6-secret")


def test_api_url_variants_are_normalised(synthetic_portal, fast_http):
    for url in (synthetic_portal.url + "/api/3/action/", synthetic_portal.url + "/api/3", synthetic_portal.url + "/"):
        assert harvester(url, fast_http).address == synthetic_portal.url


def test_replay_mode_does_not_contact_the_source(fast_http):
    with pytest.raises(FatalSourceError, match="replay"):
        list(harvester("http://127.0.0.1:9", fast_http).records(FULL, "replay"))


def test_package_without_id_is_reported_and_the_run_continues(fast_http):
    broken = recorded_package("dgu_package_show_inspire.json")
    broken.pop("id")
    good = recorded_package("dgu_package_show_ashfield_smoke_control.json")
    with LocalPortal(DirectoryStore([broken, good])) as portal:
        h = harvester(portal.url, fast_http)
        records = list(h.records(FULL, "full"))
    assert ids_of(records) == [good["id"]]
    assert len(h.stats.errors) == 1
    assert "package has no id" in h.stats.errors[0] and "dgu-test-inspire" not in ids_of(records)
    assert "field=id" in h.stats.errors[0] and "source=test-ckan" in h.stats.errors[0]


# --------------------------------------------------------------------------- real quirks


def test_quirk_harvest_source_packages_in_search_results(recorded_portal, fast_http):
    h = harvester(recorded_portal.url, fast_http)
    records = list(h.records(FULL, "full"))
    assert h.stats.skipped == {"type:harvest": 3}
    assert sorted(ids_of(records)) == sorted([
        "3586e7f0-ca18-4db1-b3e6-59121dbba351", "24af6104-b326-40a5-88e3-e0ce7477a97d",
        "accc72af-077d-40d8-b280-9112a5d5cf4d"])
    assert h.stats.complete_listing is True


def test_quirk_licence_json_inside_string_is_kept_verbatim(recorded_portal, fast_http):
    records = {r.native_id: r for r in harvester(recorded_portal.url, fast_http).records(FULL, "full")}
    served = recorded_package("dgu_package_show_inspire.json")
    payload = records[served["id"]].payload
    assert payload == served  # the payload is the package exactly as served
    licence = next(e["value"] for e in payload["extras"] if e["key"] == "licence")
    assert isinstance(licence, str) and isinstance(json.loads(licence), list)


def test_quirk_package_show_answers_a_list(recorded_portal, fast_http):
    recorded_portal.search_disabled = True
    recorded_portal.show_as_list = True
    h = harvester(recorded_portal.url, fast_http)
    records = list(h.records(FULL, "full"))
    assert len(records) == 3 and all(isinstance(r.payload, dict) for r in records)
    assert h.stats.skipped == {"type:harvest": 3} and h.stats.errors == []


def test_quirk_package_without_organisation(recorded_portal, fast_http):
    h = harvester(recorded_portal.url, fast_http, organization="second-publisher")
    assert sorted(ids_of(h.records(FULL, "full"))) == sorted([
        "3586e7f0-ca18-4db1-b3e6-59121dbba351", "24af6104-b326-40a5-88e3-e0ce7477a97d"])
    everything = ids_of(harvester(recorded_portal.url, fast_http).records(FULL, "full"))
    assert "accc72af-077d-40d8-b280-9112a5d5cf4d" in everything  # organization: null is still harvested


def test_quirk_metadata_modified_with_z_suffix_and_milliseconds(fast_http):
    doc = json.loads((CKAN_DATA / "dgu_search_dataset_ids_z_suffix.json").read_text())
    assert parse_ckan_time(doc["results"][0]["metadata_modified"]) == datetime(
        2018, 3, 18, 9, 3, 5, 821000, tzinfo=timezone.utc)
    with LocalPortal.from_paths([CKAN_DATA / "dgu_search_dataset_ids_z_suffix.json"]) as portal:
        window = HarvestWindow(datetime(2018, 1, 1, tzinfo=timezone.utc), datetime(2018, 5, 2, 19, 27, 59, 746000,
                                                                                   tzinfo=timezone.utc))
        h = harvester(portal.url, fast_http)
        records = list(h.records(window, "incremental"))
    # the third package sits exactly on the (exclusive) end: Solr's inclusive bound returns it, we drop it
    assert ids_of(records) == ["7509bbb5-ce6a-4801-8d77-b72c58d46180"]
    assert h.stats.skipped == {"outside window": 1}


def test_quirk_naive_and_date_only_timestamps_are_utc():
    served = recorded_package("dgu_package_show_inspire.json")["metadata_modified"]  # naive, microseconds
    assert parse_ckan_time(served) == datetime(2018, 11, 16, 9, 57, 9, 158830, tzinfo=timezone.utc)
    ashfield = recorded_package("dgu_package_show_ashfield_smoke_control.json")
    begin = next(e["value"] for e in ashfield["extras"] if e["key"] == "temporal-extent-begin")  # date only
    assert parse_ckan_time(begin) == datetime(2002, 1, 14, tzinfo=timezone.utc)
    assert parse_ckan_time("14/01/2002") is None and parse_ckan_time(None) is None
