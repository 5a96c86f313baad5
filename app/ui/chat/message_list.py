"""The messages of the open conversation, built only as far up as the user can scroll to.

A conversation of a thousand long replies would take seconds to build as widgets (each reply is
a rendered Markdown document); what a window shows of it is a few. :class:`MessageList` builds
the newest messages until a screen's height of them lies above what is in view, and more as
the user scrolls up, keeping what is in view where it is. Once every message read is built it
asks for the page stored before them (:attr:`MessageList.earlier_wanted`).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QPalette, QResizeEvent, QShowEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QScrollArea, QVBoxLayout, QWidget

from app.core.conversations import MessageView
from app.ui.chat.loading import MessagePage
from app.ui.chat.message import MessageWidget

USER_INDENT = 64
"""The user's own messages sit this far in from the left, like a reply to the conversation."""
STICK_DISTANCE = 8
"""Scrolled this close to the bottom, the list follows new text down."""


class MessageList(QScrollArea):
    """Message widgets, oldest at the top, with ``lead`` (the welcome card) above them.

    Args:
        build: makes the widget of a stored message (connected to its owner's slots).

    Signals:
        earlier_wanted(int): the user is near the top of what is built and no message read
            is left to build: the id of the oldest shown. Answer with :meth:`add_earlier`.
    """

    earlier_wanted = Signal(int)

    def __init__(
        self,
        lead: QWidget,
        build: Callable[[MessageView], MessageWidget],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._build = build
        self._widgets: list[MessageWidget] = []
        self._unbuilt: list[MessageView] = []
        """Messages read but not built yet, oldest first: all older than the built ones."""
        self._earlier_stored = False
        self._asked = False
        self._filling = False
        self._stick = True
        self._fill_timer = QTimer(self)  # after a show or a resize, once laid out
        self._fill_timer.setSingleShot(True)
        self._fill_timer.setInterval(0)
        self._fill_timer.timeout.connect(self._fill)

        canvas = QWidget()
        canvas.setObjectName("messageList")
        canvas.setBackgroundRole(QPalette.ColorRole.Base)
        canvas.setAutoFillBackground(True)
        self._layout = QVBoxLayout(canvas)
        self._layout.setContentsMargins(12, 8, 12, 8)
        self._layout.setSpacing(10)
        self._layout.addWidget(lead)
        self._layout.addStretch(1)
        self.setObjectName("messages")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setWidget(canvas)
        bar = self.verticalScrollBar()
        bar.rangeChanged.connect(self._on_scrollbar_range_changed)
        bar.valueChanged.connect(self._on_scrollbar_value_changed)

    def widgets(self) -> list[MessageWidget]:
        """The message widgets built, oldest first: the newest messages, as far up as the user
        has scrolled (and a screen more)."""
        return list(self._widgets)

    def show_stored(self, page: MessagePage) -> None:
        """Show a conversation's newest page in place of what is shown, from the bottom."""
        self.clear()
        self._unbuilt = list(page.messages)
        self._earlier_stored = page.earlier
        self.stick_to_bottom()
        self._fill()

    def add_earlier(self, page: MessagePage) -> None:
        """The page stored before the oldest message read (see :attr:`earlier_wanted`)."""
        self._unbuilt[:0] = page.messages
        self._earlier_stored = page.earlier
        self._asked = False
        self._fill()

    def append(self, widget: MessageWidget) -> None:
        """Add a message below the others (one being sent, a reply arriving)."""
        self._insert(self._layout.count() - 1, widget)
        self._widgets.append(widget)

    def remove(self, widget: MessageWidget) -> None:
        """Take a message away (a reply that never came)."""
        if widget in self._widgets:
            self._widgets.remove(widget)
            row = widget.parentWidget()
            if row is not None:
                self._layout.removeWidget(row)
                row.hide()
                row.deleteLater()

    def remove_after(self, widget: MessageWidget) -> None:
        """Take away the messages below ``widget`` (the old branch of a retry or an edit)."""
        if widget in self._widgets:
            for below in self._widgets[self._widgets.index(widget) + 1 :]:
                self.remove(below)

    def clear(self) -> None:
        """No messages (a new conversation, or another one about to be shown)."""
        for widget in list(self._widgets):
            self.remove(widget)
        self._unbuilt = []
        self._earlier_stored = self._asked = False
        self._stick = True

    def stick_to_bottom(self) -> None:
        """Follow new text down, as if the user had scrolled to the end."""
        self._stick = True
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def keep_in_view(self, message_id: int) -> None:
        """Scroll to a message read (built now if it was above what is built), its top first,
        and stop following the bottom; a message not read leaves the list as it is."""
        while self._unbuilt and all(w.message_id != message_id for w in self._widgets):
            self._build_above(self._unbuilt.pop())
        widget = next((w for w in self._widgets if w.message_id == message_id), None)
        if widget is None:
            return
        QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)  # real heights
        self._stick = False
        row = widget.parentWidget() or widget
        self.verticalScrollBar().setValue(row.y())

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        self._fill_timer.start()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self._fill_timer.start()

    def _fill(self) -> None:
        """Build older messages, newest first, until a screen's height of them is above the view.

        Each is laid out before the next is considered, so the count follows real heights; what
        is in view stays where it is.
        """
        if self._filling:
            return
        self._filling = True
        try:
            while self._wants_more():
                if not self._unbuilt:
                    oldest = self._widgets[0].message_id if self._widgets else None
                    if self._earlier_stored and not self._asked and oldest is not None:
                        self._asked = True
                        self.earlier_wanted.emit(oldest)
                    return
                self._build_above(self._unbuilt.pop())
        finally:
            self._filling = False

    def _wants_more(self) -> bool:
        if not self.isVisible():
            return False  # nothing is laid out: every height would read as none
        return self.verticalScrollBar().value() < max(self.viewport().height(), 100)

    def _build_above(self, message: MessageView) -> None:
        bar = self.verticalScrollBar()
        anchor = self._widgets[0].parentWidget() if self._widgets else None
        offset = anchor.y() - bar.value() if anchor is not None else 0
        widget = self._build(message)
        self._insert(1, widget)  # below the lead, above the others
        self._widgets.insert(0, widget)
        QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)  # its real height
        if anchor is not None and not self._stick:
            bar.setValue(anchor.y() - offset)

    def _insert(self, index: int, widget: MessageWidget) -> None:
        row = QWidget()
        row_layout = QHBoxLayout(row)
        row_layout.setContentsMargins(0, 0, 0, 0)
        if widget.role == "user":
            row_layout.addSpacing(USER_INDENT)
        row_layout.addWidget(widget)
        self._layout.insertWidget(index, row)
        row.show()

    def _on_scrollbar_range_changed(self, _low: int, high: int) -> None:
        if self._stick:
            self.verticalScrollBar().setValue(high)

    def _on_scrollbar_value_changed(self, value: int) -> None:
        self._stick = value >= self.verticalScrollBar().maximum() - STICK_DISTANCE
        self._fill()
