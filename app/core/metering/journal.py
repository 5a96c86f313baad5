"""Who journaled a request: a lock file per metering client, held for as long as it runs.

A request is journaled (``pending``) before it is sent. If the process dies mid-stream, the
request stays pending; the next metering client finds it, sees that its owner's lock file can be
taken (the operating system released the lock when the process died), and charges it from the
reply text saved so far. A request whose owner still holds its lock is in flight in another
process or thread and is left alone.
"""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path

from filelock import FileLock, Timeout

FOLDER = ".tallybook-journal"


class JournalOwner:
    """This client's claim on the requests it journals."""

    def __init__(self, ledger: Path) -> None:
        self.id = uuid.uuid4().hex
        self._path = lock_path(ledger, self.id)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(self._path)
        self._lock.acquire()

    def release(self) -> None:
        """Give up the claim (the client is closing; nothing of its is pending any more)."""
        self._lock.release()
        with contextlib.suppress(OSError):
            self._path.unlink()


def lock_path(ledger: Path, owner: str) -> Path:
    """The lock file of one owner, next to the ledger."""
    return ledger.parent / FOLDER / f"{owner}.lock"


def is_alive(ledger: Path, owner: str | None) -> bool:
    """Whether the owner of a pending request still runs (holds its lock)."""
    if owner is None:
        return False
    path = lock_path(ledger, owner)
    if not path.exists():
        return False
    probe = FileLock(path)
    try:
        probe.acquire(timeout=0)
    except Timeout:
        return True
    probe.release()
    with contextlib.suppress(OSError):
        path.unlink()
    return False
