"""The transactions view's raw ledger rows against a real ledger file: lazy pages, sorting,
filters, totals, export with progress and cancel, and live refresh (the per-request rows, the
default, are in ``test_transactions_by_request.py``)."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QToolButton,
)
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from app.core import conversations, money
from app.core.clock import utcnow
from app.core.day_ranges import RangePreset
from app.core.ledger import browse, demo_data, entries
from app.core.ledger.browse import Row, Totals
from app.core.ledger.export import HEADER
from app.core.ledger.selection import Selection
from app.core.pricing.units import Kind
from app.core.storage.db import Database
from app.ui.context import AppContext
from app.ui.transactions import ExportJob, TransactionsView, export
from app.ui.transactions.table import COLUMNS, TIME_COLUMN, VALUE_COLUMN
from tests.factories import spend

pytestmark = pytest.mark.gui

WAIT_MS = 10_000
ROWS = 3000
CREDITS = Selection(kinds=frozenset({Kind.CREDITS}))
PAGE = browse.PAGE_SIZE
REFRESH_WAIT_MS = 500
"""Longer than the view's refresh debounce: what has not happened by then will not."""


@pytest.fixture
def view(qtbot: QtBot, db: Database, context: AppContext) -> TransactionsView:
    """The view on a 3,000-row demo ledger with a few estimated rows, showing its ledger rows,
    first page in."""
    with db.write() as session:
        demo_data.fill(session, ROWS - 4, days=30)
        for _ in range(2):  # two requests, four rows, the provider's counts missing
            entries.spend_tokens(
                session, replace(spend(100, 20), input_estimated=True), now=utcnow() - timedelta(1)
            )
    shown = TransactionsView(context)
    qtbot.addWidget(shown)
    shown.resize(1300, 700)
    shown.show_by_request(False)
    with qtbot.waitSignals([shown.loaded, shown.totals_changed], timeout=WAIT_MS):
        shown.show()
    return shown


def requery(qtbot: QtBot, view: TransactionsView, change: Callable[[], object]) -> Totals:
    """Run ``change`` and wait for the new first page and its totals."""
    with qtbot.waitSignals([view.loaded, view.totals_changed], timeout=WAIT_MS):
        change()
    totals = view.model.totals
    assert totals is not None
    return totals


def fetch_more(qtbot: QtBot, view: TransactionsView) -> None:
    with qtbot.waitSignal(view.model.fetched, timeout=WAIT_MS):
        view.model.fetchMore(view.model.index(-1, -1))


def loaded_rows(view: TransactionsView) -> list[Row]:
    return [view.model.row_at(i) for i in range(view.model.rowCount())]


def expected_totals(db: Database, selection: Selection) -> Totals:
    with db.read() as session:
        return browse.totals(session, selection)


# --- lazy loading ------------------------------------------------------------------------------


def test_the_first_load_is_one_page_and_more_come_only_when_asked(
    qtbot: QtBot, view: TransactionsView
) -> None:
    model = view.model
    assert model.rowCount() == PAGE
    assert model.canFetchMore(model.index(-1, -1))
    with qtbot.assertNotEmitted(model.fetched, wait=300):
        pass  # the view does not pull a second page by itself: the bottom is off screen
    assert model.rowCount() == PAGE
    assert view.loaded_label.text() == f"500 of {ROWS:,} loaded"

    model.fetchMore(model.index(-1, -1))
    model.fetchMore(model.index(-1, -1))  # one fetch at a time: this one is ignored
    with qtbot.waitSignal(model.fetched, timeout=WAIT_MS):
        pass
    with qtbot.assertNotEmitted(model.fetched, wait=300):
        pass
    rows = loaded_rows(view)
    assert len(rows) == 2 * PAGE
    assert len({r.id for r in rows}) == 2 * PAGE
    keys = [(r.created_at, r.id) for r in rows]
    assert keys == sorted(keys, reverse=True)  # newest first, across the page boundary
    assert view.loaded_label.text() == f"1,000 of {ROWS:,} loaded"


