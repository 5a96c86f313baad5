"""Where the user writes: the draft and its files, the model, what sending it will cost, Send
and Stop."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QMimeData, QSize, Qt, Signal
from PySide6.QtGui import (
    QDragEnterEvent,
    QDropEvent,
    QKeyEvent,
    QPalette,
    QResizeEvent,
    QTextCursor,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.attachments import Attachment, AttachmentRefused
from app.core.pricing.prices import Rates
from app.ui.chat.attachments import (
    FILE_FILTER,
    AttachmentTray,
    carries_files,
    from_mime,
    paperclip_icon,
)
from app.ui.chat.figures import default_rate_tip
from app.ui.chat.model_picker import ModelPicker

MIN_DRAFT_LINES = 3
"""The draft's height when empty or short; it grows with the text up to its limit."""


class DraftEdit(QPlainTextEdit):
    """The message being written; Ctrl+Enter sends it and Esc stops a streaming reply. It is
    as tall as its text, from :data:`MIN_DRAFT_LINES` lines up to :meth:`set_max_height`, and
    scrolls beyond; files pasted or dropped on it are handed on, not typed in.

    Keys are handled here rather than with window shortcuts so they work wherever the chat is
    embedded and whichever window is active.

    Signals:
        submitted(): Ctrl+Enter (or Ctrl+Return) was pressed.
        stop_requested(): Esc was pressed.
        files_given(object): files or an image were pasted or dropped (their ``QMimeData``).
    """

    submitted = Signal()
    stop_requested = Signal()
    files_given = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._max_height = 16_777_215
        self.textChanged.connect(self._fit_height)
        self._fit_height()

    def set_max_height(self, pixels: int) -> None:
        """The tallest the draft grows (a third of the chat, say) before it scrolls."""
        self._max_height = max(pixels, self._height_for(MIN_DRAFT_LINES))
        self._fit_height()

    def canInsertFromMimeData(self, source: QMimeData) -> bool:  # noqa: N802 (Qt API)
        return carries_files(source) or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QMimeData) -> None:  # noqa: N802 (Qt API)
        if carries_files(source):
            self.files_given.emit(source)
        else:
            super().insertFromMimeData(source)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():  # wrapping changed
            self._fit_height()

    def _fit_height(self) -> None:
        lines = max(MIN_DRAFT_LINES, round(self.document().size().height()))
        height = min(self._height_for(lines), self._max_height)
        if height != self.height() or self.minimumHeight() != height:
            self.setFixedHeight(height)

    def _height_for(self, lines: int) -> int:
        margins = self.contentsMargins()
        document = 2 * self.document().documentMargin()
        frame = margins.top() + margins.bottom() + round(document)
        return lines * self.fontMetrics().lineSpacing() + frame + 2

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

    Files come by the paperclip button, a drop anywhere on the composer, or a paste; they are
    shown as chips above the draft and can be removed before sending.

    Signals:
        submitted(): the user asked to send the draft (button or Ctrl+Enter).
        stop_requested(): the user asked to stop the streaming reply (button or Esc).
        draft_changed(): the draft's text or files changed.
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
        self.editor.textChanged.connect(self._on_editor_text_changed)
        self.editor.submitted.connect(self._on_editor_submitted)
        self.editor.stop_requested.connect(self._on_editor_stop_requested)
        self.editor.files_given.connect(self._on_editor_files_given)
        self.setAcceptDrops(True)

        self.tray = AttachmentTray()
        self.tray.changed.connect(self._on_tray_changed)
        self.notice = QLabel()
        self.notice.setObjectName("attachmentNotice")
        self.notice.setWordWrap(True)
        self.notice.hide()
        self.attach_button = QToolButton()
        self.attach_button.setIcon(paperclip_icon(self.palette().color(QPalette.ColorRole.Text)))
        self.attach_button.setToolTip(
            "Attach images (PNG, JPEG, GIF, WebP) or PDFs; you can also drop or paste them"
        )
        self.attach_button.setAutoRaise(True)
        self.attach_button.setIconSize(QSize(20, 20))
        self.attach_button.clicked.connect(self._on_attach_button_clicked)

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
        row.addWidget(self.attach_button)
        row.addWidget(self.picker, 1)
        row.addWidget(self.estimate_label, 2)
        row.addWidget(self.stop_button)
        row.addWidget(self.send_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 6, 12, 10)
        layout.setSpacing(6)
        layout.addWidget(self.tray)
        layout.addWidget(self.notice)
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

    def attachments(self) -> tuple[Attachment, ...]:
        """The draft's files, in the order added."""
        return self.tray.attachments()

    def add_paths(self, paths: Sequence[str | Path]) -> None:
        """Attach files from disk (the paperclip's dialog, or a drop); a file that cannot be
        attached is named in a sentence above the draft, the others are added."""
        files: list[Attachment] = []
        problems: list[str] = []
        for path in paths:
            try:
                files.append(Attachment.from_path(Path(path)))
            except AttachmentRefused as error:
                problems.append(str(error))
        self._take(files, problems)

    def add_attachments(self, files: Sequence[Attachment]) -> None:
        """Attach files already read (a message given back after it was not sent)."""
        self._take(files, [])

    def add_mime(self, mime: QMimeData) -> None:
        """Attach what a drop or a paste carries: files, or an image from the clipboard."""
        files, problems = from_mime(mime)
        self._take(files, problems)

    def set_draft_limit(self, pixels: int) -> None:
        """The tallest the draft may grow before it scrolls."""
        self.editor.set_max_height(pixels)

    def clear(self) -> None:
        """Empty the draft and its files (the message is on its way)."""
        self.editor.clear()
        self.tray.clear()
        self.notice.hide()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt API)
        if carries_files(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt API)
        if carries_files(event.mimeData()):
            self.add_mime(event.mimeData())
            event.acceptProposedAction()

    def _take(self, files: Sequence[Attachment], problems: Sequence[str]) -> None:
        self.notice.setText(" ".join(problems))
        self.notice.setVisible(bool(problems))
        self.tray.add(files)

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
        has_draft = bool(self.text().strip() or self.tray.attachments())
        self.send_button.setEnabled(not self._busy and has_draft)

    def _on_editor_text_changed(self) -> None:
        self._update_buttons()
        self.draft_changed.emit()

    def _on_editor_files_given(self, mime: QMimeData) -> None:
        self.add_mime(mime)

    def _on_tray_changed(self) -> None:
        self._update_buttons()
        self.draft_changed.emit()

    def _on_attach_button_clicked(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Attach files", "", FILE_FILTER)
        self.add_paths(paths)

    def _on_editor_submitted(self) -> None:
        self.submitted.emit()

    def _on_editor_stop_requested(self) -> None:
        self.stop_requested.emit()

    def _on_send_button_clicked(self) -> None:
        self.submitted.emit()

    def _on_stop_button_clicked(self) -> None:
        self.stop_requested.emit()
