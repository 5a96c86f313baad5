"""One window per ledger: a lock file beside it, taken over when its owner has died.

Two windows on one ledger would not lose money (every write is its own ``BEGIN IMMEDIATE``
transaction in WAL mode), but each would show stale figures and both would raise the same
alerts. So the app holds ``<ledger>.lock`` (a :class:`QLockFile`) while it runs, and a second
launch on the same ledger asks the running app to bring its window to the front (a
:class:`QLocalServer` named after the ledger, :class:`RaiseRequests`), then exits; where no app
answers, it says who holds the lock. The command-line tools take no lock: they are safe
beside the running app (WAL, ``BEGIN IMMEDIATE``, a busy timeout) and the app shows their changes
the next time it reads.

A lock left by a crashed app is stale (the process in it is gone) and is taken over. Stale-by-age
is off: an app that has been open for a week still owns its ledger.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject, Signal

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


def server_name(ledger: Path) -> str:
    """The running app's local socket name: one per ledger file, short enough for any OS."""
    digest = hashlib.sha256(str(ledger.resolve()).encode()).hexdigest()[:16]
    return f"tallybook-{digest}"


class RaiseRequests(QObject):
    """The running app listening for a second launch on its ledger.

    Signals:
        requested(): a second launch asked for the window (bring it to the front).
    """

    requested = Signal()

    def __init__(self, ledger: Path, parent: QObject | None = None) -> None:
        from PySide6.QtNetwork import QLocalServer  # only once the window is up: 70 ms

        super().__init__(parent)
        name = server_name(ledger)
        QLocalServer.removeServer(name)  # a socket file a crashed app left (we hold the lock)
        self._server = QLocalServer(self)
        self._server.newConnection.connect(self._on_server_new_connection)
        self._server.listen(name)

    def _on_server_new_connection(self) -> None:
        while (connection := self._server.nextPendingConnection()) is not None:
            connection.disconnected.connect(connection.deleteLater)
            connection.close()
            self.requested.emit()


def ask_to_raise(ledger: Path, timeout_ms: int = 1_000) -> bool:
    """Ask the app running on ``ledger`` to show its window; whether one answered."""
    from PySide6.QtNetwork import QLocalSocket

    socket = QLocalSocket()
    socket.connectToServer(server_name(ledger))
    answered = socket.waitForConnected(timeout_ms)
    socket.abort()
    return answered
