"""The conversations on the left: search, new, rename, delete, each with what it has cost."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QKeySequence, QPainter, QPalette
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
from app.core.conversations import ConversationSummary
from app.core.storage.changes import CONVERSATIONS, LEDGER, Changes
from app.core.types import ConversationId
from app.ui.context import AppContext
from app.ui.errors import describe
from app.ui.live import ChangeThrottle
from app.ui.operations import LatestLoad, alive

_Index = QModelIndex | QPersistentModelIndex
SummaryRole = Qt.ItemDataRole.UserRole + 1


class ConversationListModel(QAbstractListModel):
    """Conversation summaries, most recent first; replaced whole on each refresh."""

    def __init__(self) -> None:
        super().__init__()
        self._rows: list[ConversationSummary] = []

    def set_rows(self, rows: list[ConversationSummary]) -> None:
        """Show a fresh list (the view keeps its selection by id, see the panel)."""
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()

    def row_of(self, conversation_id: int) -> int | None:
        """Where a conversation is in the list, if it is shown."""
        return next((i for i, row in enumerate(self._rows) if row.id == conversation_id), None)

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802 (Qt API)
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return row.title
        if role == Qt.ItemDataRole.ToolTipRole:
            cost = money.format_usd(row.cost, places=6)
            return f"{row.title}\n{cost} · {row.model or 'no model yet'}"
        if role == SummaryRole:
            return row
        return None


class _ConversationDelegate(QStyledItemDelegate):
    """Title on the left, cost on the right, the model underneath in the muted text colour."""

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
        painter.save()
        painter.setPen(option.palette.color(group))
        title_rect = QRect(rect.left(), rect.top(), rect.width() - cost_width, line)
        title = option.fontMetrics.elidedText(
            summary.title, Qt.TextElideMode.ElideRight, title_rect.width()
        )
        painter.drawText(
            title_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, title
        )
        painter.drawText(
            QRect(rect.right() - cost_width, rect.top(), cost_width, line),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            cost,
        )
        painter.setPen(option.palette.color(muted))
        painter.drawText(
            QRect(rect.left(), rect.top() + line + 2, rect.width(), line),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            f"{summary.model or ''}  ·  {summary.updated_at:%d %b %H:%M}",
        )
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:  # noqa: N802 (Qt API)
        return QSize(200, option.fontMetrics.height() * 2 + 14)


class ConversationListPanel(QWidget):
    """Search box, list and "New conversation"; rename and delete from the context menu.

    Signals:
        conversation_selected(int): the user opened a conversation.
        new_requested(): the user wants a fresh conversation.
    """

    conversation_selected = Signal(int)
    new_requested = Signal()

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._context = context
        self._listing = LatestLoad(context, self)
        self._current: int | None = None
        self.search = QLineEdit(placeholderText="Search conversations", clearButtonEnabled=True)
        self.model = ConversationListModel()
        self.view = QListView()
        self.view.setModel(self.model)
        self.view.setItemDelegate(_ConversationDelegate(self.view))
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setUniformItemSizes(True)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.new_button = QPushButton("New conversation")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.new_button)
        layout.addWidget(self.search)
        layout.addWidget(self.view)
        self._search_timer = QTimer(self, singleShot=True, interval=200)
        self._search_timer.timeout.connect(self.refresh)
        self.search.textChanged.connect(self._search_timer.start)
        self.new_button.clicked.connect(self.new_requested)
        self.view.clicked.connect(self._on_view_clicked)
        self.view.activated.connect(self._on_view_clicked)
        self.view.customContextMenuRequested.connect(self._on_view_context_menu)
        self._add_shortcut("Rename…", QKeySequence(Qt.Key.Key_F2), self.rename_current)
        self._add_shortcut(
            "Delete…", QKeySequence(QKeySequence.StandardKey.Delete), self.delete_current
        )
        ChangeThrottle(context.events.changed, CONVERSATIONS | LEDGER, self._on_changes, self)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the list (in the background), keeping the current conversation selected."""
        search = self.search.text()

        def load() -> list[ConversationSummary]:
            with self._context.db.read() as session:
                return conversations.list_conversations(session, search)

        self._listing.start(load, self._on_load_finished, self._on_load_failed)

    def select(self, conversation_id: int | None) -> None:
        """Highlight a conversation (e.g. one the chat just created)."""
        self._current = conversation_id
        self._restore_selection()

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
            if summary.id == self._current:
                self._current = None
                self.new_requested.emit()
            chats = self._context.chats
            self._context.tasks.run(
                lambda: chats.discard(ConversationId(summary.id)),
                None,
                alive(self, self._on_load_failed),
            )

    def _selected(self) -> ConversationSummary | None:
        index = self.view.currentIndex()
        summary: ConversationSummary | None = index.data(SummaryRole) if index.isValid() else None
        return summary

    def _restore_selection(self) -> None:
        row = self.model.row_of(self._current) if self._current is not None else None
        if row is None:
            self.view.clearSelection()
        else:
            self.view.setCurrentIndex(self.model.index(row))

    def _add_shortcut(self, text: str, keys: QKeySequence, slot: Any) -> None:
        action = QAction(text, self.view, shortcut=keys)
        action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        action.triggered.connect(slot)
        self.view.addAction(action)

    def _on_changes(self, _changes: Changes) -> None:
        self.refresh()  # titles, new messages, and what each conversation has cost

    def _on_load_finished(self, rows: list[ConversationSummary]) -> None:
        self.model.set_rows(rows)
        self._restore_selection()

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
