"""The usage dashboard: where the money went, where it is going, and what it could have cost.

Every refresh is one read on the read pool that reads all figures (from the daily aggregates, so
it stays fast at a million transactions) into one frozen
:class:`~app.ui.dashboard.figures.DashboardFigures`; the GUI thread then paints them all. The
answer of a refresh that a newer one has overtaken is dropped
(:class:`~app.ui.operations.LatestLoad`), so a slow read can never paint over fresher figures.
Any change to the ledger, budgets, prices or conversation titles, from this window or another
program, refreshes it: at once, then at most once a second while changes keep coming, and only
when it is on screen (else when next shown).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from PySide6.QtCore import Signal
from PySide6.QtGui import QColor, QFont, QPalette, QShowEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.conversations import CHAT_SOURCE
from app.core.day_ranges import utc_today
from app.core.ledger.analysis import Bucket, Share
from app.core.ledger.selection import Selection
from app.core.money import format_usd
from app.core.storage.changes import CONVERSATIONS, LEDGER, SETTINGS, Changes
from app.ui.context import AppContext
from app.ui.dashboard.charts import BalanceChart, DailyCostChart, ShareChart, TokensChart
from app.ui.dashboard.controls import RangeControls
from app.ui.dashboard.figures import DashboardFigures, FigureRequest, load_figures
from app.ui.dashboard.panels import CacheSavingsPanel, ForecastPanel, WhatIfPanel
from app.ui.dashboard.plotting import ModelColours
from app.ui.dialogs.widgets import MessageLine
from app.ui.errors import describe
from app.ui.live import ChangeThrottle
from app.ui.operations import LatestLoad

MINIMUM_CONTENT = (860, 560)
"""Below this the dashboard scrolls instead of squeezing its charts unreadable (a 1280x800
window shows it all; the range controls need about 820 pixels)."""


class _Page(QWidget):
    """The scrolled content: as tall as the window, never taller than its minimum needs.

    Word-wrapped labels make a layout height-for-width, and QScrollArea then sizes the page
    by the charts' preferred heights, which scrolls a dashboard that fits the window.
    """

    def heightForWidth(self, _width: int) -> int:  # noqa: N802 (Qt's name)
        """No preferred height for a width: fill the viewport, down to the minimum size."""
        return -1


class DashboardView(QWidget):
    """Charts and panels of spend for a range of days, filtered by provider, model and source.

    Clicking a chat-window conversation's bar asks to open it; clicking a tool's conversation
    (it has no messages to open) shows only that tool's spend instead.

    Signals:
        conversation_activated(int): the user clicked the bar of a chat-window conversation;
            open it in the chat.
        refreshed(): every figure on screen was replaced by fresh ones.
    """

    conversation_activated = Signal(int)
    refreshed = Signal()

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.figures: DashboardFigures | None = None
        """What is on screen (``None`` until the first refresh lands)."""
        self._figures = LatestLoad(context, self)
        self._stale = False  # a change arrived while hidden: refresh when shown
        self.colours = ModelColours()
        self.controls = RangeControls()
        self.whatif_panel = WhatIfPanel()
        self.refresh()  # the figures are read while the charts are built
        self.total_label = QLabel()
        font = QFont(self.total_label.font())
        font.setBold(True)
        self.total_label.setFont(font)
        self.message = MessageLine()
        self.daily_chart = DailyCostChart(self.colours)
        self.model_chart = ShareChart("Spend per model", self._model_colour)
        self.conversation_chart = ShareChart(
            "Spend per conversation", self._conversation_colour, clickable=True
        )
        self.tokens_chart = TokensChart()
        self.balance_chart = BalanceChart()
        self.forecast_panel = ForecastPanel()
        self.savings_panel = CacheSavingsPanel()
        self.more_tabs = QTabWidget()
        """Tokens, balance, cache savings and what-if: one card, a tab each."""
        self._build()

        self.controls.changed.connect(self._on_controls_changed)
        self.conversation_chart.share_clicked.connect(self._on_conversation_chart_share_clicked)
        self.whatif_panel.model_chosen.connect(self._on_whatif_panel_model_chosen)
        # Budgets, thresholds and prices are settings; titles label the conversation chart.
        ChangeThrottle(
            context.events.changed, LEDGER | SETTINGS | CONVERSATIONS, self._on_changes, self
        )

    # --- public ----------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read every figure in the background (one task); ``refreshed`` when painted."""
        self._stale = False
        request = FigureRequest(
            self.controls.selection(),
            self.controls.bucket(),
            self.whatif_panel.model(),
            utc_today(),
        )
        db = self.context.db
        self._figures.start(
            lambda: load_figures(db, request), self._on_load_finished, self._on_load_failed
        )

    def selection(self) -> Selection:
        """The days and filters every figure is for."""
        return self.controls.selection()

    def set_selection(self, selection: Selection) -> None:
        """Show ``selection`` in the controls and refresh every figure for it."""
        self.controls.set_selection(selection)
        self.refresh()

    def bucket(self) -> Bucket:
        """How the time charts group days."""
        return self.controls.bucket()

    def set_bucket(self, bucket: Bucket) -> None:
        """Group the time charts by ``bucket`` (refreshes when it changes)."""
        self.controls.set_bucket(bucket)

    def set_whatif_model(self, model: str) -> None:
        """Re-price the range on ``model`` (refreshes)."""
        self.whatif_panel.choose(model)
        self.refresh()

    # --- building --------------------------------------------------------------------------

    def _build(self) -> None:
        """Two rows of three: the spend over time and the month's forecast, then the two
        breakdowns and the other figures in tabs, so a 1280x800 window shows every card."""
        self.daily_chart.add_to_header(self.total_label)
        self.more_tabs.setDocumentMode(True)
        for widget, name in (
            (self.tokens_chart, "Tokens"),
            (self.balance_chart, "Balance"),
            (self.savings_panel, "Savings"),
            (self.whatif_panel, "What if"),
        ):
            self.more_tabs.addTab(_padded(widget), name)
        self.more_tabs.setTabToolTip(2, "What prompt caching saved")
        self.more_tabs.setTabToolTip(3, "What the range would have cost on another model")

        grid = QGridLayout()
        grid.setSpacing(10)
        cards = (
            (_card(self.daily_chart), 0, 0, 2),
            (_card(self.forecast_panel, "Month-end forecast"), 0, 2, 1),
            (_card(self.model_chart), 1, 0, 1),
            (_card(self.conversation_chart), 1, 1, 1),
            (_card(self.more_tabs, margin=0), 1, 2, 1),
        )
        for card, row, column, columns in cards:
            grid.addWidget(card, row, column, 1, columns)
        for column in range(3):
            grid.setColumnStretch(column, 1)
        for row in range(2):
            grid.setRowStretch(row, 1)

        content = _Page()
        content.setMinimumSize(*MINIMUM_CONTENT)
        inner = QVBoxLayout(content)
        inner.addWidget(self.controls)
        inner.addWidget(self.message)
        inner.addLayout(grid, 1)
        scroll = QScrollArea()
        scroll.setWidget(content)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll)

    # --- painting --------------------------------------------------------------------------

    def _paint(self, figures: DashboardFigures) -> None:
        request = figures.request
        selection, bucket, today = request.selection, request.bucket, request.today
        span = _span(selection, today)
        self.figures = figures
        self.controls.set_choices(figures.providers, figures.models, figures.sources)
        self.colours.learn(figures.models)
        self.daily_chart.set_points(figures.costs, bucket, span, _budget(figures, bucket))
        self.model_chart.set_shares(figures.by_model)
        conversations = [s for s in figures.by_conversation if s.conversation_id is not None]
        rest = [s for s in figures.by_conversation if s.conversation_id is None]
        self.conversation_chart.set_shares(conversations, rest[0] if rest else None)
        self.tokens_chart.set_points(figures.tokens, bucket, span)
        self.balance_chart.set_points(figures.balance, figures.low_balance, span)
        self.forecast_panel.set_forecast(figures.forecast, figures.month_to_date, today)
        self.savings_panel.set_savings(figures.savings_by_model, figures.savings_by_conversation)
        repricing = figures.repricing
        self.whatif_panel.set_models(figures.whatif_models, repricing.model if repricing else None)
        self.whatif_panel.set_repricing(repricing)
        self.total_label.setText(f"{format_usd(figures.total)} {_range_words(span)}")
        self.message.clear()

    def _model_colour(self, share: Share) -> QColor:
        return self.colours.colour(share.key)

    def _conversation_colour(self, _share: Share) -> QColor:
        return self.palette().color(QPalette.ColorRole.Highlight)

    # --- slots -----------------------------------------------------------------------------

    def _on_load_finished(self, figures: DashboardFigures) -> None:
        self._paint(figures)
        self.refreshed.emit()

    def _on_load_failed(self, error: BaseException) -> None:
        self.message.show_error(f"The dashboard could not be updated: {describe(error)}")

    def _on_controls_changed(self) -> None:
        self.refresh()

    def _on_whatif_panel_model_chosen(self, _model: str) -> None:
        self.refresh()

    def _on_conversation_chart_share_clicked(self, share: Share) -> None:
        assert share.conversation_id is not None  # the chart has a bar for conversations only
        if share.source in (None, CHAT_SOURCE):
            self.conversation_activated.emit(share.conversation_id)
        else:
            self.set_selection(replace(self.selection(), sources=frozenset({share.source})))

    def _on_changes(self, _changes: Changes) -> None:
        if self.isVisible():
            self.refresh()
        else:
            self._stale = True

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt's name)
        """Catch up on changes that arrived while the dashboard was hidden."""
        super().showEvent(event)
        if self._stale:
            self.refresh()


