"""The dashboard as a new user meets it: tips that stay, labels that are whole, one screen.

The real window at 1280x800 over a ledger of demo history, hovered and measured as a person
would look at it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, QSettings
from PySide6.QtGui import QFont, QFontMetrics, QHelpEvent
from PySide6.QtWidgets import QApplication, QScrollArea, QToolTip, QWidget
from pytestqt.qtbot import QtBot

from app.core import conversations
from app.core.clock import utcnow
from app.core.ledger import demo_data, entries
from app.core.ledger.analysis import Bucket
from app.core.money import format_usd
from app.core.storage.db import Database
from app.ui.context import AppContext
from app.ui.dashboard import DashboardView
from app.ui.dashboard.charts import ShareChart, bucket_name, tip_usd
from app.ui.dashboard.plotting import (
    DAY_SECONDS,
    ELLIPSIS,
    ChartFrame,
    bucket_end,
    day_seconds,
    elide_words,
)
from app.ui.main_window import MainWindow
from tests import factories

pytestmark = pytest.mark.gui

WAIT_MS = 10_000
NOW = utcnow().replace(hour=0, minute=0, second=1, microsecond=0)
"""The demo's last moment: today's first second, so its days (and which conversations make the
top ten) are the same at whatever time of day the tests run."""
TODAY = NOW.date()
RESTING_MS = 1_200
"""Longer than Qt waits (700 ms) before it sends the ToolTip event of a resting mouse."""


@pytest.fixture
def db(db: Database) -> Database:
    """The test's ledger with 3,000 demo rows over 40 days, before the app opens it."""
    with db.write() as session:
        demo_data.fill(session, 3000, 40, now=NOW)
    return db


@pytest.fixture
def window(qtbot: QtBot, db: Database, tmp_path: Path) -> Iterator[MainWindow]:
    """The real window at 1280x800 on its dashboard, after the dashboard's first refresh."""
    context = AppContext.create(db)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    main = MainWindow(context, settings)
    qtbot.addWidget(main)
    main.resize(1280, 800)
    main.show()
    dashboard = main.workspace.dashboard
    with qtbot.waitSignal(dashboard.refreshed, timeout=WAIT_MS):
        main.workspace.show_page(dashboard)
    qtbot.waitUntil(lambda: dashboard.figures is not None, timeout=WAIT_MS)
    yield main
    main.close()
    context.close()


@pytest.fixture
def view(window: MainWindow) -> DashboardView:
    dashboard: DashboardView = window.workspace.dashboard
    return dashboard


def on_day(chart: ChartFrame, day: date) -> QPointF:
    """The middle of a day's column, half-way up the plot."""
    low, high = chart.view_box.viewRange()[1]
    return QPointF(day_seconds(day) + DAY_SECONDS / 2, (low + high) / 2)


def hover(qtbot: QtBot, chart: ChartFrame, point: QPointF) -> QPoint:
    """Move the mouse onto a point of the chart (data coordinates); where it is, in pixels."""
    pixel: QPoint = chart.plot.mapFromScene(chart.view_box.mapViewToScene(point))
    # From a pixel beside it: a move to where the pointer already is (the same spot of the
    # previous chart in the same tab card) is no move, and Qt sends no event for it.
    qtbot.mouseMove(chart.plot.viewport(), pixel + QPoint(1, 0))
    qtbot.mouseMove(chart.plot.viewport(), pixel)
    return pixel


def rest(qtbot: QtBot, chart: ChartFrame, pixel: QPoint) -> None:
    """What a resting mouse brings: Qt's ToolTip event, and time."""
    viewport = chart.plot.viewport()
    QApplication.sendEvent(
        viewport, QHelpEvent(QEvent.Type.ToolTip, pixel, viewport.mapToGlobal(pixel))
    )
    qtbot.wait(RESTING_MS)


