"""One message of the chat: the user's text, or a reply rendered from Markdown with its cost."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from PySide6.QtCore import QEvent, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QColor,
    QDesktopServices,
    QFont,
    QFontMetricsF,
    QGuiApplication,
    QKeySequence,
    QPalette,
    QResizeEvent,
    QShortcut,
    QTextBlock,
    QTextBlockFormat,
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
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.conversations import MessageUsage
from app.ui.chat import code_blocks
from app.ui.chat.blocks import fences, settled_length
from app.ui.chat.code_blocks import code_shade, mono_families
from app.ui.chat.figures import usage_details, usage_line

RENDER_DELAY_MS = 40
"""Streamed text is rendered at most this often."""
SETTLE_CHARS = 1200
"""A streaming reply's finished blocks are set apart, rendered once, when they are this long:
each render then parses at most about this much besides the block still open."""
_PLAIN_PUNCTUATION = frozenset(" .,;?!'\"()-")
"""Besides letters and digits, what Markdown gives no meaning to in the middle of a line."""
COPIED_MS = 1500
"""A code block's Copy link says "Copied" this long after a click."""
_LINK_SCHEMES = frozenset({"http", "https", "mailto"})
"""Links in a reply that open (in the browser or mail app); others do nothing."""


@dataclass
class RenderTally:
    """What a message's text views have done, for tests and benchmarks to count, not time.

    Attributes:
        renders: times a view's text was shown anew (rendered whole, or words appended).
        parsed: characters of Markdown parsed for them.
        typed: characters appended as plain text without a parse (see
            :meth:`MarkdownView.extend_to`).
    """

    renders: int = 0
    parsed: int = 0
    typed: int = 0


