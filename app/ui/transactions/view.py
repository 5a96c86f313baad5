"""The transactions view: filters, the lazily loaded table (by request, or the raw ledger rows),
totals, and export.

By default a row is a request (:mod:`.requests_table`): tokens in and out, a positive cost, its
status and flags; double-click or Enter opens its ledger rows below (:mod:`.detail`). "Ledger rows"
shows the raw ledger instead (:mod:`.table`), a row per billed unit, sortable by any amount. The
footer's totals are the raw ledger's either way: the same money, summed by the database.

It follows the ledger whoever writes to it (this window, ``tallybook``, the local endpoint): new
spend re-reads the table at once, then at most once a second while changes keep coming, and
only on screen (else when next shown); a conversation renamed refreshes the chosen one's title.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import shiboken6
from PySide6.QtCore import QModelIndex, QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QPalette, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core import money
from app.core.ledger import spend
from app.core.ledger.browse import Row, Totals
from app.core.ledger.export import Format
from app.core.ledger.request_rows import RequestRow
from app.core.ledger.selection import Selection
from app.core.ledger.spend import FilterChoices
from app.core.storage.changes import CONVERSATIONS, LEDGER, Changes
from app.ui.context import AppContext
from app.ui.dialogs.widgets import MessageLine
from app.ui.errors import describe
from app.ui.live import ChangeThrottle
from app.ui.operations import LatestLoad
from app.ui.transactions import requests_table
from app.ui.transactions.detail import LedgerRowsPane
from app.ui.transactions.export import ExportJob, ask_export, start_export
from app.ui.transactions.filters import FilterBar
from app.ui.transactions.paging import PagedTableModel
from app.ui.transactions.requests_table import RequestTableModel
from app.ui.transactions.table import TIME_COLUMN, TransactionTableModel

_WIDEST_TEXT_COLUMN = 240
_NARROWEST_CONVERSATION = 140
_HINT = "Double-click a request (or press Enter) for its ledger rows"


class TransactionsView(QWidget):
    """Every request (or every ledger row), filtered and sorted, with the filtered set's totals.

    Each table reads one page at a time as the user scrolls (:class:`RequestTableModel`,
    :class:`TransactionTableModel`). Clicking a header re-sorts in the database; the filter bar
    re-queries; the footer shows the count, spent and credited sums over the whole filtered set.
    The raw ledger's model (:attr:`model`) always follows the filter (its first page is a few
    milliseconds, and it reads the footer's totals); the requests' model reads only while shown.
    When the ledger changes the view re-reads with the same filter and sort, at once if it is on
    screen, or when it is next shown.

    Signals:
        loaded(): the first page of a (re)query of the table shown arrived.
        totals_changed(object): the :class:`~app.core.ledger.browse.Totals` of the current filter.
    """

    loaded = Signal()
    totals_changed = Signal(object)

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._context = context
        self._choices = LatestLoad(context, self)
        self._stale = False
        self.model = TransactionTableModel(context, self)
        self.requests_model = RequestTableModel(context, self)
        self.filters = FilterBar(context)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Write the transactions of this filter to a CSV or JSON file")
        self.by_request_button = QPushButton("By request")
        self.by_request_button.setToolTip(
            "One row per request: tokens in and out, cost, status and flags"
        )
        self.ledger_rows_button = QPushButton("Ledger rows")
        self.ledger_rows_button.setToolTip(
            "The raw ledger: one row per billed unit (input, output, cache...), spend negative"
        )
        self._modes = QButtonGroup(self)
        for button in (self.by_request_button, self.ledger_rows_button):
            button.setCheckable(True)
            self._modes.addButton(button)
        self.by_request_button.setChecked(True)
        self.hint_label = QLabel(_HINT)
        self.hint_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.requests_table = self._table(self.requests_model, requests_table.TIME_COLUMN)
        self.table = self._table(self.model, TIME_COLUMN)
        self.tables = QStackedWidget()
        self.tables.addWidget(self.requests_table)
        self.tables.addWidget(self.table)
        self.detail = LedgerRowsPane(context)
        self.detail.hide()
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.tables)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        self.totals_label = QLabel("Counting…")
        self.totals_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.loaded_label = QLabel()
        self.loaded_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.message = MessageLine()

        modes = QHBoxLayout()
        modes.setSpacing(0)
        modes.addWidget(self.by_request_button)
        modes.addWidget(self.ledger_rows_button)
        modes.addSpacing(12)
        modes.addWidget(self.hint_label)
        modes.addStretch(1)
        footer = QHBoxLayout()
        footer.addWidget(self.totals_label, 1)
        footer.addWidget(self.loaded_label)
        footer.addSpacing(12)
        footer.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.filters)
        layout.addLayout(modes)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.message)
        layout.addLayout(footer)

        self._sized: set[QTableView] = set()
        self._connect()
        self.model.set_filter(Selection())
        self.requests_model.set_filter(Selection())
        self._load_choices()

    # --- public --------------------------------------------------------------------------------

    @property
    def by_request(self) -> bool:
        """One row per request is shown (else the raw ledger rows)."""
        return self.tables.currentWidget() is self.requests_table

    def show_by_request(self, by_request: bool) -> None:
        """Show one row per request, or the raw ledger rows (same filter, same totals)."""
        (self.by_request_button if by_request else self.ledger_rows_button).setChecked(True)
        self.tables.setCurrentWidget(self.requests_table if by_request else self.table)
        self.hint_label.setVisible(by_request)
        if by_request:
            self._follow_filter()
        self._show_loaded_count()
        if self.isVisible():
            QTimer.singleShot(0, lambda: self._size_columns(self._shown_table()))

    def set_filter(self, selection: Selection) -> None:
        """Show the transactions ``selection`` picks (the filter bar follows)."""
        self.filters.set_filter(selection)
        self._on_filters_changed(selection)

    def current_filter(self) -> Selection:
        """The filter the table shows."""
        return self.model.filter

    def export(self) -> None:
        """Ask for a file and a type (CSV, CSV for Excel, workbook, JSON), then export the
        current filter to it."""
        choice = ask_export(self)
        if choice is not None:
            self.start_export(choice.path, choice.format)

    def start_export(self, target: Path, fmt: Format | None = None) -> ExportJob:
        """Export the current filter to ``target`` (as ``fmt``, else as its name says) with a
        progress dialog; the running job."""
        self.message.clear()
        job = start_export(self._context, target, self.current_filter(), self, fmt)
        job.finished.connect(lambda written: self._on_job_finished(target, written))
        job.cancelled.connect(self._on_job_cancelled)
        return job

    def refresh(self) -> None:
        """Re-read the rows, the totals and the filter menus, keeping the filter and sort."""
        self._stale = False
        self.model.refresh()
        if self.by_request:
            self.requests_model.refresh()
        else:
            self._requests_stale = True
        self._load_choices()

    def open_ledger_rows(self, row: int) -> None:
        """Show, below the table, the ledger rows of the request in ``row`` of the table shown."""
        if self.by_request:
            shown: RequestRow = self.requests_model.row_at(row)
            what = (
                "this top-up"
                if shown.is_top_up
                else f"this request ({shown.created_at:%Y-%m-%d %H:%M:%S}, {shown.model})"
            )
            self.detail.show_rows(shown.request_id, shown.lead_id, what)
        else:
            ledger: Row = self.model.row_at(row)
            what = "this top-up" if ledger.request_id is None else "the request of this row"
            self.detail.show_rows(ledger.request_id, ledger.id, what)

    # --- events --------------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        if self._stale:
            self.refresh()
        elif self._shown_table() not in self._sized and self._shown_model().rowCount():
            QTimer.singleShot(0, lambda: self._size_columns(self._shown_table()))

    # --- private -------------------------------------------------------------------------------

    _requests_stale = False
    """The requests' model missed a refresh while the raw ledger was shown."""

    def _table(self, model: PagedTableModel[Any], time_column: int) -> QTableView:
        table = QTableView()
        table.setModel(model)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setAlternatingRowColors(True)
        table.setWordWrap(False)
        table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        table.verticalHeader().hide()
        table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setSortIndicator(time_column, Qt.SortOrder.DescendingOrder)
        table.setSortingEnabled(True)
        return table

    def _shown_table(self) -> QTableView:
        return self.requests_table if self.by_request else self.table

    def _shown_model(self) -> PagedTableModel[Any]:
        return self.requests_model if self.by_request else self.model

    def _tables(self) -> tuple[tuple[QTableView, PagedTableModel[Any]], ...]:
        return ((self.requests_table, self.requests_model), (self.table, self.model))

    def _connect(self) -> None:
        self.filters.changed.connect(self._on_filters_changed)
        self.filters.conversation_filter.failed.connect(self._show_error)
        self.export_button.clicked.connect(self.export)
        self.by_request_button.clicked.connect(lambda: self.show_by_request(True))
        self.ledger_rows_button.clicked.connect(lambda: self.show_by_request(False))
        for table, model in self._tables():
            table.horizontalHeader().sortIndicatorChanged.connect(
                lambda section, _order, t=table, m=model: self._on_header_sort_indicator_changed(
                    t, m, section
                )
            )
            table.activated.connect(self._on_table_activated)
            table.selectionModel().currentRowChanged.connect(self._on_table_current_row_changed)
            model.loaded.connect(lambda m=model: self._on_model_loaded(m))
            model.fetched.connect(self._on_model_fetched)
            model.modelReset.connect(lambda t=table, m=model: self._on_model_model_reset(t, m))
            model.failed.connect(self._show_error)
        self.model.totals_changed.connect(self._on_model_totals_changed)
        self.detail.failed.connect(self._show_error)
        ChangeThrottle(self._context.events.changed, LEDGER | CONVERSATIONS, self._on_changes, self)

    def _follow_filter(self) -> None:
        """Bring the requests' model to the current filter, or up to date, now it is shown."""
        model, selection = self.requests_model, self.model.filter
        if model.filter != selection or not model.started:
            model.set_filter(selection)
        elif self._requests_stale:
            model.refresh()
        self._requests_stale = False

    def _load_choices(self) -> None:
        """Re-read the menus' providers, models and sources (the rollups make it a few
        milliseconds at any size) and the chosen conversation's title; conversations themselves
        are searched as the user types, never all read."""
        db = self._context.db

        def load() -> FilterChoices:
            with db.read() as session:
                return spend.choices(session)

        self._choices.start(load, self.filters.set_choices, self._show_error)
        self.filters.conversation_filter.refresh()

    def _show_loaded_count(self) -> None:
        model = self._shown_model()
        shown = model.rowCount()
        totals = self.model.totals
        if not self.by_request:
            if totals is not None and shown < totals.transactions:
                self.loaded_label.setText(f"{shown:,} of {totals.transactions:,} loaded")
            else:
                self.loaded_label.clear()
        elif model.canFetchMore(QModelIndex()):
            self.loaded_label.setText(f"{shown:,} requests loaded, more as you scroll")
        else:
            self.loaded_label.clear()

    def _size_columns(self, table: QTableView) -> None:
        """Fit a table's columns to its first rows once, on screen; later the user's widths stay.

        The conversation column gives up width (to a point) so the rest fits the window without
        scrolling sideways.
        """
        model = table.model()
        if table in self._sized or not model.rowCount() or not table.isVisible():
            return
        self._sized.add(table)
        columns = cast(PagedTableModel[Any], model).columns
        table.resizeColumnsToContents()
        for section, column in enumerate(columns):
            if not column.numeric:
                width = table.columnWidth(section)
                table.setColumnWidth(section, min(width, _WIDEST_TEXT_COLUMN))
        last = len(columns) - 1  # stretched to the edge, so measure what it needs
        needed = sum(table.columnWidth(i) for i in range(last))
        needed += max(table.sizeHintForColumn(last), table.columnWidth(last) // 2)
        available = table.viewport().width()
        scroll_bar = table.verticalScrollBar()
        if not scroll_bar.isVisible():  # about to appear, once the layout catches up
            available -= scroll_bar.sizeHint().width()
        overflow = needed - available
        conversation = next(i for i, c in enumerate(columns) if c.title == "Conversation")
        if overflow > 0:
            width = table.columnWidth(conversation)
            table.setColumnWidth(conversation, max(_NARROWEST_CONVERSATION, width - overflow))

    def _on_filters_changed(self, selection: Selection) -> None:
        self.model.set_filter(selection)
        if self.by_request:
            self.requests_model.set_filter(selection)

    def _on_header_sort_indicator_changed(
        self, table: QTableView, model: PagedTableModel[Any], section: int
    ) -> None:
        if model.columns[section].sort is None:  # not sortable: put the arrow back where it was
            self._on_model_model_reset(table, model)

    def _on_model_model_reset(self, table: QTableView, model: PagedTableModel[Any]) -> None:
        header = table.horizontalHeader()
        wanted = (model.sort_section, model.sort_order)
        if (header.sortIndicatorSection(), header.sortIndicatorOrder()) != wanted:
            with QSignalBlocker(header):
                header.setSortIndicator(*wanted)
            header.viewport().update()
        if model is self.model:
            self.totals_label.setText("Counting…")
        self._show_loaded_count()

    def _on_model_loaded(self, model: PagedTableModel[Any]) -> None:
        if model is not self._shown_model():
            return
        self._size_columns(self._shown_table())
        self.loaded.emit()

    def _on_model_fetched(self, _rows: int) -> None:
        self._show_loaded_count()

    def _on_table_activated(self, index: QModelIndex) -> None:
        self.open_ledger_rows(index.row())

    def _on_table_current_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self.detail.isVisible() and current.isValid() and current.model() is self._shown_model():
            self.open_ledger_rows(current.row())

    def _on_model_totals_changed(self, totals: Totals) -> None:
        if totals.transactions == 0:
            self.totals_label.setText("No transactions match this filter.")
        else:
            count = f"{totals.transactions:,} ledger row" + (
                "" if totals.transactions == 1 else "s"
            )
            self.totals_label.setText(
                f"{count}   ·   spent {money.format_usd(totals.spent)}   ·   credited "
                f"{money.format_usd(totals.credited)}"
            )
            self.totals_label.setToolTip(
                f"Spent {money.format_usd_exact(totals.spent)}"
                f" ({money.format_credits(totals.spent)} credits); credited"
                f" {money.format_usd_exact(totals.credited)}"
                f" ({money.format_credits(totals.credited)} credits)"
            )
        self._show_loaded_count()
        self.totals_changed.emit(totals)

    def _show_error(self, error: BaseException) -> None:
        self.message.show_error(describe(error))

    def _on_changes(self, changes: Changes) -> None:
        if not changes.ledger:
            self.filters.conversation_filter.refresh()  # the chosen one may have been renamed
        elif self.isVisible():
            self.refresh()
        else:
            self._stale = True

    def _on_job_finished(self, target: Path, written: int) -> None:
        if not shiboken6.isValid(self):  # the view was closed while the export ran
            return
        self.message.show_success(f"Exported {written:,} transactions to {target}.")

    def _on_job_cancelled(self) -> None:
        if not shiboken6.isValid(self):
            return
        self.message.show_message("Export cancelled; no file was written.")
