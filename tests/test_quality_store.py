"""inventory.quality on SQLite and on the real PostgreSQL server (skipped with a reason when absent)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from expectations.linkcheck import LinkResult
from expectations.mqa import score_dataset
from helpers import sqlite_inventory
from inventory.quality import (QualityStoreError, dataset_quality_rows, latest_dataset_quality, link_status,
                               quality_history, run_quality, save_dataset_quality, save_link_checks,
                               save_run_quality)
from test_mqa import rostock_nt

T0 = datetime(2026, 11, 1, 2, 0, tzinfo=timezone.utc)
DIMS = ("findability", "accessibility", "interoperability", "reusability", "contextuality")


@pytest.fixture(params=["sqlite", "postgresql"])
def inv(request, tmp_path):
    if request.param == "sqlite":
        inv = sqlite_inventory(tmp_path / "inventory.sqlite")
        yield inv
        inv.close()
    else:
        yield request.getfixturevalue("pg_inventory")


def _ids() -> tuple[str, str]:
    """A source id unique to the test, so tests sharing the session's PostgreSQL database never collide."""
    s = f"src-{uuid.uuid4().hex[:8]}"
    return s, f"{s}:run"


def _row(run_id: str, source: str, native: str, total: int, *, at=T0, band="Bad", stars=1, conforms=None,
         **extra) -> dict:
    return {"run_id": run_id, "source_id": source, "native_id": native, "measured_at": at, "mqa_total": total,
            "mqa_band": band, "stars": stars, "shacl_conforms": conforms,
            **{f"mqa_{d}": total // 5 for d in DIMS}, **extra}


def _start(inv, source: str, run_id: str, at: datetime) -> None:
    inv.start_run(source_id=source, run_id=run_id, mode="full", window_start=None, window_end=None, started_at=at)


def test_save_is_idempotent_per_run_and_dataset(inv):
    source, run = _ids()
    rows = [_row(run, source, f"d{i}", 100 + i) for i in range(2500)]  # three batches
    assert save_dataset_quality(inv, rows) == 2500
    again = [_row(run, source, f"d{i}", 200) for i in range(3)]
    assert save_dataset_quality(inv, again) == 3
    stored = dataset_quality_rows(inv, run)
    assert len(stored) == 2500
    by_id = {r["native_id"]: r for r in stored}
    assert by_id["d0"]["mqa_total"] == 200 and by_id["d3"]["mqa_total"] == 103
    assert by_id["d0"]["measured_at"] == T0


def test_score_columns_round_trip(inv):
    source, run = _ids()
    s = score_dataset(rostock_nt())
    save_dataset_quality(inv, [{"run_id": run, "source_id": source, "native_id": "hro", "measured_at": T0,
                                "stars": 3, **s.columns()}])
    (row,) = dataset_quality_rows(inv, run)
    assert row["mqa_total"] == s.total and row["mqa_band"] == "Good"
    assert row["mqa_indicators"] == s.indicators  # None ("not checked") survives JSON on both backends
    assert row["mqa_indicators"]["AccessURL accessibility"] is None


def test_bad_rows_name_the_row_and_field(inv):
    source, run = _ids()
    with pytest.raises(QualityStoreError, match=r"d1.*measured_at must be a timezone-aware"):
        save_dataset_quality(inv, [_row(run, source, "d1", 1, at=datetime(2026, 1, 1))])
    with pytest.raises(QualityStoreError, match="unknown column.*mqa_score"):
        save_dataset_quality(inv, [_row(run, source, "d1", 1, mqa_score=3)])
    assert dataset_quality_rows(inv, run) == []


def test_latest_per_dataset(inv):
    source, _ = _ids()
    r1, r2 = f"{source}:r1", f"{source}:r2"
    save_dataset_quality(inv, [_row(r1, source, "a", 100), _row(r1, source, "b", 110)])
    save_dataset_quality(inv, [_row(r2, source, "a", 300, at=T0 + timedelta(days=1))])
    latest = list(latest_dataset_quality(inv, source_id=source))
    assert [(r["native_id"], r["run_id"], r["mqa_total"]) for r in latest] == [("a", r2, 300), ("b", r1, 110)]


def test_history_one_row_per_run(inv):
    source, _ = _ids()
    other, _ = _ids()
    r1, r2, r3 = f"{source}:r1", f"{source}:r2", f"{other}:r1"
    _start(inv, source, r1, T0)
    _start(inv, source, r2, T0 + timedelta(days=1))
    _start(inv, other, r3, T0 + timedelta(hours=1))
    save_dataset_quality(inv, [_row(r1, source, "a", 100, band="Bad", stars=0, conforms=True),
                               _row(r1, source, "b", 250, band="Good", stars=3, conforms=False),
                               _row(r1, source, "c", 130, band="Sufficient", stars=None, conforms=None)])
    save_dataset_quality(inv, [_row(r2, source, "a", 360, band="Excellent", stars=5, conforms=True)])
    save_dataset_quality(inv, [_row(r3, other, "x", 50)])
    hist = quality_history(inv, source_ids=[source])
    assert [h["run_id"] for h in hist] == [r1, r2]
    h1 = hist[0]
    assert h1["datasets"] == 3 and h1["mean_total"] == round((100 + 250 + 130) / 3, 2)
    assert h1["mean_findability"] == round((20 + 50 + 26) / 3, 2)
    assert (h1["band_bad"], h1["band_good"], h1["band_sufficient"], h1["band_excellent"]) == (1, 1, 1, 0)
    assert (h1["shacl_validated"], h1["shacl_conforming"], h1["shacl_conforming_share"]) == (2, 1, 0.5)
    assert (h1["stars_0"], h1["stars_3"], h1["stars_unknown"]) == (1, 1, 1)
    assert h1["started_at"] == T0 and h1["status"] == "running"
    both = quality_history(inv, source_ids=[source, other])
    assert [h["run_id"] for h in both] == [r1, r3, r2]  # by run start
    assert quality_history(inv, source_ids=[]) == []


def test_link_checks_last_check_wins(inv):
    u1, u2 = f"https://{uuid.uuid4().hex}.example/a.csv", f"https://{uuid.uuid4().hex}.example/b.csv"
    save_link_checks(inv, [LinkResult(u1, True, 200, "HEAD", 0.1, None, T0),
                           {"url": u2, "ok": False, "status": 404, "method": "HEAD", "seconds": 0.2,
                            "error": None, "checked_at": T0}])
    assert link_status(inv, [u1, u2, "https://never.example/"]) == {u1: True, u2: False,
                                                                     "https://never.example/": None}
    later = T0 + timedelta(days=3)
    save_link_checks(inv, [LinkResult(u1, False, None, "GET", 10.0, "timed out after 10 s", later)])
    assert link_status(inv, [u1]) == {u1: False}
    assert link_status(inv, [u2], since=T0 + timedelta(days=1)) == {u2: None}  # too old to count


def test_run_quality_json(inv):
    source, run = _ids()
    _start(inv, source, run, T0)
    save_run_quality(inv, run, {"mqa": {"mean_total": 201.5}, "stars": {"3": 4}})
    assert run_quality(inv, run) == {"mqa": {"mean_total": 201.5}, "stars": {"3": 4}}
    with pytest.raises(QualityStoreError, match="no harvest run"):
        save_run_quality(inv, f"{run}-missing", {})


def test_first_measured_is_when_the_current_results_began(inv):
    source, _ = _ids()
    day = timedelta(days=1)
    save_dataset_quality(inv, [_row(f"{source}:r1", source, "x", 100), _row(f"{source}:r1", source, "y", 50,
                                                                         stars=None)])
    save_dataset_quality(inv, [_row(f"{source}:r2", source, "x", 100, at=T0 + day),
                               _row(f"{source}:r2", source, "y", 50, stars=None, at=T0 + day)])
    save_dataset_quality(inv, [_row(f"{source}:r3", source, "x", 120, at=T0 + 2 * day)])
    save_dataset_quality(inv, [_row(f"{source}:r4", source, "x", 120, at=T0 + 3 * day)])
    got = {r["native_id"]: r for r in latest_dataset_quality(inv, source_id=source, first_measured=True)}
    assert (got["x"]["mqa_total"], got["x"]["measured_at"], got["x"]["first_measured_at"]) == (
        120, T0 + 3 * day, T0 + 2 * day)
    # stars not measured (NULL) on both runs still counts as the same result
    assert (got["y"]["measured_at"], got["y"]["first_measured_at"]) == (T0 + day, T0)
    assert "first_measured_at" not in next(latest_dataset_quality(inv, source_id=source))
    # back to the old score: the current streak starts at the change back, not at the first 100
    save_dataset_quality(inv, [_row(f"{source}:r5", source, "x", 100, at=T0 + 4 * day)])
    got = {r["native_id"]: r for r in latest_dataset_quality(inv, source_id=source, first_measured=True)}
    assert got["x"]["first_measured_at"] == T0 + 4 * day