@pytest.mark.qt_log_ignore("This plugin does not support raise")  # offscreen, on a tooltip
def test_a_tooltip_stays_while_the_mouse_rests_on_every_chart(
    qtbot: QtBot, view: DashboardView
) -> None:
    figures = view.figures
    assert figures is not None
    cost = max(figures.costs, key=lambda p: p.cost)
    busiest = max(figures.tokens, key=lambda p: p.input_tokens)
    balance = figures.balance[-2]
    centre = view.daily_chart.segment_centre(cost.start, cost.model)
    assert centre is not None
    cases = (
        (view.daily_chart, centre, format_usd(cost.cost), None),
        (view.model_chart, view.model_chart.bar_centre(0), figures.by_model[0].label, None),
        (view.conversation_chart, view.conversation_chart.bar_centre(0), "Click to open", None),
        (view.tokens_chart, busiest.start, f"{busiest.input_tokens:,} tokens in", 0),
        (view.balance_chart, balance.day, format_usd(balance.balance), 1),
        (view.forecast_panel.chart, TODAY, f"{TODAY.day} {TODAY:%b %Y}\nSpent by", None),
    )
    for chart, where, words, tab in cases:
        if tab is not None:
            view.more_tabs.setCurrentIndex(tab)
            qtbot.waitUntil(chart.isVisible)
        point = where if isinstance(where, QPointF) else on_day(chart, where)
        pixel = hover(qtbot, chart, point)
        qtbot.waitUntil(lambda: QToolTip.isVisible(), timeout=WAIT_MS)
        shown = QToolTip.text()
        assert words in shown, chart.title_label.text()
        rest(qtbot, chart, pixel)
        assert QToolTip.isVisible(), chart.title_label.text()
        assert QToolTip.text() == shown


def test_the_forecast_tells_each_days_spend_and_its_projection(view: DashboardView) -> None:
    figures = view.figures
    assert figures is not None
    forecast, chart = figures.forecast, view.forecast_panel.chart
    first = forecast.month_start
    spent = dict(figures.month_to_date).get(first, Decimal(0))
    assert chart.tooltip_at(day_seconds(first) + 1, 0.0) == (
        f"{bucket_name(first, Bucket.DAY)}\nSpent by the day's end: {tip_usd(spent)}"
    )
    last = bucket_end(first, Bucket.MONTH) - timedelta(days=1)
    if last > TODAY:
        assert chart.tooltip_at(day_seconds(last) + 1, 0.0) == (
            f"{bucket_name(last, Bucket.DAY)}\n"
            f"Projected by the day's end: {tip_usd(forecast.projected)}"
        )


def test_labels_are_cut_at_a_word_never_inside_one(qtbot: QtBot, view: DashboardView) -> None:
    metrics = QFontMetrics(QFont())
    title = "Explain Rust lifetimes #177"
    assert elide_words(title, metrics, 10_000) == title
    room = metrics.horizontalAdvance("Explain Rust lifet")
    assert elide_words(title, metrics, room) in (f"Explain Rust{ELLIPSIS}", f"Explain{ELLIPSIS}")
    assert elide_words("claude-sonnet-4-5", metrics, 40).endswith(ELLIPSIS)  # one long word

    window = view.window()
    window.resize(900, 800)  # narrow: long titles must give way
    qtbot.waitUntil(lambda: view.conversation_chart.plot.width() < 300, timeout=WAIT_MS)
    chart = view.conversation_chart
    shown = chart.labels()
    full = [share.label for share in chart.shares()]
    assert len(shown) == len(full)
    assert any(label.endswith(ELLIPSIS) for label in shown)
    for label, whole in zip(shown, full, strict=True):
        if label != whole:
            kept = label.removesuffix(ELLIPSIS)
            assert whole.startswith(kept) and whole[len(kept)] in " ,;:-", label


def value_labels_inside(chart: ShareChart) -> bool:
    plot_right = chart.view_box.sceneBoundingRect().right()
    values = [item for item in chart.plot_item.items if hasattr(item, "textItem")]
    shown = [item for item in values if item.isVisible()]
    return bool(shown) and all(v.sceneBoundingRect().right() <= plot_right for v in shown)


