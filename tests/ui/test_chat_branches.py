"""Retried replies and edited messages as siblings in the chat (``< 1/2 >``), each with its own
cost; the header's total split so it adds up to what can be seen; Copy and Edit on the user's
messages; a conversation reopened on its last model."""

from __future__ import annotations

from decimal import Decimal

import pytest
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from app.core import conversations
from app.core.metering.client import Metered
from app.core.money import format_usd
from app.core.storage.db import Database
from app.core.types import ConversationId
from app.ui.chat import ChatView
from app.ui.chat.message import MessageWidget
from tests.support.questions import Questions
from tests.ui.test_chat import REPLY_TIMEOUT, send

pytestmark = pytest.mark.gui


def _conversation(view: ChatView) -> ConversationId:
    conversation = view.current_conversation()
    assert conversation is not None
    return conversation


def _retry(qtbot: QtBot, view: ChatView, reply: MessageWidget) -> Metered:
    with qtbot.waitSignal(view.reply_finished, timeout=REPLY_TIMEOUT) as finished:
        reply.retry_button.click()
    qtbot.waitUntil(lambda: not view.is_busy(), timeout=REPLY_TIMEOUT)
    metered = finished.args[0]
    assert isinstance(metered, Metered)
    return metered


def _edit(qtbot: QtBot, view: ChatView, message: MessageWidget, text: str) -> Metered:
    message.edit_button.click()
    assert message.is_editing() and not message.edit_button.isVisible()
    assert message.editor.text_edit.toPlainText() == message.text()
    message.editor.text_edit.setPlainText(text)
    with qtbot.waitSignal(view.reply_finished, timeout=REPLY_TIMEOUT) as finished:
        message.editor.send_button.click()
    qtbot.waitUntil(lambda: not view.is_busy(), timeout=REPLY_TIMEOUT)
    metered = finished.args[0]
    assert isinstance(metered, Metered)
    return metered


def test_a_retried_reply_stays_reachable_with_its_own_cost(
    qtbot: QtBot, chat_view: ChatView, db: Database
) -> None:
    view = chat_view
    view.set_selection("demo", "gpt-4o-mini")
    first = send(qtbot, view, "Tell me a fact")
    first_footer = view.messages()[-1].footer_text()
    again = _retry(qtbot, view, view.messages()[-1])
    qtbot.waitUntil(lambda: view.messages()[-1].branch_nav.text() == "2/2", timeout=3_000)
    reply = view.messages()[-1]
    assert reply.message_id == again.message_id and reply.branch_nav.isVisible()
    assert format_usd(again.cost) in reply.footer_text()
    assert not reply.branch_nav.next_button.isEnabled()

    reply.branch_nav.previous_button.click()  # back to the first attempt, and its cost
    qtbot.waitUntil(lambda: view.messages()[-1].message_id == first.message_id, timeout=3_000)
    older = view.messages()[-1]
    assert older.branch_nav.text() == "1/2" and older.text() == first.text
    assert older.footer_text() == first_footer
    with db.read() as session:
        costs = conversations.cost_breakdown(session, _conversation(view))
    assert costs.branch == first.cost and costs.elsewhere == again.cost
    qtbot.waitUntil(lambda: f"other attempts {format_usd(again.cost)}" in view.header.breakdown())
    assert f"this branch {format_usd(first.cost)}" in view.header.breakdown()
    assert view.header.total_label.text() == f"{format_usd(costs.total)} so far"


def test_an_edited_message_makes_a_branch_and_switching_shows_the_old_one(
    qtbot: QtBot, chat_view: ChatView, db: Database
) -> None:
    view = chat_view
    view.set_selection("demo", "gpt-4o-mini")
    send(qtbot, view, "First question")
    second = send(qtbot, view, "Second question")
    asked = view.messages()[2]
    assert asked.role == "user" and asked.message_id is not None  # known once it was filed
    old_id = asked.message_id
    edited = _edit(qtbot, view, asked, "Second question, edited")
    qtbot.waitUntil(lambda: view.messages()[2].branch_nav.text() == "2/2", timeout=3_000)
    prompt, reply = view.messages()[2:]
    assert prompt.text() == "Second question, edited" and reply.message_id == edited.message_id
    assert len(view.messages()) == 4

    prompt.branch_nav.previous_button.click()
    qtbot.waitUntil(lambda: view.messages()[2].message_id == old_id, timeout=3_000)
    assert [m.text() for m in view.messages()[2:]] == ["Second question", second.text]
    assert view.messages()[2].branch_nav.text() == "1/2"
    with db.read() as session:  # the branch chosen is the one sent from now on
        sent = conversations.history(session, _conversation(view))
    assert [m.text for m in sent][2:] == ["Second question", second.text]


