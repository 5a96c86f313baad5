"""Running core work off the GUI thread and getting the answer back as signals.

Database writes go to a pool of one thread, so they queue in order, as Anki's task manager does;
reads go to a small pool of their own, side by side (WAL), so a slow query holds back no other;
streams run on their own threads, one per reply, emitting a signal per delta (the shape of
superqt's generator worker, used by napari). The GUI thread never waits on SQLite or the network.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
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
        self._live: set[QObject] = set()
        self._held: list[QRunnable] | None = None

    def run(
        self,
        function: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Call ``function`` on the pool; then ``on_done(result)`` or ``on_error(exc)`` here."""
        signals = TaskSignals()
        self._keep(signals, signals.finished, signals.failed)
        if on_done is not None:
            signals.finished.connect(on_done)
        if on_error is not None:
            signals.failed.connect(on_error)
        self._start(_Task(function, signals))

    def hold(self) -> None:
        """Queue what is run from now on without starting it, until :meth:`release`.

        A window holds its loads until it has painted once: Python threads share one
        interpreter lock, so queries starting at once would hold back the first paint.
        """
        if self._held is None:
            self._held = []

    def release(self) -> None:
        """Start what was held, in order (nothing, if nothing is held)."""
        held, self._held = self._held or [], None
        for task in held:
            self._pool.start(task)

    def _start(self, task: QRunnable) -> None:
        if self._held is None:
            self._pool.start(task)
        else:
            self._held.append(task)

    def stream(
        self,
        make: Callable[[threading.Event], Generator[Any, None, None]],
        on_item: Callable[[Any], None],
        on_finished: Callable[[], None],
        on_failed: Callable[[BaseException], None],
    ) -> StreamHandle:
        """Run a generator on the pool, one ``on_item`` call per yielded value; cancellable.

        The callbacks are connected before the generator starts, so even an instant refusal
        reaches them.
        """
        handle = StreamHandle()
        self._keep(handle, handle.finished, handle.failed)
        handle.item.connect(on_item)
        handle.finished.connect(on_finished)
        handle.failed.connect(on_failed)
        self._pool.start(_StreamTask(make, handle))
        return handle

    @property
    def pending(self) -> int:
        """Tasks started whose answer has not reached the GUI thread yet (all loads done at 0)."""
        return len(self._live)

    def wait(self, timeout_ms: int = 10_000) -> bool:
        """Block until queued tasks are done (used when the app closes)."""
        return self._pool.waitForDone(timeout_ms)

    def _keep(self, holder: QObject, *ends: Any) -> None:
        """Keep the signal holder alive until its last signal has been delivered."""
        self._live.add(holder)
        for end in ends:
            end.connect(lambda *_: self._live.discard(holder))


class StreamHandle(QObject):
    """A running stream: its signals, and how to stop it.

    Signals:
        item(object): one yielded value (a text delta, then the final record).
        finished(): the generator ended (normally or after :meth:`cancel`).
        failed(object): the generator raised; the exception.
    """

    item = Signal(object)
    finished = Signal()
    failed = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.cancelled = threading.Event()

    def cancel(self) -> None:
        """Ask the stream to stop; what already arrived is kept (and, for replies, charged)."""
        self.cancelled.set()


class _StreamTask(QRunnable):
    def __init__(
        self, make: Callable[[threading.Event], Generator[Any, None, None]], handle: StreamHandle
    ) -> None:
        super().__init__()
        self._make = make
        self._handle = handle

    def run(self) -> None:
        try:
            for value in self._make(self._handle.cancelled):
                self._handle.item.emit(value)
        except Exception as error:
            self._handle.failed.emit(error)
        else:
            self._handle.finished.emit()
