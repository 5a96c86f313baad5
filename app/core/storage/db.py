"""Opening the ledger file: engine, pragmas, sessions, migrations and error translation.

Every connection runs with foreign keys on, WAL journaling and ``synchronous=FULL`` (a committed
top-up or spend survives a power cut). Writers start with ``BEGIN IMMEDIATE`` so two writers queue
on the busy timeout instead of failing on a lock upgrade; readers never block writers (WAL).

This process writes through one connection, one write at a time (SQLite allows one writer per
file anyway), so every commit can be announced: :meth:`Database.subscribe` hears the
:class:`~app.core.storage.changes.Changes` of each write once it is committed, whoever made it
(a window, the chat service, the metering client, the local endpoint), and the writes of other
processes once :meth:`Database.notice_foreign_writes` or the next write finds them.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.orm import Session, sessionmaker

from app.core.errors import (
    DatabaseCorrupt,
    DatabaseError,
    DatabaseLocked,
    DatabaseTooNew,
)
from app.core.storage.changes import NOTHING, Changes
from app.core.storage.watch import CommitWatch

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
BUSY_TIMEOUT_S = 5.0

Subscriber = Callable[[Changes], None]


class Database:
    """One ledger file, upgraded to the current schema when opened.

    Use :meth:`read` for queries and :meth:`write` for changes; both yield a session inside a
    transaction that commits on success and rolls back on any exception.
    """

    def __init__(self, path: Path, *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.path = path
        self._busy_timeout_s = busy_timeout_s
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DatabaseError(
                f"Cannot create the data folder {path.parent}: {error.strerror}."
            ) from None
        with translate_errors(path):
            refuse_foreign_file(path)
        self.engine = _make_engine(path, busy_timeout_s)
        try:
            with translate_errors(path):
                upgrade_schema(self.engine, path)
        except BaseException:
            self.engine.dispose()  # no connection left holding a file the caller cannot use
            raise
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        # One connection for every write of this process: its data_version moves only when
        # another connection commits, which is how foreign writes are told from ours.
        self._write_engine = _make_engine(path, busy_timeout_s, writer=True)
        self._writer = sessionmaker(self._write_engine, expire_on_commit=False)
        self._write_lock = threading.Lock()
        self._subscribers: list[Subscriber] = []
        try:
            with translate_errors(path):
                self._watch = CommitWatch(self._write_engine)
        except BaseException:
            self.close()
            raise

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        """A session for queries; it sees one consistent snapshot of the file."""
        with translate_errors(self.path), self._reader.begin() as session:
            yield session

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """A session holding the file's write lock until it commits or rolls back.

        After the commit (and after releasing the lock) the subscribers hear what it changed;
        after a rollback they hear nothing, unless another process's commit was found meanwhile.

        Raises:
            DatabaseLocked: another write (of this process or another) held the file for longer
                than the busy timeout; nothing was changed.
        """
        if not self._write_lock.acquire(timeout=self._busy_timeout_s):
            raise _locked(self.path)
        committed = False
        try:
            with translate_errors(self.path), self._writer.begin() as session:
                yield session
            committed = True
        finally:
            changes = self._watch.take(committed=committed)
            self._write_lock.release()
            self._announce(changes)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(changes)`` for every announced change; returns the unsubscribe.

        It runs on the thread that wrote (any thread), after the write lock is released, once
        per write transaction that changed rows, and once per batch of foreign writes found.
        What it raises is logged: the write it reports is committed either way.
        """
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def announce(self, changes: Changes) -> None:
        """Tell the subscribers about a change kept outside this file (the OS key store)."""
        self._announce(changes)

    def notice_foreign_writes(self) -> Changes:
        """Announce commits other connections made since the last look; the changes found.

        It never waits for this process's writes: while one runs it returns at once (that write
        looked when it began, and the next call catches anything committed after it).
        """
        if not self._write_lock.acquire(blocking=False):
            return NOTHING
        try:
            with translate_errors(self.path):
                self._watch.look()
            changes = self._watch.take(committed=False)
        finally:
            self._write_lock.release()
        self._announce(changes)
        return changes

    def close(self) -> None:
        """Release every pooled connection (and with it the WAL files when last)."""
        self._write_engine.dispose()
        self.engine.dispose()

    def _announce(self, changes: Changes) -> None:
        if not changes:
            return
        for callback in list(self._subscribers):
            try:
                callback(changes)
            except Exception:
                logger.exception("a subscriber to the ledger's changes failed")


def _make_engine(path: Path, busy_timeout_s: float, *, writer: bool = False) -> Engine:
    engine = create_engine(
        f"sqlite:///{path}",
        connect_args={"timeout": busy_timeout_s, "check_same_thread": False},
        **({"pool_size": 1, "max_overflow": 0} if writer else {}),
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred and late).
        dbapi_connection.isolation_level = None
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            "PRAGMA foreign_keys=ON",
            f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}",
        ):
            dbapi_connection.execute(pragma)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

    return engine


