"""The transactions view (one row per request, or every ledger row; filtered, sorted, loaded page
by page) and export.

The main window shows :class:`TransactionsView` and calls :func:`export_all` from File > Export….
"""

from app.ui.transactions.export import (
    ExportJob,
    ExportProgress,
    export_all,
    run_export,
    start_export,
)
from app.ui.transactions.filters import FilterBar
from app.ui.transactions.table import RowRole, TransactionTableModel
from app.ui.transactions.view import TransactionsView

__all__ = [
    "ExportJob",
    "ExportProgress",
    "FilterBar",
    "RowRole",
    "TransactionTableModel",
    "TransactionsView",
    "export_all",
    "run_export",
    "start_export",
]
