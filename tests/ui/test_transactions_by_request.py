"""The transactions view's default, one row per request, against a real ledger file: what a row
says, paging, the ledger rows behind a request on double-click and Enter, the toggle to the raw
ledger, filters and live refresh."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from app.core import money
from app.core.clock import utcnow
from app.core.ledger import demo_data, entries
from app.core.ledger.request_rows import RequestRow
from app.core.ledger.selection import Selection
from app.core.pricing.prices import DEFAULT_SOURCE
from app.core.pricing.units import Kind
from app.core.storage.db import Database
from app.ui.context import AppContext
from app.ui.transactions import TransactionsView
from app.ui.transactions.requests_table import COLUMNS, DEFAULT_RATE_FLAG
from tests.factories import rates, spend

pytestmark = pytest.mark.gui

WAIT_MS = 10_000
REQUESTS = 1200
NOW = utcnow()
"""Where the demo's rows end (passed to it: a module imported minutes before its test runs
must not fall behind them); the fixture's own rows come after."""
UNKNOWN = "gpt-4o-mini@slow"


def column(title: str) -> int:
    return next(i for i, c in enumerate(COLUMNS) if c.title == title)


@pytest.fixture
def view(qtbot: QtBot, db: Database, context: AppContext) -> TransactionsView:
    """The view on a demo ledger of about 1,200 requests, a typo'd model priced at the default
    rate among them, and a top-up; shown, first page in."""
    with db.write() as session:
        demo_data.fill(session, REQUESTS * 5 // 2, days=30, now=NOW)
        unknown = rates("10", "30", model=UNKNOWN, source=DEFAULT_SOURCE)
        entries.spend_tokens(session, spend(4303, 50, model_rates=unknown), now=NOW)
        entries.add_credits(session, Decimal(5_000_000), now=NOW + timedelta(minutes=1))
        entries.spend_tokens(
            session,
            replace(spend(80, 20), input_estimated=True),
            now=NOW + timedelta(minutes=2),
        )
    shown = TransactionsView(context)
    qtbot.addWidget(shown)
    shown.resize(1300, 700)
    with qtbot.waitSignals([shown.loaded, shown.totals_changed], timeout=WAIT_MS):
        shown.show()
    return shown


def rows(view: TransactionsView) -> list[RequestRow]:
    model = view.requests_model
    return [model.row_at(i) for i in range(model.rowCount())]


def cell(view: TransactionsView, row: int, title: str, role: int = 0) -> str:
    model = view.requests_model
    text: str = model.data(model.index(row, column(title)), role)
    return text


def test_the_default_shows_one_row_per_request_with_a_positive_cost(
    view: TransactionsView,
) -> None:
    assert view.by_request and view.by_request_button.isChecked()
    assert view.tables.currentWidget() is view.requests_table
    estimated, top_up, unknown = rows(view)[:3]
    assert cell(view, 0, "Model") == "test-model"
    assert cell(view, 0, "Tokens in") == "80" and cell(view, 0, "Tokens out") == "20"
    assert cell(view, 0, "Status") == "complete"
    assert cell(view, 0, "Flags") == "≈ estimated"
    assert cell(view, 0, "Cost") == money.format_usd(estimated.cost)
    assert estimated.cost == Decimal(80 * 1.5 + 20 * 2) > 0

    assert (cell(view, 1, "Conversation"), cell(view, 1, "Status")) == ("Credits", "credits added")
    assert cell(view, 1, "Cost") == "+$5.00" and top_up.cost == Decimal(5_000_000)

    # The typo'd model's default rate is flagged, in the row and on the cost's tooltip.
    assert unknown.model == UNKNOWN and cell(view, 2, "Flags") == DEFAULT_RATE_FLAG
    assert cell(view, 2, "Cost") == "$0.045"  # 4,303 x $10/M + 50 x $30/M
    tip = cell(view, 2, "Cost", Qt.ItemDataRole.ToolTipRole)
    assert tip.startswith(money.format_usd_exact(unknown.cost)) and "default rate" in tip
    assert "price table has no price" in cell(view, 2, "Flags", Qt.ItemDataRole.ToolTipRole)

    # Demo requests read from the cache: the count shows in brackets.
    cached = next(i for i, r in enumerate(rows(view)) if r.cache_read_tokens)
    assert cell(view, cached, "Tokens in").endswith(" cached)")


def test_requests_page_as_the_user_scrolls_each_once_newest_first(
    qtbot: QtBot, qtmodeltester: ModelTester, view: TransactionsView
) -> None:
    model = view.requests_model
    qtmodeltester.check(model, force_py=True)
    assert model.rowCount() == 500 and model.canFetchMore(model.index(-1, -1))
    assert view.loaded_label.text() == "500 requests loaded, more as you scroll"
    while model.canFetchMore(model.index(-1, -1)):
        with qtbot.waitSignal(model.fetched, timeout=WAIT_MS):
            model.fetchMore(model.index(-1, -1))
    shown = rows(view)
    positions = [r.position for r in shown]
    assert positions == sorted(positions, reverse=True)
    top_ups = sum(r.is_top_up for r in shown)
    assert len({r.request_id for r in shown if r.request_id}) == len(shown) - top_ups
    assert len(shown) > REQUESTS * 0.9 and top_ups >= 2  # the demo's and the fixture's
    assert view.loaded_label.text() == ""

    with qtbot.waitSignal(view.loaded, timeout=WAIT_MS):  # the time header: oldest first
        model.sort(column("Time (UTC)"), Qt.SortOrder.AscendingOrder)
    assert model.row_at(0).created_at == min(positions)[0]


def test_double_click_and_enter_open_the_ledger_rows_of_a_request(
    qtbot: QtBot, view: TransactionsView
) -> None:
    table = view.requests_table
    cached = next(i for i, r in enumerate(rows(view)) if r.cache_read_tokens)
    request = view.requests_model.row_at(cached)
    index = view.requests_model.index(cached, column("Model"))
    table.scrollTo(index)
    assert not view.detail.isVisible()
    where = table.visualRect(index).center()
    with qtbot.waitSignal(view.detail.loaded, timeout=WAIT_MS):
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=where)  # as a hand
        qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=where)
    assert view.detail.isVisible()
    ledger = [view.detail.model.row_at(i) for i in range(view.detail.model.rowCount())]
    assert len(ledger) == request.ledger_rows >= 3
    assert {r.request_id for r in ledger} == {request.request_id}
    assert -sum((r.token_value for r in ledger), Decimal(0)) == request.cost
    assert "cache_read" in {r.token_type for r in ledger}

    table.setFocus()  # Enter on the current row (the top-up) shows its one ledger row
    table.setCurrentIndex(view.requests_model.index(1, 0))
    with qtbot.waitSignal(view.detail.loaded, timeout=WAIT_MS):
        qtbot.keyClick(table, Qt.Key.Key_Return)
    assert view.detail.title.text() == "Ledger rows of this top-up"
    assert [view.detail.model.row_at(0).token_type] == ["credits"]

    qtbot.keyClick(view.detail, Qt.Key.Key_Escape)
    assert not view.detail.isVisible()


