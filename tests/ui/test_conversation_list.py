"""The conversation list on a ledger of a thousand conversations: a page at a time, searched in
the database, the selection kept by id and the view kept in place as the ledger changes."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from PySide6.QtCore import QCoreApplication, QModelIndex, QPoint, Qt
from PySide6.QtWidgets import QMessageBox
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from app.core import conversations
from app.core.conversations import PAGE_SIZE, ConversationSummary
from app.core.storage.db import Database
from app.ui.context import AppContext
from app.ui.conversation_list import ConversationListPanel, SummaryRole, marked_runs

pytestmark = pytest.mark.gui

WAIT_MS = 10_000
COUNT = 1000
START = datetime(2026, 1, 1)


@pytest.fixture
def newest_first(db: Database) -> list[int]:
    """A thousand chat conversations a minute apart ("Topic 0" the oldest); their ids, newest
    first. The oldest holds the only message that mentions a lighthouse."""
    with db.write() as session:
        made = [
            conversations.create_conversation(
                session, title=f"Topic {n}", now=START + timedelta(minutes=n)
            ).id
            for n in range(COUNT)
        ]
        conversations.add_message(session, made[0], "user", "Draw me a lighthouse")
    return made[::-1]


@pytest.fixture
def panel(qtbot: QtBot, context: AppContext, newest_first: list[int]) -> ConversationListPanel:
    """The panel on screen, its first page in."""
    shown = ConversationListPanel(context)
    qtbot.addWidget(shown)
    shown.resize(320, 600)
    with qtbot.waitSignal(shown.model.loaded, timeout=WAIT_MS):
        shown.show()
    return shown


def listed(panel: ConversationListPanel) -> list[int]:
    model = panel.model
    return [model.data(model.index(row), SummaryRole).id for row in range(model.rowCount())]


def scroll_to_the_end(qtbot: QtBot, panel: ConversationListPanel) -> None:
    """What the user does by dragging the scroll bar down: the view asks for the next page."""
    with qtbot.waitSignal(panel.model.fetched, timeout=WAIT_MS):
        panel.view.scrollToBottom()


def top_in_view(panel: ConversationListPanel) -> int:
    summary: ConversationSummary = panel.view.indexAt(QPoint(1, 1)).data(SummaryRole)
    return summary.id


def selected(panel: ConversationListPanel) -> list[int]:
    return [index.data(SummaryRole).id for index in panel.view.selectionModel().selectedIndexes()]


def test_only_the_first_page_is_read_and_scrolling_reads_the_next(
    qtbot: QtBot, panel: ConversationListPanel, newest_first: list[int]
) -> None:
    ModelTester(None).check(panel.model)
    assert listed(panel) == newest_first[:PAGE_SIZE]
    assert panel.view.uniformItemSizes()

    scroll_to_the_end(qtbot, panel)

    assert listed(panel) == newest_first[: 2 * PAGE_SIZE]
    while panel.model.canFetchMore(QModelIndex()):
        scroll_to_the_end(qtbot, panel)
    assert listed(panel) == newest_first


def test_a_search_finds_a_conversation_far_past_the_first_page(
    qtbot: QtBot, panel: ConversationListPanel, newest_first: list[int]
) -> None:
    with qtbot.waitSignal(panel.model.loaded, timeout=WAIT_MS):
        qtbot.keyClicks(panel.search, "lighthouse")
    assert listed(panel) == [newest_first[-1]]
    assert not panel.model.canFetchMore(QModelIndex())

    with qtbot.waitSignal(panel.model.loaded, timeout=WAIT_MS):
        panel.search.clear()

    scroll_to_the_end(qtbot, panel)
    with qtbot.waitSignal(panel.model.loaded, timeout=WAIT_MS):
        panel.search.setText("topic")
    assert listed(panel) == newest_first[:PAGE_SIZE]  # from the first page, shown from its top
    assert top_in_view(panel) == newest_first[0]


def test_an_answer_to_a_search_typed_over_is_never_shown(
    qtbot: QtBot, panel: ConversationListPanel, context: AppContext, newest_first: list[int]
) -> None:
    answers: list[list[int]] = []
    panel.model.loaded.connect(lambda: answers.append(listed(panel)))

    panel.model.set_search("Topic 1")  # two hundred matches, still on their way...
    panel.model.set_search("Topic 999")  # ...when the user typed on
    qtbot.waitUntil(lambda: bool(answers), timeout=WAIT_MS)
    context.reads.wait()
    QCoreApplication.processEvents()  # delivers the older answer's queued signal

    assert answers == [[newest_first[0]]]
    assert listed(panel) == [newest_first[0]]


def test_a_conversation_selected_before_its_page_is_read_is_highlighted_once_it_is(
    qtbot: QtBot, panel: ConversationListPanel, newest_first: list[int]
) -> None:
    panel.select(newest_first[3])
    assert selected(panel) == [newest_first[3]]

    old = newest_first[PAGE_SIZE + 10]  # opened from the dashboard: not loaded yet
    panel.select(old)
    assert selected(panel) == []
    scroll_to_the_end(qtbot, panel)
    assert selected(panel) == [old]


def test_a_change_keeps_the_selection_and_what_is_in_view(
    qtbot: QtBot, panel: ConversationListPanel, db: Database, newest_first: list[int]
) -> None:
    scroll_to_the_end(qtbot, panel)
    panel.select(newest_first[260])  # brought into view
    first_in_view = top_in_view(panel)
    assert first_in_view != newest_first[0]

    with qtbot.waitSignal(panel.model.loaded, timeout=WAIT_MS), db.write() as session:
        fresh = conversations.create_conversation(session, title="Just now").id  # announced

    assert listed(panel)[:3] == [fresh, *newest_first[:2]]
    assert panel.model.rowCount() == 2 * PAGE_SIZE  # as many as were loaded
    assert top_in_view(panel) == first_in_view
    assert selected(panel) == [newest_first[260]]


def test_at_the_top_a_new_conversation_comes_into_view_first(
    qtbot: QtBot, panel: ConversationListPanel, db: Database, newest_first: list[int]
) -> None:
    with qtbot.waitSignal(panel.model.loaded, timeout=WAIT_MS), db.write() as session:
        fresh = conversations.create_conversation(session, title="Just now").id
    panel.select(fresh)  # as the window does once the chat created it

    assert top_in_view(panel) == fresh
    assert selected(panel) == [fresh]
    assert listed(panel)[1] == newest_first[0]


def test_a_search_shows_why_each_conversation_matched_with_the_match_in_bold(
    qtbot: QtBot, panel: ConversationListPanel, db: Database, newest_first: list[int]
) -> None:
    with qtbot.waitSignal(panel.model.loaded, timeout=WAIT_MS), db.write() as session:
        conversations.set_title(session, newest_first[5], "A lighthouse trip")
    with qtbot.waitSignal(panel.model.loaded, timeout=WAIT_MS):
        qtbot.keyClicks(panel.search, "LIGHTHOUSE")

    by_title, by_text = (panel.model.index(row) for row in range(panel.model.rowCount()))
    assert by_title.data(SummaryRole).snippet == ""  # its title says why
    assert by_text.data(SummaryRole).snippet == "Draw me a lighthouse"
    assert "Draw me a lighthouse" in by_text.data(Qt.ItemDataRole.ToolTipRole)
    assert marked_runs("Draw me a lighthouse", panel.model.search) == [
        ("Draw me a ", False),
        ("lighthouse", True),
    ]
    assert marked_runs("A lighthouse trip", "LIGHTHOUSE") == [
        ("A ", False),
        ("lighthouse", True),
        (" trip", False),
    ]
    assert not panel.view.grab().isNull()  # the rows paint their runs


@pytest.fixture
def confirmed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every deletion is confirmed (the questions asked, in order)."""
    asked: list[str] = []

    def question(_parent: object, _title: str, text: str, *_args: object) -> object:
        asked.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", question)
    return asked


