"""A damaged ledger is kept aside, never deleted or overwritten, so the app can start afresh.

The file is renamed next to itself as ``<name>.corrupt-<UTC time>`` (``tallybook.sqlite3.corrupt-
20260131T120000Z``), together with its ``-wal``, ``-shm`` and ``-journal`` companions under the
matching names: SQLite pairs a database with the WAL of the same name, so the kept set opens as
it was (for a repair tool), and a stale WAL can never be replayed into the new, empty ledger.
A name already taken gets a counter (``...Z-2``): nothing is ever replaced.
"""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from app.core.errors import DatabaseCorrupt, DatabaseError
from app.core.storage.db import Database

COMPANIONS = ("-wal", "-shm", "-journal")
"""SQLite's files beside a database, named by appending these to its name."""


def keep_aside(path: Path, *, now: datetime | None = None) -> Path:
    """Rename a damaged ledger (and its companions) aside; returns where the ledger now is.

    Raises:
        DatabaseError: it could not be renamed (nothing was changed; the message says why).
    """
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    base = f"{path.name}.corrupt-{stamp}"
    target = path.with_name(base)
    counter = 1
    while any(path.with_name(target.name + s).exists() for s in ("", *COMPANIONS)):
        counter += 1
        target = path.with_name(f"{base}-{counter}")
    moved: list[tuple[Path, Path]] = []
    try:
        for suffix in ("", *COMPANIONS):
            source = path.with_name(path.name + suffix)
            if source.exists():
                _move_without_replacing(source, path.with_name(target.name + suffix))
                moved.append((source, path.with_name(target.name + suffix)))
    except OSError as error:
        for source, moved_to in reversed(moved):  # back as it was: all or nothing
            with contextlib.suppress(OSError):
                _move_without_replacing(moved_to, source)
        raise DatabaseError(
            f"{path} is damaged and could not be moved aside ({error.strerror}); it was left "
            "untouched. Move it yourself or point --data-dir elsewhere."
        ) from None
    return target


@dataclass
class Opened:
    """A ledger ready to use, and where a damaged one was kept, if there was one."""

    db: Database
    kept: Path | None = None

    def notice(self) -> str | None:
        """What to tell the user about a kept file (``None`` when nothing was kept)."""
        if self.kept is None:
            return None
        return (
            f"The ledger {self.db.path} was damaged. It was kept, unchanged, as {self.kept}, "
            "and Tallybook started with a new, empty ledger."
        )


def open_or_keep_aside(path: Path, *, now: datetime | None = None) -> Opened:
    """Open the ledger; if it is damaged, keep it aside and start a new one in its place.

    Raises:
        DatabaseError: any other reason the ledger cannot be used (locked, read-only, from a
            newer version), or the damaged file could not be moved; nothing was changed.
    """
    try:
        return Opened(Database(path))
    except DatabaseCorrupt:
        pass  # moved aside below, once the failed attempt (and its connections) is let go
    kept = keep_aside(path, now=now)
    return Opened(Database(path), kept)


def _move_without_replacing(source: Path, target: Path) -> None:
    """Rename, failing (``FileExistsError``) rather than replacing a file already there."""
    try:
        os.link(source, target)  # fails if target exists, unlike a POSIX rename
    except FileExistsError:
        raise
    except OSError:  # no hard links on this file system: check, then rename
        if target.exists():
            raise FileExistsError(errno.EEXIST, "File exists", str(target)) from None
        source.rename(target)
        return
    source.unlink()
