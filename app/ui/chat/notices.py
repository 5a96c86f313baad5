"""What the chat area says when something is wrong, and what it says to someone new."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)


class ErrorStrip(QWidget):
    """An inline, non-modal message: a refusal or error in words, until dismissed or replaced.

    Signals:
        keys_requested(): the user clicked "Add an API key…" (shown for a missing key).
    """

    keys_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        frame = QFrame()
        frame.setObjectName("errorStrip")
        frame.setStyleSheet(
            "QFrame#errorStrip { background: palette(alternate-base);"
            " border: 1px solid palette(mid); border-radius: 6px; }"
        )
        icon = QLabel()
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_SmallIconSize)
        warning = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        icon.setPixmap(warning.pixmap(size, size))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.message = QLabel()
        self.message.setObjectName("errorMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.keys_button = QPushButton("Add an API key…")
        self.keys_button.clicked.connect(self._on_keys_button_clicked)
        self.keys_button.hide()
        self.dismiss_button = QToolButton()
        self.dismiss_button.setText("Dismiss")
        self.dismiss_button.setAutoRaise(True)
        self.dismiss_button.clicked.connect(self._on_dismiss_button_clicked)

        layout = QHBoxLayout(frame)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.message, 1)
        layout.addWidget(self.keys_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.dismiss_button, 0, Qt.AlignmentFlag.AlignTop)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 6, 12, 6)
        outer.addWidget(frame)
        self.hide()

    def show_message(self, text: str, *, offer_keys: bool = False) -> None:
        """Show ``text`` (already in the user's words: see :func:`app.ui.errors.describe`)."""
        self.message.setText(text)
        self.keys_button.setVisible(offer_keys)
        self.show()

    def text(self) -> str:
        """The message shown, or "" when the strip is hidden."""
        return self.message.text() if not self.isHidden() else ""

    def _on_keys_button_clicked(self) -> None:
        self.keys_requested.emit()

    def _on_dismiss_button_clicked(self) -> None:
        self.hide()


DEMO_HINT = (
    "In the demo, send <code>/words 800</code> for a long reply (and try Stop, Esc), or end a "
    "model's name with <code>@slow</code>, <code>@cut</code>, <code>@rate-limit</code> or "
    "<code>@server-error</code> to see how a bad day is charged."
)
"""What the demo can do, said once: on the card a new user starts from."""


class WelcomeCard(QFrame):
    """The first thing a new user sees: what Tallybook does, and two ways to begin.

    Signals:
        demo_requested(): "Try the offline demo" was clicked.
        keys_requested(): "Add an API key…" was clicked.
    """

    demo_requested = Signal()
    keys_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcomeCard")
        self.setStyleSheet(
            "QFrame#welcomeCard { background: palette(alternate-base);"
            " border: 1px solid palette(midlight); border-radius: 10px; }"
        )
        self.setMaximumWidth(560)
        heading = QLabel("Chat with your own keys, and see what every message costs")
        heading.setWordWrap(True)
        heading_font = QFont(heading.font())
        heading_font.setPointSizeF(heading_font.pointSizeF() * 1.3)
        heading_font.setBold(True)
        heading.setFont(heading_font)
        body = QLabel(
            "Tallybook sends your messages to OpenAI, Anthropic, Gemini or any compatible "
            "endpoint with your own API key, and records every token on a local ledger: what "
            "each reply, conversation, day and model cost, before and after you send.\n\n"
            "No key yet? The offline demo answers on this computer, costs nothing real and "
            "still shows how the ledger counts."
        )
        demo_hint = QLabel(DEMO_HINT)
        demo_hint.setWordWrap(True)
        demo_hint.setTextFormat(Qt.TextFormat.RichText)
        demo_hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        body.setWordWrap(True)
        self.demo_button = QPushButton("Try the offline demo")
        self.demo_button.setDefault(True)
        self.demo_button.clicked.connect(self._on_demo_button_clicked)
        self.keys_button = QPushButton("Add an API key…")
        self.keys_button.clicked.connect(self._on_keys_button_clicked)
        buttons = QHBoxLayout()
        buttons.addWidget(self.demo_button)
        buttons.addWidget(self.keys_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 18)
        layout.setSpacing(10)
        layout.addWidget(heading)
        layout.addWidget(body)
        layout.addWidget(demo_hint)
        layout.addLayout(buttons)

    def _on_demo_button_clicked(self) -> None:
        self.demo_requested.emit()

    def _on_keys_button_clicked(self) -> None:
        self.keys_requested.emit()