@contextlib.contextmanager
def translate_errors(path: Path) -> Iterator[None]:
    """Turn SQLite's failures into the app's own errors, naming the file and what to do."""
    try:
        yield
    except exc.DBAPIError as error:
        raise _translate(error.orig, path) from error
    except sqlite3.Error as error:
        raise _translate(error, path) from error


def _translate(error: BaseException | None, path: Path) -> DatabaseError:
    text = str(error).lower()
    if "locked" in text or "busy" in text:
        return _locked(path)
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return DatabaseCorrupt(
            f"{path} is not a Tallybook ledger or is damaged; it was left untouched. "
            "Move it aside or point --data-dir elsewhere."
        )
    if "readonly" in text or "read-only" in text:
        return DatabaseError(
            f"The ledger {path} is read-only; nothing was changed. Make the file, its folder "
            f"and any {path.name}-wal and {path.name}-shm files beside it writable."
        )
    if "unable to open" in text:
        return DatabaseError(
            f"Cannot open the ledger {path}: check the folder exists and is writable."
        )
    return DatabaseError(f"The ledger {path} could not be used: {error}.")


def _locked(path: Path) -> DatabaseLocked:
    return DatabaseLocked(
        f"The ledger {path} is locked by another program (another Tallybook?). "
        "Close it and try again; nothing was changed."
    )


def upgrade_schema(engine: Engine, path: Path) -> None:
    """Bring the file to the newest schema, in place, keeping every row.

    A file that already has data gets a copy (``<name>.before-<revision>.bak``) before any
    migration runs; SQLite runs each migration inside a transaction, so a failure rolls back.
    An upgraded file is compacted (``VACUUM``) afterwards.

    Raises:
        DatabaseTooNew: the file names a schema revision this version does not ship.
    """
    with engine.connect() as connection:
        current = _stored_revision(connection)
    if current == newest_revision():
        return  # the common case, decided without importing alembic (a third of a cold start)
    from alembic import command
    from alembic.script import ScriptDirectory

    config = _alembic_config()
    script = ScriptDirectory.from_config(config)
    head = script.get_current_head()
    if current is not None and current not in {rev.revision for rev in script.walk_revisions()}:
        raise DatabaseTooNew(
            f"{path} was written by a newer Tallybook (schema {current}); this version knows up "
            f"to {head}. Update Tallybook; the file was left untouched."
        )
    if current is not None:
        backup = path.with_name(f"{path.name}.before-{head}.bak")
        _backup(engine, backup)
    with engine.connect() as connection:
        # SQLite rebuilds a table to alter it; with foreign keys on, dropping the old copy of a
        # referenced table fails. Off for the migration (it must be set outside a transaction,
        # hence on the driver's connection), then every reference is checked before committing.
        raw = connection.connection.driver_connection
        assert raw is not None
        raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise DatabaseError(
                        f"Upgrading {path} would break {len(broken)} references; rolled back."
                    )
        finally:
            raw.execute("PRAGMA foreign_keys=ON")
        if current is not None:
            # Rebuilding a table (batch mode) leaves the old pages free and the new rows out of
            # order: a year's ledger then reads a quarter slower. Compacting it once, after the
            # upgrade is committed, restores that (seconds for a million transactions).
            raw.execute("VACUUM")


def newest_revision() -> str:
    """The newest schema this version ships: each migration's revision is its file's name."""
    return max(path.stem for path in (MIGRATIONS_DIR / "versions").glob("[0-9]*.py"))


def _stored_revision(connection: Connection) -> str | None:
    """The schema revision the file records (``None`` for a new, empty file)."""
    has_table = connection.exec_driver_sql(
        "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'alembic_version'"
    ).first()
    if has_table is None:
        return None
    return connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def refuse_foreign_file(path: Path) -> None:
    """Refuse another program's SQLite file before a write connection touches it.

    Opening it for writing would already change it (WAL mode rewrites the header), so this looks
    through a read-only connection: tables but no ``alembic_version`` is not a ledger.

    Raises:
        DatabaseError: it is some other program's database; not :class:`DatabaseCorrupt`, so it
            is never moved aside as a damaged ledger would be.
    """
    if not path.is_file() or path.stat().st_size == 0:
        return
    with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as reader:
        names = {row[0] for row in reader.execute("SELECT name FROM sqlite_schema")}
    if names and "alembic_version" not in names:
        raise DatabaseError(
            f"{path} is another program's database, not a Tallybook ledger; it was left "
            "untouched. Point --data-dir (or TALLYBOOK_HOME) at another folder."
        )


def _backup(engine: Engine, target: Path) -> None:
    """A consistent copy of the live file (SQLite's online backup, safe with WAL)."""
    partial = target.with_suffix(".partial")
    with engine.connect() as connection:
        source = connection.connection.driver_connection
        assert source is not None
        with contextlib.closing(sqlite3.connect(partial)) as copy:
            source.backup(copy)
    shutil.move(partial, target)


def _alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config
