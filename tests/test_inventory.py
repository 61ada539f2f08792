"""The inventory's loading rules, on SQLite and on the real PostgreSQL server.

Every test runs on both backends (``inv`` is parametrised); the PostgreSQL half gets one
fresh database per test session and is skipped, with the reason, where no server listens
on 127.0.0.1:5432. Records are normalised-file lines shaped as docs/architecture.md says,
with DCAT N-Triples whose SHA-256 is the content hash, as transforms produce them.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from rdflib import Literal, URIRef
from rdflib import namespace as ns

from helpers import INVENTORY_BACKENDS, both_backends_inventory
from inventory import Inventory, LoadResult, RunConflictError, UnknownRunError
from inventory.models import metadata

T0 = datetime(2025, 3, 1, 2, 0, tzinfo=timezone.utc)
T1 = T0 + timedelta(days=1)
T2 = T0 + timedelta(days=2)
SRC = "leeds"


def record(nid: str, title: str = "Bus stops", *, source: str = SRC) -> dict:
    """A normalised line: canonical (sorted) N-Triples, hash of them, flat row."""
    uri = f"https://data.example.org/dataset/{source}/{nid}"
    s = f"<{uri}>"
    lines = sorted({
        f"{s} <{ns.RDF.type}> <{ns.DCAT.Dataset}> .",
        f"{s} <{ns.DCTERMS.title}> {Literal(title).n3()} .",
        f"{s} <{ns.DCTERMS.identifier}> {Literal(nid).n3()} .",
        f"{s} <{ns.DCAT.landingPage}> {URIRef('https://portal.example.org/dataset/' + nid).n3()} .",
    })
    nt = "\n".join(lines) + "\n"
    return {"native_id": nid, "uri": uri, "deleted": False, "hash": hashlib.sha256(nt.encode()).hexdigest(),
            "nt": nt, "row": {"uri": uri, "native_id": nid, "source_id": source, "title": title, "formats": ["CSV"]},
            "source_modified": "2025-02-27T10:11:12.123456", "warnings": []}


def tombstone(nid: str) -> dict:
    return {"native_id": nid, "uri": None, "deleted": True, "hash": None, "nt": None, "row": None,
            "source_modified": None, "warnings": []}


def load(inv: Inventory, records, *, mode: str = "incremental", run_id: str = "r1", complete: bool = False,
         at: datetime = T0, source: str = SRC, max_drop: float = 0.5) -> LoadResult:
    return inv.load(source_id=source, run_id=run_id, records=records, mode=mode, complete_listing=complete,
                    loaded_at=at, max_drop=max_drop)


def changes(r: LoadResult) -> dict:
    return {k: getattr(r, k) for k in ("created", "updated", "unchanged", "withdrawn", "reactivated", "quarantined")}


def snapshot(inv: Inventory) -> dict:
    """Every row of every table, to prove that a failed load changed nothing."""
    out = {}
    with inv.engine.connect() as conn:
        for table in metadata.sorted_tables:
            out[table.name] = sorted(map(repr, conn.execute(sa.select(table)).all()))
    return out


# --------------------------------------------------------------------------- backends


@pytest.fixture(params=INVENTORY_BACKENDS)
def inv(request, tmp_path):
    yield from both_backends_inventory(request, tmp_path / "db" / "inventory.sqlite")


# --------------------------------------------------------------------------- upsert


def test_first_load_creates_then_same_run_again_changes_nothing(inv):
    recs = [record(f"ds-{i}") for i in range(30)]
    first = load(inv, recs)
    assert (first.seen, first.created, first.unchanged) == (30, 30, 0)
    assert inv.active_count(SRC) == 30

    writes: list[str] = []

    def spy(_conn, _cursor, statement, *_rest) -> None:
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            writes.append(statement)

    sa.event.listen(inv.engine, "before_cursor_execute", spy)
    try:
        again = load(inv, recs)
    finally:
        sa.event.remove(inv.engine, "before_cursor_execute", spy)
    assert changes(again) == {"created": 0, "updated": 0, "unchanged": 30, "withdrawn": 0, "reactivated": 0,
                              "quarantined": 0}
    assert again.changes == 0
    assert again.counts() == {**changes(again), "seen": 30, "tombstones": 0, "duplicates": 0, "rejected": 0}
    assert not [w for w in writes if "datasets" in w or "dataset_versions" in w], writes
    assert [v.version for v in inv.versions(SRC, "ds-7")] == [1]


def test_changed_record_is_updated_and_previous_version_kept(inv):
    load(inv, [record("a", "Bus stops"), record("b")], run_id="r1", at=T0)
    new = record("a", "Bus stops 2025")
    r = load(inv, [new, record("b")], run_id="r2", at=T1)
    assert (r.updated, r.unchanged, r.created) == (1, 1, 0)
    ds = inv.get_dataset(SRC, "a")
    assert (ds.version, ds.content_hash, ds.row["title"], ds.last_run_id) == (2, new["hash"], "Bus stops 2025", "r2")
    assert (ds.first_seen, ds.last_changed) == (T0, T1)
    versions = inv.versions(SRC, "a")
    assert [(v.version, v.run_id, v.valid_from) for v in versions] == [(1, "r1", T0), (2, "r2", T1)]
    assert versions[0].content_hash == record("a", "Bus stops")["hash"] and '"Bus stops"' in versions[0].nt
    assert versions[1].nt == new["nt"]


def test_exception_raised_while_iterating_records_leaves_inventory_unchanged(inv):
    inv.start_run(source_id=SRC, run_id="r1", mode="full", window_start=None, window_end=None, started_at=T0)
    load(inv, [record(f"ds-{i}") for i in range(50)], mode="full", complete=True)
    inv.finish_run("r1", status="success", finished_at=T0, counts={"seen": 50})
    before = snapshot(inv)

    def crashing():  # more than one batch is flushed before the crash
        for i in range(2500):
            yield record(f"ds-{i}", "changed title") if i < 50 else record(f"new-{i}")
        raise ConnectionError("source connection reset mid-run")

    with pytest.raises(ConnectionError):
        load(inv, crashing(), run_id="r2", mode="full", complete=True, at=T1)
    assert snapshot(inv) == before


def test_database_error_mid_load_leaves_inventory_unchanged(inv):
    load(inv, [record(f"ds-{i}") for i in range(20)])
    before = snapshot(inv)
    bad = record("unserialisable")
    bad["row"] = {"title": object()}  # passes the record check, fails when the batch is written
    with pytest.raises(Exception):
        load(inv, [record(f"new-{i}") for i in range(1500)] + [bad], run_id="r2", at=T1)
    assert snapshot(inv) == before


def test_bad_and_duplicate_records_are_reported_and_the_rest_loads(inv):
    no_hash = record("no-hash")
    no_hash["hash"] = None
    bad_date = record("bad-date")
    bad_date["source_modified"] = "last Tuesday"
    r = load(inv, [record("ok"), no_hash, {"uri": "x"}, record("ok", "other title"), bad_date])
    assert (r.created, r.rejected, r.duplicates) == (1, 3, 1)
    by_id = {(e["native_id"], e["field"]) for e in r.errors}
    assert {("no-hash", "hash"), (None, "native_id"), ("ok", "native_id"), ("bad-date", "source_modified")} == by_id
    assert inv.get_dataset(SRC, "ok").row["title"] == "Bus stops"  # first occurrence wins


# --------------------------------------------------------------------------- withdrawals


def test_tombstone_withdraws_active_dataset_in_incremental_mode(inv):
    load(inv, [record("a"), record("b")])
    r = load(inv, [tombstone("a"), tombstone("never-seen")], run_id="r2", at=T1)
    assert (r.withdrawn, r.tombstones, r.seen) == (1, 2, 2)
    a = inv.get_dataset(SRC, "a")
    assert (a.status, a.withdrawn_reason, a.withdrawn_at, a.last_changed) == ("withdrawn", "deleted at source", T1, T1)
    assert inv.get_dataset(SRC, "never-seen") is None
    assert inv.active_count(SRC) == 1


def test_full_harvest_withdraws_missing_datasets_without_deleting(inv):
    load(inv, [record(f"ds-{i}") for i in range(10)], mode="full", complete=True)
    load(inv, [record("other-source-ds", source="york")], source="york")
    r = load(inv, [record(f"ds-{i}") for i in range(7)], run_id="r2", mode="full", complete=True, at=T1)
    assert (r.withdrawn, r.unchanged, r.quarantined, r.quarantine_reason) == (3, 7, 0, None)
    gone = inv.get_dataset(SRC, "ds-9")
    assert (gone.status, gone.withdrawn_at, gone.withdrawn_reason) == ("withdrawn", T1, "missing from full harvest r2")
    assert gone.nt == record("ds-9")["nt"]  # withdrawn, never deleted
    assert inv.count_datasets(status=None, source_id=SRC) == 10
    assert inv.active_count("york") == 1  # another source's datasets are not "missing"


def test_incremental_mode_never_withdraws_missing(inv):
    load(inv, [record(f"ds-{i}") for i in range(10)], mode="full", complete=True)
    r = load(inv, [record("ds-1")], run_id="r2", mode="incremental", complete=True, at=T1)
    assert (r.withdrawn, r.quarantined) == (0, 0)
    assert inv.active_count(SRC) == 10


def test_full_mode_without_complete_listing_does_not_withdraw(inv):
    load(inv, [record(f"ds-{i}") for i in range(10)], mode="full", complete=True)
    r = load(inv, [record(f"ds-{i}") for i in range(8)], run_id="r2", mode="full", complete=False, at=T1)
    assert r.withdrawn == 0 and inv.active_count(SRC) == 10


def test_full_harvest_far_smaller_than_before_quarantines_withdrawals(inv):
    load(inv, [record(f"ds-{i}") for i in range(10)], mode="full", complete=True)
    r = load(inv, [record(f"ds-{i}") for i in range(4)], run_id="r2", mode="full", complete=True, at=T1)
    assert (r.withdrawn, r.quarantined) == (0, 6)
    assert "saw 4 records" in r.quarantine_reason and "10 active" in r.quarantine_reason
    assert inv.active_count(SRC) == 10
    assert inv.quarantined("r2") == [f"ds-{i}" for i in range(4, 10)]
    again = load(inv, [record(f"ds-{i}") for i in range(4)], run_id="r2", mode="full", complete=True, at=T1)
    assert again.quarantined == 6 and inv.quarantined("r2") == [f"ds-{i}" for i in range(4, 10)]
    # a looser limit lets the same run through
    loose = load(inv, [record(f"ds-{i}") for i in range(4)], run_id="r3", mode="full", complete=True, at=T2,
                 max_drop=0.7)
    assert (loose.withdrawn, loose.quarantined) == (6, 0)


def test_full_harvest_of_zero_records_quarantines_everything(inv):
    load(inv, [record(f"ds-{i}") for i in range(5)], mode="full", complete=True)
    r = load(inv, [], run_id="r2", mode="full", complete=True, at=T1, max_drop=1.0)
    assert (r.withdrawn, r.quarantined, r.seen) == (0, 5, 0)
    assert "saw 0 records" in r.quarantine_reason and "5 active" in r.quarantine_reason
    assert inv.active_count(SRC) == 5


def test_withdrawn_dataset_that_returns_is_reactivated(inv):
    load(inv, [record("a"), record("b")], mode="full", complete=True)
    load(inv, [tombstone("a"), tombstone("b")], run_id="r2", at=T1)
    r = load(inv, [record("a"), record("b", "new title")], run_id="r3", at=T2)
    assert (r.reactivated, r.updated, r.created) == (2, 0, 0)
    a, b = inv.get_dataset(SRC, "a"), inv.get_dataset(SRC, "b")
    assert (a.status, a.withdrawn_at, a.withdrawn_reason, a.version, a.last_changed) == ("active", None, None, 1, T2)
    assert (b.status, b.version) == ("active", 2)
    assert [v.version for v in inv.versions(SRC, "a")] == [1]
    assert [v.run_id for v in inv.versions(SRC, "b")] == ["r1", "r3"]


# --------------------------------------------------------------------------- reading


def test_iter_datasets_streams_in_byte_order_with_filters(inv):
    ids = ["b", "B", "a-1", "a_1", "Zeta", "é", "10", "9", "a"]
    load(inv, [record(i) for i in ids], source="york", at=T0)
    load(inv, [record(i) for i in ("m", "n")], source="leeds", at=T0)
    load(inv, [tombstone("n")], source="leeds", run_id="r2", at=T1)
    load(inv, [record("Zeta", "changed")], source="york", run_id="r2", at=T2)

    got = [(d.source_id, d.native_id) for d in inv.iter_datasets(status=None, batch=2)]
    expected = sorted([("york", i) for i in ids] + [("leeds", "m"), ("leeds", "n")])
    assert got == expected
    assert [d.native_id for d in inv.iter_datasets(source_id="york", batch=3)] == sorted(ids)
    assert [d.native_id for d in inv.iter_datasets(status="withdrawn")] == ["n"]
    assert [(d.source_id, d.native_id) for d in inv.iter_datasets(status=None, modified_since=T1)] == \
        [("leeds", "n"), ("york", "Zeta")]
    assert [d.native_id for d in inv.iter_datasets(modified_since=T1 + timedelta(seconds=1))] == ["Zeta"]
    assert inv.count_datasets(status=None) == 11
    assert inv.count_datasets() == 10
    assert inv.count_datasets(status=None, modified_since=T1) == 2
    assert inv.count_datasets(source_id="leeds", status="withdrawn") == 1
    # the feed reads graphs only: the same datasets, in the same order, without the rows
    full = list(inv.iter_datasets(status=None))
    lean = list(inv.iter_datasets(status=None, with_row=False))
    assert [(d.native_id, d.nt, d.content_hash) for d in lean] == [(d.native_id, d.nt, d.content_hash) for d in full]
    assert all(d.row is None for d in lean) and all(d.row for d in full)


def test_timestamps_round_trip_timezone_aware(inv):
    paris = timezone(timedelta(hours=2))
    at = datetime(2025, 6, 1, 3, 30, 15, 123456, tzinfo=paris)
    inv.start_run(source_id=SRC, run_id="r1", mode="incremental", window_start=at - timedelta(days=1),
                  window_end=at, started_at=at)
    load(inv, [record("a")], at=at)
    run, ds = inv.get_run("r1"), inv.get_dataset(SRC, "a")
    for value in (run.started_at, run.window_end, ds.first_seen, ds.last_changed):
        assert value == at and value.utcoffset() == timedelta(0)
    assert ds.source_modified == datetime(2025, 2, 27, 10, 11, 12, 123456, tzinfo=timezone.utc)
    assert [d.native_id for d in inv.iter_datasets(modified_since=datetime(2025, 6, 1, 1, 30, 15, 123456,
                                                                             tzinfo=timezone.utc))] == ["a"]
    with pytest.raises(ValueError, match="timezone-aware"):
        inv.start_run(source_id=SRC, run_id="r2", mode="full", window_start=None, window_end=None,
                      started_at=datetime(2025, 6, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        load(inv, [record("b")], at=datetime(2025, 6, 1))


def test_runs_are_recorded_reset_on_retry_and_summarised(inv):
    inv.start_run(source_id=SRC, run_id="r1", mode="full", window_start=None, window_end=None, started_at=T0)
    inv.finish_run("r1", status="success", finished_at=T0 + timedelta(minutes=5), counts={"seen": 3},
                   gate={"passed": True}, stats={"seconds": 1.5},
                   errors=[{"native_id": "x", "field": "issued", "reason": "bad date", "stage": "normalise"}])
    inv.start_run(source_id=SRC, run_id="r2", mode="incremental", window_start=T0, window_end=T1, started_at=T1)
    inv.add_errors("r2", [{"native_id": "y", "field": "title", "reason": "empty", "stage": "validate"}])
    inv.start_run(source_id=SRC, run_id="r2", mode="incremental", window_start=T0, window_end=T1, started_at=T1)
    assert inv.run_errors("r2") == []  # the retry starts clean
    inv.finish_run("r2", status="gate_failed", finished_at=T1 + timedelta(minutes=1), gate={"passed": False})
    load(inv, [record("a"), record("b")])

    last = inv.last_successful_run(SRC)
    assert (last.run_id, last.mode, last.counts, last.gate, last.stats) == ("r1", "full", {"seen": 3},
                                                                             {"passed": True}, {"seconds": 1.5})
    assert inv.run_errors("r1") == [{"native_id": "x", "field": "issued", "reason": "bad date", "stage": "normalise"}]
    r2 = inv.get_run("r2")
    assert (r2.status, r2.window_start, r2.window_end, r2.counts) == ("gate_failed", T0, T1, None)
    assert inv.get_run("nope") is None and inv.last_successful_run("york") is None
    with pytest.raises(UnknownRunError):
        inv.finish_run("nope", status="success", finished_at=T1)
    with pytest.raises(ValueError, match="status"):
        inv.finish_run("r1", status="done", finished_at=T1)
    with pytest.raises(RunConflictError):
        inv.start_run(source_id="york", run_id="r1", mode="full", window_start=None, window_end=None, started_at=T1)
    [summary] = inv.sources_summary()
    assert (summary["source_id"], summary["active"], summary["withdrawn"], summary["runs"]) == (SRC, 2, 0, 2)
    assert (summary["last_run_id"], summary["last_run_status"]) == ("r2", "gate_failed")
    assert summary["last_success_at"] == T0 + timedelta(minutes=5)


# --------------------------------------------------------------------------- schema


def test_migrate_twice_is_a_no_op(inv):
    load(inv, [record("a")])
    before = snapshot(inv)
    inv.migrate()
    inv.migrate()
    from alembic.script import ScriptDirectory

    from inventory.store import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head.startswith("000") and head != "0001_initial"  # the chain goes past the first migration
    assert inv.schema_revision() == head
    assert snapshot(inv) == before


def test_models_match_migrations(inv):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with inv.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []


def test_from_env_defaults_to_sqlite_under_data_dir(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("CITYCAT_DATABASE_URL", raising=False)
    inv = Inventory.from_env(tmp_path / "data")
    inv.migrate()
    assert (tmp_path / "data" / "inventory.sqlite").exists()
    inv.close()
    other = tmp_path / "elsewhere.sqlite"
    monkeypatch.setenv("CITYCAT_DATABASE_URL", f"sqlite:///{other}")
    inv = Inventory.from_env(tmp_path / "data")
    inv.migrate()
    assert other.exists() and inv.active_count(SRC) == 0
    inv.close()
