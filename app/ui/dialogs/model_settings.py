"""The Model settings dialog: a conversation's temperature, max output, reasoning effort and
thinking budget, only those the current model takes, each with what it does to the cost.

Each setting starts at Default (the provider's own); the core checks a choice against the model
(:func:`app.core.model_settings.validate`) before the dialog closes, so what is saved is what
the provider accepts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QGridLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import InvalidSetting
from app.core.metering.client import Quote
from app.core.model_settings import ModelSettings, Offered, validate
from app.core.money import format_usd
from app.ui.dialogs.widgets import MessageLine, plain_button_box

LARGEST_LIMIT = 1_000_000
"""The highest reply limit offered for a model whose own is unknown."""


@dataclass
class _Row:
    """One setting: its Default box, its editor, and the line on what it does to cost."""

    default: QCheckBox
    editor: QWidget
    effect: QLabel


class ModelSettingsDialog(QDialog):
    """The settings ``offer`` says the model takes, set from ``current``; :meth:`settings` is
    what was chosen, checked against the model when OK is pressed."""

    def __init__(
        self, model: str, offer: Offered, current: ModelSettings, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Model settings")
        self.setMinimumWidth(self.fontMetrics().averageCharWidth() * 64)
        self._offer = offer
        intro = QLabel(f"For this conversation with {model}. Default leaves it to the provider.")
        intro.setWordWrap(True)
        grid = QGridLayout()
        grid.setColumnStretch(2, 1)
        self.rows: dict[str, _Row] = {}

        if offer.temperature_max is not None:
            temperature = QDoubleSpinBox(decimals=2, singleStep=0.1)
            temperature.setRange(0.0, offer.temperature_max)
            temperature.setValue(current.temperature if current.temperature is not None else 1.0)
            self._add(grid, "temperature", "Temperature", temperature, current.temperature)
        limit = _token_box(256)
        limit.setRange(1, offer.max_output or LARGEST_LIMIT)
        limit.setValue(current.max_output_tokens or min(4096, limit.maximum()))
        limit.valueChanged.connect(self._on_value_changed)
        self._add(grid, "max_output_tokens", "Max output", limit, current.max_output_tokens)
        if offer.efforts:
            effort = QComboBox()
            effort.addItems(list(offer.efforts))
            if current.reasoning_effort in offer.efforts:
                effort.setCurrentText(current.reasoning_effort)
            self._add(
                grid, "reasoning_effort", "Reasoning effort", effort, current.reasoning_effort
            )
        if offer.thinking is not None:
            least, most = offer.thinking
            budget = _token_box(1024)
            budget.setRange(least, most or LARGEST_LIMIT)
            budget.setValue(current.thinking_budget or max(least, min(2048, budget.maximum())))
            budget.valueChanged.connect(self._on_value_changed)
            self._add(grid, "thinking_budget", "Thinking budget", budget, current.thinking_budget)

        self.message = MessageLine()
        buttons = plain_button_box(
            QDialogButtonBox(
                QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
            )
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(grid)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        self._update_effects()

    def settings(self) -> ModelSettings:
        """What the dialog shows: each setting left at Default is ``None``."""
        temperature = self._chosen("temperature")
        limit = self._chosen("max_output_tokens")
        effort = self._chosen("reasoning_effort")
        budget = self._chosen("thinking_budget")
        return ModelSettings(
            temperature=temperature.value() if isinstance(temperature, QDoubleSpinBox) else None,
            max_output_tokens=limit.value() if isinstance(limit, QSpinBox) else None,
            reasoning_effort=effort.currentText() if isinstance(effort, QComboBox) else None,
            thinking_budget=budget.value() if isinstance(budget, QSpinBox) else None,
        )

    def accept(self) -> None:
        """Close only with settings the model takes; otherwise say what is wrong."""
        try:
            validate(self.settings(), self._offer)
        except InvalidSetting as error:
            self.message.show_error(str(error))
            return
        super().accept()

    def _add(
        self, grid: QGridLayout, name: str, label: str, editor: QWidget, value: object
    ) -> None:
        row = grid.rowCount()
        default = QCheckBox("Default")
        default.setChecked(value is None)
        editor.setEnabled(value is not None)
        editor.setAccessibleName(label)
        default.toggled.connect(self._on_default_toggled)
        effect = QLabel()
        effect.setWordWrap(True)
        effect.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        grid.addWidget(QLabel(label), row, 0)
        grid.addWidget(default, row, 1)
        grid.addWidget(editor, row, 2)
        grid.addWidget(effect, row + 1, 0, 1, 3)
        self.rows[name] = _Row(default, editor, effect)

    def _chosen(self, name: str) -> QWidget | None:
        """The setting's editor, or ``None`` if the model takes no such setting or it is left
        at Default."""
        row = self.rows.get(name)
        return None if row is None or row.default.isChecked() else row.editor

    def _on_default_toggled(self, _checked: bool) -> None:
        for row in self.rows.values():
            row.editor.setEnabled(not row.default.isChecked())
        self.message.clear()
        self._update_effects()

    def _on_value_changed(self, _value: int) -> None:
        self.message.clear()
        self._update_effects()

    def _update_effects(self) -> None:
        """Each setting's line on cost, with the figures it now stands for."""
        chosen = self.settings()
        limit = self._offer.reply_limit(chosen)
        rate = self._offer.output_rate
        worst = (
            f": at most {format_usd(limit * rate)} a reply ({limit:,} output tokens)"
            if limit is not None and rate is not None
            else ""
        )
        budget = chosen.thinking_budget
        thought = f": up to {format_usd(budget * rate)} of thinking" if budget and rate else ""
        effects = {
            "temperature": "How varied the replies are (lower: more predictable). "
            "It does not change the price.",
            "max_output_tokens": f"Caps each reply, thinking included{worst}.",
            "reasoning_effort": "How long the model reasons before it answers: reasoning "
            "tokens are billed as output, within the max output.",
            "thinking_budget": "Tokens the model may think with before it answers, billed as "
            f"output and counted within the max output{thought}.",
        }
        for name, row in self.rows.items():
            row.effect.setText(effects[name])