class _Card(QFrame):
    """A figure in a light frame, sized by the grid's stretch factors alone.

    Its word-wrapped notes would make it height-for-width, and QGridLayout then sizes rows by
    preferred heights, ignoring the stretch: the bar charts' row was squeezed to nothing.
    """

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt's name)
        """The grid decides the height; the labels wrap within it."""
        return False


def _card(widget: QWidget, title: str | None = None, *, margin: int = 8) -> QFrame:
    """A figure in a light frame, so the grid reads as separate figures.

    Charts carry their own title (it changes with the bucket); panels get ``title`` here, in the
    same bold type.
    """
    frame = _Card()
    frame.setFrameShape(QFrame.Shape.StyledPanel)
    frame.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
    layout = QVBoxLayout(frame)
    layout.setContentsMargins(margin, margin * 3 // 4, margin, margin * 3 // 4)
    layout.setSpacing(2)
    if title is not None:
        label = QLabel(title)
        font = QFont(label.font())
        font.setBold(True)
        label.setFont(font)
        layout.addWidget(label)
    layout.addWidget(widget, 1)
    return frame


def _padded(widget: QWidget) -> QWidget:
    """``widget`` with the margins of a card, for a tab of the card whose tabs are flush."""
    page = QWidget()
    layout = QVBoxLayout(page)
    layout.setContentsMargins(8, 6, 8, 6)
    layout.addWidget(widget)
    return page


def _span(selection: Selection, today: date) -> tuple[date, date] | None:
    """The days the time charts span: the selection's, up to today when open-ended."""
    if selection.since is None:
        return None
    return selection.since, selection.until or today


def _range_words(span: tuple[date, date] | None) -> str:
    if span is None:
        return "spent in all"
    first, last = span
    if first == last:
        return f"spent on {first.day} {first:%b %Y}"
    return f"spent from {first.day} {first:%b} to {last.day} {last:%b %Y}"


def _budget(figures: DashboardFigures, bucket: Bucket) -> tuple[str, Decimal] | None:
    """The overall budget that matches the bars: daily on days, monthly on months."""
    if bucket is Bucket.DAY and figures.daily_budget is not None:
        return "Daily budget", figures.daily_budget
    if bucket is Bucket.MONTH and figures.monthly_budget is not None:
        return "Monthly budget", figures.monthly_budget
    return None
