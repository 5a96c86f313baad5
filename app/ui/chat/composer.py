"""Where the user writes: the draft, the model, what sending it will cost, Send and Stop."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent, QPalette, QTextCursor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.core.pricing.prices import Rates
from app.ui.chat.figures import default_rate_tip
from app.ui.chat.model_picker import ModelPicker


class DraftEdit(QPlainTextEdit):
    """The message being written; Ctrl+Enter sends it and Esc stops a streaming reply.

    Keys are handled here rather than with window shortcuts so they work wherever the chat is
    embedded and whichever window is active.

    Signals:
        submitted(): Ctrl+Enter (or Ctrl+Return) was pressed.
        stop_requested(): Esc was pressed.
    """

    submitted = Signal()
    stop_requested = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt API)
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and (
            event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            self.submitted.emit()
            event.accept()
            return
        if key == Qt.Key.Key_Escape:
            self.stop_requested.emit()
            event.accept()
            return
        super().keyPressEvent(event)


class Composer(QWidget):
    """The draft, the model picker, the live estimate, and the Send / Stop buttons.

    Signals:
        submitted(): the user asked to send the draft (button or Ctrl+Enter).
        stop_requested(): the user asked to stop the streaming reply (button or Esc).
        draft_changed(): the draft's text changed.
    """

    submitted = Signal()
    stop_requested = Signal()
    draft_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor = DraftEdit()
        self.editor.setObjectName("draft")
        self.editor.setPlaceholderText("Write a message… (Ctrl+Enter sends)")
        self.editor.setTabChangesFocus(True)
        lines = self.editor.fontMetrics().lineSpacing()
        self.editor.setFixedHeight(lines * 4 + 14)
        self.editor.textChanged.connect(self._on_editor_text_changed)
        self.editor.submitted.connect(self._on_editor_submitted)
        self.editor.stop_requested.connect(self._on_editor_stop_requested)

        self.picker = ModelPicker()
        self.estimate_label = QLabel()
        self.estimate_label.setObjectName("estimate")
        self.estimate_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.estimate_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.send_button = QPushButton("Send")
        self.send_button.setToolTip("Send the message (Ctrl+Enter)")
        self.send_button.setDefault(True)
        self.send_button.clicked.connect(self._on_send_button_clicked)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the reply (Esc); what arrived is kept and charged")
        self.stop_button.clicked.connect(self._on_stop_button_clicked)
        self.stop_button.hide()

        row = QHBoxLayout()
        row.setSpacing(8)
        row.addWidget(self.picker, 1)
        row.addWidget(self.estimate_label, 2)
        row.addWidget(self.stop_button)
        row.addWidget(self.send_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 6, 12, 10)
        layout.setSpacing(6)
        layout.addWidget(self.editor)
        layout.addLayout(row)
        self._busy = False
        self._update_buttons()

    def text(self) -> str:
        """The draft as typed."""
        return self.editor.toPlainText()

    def set_text(self, text: str) -> None:
        """Replace the draft (used to give back a message that was not sent)."""
        self.editor.setPlainText(text)
        self.editor.moveCursor(QTextCursor.MoveOperation.End)

    def clear(self) -> None:
        """Empty the draft (the message is on its way)."""
        self.editor.clear()

    def set_busy(self, busy: bool) -> None:
        """While a reply streams, Stop replaces Send; the draft stays editable."""
        self._busy = busy
        self._update_buttons()

    def set_estimate(self, text: str, tooltip: str = "", rates: Rates | None = None) -> None:
        """Show what sending the draft would cost ("" hides it).

        Args:
            rates: the quote's rates; a model at the default rate for unknown models is shown
                in full ink (not dimmed) and its tooltip says how to give it a price.
        """
        unknown = rates if text and rates is not None and rates.is_default else None
        tips = (tooltip, default_rate_tip(unknown) if unknown is not None else "")
        self.estimate_label.setText(text)
        self.estimate_label.setToolTip("\n\n".join(tip for tip in tips if tip))
        self.estimate_label.setForegroundRole(
            QPalette.ColorRole.WindowText if unknown else QPalette.ColorRole.PlaceholderText
        )

    def _update_buttons(self) -> None:
        self.stop_button.setVisible(self._busy)
        self.send_button.setEnabled(not self._busy and bool(self.text().strip()))

    def _on_editor_text_changed(self) -> None:
        self._update_buttons()
        self.draft_changed.emit()

    def _on_editor_submitted(self) -> None:
        self.submitted.emit()

    def _on_editor_stop_requested(self) -> None:
        self.stop_requested.emit()

    def _on_send_button_clicked(self) -> None:
        self.submitted.emit()

    def _on_stop_button_clicked(self) -> None:
        self.stop_requested.emit()
