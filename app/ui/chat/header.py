"""The top of a conversation: its title, what it has cost, how full the context is, settings."""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.conversations import CostBreakdown
from app.core.model_settings import DEFAULT_SETTINGS, ModelSettings
from app.core.money import format_usd, format_usd_exact
from app.ui.dialogs.model_settings import summary

NO_COSTS = CostBreakdown(Decimal(0), Decimal(0), Decimal(0))
"""A conversation that has cost nothing (yet)."""


class ElidedLabel(QLabel):
    """A one-line label that ends in "…" when its text is wider than the room it has."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.set_full_text(text)

    def full_text(self) -> str:
        """The whole text, however much of it shows."""
        return self._full

    def set_full_text(self, text: str) -> None:
        """Show ``text``, elided to the label's width (the whole text is the tooltip)."""
        self._full = text
        self.setToolTip(text)
        self._elide()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(self.contentsRect().width(), 0)
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, width)
        if shown != self.text():
            self.setText(shown)


class ConversationHeader(QWidget):
    """Title and running total, the context gauge, the system prompt, the trimming rule and
    the model settings (their summary on their button when not the defaults).

    The system prompt is edited inline (a panel that opens under the header), never in a modal
    dialog, so the chat stays usable while it is open.

    Signals:
        system_prompt_saved(str): the user saved a new system prompt.
        drop_oldest_toggled(bool): the user changed "drop oldest messages when full".
        model_settings_requested(): the user asked to change the model settings.
    """

    system_prompt_saved = Signal(str)
    drop_oldest_toggled = Signal(bool)
    model_settings_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._system_prompt = ""
        self._model_settings = DEFAULT_SETTINGS

        self.title_label = ElidedLabel("New conversation")
        self.title_label.setObjectName("conversationTitle")
        title_font = QFont(self.title_label.font())
        title_font.setPointSizeF(title_font.pointSizeF() * 1.25)
        title_font.setBold(True)
        self.title_label.setFont(title_font)
        self.total_label = QLabel()
        self.total_label.setObjectName("conversationTotal")
        self.total_label.setToolTip(
            "Everything this conversation has cost, titles and retried replies included"
        )
        self.total_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.total_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.breakdown_label = QLabel()
        self.breakdown_label.setObjectName("conversationBreakdown")
        self.breakdown_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.breakdown_label.setAlignment(
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        )
        breakdown_font = QFont(self.breakdown_label.font())
        breakdown_font.setPointSizeF(breakdown_font.pointSizeF() * 0.9)
        self.breakdown_label.setFont(breakdown_font)
        self.breakdown_label.hide()

        self.context_gauge = QProgressBar()
        self.context_gauge.setObjectName("contextGauge")
        self.context_gauge.setTextVisible(True)
        self.context_gauge.setMaximumWidth(320)
        self.context_gauge.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.context_gauge.hide()

        self.prompt_button = QToolButton()
        self.prompt_button.setText("System prompt")
        self.prompt_button.setCheckable(True)
        self.prompt_button.setAutoRaise(True)
        self.prompt_button.setToolTip("Instructions the model gets before this conversation")
        self.prompt_button.toggled.connect(self._on_prompt_button_toggled)
        self.drop_oldest_box = QCheckBox("Drop oldest when full")
        self.drop_oldest_box.setToolTip(
            "When the conversation no longer fits the model's context window, leave out the "
            "oldest turns instead of refusing to send (the system prompt and your newest "
            "message always stay)"
        )
        self.drop_oldest_box.clicked.connect(self._on_drop_oldest_box_clicked)
        self.settings_button = QToolButton()
        self.settings_button.setObjectName("modelSettings")
        self.settings_button.setAutoRaise(True)
        self.settings_button.clicked.connect(self._on_settings_button_clicked)

        self.prompt_editor = QPlainTextEdit()
        self.prompt_editor.setPlaceholderText("For example: Answer briefly. Use British spelling.")
        self.prompt_editor.setMaximumHeight(self.fontMetrics().lineSpacing() * 6)
        self.prompt_save = QPushButton("Save")
        self.prompt_save.clicked.connect(self._on_prompt_save_clicked)
        self.prompt_cancel = QPushButton("Cancel")
        self.prompt_cancel.clicked.connect(self._on_prompt_cancel_clicked)
        prompt_buttons = QVBoxLayout()
        prompt_buttons.addWidget(self.prompt_save)
        prompt_buttons.addWidget(self.prompt_cancel)
        prompt_buttons.addStretch(1)
        self.prompt_panel = QWidget()
        panel_layout = QHBoxLayout(self.prompt_panel)
        panel_layout.setContentsMargins(0, 0, 0, 0)
        panel_layout.addWidget(self.prompt_editor, 1)
        panel_layout.addLayout(prompt_buttons)
        self.prompt_panel.hide()

        figures = QVBoxLayout()
        figures.setSpacing(0)
        figures.addWidget(self.total_label)
        figures.addWidget(self.breakdown_label)
        top = QHBoxLayout()
        top.addWidget(self.title_label, 1)
        top.addLayout(figures)
        bottom = QHBoxLayout()
        bottom.addWidget(self.context_gauge, 1)
        bottom.addStretch(0)
        bottom.addWidget(self.prompt_button)
        bottom.addWidget(self.settings_button)
        bottom.addWidget(self.drop_oldest_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 6)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addLayout(bottom)
        layout.addWidget(self.prompt_panel)
        self.set_costs(NO_COSTS)
        self.set_model_settings(DEFAULT_SETTINGS)

    def title(self) -> str:
        """The conversation's title, whole."""
        return self.title_label.full_text()

    def set_title(self, title: str) -> None:
        """Show the conversation's title (elided by the layout when long)."""
        self.title_label.set_full_text(title)

    def set_costs(self, costs: CostBreakdown) -> None:
        """Show what the conversation has cost so far, and under it what that is made of: the
        replies on the branch shown, the other attempts and branches, the title (each shown
        when there is any), so the figures add up to what can be seen."""
        self.total_label.setText(f"{format_usd(costs.total)} so far")
        parts = [
            (label, amount)
            for label, amount in (
                ("this branch", costs.branch),
                ("other attempts", costs.elsewhere),
                ("title", costs.title),
            )
            if amount
        ]
        self.breakdown_label.setText(" · ".join(f"{n} {format_usd(a)}" for n, a in parts))
        self.breakdown_label.setVisible(len(parts) > 1)
        lines = [f"Everything this conversation has cost: {format_usd_exact(costs.total)}"]
        lines += [
            f"{label}: {format_usd_exact(amount)}"
            for label, amount in (
                ("The replies on the branch shown", costs.branch),
                ("Other attempts and branches (< 1/2 > switches to them)", costs.elsewhere),
                ("Naming the conversation (its title)", costs.title),
            )
            if amount
        ]
        tip = "\n".join(lines)
        self.total_label.setToolTip(tip)
        self.breakdown_label.setToolTip(tip)

    def breakdown(self) -> str:
        """The line under the total, as shown ("" when it is hidden)."""
        return self.breakdown_label.text() if not self.breakdown_label.isHidden() else ""

    def set_context(self, used: int | None, window: int | None, *, exact: bool = True) -> None:
        """Show how much of the model's context window the next prompt takes (hidden if unknown)."""
        if used is None or not window:
            self.context_gauge.hide()
            return
        approx = "" if exact else "≈ "
        self.context_gauge.setRange(0, window)
        self.context_gauge.setValue(min(used, window))
        self.context_gauge.setFormat(f"{approx}{used:,} of {window:,} tokens of context")
        self.context_gauge.setToolTip(
            "How much of the model's context window the conversation and your draft take"
        )
        self.context_gauge.show()

    def system_prompt(self) -> str:
        """The system prompt as last set or saved."""
        return self._system_prompt

    def set_system_prompt(self, text: str) -> None:
        """Show the conversation's system prompt (emits nothing)."""
        self._system_prompt = text
        self.prompt_editor.setPlainText(text)
        self.prompt_button.setText("System prompt ✓" if text.strip() else "System prompt")

    def set_drop_oldest(self, enabled: bool) -> None:
        """Show the conversation's trimming rule (emits nothing)."""
        self.drop_oldest_box.setChecked(enabled)

    def model_settings(self) -> ModelSettings:
        """The model settings as last set."""
        return self._model_settings

    def set_model_settings(self, settings: ModelSettings) -> None:
        """Show the conversation's model settings (emits nothing): their summary on the
        button ("Model: temp 0.2 · max 2,048"), or "Model settings…" for the provider's
        defaults."""
        self._model_settings = settings
        shown = summary(settings)
        self.settings_button.setText(f"Model: {shown}" if shown else "Model settings…")
        self.settings_button.setToolTip(
            "Temperature, max output, reasoning or thinking for this conversation"
            + (f": {shown} (the rest at the provider's defaults)" if shown else "")
        )

    def open_system_prompt(self) -> None:
        """Open the inline editor with the cursor in it."""
        self.prompt_button.setChecked(True)

    def _on_prompt_button_toggled(self, checked: bool) -> None:
        self.prompt_panel.setVisible(checked)
        if checked:
            self.prompt_editor.setPlainText(self._system_prompt)
            self.prompt_editor.setFocus()

    def _on_prompt_save_clicked(self) -> None:
        text = self.prompt_editor.toPlainText().strip()
        self.set_system_prompt(text)
        self.prompt_button.setChecked(False)
        self.system_prompt_saved.emit(text)

    def _on_prompt_cancel_clicked(self) -> None:
        self.prompt_editor.setPlainText(self._system_prompt)
        self.prompt_button.setChecked(False)

    def _on_drop_oldest_box_clicked(self, checked: bool) -> None:
        self.drop_oldest_toggled.emit(checked)

    def _on_settings_button_clicked(self) -> None:
        self.model_settings_requested.emit()
