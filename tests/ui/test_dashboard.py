"""The usage dashboard against a ledger of synthetic history: every figure is the core's."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import pytest
from PySide6.QtCore import QCoreApplication, QPoint, Qt
from PySide6.QtWidgets import QTableWidget
from pytestqt.qtbot import QtBot

from app.core.clock import utcnow
from app.core.day_ranges import RangePreset
from app.core.errors import TallybookError
from app.core.ledger import alerts, analysis, demo_data, entries
from app.core.ledger.analysis import Bucket
from app.core.ledger.reports import build_report
from app.core.ledger.selection import Selection
from app.core.money import credits_to_usd, format_usd, format_usd_exact
from app.core.pricing.prices import PriceBook
from app.core.storage.db import Database
from app.core.types import GroupBy
from app.ui.context import AppContext
from app.ui.dashboard import DashboardView
from app.ui.dashboard import view as view_module
from app.ui.dashboard.charts import ShareChart
from app.ui.dashboard.panels import crossing_text
from tests import factories

pytestmark = pytest.mark.gui

WAIT_MS = 10_000
NOW = utcnow()
TODAY = NOW.date()
LAST_30 = Selection(since=TODAY - timedelta(days=29), until=TODAY)


@pytest.fixture
def db(db: Database) -> Database:
    """The test's ledger with 3,000 demo rows over 40 days, before the app opens it."""
    with db.write() as session:
        demo_data.fill(session, 3000, 40, now=NOW)
    return db


@pytest.fixture
def view(qtbot: QtBot, context: AppContext) -> DashboardView:
    """The dashboard at a real window size, after its first refresh."""
    dashboard_view = DashboardView(context)
    qtbot.addWidget(dashboard_view)
    dashboard_view.resize(1300, 900)
    with qtbot.waitSignal(dashboard_view.refreshed, timeout=WAIT_MS):
        dashboard_view.show()
    return dashboard_view


def select(qtbot: QtBot, view: DashboardView, selection: Selection) -> None:
    with qtbot.waitSignal(view.refreshed, timeout=WAIT_MS):
        view.set_selection(selection)


def cell(table: QTableWidget, row: int, column: int) -> str:
    item = table.item(row, column)
    assert item is not None
    return item.text()


def usd(credits: Decimal) -> float:
    return float(credits_to_usd(credits))


def test_the_stacked_bars_add_up_to_the_daily_report(view: DashboardView) -> None:
    assert view.selection() == LAST_30  # the default range
    with view.context.db.read() as session:
        report = build_report(session, GroupBy.DAY, LAST_30)
    expected = {date.fromisoformat(row.key): row.cost for row in report.rows}
    assert len(expected) > 20

    drawn = view.daily_chart.stack_tops()
    assert drawn.keys() == expected.keys()
    for day, cost in expected.items():
        assert drawn[day] == pytest.approx(usd(cost), abs=1e-9)
    assert view.figures is not None
    exact: dict[date, Decimal] = defaultdict(Decimal)
    for point in view.figures.costs:
        exact[point.start] += point.cost
    assert exact == expected  # to the micro-credit, not just as drawn
    assert format_usd(report.total.cost) in view.total_label.text()


def test_every_bar_part_has_a_tooltip_with_day_model_tokens_and_cost(
    view: DashboardView,
) -> None:
    assert view.figures is not None
    point = max(view.figures.costs, key=lambda p: p.cost)
    centre = view.daily_chart.segment_centre(point.start, point.model)
    assert centre is not None
    tip = view.daily_chart.tooltip_at(centre.x(), centre.y()) or ""
    assert point.model in tip
    assert format_usd(point.cost) in tip
    assert format_usd_exact(point.cost) in tip  # every digit, on hover
    assert f"{point.input_tokens:,} tokens in, {point.output_tokens:,} out" in tip
    assert f"{point.start.day} {point.start:%b %Y}" in tip
    assert view.daily_chart.tooltip_at(centre.x(), -1.0) is None  # below the axis: nothing


