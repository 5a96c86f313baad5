"""The main window at scale: opening a 1,000-message conversation, and a fast reply streaming.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_window.py [--ledger PATH]
        [--messages 1000] [--tokens 4000] [--rate 200] [--repeats 5]

Adds one conversation of ``--messages`` messages (long Markdown replies with code, each charged;
``tests/support/long_conversation.py``) to a copy of ``--ledger`` (e.g. the 1,000,000-transaction
demo ledger: ``tallybook --data-dir DIR demo-data --rows 1000000 --days 365``) or to a new one,
opens the real main window offscreen and prints one line per measure, ``name: figure (target
...)``, with its baseline from the same run:

- ready: from ``MainWindow.show()`` to its first paint, and until every load the window started
  (conversation list, balance, the chat's menu and quote, settings) has answered; then, for the
  dashboard and the transactions tab, from choosing the tab (its view built then, as for a
  click) until its loads (figures; rows, totals and filter menus) have answered and painted. Baseline: the raw ``sqlite3`` count of
  the ledger's transactions.

- open: from ``ChatView.open_conversation`` until its newest reply is on screen and painted
  (the read on the pool included), median of ``--repeats`` after a first one (printed too:
  it also starts Qt's text machinery); baselines: the raw ``sqlite3`` read of the
  conversation's messages, ``load_conversation`` (its first page, costs and settings) and one
  reply's ``QTextBrowser.setMarkdown`` laid out.
- streaming: the GUI thread's CPU time over the wall time of a ``--tokens`` reply arriving at
  ``--rate`` tokens per second from the offline demo's emulator (``/words N``, a chunk delay
  chosen for that rate), sent from the composer of the long conversation; then what rendering
  it parsed (the reply's :class:`~app.ui.chat.message.RenderTally`) against parsing the whole
  reply at each render, and how often the other messages were rendered meanwhile (never).

Each measure is a function of :class:`Window`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from PySide6.QtCore import (
    QEvent,
    QEventLoop,
    QMessageLogContext,
    QObject,
    QSettings,
    QTimer,
    QtMsgType,
    qInstallMessageHandler,
)
from PySide6.QtWidgets import QApplication, QTextBrowser

from app.core import conversations
from app.core.counting.encodings import get_encoding
from app.core.providers import registry
from app.core.storage.db import Database
from app.core.types import ConversationId
from app.servers.emulator import Emulator
from app.servers.emulator.replies import lorem, pieces
from app.ui.chat import loading
from app.ui.context import AppContext
from app.ui.lazy_page import LazyPage
from app.ui.main_window import MainWindow

ROOT = Path(__file__).resolve().parent.parent
OPEN_TARGET_MS = 200
BUSY_TARGET = 0.30
READY_TARGET_S = 1.0


@dataclass
class Window:
    """The real main window on a ledger holding the long conversation."""

    app: QApplication
    db: Database
    path: Path
    window: MainWindow
    conversation: ConversationId
    messages: int
    context: AppContext


class _PaintWatch(QObject):
    """Quits ``loop`` once ``widget`` painted while ``ready()`` (after that paint completes)."""

    def __init__(self, loop: QEventLoop, ready: Callable[[], bool]) -> None:
        super().__init__()
        self._loop = loop
        self._ready = ready

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() == QEvent.Type.Paint and self._ready():
            QTimer.singleShot(0, self._loop.quit)  # after this frame's children are painted
        return False


def wait(app: QApplication, seconds: float) -> None:
    """Let the window run (loads answer, timers fire) for a while."""
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def median_of(repeats: int, action: Callable[[], float]) -> float:
    return statistics.median(action() for _ in range(repeats))


def idle(bench: Window) -> bool:
    """Every read and write the window started has answered (the draft's quote included)."""
    context = bench.context
    quoting = bench.window.workspace.chat.quote_pending()
    return not quoting and context.reads.pending == 0 and context.tasks.pending == 0


def until(bench: Window, done: Callable[[], bool], timeout_s: float = 60.0) -> float:
    """Run the window's event loop until ``done()``; the seconds it took."""
    start = time.perf_counter()
    while not done():
        if time.perf_counter() - start > timeout_s:
            raise RuntimeError(f"not done within {timeout_s:g} s")
        bench.app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 5)
    return time.perf_counter() - start