def test_an_edit_left_unchanged_or_cancelled_sends_nothing(
    qtbot: QtBot, chat_view: ChatView
) -> None:
    view = chat_view
    view.set_selection("demo", "gpt-4o-mini")
    send(qtbot, view, "Only question")
    asked = view.messages()[0]
    with qtbot.assertNotEmitted(asked.edit_submitted):
        asked.edit_button.click()
        asked.editor.cancel_button.click()
        asked.edit_button.click()
        asked.editor.send_button.click()  # the same text: nothing to branch
    assert not asked.is_editing() and not view.is_busy()


def test_copy_puts_the_users_message_on_the_clipboard(qtbot: QtBot, chat_view: ChatView) -> None:
    view = chat_view
    view.set_selection("demo", "gpt-4o-mini")
    send(qtbot, view, "Copy my own words")
    prompt = view.messages()[0]
    assert prompt.copy_button.isVisible() and prompt.edit_button.isVisible()
    assert not prompt.retry_button.isVisible()
    prompt.copy_button.click()
    assert QGuiApplication.clipboard().text() == "Copy my own words"


def test_reopening_a_conversation_picks_its_last_model(qtbot: QtBot, chat_view: ChatView) -> None:
    view = chat_view
    view.set_selection("demo", "gpt-4o-mini")
    send(qtbot, view, "One")
    view.set_selection("demo", "claude-haiku-4-5")
    send(qtbot, view, "Two")
    conversation = _conversation(view)
    view.open_conversation(None)
    view.set_selection("demo", "gpt-4o")
    view.open_conversation(conversation)
    qtbot.waitUntil(lambda: len(view.messages()) == 4, timeout=3_000)
    assert view.selection() == ("demo", "claude-haiku-4-5")


def test_the_title_s_cost_is_shown_under_the_total(
    qtbot: QtBot, chat_view: ChatView, db: Database
) -> None:
    view = chat_view
    view.set_selection("demo", "gpt-4o-mini")
    send(qtbot, view, "How do tides work?")
    qtbot.waitUntil(lambda: view.header.title() != conversations.DEFAULT_TITLE, timeout=5_000)
    with db.read() as session:
        costs = conversations.cost_breakdown(session, _conversation(view))
    assert costs.title > 0 and costs.total == costs.branch + costs.title
    qtbot.waitUntil(lambda: f"title {format_usd(costs.title)}" in view.header.breakdown())
    assert view.header.total_label.text() == f"{format_usd(costs.total)} so far"


def test_an_expensive_edit_is_confirmed_first_and_kept_open_when_declined(
    qtbot: QtBot, chat_view: ChatView, questions: Questions
) -> None:
    view = chat_view
    asked = questions.asked
    view.set_selection("demo", "gpt-4o-mini")
    send(qtbot, view, "A question")
    view.set_confirm_threshold(Decimal(1))  # a millionth of a dollar: everything is expensive
    message = view.messages()[0]
    message.edit_button.click()
    message.editor.text_edit.setPlainText("A question, edited")
    with qtbot.assertNotEmitted(view.reply_finished, wait=200):
        message.editor.send_button.click()
        qtbot.waitUntil(lambda: bool(asked), timeout=3_000)
        qtbot.waitUntil(lambda: not view.is_busy())
    assert "tokens long" in asked[0]
    assert message.is_editing()  # the edit is not lost
    assert message.editor.text_edit.toPlainText() == "A question, edited"
    assert [m.text() for m in view.messages()] == ["A question", view.messages()[1].text()]

    questions.answer = QMessageBox.StandardButton.Yes
    with qtbot.waitSignal(view.reply_finished, timeout=REPLY_TIMEOUT):
        message.editor.send_button.click()
    qtbot.waitUntil(lambda: view.messages()[0].branch_nav.text() == "2/2", timeout=3_000)
    assert len(asked) == 2 and view.messages()[0].text() == "A question, edited"


def test_switching_branches_keeps_the_switched_message_in_view(
    qtbot: QtBot, chat_view: ChatView
) -> None:
    view = chat_view
    view.resize(700, 420)  # a short chat: the conversation scrolls
    view.set_selection("demo", "gpt-4o-mini")
    first = send(qtbot, view, "The first question")
    for index in range(4):
        send(qtbot, view, f"/words 60 question {index}")

    def widget(message_id: int | None) -> MessageWidget | None:
        return next((m for m in view.messages() if m.message_id == message_id), None)

    reply = widget(first.message_id)
    assert reply is not None
    _retry(qtbot, view, reply)  # a new branch from the first reply: the later turns are not on it
    qtbot.waitUntil(lambda: view.messages()[-1].branch_nav.text() == "2/2", timeout=3_000)
    second = view.messages()[-1]
    second.branch_nav.previous_button.click()  # back to the branch with every later turn
    qtbot.waitUntil(lambda: widget(first.message_id) is not None, timeout=3_000)
    shown = widget(first.message_id)
    assert shown is not None and shown.branch_nav.text() == "1/2"
    bar = view.message_scroll.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0, timeout=3_000)
    qtbot.wait(200)  # laid out
    assert not shown.visibleRegion().isEmpty()  # in view, not thrown to the bottom
    assert bar.value() < bar.maximum()