def test_switching_buckets_regroups_the_bars(qtbot: QtBot, view: DashboardView) -> None:
    assert view.figures is not None
    days = {p.start for p in view.figures.costs}
    assert view.daily_chart.bucket_count() == len(days)

    with qtbot.waitSignal(view.refreshed, timeout=WAIT_MS):
        view.controls.bucket_box.setCurrentIndex(view.controls.bucket_box.findData(Bucket.WEEK))
    weeks = {analysis.bucket_start(day, Bucket.WEEK) for day in days}
    assert view.daily_chart.bucket_count() == len(weeks) < len(days)
    assert view.daily_chart.title_label.text() == "Cost per week (USD)"
    assert view.tokens_chart.title_label.text().startswith("Tokens per week")

    with qtbot.waitSignal(view.refreshed, timeout=WAIT_MS):
        view.set_bucket(Bucket.MONTH)
    months = {day.replace(day=1) for day in days}
    assert view.daily_chart.bucket_count() == len(months) < len(weeks)
    # Regrouping moves money between bars, never changes the total.
    assert sum(view.daily_chart.stack_tops().values()) == pytest.approx(
        usd(view.figures.total), abs=1e-9
    )


def test_the_model_filter_restricts_every_figure(qtbot: QtBot, view: DashboardView) -> None:
    button = view.controls.model_button
    action = next(a for a in button.menu().actions() if a.text() == "gpt-4o")
    with qtbot.waitSignal(view.refreshed, timeout=WAIT_MS):
        action.setChecked(True)  # what ticking it in the menu does

    assert view.selection().models == frozenset({"gpt-4o"})
    assert button.text() == "gpt-4o"
    assert view.daily_chart.models() == ["gpt-4o"]
    assert [share.key for share in view.model_chart.shares()] == ["gpt-4o"]
    with view.context.db.read() as session:
        by_model = build_report(session, GroupBy.MODEL, LAST_30)
    gpt_4o = next(row for row in by_model.rows if row.key == "gpt-4o")
    assert view.figures is not None
    assert view.figures.total == gpt_4o.cost
    chart = view.conversation_chart
    rest = chart.rest()
    assert rest is not None
    assert sum(share.cost for share in chart.shares()) + rest.cost == gpt_4o.cost


def click_bar(qtbot: QtBot, chart: ShareChart, index: int) -> None:
    """A real left click on the middle of a bar."""
    scene_point = chart.view_box.mapViewToScene(chart.bar_centre(index))
    point: QPoint = chart.plot.mapFromScene(scene_point)
    qtbot.mouseClick(chart.plot.viewport(), Qt.MouseButton.LeftButton, pos=point)


def test_clicking_a_conversation_bar_opens_that_conversation(
    qtbot: QtBot, view: DashboardView
) -> None:
    chart = view.conversation_chart
    shares = chart.shares()
    assert all(share.conversation_id is not None for share in shares)

    with qtbot.waitSignal(view.conversation_activated, timeout=WAIT_MS) as blocker:
        click_bar(qtbot, chart, 1)
    assert blocker.args == [shares[1].conversation_id]


def test_a_new_spend_shows_up_live(qtbot: QtBot, view: DashboardView) -> None:
    assert view.figures is not None
    before = view.figures.total
    spend = factories.spend(1000, 500)
    refreshed: list[None] = []
    view.refreshed.connect(lambda: refreshed.append(None))
    with (
        qtbot.waitSignal(view.refreshed, timeout=WAIT_MS),
        view.context.db.write() as session,  # the commit announces itself
    ):
        entries.spend_tokens(session, spend, now=utcnow())

    assert view.figures.total == before + spend.cost
    assert "test-model" in view.daily_chart.models()
    assert any(share.key == "test-model" for share in view.model_chart.shares())
    view.context.reads.wait()
    QCoreApplication.processEvents()
    assert len(refreshed) == 1


def test_what_if_shows_the_cores_repricing(qtbot: QtBot, view: DashboardView) -> None:
    with qtbot.waitSignal(view.refreshed, timeout=WAIT_MS):
        view.set_whatif_model("claude-haiku-4-5")
    with view.context.db.read() as session:
        expected = analysis.reprice(session, LAST_30, "claude-haiku-4-5", PriceBook.load(session))

    panel = view.whatif_panel
    assert panel.repricing == expected
    assert panel.model() == "claude-haiku-4-5"
    last = panel.table.rowCount() - 1
    assert cell(panel.table, last, 0) == "Total"
    assert cell(panel.table, last, 1) == format_usd(expected.actual)
    assert cell(panel.table, last, 2) == format_usd(expected.repriced)
    assert panel.table.rowCount() == len(expected.by_model) + 1
    assert "not re-applied" in panel.note.text()


