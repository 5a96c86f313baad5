from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from app.core import conversations
from app.core.errors import DatabaseCorrupt, DatabaseError, DatabaseLocked, DatabaseTooNew
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


def test_the_newest_revision_is_read_from_the_file_names_as_alembic_reads_it() -> None:
    """Opening a current file skips importing alembic on this rule: revision id = file name."""
    script = ScriptDirectory.from_config(db_module._alembic_config())
    assert db_module.newest_revision() == script.get_current_head()
    for revision in script.walk_revisions():
        assert Path(revision.path).stem == revision.revision


# Rows as the first schema stored them; every later migration must keep them.
FIRST_SCHEMA_ROWS = Path(__file__).parents[2] / "fixtures" / "ledger_0001_rows.sql"


def _upgrade_to(path: Path, revision: str) -> None:
    """Bring the file to ``revision`` only, as that version of Tallybook left it (foreign keys
    off while tables are rebuilt, as :func:`db.upgrade_schema` has them)."""
    from alembic import command

    engine = db_module._make_engine(path, 1.0)
    config = db_module._alembic_config()
    try:
        with engine.connect() as connection:
            raw = connection.connection.driver_connection
            assert raw is not None
            raw.execute("PRAGMA foreign_keys=OFF")
            with connection.begin():
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
    finally:
        engine.dispose()


def test_an_old_file_is_upgraded_in_place_and_keeps_every_row(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    first = _revisions()[0]
    _upgrade_to(path, first)
    with sqlite3.connect(path) as raw:
        raw.executescript(FIRST_SCHEMA_ROWS.read_text())

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


BEFORE_POSITIVE_COUNTS = "0009_billed_units"
DAILY_ROWS = """
SELECT day, provider, model, token_type, tokens, value, uncached, transactions
FROM daily_totals ORDER BY day, provider, model, token_type
"""
UNITS = ("prompt", "completion", "cache_read", "cache_write_1h", "web_searches", "flex:prompt")


def _ledger_at_0009(tmp_path: Path) -> tuple[Path, list[tuple[object, ...]]]:
    """A file left by the version before 0010: rows of every kind over a week, their daily
    totals backfilled by that version's migrations (counts of spend negative), and those
    totals as they were."""
    path = tmp_path / "at-0009.sqlite3"
    _upgrade_to(path, _revisions()[0])
    rows = []
    for step in range(240):
        day = f"2026-11-{1 + step % 7:02d} {step % 24:02d}:{step % 60:02d}:00.000000"
        model, provider = [("gpt-4o", "openai"), ("claude-x", "anthropic"), ("m", "demo")][step % 3]
        unit = UNITS[step % len(UNITS)]
        amount = -(1 + step * 37) * 1_000_000
        rate = 1_500_000 + step * 1_000
        owner = 1 if step % 4 else None
        rows.append((day, owner, provider, model, unit, amount, rate, amount * rate // 10**6))
    rows += [
        (
            f"2026-11-0{d} 08:00:00.000000",
            None,
            None,
            None,
            "credits",
            7 * 10**12,
            10**6,
            7 * 10**12,
        )
        for d in (1, 4)
    ]  # top-ups: counts positive already
    with sqlite3.connect(path) as raw:
        raw.executescript(FIRST_SCHEMA_ROWS.read_text())
        raw.executemany(
            "INSERT INTO transactions (created_at, conversation_id, provider, model, token_type,"
            " raw_amount, rate, token_value, context, estimated, rate_source)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'message', 0, 'test')",
            rows,
        )
        raw.execute("UPDATE balance SET credits = (SELECT SUM(token_value) FROM transactions)")
    _upgrade_to(path, BEFORE_POSITIVE_COUNTS)
    with sqlite3.connect(path) as raw:
        return path, raw.execute(DAILY_ROWS).fetchall()


def test_0010_turns_every_count_of_spend_positive_and_keeps_every_row(tmp_path: Path) -> None:
    path, before = _ledger_at_0009(tmp_path)
    assert sum(1 for row in before if row[3] != "credits" and row[4] < 0) > 30
    Database(path).close()
    with sqlite3.connect(path) as raw:
        after = raw.execute(DAILY_ROWS).fetchall()
        (revision,) = raw.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision == _revisions()[-1]
    assert len(after) == len(before)
    for old, new in zip(before, after, strict=True):  # every row, key and money unchanged
        count = old[4] if old[3] == "credits" else -old[4]
        assert new == (*old[:4], count, *old[5:])
        assert new[4] >= 0
    spent = [row[4] for row in before if row[3] != "credits"]
    assert sum(row[4] for row in after if row[3] != "credits") == -sum(spent)
    assert_aggregates_exact(path)  # and they agree with a fresh sum of the transactions
    with Database(path).read() as session:
        assert entries.current_balance(session) == entries.ledger_sum(session)


def test_0010_rolls_back_when_its_check_fails(tmp_path: Path) -> None:
    path, before = _ledger_at_0009(tmp_path)
    with sqlite3.connect(path) as raw:  # a fault in the flip: one row's money moves with it
        raw.execute(
            "CREATE TRIGGER skew AFTER UPDATE OF tokens ON daily_totals"
            " WHEN NEW.token_type = 'web_searches' BEGIN"
            " UPDATE daily_totals SET value = value - 1 WHERE rowid = NEW.rowid; END"
        )
    with pytest.raises(DatabaseError, match="rolled back"):
        Database(path)
    with sqlite3.connect(path) as raw:
        assert raw.execute(DAILY_ROWS).fetchall() == before
        (revision,) = raw.execute("SELECT version_num FROM alembic_version").fetchone()
        raw.execute("DROP TRIGGER skew")
    assert revision == BEFORE_POSITIVE_COUNTS
    Database(path).close()  # without the fault, the same file upgrades
    assert_aggregates_exact(path)


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
