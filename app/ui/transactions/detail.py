"""The ledger rows behind one request: what the transactions view opens on double-click or Enter.

A request's row sums its ledger rows (one per billed unit); this pane lists them as the raw
ledger does, so the sum can be checked line by line. It follows the current row while open.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.ledger import request_rows
from app.core.ledger.browse import Row
from app.ui.context import AppContext
from app.ui.operations import LatestLoad
from app.ui.transactions.paging import ColumnTableModel
from app.ui.transactions.table import COLUMNS


class LedgerRowsPane(QWidget):
    """The transactions of one request (or one top-up), read in the background.

    Signals:
        loaded(): the rows of the request last asked for are shown.
        failed(object): reading them failed; the exception.
    """

    loaded = Signal()
    failed = Signal(object)

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._load = LatestLoad(context, self)
        self._db = context.db
        self.model: ColumnTableModel[Row] = ColumnTableModel(COLUMNS, self)
        self.title = QLabel()
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setToolTip("Close the ledger rows (Esc)")
        self.close_button.setAutoRaise(True)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)

        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        self.close_button.clicked.connect(self.hide)

    def show_rows(self, request_id: int | None, transaction_id: int, what: str) -> None:
        """Show the ledger rows of ``request_id`` (or the one transaction), titled ``what``."""
        self.title.setText(f"Ledger rows of {what}")
        self.show()
        db = self._db

        def load() -> list[Row]:
            with db.read() as session:
                return request_rows.ledger_rows(session, request_id, transaction_id)

        self._load.start(load, self._on_load_done, self.failed.emit)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt API)
        if event.key() == Qt.Key.Key_Escape:
            self.hide()
            return
        super().keyPressEvent(event)

    def _on_load_done(self, rows: list[Row]) -> None:
        self.model.set_rows(rows)
        if not rows:
            self.title.setText(self.title.text() + ": none, it charged nothing")
        self.table.resizeColumnsToContents()
        self.loaded.emit()
