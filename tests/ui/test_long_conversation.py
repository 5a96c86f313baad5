"""A 1,000-message conversation in the chat: built only as far as it is seen, whole on the way up;
a long reply streaming in renders its open tail only, and settles exactly as stored."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PySide6.QtCore import QPoint
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.core import conversations
from app.core.conversations import MessageView
from app.core.storage.db import Database
from app.core.types import ConversationId
from app.ui.chat import ChatView, loading, message
from app.ui.chat.figures import usage_line
from app.ui.chat.message import SETTLE_CHARS, MarkdownView, MessageWidget
from tests.support import long_conversation

pytestmark = pytest.mark.gui

REPLY_TIMEOUT = 20_000


@pytest.fixture
def view(chat_view: ChatView) -> ChatView:
    return chat_view


@pytest.fixture
def long(db: Database) -> ConversationId:
    conversation = long_conversation.create(db, 1000)
    with db.write() as session:  # a retry's prompt keeps the newest messages the model can take
        conversations.configure_conversation(session, conversation, drop_oldest=True)
    return conversation


def stored(db: Database, conversation: ConversationId) -> list[MessageView]:
    with db.read() as session:
        return conversations.messages(session, conversation)


def open_long(qtbot: QtBot, view: ChatView, conversation: ConversationId, newest: int) -> None:
    view.open_conversation(conversation)
    qtbot.waitUntil(
        lambda: bool(view.messages()) and view.messages()[-1].message_id == newest, timeout=5_000
    )


def test_a_long_conversation_opens_on_the_newest_messages_that_fill_the_view(
    qtbot: QtBot, view: ChatView, db: Database, long: ConversationId
) -> None:
    messages = stored(db, long)
    assert len(messages) == 1000
    view.resize(900, 1400)  # a tall window: more than one long reply in view
    open_long(qtbot, view, long, messages[-1].id)

    built = view.messages()
    newest = messages[-len(built) :]
    assert [w.message_id for w in built] == [m.id for m in newest]
    assert [w.text() for w in built] == [m.content for m in newest]
    assert 2 <= len(built) <= 8  # a few long replies fill the view and a screen above, not 1,000
    bar = view.message_scroll.verticalScrollBar()
    screen = view.message_scroll.viewport().height()
    assert bar.value() == bar.maximum() > 0  # at the newest, as a conversation opens
    assert bar.value() >= screen  # a screen's height of messages is ready above the view
    rows = [w.parentWidget() for w in built]
    assert bar.value() - (rows[1].y() - rows[0].y()) < screen  # and not one message more
    for widget, stored_message in zip(built, newest, strict=True):
        if stored_message.role == "assistant":
            assert stored_message.usage is not None
            assert widget.footer_text() == usage_line(stored_message.usage)
            assert widget.retry_button.isVisible() and widget.copy_button.isVisible()


def test_scrolling_up_builds_older_messages_in_place_then_reads_earlier_pages(
    qtbot: QtBot, view: ChatView, db: Database, long: ConversationId
) -> None:
    messages = stored(db, long)
    open_long(qtbot, view, long, messages[-1].id)
    bar = view.message_scroll.verticalScrollBar()
    viewport = view.message_scroll.viewport()

    while len(view.messages()) <= loading.PAGE_MESSAGES + 2:  # past the page read on opening
        first = view.messages()[0]
        at_top = first.parentWidget().y()  # where it shows once scrolled to the very top
        count = len(view.messages())
        bar.setValue(0)  # the user drags the scroll bar to the top
        qtbot.waitUntil(lambda: len(view.messages()) > count, timeout=5_000)  # noqa: B023
        assert first.mapTo(viewport, QPoint(0, 0)).y() == at_top  # what was in view stays put
        assert bar.value() > 0  # the new messages are above, to scroll on to

    built = view.messages()
    assert [w.message_id for w in built] == [m.id for m in messages[-len(built) :]]
    assert len(built) < len(messages)
    old = next(w for w in built if w.role == "assistant")
    stored_old = next(m for m in messages if m.id == old.message_id)
    assert stored_old.usage is not None
    assert old.footer_text() == usage_line(stored_old.usage)
    old.copy_button.click()
    assert QGuiApplication.clipboard().text() == stored_old.content


def test_retry_of_the_newest_reply_works_in_a_long_conversation_and_stays_at_the_bottom(
    qtbot: QtBot, view: ChatView, db: Database, long: ConversationId
) -> None:
    messages = stored(db, long)
    open_long(qtbot, view, long, messages[-1].id)
    view.set_selection("demo", "gpt-4o-mini")
    reply = view.messages()[-1]
    others = {widget: widget.tally.renders for widget in view.messages() if widget is not reply}
    with qtbot.waitSignal(view.reply_finished, timeout=REPLY_TIMEOUT) as finished:
        reply.retry_button.click()
    again = finished.args[0]
    qtbot.waitUntil(lambda: not view.is_busy(), timeout=REPLY_TIMEOUT)

    after = stored(db, long)
    assert len(after) == 1000 and after[-1].id == again.message_id != messages[-1].id
    assert view.messages()[-1] is reply and reply.message_id == again.message_id
    assert reply.text() == again.text == after[-1].content
    assert after[-1].usage is not None and reply.footer_text() == usage_line(after[-1].usage)
    bar = view.message_scroll.verticalScrollBar()
    assert bar.value() == bar.maximum()  # followed the reply down
    assert {widget: widget.tally.renders for widget in others} == others  # only it rendered


def long_reply(turns: int) -> str:
    return "\n\n".join(long_conversation.reply(turn) for turn in range(1, turns + 1))


def stream_in(qtbot: QtBot, widget: MessageWidget, text: str, piece: int) -> list[int]:
    """Stream ``text`` into ``widget`` in pieces, a render after each; characters parsed by each."""
    widget.start_streaming("gpt-4o-mini")
    parsed = []
    for start in range(0, len(text), piece):
        before = widget.tally.parsed
        widget.append(text[start : start + piece])
        qtbot.waitUntil(lambda: widget.rendered_text() == widget.text(), timeout=2_000)
        parsed.append(widget.tally.parsed - before)
    return parsed


def test_a_streaming_reply_parses_its_open_tail_only_and_settles_as_stored(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(message, "RENDER_DELAY_MS", 1)  # a render per piece, without waiting
    widget = MessageWidget("assistant")
    qtbot.addWidget(widget)
    widget.resize(760, 400)
    widget.show()
    text = long_reply(6)  # about 18,000 characters: headings, lists, prose, code
    piece = 60

    parsed = stream_in(qtbot, widget, text, piece)

    whole = sum(min(len(text), piece * (n + 1)) for n in range(len(parsed)))
    longest_block = max(len(block) for block in text.split("\n\n"))
    assert max(parsed) <= 2 * (SETTLE_CHARS + longest_block)  # never the whole reply so far
    assert sum(parsed) < whole / 5  # re-parsing everything each time would cost this much
    assert len(widget.body.source_text()) < 2 * (SETTLE_CHARS + longest_block)  # the tail
    assert widget.is_streaming() and not widget.copy_button.isVisible()

    widget.finish(text, None, 7)
    stored_reply = MessageWidget("assistant")
    qtbot.addWidget(stored_reply)
    stored_reply.finish(text, None, 7)
    assert widget.rendered_text() == widget.body.source_text() == text
    assert widget.body.toHtml() == stored_reply.body.toHtml()
    assert widget.copy_button.isVisible() and widget.retry_button.isVisible()


def test_a_long_paragraph_streams_in_by_appending_its_words(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(message, "RENDER_DELAY_MS", 1)
    widget = MessageWidget("assistant")
    qtbot.addWidget(widget)
    words = " ".join(f"Word{n}, and then some more words." for n in range(400))

    parsed = stream_in(qtbot, widget, words, 50)

    assert sum(parsed) < 100  # the first words only: the rest was typed in
    assert widget.tally.typed >= len(words) - 100
    fresh = MarkdownView()
    fresh.set_content(words)
    assert widget.body.toHtml() == fresh.toHtml()


PIECES = [
    *("lorem", "ipsum", " ", "  ", ".", ",", "!", "'", '"', "(", ")", "-", "42", "é", "Word"),
    *("\n", "\n\n", "*", "**", "_", "__", "`", "```", "~", "#", "> ", "- ", "1. ", "|"),
    *("www.", "example", "com", "http", "://", "@", "&amp;", "&", "[", "](", "<b>", "\\"),
    *("\t", "    ", "==", "---", "~~", "$", "%", "/", ":", "+", "=", "^", "{", "}", "\u00a0"),
    *("1", "A.", "e.g.", "'s", "Www.", "WWW.", "ß", "Ω", "日本", "3)", "x_y", "a*b", "!["),
]
"""Words, and what Markdown may read into them, as a reply streams them in."""


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=40))
def test_what_is_appended_without_a_parse_shows_as_a_parse_would(
    qapp: QApplication, pieces: list[str]
) -> None:
    streamed, fresh = MarkdownView(), MarkdownView()
    text = "Start"
    streamed.extend_to(text)
    for piece in pieces:
        text += piece
        streamed.extend_to(text)
        fresh.set_content(text)
        assert streamed.toHtml() == fresh.toHtml(), repr(text)