def test_budgets_threshold_and_forecast_are_drawn(qtbot: QtBot, view: DashboardView) -> None:
    with (
        qtbot.waitSignal(view.refreshed, timeout=WAIT_MS),
        view.context.db.write() as session,  # the commit announces itself
    ):
        alerts.add_budget(session, "day", Decimal(400_000))
        alerts.add_budget(session, "month", Decimal(6_000_000))
        alerts.add_budget(session, "day", Decimal(1), scope="model", target="gpt-4o")  # not drawn
        alerts.set_low_balance_threshold(session, Decimal(27_000_000))

    assert view.daily_chart.budget_line.isVisible()
    assert view.daily_chart.budget_line.value() == pytest.approx(0.4)
    assert view.balance_chart.threshold_line.isVisible()
    assert view.balance_chart.threshold_line.value() == pytest.approx(27.0)
    forecast_chart = view.forecast_panel.chart
    assert forecast_chart.budget_line.value() == pytest.approx(6.0)

    with view.context.db.read() as session:
        forecast = analysis.forecast(session, TODAY, Decimal(6_000_000))
    panel = view.forecast_panel
    assert panel.spent_label.text().startswith(format_usd(forecast.spent))
    assert panel.projected_label.text() == format_usd(forecast.projected)
    assert panel.crossing_label.text() == crossing_text(forecast, TODAY)

    with qtbot.waitSignal(view.refreshed, timeout=WAIT_MS):
        view.set_bucket(Bucket.WEEK)
    assert not view.daily_chart.budget_line.isVisible()  # no weekly budget to compare with


def test_cache_savings_tables_match_the_core(view: DashboardView) -> None:
    with view.context.db.read() as session:
        by_model = analysis.cache_savings_by_model(session, LAST_30)
        by_conversation = analysis.cache_savings_by_conversation(session, LAST_30)
    panel = view.savings_panel
    shown = [
        (cell(panel.by_model, r, 0), cell(panel.by_model, r, 1))
        for r in range(panel.by_model.rowCount())
    ]
    assert shown == [(s.label, format_usd(s.saved)) for s in by_model]
    assert panel.by_conversation.rowCount() == len(by_conversation) > 0
    total = sum((s.saved for s in by_model), Decimal(0))
    assert format_usd(total) in panel.total_label.text()


def test_presets_and_custom_ranges_drive_the_selection(qtbot: QtBot, view: DashboardView) -> None:
    week = Selection(since=TODAY - timedelta(days=6), until=TODAY)
    select(qtbot, view, week)
    assert view.controls.preset() is RangePreset.LAST_7_DAYS
    assert view.selection() == week

    first = TODAY - timedelta(days=20)
    custom = Selection(since=first, until=first + timedelta(days=10))
    select(qtbot, view, custom)
    assert view.controls.preset() is RangePreset.CUSTOM
    assert view.selection() == custom
    assert view.figures is not None
    shown = {p.start for p in view.figures.costs}
    assert shown and shown <= {first + timedelta(days=n) for n in range(11)}

    with qtbot.waitSignal(view.refreshed, timeout=WAIT_MS):
        view.controls.preset_box.setCurrentIndex(
            view.controls.preset_box.findData(RangePreset.TODAY)
        )
    assert view.selection() == Selection(since=TODAY, until=TODAY)


def test_a_newer_refresh_wins_and_a_failure_is_a_sentence(
    qtbot: QtBot, view: DashboardView, monkeypatch: pytest.MonkeyPatch
) -> None:
    refreshed: list[None] = []
    view.refreshed.connect(lambda: refreshed.append(None))
    week = Selection(since=TODAY - timedelta(days=6), until=TODAY)
    with qtbot.waitSignal(view.refreshed, timeout=WAIT_MS):
        view.refresh()
        view.set_selection(week)  # overtakes the first refresh
    view.context.reads.wait()
    QCoreApplication.processEvents()
    assert len(refreshed) == 1
    assert view.figures is not None and view.figures.request.selection == week

    def broken(*_: object) -> None:
        raise TallybookError("The ledger file is locked by another program.")

    monkeypatch.setattr(view_module, "load_figures", broken)
    view.refresh()
    qtbot.waitUntil(lambda: bool(view.message.text()), timeout=WAIT_MS)
    assert "The ledger file is locked by another program." in view.message.text()
