"""Telling what a write changed, and whether someone else wrote: :class:`CommitWatch`.

It listens on the engine of the one connection this process writes through. After each
statement it compares SQLite's ``total_changes`` with the count before, so a table is recorded
only when rows in it really changed (a ``DELETE`` that matched nothing records nothing), whoever
issued the statement: an ORM flush, a Core ``insert()``, or a string of SQL. SQLite counts the
changes of a statement with ``RETURNING`` only once its rows are read, so such a statement
records its table whether or not it matched a row.

Other writers (the CLI, ``tallybook serve``, a second device) are found with
``PRAGMA data_version``, whose value on a connection changes exactly when *another* connection
commits. Asked on the writing connection itself, our own commits never move it, so every move is
a foreign write: read once when each write transaction begins (holding the write lock, so none can
slip in until the commit) and on demand by :meth:`CommitWatch.look` between writes.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from typing import Any

from sqlalchemy import Connection, Engine, event

from app.core.storage.changes import EVERYTHING, NOTHING, Changes

_WRITE = re.compile(
    r"\s*(?:INSERT|REPLACE|UPDATE|DELETE)(?:\s+OR\s+\w+)?(?:\s+INTO|\s+FROM)?\s+"
    r"(?:[\"`\[]?\w+[\"`\]]?\.)?[\"`\[]?(\w+)",
    re.IGNORECASE,
)
_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)
_UNKNOWN = "?"
"""Recorded for a statement that changed rows but names no table we can read (a CTE, DDL)."""


@functools.lru_cache(maxsize=512)
def written_table(statement: str) -> tuple[str, bool]:
    """The table a statement writes to (:data:`_UNKNOWN` when unsure), and whether it is a
    write with ``RETURNING``."""
    match = _WRITE.match(statement)
    if match is None:
        return _UNKNOWN, False
    return match.group(1).lower(), _RETURNING.search(statement) is not None


@functools.lru_cache(maxsize=64)
def _of_tables(tables: frozenset[str]) -> Changes:
    return Changes.of_tables(tables)


class CommitWatch:
    """What the current write changed, and whether another connection committed meanwhile.

    Not thread-safe by itself: the :class:`~app.core.storage.db.Database` calls it only while
    holding its write lock, as every use of the writing connection does.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._tables: set[str] = set()
        self._before = 0  # total_changes when the last statement started
        self._foreign = False
        self._seen: tuple[sqlite3.Connection, int] | None = None
        event.listen(engine, "begin", self._on_begin)  # after the engine's own BEGIN IMMEDIATE
        event.listen(engine, "before_cursor_execute", self._on_before_cursor_execute)
        event.listen(engine, "after_cursor_execute", self._on_after_cursor_execute)
        self.look()  # the baseline: what the file held when it was opened

    def look(self) -> None:
        """Check (outside a write) whether another connection committed since the last look."""
        raw = self._engine.raw_connection()
        try:
            driver = raw.driver_connection
            assert isinstance(driver, sqlite3.Connection)
            self._compare(driver)
        finally:
            raw.close()

    def take(self, *, committed: bool) -> Changes:
        """The changes to announce for the write that just ended, and start afresh.

        A rolled-back write changed nothing, but a foreign commit seen before it is still news.
        """
        changes = _of_tables(frozenset(self._tables)) if committed else NOTHING
        if self._foreign:
            changes = EVERYTHING
        self._tables.clear()
        self._foreign = False
        return changes

    def _compare(self, driver: sqlite3.Connection) -> None:
        version: int = driver.execute("PRAGMA data_version").fetchone()[0]
        seen, self._seen = self._seen, (driver, version)
        if seen is not None and (seen[0] is not driver or seen[1] != version):
            # A replaced connection starts counting afresh: unknown, so assume the worst.
            self._foreign = True

    def _on_begin(self, connection: Connection) -> None:
        driver = connection.connection.driver_connection
        assert isinstance(driver, sqlite3.Connection)
        self._compare(driver)

    def _on_before_cursor_execute(
        self, _conn: Connection, cursor: Any, *_args: Any, **_kwargs: Any
    ) -> None:
        self._before = cursor.connection.total_changes

    def _on_after_cursor_execute(
        self, _conn: Connection, cursor: Any, statement: str, *_args: Any, **_kwargs: Any
    ) -> None:
        table, returning = written_table(statement)
        if returning or cursor.connection.total_changes != self._before:
            self._tables.add(table)
