"""The distributed path without Docker: Airflow 3 on the CeleryExecutor, PostgreSQL and Redis.

Scheduler, dag-processor, api-server and Celery workers run as separate processes (each in a
process group of its own) against a throw-away Airflow metadata database and a separate
inventory database on the local PostgreSQL server, and a Redis database number claimed for
this run. Harvest DAGs are triggered through the REST API against CKAN-shaped portals on
127.0.0.1, as an operator or the UI would. Everything started is stopped and dropped at the end;
the teardown checks with ``ps`` that no process is left.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime

import pytest

from celery_stack import ROOT, Stack, celery_stack

RECORDED = ROOT / "examples" / "ckan"
YEARLY = "0 0 1 1 *"
SLOW = 1.0  # seconds per portal request while a test needs harvests that last long enough to overlap

pytestmark = [pytest.mark.airflow, pytest.mark.postgres]


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def portals():
    from citycat.localportal import DirectoryStore, LocalPortal

    store = DirectoryStore.from_directory(RECORDED)
    with LocalPortal(store) as one, LocalPortal(store) as two, LocalPortal(store) as three, \
            LocalPortal(store) as four:
        yield one, two, three, four


@pytest.fixture(scope="module")
def stack(tmp_path_factory, portals):
    one, two, three, four = portals
    # a, b and d share a host (127.0.0.1), so they share one pool of one slot; c and e are on another
    # host name (localhost), so the backfills of d and e can run side by side.
    # A yearly schedule whose first interval has not ended yet: no automatic run gets in the way.
    # d and e are daily (backfills need intervals); each has a portal of its own, so its requests can be
    # counted.
    sources = "catalog:\n  base_uri: http://localhost:8000\n  title: stack test\nsources:\n" + "".join(
        f"  - id: {sid}\n    title: {sid}\n    kind: ckan\n    url: {url}\n    schedule: '{cron}'\n"
        f"    institution: {{name: Test Council, kind: council}}\n    requests_per_second: 50\n    rows: 2\n"
        f"    quality: {{data_docs: false, shacl: false}}\n"  # the executor is under test here, not GX
        for sid, url, cron in (("a", one.url, YEARLY), ("b", one.url, YEARLY),
                               ("c", two.url.replace("127.0.0.1", "localhost"), YEARLY),
                               ("d", three.url, "0 2 * * *"),
                               ("e", four.url.replace("127.0.0.1", "localhost"), "0 2 * * *")))
    with celery_stack(tmp_path_factory.mktemp("celery_stack"), sources,
                      dag_ids=[f"harvest__{x}" for x in "abcde"],
                      unpause=["harvest__a", "harvest__b", "harvest__c"]) as running:  # d, e: in the backfill test
        running.portals = portals
        yield running


def _count(url: str, source_id: str) -> int:
    from inventory import Inventory

    inv = Inventory(url)
    try:
        return inv.count_datasets(status="active", source_id=source_id)
    finally:
        inv.close()


def test_celery_worker_runs_a_harvest_triggered_through_the_rest_api(stack):
    run_id = stack.trigger("harvest__a", {"mode": "full"})
    stack.wait_success("harvest__a", run_id)
    tis = stack.task_instances("harvest__a", run_id)
    assert {k: v["state"] for k, v in tis.items()} == dict.fromkeys(["harvest", "normalise", "validate", "load"],
                                                                    "success")
    assert tis["harvest"]["pool"] == "citycat_host__127.0.0.1"
    assert tis["harvest"]["executor"] in (None, "CeleryExecutor") or "Celery" in str(tis["harvest"]["executor"])
    assert _count(stack.inventory_url, "a") == 3  # the recorded portal's datasets, in PostgreSQL
    # the run report is the run's note in the UI (written by the load task's callback)
    note = stack.run("harvest__a", run_id)["note"]
    assert note and note.startswith("**a: harvest succeeded") and "created 3" in note, note
    assert "mode: full" in note


def _overlap(x: dict, y: dict) -> bool:
    return _when(x["start_date"]) < _when(y["end_date"]) and _when(y["start_date"]) < _when(x["end_date"])


def test_two_workers_two_hosts_at_once_one_host_one_at_a_time_and_a_second_trigger_waits(stack):
    """Four runs at once on two Celery workers: a, b (twice) on 127.0.0.1, c on another host name."""
    stack.start("worker2", "celery", "worker", "--skip-serve-logs", "--celery-hostname",
                f"w2-{uuid.uuid4().hex[:6]}@%h", "--concurrency", "1", "--without-mingle", "--without-gossip")
    stack.wait("the second Celery worker", lambda: " ready." in (stack.home / "worker2.log").read_text(
        errors="replace"), 90)
    one, two = stack.portals[:2]
    for portal in (one, two):
        portal.inject("slow", times=-1, seconds=SLOW)  # harvests long enough to overlap if allowed to
    try:
        b1 = stack.trigger("harvest__b", {"mode": "full"})
        b2 = stack.trigger("harvest__b", {"mode": "full"})
        a = stack.trigger("harvest__a", {"mode": "full"})
        c = stack.trigger("harvest__c", {"mode": "full"})
        started = stack.wait("one run of b to start", lambda: [r for r in (b1, b2)
                                                               if stack.run("harvest__b", r)["state"] == "running"], 120)
        if started == [b2]:  # Airflow starts the earlier trigger first; should it not, the roles swap
            b1, b2 = b2, b1
        seen = []
        while True:  # b2's state is kept only if b1 was still running after it was read
            second = stack.run("harvest__b", b2)["state"]
            if stack.run("harvest__b", b1)["state"] != "running":
                break
            seen.append(second)
            time.sleep(0.3)
        runs = {("harvest__b", b1): None, ("harvest__b", b2): None, ("harvest__a", a): None, ("harvest__c", c): None}
        for dag_id, run_id in runs:
            runs[(dag_id, run_id)] = stack.wait_success(dag_id, run_id)
    finally:
        for portal in (one, two):
            portal.clear_faults()
    # the same DAG triggered twice: the second run waits, queued, for the first (max_active_runs=1)
    assert seen and set(seen) == {"queued"}, seen
    assert _when(runs[("harvest__b", b2)]["start_date"]) >= _when(runs[("harvest__b", b1)]["end_date"])
    harvests = {run_id: stack.task_instances(dag_id, run_id)["harvest"] for dag_id, run_id in runs}
    assert harvests[c]["pool"] == "citycat_host__localhost"
    same_host = [harvests[r] for r in (a, b1, b2)]
    assert {h["pool"] for h in same_host} == {"citycat_host__127.0.0.1"}
    # one host, a pool of one slot: never two harvests at once, although a worker was free
    for i, x in enumerate(same_host):
        for y in same_host[i + 1:]:
            assert not _overlap(x, y), (x["dag_id"], x["start_date"], x["end_date"], y["dag_id"], y["start_date"])
    # two hosts, two workers: c harvested while one of the 127.0.0.1 harvests was running
    assert any(_overlap(harvests[c], h) for h in same_host), \
        (harvests[c]["start_date"], harvests[c]["end_date"], [(h["start_date"], h["end_date"]) for h in same_host])
    assert _count(stack.inventory_url, "c") == 3


# --------------------------------------------------------------------------- backfills


def _backfill(stack: Stack, dag_id: str, start: str, end: str, conf: dict) -> tuple[str, str]:
    """Create a backfill through the REST API, as the UI's *Backfill* dialog does."""
    r = stack.session.post(f"{stack.api}/api/v2/backfills", timeout=10, json={
        "dag_id": dag_id, "from_date": start, "to_date": end, "dag_run_conf": conf, "max_active_runs": 1})
    if not r.ok:
        stack.fail(f"creating the backfill of {dag_id} answered {r.status_code}: {r.text[:500]}")
    return start, end


