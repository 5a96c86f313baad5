"""The window's reads: side by side with each other and with the writer, newest answer only."""

from __future__ import annotations

import threading

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from app.core.ledger import balance
from app.ui.context import AppContext
from app.ui.operations import LatestLoad

WAIT_MS = 5_000


def test_a_read_superseded_by_a_newer_one_is_never_shown(qtbot: QtBot, context: AppContext) -> None:
    owner = QWidget()
    qtbot.addWidget(owner)
    load = LatestLoad(context, owner)
    shown: list[str] = []
    newer_answered = threading.Event()

    def older() -> str:
        newer_answered.wait(WAIT_MS / 1000)  # the older query finishes last
        return "older"

    def newer() -> str:
        return "newer"

    def show(answer: str) -> None:
        shown.append(answer)
        newer_answered.set()

    load.start(older, shown.append, lambda error: None)
    load.start(newer, show, lambda error: None)
    qtbot.waitUntil(lambda: shown == ["newer"], timeout=WAIT_MS)
    context.reads.wait()
    QCoreApplication.processEvents()  # delivers the older answer's queued signal
    assert shown == ["newer"]


def test_reads_answer_while_a_write_holds_the_ledger(qtbot: QtBot, context: AppContext) -> None:
    read_answered = threading.Event()
    write_done: list[bool] = []

    def long_write() -> bool:
        with context.db.write():
            return read_answered.wait(WAIT_MS / 1000)

    def read() -> balance.BalanceView:
        with context.db.read() as session:
            return balance.get_balance(session)

    context.tasks.run(long_write, write_done.append)
    context.reads.run(read, lambda _view: read_answered.set())
    qtbot.waitUntil(lambda: write_done != [], timeout=2 * WAIT_MS)
    assert write_done == [True]  # the read came back while the write was still open
