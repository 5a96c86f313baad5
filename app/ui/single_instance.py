"""One window per ledger: a lock file beside it, taken over when its owner has died.

Two windows on one ledger would not lose money (every write is its own ``BEGIN IMMEDIATE``
transaction in WAL mode), but each would show stale figures and both would raise the same
alerts. So the app holds ``<ledger>.lock`` (a :class:`QLockFile`) while it runs, and a second
window on the same ledger says so and exits. The command-line tools take no lock: they are safe
beside the running app (WAL, ``BEGIN IMMEDIATE``, a busy timeout) and the app shows their changes
the next time it reads.

A lock left by a crashed app is stale (the process in it is gone) and is taken over. Stale-by-age
is off: an app that has been open for a week still owns its ledger.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QLockFile

from app.core.errors import TallybookError

ALREADY_RUNNING = "Tallybook is already running with this ledger"


class AlreadyRunning(TallybookError):
    """Another live Tallybook window holds this ledger's lock."""


def lock_path(ledger: Path) -> Path:
    """Where the lock for a ledger file lives: beside it, ``<name>.lock``."""
    return ledger.with_name(ledger.name + ".lock")


def acquire(ledger: Path) -> QLockFile:
    """Take the ledger's lock, or say who has it; keep the result alive while the app runs.

    Raises:
        AlreadyRunning: another running Tallybook holds it (nothing was changed).
        TallybookError: the lock file cannot be written (the folder is read-only...).
    """
    path = lock_path(ledger)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise TallybookError(
            f"Cannot create the data folder {path.parent}: {error.strerror}."
        ) from None
    lock = QLockFile(str(path))
    lock.setStaleLockTime(0)  # stale only when its process is gone, never by age
    if lock.tryLock(0):
        return lock
    if lock.error() == QLockFile.LockError.LockFailedError:
        pid, _host, _app = lock.getLockInfo()
        owner = f", process {pid}" if pid else ""
        raise AlreadyRunning(
            f"{ALREADY_RUNNING} ({ledger}{owner}). Switch to that window, or close it "
            "first; the command-line tools can be used meanwhile."
        )
    raise TallybookError(f"Cannot create the lock file {path}: check the folder is writable.")