class MarkdownView(QTextBrowser):
    """Text rendered from Markdown (or plain), exactly as tall as its content.

    The chat list scrolls, not each message, so vertical scrolling is off and the height follows
    the document; wide code lines scroll sideways. Code (blocks and inline) is set in the
    system's monospace font on a tint of the palette, so it stays readable in dark themes too;
    fenced blocks are coloured by language under a header with the language and a Copy link
    that copies exactly the block's code (:mod:`~app.ui.chat.code_blocks`).

    Attributes:
        live: the text is a streaming reply's tail: a code block still open at its end is left
            uncoloured (it is shown again with each piece) until its closing fence comes.
    """

    def __init__(self, tally: RenderTally | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._source = ""
        self._markdown = True
        self._tally = tally or RenderTally()
        self._codes: list[str] = []
        """The code of each fenced block shown, for its Copy link."""
        self._links: list[QTextCursor] = []
        """A cursor over each block's Copy link."""
        self._aligned = 0.0
        """The document width the Copy links were set against the right edge for."""
        self._copied_timer = QTimer(self)
        self._copied_timer.setSingleShot(True)
        self._copied_timer.setInterval(COPIED_MS)
        self._copied_timer.timeout.connect(self._on_copied_timer_timeout)
        self.live = False
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setOpenLinks(False)
        self.anchorClicked.connect(self._on_anchor_clicked)
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
        option = self.document().defaultTextOption()
        option.setTabStopDistance(_code_tab_stop())  # tabs in code: four spaces wide
        self.document().setDefaultTextOption(option)
        layout = self.document().documentLayout()
        layout.documentSizeChanged.connect(self._on_layout_document_size_changed)
        self.horizontalScrollBar().rangeChanged.connect(self._on_hbar_range_changed)
        self._fit()

    def source_text(self) -> str:
        """The text as given (the Markdown source, for Copy)."""
        return self._source

    def code_blocks(self) -> list[str]:
        """The code of each fenced block shown, as its Copy link copies it."""
        return list(self._codes)

    def copy_code(self, number: int) -> None:
        """Put block ``number``'s code on the clipboard; its link says "Copied" for a moment."""
        QGuiApplication.clipboard().setText(self._codes[number])
        code_blocks.relabel(self._links[number], code_blocks.COPIED)
        self._copied_timer.start()

    def set_content(self, text: str, *, markdown: bool = True) -> None:
        """Show ``text``, rendered from Markdown or shown as typed."""
        self._source = text
        self._markdown = markdown
        self._codes, self._links = [], []
        self._copied_timer.stop()
        self._tally.renders += 1
        if markdown:
            self._tally.parsed += len(text)
            self._render_markdown(text)
        else:
            self.setPlainText(text)
        self._fit()

    def extend_to(self, text: str) -> None:
        """Show the Markdown ``text``, which usually continues what is shown (a streaming reply).

        Words that continue the last paragraph and that Markdown gives no meaning to are
        appended as they are, without parsing anything (the result is what a parse would give);
        anything else renders ``text`` whole.
        """
        shown = self._source
        added = text[len(shown) :]
        if not (self._markdown and text.startswith(shown) and self._continues_plainly(added)):
            self.set_content(text)
            return
        # A paragraph's trailing blanks are not shown: they are, once a word follows them.
        typed = (shown[len(shown.rstrip(" \t")) :] + added).rstrip(" ")
        self._source = text
        if typed.strip(" \t"):
            cursor = QTextCursor(self.document())
            cursor.movePosition(QTextCursor.MoveOperation.End)
            cursor.insertText(typed, QTextCharFormat())
            self._tally.renders += 1
            self._tally.typed += len(typed)

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
        self._align_copy_links()
        self._fit()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt API)
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and self._markdown and self._source:
            self.set_content(self._source)  # the code shading is a tint of the palette

    def _render_markdown(self, text: str) -> None:
        """Qt's Markdown import, with fenced blocks put in by :mod:`code_blocks`."""
        found = fences(text)
        self.setMarkdown(code_blocks.with_placeholders(text, found) if found else text)
        self._style_code()
        if not found:
            return
        palette = QApplication.palette(self)
        links = code_blocks.insert_code_blocks(
            self.document(), found, palette, highlight_open=not self.live
        )
        if links is None:  # Qt read a placeholder into something else: show its own reading
            self.setMarkdown(text)
            self._style_code()
            return
        self._codes = [fence.code for fence in found]
        self._links = links
        self._aligned = 0.0
        self._align_copy_links()

    def _align_copy_links(self) -> None:
        width = self.document().textWidth()
        if self._links and width != self._aligned:
            self._aligned = width
            code_blocks.align_copy_links(self.document(), self._links)

    def _on_anchor_clicked(self, url: QUrl) -> None:
        if url.scheme() == code_blocks.COPY_SCHEME:
            number = url.path()
            if number.isdigit() and int(number) < len(self._codes):
                self.copy_code(int(number))
        elif url.scheme() in _LINK_SCHEMES:
            QDesktopServices.openUrl(url)

    def _on_copied_timer_timeout(self) -> None:
        for link in self._links:
            if link.selectedText() == code_blocks.COPIED:
                code_blocks.relabel(link, code_blocks.COPY)

    def _continues_plainly(self, added: str) -> bool:
        """Whether ``added`` after the shown text only lengthens its last paragraph's text.

        The shown text must end in a plain paragraph whose last line starts with a letter (no
        list, quote, heading or code can start there), with no HTML before it (Qt gathers
        what follows a tag, over paragraphs); its last word and ``added`` must hold only
        letters, digits, spaces and quiet punctuation (no emphasis, code, link, entity, escape
        or line break), and together they must not spell a ``www.`` link.
        """
        shown = self._source
        if "<" in shown:
            return False
        last_line = shown[shown.rfind("\n") + 1 :]
        first = last_line.lstrip(" ")
        if not first[:1].isalpha() or len(last_line) - len(first) > 3:
            return False
        last_word = last_line[last_line.rfind(" ") + 1 :]
        if not all(c.isalnum() or c in _PLAIN_PUNCTUATION for c in last_word + added):
            return False
        if "www." in (last_word + added).lower():
            return False
        block = self.document().lastBlock()
        block_format = block.blockFormat()
        return (
            block.textList() is None
            and block_format.headingLevel() == 0
            and not block_format.hasProperty(QTextFormat.Property.BlockCodeFence)
            and not block_format.hasProperty(QTextFormat.Property.BlockQuoteLevel)
            and QTextCursor(block).currentTable() is None
        )

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
        """Shade inline code and the code blocks Qt's Markdown import made (those in a quote or
        a deeper list: see :func:`~app.ui.chat.blocks.fences`); it only changes their font."""
        shade = code_shade(QApplication.palette(self))
        mono = mono_families()
        document = self.document()
        block = document.begin()
        while block.isValid():
            if block.blockFormat().hasProperty(QTextFormat.Property.BlockCodeFence):
                block = self._style_fence(block, shade, mono)
                continue
            cursor = QTextCursor(block)
            fragments = block.begin()
            while not fragments.atEnd():
                fragment = fragments.fragment()
                if fragment.isValid() and fragment.charFormat().fontFixedPitch():
                    cursor.setPosition(fragment.position())
                    cursor.setPosition(
                        fragment.position() + fragment.length(), QTextCursor.MoveMode.KeepAnchor
                    )
                    inline = QTextCharFormat()
                    inline.setBackground(shade)
                    inline.setFontFamilies(mono)
                    cursor.mergeCharFormat(inline)
                fragments += 1
            block = block.next()

    @staticmethod
    def _style_fence(first: QTextBlock, shade: QColor, mono: list[str]) -> QTextBlock:
        """Shade the code block starting at ``first``, in one edit; returns the block after."""
        last = first
        while last.next().isValid() and last.next().blockFormat().hasProperty(
            QTextFormat.Property.BlockCodeFence
        ):
            last = last.next()
        cursor = QTextCursor(first)
        cursor.setPosition(last.position() + last.length() - 1, QTextCursor.MoveMode.KeepAnchor)
        block_format = QTextBlockFormat()
        block_format.setBackground(shade)
        block_format.setLeftMargin(6)
        block_format.setRightMargin(6)
        cursor.mergeBlockFormat(block_format)
        code = QTextCharFormat()
        code.setFontFamilies(mono)
        code.setFontFixedPitch(True)
        cursor.mergeCharFormat(code)
        return last.next()


