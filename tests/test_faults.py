"""Faults a production harvest must survive (issue 6): the source going down part-way, a source that
answers 503 for a while, and the inventory database restarted while a run loads.

Real parts only: citycat's local CKAN API on 127.0.0.1 for the source, the real harvest stage, and for
the database a PRIVATE PostgreSQL cluster started by a fixture (initdb + pg_ctl into a temporary
directory, its own port), so that restarting it cannot disturb the machine's shared server on 5432.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

import harvesters
from citycat import archive, pipeline
from citycat.checkpoint import path_for
from citycat.config import SourceConfig
from citycat.localportal import LocalPortal, _action
from citycat.localserver import Fault, Reply, Request
from citycat.synthetic import SyntheticSpec, SyntheticStore
from conftest_portal import fast_http, sleeps  # noqa: F401
from harvesters.base import RawRecord, RetriableError
from harvesters.http import HttpStatusError
from helpers import free_port

harvesters.load_builtin()
RUN_END = datetime(2026, 11, 28, 2, 0, tzinfo=timezone.utc)
ROWS, COUNT = 10, 100
RUN = "scheduled__2026-11-28"
PG_BIN = Path(os.environ.get("CITYCAT_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def ckan_source(url: str) -> SourceConfig:
    return SourceConfig(id="leeds", title="Leeds", kind="ckan", url=url,
                        institution={"name": "Leeds City Council", "kind": "council"},
                        options={"rows": ROWS, "requests_per_second": 100})


def harvest(url: str, data_dir: Path, http: Any, run_id: str = RUN) -> pipeline.HarvestOutcome:
    return pipeline.harvest(ckan_source(url), run_id, "full", window_start=None, window_end=RUN_END,
                            data_dir=data_dir, http=http)


def content(path: Path | str) -> list[tuple[Any, ...]]:
    records = [RawRecord.from_json(line) for line in archive.read_lines(Path(path))]
    return [(r.native_id, json.dumps(r.payload, sort_keys=True), r.deleted, r.source_modified) for r in records]


def search_starts(portal: LocalPortal) -> list[int]:
    return [int(r["params"].get("start", 0)) for r in portal.requests if r["action"] == "package_search"]


class FlakyPortal(LocalPortal):
    """A synthetic portal whose ``package_search`` misbehaves from offset ``down_from`` on:
    503 (with ``Retry-After`` when ``retry_after`` is set) for the next ``failures`` requests
    there (< 0: until ``down_from`` is cleared)."""

    def __init__(self, count: int) -> None:
        super().__init__(SyntheticStore(SyntheticSpec(count=count)))
        self.down_from: int | None = None
        self.failures = -1
        self.retry_after: str | None = None
        self.lock = threading.Lock()

    def answer(self, request: Request, fault: Fault | None) -> Reply:
        if _action(request) == "package_search" and self.down_from is not None \
                and int(request.params.get("start", 0)) >= self.down_from:
            with self.lock:
                failing = self.failures != 0
                self.failures -= 1 if self.failures > 0 else 0
            if failing:
                headers = {"Retry-After": self.retry_after} if self.retry_after else {}
                return Reply(503, b"<html><body>Service Unavailable</body></html>", "text/html", headers)
        return super().answer(request, fault)


# --------------------------------------------------------------------------- the source down part-way


def test_source_down_after_40_percent_fails_retriably_then_the_retry_resumes_exactly(tmp_path, fast_http, sleeps):
    with FlakyPortal(COUNT) as portal:
        clean = harvest(portal.url, tmp_path / "clean", fast_http, run_id="clean")
        portal.down_from = 40  # records 41.. : 503 for every attempt the client makes
        portal.requests.clear()
        with pytest.raises(HttpStatusError) as err:
            harvest(portal.url, tmp_path / "data", fast_http)
        assert isinstance(err.value, RetriableError) and err.value.status == 503
        assert "[source=leeds]" in str(err.value) and f"{portal.url}/api/3/action/package_search" in str(err.value)
        assert search_starts(portal) == [0, 10, 20, 30] + [40] * (fast_http.max_retries + 1)
        raw = archive.raw_path(tmp_path / "data", "leeds", RUN)
        assert json.loads(path_for(raw).read_text())["records"] == 40 and not raw.exists()

        portal.down_from = None  # the source recovers; Airflow retries the task with the same run id
        portal.requests.clear()
        again = harvest(portal.url, tmp_path / "data", fast_http)
        assert search_starts(portal) == [40, 50, 60, 70, 80, 90]
    assert again.resumed is not None and again.resumed["records"] == 40
    got = content(raw)
    assert got == content(clean.raw_path) and len({g[0] for g in got}) == COUNT == again.seen
    assert again.complete_listing is True and not path_for(raw).exists()


class DyingPortal(LocalPortal):
    """A synthetic portal whose process "dies" when asked for offset ``die_at``: it stops listening and cuts
    that answer short, so every later connection is refused."""

    def __init__(self, count: int, die_at: int, port: int = 0) -> None:
        super().__init__(SyntheticStore(SyntheticSpec(count=count)), port=port)
        self.die_at = die_at

    def answer(self, request: Request, fault: Fault | None) -> Reply:
        reply = super().answer(request, fault)
        if _action(request) == "package_search" and int(request.params.get("start", 0)) >= self.die_at:
            self._server.shutdown()  # from a handler thread: serve_forever runs in another one
            self._server.server_close()
            reply.cut = 0
        return reply


def test_source_refusing_connections_part_way_resumes_when_it_is_back(tmp_path, fast_http):
    """The portal dies when asked for page 5 (connections refused from then on) and comes back on the
    same port: the first try fails with a retriable error naming the source, the retry continues."""
    with LocalPortal.synthetic(COUNT) as portal:
        clean = harvest(portal.url, tmp_path / "clean", fast_http, run_id="clean")
    dying = DyingPortal(COUNT, die_at=40).start()
    try:
        with pytest.raises(RetriableError, match=r"\[source=leeds\] cannot reach 127\.0\.0\.1: connection refused"):
            harvest(dying.url, tmp_path / "data", fast_http)
    finally:
        dying.stop()
    assert search_starts(dying) == [0, 10, 20, 30, 40]
    with LocalPortal(SyntheticStore(SyntheticSpec(count=COUNT)), port=dying.port) as back:
        again = harvest(back.url, tmp_path / "data", fast_http)
        assert search_starts(back) == [40, 50, 60, 70, 80, 90]
    raw = archive.raw_path(tmp_path / "data", "leeds", RUN)
    assert again.resumed is not None and again.resumed["records"] == 40
    assert content(raw) == content(clean.raw_path)


def test_503_for_a_while_then_recovering_within_the_retry_budget_succeeds_without_duplicates(
        tmp_path, fast_http, sleeps):
    with FlakyPortal(COUNT) as portal:
        clean = harvest(portal.url, tmp_path / "clean", fast_http, run_id="clean")
        assert sleeps.waits == []
        portal.down_from, portal.failures, portal.retry_after = 30, 3, "7"
        portal.requests.clear()
        out = harvest(portal.url, tmp_path / "data", fast_http)
        assert search_starts(portal) == [0, 10, 20, 30, 30, 30, 30, 40, 50, 60, 70, 80, 90]
    assert sleeps.waits == [7.0, 7.0, 7.0], "the server's Retry-After, not the client's own backoff"
    got = content(out.raw_path)
    assert got == content(clean.raw_path) and len({g[0] for g in got}) == len(got) == COUNT
    assert out.resumed is None and out.complete_listing is True


# --------------------------------------------------------------------------- the inventory database restarted


@dataclass
class PrivatePostgres:
    base: Path
    port: int
    as_user: list[str]

    def url(self, db: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{db}"

    def ctl(self, *args: str) -> None:
        opts = f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.base} -c fsync=off"
        subprocess.run([*self.as_user, str(PG_BIN / "pg_ctl"), "-D", str(self.base / "data"), "-l",
                        str(self.base / "log"), "-o", opts, "-w", "-t", "30", *args], check=True,
                       capture_output=True, timeout=60)

    def restart(self) -> None:
        self.ctl("restart", "-m", "fast")  # every session is terminated, as a restarted server does

    def createdb(self, name: str) -> str:
        import sqlalchemy as sa

        engine = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        engine.dispose()
        return self.url(name)


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of this test's own, never the shared one on 5432 (other tests use that)."""
    if not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_ctl").exists():
        pytest.skip(f"PostgreSQL server binaries not found in {PG_BIN} (set CITYCAT_TEST_PG_BIN)")
    as_user: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="citycat-private-pg-"))
    if os.geteuid() == 0:  # initdb refuses to run as root
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(base)
            pytest.skip("running as root and there is no 'postgres' user to run initdb as")
        if shutil.which("runuser") is None:
            shutil.rmtree(base)
            pytest.skip("running as root and runuser (util-linux) is missing to run initdb as 'postgres'")
        os.chown(base, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    pg = PrivatePostgres(base, free_port(), as_user)
    try:
        subprocess.run([*as_user, str(PG_BIN / "initdb"), "-D", str(base / "data"), "-A", "trust", "-U", "postgres",
                        "-E", "UTF8", "--locale", "C", "--no-sync"], check=True, capture_output=True, timeout=60)
        pg.ctl("start")
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"could not start a private PostgreSQL cluster: {exc}: "
                    f"{getattr(exc, 'stderr', b'').decode(errors='replace')[-500:]}")
    try:
        yield pg
    finally:
        subprocess.run([*as_user, str(PG_BIN / "pg_ctl"), "-D", str(base / "data"), "stop", "-m", "immediate"],
                       capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def inventory_state(inv: Any) -> list[tuple[Any, ...]]:
    return [(d.native_id, d.status, d.content_hash) for d in inv.iter_datasets(status=None, source_id="leeds")]


def test_inventory_database_restarted_during_load_fails_cleanly_and_the_rerun_is_idempotent(
        tmp_path, private_pg, monkeypatch):
    """The Airflow load task, with the PostgreSQL server restarted after 1,020 of 1,050 records (one batch of
    1,000 already written in the load's transaction): the task fails, the run is marked failed with the
    reason, no dataset of the run is in the inventory; the retry loads exactly what a clean load does, and
    a third load changes nothing."""
    from citycat import airflow_tasks as tasks
    from citycat.runner import begin_run
    from helpers import write_sources
    from inventory import Inventory

    n, restart_at = 1050, 1020  # the loader writes in batches of 1,000
    with LocalPortal.synthetic(n) as portal:
        sources_file = write_sources(tmp_path / "sources.yaml",
                                     {"id": "leeds", "url": portal.url, "options": {"requests_per_second": 100}})
        source = SourceConfig(id="leeds", title="leeds", kind="ckan", url=portal.url,
                              institution={"name": "Test Council", "kind": "council"},
                              options={"requests_per_second": 100})
        h = pipeline.harvest(source, RUN, "full", window_start=None, window_end=RUN_END, data_dir=tmp_path)
    norm = pipeline.normalise(source, RUN, h.raw_path, data_dir=tmp_path, base_uri="http://localhost:8000", workers=1)
    assert norm.mapped == n
    harvested = {**h.as_dict(), "run_time": RUN_END.isoformat()}
    normalised = norm.as_dict()
    monkeypatch.setenv("CITYCAT_SOURCES", str(sources_file))
    monkeypatch.setenv("CITYCAT_DATA_DIR", str(tmp_path))

    clean_url, faulty_url = private_pg.createdb("clean"), private_pg.createdb("faulty")
    monkeypatch.setenv("CITYCAT_DATABASE_URL", clean_url)
    with Inventory(clean_url) as clean_inv:
        clean_inv.migrate()
        begin_run(source, RUN, "full", since=None, until=RUN_END, now=RUN_END, inventory=clean_inv)
    clean_counts = tasks.load("leeds", harvested, normalised, {"passed": True})
    assert clean_counts["created"] == n

    monkeypatch.setenv("CITYCAT_DATABASE_URL", faulty_url)
    inv = Inventory(faulty_url)
    inv.migrate()
    begin_run(source, RUN, "full", since=None, until=RUN_END, now=RUN_END, inventory=inv)
    read = pipeline.iter_normalised
    restarted = []

    def restart_part_way(path: Any) -> Iterator[dict[str, Any]]:
        for i, rec in enumerate(read(path)):
            if i == restart_at:
                private_pg.restart()
                restarted.append(i)
            yield rec

    monkeypatch.setattr(pipeline, "iter_normalised", restart_part_way)
    import sqlalchemy.exc

    with pytest.raises(sqlalchemy.exc.OperationalError):
        tasks.load("leeds", harvested, normalised, {"passed": True})
    assert restarted == [restart_at]
    run = inv.get_run(pipeline.run_key("leeds", RUN))
    assert run.status == "failed" and "load: OperationalError" in inv.run_errors(run.run_id)[0]["reason"]
    assert inventory_state(inv) == [] and inv.count_datasets(status=None) == 0, "no partial state"

    monkeypatch.setattr(pipeline, "iter_normalised", read)
    begin_run(source, RUN, "full", since=None, until=RUN_END, now=RUN_END, inventory=inv)  # the retried run
    counts = tasks.load("leeds", harvested, normalised, {"passed": True})
    with Inventory(clean_url) as clean_inv:
        expected = inventory_state(clean_inv)
    assert counts["created"] == n and inventory_state(inv) == expected and len(expected) == n
    assert inv.get_run(pipeline.run_key("leeds", RUN)).status == "success"

    again = tasks.load("leeds", harvested, normalised, {"passed": True})
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, n)
    assert inventory_state(inv) == expected
    inv.close()


