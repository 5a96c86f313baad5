"""The conversation filter: a search field, not a menu of every conversation.

A ledger can hold 50,000 conversations; a combo box of them takes seconds to fill and cannot be
read. The user types part of a title instead, the database offers the most recent
:data:`~app.core.conversations.CHOICES_LIMIT` that match (any source), and a pick filters the
table. An empty field, or "All conversations" at the top of the offer, selects every one.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QCompleter, QLineEdit, QListView, QWidget

from app.core import conversations
from app.core.conversations import ConversationChoice, source_label
from app.ui.context import AppContext
from app.ui.operations import LatestLoad

ALL_CONVERSATIONS = "All conversations"
IdRole = Qt.ItemDataRole.UserRole + 1
"""An offered row's conversation id (``None`` for "All conversations")."""
TitleRole = Qt.ItemDataRole.UserRole + 2
"""What the field shows once the row is picked (the title alone)."""
_SEARCH_DEBOUNCE_MS = 150
_POPUP_WIDTH = 380


class ConversationFilter(QLineEdit):
    """Type to search conversations by title; pick one to filter by it.

    What the user types only searches: the filter changes when a conversation (or "All
    conversations") is picked, or when the field is emptied. Leaving the field without a pick
    puts back the chosen conversation's title. :meth:`set_value` shows a conversation chosen
    elsewhere (its title read from the ledger) without announcing it.

    Signals:
        chosen(object): the user picked a conversation (its id) or all of them (``None``).
        offered(int): an answer to the latest search is offered; how many conversations.
        failed(object): a read failed; the exception (for :func:`app.ui.errors.describe`).
    """

    chosen = Signal(object)
    offered = Signal(int)
    failed = Signal(object)

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._context = context
        self._search = LatestLoad(context, self)
        self._naming = LatestLoad(context, self)
        self._value: int | None = None
        self._label = ""
        self.setPlaceholderText(ALL_CONVERSATIONS)
        self.setClearButtonEnabled(True)
        self.setAccessibleName("Conversation")
        self.setToolTip("Type part of a title to find a conversation; empty: all conversations")
        self.offers = QStandardItemModel(self)
        self.suggestions = QCompleter(self.offers, self)
        self.suggestions.setWidget(self)  # not setCompleter: the field's text is ours to set
        self.suggestions.setCompletionMode(QCompleter.CompletionMode.UnfilteredPopupCompletion)
        self.suggestions.setCompletionRole(TitleRole)
        self.suggestions.setMaxVisibleItems(15)
        self.popup = QListView()
        self.popup.setUniformItemSizes(True)
        self.popup.setMinimumWidth(_POPUP_WIDTH)
        self.suggestions.setPopup(self.popup)  # the completer owns it from now on
        self._timer = QTimer(self, singleShot=True, interval=_SEARCH_DEBOUNCE_MS)
        self._timer.timeout.connect(self._on_timer_timeout)
        self.textEdited.connect(self._on_text_edited)
        self.editingFinished.connect(self._on_editing_finished)
        # The overload with the row (the stubs know only the one with the text).
        activated = self.suggestions.activated[QModelIndex]  # type: ignore[index]
        activated.connect(self._on_suggestions_activated)

    def value(self) -> int | None:
        """The chosen conversation's id (``None``: all conversations)."""
        return self._value

    def set_value(self, conversation_id: int | None) -> None:
        """Show ``conversation_id`` as chosen, without announcing it (its title follows)."""
        if conversation_id == self._value:
            return
        self._value = conversation_id
        self._show(f"Conversation #{conversation_id}" if conversation_id is not None else "")
        self.refresh()

    def refresh(self) -> None:
        """Read the chosen conversation's title again (it may have been renamed)."""
        chosen = self._value
        if chosen is None:
            return
        db = self._context.db

        def load() -> ConversationChoice | None:
            with db.read() as session:
                return conversations.choice_of(session, chosen)

        self._naming.start(load, self._on_named, self.failed.emit)

    def search(self) -> None:
        """Offer the conversations whose title holds the text typed (in the background)."""
        self._timer.stop()
        text = self.text()
        db = self._context.db

        def load() -> list[ConversationChoice]:
            with db.read() as session:
                return conversations.find_by_title(session, text)

        self._search.start(load, self._on_found, self.failed.emit)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt API)
        if event.key() == Qt.Key.Key_Down and not self.popup.isVisible():
            self.search()  # the most recent ones, or the matches of what the field holds
            return
        super().keyPressEvent(event)

    def _show(self, label: str) -> None:
        self._label = label
        self.setText(label)
        self.setCursorPosition(0)

    def _choose(self, conversation_id: int | None, label: str) -> None:
        changed = conversation_id != self._value
        self._value = conversation_id
        self._show(label)
        if changed:
            self.chosen.emit(conversation_id)

    def _on_text_edited(self, text: str) -> None:
        if text.strip():
            self._timer.start()
            return
        self._timer.stop()
        self.popup.hide()
        self._choose(None, "")

    def _on_timer_timeout(self) -> None:
        self.search()

    def _on_found(self, found: list[ConversationChoice]) -> None:
        self.offers.clear()
        every = QStandardItem(ALL_CONVERSATIONS)
        every.setData(None, IdRole)
        every.setData("", TitleRole)
        self.offers.appendRow(every)
        for choice in found:
            item = QStandardItem(f"{choice.title}  ·  {source_label(choice.source)}")
            item.setData(choice.id, IdRole)
            item.setData(choice.title, TitleRole)
            item.setToolTip(f"Conversation #{choice.id}")
            self.offers.appendRow(item)
        if self.hasFocus():
            self.suggestions.complete()
        self.offered.emit(len(found))

    def _on_named(self, choice: ConversationChoice | None) -> None:
        if choice is None or choice.id != self._value or self.text() != self._label:
            return  # another was chosen meanwhile, or the user is typing
        self._show(choice.title)

    def _on_suggestions_activated(self, index: QModelIndex) -> None:
        self._choose(index.data(IdRole), index.data(TitleRole))

    def _on_editing_finished(self) -> None:
        if not self.popup.isVisible() and self.text().strip():
            self._show(self._label)  # typed but not picked: the filter stays as it was
