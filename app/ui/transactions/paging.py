"""Tables of the ledger read a keyset page at a time in the background, whatever their rows are.

The ledger can hold millions of rows, so a model never asks for all of them: the first page (500
rows) is read when the filter or sort changes, and the next one only when the view asks through
:meth:`~PagedTableModel.fetchMore` (the user scrolled to the bottom). Reads go through the
context's database threads; a page that arrives for a query the user has already replaced is
dropped (:class:`~app.ui.operations.Latest`). The raw ledger (:mod:`.table`) and the requests
(:mod:`.requests_table`) are two such tables; each says only how to read a page and where a row
stands.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from sqlalchemy.orm import Session

from app.core.ledger import browse
from app.core.ledger.browse import Totals
from app.core.ledger.selection import Selection
from app.ui.context import AppContext
from app.ui.operations import Latest

R = TypeVar("R")
_Index = QModelIndex | QPersistentModelIndex
RowRole = Qt.ItemDataRole.UserRole + 1
"""``data(index, RowRole)`` is the whole row (a :class:`~app.core.ledger.browse.Row`, a
:class:`~app.core.ledger.request_rows.RequestRow`)."""
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter


@dataclass(frozen=True)
class Column(Generic[R]):
    """One column: its header, what it sorts by in the database (if anything) and how a cell
    reads (its text, and a tooltip where the cell has more to say)."""

    title: str
    sort: str | None
    text: Callable[[R], str]
    numeric: bool = False
    tip: str = ""
    cell_tip: Callable[[R], str | None] | None = None


class ColumnTableModel(QAbstractTableModel, Generic[R]):
    """Rows shown through a tuple of :class:`Column`: the display half of every ledger table."""

    def __init__(self, columns: Sequence[Column[R]], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.columns: tuple[Column[R], ...] = tuple(columns)
        self._rows: list[R] = []

    def row_at(self, row: int) -> R:
        """The row shown in ``row``."""
        return self._rows[row]

    def set_rows(self, rows: Sequence[R]) -> None:
        """Show ``rows`` instead of what was shown."""
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802 (Qt API)
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802 (Qt API)
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(row)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if column.numeric else _LEFT
        if role == Qt.ItemDataRole.ToolTipRole:
            return column.cell_tip(row) if column.cell_tip else None
        if role == RowRole:
            return row
        return None

    def headerData(  # noqa: N802 (Qt API)
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.columns):
            return None
        column = self.columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.title
        if role == Qt.ItemDataRole.ToolTipRole:
            return column.tip or None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if column.numeric else _LEFT
        if role == Qt.ItemDataRole.InitialSortOrderRole:
            # A first click on Time shows the newest first; on an amount, the largest spend
            # (spends are negative) or the smallest number first.
            first = column.sort == "created_at"
            order = Qt.SortOrder.DescendingOrder if first else Qt.SortOrder.AscendingOrder
            return order.value  # an int, which QHeaderView can read back
        return None


class PagedTableModel(ColumnTableModel[R]):
    """The rows of a filter in a sort order, loaded lazily, one keyset page at a time.

    :meth:`canFetchMore` is true while the last page arrived full; :meth:`fetchMore` starts one
    read at a time. Changing the filter or the sort (:meth:`set_filter`, :meth:`sort`) or
    :meth:`refresh` resets the model and reads the first page again (with the totals of the whole
    filtered set beside it, where the model keeps them). A subclass says how to read a page
    (:meth:`_read`) and where a row stands (:meth:`_after`).

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
        columns: Sequence[Column[R]],
        parent: QObject | None = None,
        *,
        page_size: int,
        with_totals: bool,
    ) -> None:
        super().__init__(columns, parent)
        self._context = context
        self._page_size = page_size
        self._with_totals = with_totals
        self._filter = Selection()
        self._sort_section = next(i for i, c in enumerate(self.columns) if c.sort == "created_at")
        self._descending = True
        self._latest = Latest(self)
        self._more = False
        self._fetching = False
        self._started = False
        self.totals: Totals | None = None
        """Totals of the current filter; ``None`` until they arrive after a (re)query (and always
        for a model that keeps none)."""

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

    @property
    def started(self) -> bool:
        """A first page was asked for (the model shows a query, or is reading one)."""
        return self._started

    # --- changing the query --------------------------------------------------------------------

    def set_filter(self, selection: Selection) -> None:
        """Show the rows ``selection`` picks (a new first page, new totals)."""
        if selection == self._filter and self._started:
            return
        self._filter = selection
        self.refresh()

    def refresh(self) -> None:
        """Read the first page (and the totals) again, keeping the filter and the sort."""
        self._started = True
        self._latest.renew()
        self.beginResetModel()
        self._rows = []
        self._more = False
        self._fetching = False
        self.totals = None
        self.endResetModel()
        self._read_page(after=None)
        if self._with_totals:
            self._read_totals()

    # --- Qt API --------------------------------------------------------------------------------

    def canFetchMore(self, parent: _Index) -> bool:  # noqa: N802 (Qt API)
        """True while the last page arrived full (there may be more rows)."""
        return not parent.isValid() and self._more

    def fetchMore(self, parent: _Index) -> None:  # noqa: N802 (Qt API)
        """Start reading the next page, unless one is already on its way."""
        if parent.isValid() or not self._more or self._fetching or not self._rows:
            return
        self._read_page(after=self._after(self._rows[-1], self._sort_name()))

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Re-query ordered by ``column`` (keyset by the column and the id); a column the
        database cannot sort by (conversation, context...) is ignored."""
        if not 0 <= column < len(self.columns) or self.columns[column].sort is None:
            return
        descending = order == Qt.SortOrder.DescendingOrder
        if column == self._sort_section and descending == self._descending:
            return
        self._sort_section = column
        self._descending = descending
        self.refresh()

    # --- what a subclass says ------------------------------------------------------------------

    def _read(
        self,
        session: Session,
        selection: Selection,
        *,
        sort: str,
        descending: bool,
        after: Any,
        limit: int,
    ) -> list[R]:
        """One page (on the database thread)."""
        raise NotImplementedError

    def _after(self, row: R, sort: str) -> Any:
        """The keyset position of ``row`` for the sort column ``sort``."""
        raise NotImplementedError

    # --- reading -------------------------------------------------------------------------------

    def _sort_name(self) -> str:
        name = self.columns[self._sort_section].sort
        assert name is not None
        return name

    def _read_page(self, after: Any) -> None:
        selection = self._filter
        sort, descending, limit = self._sort_name(), self._descending, self._page_size
        self._fetching = True

        def load() -> list[R]:
            with self._context.db.read() as session:
                return self._read(
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

    def _on_page_arrived(self, rows: list[R], *, first: bool) -> None:
        # Still fetching until the rows are in: a fetchMore from a slot of rowsAboutToBeInserted
        # would otherwise read the page after the old last row a second time.
        self._more = len(rows) == self._page_size
        if rows:
            start = len(self._rows)
            self.beginInsertRows(QModelIndex(), start, start + len(rows) - 1)
            self._rows.extend(rows)
            self.endInsertRows()
        self._fetching = False
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
