"""Alembic environment: run with the connection ``Inventory.migrate`` hands over.

There is no ``alembic.ini`` on disk: ``inventory.store.alembic_config`` builds the config
in code and passes an open connection in ``config.attributes["connection"]``, so migrating
uses the same engine (and the same SQLite pragmas) as loading. Running ``alembic`` by hand
works too with ``-x url=...`` or ``CITYCAT_DATABASE_URL``.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

from inventory.models import metadata

config = context.config


def _configure_and_run(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    context.configure(url=url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    url = (context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
           or os.environ.get("CITYCAT_DATABASE_URL"))
    if not url:
        raise RuntimeError("no database URL: pass -x url=... or set CITYCAT_DATABASE_URL")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            _configure_and_run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
