"""The chat area against the real offline demo: streaming, stopping, refusals, costs, retries."""

from __future__ import annotations

from decimal import Decimal

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot
from sqlalchemy import func, select

from app.core import conversations
from app.core.ledger import balance
from app.core.ledger.alerts import Alert
from app.core.metering.client import Metered
from app.core.money import format_usd
from app.core.providers import registry
from app.core.storage import settings
from app.core.storage.changes import SETTINGS
from app.core.storage.db import Database
from app.core.storage.models import Conversation, Message, Request, Transaction
from app.ui.chat import ChatView
from app.ui.chat.figures import estimate_line, usage_line
from app.ui.context import AppContext
from app.ui.errors import describe
from tests.support.questions import Questions

pytestmark = pytest.mark.gui

REPLY_TIMEOUT = 10_000


@pytest.fixture
def view(chat_view: ChatView) -> ChatView:
    return chat_view


def send(qtbot: QtBot, view: ChatView, text: str) -> Metered:
    """Type a message, press Ctrl+Enter, and wait for the reply to settle."""
    view.composer.set_text(text)
    with qtbot.waitSignal(view.reply_finished, timeout=REPLY_TIMEOUT) as finished:
        qtbot.keyClick(view.composer.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    metered = finished.args[0]
    assert isinstance(metered, Metered)
    qtbot.waitUntil(lambda: not view.is_busy(), timeout=REPLY_TIMEOUT)
    return metered


def count_rows(db: Database, model: type) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_sent_message_streams_a_reply_priced_as_the_ledger_has_it(
    qtbot: QtBot, view: ChatView, db: Database
) -> None:
    view.set_selection("demo", "gpt-4o-mini")
    with qtbot.waitSignal(view.conversation_created, timeout=REPLY_TIMEOUT) as created:
        metered = send(qtbot, view, "What is a ledger?")
    conversation_id = view.current_conversation()
    assert conversation_id is not None and created.args == [conversation_id]
    assert view.composer.text() == ""

    with db.read() as session:
        stored = conversations.messages(session, conversation_id)
    assert [(m.role, m.content) for m in stored] == [
        ("user", "What is a ledger?"),
        ("assistant", metered.text),
    ]
    prompt, reply = view.messages()
    assert prompt.text() == "What is a ledger?"
    assert reply.text() == metered.text and "What is a ledger?" in reply.body.toPlainText()
    usage = stored[1].usage
    assert usage is not None and usage.status == "complete"
    assert reply.footer_text() == usage_line(usage)
    assert reply.footer_text().startswith(
        f"{usage.input_tokens:,} in · {usage.output_tokens:,} out"
    )
    assert format_usd(usage.cost) in reply.footer_text()
    assert "estimated" not in reply.footer_text()  # the demo reports its usage

    # The model names the new conversation (metered too); the header then shows the ledger's total.
    qtbot.waitUntil(lambda: view.header.title() != conversations.DEFAULT_TITLE, timeout=5_000)
    with db.read() as session:
        total = conversations.conversation_cost(session, conversation_id)
        title = conversations.get_conversation(session, conversation_id).title
    assert view.header.title() == title
    assert total > usage.cost
    qtbot.waitUntil(lambda: view.header.total_label.text() == f"{format_usd(total)} so far")


def test_stop_keeps_the_partial_reply_and_charges_it_as_incomplete(
    qtbot: QtBot, view: ChatView, db: Database
) -> None:
    view.set_selection("demo", "gpt-4o-mini@slow")
    view.composer.set_text("/words 80")
    view.composer.send_button.click()
    assert view.is_busy() and view.composer.stop_button.isVisible()
    reply = view.messages()[-1]
    qtbot.waitUntil(lambda: reply.body.toPlainText().strip() != "", timeout=5_000)
    assert reply.is_streaming()  # text is on screen while the reply still streams

    with qtbot.waitSignal(view.reply_finished, timeout=5_000) as finished:
        qtbot.keyClick(view.composer.editor, Qt.Key.Key_Escape)
    metered = finished.args[0]
    qtbot.waitUntil(lambda: not view.is_busy())
    assert metered.status == "incomplete" and metered.text
    assert len(metered.text.split()) < 80
    assert reply.text() == metered.text and reply.body.toPlainText().strip()
    assert "incomplete" in reply.footer_text()
    assert "estimated" in reply.footer_text()  # the output was cut before usage was reported

    conversation_id = view.current_conversation()
    assert conversation_id is not None
    with db.read() as session:
        stored = conversations.messages(session, conversation_id)[-1]
        contexts = set(
            session.scalars(select(Transaction.context).where(Transaction.message_id == stored.id))
        )
    assert stored.content == metered.text
    assert stored.usage is not None and stored.usage.status == "incomplete"
    assert stored.usage.cost == metered.cost > 0
    assert contexts == {"incomplete"}


def test_a_refused_message_is_explained_in_the_chat_and_kept(
    qtbot: QtBot, view: ChatView, db: Database
) -> None:
    with db.write() as session:
        balance.configure(session, enabled=True)
    view.set_selection("demo", "gpt-4o-mini")
    view.composer.set_text("Hello? Is anyone there?")
    qtbot.waitUntil(lambda: "it would be refused" in view.composer.estimate_label.text())
    raised: list[Alert] = []
    view._context.events.alert.connect(raised.append)
    with (
        qtbot.assertNotEmitted(view.conversation_created, wait=100),
        qtbot.assertNotEmitted(view.reply_finished),
        qtbot.waitSignal(view.busy_changed, check_params_cb=lambda busy: not busy, timeout=5_000),
    ):
        view.composer.send_button.click()

    (alert,) = raised  # on the window's banner, with its Add credits… button
    assert "Not enough balance" in alert.message and "Nothing was sent" in alert.message
    assert "$0.00 is available" in alert.message
    assert view.composer.text() == "Hello? Is anyone there?"
    assert view.messages() == []
    assert view.current_conversation() is None
    with db.read() as session:
        assert conversations.list_conversations(session) == []
    assert count_rows(db, Transaction) == 0
    assert count_rows(db, Request) == 0
    assert count_rows(db, Message) == 0


def test_the_estimate_follows_the_draft_and_the_model(
    qtbot: QtBot, view: ChatView, context: AppContext
) -> None:
    view.set_selection("demo", "gpt-4o")
    qtbot.keyClicks(view.composer.editor, "How much will this cost?")
    exact = context.chats.quote(None, "How much will this cost?", "demo", "gpt-4o")
    label = view.composer.estimate_label
    qtbot.waitUntil(lambda: label.text() == estimate_line(exact), timeout=3_000)
    assert not label.text().startswith("≈") and "tokens" in label.text()
    gauge = view.header.context_gauge
    assert gauge.isVisible()
    assert gauge.maximum() == exact.limits.context_window and gauge.value() == exact.count.tokens

    qtbot.keyClicks(view.composer.editor, " And this?")
    longer = context.chats.quote(None, "How much will this cost? And this?", "demo", "gpt-4o")
    qtbot.waitUntil(lambda: label.text() == estimate_line(longer), timeout=3_000)

    view.set_selection("demo", "claude-haiku-4-5")  # Anthropic's tokenizer is not public
    qtbot.waitUntil(lambda: label.text().startswith("≈ "), timeout=3_000)
    assert gauge.format().startswith("≈ ")


def test_the_window_stays_responsive_while_a_reply_streams(qtbot: QtBot, view: ChatView) -> None:
    ticks: list[int] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start()
    view.set_selection("demo", "gpt-4o-mini@slow")
    view.composer.set_text("/words 40")
    view.composer.send_button.click()
    reply = view.messages()[-1]
    qtbot.waitUntil(lambda: reply.body.toPlainText().strip() != "", timeout=5_000)
    seen = len(ticks)
    qtbot.keyClicks(view.composer.editor, "typing while it streams")
    qtbot.waitUntil(lambda: len(ticks) >= seen + 5, timeout=1_000)
    label = view.composer.estimate_label
    qtbot.waitUntil(lambda: "tokens" in label.text(), timeout=3_000)  # quoted meanwhile
    assert view.is_busy() and reply.is_streaming()  # all of that happened mid-reply
    assert view.composer.text() == "typing while it streams"
    assert not view.composer.send_button.isEnabled()
    timer.stop()
    with qtbot.waitSignal(view.reply_finished, timeout=5_000):
        view.stop()


def test_retry_streams_a_new_reply_in_place_of_the_old_one_and_keeps_it_as_a_sibling(
    qtbot: QtBot, view: ChatView, db: Database
) -> None:
    view.set_selection("demo", "claude-haiku-4-5")
    first = send(qtbot, view, "Tell me a fact")
    reply = view.messages()[-1]
    assert reply.message_id == first.message_id and reply.retry_button.isVisible()

    with qtbot.waitSignal(view.reply_finished, timeout=REPLY_TIMEOUT) as finished:
        reply.retry_button.click()
    again = finished.args[0]
    qtbot.waitUntil(lambda: not view.is_busy())
    assert again.message_id != first.message_id
    qtbot.waitUntil(lambda: view.messages()[-1].branch_nav.text() == "2/2")  # read anew
    assert len(view.messages()) == 2
    reply = view.messages()[-1]
    assert reply.message_id == again.message_id and reply.text() == again.text
    conversation_id = view.current_conversation()
    assert conversation_id is not None
    with db.read() as session:
        stored = conversations.messages(session, conversation_id)
    assert [m.role for m in stored] == ["user", "assistant"]
    assert stored[1].id == again.message_id
    assert stored[1].usage is not None
    assert reply.footer_text() == usage_line(stored[1].usage)


def test_a_reply_that_breaks_off_keeps_its_text_and_says_why(qtbot: QtBot, view: ChatView) -> None:
    view.set_selection("demo", "gpt-4o-mini@cut")
    metered = send(qtbot, view, "/words 40")
    assert metered.error is not None and metered.status == "incomplete"
    reply = view.messages()[-1]
    assert reply.text() == metered.text
    assert "incomplete" in reply.footer_text()
    assert view.errors.text() == describe(metered.error)


def test_a_provider_error_is_shown_in_the_chat(qtbot: QtBot, view: ChatView) -> None:
    view.set_selection("demo", "gpt-4o-mini@rate-limit")
    view.composer.set_text("Anyone?")
    with (
        qtbot.assertNotEmitted(view.reply_finished),
        qtbot.waitSignal(view.busy_changed, check_params_cb=lambda busy: not busy, timeout=10_000),
    ):
        view.composer.send_button.click()
    assert "rate limiting" in view.errors.text()
    # No reply came, so nothing was kept: the message goes back to the draft, to send again.
    qtbot.waitUntil(lambda: view.composer.text() == "Anyone?")
    assert view.messages() == []


def test_the_model_picker_offers_priced_models_grouped_by_provider(
    qtbot: QtBot, view: ChatView, db: Database
) -> None:
    picker = view.composer.picker
    with db.read() as session:
        menu = dict((e.id, choices) for e, choices in registry.model_menu(session))
    demo = [(model, price) for endpoint, model, price in picker.choices() if endpoint == "demo"]
    assert [model for model, _ in demo] == [c.model for c in menu["demo"]]
    assert ("gpt-4o-mini", "$0.15 / $0.60 per 1M") in demo
    assert ("claude-haiku-4-5", "$1.00 / $5.00 per 1M") in demo
    header = picker.combo.model().index(0, 0)
    assert header.data() == "Offline demo"
    assert not (picker.combo.model().flags(header) & Qt.ItemFlag.ItemIsSelectable)

    row = next(
        r
        for r in range(picker.combo.count())
        if picker.combo.itemData(r, Qt.ItemDataRole.UserRole + 1) == "openai"
        and picker.combo.itemText(r) == "gpt-4.1"
    )
    picker.combo.setCurrentIndex(row)
    picker.combo.activated.emit(row)
    assert view.selection() == ("openai", "gpt-4.1")
    assert picker.endpoint_label.text() == "OpenAI:"

    def remembered() -> list[str]:
        with db.read() as session:
            recent: dict[str, list[str]] = settings.get(session, registry.RECENT_MODELS_KEY, {})
        return recent.get("openai", [])

    qtbot.waitUntil(lambda: remembered() == ["gpt-4.1"], timeout=3_000)

    picker.combo.lineEdit().clear()
    qtbot.keyClicks(picker.combo.lineEdit(), "my-fine-tune")
    assert view.selection() == ("openai", "my-fine-tune")  # typed names keep the endpoint


def test_a_new_user_is_welcomed_and_can_try_the_demo(
    qtbot: QtBot, view: ChatView, db: Database
) -> None:
    qtbot.waitUntil(view.welcome.isVisible, timeout=3_000)
    view.set_selection("openai", "gpt-4o")
    with qtbot.waitSignal(view.keys_requested, timeout=1_000):
        view.welcome.keys_button.click()
    view.welcome.demo_button.click()
    assert view.selection() == ("demo", "gpt-4o-mini")
    assert not view.welcome.isVisible()

    send(qtbot, view, "Hi")
    view.open_conversation(None)
    assert view.messages() == [] and view.current_conversation() is None
    qtbot.wait(200)  # the "has this user chatted?" read is answered meanwhile
    assert not view.welcome.isVisible()


def test_an_expensive_message_is_confirmed_first(
    qtbot: QtBot, view: ChatView, questions: Questions
) -> None:
    asked = questions.asked
    view.set_selection("demo", "gpt-4o-mini")
    view.set_confirm_threshold(Decimal(1))  # a millionth of a dollar: everything is expensive
    view.composer.set_text("Is this worth it?")
    with qtbot.assertNotEmitted(view.reply_finished, wait=200):
        view.composer.send_button.click()
        qtbot.waitUntil(lambda: bool(asked), timeout=3_000)
        qtbot.waitUntil(lambda: not view.is_busy())
    assert "This message is" in asked[0] and "tokens long" in asked[0]
    assert "at gpt-4o-mini's input rate ($0.15 per 1M tokens)" in asked[0]
    assert view.composer.text() == "Is this worth it?" and view.messages() == []

    questions.answer = QMessageBox.StandardButton.Yes
    send(qtbot, view, "Is this worth it?")
    assert len(asked) == 2 and len(view.messages()) == 2

    view.set_confirm_threshold(None)
    send(qtbot, view, "And this?")
    assert len(asked) == 2


def test_system_prompt_and_trimming_rule_are_saved_with_the_conversation(
    qtbot: QtBot, view: ChatView, db: Database
) -> None:
    view.set_selection("demo", "gpt-4o-mini")
    view.header.open_system_prompt()
    view.header.prompt_editor.setPlainText("Answer in one sentence.")
    view.header.prompt_save.click()
    assert not view.header.prompt_panel.isVisible()
    send(qtbot, view, "Hello")
    conversation_id = view.current_conversation()
    assert conversation_id is not None

    def stored() -> tuple[str, bool]:
        with db.read() as session:
            drop = conversations.get_conversation(session, conversation_id).drop_oldest
            return conversations.system_prompt(session, conversation_id), drop

    assert stored() == ("Answer in one sentence.", False)
    view.header.drop_oldest_box.click()
    view.header.open_system_prompt()
    view.header.prompt_editor.setPlainText("Answer in two sentences.")
    view.header.prompt_save.click()
    qtbot.waitUntil(lambda: stored() == ("Answer in two sentences.", True), timeout=3_000)

    view.open_conversation(None)
    view.open_conversation(conversation_id)
    qtbot.waitUntil(lambda: len(view.messages()) == 2, timeout=3_000)
    assert view.header.system_prompt() == "Answer in two sentences."
    assert view.header.drop_oldest_box.isChecked()


def test_copy_puts_the_reply_on_the_clipboard(qtbot: QtBot, view: ChatView) -> None:
    view.set_selection("demo", "gpt-4o-mini")
    metered = send(qtbot, view, "Copy me")
    view.messages()[-1].copy_button.click()
    assert QGuiApplication.clipboard().text() == metered.text


def test_reopening_a_conversation_shows_each_reply_with_its_stored_cost(
    qtbot: QtBot, view: ChatView, db: Database
) -> None:
    view.set_selection("demo", "gpt-4o-mini")
    first = send(qtbot, view, "One")
    second = send(qtbot, view, "Two")
    live = [m.footer_text() for m in view.messages() if m.role == "assistant"]
    conversation_id = view.current_conversation()
    view.open_conversation(None)
    view.open_conversation(conversation_id)
    qtbot.waitUntil(lambda: len(view.messages()) == 4, timeout=3_000)
    assert [m.footer_text() for m in view.messages() if m.role == "assistant"] == live
    assert [m.message_id for m in view.messages() if m.role == "assistant"] == [
        first.message_id,
        second.message_id,
    ]
    with db.read() as session:
        assert session.get(Conversation, conversation_id) is not None


def test_the_provider_counts_a_draft_when_allowed(
    qtbot: QtBot, view: ChatView, context: AppContext, db: Database
) -> None:
    from app.core import keys
    from app.core.providers import counts as provider_counts
    from app.servers.emulator import Emulator

    with Emulator() as emulator:
        with db.write() as session:
            endpoint = registry.add_endpoint(session, "Claude proxy", emulator.url, api="anthropic")
            provider_counts.set_allowed(session, True)
        keys.set_key(endpoint.id, "test-key")
        db.announce(SETTINGS)  # the key store is not the ledger: its writers announce
        view.set_selection(endpoint.id, "claude-haiku-4-5")
        view.composer.set_text("How many tokens does Claude see here?")
        qtbot.waitUntil(
            lambda: "Claude proxy's own count" in view.composer.estimate_label.text(),
            timeout=10_000,
        )
        assert "estimate was" in view.composer.estimate_label.toolTip()
