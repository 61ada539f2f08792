"""The GX suite over flat rows: each critical expectation blocks a crafted bad run, passes a good one."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from expectations.suites import SUITE_COLUMNS, build_suite, run_suite
from transforms.row import FLAT_COLUMNS, empty_row

CRITICAL = {"uri_not_null", "uri_unique", "native_id_not_null", "native_id_unique", "title_not_null",
            "title_not_empty"}


def rows(n: int = 6) -> list[dict]:
    out = []
    for i in range(n):
        row = empty_row()
        row.update(uri=f"https://data.example.org/citycat/dataset/leeds/ds-{i}", identifier=f"id-{i}",
                   source_id="leeds", native_id=f"ds-{i}", title=f"Dataset {i}", description=f"About {i}",
                   licence_uri="http://publications.europa.eu/resource/authority/licence/CC_BY_4_0",
                   formats=["CSV"], distribution_count=1)
        out.append(row)
    return out


def frame(rs: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rs, columns=list(FLAT_COLUMNS))


def failed(result, severity: str = "critical") -> set[str]:
    return {o.name for o in result.results if o.severity == severity and not o.success}


def outcome(result, name: str):
    return next(o for o in result.results if o.name == name)


def test_suite_is_code_with_a_severity_on_every_expectation():
    suite = build_suite()
    severities = {e.meta["rule"]: e.meta["severity"] for e in suite.expectations}
    assert {n for n, s in severities.items() if s == "critical"} == CRITICAL
    assert {"description_present", "licence_present"} <= {n for n, s in severities.items() if s == "warning"}
    assert all(str(getattr(e.severity, "value", e.severity)) == e.meta["severity"] for e in suite.expectations)
    assert set(SUITE_COLUMNS) <= set(FLAT_COLUMNS)


def test_good_run_passes_every_expectation():
    result = run_suite(frame(rows()), source_id="leeds", run_id="good")
    assert result.success
    assert all(o.success for o in result.results), [o.message for o in result.results if not o.success]
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
    result = run_suite(frame(rs), source_id="leeds", run_id="bad")
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
    result = run_suite(frame(rs), source_id="leeds", run_id="r")
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
        assert len(result.results) == len(build_suite().expectations)


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
