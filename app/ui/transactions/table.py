"""Every transaction of a filter, a keyset page at a time, read in the background.

The ledger can hold millions of rows, so the model never asks for all of them: the first page
(500 rows) is read when the filter or sort changes, and the next one only when the view asks
through :meth:`~TransactionTableModel.fetchMore` (the user scrolled to the bottom). Reads go
through the context's one database thread; a page that arrives for a query the user has already
replaced is dropped (:class:`~app.ui.operations.Latest`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from app.core import money
from app.core.ledger import browse
from app.core.ledger.browse import Row, Totals
from app.core.ledger.entries import TokenType
from app.core.ledger.selection import Selection
from app.core.pricing.units import is_default_rated
from app.ui.context import AppContext
from app.ui.operations import Latest

_Index = QModelIndex | QPersistentModelIndex
RowRole = Qt.ItemDataRole.UserRole + 1
"""``data(index, RowRole)`` is the whole :class:`~app.core.ledger.browse.Row`."""

_AMOUNT_COLUMNS = frozenset({"raw_amount", "rate", "token_value"})
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter


@dataclass(frozen=True)
class Column:
    """One column: its header, the ledger column it sorts by (if any) and how a cell reads."""

    title: str
    sort: str | None
    text: Callable[[Row], str]
    numeric: bool = False
    tip: str = ""


def _flags(row: Row) -> str:
    """What to look at twice: another model served the request, a rate is a default, the
    provider reported something Tallybook did not understand."""
    flags = []
    if row.requested_model:
        flags.append(f"asked {row.requested_model}")
    if is_default_rated(row.rate_source):
        flags.append("⚠ default rate")
    if row.usage_notes:
        flags.append("⚠ usage not fully understood")
    return " · ".join(flags)


def _estimated(row: Row) -> str:
    if row.token_type == TokenType.CREDITS:
        return ""
    return "≈ yes" if row.estimated else "no"


COLUMNS: tuple[Column, ...] = (
    Column(
        "Time (UTC)",
        "created_at",
        lambda r: r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        tip="When the transaction was recorded, in UTC like the reports and the CSV",
    ),
    Column(
        "Conversation",
        None,
        lambda r: r.conversation_title or "—",
        tip="The conversation the request belonged to (— for top-ups); not sortable",
    ),
    Column("Provider", "provider", lambda r: r.provider or "—"),
    Column("Model", "model", lambda r: r.model or "—"),
    Column("Token type", "token_type", lambda r: r.token_type),
    Column(
        "Tokens",
        "raw_amount",
        lambda r: money.format_credits(r.raw_amount),
        numeric=True,
        tip="raw_amount: the unit's count (tokens, searches), negative when spent "
        "(credits for a top-up)",
    ),
    Column(
        "Rate",
        "rate",
        lambda r: f"{r.rate:f}",
        numeric=True,
        tip="Credits per unit: per token the same number as USD per million tokens",
    ),
    Column(
        "Value (credits)",
        "token_value",
        lambda r: money.format_credits(r.token_value),
        numeric=True,
        tip="token_value = raw_amount x rate; 1,000,000 credits = $1",
    ),
    Column(
        "USD",
        "token_value",
        lambda r: money.format_usd(r.token_value),
        numeric=True,
        tip="The value in dollars (the tooltip of a cell has it exactly)",
    ),
    Column("Context", None, lambda r: r.context, tip="Why the request ran; not sortable"),
    Column(
        "Estimated",
        None,
        _estimated,
        tip="≈ yes: Tallybook counted the tokens itself (the provider reported none)",
    ),
    Column("Rate source", None, lambda r: r.rate_source, tip="Where the rate came from"),
    Column(
        "Flags",
        None,
        _flags,
        tip="asked X: the reply named another model, which is what was billed and priced; "
        "⚠ default rate: no price in the table; ⚠ usage not fully understood: the provider "
        "reported counts Tallybook does not know (see `tallybook estimates`)",
    ),
)
TIME_COLUMN = 0
CONVERSATION_COLUMN = 1
VALUE_COLUMN = next(i for i, c in enumerate(COLUMNS) if c.title == "Value (credits)")


class TransactionTableModel(QAbstractTableModel):
    """The transactions of a filter in a sort order, loaded lazily, one keyset page at a time.

    :meth:`canFetchMore` is true while the last page arrived full; :meth:`fetchMore` starts one
    read at a time. Changing the filter or the sort (:meth:`set_filter`, :meth:`sort`) or
    :meth:`refresh` resets the model and reads the first page again, with the totals of the whole
    filtered set beside it.

    Signals:
        loaded(): the first page of a (re)query arrived and is in the model.
        fetched(int): a page arrived (the first one too); how many rows it had.
        totals_changed(object): :class:`~app.core.ledger.browse.Totals` of the current filter,
            computed by the database over every matching row (not just the loaded ones).
        failed(object): a read failed; the exception (for :func:`app.ui.errors.describe`).
    """

    loaded = Signal()
    fetched = Signal(int)
    totals_changed = Signal(object)
    failed = Signal(object)

    def __init__(
        self,
        context: AppContext,
        parent: QObject | None = None,
        *,
        page_size: int = browse.PAGE_SIZE,
    ) -> None:
        super().__init__(parent)
        self._context = context
        self._page_size = page_size
        self._filter = Selection()
        self._sort_section = TIME_COLUMN
        self._descending = True
        self._rows: list[Row] = []
        self._latest = Latest(self)
        self._more = False
        self._fetching = False
        self._started = False
        self.totals: Totals | None = None
        """Totals of the current filter; ``None`` until they arrive after a (re)query."""

    # --- what the model shows ------------------------------------------------------------------

    @property
    def filter(self) -> Selection:
        """The filter the rows were (or are being) read with."""
        return self._filter

    @property
    def sort_section(self) -> int:
        """The column the rows are sorted by."""
        return self._sort_section

    @property
    def sort_order(self) -> Qt.SortOrder:
        """Ascending or descending."""
        return Qt.SortOrder.DescendingOrder if self._descending else Qt.SortOrder.AscendingOrder

    @property
    def is_loading(self) -> bool:
        """A page is being read."""
        return self._fetching

    def row_at(self, row: int) -> Row:
        """The transaction shown in ``row``."""
        return self._rows[row]

    # --- changing the query --------------------------------------------------------------------

    def set_filter(self, selection: Selection) -> None:
        """Show the transactions ``selection`` picks (a new first page, new totals)."""
        if selection == self._filter and self._started:
            return
        self._filter = selection
        self.refresh()

    def refresh(self) -> None:
        """Read the first page and the totals again, keeping the filter and the sort."""
        self._started = True
        self._latest.renew()
        self.beginResetModel()
        self._rows = []
        self._more = False
        self._fetching = False
        self.totals = None
        self.endResetModel()
        self._read_page(after=None)
        self._read_totals()

    # --- Qt API --------------------------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802 (Qt API)
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802 (Qt API)
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(row)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if column.numeric else _LEFT
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, column)
        if role == RowRole:
            return row
        return None

    def headerData(  # noqa: N802 (Qt API)
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        column = COLUMNS[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.title
        if role == Qt.ItemDataRole.ToolTipRole:
            return column.tip or None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if column.numeric else _LEFT
        if role == Qt.ItemDataRole.InitialSortOrderRole:
            # A first click on Time shows the newest first; on an amount, the largest spend
            # (spends are negative) or the smallest number first.
            first = section == TIME_COLUMN
            order = Qt.SortOrder.DescendingOrder if first else Qt.SortOrder.AscendingOrder
            return order.value  # an int, which QHeaderView can read back
        return None

    def canFetchMore(self, parent: _Index) -> bool:  # noqa: N802 (Qt API)
        """True while the last page arrived full (there may be more rows)."""
        return not parent.isValid() and self._more

    def fetchMore(self, parent: _Index) -> None:  # noqa: N802 (Qt API)
        """Start reading the next page, unless one is already on its way."""
        if parent.isValid() or not self._more or self._fetching or not self._rows:
            return
        self._read_page(after=self._rows[-1].sort_key(self._sort_name()))

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Re-query ordered by ``column`` (keyset by the column and the id); a column the
        ledger cannot sort by (conversation, context...) is ignored."""
        if not 0 <= column < len(COLUMNS) or COLUMNS[column].sort is None:
            return
        descending = order == Qt.SortOrder.DescendingOrder
        if column == self._sort_section and descending == self._descending:
            return
        self._sort_section = column
        self._descending = descending
        self.refresh()

    # --- reading -------------------------------------------------------------------------------

    def _sort_name(self) -> str:
        name = COLUMNS[self._sort_section].sort
        assert name is not None
        return name

    def _read_page(self, after: tuple[Any, int] | None) -> None:
        selection = self._filter
        sort, descending, limit = self._sort_name(), self._descending, self._page_size
        self._fetching = True

        def load() -> list[Row]:
            with self._context.db.read() as session:
                return browse.page(
                    session, selection, sort=sort, descending=descending, after=after, limit=limit
                )

        self._context.reads.run(
            load,
            self._latest.guard(lambda rows: self._on_page_arrived(rows, first=after is None)),
            self._latest.guard(self._on_page_failed),
        )

    def _read_totals(self) -> None:
        selection = self._filter

        def load() -> Totals:
            with self._context.db.read() as session:
                return browse.totals(session, selection)

        self._context.reads.run(
            load, self._latest.guard(self._on_totals_arrived), self._latest.guard(self.failed.emit)
        )

    def _on_page_arrived(self, rows: list[Row], *, first: bool) -> None:
        self._fetching = False
        self._more = len(rows) == self._page_size
        if rows:
            start = len(self._rows)
            self.beginInsertRows(QModelIndex(), start, start + len(rows) - 1)
            self._rows.extend(rows)
            self.endInsertRows()
        self.fetched.emit(len(rows))
        if first:
            self.loaded.emit()

    def _on_totals_arrived(self, totals: Totals) -> None:
        self.totals = totals
        self.totals_changed.emit(totals)

    def _on_page_failed(self, error: BaseException) -> None:
        self._fetching = False
        self._more = False  # no endless retries from the view; a refresh starts over
        self.failed.emit(error)

    @staticmethod
    def _tooltip(row: Row, column: Column) -> str | None:
        if column.sort == "token_value":
            usd = money.credits_to_usd(row.token_value)
            sign = "-" if usd < 0 else ""
            return f"{money.format_credits(row.token_value)} credits = {sign}${abs(usd):f}"
        if column.title == "Conversation" and row.conversation_id is not None:
            return f"{row.conversation_title} (#{row.conversation_id})"
        if column.title == "Estimated" and row.estimated:
            return "Tallybook counted these tokens itself; the provider reported none"
        return None