@cache
def _code_tab_stop() -> float:
    """Four spaces of the monospace font."""
    font = QFont()
    font.setFamilies(mono_families())
    return QFontMetricsF(font).horizontalAdvance(" ") * 4


class BranchNav(QWidget):
    """``< 1/2 >``: which of its siblings a message is, and a step to the one before or after.

    Signals:
        step_requested(int): -1 for the sibling before, 1 for the one after.
    """

    step_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.previous_button = QToolButton()
        self.previous_button.setText("<")
        self.previous_button.setToolTip("The version before (another attempt or edit)")
        self.previous_button.setAutoRaise(True)
        self.previous_button.clicked.connect(self._on_previous_button_clicked)
        self.next_button = QToolButton()
        self.next_button.setText(">")
        self.next_button.setToolTip("The version after")
        self.next_button.setAutoRaise(True)
        self.next_button.clicked.connect(self._on_next_button_clicked)
        self.position_label = QLabel()
        self.position_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 6, 0)
        layout.setSpacing(0)
        layout.addWidget(self.previous_button)
        layout.addWidget(self.position_label)
        layout.addWidget(self.next_button)

    def text(self) -> str:
        """As shown: ``1/2``."""
        return self.position_label.text()

    def set_position(self, index: int, count: int) -> None:
        """Show sibling ``index`` (from 0) of ``count``."""
        self.position_label.setText(f"{index + 1}/{count}")
        self.previous_button.setEnabled(index > 0)
        self.next_button.setEnabled(index < count - 1)

    def _on_previous_button_clicked(self) -> None:
        self.step_requested.emit(-1)

    def _on_next_button_clicked(self) -> None:
        self.step_requested.emit(1)


