"""The main window: the balance, and where the money went.

All reads run on the :class:`~app.ui.workers.TaskRunner`; the window only paints results.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QMainWindow,
    QMessageBox,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app import __version__
from app.core import balance, money, reports
from app.core.clock import utcnow
from app.core.db import Database
from app.ui.errors import describe
from app.ui.report_model import ReportTableModel
from app.ui.workers import TaskRunner

RECENT_DAYS = 30


@dataclass(frozen=True)
class Overview:
    """What the window shows, read in one go off the GUI thread."""

    balance: balance.BalanceView
    by_day: reports.Report
    by_model: reports.Report


class MainWindow(QMainWindow):
    """Balance at the top, spend by day and by model below.

    Signals:
        refreshed(): the figures on screen were replaced by fresh ones.
    """

    refreshed = Signal()

    def __init__(self, db: Database) -> None:
        super().__init__()
        self._db = db
        self._tasks = TaskRunner(self)
        self.setWindowTitle("Tallybook")
        self.resize(960, 640)

        self.balance_label = QLabel("Balance: …")
        self.balance_label.setObjectName("balance")
        self.balance_label.setStyleSheet("font-size: 20px; font-weight: 600; padding: 8px 4px;")
        self.by_day = ReportTableModel(f"Day (UTC), last {RECENT_DAYS} days")
        self.by_model = ReportTableModel("Model")
        tabs = QTabWidget()
        tabs.addTab(_table(self.by_day), "Spend by day")
        tabs.addTab(_table(self.by_model), "Spend by model")

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self.balance_label)
        layout.addWidget(tabs)
        self.setCentralWidget(central)
        self.statusBar().showMessage(f"Ledger: {db.path}")
        self._build_menus()
        self.refresh()

    def refresh(self) -> None:
        """Re-read the balance and reports in the background."""
        self._tasks.run(self._load, self._on_load_finished, self._on_load_failed)

    def closeEvent(self, event: object) -> None:  # noqa: N802 (Qt API)
        self._tasks.wait()
        super().closeEvent(event)  # type: ignore[arg-type]

    def _load(self) -> Overview:
        since = (utcnow() - timedelta(days=RECENT_DAYS - 1)).date()
        with self._db.read() as session:
            return Overview(
                balance=balance.get_balance(session),
                by_day=reports.build_report(session, reports.GroupBy.DAY, since=since),
                by_model=reports.build_report(session, reports.GroupBy.MODEL, since=since),
            )

    def _on_load_finished(self, overview: Overview) -> None:
        credits = overview.balance.credits
        state = "checking on" if overview.balance.enabled else "tracking only"
        spent = money.format_usd(overview.by_day.total.cost)
        self.balance_label.setText(
            f"Balance {money.format_usd(credits)}  ·  {money.format_credits(credits)} credits  ·  "
            f"{state}  ·  spent {spent} in {RECENT_DAYS} days"
        )
        self.by_day.set_report(overview.by_day)
        self.by_model.set_report(overview.by_model)
        self.refreshed.emit()

    def _on_load_failed(self, error: BaseException) -> None:
        self.statusBar().showMessage(describe(error))

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        quit_action = QAction("&Quit", self, shortcut=QKeySequence(QKeySequence.StandardKey.Quit))
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        view_menu = self.menuBar().addMenu("&View")
        refresh_action = QAction(
            "&Refresh", self, shortcut=QKeySequence(QKeySequence.StandardKey.Refresh)
        )
        refresh_action.triggered.connect(self.refresh)
        view_menu.addAction(refresh_action)
        help_menu = self.menuBar().addMenu("&Help")
        about_action = QAction("&About Tallybook", self)
        about_action.triggered.connect(self._on_about_triggered)
        help_menu.addAction(about_action)

    def _on_about_triggered(self) -> None:
        QMessageBox.about(
            self,
            "About Tallybook",
            f"Tallybook {__version__}\nA personal LLM spend tracker.\nLedger: {self._db.path}",
        )


def _table(model: ReportTableModel) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.setAlternatingRowColors(True)
    view.verticalHeader().hide()
    view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 8)
    header = view.horizontalHeader()
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    for column in range(1, model.columnCount()):
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
    return view