def _backfill_runs(stack: Stack, dag_id: str, span: tuple[str, str], expected: int) -> list[dict]:
    """The backfill's runs once all ``expected`` have finished (the scheduler marks the backfill itself
    complete only every 30 s, so the runs are watched instead), oldest interval first."""
    lo, hi = (_when(x) for x in span)

    def finished():
        runs = [run for run in stack.get(f"/dags/{dag_id}/dagRuns?limit=100")["dag_runs"]
                if run["run_type"] == "backfill" and lo <= _when(run["logical_date"]) <= hi]
        return runs if len(runs) == expected and all(r["state"] in ("success", "failed") for r in runs) else None

    runs = stack.wait(f"{expected} backfill run(s) of {dag_id} to finish", finished, 240)
    for run in runs:
        if run["state"] != "success":
            stack.fail(f"backfill run {run['dag_run_id']} ended {run['state']}\n"
                       f"{stack.task_errors(dag_id, run['dag_run_id'])}")
    return sorted(runs, key=lambda run: run["data_interval_start"])


def test_backfill_runs_one_harvest_per_interval_and_full_and_replay_modes_mean_what_they_say(stack):
    from inventory import Inventory

    from citycat.pipeline import run_key

    portal_d, portal_e = stack.portals[2:]
    before_d, before_e = len(portal_d.requests), len(portal_e.requests)
    # Unpausing also makes the scheduler start each DAG's latest interval (catchup=False); that run is
    # incremental, so it always asks with metadata_modified and cannot be mistaken for the full run.
    for dag_id in ("harvest__d", "harvest__e"):
        stack.unpause(dag_id)
    # both at once: a 3-day incremental backfill of d, a 1-day full backfill of e
    span_d = _backfill(stack, "harvest__d", "2026-11-01T00:00:00Z", "2026-11-03T23:59:59Z", {})
    span_e = _backfill(stack, "harvest__e", "2026-11-10T00:00:00Z", "2026-11-10T23:59:59Z", {"mode": "full"})
    runs = _backfill_runs(stack, "harvest__d", span_d, 3)
    (full,) = _backfill_runs(stack, "harvest__e", span_e, 1)
    inv = Inventory(stack.inventory_url)
    try:
        # one run per data interval: three consecutive 24-hour intervals
        intervals = [(run["data_interval_start"], run["data_interval_end"]) for run in runs]
        assert [(_when(a).isoformat(), _when(b).isoformat()) for a, b in intervals] == [
            (f"2026-11-0{d}T02:00:00+00:00", f"2026-11-0{d + 1}T02:00:00+00:00") for d in (1, 2, 3)]
        records = [inv.get_run(run_key("d", run["dag_run_id"])) for run in runs]
        # each harvest was given its own interval as its window...
        assert [(r.mode, r.status) for r in records] == [("incremental", "success")] * 3
        assert [(r.window_start.isoformat()[:19], r.window_end.isoformat()[:19]) for r in records] == \
            [(_when(a).isoformat()[:19], _when(b).isoformat()[:19]) for a, b in intervals]
        # ...and asked the portal for exactly that interval
        asked = [str(req["params"].get("fq", "")) for req in list(portal_d.requests)[before_d:]]
        for a, b in intervals:
            lo, hi = (_when(x).strftime("%Y-%m-%dT%H:%M:%SZ") for x in (a, b))
            assert any("metadata_modified" in fq and lo in fq and hi in fq for fq in asked), (lo, hi, asked)

        # mode=full: the interval is ignored, the portal is asked for everything
        record = inv.get_run(run_key("e", full["dag_run_id"]))
        assert full["data_interval_start"] is not None
        assert (record.mode, record.window_start, record.status) == ("full", None, "success")
        searches = [req for req in list(portal_e.requests)[before_e:] if req["action"] == "package_search"]
        assert any("metadata_modified" not in str(req["params"].get("fq", "")) for req in searches), searches

        # mode=replay: re-process the full run's raw archive (3 records) without a single request
        stack.wait("every run of harvest__e to finish", lambda: all(
            r["state"] in ("success", "failed") for r in stack.get("/dags/harvest__e/dagRuns")["dag_runs"]), 180)
        before_e = len(portal_e.requests)
        replay = stack.trigger("harvest__e", {"mode": "replay", "replay_run": full["dag_run_id"]})
        stack.wait_success("harvest__e", replay)
        record = inv.get_run(run_key("e", replay))
        assert (record.mode, record.status) == ("replay", "success")
        assert sum(record.counts.get(k, 0) for k in ("created", "updated", "unchanged")) == 3, record.counts
        assert len(portal_e.requests) == before_e, list(portal_e.requests)[before_e:]
    finally:
        inv.close()