class EditPanel(QWidget):
    """The user's message opened for editing in place: its text, Send and Cancel.

    Signals:
        submitted(str): send the text as edited (a new branch).
        cancelled(): leave the message as it was.
    """

    submitted = Signal(str)
    cancelled = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text_edit = QPlainTextEdit()
        self.text_edit.setTabChangesFocus(True)
        self.send_button = QPushButton("Send as a new branch")
        self.send_button.setDefault(True)
        self.send_button.setToolTip("Ctrl+Enter: the old message and its replies stay reachable")
        self.send_button.clicked.connect(self._on_send_button_clicked)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        send = QShortcut(QKeySequence("Ctrl+Return"), self.text_edit)
        send.activated.connect(self._on_send_button_clicked)
        cancel = QShortcut(QKeySequence(Qt.Key.Key_Escape), self.text_edit)
        cancel.activated.connect(self._on_cancel_button_clicked)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.send_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.text_edit)
        layout.addLayout(buttons)

    def open(self, text: str) -> None:
        """Show ``text`` for editing, with the cursor at its end."""
        self.text_edit.setPlainText(text)
        lines = max(2, min(text.count("\n") + 2, 10))
        self.text_edit.setFixedHeight(self.text_edit.fontMetrics().lineSpacing() * lines + 12)
        self.show()
        self.text_edit.moveCursor(QTextCursor.MoveOperation.End)
        self.text_edit.setFocus(Qt.FocusReason.OtherFocusReason)

    def _on_send_button_clicked(self) -> None:
        self.submitted.emit(self.text_edit.toPlainText())

    def _on_cancel_button_clicked(self) -> None:
        self.cancelled.emit()