class _FirstPaint(QObject):
    """Notes when the watched widget is first painted."""

    def __init__(self) -> None:
        super().__init__()
        self.at: float | None = None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() == QEvent.Type.Paint and self.at is None:
            self.at = time.perf_counter()
        return False


def measure_ready(bench: Window) -> None:
    """The window shown, then its dashboard and transactions tabs, until their loads answered."""
    window = bench.window
    paint = _FirstPaint()
    window.installEventFilter(paint)
    start = time.perf_counter()
    window.show()
    loaded = until(bench, lambda: paint.at is not None and idle(bench))
    assert paint.at is not None
    first_paint = paint.at - start
    tabs = {}
    workspace = window.workspace
    for name, index in (("dashboard", 1), ("transactions", 2)):
        page = workspace.pages.widget(index)
        assert isinstance(page, LazyPage)
        start = time.perf_counter()
        workspace.pages.setCurrentIndex(index)  # as a click on the tab: the view is built too
        until(bench, lambda: page.is_built and idle(bench))  # noqa: B023
        bench.app.processEvents()  # and the figures that answered are painted
        tabs[name] = time.perf_counter() - start
    window.workspace.show_page(window.workspace.splitter)
    raw = sqlite3.connect(bench.path)
    counted = timed(lambda: raw.execute("SELECT COUNT(*) FROM transactions").fetchone())
    rows = raw.execute("SELECT COUNT(*) FROM transactions").fetchone()[0]
    conversations_count = raw.execute("SELECT COUNT(*) FROM conversations").fetchone()[0]
    raw.close()
    print(
        f"window on {rows:,} transactions, {conversations_count:,} conversations:"
        f" first paint {first_paint * 1e3:.0f} ms, every load answered {loaded * 1e3:.0f} ms;"
        f" dashboard tab {tabs['dashboard'] * 1e3:.0f} ms;"
        f" transactions tab {tabs['transactions'] * 1e3:.0f} ms"
        f" (target < {READY_TARGET_S * 1e3:.0f} ms each, first paint before any load;"
        f" raw sqlite3 COUNT(*) of the transactions {counted * 1e3:.0f} ms)"
    )


def measure_open(bench: Window, repeats: int) -> None:
    """Open the long conversation until its newest reply is painted, against two baselines."""
    chat = bench.window.workspace.chat
    with bench.db.read() as session:
        newest = conversations.messages(session, bench.conversation)[-1]
    canvas = chat.message_scroll.widget()

    def shown() -> bool:
        built = chat.messages()
        return bool(built) and built[-1].message_id == newest.id and not built[-1].isHidden()

    def open_once() -> float:
        chat.open_conversation(None)
        wait(bench.app, 0.3)
        loop = QEventLoop()
        watch = _PaintWatch(loop, shown)
        canvas.installEventFilter(watch)
        QTimer.singleShot(30_000, loop.quit)
        start = time.perf_counter()
        chat.open_conversation(bench.conversation)
        loop.exec()
        took = time.perf_counter() - start
        canvas.removeEventFilter(watch)
        if not shown():
            raise RuntimeError("the conversation did not open within 30 s")
        return took

    first = open_once()  # the session's first: Qt's text and font machinery starts up too
    opened = median_of(repeats, open_once)
    wait(bench.app, 0.5)  # whatever the open left to do, outside the figure
    raw = sqlite3.connect(bench.path)
    query = (
        "SELECT id, role, content, model FROM messages"
        " WHERE conversation_id = ? AND deleted_at IS NULL ORDER BY id"
    )
    raw_read = median_of(
        repeats, lambda: timed(lambda: raw.execute(query, (bench.conversation,)).fetchall())
    )
    raw.close()
    read = median_of(
        repeats, lambda: timed(lambda: loading.load_conversation(bench.db, bench.conversation))
    )
    browser = QTextBrowser()
    browser.resize(chat.message_scroll.viewport().width(), 400)
    one = median_of(repeats, lambda: timed(lambda: render(browser, newest.content)))
    print(
        f"open the {bench.messages:,}-message conversation: {opened * 1e3:.1f} ms"
        f" (target < {OPEN_TARGET_MS} ms; the first time {first * 1e3:.1f} ms;"
        f" raw sqlite3 read of its messages {raw_read * 1e3:.1f} ms,"
        f" load_conversation {read * 1e3:.1f} ms, one reply's setMarkdown {one * 1e3:.1f} ms)"
    )