def test_value_labels_stay_inside_the_plot(qtbot: QtBot, view: DashboardView) -> None:
    for width in (1280, 900):
        view.window().resize(width, 800)
        qtbot.wait(50)
        for chart in (view.model_chart, view.conversation_chart):
            qtbot.waitUntil(lambda: value_labels_inside(chart), timeout=WAIT_MS)  # noqa: B023


def test_date_labels_are_whole_at_both_ends(view: DashboardView) -> None:
    for chart in (view.daily_chart, view.forecast_panel.chart):
        axis = chart.plot_item.getAxis("bottom").sceneBoundingRect()
        metrics = QFontMetrics(chart.plot.font())
        ticks = chart.date_labels()
        assert len(ticks) >= 3, chart.title_label.text()
        for x, label in (ticks[0], ticks[-1]):
            centre = chart.view_box.mapViewToScene(QPointF(x, 0)).x()
            half = metrics.horizontalAdvance(label) / 2
            assert axis.left() <= centre - half and centre + half <= axis.right(), label


def test_other_conversations_are_a_line_under_the_bars_not_a_bar(
    qtbot: QtBot, db: Database, view: DashboardView
) -> None:
    # A long tail of small conversations, so "Other" adds up to more than the largest bar.
    with qtbot.waitSignal(view.refreshed, timeout=WAIT_MS), db.write() as session:
        for index in range(150):
            conversation = conversations.create_conversation(session, title=f"Small {index}")
            small = replace(factories.spend(26_000), conversation_id=conversation.id)
            entries.spend_tokens(session, small, now=NOW - timedelta(hours=1))
    chart = view.conversation_chart
    rest = chart.rest()
    assert rest is not None and rest.conversation_id is None
    assert len(chart.shares()) == 10
    assert all(share.conversation_id is not None for share in chart.shares())
    assert chart.rest_label.isVisible()
    assert rest.label in chart.rest_label.text()
    assert format_usd(rest.cost) in chart.rest_label.text()
    # The top conversation's bar spans most of the plot, whatever "Other" adds up to.
    largest = max(share.cost for share in chart.shares())
    assert rest.cost > largest  # a bar for "Other" would have dwarfed it
    right = chart.view_box.viewRange()[0][1]
    assert chart.bar_centre(0).x() * 2 >= right / 2


def scrolls(view: DashboardView) -> tuple[bool, bool]:
    scroll = view.findChild(QScrollArea)
    assert scroll is not None
    return scroll.horizontalScrollBar().isVisible(), scroll.verticalScrollBar().isVisible()


def whole(widget: QWidget) -> bool:
    """Shown and not cut by a squeezed parent (a graphics view: pass its viewport)."""
    return widget.isVisible() and widget.visibleRegion().boundingRect() == widget.rect()


def test_the_dashboard_fits_a_1280x800_window(qtbot: QtBot, view: DashboardView) -> None:
    qtbot.waitUntil(lambda: view.daily_chart.plot.height() > 0, timeout=WAIT_MS)
    assert scrolls(view) == (False, False)
    for chart in (view.daily_chart, view.model_chart, view.conversation_chart):
        assert chart.plot.height() >= 220, chart.title_label.text()
    assert view.forecast_panel.chart.plot.height() >= 120

    for width, height in ((1280, 800), (900, 700)):  # and a small laptop's window
        view.window().resize(width, height)
        qtbot.waitUntil(lambda: view.width() <= width, timeout=WAIT_MS)  # noqa: B023 (now)
        qtbot.wait(50)
        assert not scrolls(view)[0], width  # never sideways
        parts = (
            view.total_label,
            view.daily_chart.plot.viewport(),
            view.model_chart.plot.viewport(),
            view.conversation_chart.plot.viewport(),
            view.conversation_chart.rest_label,
            view.forecast_panel.chart.plot.viewport(),
            view.forecast_panel.note,
            view.tokens_chart.plot.viewport(),
        )
        for part in parts:
            assert whole(part), (width, part)
