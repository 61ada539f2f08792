"""Inventory schema revisions; ``0001_initial`` is the schema's source of truth."""