def test_the_last_page_ends_the_fetching(
    qtbot: QtBot, view: TransactionsView, db: Database
) -> None:
    anthropic = Selection(providers=frozenset({"anthropic"}))
    total = requery(qtbot, view, lambda: view.set_filter(anthropic)).transactions
    assert PAGE < total < ROWS  # the demo's share of Anthropic: more than a page, not all
    # The share moves with the day the demo is drawn on, so the pages are counted, not fixed.
    pages = -(-total // PAGE)
    for _ in range(pages - 1):
        assert view.model.canFetchMore(view.model.index(-1, -1))
        fetch_more(qtbot, view)
    assert view.model.rowCount() == total
    assert not view.model.canFetchMore(view.model.index(-1, -1))
    assert view.loaded_label.text() == ""


def test_the_model_passes_the_model_tester(
    qtbot: QtBot, qtmodeltester: ModelTester, view: TransactionsView, db: Database
) -> None:
    model = view.model
    qtmodeltester.check(model, force_py=True)
    fetch_more(qtbot, view)  # inserts are checked from here on
    requery(qtbot, view, lambda: model.sort(VALUE_COLUMN, Qt.SortOrder.AscendingOrder))
    requery(qtbot, view, lambda: view.set_filter(CREDITS))
    assert model.rowCount() == expected_totals(db, CREDITS).transactions  # the demo's top-ups
    assert model.data(model.index(0, 0), Qt.ItemDataRole.DisplayRole)
    assert model.headerData(0, Qt.Orientation.Horizontal) == "Time (UTC)"


def test_a_late_page_of_a_replaced_query_is_dropped(
    qtbot: QtBot, view: TransactionsView, db: Database
) -> None:
    model = view.model
    credits = CREDITS
    model.fetchMore(model.index(-1, -1))  # a page of the old query is on its way...

    def change() -> None:
        view.set_filter(Selection(models=frozenset({"o3-mini"})))
        view.set_filter(credits)  # ... and so is a first page of this one

    requery(qtbot, view, change)
    with qtbot.assertNotEmitted(model.loaded, wait=300):
        pass
    top_ups = expected_totals(db, credits).transactions
    assert top_ups >= 1
    assert [r.token_type for r in loaded_rows(view)] == ["credits"] * top_ups
    assert view.current_filter() == credits


# --- sorting -----------------------------------------------------------------------------------


def click_header(qtbot: QtBot, view: TransactionsView, section: int) -> None:
    header = view.table.horizontalHeader()
    x = header.sectionViewportPosition(section) + header.sectionSize(section) // 2
    qtbot.mouseClick(
        header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, header.height() // 2)
    )


def test_clicking_value_sorts_by_value_across_pages(
    qtbot: QtBot, view: TransactionsView, db: Database
) -> None:
    requery(qtbot, view, lambda: click_header(qtbot, view, VALUE_COLUMN))
    model = view.model
    assert (model.sort_section, model.sort_order) == (VALUE_COLUMN, Qt.SortOrder.AscendingOrder)
    fetch_more(qtbot, view)
    rows = loaded_rows(view)
    assert len(rows) == 2 * PAGE
    values = [r.token_value for r in rows]
    assert values == sorted(values)
    assert len({r.id for r in rows}) == 2 * PAGE
    with db.read() as session:
        cheapest = browse.page(session, Selection(), sort="token_value", descending=False)
    assert rows[0].id == cheapest[0].id

    requery(qtbot, view, lambda: click_header(qtbot, view, VALUE_COLUMN))  # again: reversed
    assert (model.sort_section, model.sort_order) == (VALUE_COLUMN, Qt.SortOrder.DescendingOrder)
    top = [r.token_value for r in loaded_rows(view)]
    assert top == sorted(top, reverse=True)


def test_a_column_the_ledger_cannot_sort_by_keeps_the_current_order(
    qtbot: QtBot, view: TransactionsView
) -> None:
    conversation = next(i for i, c in enumerate(COLUMNS) if c.title == "Conversation")
    with qtbot.assertNotEmitted(view.model.modelReset, wait=200):
        click_header(qtbot, view, conversation)
    header = view.table.horizontalHeader()
    assert header.sortIndicatorSection() == TIME_COLUMN
    assert header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder


def test_sorting_by_provider_reaches_every_row(qtbot: QtBot, view: TransactionsView) -> None:
    provider = next(i for i, c in enumerate(COLUMNS) if c.sort == "provider")
    requery(qtbot, view, lambda: view.model.sort(provider, Qt.SortOrder.DescendingOrder))
    while view.model.canFetchMore(view.model.index(-1, -1)):
        fetch_more(qtbot, view)
    assert view.model.rowCount() == ROWS


# --- filters and totals ------------------------------------------------------------------------


FILTERS = {
    "model": Selection(models=frozenset({"claude-sonnet-4-5"})),
    "token type": Selection(kinds=frozenset({Kind.CACHE_READ})),
    "estimated": Selection(estimated=True),
    "reported completions": Selection(estimated=False, kinds=frozenset({Kind.OUTPUT})),
    "range": Selection(since=utcnow().date() - timedelta(days=3)),
    "provider and range": Selection(
        providers=frozenset({"openai"}),
        since=utcnow().date() - timedelta(days=20),
        until=utcnow().date() - timedelta(days=10),
    ),
}


def test_filters_restrict_the_rows_and_the_totals_match(
    qtbot: QtBot, view: TransactionsView, db: Database
) -> None:
    everything = expected_totals(db, Selection())
    assert view.model.totals == everything
    assert f"{ROWS:,} ledger rows" in view.totals_label.text()
    for name, selection in FILTERS.items():
        totals = requery(qtbot, view, partial(view.set_filter, selection))
        assert totals == expected_totals(db, selection), name
        assert 0 < totals.transactions < ROWS, name
        rows = loaded_rows(view)
        assert len(rows) == min(totals.transactions, PAGE), name
        for row in rows:
            assert not selection.models or row.model in selection.models, name
            assert not selection.providers or row.provider in selection.providers, name
            assert not selection.token_types or row.token_type in selection.token_types, name
            assert selection.estimated is None or row.estimated == selection.estimated, name
            assert selection.since is None or row.created_at.date() >= selection.since, name
            assert selection.until is None or row.created_at.date() <= selection.until, name
        footer = view.totals_label.text()
        assert f"{totals.transactions:,} ledger row" in footer, name
        assert f"spent {money.format_usd(totals.spent)}" in footer, name
        assert view.current_filter() == selection


def test_the_filter_bar_sets_the_filter(qtbot: QtBot, view: TransactionsView, db: Database) -> None:
    bar = view.filters
    qtbot.waitUntil(lambda: bar.model_combo.findText("gpt-4o-mini") > 0, timeout=WAIT_MS)
    requery(
        qtbot,
        view,
        lambda: bar.model_combo.setCurrentIndex(bar.model_combo.findText("gpt-4o-mini")),
    )
    assert view.current_filter() == Selection(models=frozenset({"gpt-4o-mini"}))
    requery(qtbot, view, lambda: bar.range_combo.setCurrentText(RangePreset.LAST_7_DAYS.value))
    week = Selection(models=frozenset({"gpt-4o-mini"}), since=utcnow().date() - timedelta(days=6))
    assert view.current_filter() == week
    assert view.model.totals == expected_totals(db, week)

    requery(qtbot, view, lambda: bar.range_combo.setCurrentText(RangePreset.CUSTOM.value))
    assert bar.since_edit.isVisible() and bar.until_edit.isVisible()
    assert view.current_filter() == replace(week, until=utcnow().date())  # started from the week
    requery(qtbot, view, lambda: bar.since_edit.setDate(bar.until_edit.date().addDays(-1)))
    assert view.current_filter().since == utcnow().date() - timedelta(days=1)

    requery(qtbot, view, bar.clear_button.click)
    assert view.current_filter() == Selection()
    assert not bar.since_edit.isVisible()


def test_set_filter_shows_the_filter_in_the_bar(view: TransactionsView) -> None:
    bar = view.filters
    bar.set_filter(
        Selection(
            since=utcnow().date() - timedelta(days=29),
            providers=frozenset({"openai", "gemini"}),
            estimated=False,
        )
    )
    assert bar.range_combo.currentText() == RangePreset.LAST_30_DAYS.value
    assert bar.provider_combo.currentText() == "gemini, openai"
    assert bar.estimated_combo.currentText() == "Counted by: the provider"
    assert bar.current_filter().providers == frozenset({"openai", "gemini"})


# --- the conversation filter -------------------------------------------------------------------


POPUP_NOTES = pytest.mark.qt_log_ignore("This plugin does not support (raise|grabbing)")
"""The offscreen platform's remarks on opening a popup (the filter's suggestions)."""


@pytest.fixture
def lighthouse(db: Database) -> int:
    """An old conversation, far past the most recent ones a search offers first, with spend."""
    with db.write() as session:
        made = conversations.create_conversation(
            session, title="Lighthouse budget", now=utcnow() - timedelta(days=300)
        ).id
        entries.spend_tokens(session, replace(spend(100, 20), conversation_id=made))
    return made


def type_into_the_conversation_filter(qtbot: QtBot, view: TransactionsView, text: str) -> int:
    """Type ``text`` as the user does; how many conversations the filter then offers."""
    field = view.filters.conversation_filter
    view.activateWindow()
    field.setFocus()
    qtbot.waitUntil(field.hasFocus, timeout=WAIT_MS)
    with qtbot.waitSignal(field.offered, timeout=WAIT_MS) as offered:
        qtbot.keyClicks(field, text)
    qtbot.waitUntil(field.popup.isVisible, timeout=WAIT_MS)
    count: int = offered.args[0]
    return count


def pick(qtbot: QtBot, view: TransactionsView, row: int) -> None:
    """Arrow down to an offered row and press Enter, as the user does."""
    popup = view.filters.conversation_filter.popup
    for _ in range(row + 1):
        qtbot.keyClick(popup, Qt.Key.Key_Down)
    assert popup.currentIndex().row() == row
    qtbot.keyClick(popup, Qt.Key.Key_Return)


@POPUP_NOTES
def test_the_conversation_filter_finds_one_by_typing_and_filters_the_table(
    qtbot: QtBot, view: TransactionsView, db: Database, lighthouse: int
) -> None:
    field = view.filters.conversation_filter
    assert field.offers.rowCount() == 0  # nothing read until the user types
    assert field.placeholderText() == "All conversations"

    assert type_into_the_conversation_filter(qtbot, view, "lightHOUSE") == 1
    offers = field.offers
    assert offers.item(0).text() == "All conversations"
    assert offers.item(1).text() == "Lighthouse budget  ·  Chat window"
    totals = requery(qtbot, view, lambda: pick(qtbot, view, 1))

    assert view.current_filter() == Selection(conversation_id=lighthouse)
    assert totals == expected_totals(db, Selection(conversation_id=lighthouse))
    assert {row.conversation_id for row in loaded_rows(view)} == {lighthouse}
    assert field.text() == "Lighthouse budget" and not field.popup.isVisible()

    assert type_into_the_conversation_filter(qtbot, view, " nothing like it") == 0
    qtbot.keyClick(field.popup, Qt.Key.Key_Escape)
    with qtbot.assertNotEmitted(view.filters.changed):
        qtbot.keyClick(field, Qt.Key.Key_Return)  # typed, never picked: the filter stands
    assert field.text() == "Lighthouse budget"
    assert view.current_filter() == Selection(conversation_id=lighthouse)


@POPUP_NOTES
def test_all_conversations_clears_the_conversation_filter(
    qtbot: QtBot, view: TransactionsView, lighthouse: int
) -> None:
    field = view.filters.conversation_filter
    requery(qtbot, view, partial(view.set_filter, Selection(conversation_id=lighthouse)))

    type_into_the_conversation_filter(qtbot, view, "budget")
    totals = requery(qtbot, view, lambda: pick(qtbot, view, 0))
    assert view.current_filter() == Selection() and totals.transactions == ROWS + 2
    assert field.text() == ""

    requery(qtbot, view, partial(view.set_filter, Selection(conversation_id=lighthouse)))
    qtbot.waitUntil(lambda: field.text() == "Lighthouse budget", timeout=WAIT_MS)
    clear_button = field.findChild(QToolButton)  # the field's own ✕
    requery(qtbot, view, lambda: qtbot.mouseClick(clear_button, Qt.MouseButton.LeftButton))
    assert view.current_filter() == Selection() and field.text() == ""


def test_a_conversation_chosen_elsewhere_shows_its_title(
    qtbot: QtBot, view: TransactionsView, db: Database, lighthouse: int
) -> None:
    field = view.filters.conversation_filter
    view.set_filter(Selection(conversation_id=lighthouse))  # as the dashboard does
    qtbot.waitUntil(lambda: field.text() == "Lighthouse budget", timeout=WAIT_MS)
    assert field.value() == lighthouse

    with db.write() as session:
        conversations.set_title(session, lighthouse, "Lighthouse, repainted")
    qtbot.waitUntil(lambda: field.text() == "Lighthouse, repainted", timeout=WAIT_MS)


# --- export ------------------------------------------------------------------------------------


def test_export_writes_the_current_filter(
    qtbot: QtBot, view: TransactionsView, db: Database, tmp_path: Path
) -> None:
    selection = Selection(models=frozenset({"gpt-4o"}))
    totals = requery(qtbot, view, lambda: view.set_filter(selection))
    target = tmp_path / "gpt-4o.csv"
    job = view.start_export(target)
    with qtbot.waitSignal(job.finished, timeout=WAIT_MS) as finished:
        pass
    assert finished.args == [totals.transactions]
    with target.open(newline="", encoding="utf-8") as handle:
        records = list(csv.reader(handle))
    assert tuple(records[0]) == HEADER
    assert len(records) - 1 == totals.transactions
    assert {r[HEADER.index("model")] for r in records[1:]} == {"gpt-4o"}
    assert view.message.text() == f"Exported {totals.transactions:,} transactions to {target}."
    qtbot.waitUntil(lambda: not view.findChildren(QProgressDialog), timeout=WAIT_MS)

    as_json = tmp_path / "gpt-4o.json"
    with qtbot.waitSignal(view.start_export(as_json).finished, timeout=WAIT_MS):
        pass
    assert len(json.loads(as_json.read_text(encoding="utf-8"))) == totals.transactions


def test_file_export_writes_every_transaction_as_the_chosen_type(
    qtbot: QtBot,
    view: TransactionsView,
    context: AppContext,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    requery(qtbot, view, lambda: view.set_filter(Selection(models=frozenset({"gpt-4o"}))))
    chosen = tmp_path / "everything"  # typed without an extension, JSON picked as the type
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", lambda *_args: (str(chosen), export.JSON_FILTER)
    )
    export.export_all(context, view)  # the menu's File > Export…: not the view's filter
    target = tmp_path / "everything.json"
    qtbot.waitUntil(target.exists, timeout=WAIT_MS)
    assert len(json.loads(target.read_text(encoding="utf-8"))) == ROWS


def test_a_cancelled_export_leaves_no_file(
    qtbot: QtBot, db: Database, context: AppContext, tmp_path: Path
) -> None:
    with db.write() as session:
        demo_data.fill(session, 30_000, days=60)
    folder = tmp_path / "out"
    folder.mkdir()

    target = folder / "all.csv"
    job = ExportJob(context, target)
    written: list[int] = []

    def on_progress(rows: int) -> None:  # runs in the export thread, between pages
        written.append(rows)
        if rows >= 10_000:
            job.cancel()

    job.progressed.connect(on_progress, Qt.ConnectionType.DirectConnection)
    with qtbot.waitSignal(job.cancelled, timeout=WAIT_MS):
        job.start()
    assert written == [5_000, 10_000]  # stopped mid-way, after two pages had been written
    assert list(folder.iterdir()) == []  # no file, not even the hidden partial one

    shown = TransactionsView(context)
    qtbot.addWidget(shown)
    with qtbot.waitSignal(shown.loaded, timeout=WAIT_MS):
        shown.show()
    job = shown.start_export(folder / "view.csv")
    with qtbot.waitSignal(job.cancelled, timeout=WAIT_MS):
        dialog = shown.findChild(QProgressDialog)
        assert dialog is not None
        cancel = dialog.findChild(QPushButton)
        assert cancel is not None
        cancel.click()  # the user presses Cancel
    assert list(folder.iterdir()) == []
    assert shown.message.text() == "Export cancelled; no file was written."


def test_an_export_that_fails_says_why(
    qtbot: QtBot, view: TransactionsView, tmp_path: Path
) -> None:
    job = view.start_export(tmp_path / "missing" / "spend.csv")
    with qtbot.waitSignal(job.failed, timeout=WAIT_MS):
        pass
    box = view.findChild(QMessageBox)
    assert box is not None and box.isVisible()
    assert "Cannot write" in box.text() and "spend.csv" in box.text()
    box.close()


# --- live refresh ------------------------------------------------------------------------------


def test_a_new_transaction_shows_on_top(
    qtbot: QtBot, view: TransactionsView, db: Database, context: AppContext
) -> None:
    selection = Selection(providers=frozenset({"openai"}))
    before = requery(qtbot, view, lambda: view.set_filter(selection))
    with (
        qtbot.waitSignals([view.loaded, view.totals_changed], timeout=WAIT_MS),
        db.write() as session,  # the commit announces itself
    ):
        record = entries.spend_tokens(session, spend(321, 45))
    with qtbot.assertNotEmitted(view.loaded, wait=REFRESH_WAIT_MS):
        pass
    newest = {t.id for t in record.transactions}
    assert {view.model.row_at(0).id, view.model.row_at(1).id} == newest
    assert view.current_filter() == selection
    totals = view.model.totals
    assert totals is not None
    assert totals.transactions == before.transactions + 2
    assert totals.spent == before.spent - record.total
    assert view.model.row_at(0).raw_amount in (Decimal(-321), Decimal(-45))


def test_a_hidden_view_refreshes_when_shown_again(
    qtbot: QtBot, view: TransactionsView, db: Database, context: AppContext
) -> None:
    view.hide()
    with qtbot.assertNotEmitted(view.loaded, wait=REFRESH_WAIT_MS), db.write() as session:
        record = entries.spend_tokens(session, spend(10, 5))
    with qtbot.waitSignal(view.loaded, timeout=WAIT_MS):
        view.show()
    assert view.model.row_at(0).id in {t.id for t in record.transactions}
