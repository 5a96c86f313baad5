"""The dashboard's panels of words and small tables: forecast, cache savings, what-if."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.ledger.analysis import Forecast, Repricing, Saving
from app.core.money import format_usd
from app.ui.dashboard.charts import ForecastChart

NUMBER = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
FORECAST_CHART_MINIMUM = 90
"""Pixels: the forecast's chart shares its card with the figures in words."""


def crossing_text(forecast: Forecast, today: date) -> str:
    """When the monthly budget is reached at the recent rate, in a few words (a narrow card)."""
    if forecast.budget is None:
        return "No monthly budget"
    if forecast.spent >= forecast.budget:
        return "Already reached"
    if forecast.crossing is None:
        return "Not this month"
    when = (
        "tomorrow"
        if (forecast.crossing - today).days == 1
        else f"{forecast.crossing:%a} {forecast.crossing.day} {forecast.crossing:%b}"
    )
    return f"Reached {when}"


def _bold(label: QLabel) -> QLabel:
    font = QFont(label.font())
    font.setBold(True)
    label.setFont(font)
    return label


def _dim(label: QLabel) -> QLabel:
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    label.setWordWrap(True)
    return label


def _table(headers: Sequence[str]) -> QTableWidget:
    """A small read-only table whose first column takes the spare width."""
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(list(headers))
    table.verticalHeader().hide()
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    table.setAlternatingRowColors(True)
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 4)
    header = table.horizontalHeader()
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    for column in range(1, len(headers)):
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
    return table


def _fill(table: QTableWidget, rows: Sequence[Sequence[str]], *, bold_last: bool = False) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            item = QTableWidgetItem(text)
            item.setToolTip(text)
            if c > 0:
                item.setTextAlignment(NUMBER)
            if bold_last and r == len(rows) - 1:
                font = QFont(item.font())
                font.setBold(True)
                item.setFont(font)
            table.setItem(r, c, item)


class ForecastPanel(QWidget):
    """Spend so far this month, the projected month end and when the budget is reached."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spent_label = _bold(QLabel())
        self.rate_label = QLabel()
        self.projected_label = _bold(QLabel())
        self.budget_label = QLabel()
        self.crossing_label = _bold(QLabel())
        self.note = _dim(
            QLabel("All providers and models, whatever the filters: as budgets count.")
        )
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setVerticalSpacing(1)
        form.addRow("Spent this month", self.spent_label)
        form.addRow("Last 7 days", self.rate_label)
        form.addRow("Month end at that rate", self.projected_label)
        form.addRow("Monthly budget", self.budget_label)
        form.addRow("Budget reached", self.crossing_label)
        self.chart = ForecastChart()
        self.chart.title_label.hide()
        self.chart.plot.setMinimumHeight(FORECAST_CHART_MINIMUM)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addWidget(self.chart, 1)
        layout.addWidget(self.note)

    def set_forecast(
        self, forecast: Forecast, month_to_date: Sequence[tuple[date, Decimal]], today: date
    ) -> None:
        """Show ``forecast`` in words and as a small chart."""
        self.spent_label.setText(
            f"{format_usd(forecast.spent)} since {forecast.month_start.day} "
            f"{forecast.month_start:%b}"
        )
        self.rate_label.setText(f"{format_usd(forecast.daily_rate)} a day")
        self.projected_label.setText(format_usd(forecast.projected))
        self.budget_label.setText(
            "none" if forecast.budget is None else format_usd(forecast.budget)
        )
        self.crossing_label.setText(crossing_text(forecast, today))
        self.chart.set_forecast(forecast, month_to_date, today)


class CacheSavingsPanel(QWidget):
    """What reading from the prompt cache saved against the uncached input price."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.total_label = _bold(QLabel())
        self.by_model = _table(("Model", "Saved"))
        self.by_conversation = _table(("Conversation", "Saved"))
        note = _dim(QLabel("Cache reads against the plain input price, net of cache writes."))
        note.setToolTip("Negative: cache writes cost more than the reads saved.")
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.by_model, "By model")
        self.tabs.addTab(self.by_conversation, "By conversation")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.total_label)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(note)

    def set_savings(self, by_model: Sequence[Saving], by_conversation: Sequence[Saving]) -> None:
        """Fill both tables (largest saving first) and the total."""
        total = sum((s.saved for s in by_model), Decimal(0))
        self.total_label.setText(
            f"Prompt caching saved {format_usd(total)} in this range"
            if by_model
            else "No cached input in this range"
        )
        _fill(self.by_model, [(s.label, format_usd(s.saved)) for s in by_model])
        _fill(
            self.by_conversation,
            [(s.label, format_usd(s.saved)) for s in by_conversation],
        )


class WhatIfPanel(QWidget):
    """The selected range re-priced on another model, beside what it cost.

    Signals:
        model_chosen(str): the user picked a model to re-price on.
    """

    model_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.repricing: Repricing | None = None
        self.model_box = QComboBox()
        self.model_box.setAccessibleName("Model to re-price on")
        self.model_box.setMaxVisibleItems(20)
        self.model_box.activated.connect(self._on_model_box_activated)
        self.headline = _bold(QLabel())
        self.headline.setWordWrap(True)
        self.table = _table(("Model used", "Cost", "On the other model"))
        self.note = _dim(QLabel())
        picker = QHBoxLayout()
        picker.addWidget(QLabel("Re-price on"))
        picker.addWidget(self.model_box, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(picker)
        layout.addWidget(self.headline)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.note)

    def model(self) -> str | None:
        """The model picked (``None`` before the first refresh fills the list)."""
        return self.model_box.currentText() or None

    def set_models(self, models: Sequence[str], current: str | None) -> None:
        """Offer ``models``, keeping ``current`` picked (added if the list lacks it)."""
        names = list(models)
        if current and current not in names:
            names.insert(0, current)
        if [self.model_box.itemText(i) for i in range(self.model_box.count())] != names:
            self.model_box.blockSignals(True)
            self.model_box.clear()
            self.model_box.addItems(names)
            self.model_box.blockSignals(False)
        if current:
            self.model_box.setCurrentText(current)

    def choose(self, model: str) -> None:
        """Pick ``model`` (added to the list if it is not there), without emitting."""
        if self.model_box.findText(model) < 0:
            self.model_box.insertItem(0, model)
        self.model_box.setCurrentText(model)

    def set_repricing(self, repricing: Repricing | None) -> None:
        """Show the totals and the per-model rows."""
        self.repricing = repricing
        if repricing is None:
            self.headline.setText("No model to re-price on.")
            _fill(self.table, [])
            self.note.clear()
            return
        self.table.setHorizontalHeaderLabels(["Model used", "Cost", f"On {repricing.model}"])
        self.headline.setText(
            f"Cost {format_usd(repricing.actual)}; on {repricing.model}: "
            f"{format_usd(repricing.repriced)}{_change(repricing)}"
        )
        rows = [
            (model, format_usd(actual), format_usd(repriced))
            for model, actual, repriced in repricing.by_model
        ]
        total = ("Total", format_usd(repricing.actual))
        rows.append((*total, format_usd(repricing.repriced)))
        _fill(self.table, rows, bold_last=True)
        self.note.setText(
            f"At {repricing.model}'s base rates: long-context tiers are not re-applied."
        )

    def _on_model_box_activated(self, index: int) -> None:
        self.model_chosen.emit(self.model_box.itemText(index))


def _change(repricing: Repricing) -> str:
    if not repricing.actual:
        return ""
    change = (repricing.repriced - repricing.actual) / repricing.actual
    return f" ({change:+.0%})"
