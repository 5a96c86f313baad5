"""Table model over a spend report (day, month, model or conversation rows)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from app.core import money
from app.core.reports import Report, ReportRow

_Index = QModelIndex | QPersistentModelIndex
_COLUMNS = ("", "Input", "Output", "Cache write", "Cache read", "Cost (USD)")


class ReportTableModel(QAbstractTableModel):
    """Rows of a :class:`~app.core.reports.Report`, replaced whole on each refresh."""

    def __init__(self, first_column: str) -> None:
        super().__init__()
        self._first_column = first_column
        self._rows: tuple[ReportRow, ...] = ()

    def set_report(self, report: Report) -> None:
        """Show a new report (newest first for time groupings)."""
        self.beginResetModel()
        self._rows = (
            tuple(reversed(report.rows))
            if report.group_by.value in ("day", "month")
            else report.rows
        )
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802 (Qt API)
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802 (Qt API)
        return 0 if parent.isValid() else len(_COLUMNS)

    def headerData(  # noqa: N802 (Qt API)
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole or orientation != Qt.Orientation.Horizontal:
            return None
        return self._first_column if section == 0 else _COLUMNS[section]

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() > 0:
            return Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == 0:
            return ", ".join(row.models)
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        values = (
            row.label,
            f"{row.input_tokens:,}",
            f"{row.output_tokens:,}",
            f"{row.cache_write_tokens:,}",
            f"{row.cache_read_tokens:,}",
            money.format_usd(row.cost),
        )
        return values[index.column()]
