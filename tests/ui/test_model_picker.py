"""The model picker remembers a typed model only once it replied, so a typo is not kept."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.core.providers import registry
from app.core.storage.db import Database
from app.ui.chat import ChatView

pytestmark = pytest.mark.gui

TYPO = "gpt-4o-mnii"


def demo_models(db: Database) -> list[str]:
    with db.read() as session:
        menu = registry.model_menu(session)
    return next([c.model for c in choices] for endpoint, choices in menu if endpoint.id == "demo")


def type_model(qtbot: QtBot, view: ChatView, name: str) -> None:
    """Type a model name over the selected one and press Return, as a user does."""
    combo = view.composer.picker.combo
    combo.lineEdit().selectAll()
    qtbot.keyClicks(combo.lineEdit(), name)
    qtbot.keyClick(combo.lineEdit(), Qt.Key.Key_Return)


def test_a_typed_model_is_not_remembered_before_it_replies(
    qtbot: QtBot, chat_view: ChatView, db: Database
) -> None:
    picker = chat_view.composer.picker
    with qtbot.assertNotEmitted(picker.model_chosen, wait=300):
        type_model(qtbot, chat_view, TYPO)
        chat_view.composer.editor.setFocus()  # typing finished
    assert picker.selection() == ("demo", TYPO)
    assert TYPO not in demo_models(db)


def test_a_typed_model_that_replied_comes_first_in_the_list(
    qtbot: QtBot, chat_view: ChatView, db: Database
) -> None:
    picker = chat_view.composer.picker
    type_model(qtbot, chat_view, TYPO)
    with qtbot.waitSignal(picker.model_chosen, timeout=2_000) as chosen:
        picker.reply_succeeded("demo", TYPO)
    assert chosen.args == ["demo", TYPO]
    qtbot.waitUntil(lambda: picker.choices()[0][:2] == ("demo", TYPO), timeout=5_000)
    assert demo_models(db)[0] == TYPO

    with qtbot.assertNotEmitted(picker.model_chosen, wait=100):
        picker.reply_succeeded("demo", TYPO)  # already first: nothing to write


def test_a_model_picked_from_the_list_is_remembered_at_once(
    qtbot: QtBot, chat_view: ChatView
) -> None:
    picker = chat_view.composer.picker
    rows = [r for r in range(picker.combo.count()) if picker.combo.itemText(r) == "gpt-5-mini"]
    with qtbot.waitSignal(picker.model_chosen, timeout=2_000) as chosen:
        picker.combo.setCurrentIndex(rows[0])  # what a click in the list does, then tells
        picker.combo.activated.emit(rows[0])
    assert chosen.args == ["demo", "gpt-5-mini"]
