"""One message of the chat: the user's text, or a reply rendered from Markdown with its cost."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QGuiApplication,
    QPalette,
    QResizeEvent,
    QTextCharFormat,
    QTextCursor,
    QTextFormat,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.conversations import MessageUsage
from app.ui.chat.figures import usage_details, usage_line

RENDER_DELAY_MS = 40
"""Streamed text is re-rendered at most this often: Markdown is parsed whole each time."""


def _mix(base: QColor, ink: QColor, amount: float) -> QColor:
    """``amount`` of ``ink`` over ``base``: a tint that follows the light or dark palette."""
    return QColor.fromRgbF(
        base.redF() + (ink.redF() - base.redF()) * amount,
        base.greenF() + (ink.greenF() - base.greenF()) * amount,
        base.blueF() + (ink.blueF() - base.blueF()) * amount,
    )


class MarkdownView(QTextBrowser):
    """Text rendered from Markdown (or plain), exactly as tall as its content.

    The chat list scrolls, not each message, so vertical scrolling is off and the height follows
    the document; wide code lines scroll sideways. Code (blocks and inline) is set in the
    system's monospace font on a tint of the palette, so it stays readable in dark themes too.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._source = ""
        self._markdown = True
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setOpenExternalLinks(True)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextBrowserInteraction
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.viewport().setAutoFillBackground(False)  # the message's own background shows
        self.document().setUndoRedoEnabled(False)
        self.document().setDocumentMargin(2)
        layout = self.document().documentLayout()
        layout.documentSizeChanged.connect(self._on_layout_document_size_changed)
        self.horizontalScrollBar().rangeChanged.connect(self._on_hbar_range_changed)
        self._fit()

    def source_text(self) -> str:
        """The text as given (the Markdown source, for Copy)."""
        return self._source

    def set_content(self, text: str, *, markdown: bool = True) -> None:
        """Show ``text``, rendered from Markdown or shown as typed."""
        self._source = text
        self._markdown = markdown
        if markdown:
            self.setMarkdown(text)
            self._style_code()
        else:
            self.setPlainText(text)
        self._fit()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(super().sizeHint().width(), self._wanted_height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(64, self._wanted_height())

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt API)
        # Vertical wheel turns go to the chat list, which is what the user is scrolling.
        delta = event.angleDelta()
        if abs(delta.y()) >= abs(delta.x()):
            event.ignore()
            return
        super().wheelEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self._fit()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt API)
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and self._markdown and self._source:
            self.set_content(self._source)  # the code shading is a tint of the palette

    def _wanted_height(self) -> int:
        height = self.document().size().height() + 2 * self.frameWidth()
        bar = self.horizontalScrollBar()
        if bar.maximum() > 0:
            height += bar.sizeHint().height()
        return max(int(height + 0.999), self.fontMetrics().height())

    def _fit(self) -> None:
        wanted = self._wanted_height()
        if self.height() != wanted or self.minimumHeight() != wanted:
            self.setFixedHeight(wanted)

    def _on_layout_document_size_changed(self, _size: object) -> None:
        self._fit()

    def _on_hbar_range_changed(self, _low: int, _high: int) -> None:
        self._fit()

    def _style_code(self) -> None:
        """Shade code blocks and inline code; Qt's Markdown import only changes their font."""
        palette = QApplication.palette(self)
        shade = _mix(
            palette.color(QPalette.ColorRole.Base), palette.color(QPalette.ColorRole.Text), 0.07
        )
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        document = self.document()
        block = document.begin()
        while block.isValid():
            block_format = block.blockFormat()
            cursor = QTextCursor(block)
            if block_format.hasProperty(QTextFormat.Property.BlockCodeFence):
                block_format.setBackground(shade)
                block_format.setLeftMargin(6)
                block_format.setRightMargin(6)
                cursor.setBlockFormat(block_format)
                code = QTextCharFormat()
                code.setFontFamilies(mono.families())
                code.setFontFixedPitch(True)
                cursor.movePosition(
                    QTextCursor.MoveOperation.EndOfBlock, QTextCursor.MoveMode.KeepAnchor
                )
                cursor.mergeCharFormat(code)
            else:
                fragments = block.begin()
                while not fragments.atEnd():
                    fragment = fragments.fragment()
                    if fragment.isValid() and fragment.charFormat().fontFixedPitch():
                        cursor.setPosition(fragment.position())
                        cursor.setPosition(
                            fragment.position() + fragment.length(),
                            QTextCursor.MoveMode.KeepAnchor,
                        )
                        inline = QTextCharFormat()
                        inline.setBackground(shade)
                        inline.setFontFamilies(mono.families())
                        cursor.mergeCharFormat(inline)
                    fragments += 1
            block = block.next()