class MessageWidget(QFrame):
    """A message in the chat: who said it, the text, and for replies what they cost.

    Replies stream in with :meth:`append`: the blocks that are finished are set apart as they
    grow long, each rendered once, and only the open tail is rendered again as text arrives
    (mostly by appending words, see :meth:`MarkdownView.extend_to`). :meth:`finish` renders
    the final text whole, exactly as a stored reply is shown, and puts the usage footer in
    place. The user's own messages are shown as typed (not as Markdown).

    A message with siblings (the attempts at a reply, the edits of a message) shows ``< 1/2 >``
    to switch between them. The user's own messages offer Copy and Edit (edited in place, then
    sent as a new branch).

    Signals:
        retry_requested(int): the user asked for this reply again; the reply's message id.
        branch_requested(int): the user asked to see another sibling; that sibling's id.
        edit_submitted(int, str): the user sent an edited version of this message: its id and
            the new text.
    """

    retry_requested = Signal(int)
    branch_requested = Signal(int)
    edit_submitted = Signal(int, str)

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
        self._settled = 0
        """Characters of the streaming text shown in ``_settled_views``."""
        self._settled_views: list[MarkdownView] = []
        self.tally = RenderTally()
        """What this message's text views rendered (see :class:`RenderTally`)."""
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

        self.body = MarkdownView(self.tally)
        """The message's text; while a reply streams, its open tail (below the settled part)."""
        if text:
            self.body.set_content(text, markdown=role != "user")

        self.footer = QLabel()
        self.footer.setObjectName("usageFooter")
        self.footer.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.footer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        footer_font = QFont(self.footer.font())
        footer_font.setPointSizeF(footer_font.pointSizeF() * 0.9)
        self.footer.setFont(footer_font)
        self.footer.hide()

        self._siblings: tuple[int, ...] = ()
        self.branch_nav = BranchNav()
        self.branch_nav.step_requested.connect(self._on_branch_nav_step_requested)
        self.branch_nav.hide()

        user = role == "user"
        self.copy_button = QToolButton()
        self.copy_button.setText("Copy")
        self.copy_button.setToolTip(
            "Copy your message's text" if user else "Copy the reply's text (Markdown)"
        )
        self.copy_button.setAutoRaise(True)
        self.copy_button.clicked.connect(self._on_copy_button_clicked)
        self.edit_button = QToolButton()
        self.edit_button.setText("Edit")
        self.edit_button.setToolTip(
            "Edit this message and send it again: a new branch (this one stays, with its cost)"
        )
        self.edit_button.setAutoRaise(True)
        self.edit_button.clicked.connect(self._on_edit_button_clicked)
        self.edit_button.setVisible(user)
        self.editor = EditPanel()
        self.editor.submitted.connect(self._on_editor_submitted)
        self.editor.cancelled.connect(self._on_editor_cancelled)
        self.editor.hide()
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
        actions.addWidget(self.branch_nav)
        actions.addWidget(self.footer, 1)
        actions.addStretch(0)  # keeps the buttons right when there is no footer
        actions.addWidget(self.copy_button)
        actions.addWidget(self.edit_button)
        actions.addWidget(self.retry_button)
        self._actions = QWidget()
        self._actions.setLayout(actions)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.setSpacing(2)
        layout.addWidget(self.who)
        layout.addWidget(self.thinking)
        layout.addWidget(self.body)
        layout.addWidget(self.editor)
        layout.addWidget(self._actions)
        self._layout = layout
        self._update_actions()

    def text(self) -> str:
        """The message's text so far (Markdown source for replies)."""
        return self._text

    def rendered_text(self) -> str:
        """The text rendered so far: a streaming reply's settled part and open tail, which lag
        :meth:`text` by at most a render tick; all of it once the reply has settled."""
        return "".join(view.source_text() for view in [*self._settled_views, self.body])

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
        self._drop_settled()
        self.body.live = True
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
        self._drop_settled()
        self.body.live = False
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

    def set_message_id(self, message_id: int) -> None:
        """The message was stored under this id (it can be edited, or retried, from now on)."""
        self.message_id = message_id
        self._update_actions()

    def set_siblings(self, siblings: tuple[int, ...]) -> None:
        """The message and its alternatives, oldest first (``< 1/2 >`` when more than one)."""
        self._siblings = siblings if self.message_id in siblings else ()
        if self._siblings and self.message_id is not None:
            self.branch_nav.set_position(self._siblings.index(self.message_id), len(siblings))
        self._update_actions()

    def siblings(self) -> tuple[int, ...]:
        """The ids of the message and its alternatives shown by ``< 1/2 >`` (empty: none)."""
        return self._siblings

    def start_editing(self, text: str | None = None) -> None:
        """Open the message's text (or ``text``, an edit not sent) for editing, in place."""
        if self.role == "user" and self.message_id is not None:
            self.editor.open(self._text if text is None else text)
            self.body.hide()
            self._update_actions()

    def is_editing(self) -> bool:
        """Whether the inline editor is open."""
        return not self.editor.isHidden()

    def _update_actions(self) -> None:
        settled = not self._streaming
        editing = not self.editor.isHidden()
        stored = self.message_id is not None
        self.branch_nav.setVisible(settled and len(self._siblings) > 1)
        self.copy_button.setVisible(settled and bool(self._text) and not editing)
        self.edit_button.setVisible(self.role == "user" and stored and not editing)
        self.retry_button.setVisible(self.role == "assistant" and settled and stored)
        self._actions.setVisible(not editing and (self.role == "assistant" or bool(self._text)))

    def _on_branch_nav_step_requested(self, step: int) -> None:
        if self.message_id is None or not self._siblings or self._streaming:
            return
        index = self._siblings.index(self.message_id) + step
        if 0 <= index < len(self._siblings):
            self.branch_requested.emit(self._siblings[index])

    def _on_edit_button_clicked(self) -> None:
        self.start_editing()

    def _on_editor_submitted(self, text: str) -> None:
        self._close_editor()
        if self.message_id is not None and text.strip() and text.strip() != self._text.strip():
            self.edit_submitted.emit(self.message_id, text.strip())

    def _on_editor_cancelled(self) -> None:
        self._close_editor()

    def _close_editor(self) -> None:
        self.editor.hide()
        self.body.show()
        self._update_actions()

    def _on_render_timer_timeout(self) -> None:
        text = self._text
        cut = settled_length(text, self._settled)
        if cut - self._settled >= SETTLE_CHARS:
            view = MarkdownView(self.tally)
            view.set_content(text[self._settled : cut])
            self._layout.insertWidget(self._layout.indexOf(self.body), view)
            self._settled_views.append(view)
            self._settled = cut
        self.body.extend_to(text[self._settled :])

    def _drop_settled(self) -> None:
        """Take the streamed reply's settled part away (it is rendered whole, or anew)."""
        for view in self._settled_views:
            self._layout.removeWidget(view)
            view.hide()
            view.deleteLater()
        self._settled_views.clear()
        self._settled = 0

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
