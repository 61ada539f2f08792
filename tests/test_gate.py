"""The load gate, fed by real suite results: every critical expectation, row- or run-level, blocks."""

from __future__ import annotations

import pandas as pd
import pytest

from expectations.gate import decide
from expectations.row_checks import Limits
from expectations.suites import RunFacts, run_suite
from transforms.row import FLAT_COLUMNS, empty_row


def _frame(n: int, overrides: dict | None = None) -> pd.DataFrame:
    rows = []
    for i in range(n):
        row = empty_row()
        row.update(uri=f"https://example.org/d/{i}", native_id=f"n{i}", identifier=f"n{i}", title=f"T{i}",
                   description="d", licence_uri="http://publications.europa.eu/resource/authority/licence/CC0_1_0")
        rows.append(row)
    for (i, col), value in (overrides or {}).items():
        rows[i][col] = value
    return pd.DataFrame(rows, columns=list(FLAT_COLUMNS))


def _run(n: int, facts: RunFacts | None = None, limits: Limits | None = None, run_id: str = "r"):
    return run_suite(_frame(n), source_id="leeds", run_id=run_id, run=facts, limits=limits)


@pytest.fixture(scope="module")
def good():
    return _run(5, RunFacts(seen=5, failed_to_map=0, rows=5, previous_rows=5), run_id="good")


@pytest.fixture(scope="module")
def bad():
    return run_suite(_frame(5, {(3, "uri"): "https://example.org/d/1", (4, "title"): ""}),
                     source_id="leeds", run_id="bad")


@pytest.fixture(scope="module")
def warned():
    return run_suite(_frame(5, {(0, "description"): None, (1, "licence_uri"): None}),
                     source_id="leeds", run_id="warn")


def test_clean_run_passes(good):
    verdict = decide(good)
    assert verdict.passed and verdict.reasons == [] and verdict.failed == []


def test_critical_failures_block_with_sentences_naming_each_expectation(bad):
    verdict = decide(bad)
    assert not verdict.passed
    assert verdict.failed == ["uri_unique", "title_not_empty"]
    uri, title = verdict.reasons
    assert uri.startswith("Critical expectation uri_unique failed in run bad of source leeds: 2 rows share")
    assert "title_not_empty" in title and "1 row has an empty title" in title
    assert all(r.endswith(".") for r in verdict.reasons)
    assert "uri_unique" in str(verdict)


def test_warnings_never_block(warned):
    assert not all(o.success for o in warned.results)
    assert decide(warned).passed


# --------------------------------------------------------------------------- run-level critical expectations


@pytest.mark.parametrize("failed_to_map, limit, passed", [
    (10, 0.1, True),   # exactly at the limit is allowed
    (11, 0.1, False),
    (11, 0.2, True),
    (0, 0.0, True),
    (1, 0.0, False),
])
def test_failed_to_map_share(failed_to_map, limit, passed):
    suite = _run(5, RunFacts(seen=100, failed_to_map=failed_to_map, rows=5), Limits(max_failed_share=limit))
    verdict = decide(suite)
    assert verdict.passed is passed
    if not passed:
        assert verdict.failed == ["failed_to_map_share"]
        assert verdict.reasons == [
            f"Critical expectation failed_to_map_share failed in run r of source leeds: {failed_to_map} of 100 "
            f"records ({failed_to_map / 100:.1%}) failed to map, more than the allowed {limit:.1%}."]


@pytest.mark.parametrize("rows, previous, passed", [
    (0, 5, False),     # the portal suddenly lists nothing after a good run
    (5, 5, True),
    (0, None, True),   # nothing to compare with (first run, or not a full listing)
    (0, 0, True),      # the last good run was empty too
])
def test_run_not_empty_when_the_last_good_run_was_not(rows, previous, passed):
    verdict = decide(_run(rows, RunFacts(seen=rows, failed_to_map=0, rows=rows, previous_rows=previous)))
    assert verdict.passed is passed
    if not passed:
        assert "run_not_empty" in verdict.failed
        assert "the run has no records although the last good run had 5" in verdict.reasons[0]


@pytest.mark.parametrize("rows, previous, limit, passed", [
    (2, 10, 0.8, True),    # exactly the allowed 80 % fewer
    (1, 10, 0.8, False),
    (1, 10, 0.95, True),
    (4, 10, 0.5, False),
    (12, 10, 0.0, True),   # growth is never a drop
])
def test_record_count_drop_since_the_last_good_run(rows, previous, limit, passed):
    suite = _run(rows, RunFacts(seen=rows, failed_to_map=0, rows=rows, previous_rows=previous),
                 Limits(max_count_drop=limit))
    verdict = decide(suite)
    assert verdict.passed is passed
    if not passed:
        assert verdict.failed == ["record_count_drop"]
        assert (f"the run has {rows} records, {1 - rows / previous:.1%} fewer than the {previous} of the last good "
                f"run, more than the allowed {limit:.1%}") in verdict.reasons[0]


def test_map_failures_and_critical_failures_are_both_reported():
    suite = run_suite(_frame(5, {(3, "uri"): "https://example.org/d/1", (4, "title"): ""}), source_id="leeds",
                      run_id="bad", run=RunFacts(seen=10, failed_to_map=5, rows=5))
    verdict = decide(suite)
    assert len(verdict.reasons) == 3 and "5 of 10 records" in verdict.reasons[-1]


def test_empty_run_passes_the_gate():
    empty = run_suite(pd.DataFrame(columns=list(FLAT_COLUMNS)), source_id="leeds", run_id="empty",
                      run=RunFacts(seen=0, failed_to_map=0, rows=0))
    assert decide(empty).passed


def test_everything_failed_to_map_is_blocked():
    empty = run_suite(pd.DataFrame(columns=list(FLAT_COLUMNS)), source_id="leeds", run_id="empty",
                      run=RunFacts(seen=3, failed_to_map=3, rows=0))
    verdict = decide(empty)
    assert not verdict.passed and "3 of 3 records (100.0%)" in verdict.reasons[0]


@pytest.mark.parametrize("seen, failed, rows", [(5, 6, 0), (-1, 0, 0), (5, 0, -1)])
def test_inconsistent_counts_raise(seen, failed, rows):
    with pytest.raises(ValueError, match="inconsistent counts"):
        RunFacts(seen=seen, failed_to_map=failed, rows=rows)


@pytest.mark.parametrize("kwargs", [{"max_failed_share": 1.5}, {"max_count_drop": -0.1}, {"frequency_slack": 0.5}])
def test_out_of_range_limits_raise(kwargs):
    with pytest.raises(ValueError):
        Limits(**kwargs)
