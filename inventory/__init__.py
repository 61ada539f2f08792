"""The central inventory: datasets, their versions, harvest runs (SQLite or PostgreSQL).

``Inventory`` is the one entry point; ``inventory.load`` holds the loading rules and
``inventory.models`` the schema (mirrored by the Alembic migrations).
"""

from inventory.load import LoadResult, RecordError
from inventory.store import (DatasetInfo, Inventory, InventoryError, RunConflictError, RunInfo, UnknownRunError,
                             VersionInfo, alembic_config)

__all__ = ["DatasetInfo", "Inventory", "InventoryError", "LoadResult", "RecordError", "RunConflictError",
           "RunInfo", "UnknownRunError", "VersionInfo", "alembic_config"]
