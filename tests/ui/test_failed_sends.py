"""A send that got no reply leaves the conversation list as it was: no conversation moves to the
top with a new time, and a new conversation's failed first message leaves no "New conversation"
behind (the offline demo's failing models, and a provider with no key)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from pytestqt.qtbot import QtBot

from app.core import conversations
from app.core.storage.db import Database
from app.core.storage.models import Conversation
from app.core.types import ConversationId
from app.ui.chat import ChatView
from app.ui.context import AppContext
from app.ui.conversation_list import ConversationListPanel, SummaryRole

pytestmark = pytest.mark.gui

WAIT_MS = 10_000
START = datetime(2026, 1, 1)


@pytest.fixture
def panel(qtbot: QtBot, context: AppContext) -> ConversationListPanel:
    shown = ConversationListPanel(context)
    qtbot.addWidget(shown)
    with qtbot.waitSignal(shown.model.loaded, timeout=WAIT_MS):
        shown.show()
    return shown


def listed(qtbot: QtBot, panel: ConversationListPanel) -> list[tuple[int, str]]:
    """The list as read now (after every write the failed send made)."""
    with qtbot.waitSignal(panel.model.loaded, timeout=WAIT_MS):
        panel.refresh()
    model = panel.model
    rows = (model.data(model.index(row), SummaryRole) for row in range(model.rowCount()))
    return [(row.id, row.title) for row in rows]


def fail_a_send(qtbot: QtBot, view: ChatView, text: str) -> None:
    """Send ``text`` and wait until the chat has said why no reply came."""
    view.composer.set_text(text)
    with (
        qtbot.assertNotEmitted(view.reply_finished),
        qtbot.waitSignal(view.busy_changed, check_params_cb=lambda busy: not busy, timeout=WAIT_MS),
    ):
        view.composer.send_button.click()
    assert view.errors.text()
    qtbot.waitUntil(lambda: view.composer.text() == text, timeout=WAIT_MS)  # given back


def test_a_failed_send_keeps_its_conversation_in_place_with_its_time_and_model(
    qtbot: QtBot, chat_view: ChatView, panel: ConversationListPanel, db: Database
) -> None:
    with db.write() as session:
        older = conversations.create_conversation(
            session, title="Older", provider="demo", model="gpt-4o", now=START
        ).id
        conversations.add_message(session, older, "user", "Hello", now=START)
        newer = conversations.create_conversation(
            session, title="Newer", now=START + timedelta(hours=1)
        ).id
    chat_view.open_conversation(ConversationId(older))
    qtbot.waitUntil(lambda: len(chat_view.messages()) == 1, timeout=WAIT_MS)
    chat_view.set_selection("demo", "gpt-4o-mini@rate-limit")

    fail_a_send(qtbot, chat_view, "Anyone?")

    assert listed(qtbot, panel) == [(newer, "Newer"), (older, "Older")]
    with db.read() as session:
        row = session.get(Conversation, older)
        assert row is not None
        assert (row.updated_at, row.provider, row.model) == (START, "demo", "gpt-4o")


@pytest.mark.parametrize(
    ("endpoint", "model"),
    [("demo", "gpt-4o-mini@server-error"), ("openai", "gpt-4o-mini")],
    ids=["provider error", "missing key"],
)
def test_a_failed_first_message_leaves_no_new_conversation(
    qtbot: QtBot,
    chat_view: ChatView,
    panel: ConversationListPanel,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    endpoint: str,
    model: str,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with db.write() as session:
        kept = conversations.create_conversation(session, title="Kept", now=START).id
    chat_view.open_conversation(None)
    chat_view.set_selection(endpoint, model)

    with qtbot.assertNotEmitted(chat_view.conversation_created):
        fail_a_send(qtbot, chat_view, "Hello there")

    assert listed(qtbot, panel) == [(kept, "Kept")]
    assert chat_view.current_conversation() is None