def edit_model_settings(
    parent: QWidget,
    model: str,
    offer: Offered,
    current: ModelSettings,
    saved: Callable[[ModelSettings], None],
) -> None:
    """Open the dialog over ``parent`` (window-modal, not blocking the event loop); ``saved``
    is called with the settings chosen when OK is pressed."""
    dialog = ModelSettingsDialog(model, offer, current, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.accepted.connect(lambda: saved(dialog.settings()))
    dialog.open()


def _token_box(step: int) -> QSpinBox:
    box = QSpinBox(singleStep=step)
    box.setGroupSeparatorShown(True)  # 16,384, not 16384
    return box


def summary(settings: ModelSettings) -> str:
    """The settings in a few words ("temp 0.2 · max 2,048"); "" for the defaults."""
    parts = [
        f"temp {settings.temperature:g}" if settings.temperature is not None else "",
        f"max {settings.max_output_tokens:,}" if settings.max_output_tokens else "",
        f"effort {settings.reasoning_effort}" if settings.reasoning_effort else "",
        f"thinking {settings.thinking_budget:,}" if settings.thinking_budget is not None else "",
    ]
    return " · ".join(part for part in parts if part)


def reply_cost_tip(quote: Quote) -> str:
    """What the reply can cost at most, on a line of its own for the composer's estimate
    tooltip ("" when no reply limit is known)."""
    worst, limit = quote.worst_case, quote.reply_limit
    if worst is None or limit is None:
        return ""
    whose = "this conversation's" if quote.request.max_tokens else "the model's"
    thinking = quote.request.settings.thinking_budget
    thought = (
        f" Up to {thinking:,} of them may be thinking, billed as output."
        if thinking
        else " Reasoning tokens are billed as output, within it."
        if quote.request.settings.reasoning_effort
        else ""
    )
    return (
        f"\nWith the reply: up to {format_usd(worst)} with max output {limit:,} ({whose} "
        f"limit).{thought}"
    )