def test_the_toggle_shows_the_raw_ledger_with_the_same_filter_and_totals(
    qtbot: QtBot, view: TransactionsView
) -> None:
    totals = view.model.totals
    with qtbot.waitSignals([view.loaded, view.totals_changed], timeout=WAIT_MS):
        view.set_filter(Selection(kinds=frozenset({Kind.CACHE_READ})))
    shown = rows(view)
    assert shown and all(r.cache_read_tokens for r in shown)
    assert all(r.output_tokens for r in shown)  # the whole request, not only its cache reads
    assert view.model.totals != totals

    view.ledger_rows_button.click()
    assert not view.by_request and view.tables.currentWidget() is view.table
    assert not view.hint_label.isVisible()
    assert {view.model.row_at(i).token_type for i in range(view.model.rowCount())} == {"cache_read"}
    with qtbot.waitSignals([view.loaded, view.totals_changed], timeout=WAIT_MS):
        view.set_filter(Selection(models=frozenset({UNKNOWN})))  # the hidden table waits...
    assert view.requests_model.filter != view.current_filter()
    with qtbot.waitSignal(view.loaded, timeout=WAIT_MS):
        view.by_request_button.click()  # ... until shown again
    assert [r.model for r in rows(view)] == [UNKNOWN]


def test_the_counted_by_filter_says_who_counted(qtbot: QtBot, view: TransactionsView) -> None:
    combo = view.filters.estimated_combo
    items = [combo.itemText(i) for i in range(combo.count())]
    assert items == [
        "Counted by: anyone",
        "Counted by: the provider",
        "Counted by: Tallybook's estimate",
    ]
    with qtbot.waitSignals([view.loaded, view.totals_changed], timeout=WAIT_MS):
        combo.setCurrentIndex(2)
    assert view.current_filter() == Selection(estimated=True)
    assert [cell(view, i, "Flags") for i in range(view.requests_model.rowCount())] == [
        "≈ estimated"
    ]


def test_a_new_request_shows_on_top(qtbot: QtBot, view: TransactionsView, db: Database) -> None:
    with (
        qtbot.waitSignals([view.loaded, view.totals_changed], timeout=WAIT_MS),
        db.write() as session,
    ):
        record = entries.spend_tokens(session, spend(321, 45), now=NOW + timedelta(hours=1))
    newest = view.requests_model.row_at(0)
    assert newest.request_id == record.request_id
    assert (newest.input_tokens, newest.output_tokens, newest.cost) == (321, 45, -record.total)
