"""Alembic environment of the inventory (a package so that it ships with the wheel)."""
