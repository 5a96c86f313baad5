"""What every window and dialog shares: the ledger, the chat service, workers, change signals."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from app.core.chats import Chats
from app.core.metering.client import MeteringClient
from app.core.storage.db import Database
from app.servers.emulator.demo import OfflineDemo
from app.ui.workers import TaskRunner


class AppEvents(QObject):
    """Changes are announced once, here; each view refreshes only what it shows.

    Signals:
        ledger_changed(): money moved (a reply settled, credits added, balance rules changed).
        conversations_changed(): a conversation was created, renamed, deleted or got a message.
        settings_changed(): keys, endpoints, prices or budgets changed.
        alert(object): an :class:`app.core.ledger.alerts.Alert` to show (banner and notification).
    """

    ledger_changed = Signal()
    conversations_changed = Signal()
    settings_changed = Signal()
    alert = Signal(object)


@dataclass
class AppContext:
    """Built once by the launcher; widgets receive it instead of globals."""

    db: Database
    chats: Chats
    tasks: TaskRunner
    """One thread: database reads and writes, in order."""
    streams: TaskRunner
    """Several threads: replies streaming at once, provider calls."""
    events: AppEvents
    demo: OfflineDemo
    """The offline demo provider, started when a request first goes to it."""

    @classmethod
    def create(cls, db: Database, parent: QObject | None = None) -> AppContext:
        """The context for a ledger, with its own metering client and workers."""
        return cls(
            db=db,
            chats=Chats(db, MeteringClient(db)),
            tasks=TaskRunner(parent),
            streams=TaskRunner(parent, threads=4),
            events=AppEvents(parent),
            demo=OfflineDemo().open(),
        )

    def close(self) -> None:
        """Wait for running work, then close the HTTP client and stop the demo."""
        self.streams.wait()
        self.tasks.wait()
        self.chats.metering.close()
        self.demo.close()
