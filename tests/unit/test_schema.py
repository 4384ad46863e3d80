"""The revision a service expects is the newest migration script."""

from __future__ import annotations

from mcp_service import schema


def test_head_is_the_newest_migration() -> None:
    # A new revision must move schema.HEAD too, or services would refuse the migrated database.
    assert schema.script_head() == schema.HEAD


def test_every_revision_file_is_known() -> None:
    files = {p.name.split("_")[0] for p in (schema.MIGRATIONS / "versions").glob("*.py")}
    assert files == schema.known_revisions()


def test_messages_never_show_a_password() -> None:
    where = schema.describe("postgresql+asyncpg://svc:s3cret@db.example/mcp")
    assert "s3cret" not in where
    assert where == "postgresql+asyncpg://svc:***@db.example/mcp"
