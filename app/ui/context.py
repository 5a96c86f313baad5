"""What every window and dialog shares: the ledger, the chat service, workers, change signals."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from app.core.chats import Chats
from app.core.metering.client import MeteringClient
from app.core.storage.db import Database
from app.servers.emulator.demo import OfflineDemo
from app.ui.live import LedgerFeed
from app.ui.workers import TaskRunner

READ_THREADS = 3
"""The window's loads at launch (list, balance, dashboard, transactions) need not queue."""


class AppEvents(QObject):
    """Changes are announced once, here; each view refreshes only what it shows.

    Signals:
        changed(object): the :class:`~app.core.storage.changes.Changes` of a commit: this
            process's as it commits, another process's within a second (:mod:`app.ui.live`).
            It may be emitted from any thread; receivers run on the GUI thread.
        alert(object): an :class:`app.core.ledger.alerts.Alert` to show (banner and notification).
    """

    changed = Signal(object)
    alert = Signal(object)


@dataclass
class AppContext:
    """Built once by the launcher; widgets receive it instead of globals."""

    db: Database
    chats: Chats
    tasks: TaskRunner
    """One thread: database writes, in order (the file has one writer at a time anyway)."""
    reads: TaskRunner
    """A few threads: queries side by side (WAL lets readers run beside the writer)."""
    streams: TaskRunner
    """Several threads: replies streaming at once, provider calls."""
    events: AppEvents
    demo: OfflineDemo
    """The offline demo provider, started when a request first goes to it."""
    feed: LedgerFeed
    """Every commit to the ledger, ours or another program's, as ``events.changed``."""

    @classmethod
    def create(cls, db: Database, parent: QObject | None = None) -> AppContext:
        """The context for a ledger, with its own metering client and workers."""
        tasks = TaskRunner(parent)
        events = AppEvents(parent)
        return cls(
            db=db,
            chats=Chats(db, MeteringClient(db)),
            tasks=tasks,
            reads=TaskRunner(parent, threads=READ_THREADS),
            streams=TaskRunner(parent, threads=4),
            events=events,
            demo=OfflineDemo().open(),
            feed=LedgerFeed(db, tasks, events.changed, parent),
        )

    def close(self) -> None:
        """Wait for running work, then close the HTTP client and stop the demo."""
        self.feed.close()
        self.streams.wait()
        self.tasks.wait()
        self.reads.wait()
        self.chats.metering.close()
        self.demo.close()
