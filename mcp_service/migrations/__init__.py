"""Alembic migrations: `env.py`, the revision template, and `versions/` (one file each).

`mcp_service.schema` runs them; see docs/migrations.md for adding the next one.
"""