class MessageWidget(QFrame):
    """A message in the chat: who said it, the text, and for replies what they cost.

    Replies stream in with :meth:`append`, then :meth:`finish` puts the settled text and the
    usage footer in place. The user's own messages are shown as typed (not as Markdown).

    Signals:
        retry_requested(int): the user asked for this reply again; the reply's message id.
    """

    retry_requested = Signal(int)

    def __init__(
        self,
        role: str,
        text: str = "",
        *,
        model: str | None = None,
        message_id: int | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.role = role
        self.message_id = message_id
        self._text = text
        self._reasoning = ""
        self._streaming = False
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(RENDER_DELAY_MS)
        self._render_timer.timeout.connect(self._on_render_timer_timeout)

        self.setObjectName("userMessage" if role == "user" else "replyMessage")
        if role == "user":
            self.setStyleSheet(
                "QFrame#userMessage { background: palette(alternate-base);"
                " border: 1px solid palette(midlight); border-radius: 8px; }"
            )
        self.who = QLabel(self._who_text(role, model))
        self.who.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        who_font = QFont(self.who.font())
        who_font.setBold(True)
        who_font.setPointSizeF(who_font.pointSizeF() * 0.9)
        self.who.setFont(who_font)

        self.thinking = QLabel()
        self.thinking.setWordWrap(True)
        self.thinking.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.thinking.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        thinking_font = QFont(self.thinking.font())
        thinking_font.setItalic(True)
        self.thinking.setFont(thinking_font)
        self.thinking.hide()

        self.body = MarkdownView()
        self.body.set_content(text, markdown=role != "user")

        self.footer = QLabel()
        self.footer.setObjectName("usageFooter")
        self.footer.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.footer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        footer_font = QFont(self.footer.font())
        footer_font.setPointSizeF(footer_font.pointSizeF() * 0.9)
        self.footer.setFont(footer_font)
        self.footer.hide()

        self.copy_button = QToolButton()
        self.copy_button.setText("Copy")
        self.copy_button.setToolTip("Copy the reply's text (Markdown)")
        self.copy_button.setAutoRaise(True)
        self.copy_button.clicked.connect(self._on_copy_button_clicked)
        self.retry_button = QToolButton()
        self.retry_button.setText("Retry")
        self.retry_button.setToolTip(
            "Ask for this reply again with the selected model (the old one stays on the ledger)"
        )
        self.retry_button.setAutoRaise(True)
        self.retry_button.clicked.connect(self._on_retry_button_clicked)

        actions = QHBoxLayout()
        actions.setContentsMargins(0, 0, 0, 0)
        actions.setSpacing(2)
        actions.addWidget(self.footer, 1)
        actions.addStretch(0)  # keeps the buttons right when there is no footer
        actions.addWidget(self.copy_button)
        actions.addWidget(self.retry_button)
        self._actions = QWidget()
        self._actions.setLayout(actions)
        self._actions.setVisible(role == "assistant")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.setSpacing(2)
        layout.addWidget(self.who)
        layout.addWidget(self.thinking)
        layout.addWidget(self.body)
        layout.addWidget(self._actions)
        self._update_actions()

    def text(self) -> str:
        """The message's text so far (Markdown source for replies)."""
        return self._text

    def footer_text(self) -> str:
        """The usage footer as shown (empty until the reply settles)."""
        return self.footer.text() if not self.footer.isHidden() else ""

    def is_streaming(self) -> bool:
        """Whether the reply is still arriving."""
        return self._streaming

    def start_streaming(self, model: str | None = None) -> None:
        """Empty the reply and wait for new text (a new reply, or a retry in place)."""
        self._streaming = True
        self._text = ""
        self._reasoning = ""
        if model:
            self.who.setText(self._who_text(self.role, model))
        self.thinking.hide()
        self.footer.hide()
        self.body.set_content("")
        self.body.setPlaceholderText("…")
        self._update_actions()

    def append(self, text: str) -> None:
        """Add streamed reply text; rendering is batched so long replies stay fluid."""
        self._text += text
        if not self._render_timer.isActive():
            self._render_timer.start()

    def append_reasoning(self, text: str) -> None:
        """Add streamed "thinking" text, shown dimmed above the reply."""
        self._reasoning += text
        self.thinking.setText(f"Thinking: {self._reasoning.strip()}")
        self.thinking.show()

    def finish(
        self, text: str, figures: MessageUsage | None, message_id: int | None = None
    ) -> None:
        """The reply settled: its final text and what it cost."""
        self._streaming = False
        self._render_timer.stop()
        self._text = text
        if message_id is not None:
            self.message_id = message_id
        self.body.setPlaceholderText("" if text else "No text arrived.")
        self.body.set_content(text, markdown=self.role != "user")
        self.set_figures(figures)

    def set_figures(self, figures: MessageUsage | None) -> None:
        """Show a reply's tokens and cost under it (hidden when there are none)."""
        if figures is None:
            self.footer.hide()
            self.footer.setText("")
        else:
            self.footer.setText(usage_line(figures))
            self.footer.setToolTip(usage_details(figures))
            self.footer.show()
        self._update_actions()

    def _update_actions(self) -> None:
        settled = not self._streaming
        self.copy_button.setVisible(settled and bool(self._text))
        self.retry_button.setVisible(settled and self.message_id is not None)

    def _on_render_timer_timeout(self) -> None:
        self.body.set_content(self._text)

    def _on_copy_button_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self._text)

    def _on_retry_button_clicked(self) -> None:
        if self.message_id is not None and not self._streaming:
            self.retry_requested.emit(self.message_id)

    @staticmethod
    def _who_text(role: str, model: str | None) -> str:
        if role == "user":
            return "You"
        return model or "Assistant"
