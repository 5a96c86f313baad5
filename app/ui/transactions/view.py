"""The transactions view: filters, the lazily loaded table, totals, and export.

It follows the ledger whoever writes to it (this window, ``tallybook``, the local endpoint): new
spend re-reads the table at once, then at most once a second while changes keep coming, and
only on screen (else when next shown); a conversation renamed refreshes the chosen one's title.
"""

from __future__ import annotations

from pathlib import Path

import shiboken6
from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QPalette, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core import money
from app.core.ledger import spend
from app.core.ledger.browse import Totals
from app.core.ledger.selection import Selection
from app.core.ledger.spend import FilterChoices
from app.core.storage.changes import CONVERSATIONS, LEDGER, Changes
from app.ui.context import AppContext
from app.ui.dialogs.widgets import MessageLine
from app.ui.errors import describe
from app.ui.live import ChangeThrottle
from app.ui.operations import LatestLoad
from app.ui.transactions.export import ExportJob, ask_export_target, start_export
from app.ui.transactions.filters import FilterBar
from app.ui.transactions.table import (
    COLUMNS,
    CONVERSATION_COLUMN,
    TIME_COLUMN,
    TransactionTableModel,
)

_WIDEST_TEXT_COLUMN = 240
_NARROWEST_CONVERSATION = 140


class TransactionsView(QWidget):
    """Every transaction on the ledger, filtered and sorted, with the filtered set's totals.

    The table reads one page at a time as the user scrolls (:class:`TransactionTableModel`).
    Clicking a header re-sorts in the database; the filter bar re-queries; the footer shows the
    count, spent and credited sums over the whole filtered set. When the ledger changes the view
    re-reads with the same filter and sort, at once if it is on screen, or when it is next shown.

    Signals:
        loaded(): the first page of a (re)query arrived.
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
        self.filters = FilterBar(context)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Write the transactions of this filter to a CSV or JSON file")
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setSortIndicator(TIME_COLUMN, Qt.SortOrder.DescendingOrder)
        self.table.setSortingEnabled(True)
        self.totals_label = QLabel("Counting…")
        self.totals_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.loaded_label = QLabel()
        self.loaded_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.message = MessageLine()

        footer = QHBoxLayout()
        footer.addWidget(self.totals_label, 1)
        footer.addWidget(self.loaded_label)
        footer.addSpacing(12)
        footer.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.filters)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.message)
        layout.addLayout(footer)

        self._sized = False
        self._connect()
        self.model.set_filter(Selection())
        self._load_choices()

    # --- public --------------------------------------------------------------------------------

    def set_filter(self, selection: Selection) -> None:
        """Show the transactions ``selection`` picks (the filter bar follows)."""
        self.filters.set_filter(selection)
        self.model.set_filter(selection)

    def current_filter(self) -> Selection:
        """The filter the table shows."""
        return self.model.filter

    def export(self) -> None:
        """Ask for a file (CSV or JSON), then export the current filter to it."""
        target = ask_export_target(self)
        if target is not None:
            self.start_export(target)

    def start_export(self, target: Path) -> ExportJob:
        """Export the current filter to ``target`` with a progress dialog; the running job."""
        self.message.clear()
        job = start_export(self._context, target, self.current_filter(), self)
        job.finished.connect(lambda written: self._on_job_finished(target, written))
        job.cancelled.connect(self._on_job_cancelled)
        return job

    def refresh(self) -> None:
        """Re-read the rows, the totals and the filter menus, keeping the filter and sort."""
        self._stale = False
        self.model.refresh()
        self._load_choices()

    # --- events --------------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        if self._stale:
            self.refresh()
        elif not self._sized and self.model.rowCount():
            QTimer.singleShot(0, self._size_columns)  # once the layout has given the width

    # --- private -------------------------------------------------------------------------------

    def _connect(self) -> None:
        self.filters.changed.connect(self._on_filters_changed)
        self.filters.conversation_filter.failed.connect(self._show_error)
        self.export_button.clicked.connect(self.export)
        self.table.horizontalHeader().sortIndicatorChanged.connect(
            self._on_header_sort_indicator_changed
        )
        self.model.loaded.connect(self._on_model_loaded)
        self.model.fetched.connect(self._on_model_fetched)
        self.model.modelReset.connect(self._on_model_model_reset)
        self.model.totals_changed.connect(self._on_model_totals_changed)
        self.model.failed.connect(self._show_error)
        ChangeThrottle(self._context.events.changed, LEDGER | CONVERSATIONS, self._on_changes, self)

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
        shown = self.model.rowCount()
        totals = self.model.totals
        if totals is not None and shown < totals.transactions:
            self.loaded_label.setText(f"{shown:,} of {totals.transactions:,} loaded")
        else:
            self.loaded_label.clear()

    def _size_columns(self) -> None:
        """Fit the columns to the first rows once, on screen; later the user's widths stay.

        The conversation column gives up width (to a point) so the rest, rate source included,
        fits the window without scrolling sideways.
        """
        if self._sized:
            return
        self._sized = True
        self.table.resizeColumnsToContents()
        for section, column in enumerate(COLUMNS):
            if not column.numeric:
                width = self.table.columnWidth(section)
                self.table.setColumnWidth(section, min(width, _WIDEST_TEXT_COLUMN))
        last = len(COLUMNS) - 1  # stretched to the edge, so measure what it needs
        needed = sum(self.table.columnWidth(i) for i in range(last))
        needed += max(self.table.sizeHintForColumn(last), self.table.columnWidth(last) // 2)
        available = self.table.viewport().width()
        scroll_bar = self.table.verticalScrollBar()
        if not scroll_bar.isVisible():  # about to appear, once the layout catches up
            available -= scroll_bar.sizeHint().width()
        overflow = needed - available
        if overflow > 0:
            width = self.table.columnWidth(CONVERSATION_COLUMN)
            self.table.setColumnWidth(
                CONVERSATION_COLUMN, max(_NARROWEST_CONVERSATION, width - overflow)
            )

    def _on_filters_changed(self, selection: Selection) -> None:
        self.model.set_filter(selection)

    def _on_header_sort_indicator_changed(self, section: int, _order: Qt.SortOrder) -> None:
        if COLUMNS[section].sort is None:  # not sortable: put the arrow back where it was
            self._on_model_model_reset()

    def _on_model_model_reset(self) -> None:
        header = self.table.horizontalHeader()
        wanted = (self.model.sort_section, self.model.sort_order)
        if (header.sortIndicatorSection(), header.sortIndicatorOrder()) != wanted:
            with QSignalBlocker(header):
                header.setSortIndicator(*wanted)
            header.viewport().update()
        self.totals_label.setText("Counting…")
        self.loaded_label.clear()

    def _on_model_loaded(self) -> None:
        if not self._sized and self.model.rowCount() and self.isVisible():
            self._size_columns()
        self.loaded.emit()

    def _on_model_fetched(self, _rows: int) -> None:
        self._show_loaded_count()

    def _on_model_totals_changed(self, totals: Totals) -> None:
        if totals.transactions == 0:
            self.totals_label.setText("No transactions match this filter.")
        else:
            count = f"{totals.transactions:,} transaction" + (
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