def delete(qtbot: QtBot, panel: ConversationListPanel, conversation_id: int) -> None:
    """Select a conversation, press Delete, and wait until it has left the list."""
    panel.activateWindow()
    panel.view.setFocus()
    qtbot.waitUntil(panel.view.hasFocus, timeout=WAIT_MS)
    panel.select(conversation_id)
    with qtbot.waitSignal(panel.model.loaded, timeout=WAIT_MS):
        qtbot.keyClick(panel.view, Qt.Key.Key_Delete)
    qtbot.waitUntil(panel.undo_bar.isVisible, timeout=WAIT_MS)
    assert conversation_id not in listed(panel)


def test_a_deleted_conversation_comes_back_in_place_with_undo(
    qtbot: QtBot, panel: ConversationListPanel, confirmed: list[str], newest_first: list[int]
) -> None:
    delete(qtbot, panel, newest_first[3])

    assert confirmed and "Topic 996" in confirmed[0]  # still asked first
    assert panel.undo_bar.label.text() == "Deleted “Topic 996”"
    with qtbot.waitSignal(panel.model.loaded, timeout=WAIT_MS):
        panel.undo_bar.undo_button.click()

    assert listed(panel)[:5] == newest_first[:5]  # in its place: deleting kept its time
    assert not panel.undo_bar.isVisible()
    assert not panel.undo_action.isEnabled()  # nothing more to undo


def test_ctrl_z_in_the_list_undoes_a_deletion_while_it_is_offered(
    qtbot: QtBot,
    panel: ConversationListPanel,
    confirmed: list[str],
    context: AppContext,
    db: Database,
    newest_first: list[int],
) -> None:
    delete(qtbot, panel, newest_first[0])
    with qtbot.waitSignal(panel.model.loaded, timeout=WAIT_MS):
        qtbot.keyClick(panel.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert listed(panel)[:2] == newest_first[:2]

    panel.undo_bar.offer_ms = 50
    panel.select(newest_first[1])
    with qtbot.waitSignal(panel.undo_bar.expired, timeout=WAIT_MS):  # offered, then ran out
        qtbot.keyClick(panel.view, Qt.Key.Key_Delete)
    assert not panel.undo_bar.isVisible()
    qtbot.keyClick(panel.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    context.tasks.wait()
    with db.read() as session:
        assert newest_first[1] not in [c.id for c in conversations.list_conversations(session)]


def test_undoing_the_deletion_of_the_open_conversation_reopens_it(
    qtbot: QtBot, panel: ConversationListPanel, confirmed: list[str], newest_first: list[int]
) -> None:
    opened: list[int] = []
    panel.conversation_selected.connect(opened.append)
    panel.new_requested.connect(lambda: panel.select(None))  # as the window does
    panel.view.clicked.emit(panel.model.index(2))  # opened by a click
    assert opened == [newest_first[2]]

    delete(qtbot, panel, newest_first[2])
    with qtbot.waitSignal(panel.conversation_selected, timeout=WAIT_MS):
        panel.undo_bar.undo_button.click()

    assert opened == [newest_first[2], newest_first[2]]
    qtbot.waitUntil(lambda: selected(panel) == [newest_first[2]], timeout=WAIT_MS)
