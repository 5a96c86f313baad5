"""Running core work off the GUI thread and getting the answer back as a signal.

Database work goes to a pool of one thread, so writes queue in order, as Anki's task manager does;
the GUI thread never waits on SQLite or the network.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal


class TaskSignals(QObject):
    """Signals of one task; they live in the GUI thread, so slots run there.

    Signals:
        finished(object): the function's return value.
        failed(object): the exception it raised (never swallowed).
    """

    finished = Signal(object)
    failed = Signal(object)


class _Task(QRunnable):
    def __init__(self, function: Callable[[], Any], signals: TaskSignals) -> None:
        super().__init__()
        self._function = function
        self.signals = signals

    def run(self) -> None:
        try:
            result = self._function()
        except Exception as error:  # handed to the GUI thread, which decides what to show
            self.signals.failed.emit(error)
        else:
            self.signals.finished.emit(result)


class TaskRunner(QObject):
    """Runs functions on a private thread pool (one thread by default: ordered writes)."""

    def __init__(self, parent: QObject | None = None, *, threads: int = 1) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        self._live: set[TaskSignals] = set()

    def run(
        self,
        function: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        """Call ``function`` on the pool; then ``on_done(result)`` or ``on_error(exc)`` here."""
        signals = TaskSignals()
        self._live.add(signals)  # keep the QObject alive until its signal has been delivered
        signals.finished.connect(on_done)
        signals.failed.connect(on_error)
        signals.finished.connect(lambda _: self._live.discard(signals))
        signals.failed.connect(lambda _: self._live.discard(signals))
        self._pool.start(_Task(function, signals))

    def wait(self, timeout_ms: int = 10_000) -> bool:
        """Block until queued tasks are done (used when the app closes)."""
        return self._pool.waitForDone(timeout_ms)
