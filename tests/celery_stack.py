"""Airflow 3 on the CeleryExecutor as separate processes, for tests/test_celery_stack.py and bench/.

The stack uses this machine's PostgreSQL (a throw-away metadata database and a separate inventory
database) and Redis (an empty database number claimed for the run), ``AIRFLOW_HOME`` in a temporary
directory, and starts api-server (127.0.0.1, a free port), scheduler, dag-processor and a Celery
worker, each in a process group of its own so that stopping it leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
import sqlalchemy as sa

from helpers import airflow_base_env, free_port

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("CITYCAT_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def _claim_redis_db(client_factory) -> tuple[int, str]:
    """An empty Redis database number, marked as ours with a lock key so a parallel run skips it."""
    token = uuid.uuid4().hex
    for db in range(15, 0, -1):
        client = client_factory(db)
        if client.dbsize() == 0 and client.set("citycat:celery-stack-test", token, nx=True, ex=900):
            return db, token
    pytest.skip("no empty Redis database (1-15) on 127.0.0.1:6379 to run Celery against")


class Stack:
    """Airflow processes started by this test, with their logs; ``stop`` kills each process group."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home, self.env = home, env
        self.procs: dict[str, subprocess.Popen] = {}
        self.api = env["AIRFLOW__API__BASE_URL"]
        self.session = requests.Session()

    def start(self, name: str, *args: str) -> None:
        log = open(self.home / f"{name}.log", "wb")
        self.procs[name] = subprocess.Popen([str(Path(sys.executable).with_name("airflow")), *args], env=self.env,
                                            cwd=str(ROOT), stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        log.close()

    def tails(self, lines: int = 25) -> str:
        out = []
        for name, proc in self.procs.items():
            text = (self.home / f"{name}.log").read_text(errors="replace").splitlines()[-lines:]
            out.append(f"----- {name} (pid {proc.pid}, exit {proc.poll()}) -----\n" + "\n".join(text))
        return "\n".join(out)

    def fail(self, message: str) -> None:
        pytest.fail(f"{message}\n{self.tails()}", pytrace=False)

    def task_errors(self, dag_id: str, run_id: str) -> str:
        """The error events of a run's task logs (the reason a task failed, for the failure message)."""
        out = []
        for log in sorted((self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}").glob("task_id=*/*.log")):
            for line in log.read_text(errors="replace").splitlines():
                if '"level":"error"' in line:
                    out.append(f"{log.parent.name}/{log.name}: {line[:1500]}")
        return "\n".join(out)

    def check_alive(self) -> None:
        dead = [n for n, p in self.procs.items() if p.poll() is not None]
        if dead:
            self.fail(f"Airflow process(es) exited early: {', '.join(dead)}")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 10
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in self.procs.values():  # whatever ignored SIGTERM, and children left in the group
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)

    def leftovers(self) -> list[str]:
        """Live processes still in one of our process groups, or carrying our AIRFLOW_HOME in their
        environment. Zombies are dead already (their exit is only waiting to be collected): a few
        seconds are given for that, then they are not counted."""
        groups = {p.pid for p in self.procs.values()}
        marker = f"AIRFLOW_HOME={self.home}".encode()
        found: list[str] = []
        for _ in range(20):
            ps = subprocess.run(["ps", "-eo", "pid=,pgid=,stat=,args="], capture_output=True, text=True).stdout
            found = []
            for line in ps.splitlines():
                pid, pgid, stat, *_ = line.split(None, 3)
                if stat.startswith("Z"):
                    continue
                try:
                    mine = int(pgid) in groups or marker in Path(f"/proc/{pid}/environ").read_bytes()
                except OSError:
                    mine = int(pgid) in groups
                if mine:
                    found.append(line.strip())
            if not found:
                break
            time.sleep(0.5)
        return found

    # -- REST -----------------------------------------------------------------------------

    def login(self, password: str) -> None:
        r = self.session.post(f"{self.api}/auth/token", json={"username": "admin", "password": password}, timeout=10)
        r.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {r.json()['access_token']}"

    def get(self, path: str) -> dict:
        r = self.session.get(f"{self.api}/api/v2{path}", timeout=10)
        r.raise_for_status()
        return r.json()

    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        r = self.session.post(f"{self.api}/api/v2/dags/{dag_id}/dagRuns",
                              json={"logical_date": None, "conf": conf or {}}, timeout=10)
        if r.status_code >= 300:
            self.fail(f"triggering {dag_id} answered {r.status_code}: {r.text[:500]}")
        return r.json()["dag_run_id"]

    def unpause(self, dag_id: str) -> None:
        r = self.session.patch(f"{self.api}/api/v2/dags/{dag_id}", json={"is_paused": False}, timeout=10)
        if not r.ok:
            self.fail(f"unpausing {dag_id} answered {r.status_code}: {r.text[:300]}")

    def run(self, dag_id: str, run_id: str) -> dict:
        return self.get(f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict]:
        tis = self.get(f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances")["task_instances"]
        return {t["task_id"]: t for t in tis}

    def wait(self, what: str, check, timeout: float) -> object:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                value = check()
            except requests.RequestException:
                value = None
            if value:
                return value
            time.sleep(0.5)
        self.fail(f"timed out after {timeout:.0f} s waiting for {what}")

    def wait_success(self, dag_id: str, run_id: str, timeout: float = 180) -> dict:
        def done():
            run = self.run(dag_id, run_id)
            if run["state"] == "failed":
                tis = {k: v["state"] for k, v in self.task_instances(dag_id, run_id).items()}
                self.fail(f"{dag_id} {run_id} failed; task states {tis}\n{self.task_errors(dag_id, run_id)}")
            return run if run["state"] == "success" else None
        return self.wait(f"{dag_id} {run_id} to succeed", done, timeout)


@contextmanager
def celery_stack(tmp: Path, sources_yaml: str, dag_ids: list[str], unpause: list[str]) -> Iterator[Stack]:
    """Airflow on the CeleryExecutor with one worker, for ``sources_yaml``; everything undone on exit.

    ``dag_ids`` are waited for (parsed), ``unpause`` are unpaused. Skips (pytest) without PostgreSQL
    or Redis on 127.0.0.1.
    """
    redis = pytest.importorskip("redis")
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect():
            pass
        redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_connect_timeout=3).ping()
    except Exception as exc:  # noqa: BLE001 - either server missing means this machine cannot run the stack
        admin.dispose()
        pytest.skip(f"the Celery stack test needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 "
                    f"({type(exc).__name__}: {exc})")
    db, lock = _claim_redis_db(lambda n: redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=n))
    suffix = uuid.uuid4().hex[:8]
    meta_db, inv_db = f"citycat_airflow_test_{suffix}", f"citycat_inventory_test_{suffix}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{meta_db}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{inv_db}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    home = tmp / "airflow_home"
    home.mkdir()
    (tmp / "sources.yaml").write_text(sources_yaml, encoding="utf-8")
    password = secrets.token_urlsafe(16)
    (home / "passwords.json").write_text(json.dumps({"admin": password}))
    port = free_port()
    env = airflow_base_env(home)
    env.update({
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",  # the test unpauses harvest DAGs only
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"{base}/{meta_db}",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": f"{base}/{meta_db}",  # psycopg 3 is async too (no asyncpg)
        "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{base}/{meta_db}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",  # one task per worker: overlap needs two workers
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(64),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "GX_ANALYTICS_ENABLED": "false",
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "CITYCAT_SOURCES": str(tmp / "sources.yaml"),
        "CITYCAT_DATA_DIR": str(tmp / "data"),
        "CITYCAT_DATABASE_CONN_ID": "citycat_inventory",
        "AIRFLOW_CONN_CITYCAT_INVENTORY": f"{base.replace('postgresql+psycopg', 'postgresql')}/{inv_db}",
        # the run report goes into each run's note through the REST API (citycat/notify.py)
        "CITYCAT_AIRFLOW_API_CONN_ID": "citycat_airflow_api",
        "AIRFLOW_CONN_CITYCAT_AIRFLOW_API": f"http://admin:{password}@127.0.0.1:{port}",
    })
    stack = Stack(home, env)
    pools = None
    try:
        migrate = subprocess.run([str(Path(sys.executable).with_name("airflow")), "db", "migrate"], env=env,
                                 capture_output=True, text=True, timeout=240, cwd=str(ROOT))
        assert migrate.returncode == 0, f"airflow db migrate failed:\n{migrate.stdout[-2000:]}\n{migrate.stderr[-3000:]}"
        # the pools are created while the processes start (a task waits in "scheduled" for its pool)
        pools = subprocess.Popen([sys.executable, "-m", "citycat.cli", "airflow", "pools", "--apply"], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(ROOT))
        stack.start("api-server", "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1")
        stack.start("scheduler", "scheduler")
        stack.start("dag-processor", "dag-processor")
        stack.start("worker1", "celery", "worker", "--skip-serve-logs", "--celery-hostname", f"w1-{suffix}@%h",
                    "--concurrency", "1", "--without-mingle", "--without-gossip")
        stack.wait("the api-server to answer", lambda: requests.get(f"{stack.api}/api/v2/monitor/health",
                                                                    timeout=2).ok, 90)
        out, err = pools.communicate(timeout=180)
        assert pools.returncode == 0, f"citycat airflow pools --apply failed:\n{err[-3000:]}"
        stack.login(password)
        for dag_id in dag_ids:
            stack.wait(f"the dag-processor to parse {dag_id}",
                       lambda d=dag_id: stack.session.get(f"{stack.api}/api/v2/dags/{d}", timeout=5).ok, 90)
        for dag_id in unpause:
            stack.unpause(dag_id)
        stack.inventory_url = f"{base}/{inv_db}"
        yield stack
    finally:
        if pools is not None and pools.poll() is None:
            pools.kill()
            pools.wait(timeout=10)
        stack.stop()
        left = stack.leftovers()
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db)
        if client.get("citycat:celery-stack-test") == lock.encode():
            client.flushdb()
        with admin.connect() as conn:
            for name in (meta_db, inv_db):
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
        assert left == [], f"processes left after stopping the stack: {left}"


