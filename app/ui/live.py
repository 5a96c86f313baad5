"""A live ledger: every write, whoever makes it, reaches the views that show what it changed.

The ledger announces each commit of this process itself (:meth:`Database.subscribe`), from
whichever thread wrote; :class:`LedgerFeed` passes those on as ``AppEvents.changed`` (a signal
emitted off the GUI thread is queued to it) and, once a second, asks the ledger on the database
thread whether another process wrote (the CLI, ``tallybook serve``). Each view follows the kinds it
shows through a :class:`ChangeThrottle`: the first change refreshes at once, a burst (a reply
settling in several writes, many tools at once) at most once per interval.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, SignalInstance

from app.core.errors import DatabaseLocked
from app.core.storage.changes import NOTHING, Changes
from app.core.storage.db import Database
from app.ui.workers import TaskRunner

logger = logging.getLogger(__name__)

POLL_MS = 1000
"""How often another process's writes are looked for (a look costs ~50 us on an idle file)."""
REFRESH_MS = 1000
"""A view re-reads at most this often while changes keep coming."""


class LedgerFeed(QObject):
    """Turns the ledger's announcements, ours and other processes', into one signal."""

    def __init__(
        self,
        db: Database,
        tasks: TaskRunner,
        changed: SignalInstance,
        parent: QObject | None = None,
        *,
        poll_ms: int = POLL_MS,
    ) -> None:
        super().__init__(parent)
        self._db = db
        self._tasks = tasks
        self._looking = False
        self._unsubscribe: Callable[[], None] | None = db.subscribe(changed.emit)
        self._timer = QTimer(self, interval=poll_ms)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._timer.start()

    def close(self) -> None:
        """Stop looking and listening (the app is closing)."""
        self._timer.stop()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _on_timer_timeout(self) -> None:
        # On the database thread: a look never waits for our own writes, but SQLite may still
        # make it wait on a file another program holds, and the window must not freeze then.
        if not self._looking:
            self._looking = True
            self._tasks.run(self._db.notice_foreign_writes, self._on_looked, self._on_look_failed)

    def _on_looked(self, _found: Changes) -> None:
        self._looking = False  # what was found was announced through the subscription

    def _on_look_failed(self, error: BaseException) -> None:
        self._looking = False
        if not isinstance(error, DatabaseLocked):  # busy now: the next look will see it
            logger.warning("looking for other programs' writes failed: %s", error)


class ChangeThrottle(QObject):
    """Calls ``refresh(changes)`` when a kind in ``kinds`` changed: at once, then at most once
    per ``interval_ms`` with everything that changed meanwhile (a leading-edge throttle, so a
    reply streaming for a minute cannot starve a view the way a restarting debounce would)."""

    def __init__(
        self,
        changed: SignalInstance,
        kinds: Changes,
        refresh: Callable[[Changes], None],
        parent: QObject,
        *,
        interval_ms: int = REFRESH_MS,
    ) -> None:
        super().__init__(parent)
        self._kinds = kinds
        self._refresh = refresh
        self._pending = NOTHING
        self._timer = QTimer(self, singleShot=True, interval=interval_ms)
        self._timer.timeout.connect(self._on_timer_timeout)
        changed.connect(self._on_changed)

    def _on_changed(self, changes: Changes) -> None:
        wanted = changes & self._kinds
        if not wanted:
            return
        if self._timer.isActive():
            self._pending |= wanted
            return
        self._timer.start()
        self._refresh(wanted)

    def _on_timer_timeout(self) -> None:
        pending, self._pending = self._pending, NOTHING
        if pending:
            self._timer.start()
            self._refresh(pending)
