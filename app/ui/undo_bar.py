"""A line offering, for a few seconds, to undo what the user just did (Gmail's "Undo")."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

OFFER_MS = 10_000
"""How long an offer stands: time to notice a slip, not so long it outstays the moment."""


class UndoBar(QFrame):
    """ "Deleted “Taxes”  [Undo]", hidden again once the offer runs out or is taken.

    The text is elided to the bar's width, so a long title never widens the panel it sits in.

    Signals:
        undo_requested(): the user pressed Undo.
        expired(): the offer ran out unanswered.
    """

    undo_requested = Signal()
    expired = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.offer_ms = OFFER_MS
        """How long the next offer stands, in milliseconds."""
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.label = QLabel()
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.undo_button = QPushButton("Undo")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 2, 2, 2)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.undo_button)
        self._timer = QTimer(self, singleShot=True)
        self._timer.timeout.connect(self._on_timer_timeout)
        self.undo_button.clicked.connect(self._on_undo_button_clicked)
        self.hide()

    def offer(self, text: str, quoted: str, *, hint: str = "") -> None:
        """Show ``text`` followed by ``quoted`` in quotes (elided to fit), from now for the
        offer's time; ``hint`` is the Undo button's tooltip (its shortcut, say)."""
        self.undo_button.setToolTip(hint)
        holder = self.parentWidget()
        width = holder.width() if holder is not None else self.width()  # the bar's, once shown
        metrics = self.label.fontMetrics()
        room = width - self.undo_button.sizeHint().width() - 24
        room -= metrics.horizontalAdvance(f"{text} “”")
        elided = metrics.elidedText(quoted, Qt.TextElideMode.ElideRight, room)
        self.label.setText(f"{text} “{elided}”")
        self.label.setToolTip(f"{text} “{quoted}”")
        self.show()
        self._timer.start(self.offer_ms)

    def withdraw(self) -> None:
        """Take the offer down (it was taken, or another replaced what it would undo)."""
        self._timer.stop()
        self.hide()

    def _on_undo_button_clicked(self) -> None:
        self.withdraw()
        self.undo_requested.emit()

    def _on_timer_timeout(self) -> None:
        self.hide()
        self.expired.emit()
