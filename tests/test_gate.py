"""The load gate, fed by real suite results (GX runs in well under a second per run)."""

from __future__ import annotations

import pandas as pd
import pytest

from expectations.gate import decide
from expectations.suites import run_suite
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


@pytest.fixture(scope="module")
def good():
    return run_suite(_frame(5), source_id="leeds", run_id="good")


@pytest.fixture(scope="module")
def bad():
    return run_suite(_frame(5, {(3, "uri"): "https://example.org/d/1", (4, "title"): ""}),
                     source_id="leeds", run_id="bad")


@pytest.fixture(scope="module")
def warned():
    return run_suite(_frame(5, {(0, "description"): None, (1, "licence_uri"): None}),
                     source_id="leeds", run_id="warn")


def test_clean_run_passes(good):
    verdict = decide(good, seen=5, failed_to_map=0)
    assert verdict.passed and verdict.reasons == []


def test_critical_failures_block_with_sentences_naming_each_expectation(bad):
    verdict = decide(bad, seen=5, failed_to_map=0)
    assert not verdict.passed
    assert len(verdict.reasons) == 2
    uri, title = verdict.reasons
    assert uri.startswith("Critical expectation uri_unique failed in run bad of source leeds: 2 rows share")
    assert "title_not_empty" in title and "1 row has an empty title" in title
    assert all(r.endswith(".") for r in verdict.reasons)
    assert "uri_unique" in str(verdict)


def test_warnings_never_block(warned):
    assert not all(o.success for o in warned.results)
    assert decide(warned, seen=5, failed_to_map=0).passed


@pytest.mark.parametrize("failed_to_map, limit, passed", [
    (10, 0.1, True),   # exactly at the limit is allowed
    (11, 0.1, False),
    (11, 0.2, True),
    (0, 0.0, True),
    (1, 0.0, False),
])
def test_max_failed_share(good, failed_to_map, limit, passed):
    verdict = decide(good, seen=100, failed_to_map=failed_to_map, max_failed_share=limit)
    assert verdict.passed is passed
    if not passed:
        assert verdict.reasons == [
            f"{failed_to_map} of 100 records ({failed_to_map / 100:.1%}) failed to map in run good of source "
            f"leeds, more than the allowed {limit:.1%}."]


def test_map_failures_and_critical_failures_are_both_reported(bad):
    verdict = decide(bad, seen=10, failed_to_map=5)
    assert len(verdict.reasons) == 3 and "5 of 10 records" in verdict.reasons[-1]


def test_empty_run_passes_the_gate():
    empty = run_suite(pd.DataFrame(columns=list(FLAT_COLUMNS)), source_id="leeds", run_id="empty")
    assert decide(empty, seen=0, failed_to_map=0).passed


def test_everything_failed_to_map_is_blocked():
    empty = run_suite(pd.DataFrame(columns=list(FLAT_COLUMNS)), source_id="leeds", run_id="empty")
    verdict = decide(empty, seen=3, failed_to_map=3)
    assert not verdict.passed and "3 of 3 records (100.0%)" in verdict.reasons[0]


@pytest.mark.parametrize("seen, failed, limit", [(5, 6, 0.1), (-1, 0, 0.1), (5, 0, 1.5)])
def test_inconsistent_inputs_raise(good, seen, failed, limit):
    with pytest.raises(ValueError):
        decide(good, seen=seen, failed_to_map=failed, max_failed_share=limit)
