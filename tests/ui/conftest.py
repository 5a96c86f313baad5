"""What the widget tests share: the app's services on the test's ledger file."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from app.core.storage.db import Database
from app.ui.chat import ChatView
from app.ui.context import AppContext
from tests.support.questions import Questions


@pytest.fixture
def context(db: Database) -> Iterator[AppContext]:
    """The app's shared services; closed last, so no worker thread outlives the test."""
    shared = AppContext.create(db)
    try:
        yield shared
    finally:
        shared.close()


@pytest.fixture
def chat_view(qtbot: QtBot, context: AppContext) -> Iterator[ChatView]:
    """A shown chat view whose model picker has its menu."""
    widget = ChatView(context)
    qtbot.addWidget(widget)
    widget.resize(820, 640)
    widget.show()
    qtbot.waitUntil(lambda: bool(widget.composer.picker.choices()), timeout=5_000)
    yield widget
    # pytest-qt has closed the widget by now; a reply still streaming is cancelled here and
    # the context fixture then waits for its thread.
    widget.stop()


@pytest.fixture
def questions(monkeypatch: pytest.MonkeyPatch) -> Questions:
    """``QMessageBox.question`` answered without a modal loop (No, until a test says Yes)."""
    answers = Questions()
    monkeypatch.setattr(QMessageBox, "question", answers)
    return answers
