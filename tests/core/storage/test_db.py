from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from app.core import conversations
from app.core.errors import DatabaseCorrupt, DatabaseLocked, DatabaseTooNew
from app.core.ledger import entries
from app.core.storage import db as db_module
from app.core.storage.db import Database
from app.core.storage.models import Base
from tests.core.ledger.test_rollups import assert_aggregates_exact
from tests.factories import spend


def test_pragmas_wal_foreign_keys_and_full_sync(db: Database) -> None:
    with db.read() as session:
        connection = session.connection()
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2


def test_the_models_match_the_newest_migration(db: Database) -> None:
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def _revisions() -> list[str]:
    script = ScriptDirectory.from_config(db_module._alembic_config())
    return [r.revision for r in reversed(list(script.walk_revisions()))]


# Rows as the first schema stored them; every later migration must keep them.
FIRST_SCHEMA_ROWS = Path(__file__).parents[2] / "fixtures" / "ledger_0001_rows.sql"


def test_an_old_file_is_upgraded_in_place_and_keeps_every_row(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    first = _revisions()[0]
    engine = db_module._make_engine(path, 1.0)
    config = db_module._alembic_config()
    from alembic import command

    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, first)
    with sqlite3.connect(path) as raw:
        raw.executescript(FIRST_SCHEMA_ROWS.read_text())
    engine.dispose()

    upgraded = Database(path)
    try:
        with upgraded.read() as session:
            assert (
                entries.current_balance(session) == entries.ledger_sum(session) == Decimal("4794.5")
            )
            rows = (
                session.connection()
                .exec_driver_sql(
                    "SELECT token_type, raw_amount, token_value, rate_source "
                    "FROM transactions ORDER BY id"
                )
                .all()
            )
            title, drop_oldest, source = (
                session.connection()
                .exec_driver_sql("SELECT title, drop_oldest, source FROM conversations")
                .one()
            )
            listed = [c.title for c in conversations.list_conversations(session)]
        with upgraded.write() as session:  # and the upgraded file takes new spend
            entries.spend_tokens(session, spend(10, 10))
    finally:
        upgraded.close()
    assert rows == [
        ("prompt", -137_000_000, -205_500_000, "genai-prices 0.2.3"),
        ("credits", 5_000_000_000, 5_000_000_000, "credits"),
    ]
    assert (title, drop_oldest) == ("Old chat", 0)  # a column added later gets its default
    assert source == "chat" and listed == ["Old chat"]  # older conversations are the chat's
    assert_aggregates_exact(path)  # backfilled by the migration that added them
    if first != _revisions()[-1]:
        assert list(tmp_path.glob("old.sqlite3.before-*.bak")), "a copy is kept before migrating"


def test_a_file_from_a_newer_version_is_refused_and_left_untouched(db: Database) -> None:
    db.close()
    with sqlite3.connect(db.path) as raw:
        raw.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    before = db.path.read_bytes()
    with pytest.raises(DatabaseTooNew, match="newer Tallybook"):
        Database(db.path)
    assert db.path.read_bytes() == before


def test_a_corrupt_file_is_reported_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "tallybook.sqlite3"
    garbage = b"this is not a database, it is a shopping list\n" * 200
    path.write_bytes(garbage)
    with pytest.raises(DatabaseCorrupt, match="left untouched"):
        Database(path)
    assert path.read_bytes() == garbage


def test_a_locked_file_gives_a_clear_error_and_loses_nothing(db: Database) -> None:
    with db.write() as session:
        entries.add_credits(session, Decimal(1000))
    other = sqlite3.connect(db.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    waiting = Database(db.path, busy_timeout_s=0.2)
    try:
        with (
            pytest.raises(DatabaseLocked, match="locked by another program"),
            waiting.write() as session,
        ):
            entries.add_credits(session, Decimal(5))
    finally:
        other.execute("ROLLBACK")
        other.close()
        waiting.close()
    with db.read() as session:
        assert entries.current_balance(session) == entries.ledger_sum(session) == Decimal(1000)
