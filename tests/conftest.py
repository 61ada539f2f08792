"""Shared fixtures: the real PostgreSQL server on 127.0.0.1:5432, when there is one, and the
isolated data directory (plus SQLite inventory) every kind's end-to-end tests run in.

Tests that need it skip with the reason where no server listens (a user's machine may
have none); CI on this machine runs them. ``CITYCAT_TEST_PG_ADMIN_URL`` points elsewhere.
"""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

from helpers import RECORDED, sqlite_inventory
from inventory import Inventory

PG_ADMIN_URL = os.environ.get("CITYCAT_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def pg_database():
    """One uniquely named database on the local server for the session; dropped at the end."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect():
            pass
    except Exception as exc:  # noqa: BLE001 - any failure here means "no server to test on"
        admin.dispose()
        pytest.skip(f"PostgreSQL not reachable at {sa.make_url(PG_ADMIN_URL).render_as_string()} "
                    f"({type(exc).__name__}); the PostgreSQL half of the inventory tests is skipped")
    name = f"citycat_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        # A linguistic default collation, as a UK production server would have (en_GB), so the
        # byte-order test below proves iter_datasets does not depend on the server's locale.
        try:
            conn.exec_driver_sql(f"CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE_PROVIDER icu "
                                 "ICU_LOCALE 'en-GB' LOCALE 'C.UTF-8'")
        except sa.exc.DBAPIError:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def pg_url(pg_database):
    """The session's database, emptied for this test: every table but Alembic's is truncated.

    Creating a database per test costs a second each; truncating costs milliseconds and gives the
    same guarantee that counts and ids seen by one test are not another test's leftovers.
    """
    engine = sa.create_engine(pg_database)
    try:
        with engine.begin() as conn:
            tables = [t for t in sa.inspect(conn).get_table_names() if t != "alembic_version"]
            if tables:
                conn.exec_driver_sql("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
    finally:
        engine.dispose()
    return pg_database


@pytest.fixture
def pg_inventory(pg_url):
    inv = Inventory(pg_url)
    inv.migrate()
    yield inv
    inv.close()


@pytest.fixture
def env(tmp_path, monkeypatch):
    """``tmp_path`` as the run's home: CITYCAT_DATA_DIR is ``tmp_path/data`` and no database URL leaks in
    from the caller's shell, so an end-to-end test never touches a real data directory or inventory."""
    monkeypatch.setenv("CITYCAT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CITYCAT_DATABASE_URL", raising=False)
    return tmp_path


@pytest.fixture
def env_inventory(env):
    """``(tmp_path, a migrated SQLite inventory at tmp_path/inventory.sqlite)``; closed afterwards."""
    inv = sqlite_inventory(env / "inventory.sqlite")
    yield env, inv
    inv.close()


@pytest.fixture
def recorded():
    """The recorded CKAN portal (examples/ckan) served on 127.0.0.1 for the test."""
    from citycat.localportal import DirectoryStore, LocalPortal

    with LocalPortal(DirectoryStore.from_directory(RECORDED)) as portal:
        yield portal


@pytest.fixture
def pyshacl_calls(monkeypatch):
    """Counts the real validator's runs in this process (the validator itself runs unchanged; only the
    count is added)."""
    from expectations import shacl

    calls = []
    real = shacl._run

    def counting(data, include_recommended):
        calls.append(len(data))
        return real(data, include_recommended)

    monkeypatch.setattr(shacl, "_run", counting)
    return calls
