"""Every write is announced once, after its commit, with the kinds of data it changed; other
processes' writes are found by the ledger itself, and our own are never taken for theirs."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import fields
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session

from app.core import conversations
from app.core.ledger import alerts, entries
from app.core.pricing import prices
from app.core.pricing.prices import RateOverride
from app.core.storage import settings, watch
from app.core.storage.changes import (
    CONVERSATIONS,
    EVERYTHING,
    LEDGER,
    NOTHING,
    REQUESTS,
    SETTINGS,
    TABLE_KINDS,
    Changes,
)
from app.core.storage.db import Database
from app.core.storage.models import AlertLog, Base
from tests.factories import spend

ROOT = Path(__file__).parents[3]


@pytest.fixture
def heard(db: Database) -> Iterator[list[Changes]]:
    """What the ledger announced, in order."""
    found: list[Changes] = []
    unsubscribe = db.subscribe(found.append)
    yield found
    unsubscribe()


def _conversation_with_a_message(session: Session) -> None:
    started = conversations.create_conversation(session, title="Trip")
    conversations.add_message(session, started.id, "user", "Hello")


WRITES: dict[str, tuple[Callable[[Session], object], Changes]] = {
    "a top-up": (lambda s: entries.add_credits(s, Decimal(5_000_000)), LEDGER),
    "a settled request": (lambda s: entries.spend_tokens(s, spend(100, 20)), LEDGER | REQUESTS),
    "a request journaled": (
        lambda s: entries.open_request(s, spend(100), hold=Decimal(10)),
        REQUESTS,
    ),
    "a conversation": (_conversation_with_a_message, CONVERSATIONS),
    "a budget": (lambda s: alerts.add_budget(s, "month", Decimal(1_000_000)), SETTINGS),
    "a price override": (
        lambda s: prices.set_override(s, RateOverride("gpt-4o", prompt=Decimal(3))),
        SETTINGS,
    ),
    "a preference": (lambda s: settings.put(s, "some.preference", True), SETTINGS),
}


@pytest.mark.parametrize("name", WRITES)
def test_each_write_is_announced_once_after_its_commit(
    db: Database, heard: list[Changes], name: str
) -> None:
    write, expected = WRITES[name]
    before = _rows(db.path)
    seen_by_another_reader: list[int] = []
    db.subscribe(lambda _changes: seen_by_another_reader.append(_rows(db.path)))
    with db.write() as session:
        write(session)
        assert heard == []  # nothing before the commit
    assert heard == [expected]
    assert seen_by_another_reader[0] > before  # announced once anyone can read the new rows


def _rows(path: Path) -> int:
    """Rows in the ledger, counted through a connection of its own."""
    with contextlib.closing(sqlite3.connect(path)) as raw:
        return sum(raw.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLE_KINDS)


def test_a_rolled_back_write_is_not_announced(db: Database, heard: list[Changes]) -> None:
    with pytest.raises(RuntimeError), db.write() as session:
        entries.add_credits(session, Decimal(1_000_000))
        raise RuntimeError("refused halfway")
    assert heard == []


def test_a_write_that_changes_no_row_is_not_announced(db: Database, heard: list[Changes]) -> None:
    with db.write() as session:
        session.execute(delete(AlertLog).where(AlertLog.key == "nothing-like-it"))
        alerts.budgets(session)  # and reads
    assert heard == []


def test_several_tables_in_one_write_are_one_announcement(
    db: Database, heard: list[Changes]
) -> None:
    with db.write() as session:
        entries.add_credits(session, Decimal(1_000_000))
        _conversation_with_a_message(session)
        alerts.set_low_balance_threshold(session, Decimal(500_000))
    assert heard == [LEDGER | CONVERSATIONS | SETTINGS]


def test_sql_written_by_hand_is_announced_too(db: Database, heard: list[Changes]) -> None:
    with db.write() as session:
        settings.put(session, "a", 1)
    heard.clear()
    with db.write() as session:
        session.connection().exec_driver_sql("UPDATE settings SET value = '2'")
    assert heard == [SETTINGS]


def test_every_table_of_the_models_has_a_kind() -> None:
    assert set(Base.metadata.tables) == set(TABLE_KINDS)


@pytest.mark.parametrize("kind", [field.name for field in fields(Changes)])
def test_each_kind_survives_combining(kind: str) -> None:
    one = Changes(**{kind: True})
    assert one and (one | NOTHING) == one and (one & EVERYTHING) == one and not one & NOTHING
    assert Changes(**{field.name: True for field in fields(Changes)}) == EVERYTHING


def test_a_table_this_version_does_not_know_counts_as_everything() -> None:
    assert Changes.of_tables(["messages"]) == CONVERSATIONS
    assert Changes.of_tables(["a_table_from_the_future"]) == EVERYTHING
    assert Changes.of_tables([]) == NOTHING
    assert not NOTHING and EVERYTHING & LEDGER == LEDGER


def _write_elsewhere(path: Path) -> None:
    """Another process tops the ledger up, as ``tallybook add-balance`` would."""
    code = (
        "import sys; from decimal import Decimal; from pathlib import Path\n"
        "from app.core.ledger import entries; from app.core.storage.db import Database\n"
        "db = Database(Path(sys.argv[1]))\n"
        "with db.write() as session: entries.add_credits(session, Decimal(7_000_000))\n"
        "db.close()\n"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], cwd=ROOT, check=True, timeout=60)


def test_another_processes_write_is_noticed_once(db: Database, heard: list[Changes]) -> None:
    assert db.notice_foreign_writes() == NOTHING
    _write_elsewhere(db.path)
    assert db.notice_foreign_writes() == EVERYTHING
    assert heard == [EVERYTHING]
    assert db.notice_foreign_writes() == NOTHING  # once


def test_our_own_writes_are_never_taken_for_another_processes(
    db: Database, heard: list[Changes]
) -> None:
    for _ in range(3):
        with db.write() as session:
            entries.add_credits(session, Decimal(1_000_000))
        assert db.notice_foreign_writes() == NOTHING
    with db.read() as session:  # reads commit nothing either
        entries.current_balance(session)
    assert db.notice_foreign_writes() == NOTHING
    assert heard == [LEDGER] * 3


def test_our_next_write_notices_another_processes_write_by_itself(
    db: Database, heard: list[Changes]
) -> None:
    _write_elsewhere(db.path)
    with db.write() as session:
        entries.add_credits(session, Decimal(1_000_000))
    assert heard == [EVERYTHING]
    assert db.notice_foreign_writes() == NOTHING


def test_a_write_found_before_a_rollback_is_still_announced(
    db: Database, heard: list[Changes]
) -> None:
    _write_elsewhere(db.path)
    with pytest.raises(RuntimeError), db.write() as session:
        entries.add_credits(session, Decimal(1_000_000))
        raise RuntimeError("refused")
    assert heard == [EVERYTHING]


def test_a_second_ledger_object_on_the_same_file_is_another_writer(
    db: Database, heard: list[Changes]
) -> None:
    second = Database(db.path)
    try:
        with second.write() as session:
            entries.add_credits(session, Decimal(1_000_000))
    finally:
        second.close()
    assert db.notice_foreign_writes() == EVERYTHING


def test_looking_never_waits_for_our_own_write(db: Database, heard: list[Changes]) -> None:
    begun, release = threading.Event(), threading.Event()

    def long_write() -> None:
        with db.write() as session:
            entries.add_credits(session, Decimal(1_000_000))
            begun.set()
            release.wait(10)

    writer = threading.Thread(target=long_write)
    writer.start()
    try:
        assert begun.wait(10)
        assert db.notice_foreign_writes() == NOTHING
        assert writer.is_alive()  # the look came back while our write still held the lock
    finally:
        release.set()
        writer.join(10)
    assert heard == [LEDGER]


def test_writes_from_several_threads_are_each_announced(db: Database, heard: list[Changes]) -> None:
    def top_up() -> None:
        for _ in range(5):
            with db.write() as session:
                entries.add_credits(session, Decimal(1_000_000))

    threads = [threading.Thread(target=top_up) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert heard == [LEDGER] * 20
    assert db.notice_foreign_writes() == NOTHING
    with db.read() as session:
        assert entries.current_balance(session) == Decimal(20_000_000)


def test_a_failing_subscriber_is_logged_and_the_write_stands(
    db: Database, heard: list[Changes], caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_changes: Changes) -> None:
        raise ValueError("a view that fell over")

    db.subscribe(broken)
    db.subscribe(heard.append)
    with caplog.at_level(logging.ERROR), db.write() as session:
        entries.add_credits(session, Decimal(1_000_000))
    assert "subscriber" in caplog.text
    assert heard == [LEDGER, LEDGER]  # the one subscribed before and after the broken one
    with db.read() as session:
        assert entries.current_balance(session) == Decimal(1_000_000)


def test_a_change_kept_outside_the_file_is_announced_the_same_way(
    db: Database, heard: list[Changes]
) -> None:
    db.announce(SETTINGS)  # a key saved in the OS key store
    db.announce(NOTHING)
    assert heard == [SETTINGS]


@pytest.mark.parametrize(
    ("statement", "table"),
    [
        ("INSERT INTO transactions (a) VALUES (?)", ("transactions", False)),
        ('INSERT OR REPLACE INTO "settings" (key) VALUES (?)', ("settings", False)),
        ("REPLACE INTO budgets VALUES (1)", ("budgets", False)),
        ("update main.balance SET credits = 1", ("balance", False)),
        ("DELETE FROM alert_log WHERE key = ?", ("alert_log", False)),
        ("INSERT INTO requests (a) VALUES (?) RETURNING id", ("requests", True)),
        ("WITH x AS (SELECT 1) DELETE FROM messages", (watch._UNKNOWN, False)),
    ],
)
def test_the_table_a_statement_writes_is_read_from_its_sql(
    statement: str, table: tuple[str, bool]
) -> None:
    assert watch.written_table(statement) == table
    assert Changes.of_tables([watch._UNKNOWN]) == EVERYTHING  # unsure: every view refreshes