def test_airflow_harvest_task_retry_continues_the_failed_try(tmp_path, monkeypatch):
    """The Airflow task function as a retry calls it: same run id, same data interval. The first try
    fails retriably when the source goes down after 40% (the run is marked failed); the retry, with the
    source back, asks only for the rest, and XCom says it resumed."""
    from citycat import airflow_tasks as tasks
    from helpers import write_sources

    monkeypatch.setenv("CITYCAT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CITYCAT_DATABASE_URL", raising=False)
    monkeypatch.delenv("CITYCAT_DATABASE_CONN_ID", raising=False)
    context = {"data_interval_start": "2026-11-27T02:00:00+00:00", "data_interval_end": "2026-11-28T02:00:00+00:00"}
    run_id = "scheduled__2026-11-27T02:00:00+00:00"
    with FlakyPortal(COUNT) as portal:
        monkeypatch.setenv("CITYCAT_SOURCES", str(write_sources(tmp_path / "sources.yaml", {
            "id": "leeds", "url": portal.url, "options": {"rows": ROWS, "requests_per_second": 100}})))
        portal.down_from = 40
        portal.retry_after = "0"  # the task's client retries for real: let it retry at once (still 5 tries)
        with pytest.raises(HttpStatusError, match=r"\[source=leeds\]"):
            tasks.harvest("leeds", run_id=run_id, params={"mode": "full"}, context=context)
        portal.down_from = None
        portal.requests.clear()
        out = tasks.harvest("leeds", run_id=run_id, params={"mode": "full"}, context=context)
        assert search_starts(portal) == [40, 50, 60, 70, 80, 90]
    assert out["resumed"]["records"] == 40 and out["seen"] == COUNT and out["complete_listing"] is True
    ids = [c[0] for c in content(out["raw_path"])]
    assert len(ids) == len(set(ids)) == COUNT
