"""The conversations on the left: search, new, rename, delete (and undo), each with its cost.

The list reads a page at a time (:class:`ConversationListModel`), so 50,000 conversations open
as fast as 50; a search runs in the database and a newer one drops an older one's answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QColor, QFont, QFontMetrics, QKeySequence, QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QInputDialog,
    QLineEdit,
    QListView,
    QMenu,
    QMessageBox,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from app.core import conversations, money
from app.core.conversations import ConversationSummary, ListPosition
from app.core.storage.changes import CONVERSATIONS, LEDGER, Changes
from app.core.types import ConversationId
from app.ui.context import AppContext
from app.ui.errors import describe
from app.ui.live import ChangeThrottle
from app.ui.operations import Latest, alive, run_write
from app.ui.undo_bar import UndoBar

_Index = QModelIndex | QPersistentModelIndex
SummaryRole = Qt.ItemDataRole.UserRole + 1


class ConversationListModel(QAbstractListModel):
    """Conversation summaries, most recent first, read a keyset page at a time.

    A ledger can hold 50,000 conversations, so only the first page is read
    (:meth:`set_search`), and the next when the view asks (:meth:`fetchMore`: the user scrolled
    to the bottom). :meth:`refresh` re-reads as many rows as are loaded. Until a new answer
    arrives the rows shown stay; an answer or a page for a query since replaced is dropped.

    Signals:
        loaded(): a first page (or a refresh) arrived and replaced the rows.
        fetched(int): a next page arrived; how many rows it had (0: there were no more).
        failed(object): a read failed; the exception (for :func:`app.ui.errors.describe`).
    """

    loaded = Signal()
    fetched = Signal(int)
    failed = Signal(object)

    def __init__(
        self,
        context: AppContext,
        parent: QObject | None = None,
        *,
        page_size: int = conversations.PAGE_SIZE,
    ) -> None:
        super().__init__(parent)
        self._context = context
        self._page_size = page_size
        self._search = ""
        self._shown_search = ""
        self._rows: list[ConversationSummary] = []
        self._rows_by_id: dict[int, int] = {}
        self._latest = Latest(self)
        self._more = False
        self._fetching = False

    @property
    def search(self) -> str:
        """The search the rows shown answer (a newer one may be on its way)."""
        return self._shown_search

    def set_search(self, search: str) -> None:
        """Show the conversations matching ``search`` ("" for all), from the first page."""
        self._search = search
        self._read(limit=self._page_size)

    def refresh(self) -> None:
        """Re-read as many rows as are loaded (titles, costs and order may all have changed)."""
        loaded = -(-len(self._rows) // self._page_size) * self._page_size
        self._read(limit=max(self._page_size, loaded))

    def row_of(self, conversation_id: int) -> int | None:
        """Where a conversation is in the list, if it is loaded."""
        return self._rows_by_id.get(conversation_id)

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802 (Qt API)
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return row.title
        if role == Qt.ItemDataRole.ToolTipRole:
            cost = money.format_usd_exact(row.cost)
            matched = f"\n{row.snippet}" if row.snippet else ""
            return f"{row.title}{matched}\n{cost} · {row.model or 'no model yet'}"
        if role == SummaryRole:
            return row
        return None

    def canFetchMore(self, parent: _Index) -> bool:  # noqa: N802 (Qt API)
        """True while the last page arrived full (there may be more rows)."""
        return not parent.isValid() and self._more

    def fetchMore(self, parent: _Index) -> None:  # noqa: N802 (Qt API)
        """Start reading the next page, unless one is already on its way."""
        if parent.isValid() or not self._more or self._fetching or not self._rows:
            return
        self._fetching = True
        search, after, limit = self._search, self._rows[-1].position, self._page_size
        self._context.reads.run(
            self._reader(search, after, limit),
            self._latest.guard(self._on_page_arrived),
            self._latest.guard(self._on_read_failed),
        )

    def _read(self, *, limit: int) -> None:
        self._latest.renew()  # a page still on its way belongs to the rows being replaced
        self._more = False
        self._fetching = False
        search = self._search
        self._context.reads.run(
            self._reader(search, None, limit),
            self._latest.guard(lambda rows: self._on_rows_arrived(rows, search, limit)),
            self._latest.guard(self._on_read_failed),
        )

    def _reader(
        self, search: str, after: ListPosition | None, limit: int
    ) -> Callable[[], list[ConversationSummary]]:
        db = self._context.db

        def read() -> list[ConversationSummary]:
            with db.read() as session:
                return conversations.list_conversations(session, search, after=after, limit=limit)

        return read

    def _on_rows_arrived(self, rows: list[ConversationSummary], search: str, limit: int) -> None:
        self.beginResetModel()
        self._shown_search = search
        self._rows = rows
        self._rows_by_id = {row.id: i for i, row in enumerate(rows)}
        self._more = len(rows) == limit
        self.endResetModel()
        self.loaded.emit()

    def _on_page_arrived(self, rows: list[ConversationSummary]) -> None:
        self._fetching = False
        self._more = len(rows) == self._page_size
        if rows:
            start = len(self._rows)
            self.beginInsertRows(QModelIndex(), start, start + len(rows) - 1)
            self._rows_by_id.update((row.id, start + i) for i, row in enumerate(rows))
            self._rows.extend(rows)
            self.endInsertRows()
        self.fetched.emit(len(rows))

    def _on_read_failed(self, error: BaseException) -> None:
        self._fetching = False
        self._more = False  # no endless retries from the view; a refresh starts over
        self.failed.emit(error)


class _ConversationDelegate(QStyledItemDelegate):
    """Title on the left, cost on the right, the model underneath in the muted text colour.

    Under a search, what matched is in bold: in the title, and in the snippet of the message
    text that replaces the model line when the text matched (why the conversation is listed).
    """

    def __init__(self, model: ConversationListModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._model = model

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        summary: ConversationSummary | None = index.data(SummaryRole)
        if summary is None:
            return
        self.initStyleOption(option, index)
        style = option.widget.style() if option.widget else None
        option.text = ""
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, option, painter, option.widget)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        group = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        muted = (
            QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.PlaceholderText
        )
        rect = option.rect.adjusted(8, 4, -8, -4)
        line = option.fontMetrics.height()
        cost = money.format_usd(summary.cost)
        cost_width = option.fontMetrics.horizontalAdvance(cost) + 8
        search = self._model.search.strip()
        ink = option.palette.color(group)
        painter.save()
        title_rect = QRect(rect.left(), rect.top(), rect.width() - cost_width, line)
        _draw_marked(painter, title_rect, summary.title, search, option.font, ink, ink)
        painter.setPen(ink)
        painter.drawText(
            QRect(rect.right() - cost_width, rect.top(), cost_width, line),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            cost,
        )
        second = QRect(rect.left(), rect.top() + line + 2, rect.width(), line)
        below = f"{summary.model or ''}  ·  {summary.updated_at:%d %b %H:%M}"
        text = summary.snippet or below
        _draw_marked(painter, second, text, search, option.font, option.palette.color(muted), ink)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:  # noqa: N802 (Qt API)
        return QSize(200, option.fontMetrics.height() * 2 + 14)


def marked_runs(text: str, search: str) -> list[tuple[str, bool]]:
    """``text`` cut into runs, each saying whether it is an occurrence of ``search`` (in any
    case): how a row shows what a search matched."""
    runs: list[tuple[str, bool]] = []
    start = 0
    if search:
        for found in re.finditer(re.escape(search), text, re.IGNORECASE):
            if found.start() > start:
                runs.append((text[start : found.start()], False))
            runs.append((found.group(), True))
            start = found.end()
    if start < len(text):
        runs.append((text[start:], False))
    return runs


def _draw_marked(
    painter: QPainter,
    rect: QRect,
    text: str,
    search: str,
    font: QFont,
    colour: QColor,
    mark_colour: QColor,
) -> None:
    """One line of ``text`` in ``rect``, the matches of ``search`` in bold (in ``mark_colour``),
    elided at the right edge."""
    bold = QFont(font)
    bold.setBold(True)
    x = rect.left()
    for run, marked in marked_runs(text, search):
        metrics = QFontMetrics(bold if marked else font)
        room = rect.right() - x
        shown = metrics.elidedText(run, Qt.TextElideMode.ElideRight, room)
        painter.setFont(bold if marked else font)
        painter.setPen(mark_colour if marked else colour)
        painter.drawText(
            QRect(x, rect.top(), room, rect.height()),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            shown,
        )
        if shown != run:
            return
        x += metrics.horizontalAdvance(run)


class ConversationListPanel(QWidget):
    """Search box, list and "New conversation"; rename and delete from the context menu.

    A deletion is confirmed, then offered for undo for a few seconds (the bar under the list,
    or Ctrl+Z in the list): the conversation comes back in its place, and reopens if it was
    the one open.

    Signals:
        conversation_selected(int): the user opened a conversation.
        new_requested(): the user wants a fresh conversation.
    """

    conversation_selected = Signal(int)
    new_requested = Signal()

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._context = context
        self._current: int | None = None
        self._anchor: tuple[str, int | None, int] = ("", None, 0)
        self.search = QLineEdit(placeholderText="Search conversations", clearButtonEnabled=True)
        self.model = ConversationListModel(context, self)
        self.view = QListView()
        self.view.setModel(self.model)
        self.view.setItemDelegate(_ConversationDelegate(self.model, self.view))
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setUniformItemSizes(True)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.new_button = QPushButton("New conversation")
        self.undo_bar = UndoBar(self)
        self._deleted: tuple[ConversationSummary, bool] | None = None  # and whether it was open
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.new_button)
        layout.addWidget(self.search)
        layout.addWidget(self.view)
        layout.addWidget(self.undo_bar)
        self._search_timer = QTimer(self, singleShot=True, interval=200)
        self._search_timer.timeout.connect(self._on_search_timer_timeout)
        self.search.textChanged.connect(self._search_timer.start)
        self.new_button.clicked.connect(self.new_requested)
        self.view.clicked.connect(self._on_view_clicked)
        self.view.activated.connect(self._on_view_clicked)
        self.view.customContextMenuRequested.connect(self._on_view_context_menu)
        self.model.modelAboutToBeReset.connect(self._on_model_model_about_to_be_reset)
        self.model.modelReset.connect(self._on_model_model_reset)
        self.model.rowsInserted.connect(self._on_model_rows_inserted)
        self.model.failed.connect(self._on_load_failed)
        self.undo_bar.undo_requested.connect(self.undo_delete)
        self.undo_bar.expired.connect(self._on_undo_bar_expired)
        # F2 (rename) is the window's Chat menu action: bound here too, it was ambiguous and
        # did nothing in the very place people press it.
        self._add_shortcut(
            "Delete…", QKeySequence(QKeySequence.StandardKey.Delete), self.delete_current
        )
        self.undo_action = self._add_shortcut(
            "Undo delete", QKeySequence(QKeySequence.StandardKey.Undo), self.undo_delete
        )
        self.undo_action.setEnabled(False)  # while a deletion's undo is offered
        ChangeThrottle(context.events.changed, CONVERSATIONS | LEDGER, self._on_changes, self)
        self.model.set_search("")

    def refresh(self) -> None:
        """Re-read the loaded rows (in the background), keeping the selection and the scroll."""
        self.model.refresh()

    def select(self, conversation_id: int | None) -> None:
        """Highlight a conversation (one the chat just created, one opened from the dashboard).

        It is kept by id: if it is not on the loaded pages it is highlighted once it is (a new
        one is listed first once its commit is announced; an old one when scrolled to).
        """
        self._current = conversation_id
        row = self.model.row_of(conversation_id) if conversation_id is not None else None
        if row is None:
            self.view.clearSelection()
        else:
            self.view.setCurrentIndex(self.model.index(row))

    def rename_current(self) -> None:
        """Ask for a new title for the selected conversation."""
        summary = self._selected()
        if summary is None:
            return
        title, ok = QInputDialog.getText(self, "Rename conversation", "Title:", text=summary.title)
        if ok and title.strip():
            chats = self._context.chats
            self._context.tasks.run(
                lambda: chats.rename(ConversationId(summary.id), title),
                None,
                alive(self, self._on_load_failed),
            )

    def delete_current(self) -> None:
        """Hide the selected conversation after confirmation; its spend stays on the ledger."""
        summary = self._selected()
        if summary is None:
            return
        answer = QMessageBox.question(
            self,
            "Delete conversation",
            f"Delete “{summary.title}”?\n\nIts {money.format_usd(summary.cost)} of spend stays "
            "on the ledger and in reports.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            was_open = summary.id == self._current
            if was_open:
                self._current = None
                self.new_requested.emit()
            chats = self._context.chats
            self._context.tasks.run(
                lambda: chats.discard(ConversationId(summary.id)),
                alive(self, lambda _none: self._offer_undo(summary, was_open)),
                alive(self, self._on_load_failed),
            )

    def undo_delete(self) -> None:
        """Bring back the conversation just deleted, while its undo is offered."""
        if self._deleted is None:
            return
        summary, was_open = self._deleted
        self._set_deleted(None)
        run_write(
            self._context,
            self,
            lambda session: conversations.restore_conversation(session, summary.id),
            lambda _none: self._on_restored(summary.id, was_open),
            self._on_load_failed,
        )

    def _offer_undo(self, summary: ConversationSummary, was_open: bool) -> None:
        self._set_deleted((summary, was_open))
        keys = self.undo_action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        self.undo_bar.offer("Deleted", summary.title, hint=f"Bring it back ({keys} in the list)")

    def _set_deleted(self, deleted: tuple[ConversationSummary, bool] | None) -> None:
        self._deleted = deleted
        self.undo_action.setEnabled(deleted is not None)
        if deleted is None:
            self.undo_bar.withdraw()

    def _on_restored(self, conversation_id: int, was_open: bool) -> None:
        """Listed again once its commit is announced; reopened if it was open and the user has
        not opened another since."""
        if was_open and self._current is None:
            self.select(conversation_id)
            self.conversation_selected.emit(conversation_id)

    def _on_undo_bar_expired(self) -> None:
        self._set_deleted(None)

    def _selected(self) -> ConversationSummary | None:
        index = self.view.currentIndex()
        summary: ConversationSummary | None = index.data(SummaryRole) if index.isValid() else None
        return summary

    def _restore_selection(self) -> None:
        """Highlight the current conversation again where it is now, without scrolling to it."""
        row = self.model.row_of(self._current) if self._current is not None else None
        if row is None:
            self.view.clearSelection()
            return
        scroll_bar = self.view.verticalScrollBar()
        shown = scroll_bar.value()
        self.view.setCurrentIndex(self.model.index(row))
        scroll_bar.setValue(shown)

    def _add_shortcut(self, text: str, keys: QKeySequence, slot: Any) -> QAction:
        action = QAction(text, self.view, shortcut=keys)
        action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        action.triggered.connect(slot)
        self.view.addAction(action)
        return action

    def _on_changes(self, _changes: Changes) -> None:
        self.refresh()  # titles, new messages, and what each conversation has cost

    def _on_search_timer_timeout(self) -> None:
        self.model.set_search(self.search.text())

    def _on_model_model_about_to_be_reset(self) -> None:
        # What the viewport starts with: the list's top stays its top (where new conversations
        # appear); scrolled down, the same conversation stays first in view (else the same row).
        top = self.view.indexAt(QPoint(1, 1))
        scrolled = self.view.verticalScrollBar().value() > 0 and top.isValid()
        summary: ConversationSummary | None = top.data(SummaryRole) if scrolled else None
        self._anchor = (self.model.search, summary.id if summary else None, top.row())

    def _on_model_model_reset(self) -> None:
        self._restore_selection()
        search, top, top_row = self._anchor
        if top is None or search != self.model.search or not self.model.rowCount():
            self.view.scrollToTop()
            return
        row = self.model.row_of(top)
        shown = self.model.index(min(top_row, self.model.rowCount() - 1) if row is None else row)
        self.view.scrollTo(shown, QAbstractItemView.ScrollHint.PositionAtTop)

    def _on_model_rows_inserted(self, _parent: QModelIndex, _first: int, _last: int) -> None:
        if self._current is not None and not self.view.selectionModel().hasSelection():
            self._restore_selection()  # the current conversation may be on the new page

    def _on_load_failed(self, error: BaseException) -> None:
        self.search.setToolTip(describe(error))

    def _on_view_clicked(self, index: QModelIndex) -> None:
        summary: ConversationSummary = index.data(SummaryRole)
        self._current = summary.id
        self.conversation_selected.emit(summary.id)

    def _on_view_context_menu(self, position: Any) -> None:
        if not self.view.indexAt(position).isValid():
            return
        menu = QMenu(self)
        menu.addActions(self.view.actions())
        menu.exec(self.view.viewport().mapToGlobal(position))