def render(browser: QTextBrowser, text: str) -> None:
    browser.setMarkdown(text)
    browser.document().size()  # laid out, as a shown reply is


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def measure_streaming(bench: Window, tokens: int, rate: float) -> None:
    """The GUI thread's busy share while a long reply streams into the long conversation."""
    chat = bench.window.workspace.chat
    model = "gpt-4o-mini"
    words = words_for(model, tokens)
    text = lorem(model, words)
    count = len(get_encoding("o200k_base").encode_ordinary(text))
    seconds = count / rate
    with emulating(Emulator(chunk_delay=seconds / len(pieces(text)))):
        chat.open_conversation(bench.conversation)
        chat.set_selection("demo", model)
        wait(bench.app, 1.0)
        others = {widget: widget.tally.renders for widget in chat.messages()}
        loop = QEventLoop()
        chat.reply_finished.connect(loop.quit)
        chat.composer.set_text(f"/words {words}")
        start_wall, start_cpu = time.perf_counter(), time.thread_time()
        chat.composer.send_button.click()
        loop.exec()
        wall, cpu = time.perf_counter() - start_wall, time.thread_time() - start_cpu
        chat.reply_finished.disconnect(loop.quit)
        wait(bench.app, 0.5)
    print(
        f"GUI thread busy while a {count:,}-token reply streams at {rate:g} tok/s:"
        f" {cpu / wall:.1%} (target < {BUSY_TARGET:.0%}; {cpu:.2f} s CPU over {wall:.2f} s)"
    )
    tally = chat.messages()[-1].tally
    again = sum(widget.tally.renders - renders for widget, renders in others.items())
    whole = tally.renders * len(text) // 2
    print(
        f"Markdown parsed while it streams: {tally.parsed:,} characters in {tally.renders}"
        f" renders, {tally.typed:,} typed in (target: the reply's open tail only; the whole"
        f" reply each render would parse ~{whole:,}; other messages re-rendered: {again})"
    )


def words_for(model: str, tokens: int) -> int:
    """How many ``/words`` make a reply of about ``tokens`` tokens."""
    encoding = get_encoding("o200k_base")
    per_word = len(encoding.encode_ordinary(lorem(model, 1000))) / 1000
    return max(1, round(tokens / per_word))


@contextmanager
def emulating(emulator: Emulator) -> Iterator[None]:
    """The demo endpoint answers from ``emulator`` (paced) while inside."""
    with emulator:
        previous = registry.use_demo(lambda: emulator.url)
        try:
            yield
        finally:
            registry.use_demo(previous)


def long_conversation() -> ModuleType:
    """The builder of the conversation the tests open too (``tests/support``, beside us)."""
    sys.path.insert(0, str(ROOT))  # a script's path holds benchmarks/, not the repository
    return importlib.import_module("tests.support.long_conversation")


@contextmanager
def window_on(folder: Path, messages: int, ledger: Path | None) -> Iterator[Window]:
    """The main window, built and not yet shown, on the ledger with the long conversation."""
    os.environ["TALLYBOOK_HOME"] = str(folder / "home")
    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    path = folder / "tallybook.sqlite3"
    if ledger is not None:
        shutil.copy(ledger, path)
    db = Database(path)
    conversation = long_conversation().create(db, messages)
    with db.write() as session:  # the prompt keeps its newest messages within the model's window
        conversations.configure_conversation(session, conversation, drop_oldest=True)
    context = AppContext.create(db)
    settings = QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(context, settings)
    try:
        yield Window(app, db, path, window, conversation, messages, context)
    finally:
        window.close()
        context.close()
        db.close()


def quiet_offscreen_notes(kind: QtMsgType, _context: QMessageLogContext, message: str) -> None:
    """Qt's messages, less the offscreen platform's note on every window it sizes."""
    if "propagateSizeHints" not in message:
        print(message, file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ledger", type=Path, help="a ledger to copy (else a new one)")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--tokens", type=int, default=4000)
    parser.add_argument("--rate", type=float, default=200.0, help="tokens per second")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # read when the application starts
    qInstallMessageHandler(quiet_offscreen_notes)
    with (
        tempfile.TemporaryDirectory() as folder,
        window_on(Path(folder), args.messages, args.ledger) as bench,
    ):
        measure_ready(bench)
        wait(bench.app, 1.0)
        measure_open(bench, args.repeats)
        measure_streaming(bench, args.tokens, args.rate)


if __name__ == "__main__":
    main()
