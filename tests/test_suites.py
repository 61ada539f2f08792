"""The GX suites: each critical expectation blocks a crafted bad run and passes a good one; each
warning fires on a crafted row and on no other."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pandas as pd
import pytest

from expectations.row_checks import CHECKS, Limits
from expectations.suites import (BASE_COLUMNS, RunFacts, SUITE_COLUMNS, all_rules, build_run_suite, build_suite,
                                 run_suite, suite_frame)
from transforms.row import FLAT_COLUMNS, empty_row

CRITICAL = {"uri_not_null", "uri_unique", "native_id_not_null", "native_id_unique", "title_not_null",
            "title_not_empty"}
RUN_CRITICAL = {"run_not_empty", "failed_to_map_share", "record_count_drop"}
WARNINGS = {"identifier_present", "identifier_unique", "description_present", "licence_present",
            "distribution_present", *CHECKS}
RUN_TIME = datetime(2026, 11, 28, 2, 0, tzinfo=timezone.utc)
CC_BY = "http://publications.europa.eu/resource/authority/licence/CC_BY_4_0"


def good_row(i: int) -> dict:
    row = empty_row()
    row.update(uri=f"https://data.example.org/citycat/dataset/leeds/ds-{i}", identifier=f"id-{i}",
               source_id="leeds", native_id=f"ds-{i}", title=f"Dataset {i}",
               description=f"About dataset {i}, a longer text than its title",
               licence_uri=CC_BY, publisher="Leeds City Council", contact_name="Data team",
               formats=["CSV"], media_types=["text/csv"], access_urls=[f"https://data.example.org/{i}"],
               download_urls=[f"https://data.example.org/{i}.csv"], distribution_count=1,
               modified="2026-11-01", frequency="MONTHLY")
    return row


def rows(n: int = 6) -> list[dict]:
    return [good_row(i) for i in range(n)]


def frame(rs: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rs, columns=list(FLAT_COLUMNS))


def failed(result, severity: str = "critical") -> set[str]:
    return {o.name for o in result.results if o.severity == severity and not o.success}


def outcome(result, name: str):
    return next(o for o in result.results if o.name == name)


def test_suite_is_code_with_a_severity_on_every_expectation():
    expectations = build_suite().expectations + build_run_suite().expectations
    severities = {e.meta["rule"]: e.meta["severity"] for e in expectations}
    assert {n for n, s in severities.items() if s == "critical"} == CRITICAL | RUN_CRITICAL
    assert {n for n, s in severities.items() if s == "warning"} == WARNINGS
    assert all(str(getattr(e.severity, "value", e.severity)) == e.meta["severity"] for e in expectations)
    assert set(BASE_COLUMNS) <= set(FLAT_COLUMNS)


def test_good_run_passes_every_expectation():
    result = run_suite(frame(rows()), source_id="leeds", run_id="good", run_time=RUN_TIME,
                       run=RunFacts(seen=6, failed_to_map=0, rows=6, previous_rows=6))
    assert result.success
    assert all(o.success for o in result.results), [o.message for o in result.results if not o.success]
    assert {o.name for o in result.results} == CRITICAL | RUN_CRITICAL | WARNINGS
    assert result.statistics["rows"] == 6
    assert result.statistics["failed_critical"] == 0


def _blank_uri(rs):
    rs[2]["uri"] = None


def _dup_uri(rs):
    rs[3]["uri"] = rs[1]["uri"]


def _blank_native_id(rs):
    rs[4]["native_id"] = None


def _dup_native_id(rs):
    rs[5]["native_id"] = rs[0]["native_id"]


def _no_title(rs):
    rs[1]["title"] = None


def _whitespace_title(rs):
    rs[2]["title"] = " \t\n"


@pytest.mark.parametrize("breaker, expected", [
    (_blank_uri, "uri_not_null"),
    (_dup_uri, "uri_unique"),
    (_blank_native_id, "native_id_not_null"),
    (_dup_native_id, "native_id_unique"),
    (_no_title, "title_not_null"),
    (_whitespace_title, "title_not_empty"),
])
def test_each_critical_expectation_blocks_a_crafted_bad_run(breaker, expected):
    rs = rows()
    breaker(rs)
    result = run_suite(frame(rs), source_id="leeds", run_id="bad", run_time=RUN_TIME)
    assert not result.success
    assert failed(result) == {expected}
    o = outcome(result, expected)
    assert o.unexpected_count >= 1
    assert o.column in o.message


def test_empty_titles_message_counts_names_column_and_gives_at_most_five_examples():
    rs = rows(9)
    for r in rs[:7]:
        r["title"] = "" if r["native_id"] != "ds-0" else "   "
    result = run_suite(frame(rs), source_id="leeds", run_id="r")
    o = outcome(result, "title_not_empty")
    assert o.unexpected_count == 7
    assert o.message.startswith("7 rows have an empty title (column title; examples: native_id ds-0")
    assert len(o.unexpected_examples) == 5
    assert "title_not_null" not in failed(result)  # an empty string is not a null


def test_duplicate_uri_examples_are_the_duplicated_values():
    rs = rows()
    rs[4]["uri"] = rs[5]["uri"] = "https://example.org/same"
    o = outcome(run_suite(frame(rs), source_id="leeds", run_id="r"), "uri_unique")
    assert o.unexpected_count == 2
    assert o.unexpected_examples == ["https://example.org/same"]


def test_warnings_are_recorded_but_do_not_fail_the_suite():
    rs = rows()
    rs[0]["description"] = "  "
    rs[1]["description"] = None
    rs[2]["licence_uri"] = None
    result = run_suite(frame(rs), source_id="leeds", run_id="r", run_time=RUN_TIME)
    assert result.success
    assert failed(result, "warning") == {"description_present", "licence_present"}
    assert outcome(result, "description_present").message.startswith("2 rows have no description")
    assert outcome(result, "licence_present").message.startswith("1 row has no licence_uri")
    assert result.statistics["failed_warning"] == 2


def test_empty_run_does_not_crash():
    for df in (frame([]), pd.DataFrame()):
        result = run_suite(df, source_id="leeds", run_id="empty")
        assert result.success
        assert result.statistics["rows"] == 0
        assert len(result.results) == len(build_suite().expectations) + len(build_run_suite().expectations)


def test_missing_column_fails_its_checks_instead_of_crashing():
    df = frame(rows()).drop(columns=["title"])
    result = run_suite(df, source_id="leeds", run_id="r")
    assert not result.success
    assert "title_not_null" in failed(result)


def test_result_is_json_able_for_xcom():
    rs = rows()
    rs[0]["uri"] = None
    data = json.loads(json.dumps(run_suite(frame(rs), source_id="leeds", run_id="r-1").as_dict()))
    assert data["success"] is False and data["source_id"] == "leeds" and data["run_id"] == "r-1"
    assert {"name", "column", "severity", "success", "unexpected_count", "unexpected_examples",
            "message"} <= set(data["results"][0])


# --------------------------------------------------------------------------- warnings, one crafted row each


def _set(**values):
    def breaker(row: dict, _rows: list[dict]) -> None:
        row.update(values)
    return breaker


WARNING_BREAKERS = {
    "identifier_present": _set(identifier=None),
    "identifier_unique": lambda row, rs: row.update(identifier=rs[0]["identifier"]),
    "description_present": _set(description=None),
    "licence_present": _set(licence_uri=None),
    "distribution_present": _set(distribution_count=0),
    "description_longer_than_title": _set(description="Short"),
    "licence_recognised": _set(licence_uri="https://example.org/our-own-licence"),
    "access_urls_valid": _set(access_urls=["ftp://files.example.org/data.csv"]),
    "formats_known": _set(formats=["CSV", "SPREADSHEETISH"]),
    "media_types_known": _set(media_types=["text/x-made-up"]),
    "modified_valid": _set(modified="2027-03-01"),
    "publisher_present": _set(publisher=None),
    "contact_point_present": _set(contact_name=None, contact_email=None),
    "frequency_consistent": _set(frequency="DAILY", modified="2026-01-01"),
}


def test_every_warning_has_a_crafted_row():
    assert set(WARNING_BREAKERS) == WARNINGS


@pytest.fixture(scope="module")
def crafted():
    """Row 0 and the last row are good; row i+1 breaks exactly the i-th warning."""
    names = sorted(WARNING_BREAKERS)
    rs = rows(len(names) + 2)
    for i, name in enumerate(names, start=1):
        WARNING_BREAKERS[name](rs[i], rs)
    result = run_suite(frame(rs), source_id="leeds", run_id="warn", run_time=RUN_TIME)
    return names, rs, result


@pytest.mark.parametrize("name", sorted(WARNING_BREAKERS))
def test_each_warning_fires_on_its_crafted_row_and_no_other(crafted, name):
    names, rs, result = crafted
    o = outcome(result, name)
    assert o.severity == "warning" and not o.success
    row = rs[names.index(name) + 1]
    if name == "identifier_unique":  # two rows share the value: the examples are the value
        assert o.unexpected_count == 2 and o.unexpected_examples == [rs[0]["identifier"]]
    else:
        assert o.unexpected_count == 1, o.message
        assert len(o.unexpected_examples) == 1 and o.unexpected_examples[0].startswith(f"native_id {row['native_id']}")
    assert o.message.startswith("1 row " if o.unexpected_count == 1 else "2 rows ")


def test_warnings_never_fail_the_suite(crafted):
    _, _, result = crafted
    assert result.success and result.statistics["failed_critical"] == 0
    assert result.statistics["failed_warning"] == len(WARNINGS)


def test_derived_warning_examples_name_the_offending_value(crafted):
    _, _, result = crafted
    assert "(ftp://files.example.org/data.csv)" in outcome(result, "access_urls_valid").message
    assert "(SPREADSHEETISH)" in outcome(result, "formats_known").message
    assert "2027-03-01 is after the run's time 2026-11-28" in outcome(result, "modified_valid").message
    assert "DAILY but last modified" in outcome(result, "frequency_consistent").message


def test_without_a_run_time_the_time_relative_checks_are_not_judged():
    rs = rows(2)
    WARNING_BREAKERS["modified_valid"](rs[0], rs)
    WARNING_BREAKERS["frequency_consistent"](rs[1], rs)
    result = run_suite(frame(rs), source_id="leeds", run_id="r")  # no run_time: never the clock
    assert outcome(result, "modified_valid").success and outcome(result, "frequency_consistent").success


# --------------------------------------------------------------------------- the frame and Data Docs


def test_lean_frame_keeps_only_suite_columns_and_cuts_long_texts():
    rs = rows(2)
    rs[0]["description"] = "x" * 5000
    lean = suite_frame(frame(rs), run_time=RUN_TIME, limits=Limits())
    assert list(lean.columns) == list(SUITE_COLUMNS)
    assert len(lean.at[0, "description"]) == 200
    assert suite_frame(lean) is not lean and list(suite_frame(lean).columns) == list(SUITE_COLUMNS)


def test_rules_name_their_config_keys():
    keys = {r.name: r.config_key for r in all_rules()}
    assert keys["failed_to_map_share"] == "max_failed_share" and keys["record_count_drop"] == "max_count_drop"
    assert keys["modified_valid"] == "modified_future_slack_hours"
    assert keys["frequency_consistent"] == "frequency_slack"


def test_data_docs_site_is_built_for_the_run_and_names_both_suites(tmp_path):
    rs = rows(3)
    rs[1]["title"] = ""
    result = run_suite(frame(rs), source_id="leeds", run_id="dd-1", run_time=RUN_TIME,
                       run=RunFacts(seen=3, failed_to_map=0, rows=3), docs_dir=tmp_path / "docs")
    index = tmp_path / "docs" / "index.html"
    assert index.is_file() and not result.success
    html = index.read_text()
    assert "citycat.flat_rows.leeds" in html and "citycat.run.leeds" in html
    pages = sorted(p.relative_to(tmp_path / "docs").as_posix() for p in (tmp_path / "docs").rglob("*.html"))
    validations = [p for p in pages if p.startswith("validations/")]
    assert len(validations) == 2, pages
    assert all("/dd-1/20261128T020000" in p for p in validations), validations  # dated by the run, not now
    rows_page = (tmp_path / "docs" / next(p for p in validations if "flat_rows" in p)).read_text()
    run_page = (tmp_path / "docs" / next(p for p in validations if "/run/" in p)).read_text()
    assert "title_not_empty (critical)" in rows_page and "publisher_present (warning)" in rows_page
    assert "failed_to_map_share (critical)" in run_page


# --------------------------------------------------------------------------- the derived checks (pure Python)

from expectations.row_checks import findings, parse_modified, problems  # noqa: E402


@pytest.mark.parametrize("modified, stale", [
    ("2026-08-26", False),  # the whole day counts: 93.1 days before the run, MONTHLY allows 3 x 31 + 1 = 94
    ("2026-08-24", True),   # 95.1 days
    ("2026-08", False),     # a month counts until its end, 2026-09-01: 88.1 days
    ("2026-07", True),      # ends 2026-08-01: 119.1 days
])
def test_frequency_staleness_boundaries(modified, stale):
    row = dict(good_row(0), modified=modified)
    got = problems(row, run_time=RUN_TIME, limits=Limits())["chk_frequency"]
    assert (got is not None) is stale, got


@pytest.mark.parametrize("frequency", ["IRREG", "UNKNOWN", "AS_NEEDED", None,
                                       "http://publications.europa.eu/resource/authority/frequency/NEVER"])
def test_frequencies_without_a_schedule_are_never_stale(frequency):
    row = dict(good_row(0), modified="2001-01-01", frequency=frequency)
    assert problems(row, run_time=RUN_TIME, limits=Limits())["chk_frequency"] is None


def test_frequency_uri_is_read_like_its_code():
    row = dict(good_row(0), modified="2026-01-01",
               frequency="http://publications.europa.eu/resource/authority/frequency/WEEKLY")
    assert problems(row, run_time=RUN_TIME, limits=Limits())["chk_frequency"].startswith("WEEKLY but")


@pytest.mark.parametrize("modified, flagged", [
    ("2026-11-28T20:00:00Z", False),  # later the same day: within the 24 h slack
    ("2026-11-29T03:00:00+00:00", True),
    ("2026", False),                  # a year: its start is not in the future
    ("2027", True),
    ("last Tuesday", True),           # does not parse
    (None, False),                    # absent is not this check's business
])
def test_modified_parses_and_is_not_after_the_run(modified, flagged):
    row = dict(good_row(0), modified=modified)
    got = problems(row, run_time=RUN_TIME, limits=Limits())["chk_modified"]
    assert (got is not None) is flagged, got


def test_parse_modified_spans():
    assert parse_modified("2026-02") == (datetime(2026, 2, 1, tzinfo=timezone.utc),
                                         datetime(2026, 3, 1, tzinfo=timezone.utc))
    assert parse_modified("2026-12")[1] == datetime(2027, 1, 1, tzinfo=timezone.utc)
    assert parse_modified("nonsense") is None


def test_findings_of_a_good_row_are_empty_and_of_a_bad_row_name_the_rules():
    assert findings(good_row(0), run_time=RUN_TIME, limits=Limits()) == []
    bad = dict(good_row(0), publisher=None, licence_uri=None, access_urls=["not a url"])
    got = findings(bad, run_time=RUN_TIME, limits=Limits())
    assert [f["rule"] for f in got] == ["licence_present", "access_urls_valid", "publisher_present"]
    assert all(f["severity"] == "warning" for f in got) and got[1]["message"] == "not a url"


@pytest.mark.parametrize("url, valid", [
    ("https://data.example.org/x.csv", True), ("HTTP://EXAMPLE.ORG:8080/p?q=1#f", True),
    ("https://user:pw@example.org/", True), ("https://[2001:db8::1]/x", True),
    ("https://example.org/a file.csv", False), ("ftp://example.org/x", False), ("https://", False),
    ("https:///x", False), ("https://example.org:port/", False), ("www.example.org", False),
])
def test_access_url_validity(url, valid):
    from expectations.row_checks import _valid_url

    assert _valid_url(url) is valid
