"""The ledger beside what a provider billed, in a window: check a range, import outside spend.

The same core as ``tallybook reconcile``: a check fetches the provider's records and compares
them with the ledger (:func:`app.core.reconcile.compare.reconcile`) in one task on the read
pool, so the network never holds up the window; an import writes the outside rows
(:func:`app.core.reconcile.importer.import_outside`) on the writer thread, then checks again.
A provider's refusal (no admin key, a project key, a rate limit) is its one sentence above the
table, and nothing is shown as if it were the provider's figures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from PySide6.QtCore import QDate, QEvent, Qt, Signal
from PySide6.QtGui import QBrush, QFont, QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from app.core import money
from app.core.day_ranges import utc_today
from app.core.pricing.prices import PriceBook
from app.core.reconcile import compare, daily, importer, sources
from app.core.reconcile.compare import Reconciliation, Row, Status, Totals
from app.core.reconcile.records import ProviderRecords
from app.core.storage.db import Database
from app.ui.context import AppContext
from app.ui.dialogs.widgets import MessageLine
from app.ui.errors import describe
from app.ui.operations import LatestLoad, run_write
from app.ui.reconcile.chart import DailyComparisonChart, DayFigures

DEFAULT_DAYS = 30
"""The range a check covers until the user picks another: the last 30 UTC days."""
HEADERS = compare.COLUMNS
STATUS_COLUMN = 2
STATUS_WORDS = {
    Status.MATCH: "Match",
    Status.DRIFT: "Differs",
    Status.OUTSIDE: "Outside Tallybook",
    Status.MISSING: "Not billed (yet)",
}
STATUS_TIPS = {
    Status.MATCH: "The ledger and the provider agree (within 1% and a cent).",
    Status.DRIFT: "Both saw this spend, and their figures differ by more than 1% and a cent.",
    Status.OUTSIDE: "The provider billed spend Tallybook never metered (another tool or computer).",
    Status.MISSING: "The ledger has spend the provider does not show (yet: its reports lag).",
}
STATUS_ROLES = {
    Status.MATCH: QPalette.ColorRole.PlaceholderText,
    Status.DRIFT: QPalette.ColorRole.LinkVisited,
    Status.OUTSIDE: QPalette.ColorRole.Link,
    Status.MISSING: QPalette.ColorRole.Text,
}
"""A status's colour is a role of the palette, so it reads on light and dark alike; the words
carry the meaning, the colour only draws the eye (everything but a match is also bold)."""
_ZERO = Decimal(0)


@dataclass(frozen=True)
class Checked:
    """One check's answer: the provider's records and the ledger beside them."""

    records: ProviderRecords
    reconciliation: Reconciliation


def check(db: Database, provider: str, since: date, until: date, base_url: str | None) -> Checked:
    """Fetch ``provider``'s records and compare them with the ledger (on a worker thread).

    Raises:
        ReconcileError: the provider's one sentence (no key, refused, limited, failed).
    """
    records = sources.source_for(provider, base_url).fetch(since, until)  # before the ledger
    with db.read() as session:
        return Checked(records, compare.reconcile(session, records, PriceBook.load(session)))


def import_and_compare(session: Session, records: ProviderRecords) -> importer.Imported:
    """Import what ``records`` show outside the ledger, compared afresh in the write session
    (what an earlier import recorded is read back, so importing twice adds nothing)."""
    return importer.import_outside(
        session, compare.reconcile(session, records, PriceBook.load(session))
    )


class ReconcileView(QWidget):
    """A provider, a range of days, the check's chart and table, the import of outside spend, and
    whether the provider is checked every day in the background (:mod:`app.core.reconcile.daily`).

    Args:
        base_url: where the provider's records API is (a test server); ``None``: its own.

    Signals:
        checked(): a check finished, shown as rows or as its error sentence.
    """

    checked = Signal()

    def __init__(
        self, context: AppContext, parent: QWidget | None = None, *, base_url: str | None = None
    ) -> None:
        super().__init__(parent)
        self.context = context
        self.base_url = base_url
        self.result: Reconciliation | None = None
        """What the table shows (``None`` before a check, or after one that failed)."""
        self._records: ProviderRecords | None = None
        self._load = LatestLoad(context, self)
        self._daily_load = LatestLoad(context, self)
        self._note: str | None = None  # an import's summary, shown once the re-check lands
        today = utc_today()
        self.provider_combo = QComboBox()
        self.provider_combo.addItems(list(sources.PROVIDERS))
        self.since_edit = _date_edit(today - timedelta(days=DEFAULT_DAYS - 1), today)
        self.until_edit = _date_edit(today, today)
        self.check_button = QPushButton("Check")
        self.check_button.setDefault(True)
        self.import_button = QPushButton("Import outside spend")
        self.import_button.setToolTip(
            "Record what the provider billed outside Tallybook on the ledger, so balance,"
            " charts and budgets count it."
        )
        self.import_button.setEnabled(False)
        self.daily_box = QCheckBox("Check every day in the background")
        self.daily_box.setToolTip(
            "Once a day, compare the last week with the provider and alert on spend from"
            " outside Tallybook or figures that differ."
        )
        self.message = MessageLine()
        self.chart = DailyComparisonChart()
        self.table = QTableWidget(0, len(HEADERS))
        self.totals_label = QLabel()
        self.totals_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._build()
        self.check_button.clicked.connect(self._on_check_button_clicked)
        self.import_button.clicked.connect(self._on_import_button_clicked)
        self.since_edit.dateChanged.connect(self._on_since_edit_date_changed)
        self.until_edit.dateChanged.connect(self._on_until_edit_date_changed)
        self.provider_combo.currentTextChanged.connect(self._on_provider_combo_text_changed)
        self.daily_box.toggled.connect(self._on_daily_box_toggled)
        self._load_daily()

    # --- public ----------------------------------------------------------------------------

    def provider(self) -> str:
        """The provider a check reads."""
        return self.provider_combo.currentText()

    def days(self) -> tuple[date, date]:
        """The first and last UTC day a check covers."""
        return _pydate(self.since_edit.date()), _pydate(self.until_edit.date())

    def check(self) -> None:
        """Fetch and compare in the background; ``checked`` once shown (rows or a sentence)."""
        self.check_button.setEnabled(False)
        self.import_button.setEnabled(False)
        db, provider, base_url = self.context.db, self.provider(), self.base_url
        since, until = self.days()
        self._load.start(
            lambda: check(db, provider, since, until, base_url),
            self._on_check_finished,
            self._on_check_failed,
        )

    # --- building --------------------------------------------------------------------------

    def _build(self) -> None:
        controls = QHBoxLayout()
        for widget in (
            QLabel("Provider"),
            self.provider_combo,
            QLabel("From"),
            self.since_edit,
            QLabel("to"),
            self.until_edit,
            self.check_button,
        ):
            controls.addWidget(widget)
        controls.addStretch(1)
        controls.addWidget(self.daily_box)
        controls.addWidget(self.import_button)
        self.table.setHorizontalHeaderLabels(list(HEADERS))
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.message)
        layout.addWidget(self.chart, 2)
        layout.addWidget(self.table, 3)
        layout.addWidget(self.totals_label)

    def _load_daily(self) -> None:
        """Read whether the provider shown is checked every day (the box waits meanwhile)."""
        self.daily_box.setEnabled(False)
        db, provider = self.context.db, self.provider()

        def load() -> bool:
            with db.read() as session:
                return daily.is_enabled(session, provider)

        self._daily_load.start(load, self._on_daily_loaded, self._on_daily_failed)

    # --- painting --------------------------------------------------------------------------

    def _show(self, result: Reconciliation) -> None:
        self.result = result
        self.table.setRowCount(len(result.rows))
        for index, row in enumerate(result.rows):
            for column, text in enumerate(_cells(row)):
                item = QTableWidgetItem(text)
                if column >= 3:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                if column == STATUS_COLUMN:
                    self._paint_status(item, row)
                self.table.setItem(index, column, item)
        self.chart.set_days(_day_figures(result.rows), result.since, result.until)
        self.totals_label.setText(_totals_text(result))
        self.import_button.setEnabled(any(row.needs_import() for row in result.rows))

    def _paint_status(self, item: QTableWidgetItem, row: Row) -> None:
        """The status in its palette colour, bold while it asks for attention (an outside row
        already imported is as settled as a match)."""
        settled = row.status is Status.MATCH or _imported(row)
        role = QPalette.ColorRole.PlaceholderText if settled else STATUS_ROLES[row.status]
        item.setForeground(QBrush(self.palette().color(role)))
        item.setToolTip(STATUS_TIPS[row.status])
        if not settled:
            bold = QFont(self.table.font())
            bold.setBold(True)
            item.setFont(bold)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's name)
        """Re-colour the statuses when the system switches between light and dark."""
        super().changeEvent(event)
        kinds = (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange)
        if event.type() in kinds and self.result is not None:
            for index, row in enumerate(self.result.rows):
                if (item := self.table.item(index, STATUS_COLUMN)) is not None:
                    self._paint_status(item, row)

    def _clear(self) -> None:
        self.result = None
        self._records = None
        self.table.setRowCount(0)
        self.totals_label.clear()
        since, until = self.days()
        self.chart.set_days([], since, until)

    # --- slots -----------------------------------------------------------------------------

    def _on_check_button_clicked(self) -> None:
        self.message.clear()
        self.check()

    def _on_check_finished(self, checked: Checked) -> None:
        self.check_button.setEnabled(True)
        self._records = checked.records
        self._show(checked.reconciliation)
        note, self._note = self._note, None
        balance = checked.records.balance
        if note is not None:
            self.message.show_success(note)
        elif balance is not None and not checked.records.days:
            self.message.show_message(
                f"{self.provider()} reports only a balance: {balance.balance:f}"
                f" {balance.currency} at {balance.at:%Y-%m-%d %H:%M} UTC (no days or models"
                " to compare)."
            )
        else:
            self.message.clear()
        self.checked.emit()

    def _on_check_failed(self, error: BaseException) -> None:
        self.check_button.setEnabled(True)
        self._note = None
        self._clear()
        self.message.show_error(describe(error))
        self.checked.emit()

    def _on_import_button_clicked(self) -> None:
        records = self._records
        if records is None:
            return
        self.import_button.setEnabled(False)
        self.check_button.setEnabled(False)
        run_write(
            self.context,
            self,
            lambda session: import_and_compare(session, records),
            self._on_import_done,
            self._on_import_failed,
        )

    def _on_import_done(self, imported: importer.Imported) -> None:
        self._note = (
            f"Imported {imported.requests:,} day(s) of outside spend"
            f" ({money.format_usd(imported.credits)}) under the source"
            f" '{compare.source_of(self.provider())}'."
        )
        self.check()

    def _on_import_failed(self, error: BaseException) -> None:
        self.check_button.setEnabled(True)
        self.import_button.setEnabled(self.result is not None)
        self.message.show_error(f"Nothing was imported: {describe(error)}")

    def _on_provider_combo_text_changed(self, _provider: str) -> None:
        self._load_daily()

    def _on_daily_loaded(self, on: bool) -> None:
        self.daily_box.blockSignals(True)
        self.daily_box.setChecked(on)
        self.daily_box.blockSignals(False)
        self.daily_box.setEnabled(True)

    def _on_daily_failed(self, error: BaseException) -> None:
        self.message.show_error(
            f"Whether the daily check is on could not be read: {describe(error)}"
        )

    def _on_daily_box_toggled(self, on: bool) -> None:
        provider = self.provider()
        run_write(
            self.context,
            self,
            lambda session: daily.set_enabled(session, provider, on),
            on_failed=self._on_daily_write_failed,
        )

    def _on_daily_write_failed(self, error: BaseException) -> None:
        self.message.show_error(f"The daily check was not changed: {describe(error)}")
        self._load_daily()

    def _on_since_edit_date_changed(self, day: QDate) -> None:
        self.until_edit.setMinimumDate(day)

    def _on_until_edit_date_changed(self, day: QDate) -> None:
        self.since_edit.setMaximumDate(day)


def _date_edit(day: date, latest: date) -> QDateEdit:
    """A date picker that cannot go past ``latest`` (no record is asked of the future)."""
    edit = QDateEdit(_qdate(day))
    edit.setCalendarPopup(True)
    edit.setDisplayFormat("yyyy-MM-dd")
    edit.setMaximumDate(_qdate(latest))
    return edit


def _qdate(day: date) -> QDate:
    return QDate(day.year, day.month, day.day)


def _pydate(day: QDate) -> date:
    return date(day.year(), day.month(), day.day())


def _imported(row: Row) -> bool:
    """An outside row whose spend earlier imports already hold."""
    return row.status is Status.OUTSIDE and not row.imported.empty and not row.needs_import()


def _status_words(row: Row) -> str:
    if _imported(row):
        return "Outside, imported"
    return STATUS_WORDS[row.status]


def _cells(row: Row) -> list[str]:
    return [row.day.isoformat(), row.model, _status_words(row), *_figures(row)]


def _figures(row: Row | Totals) -> list[str]:
    """The token and money columns, as the CLI's table has them."""
    ledger, provider = row.ledger, row.provider
    return [
        f"{ledger.input_tokens:,}",
        f"{ledger.output_tokens:,}",
        f"{provider.input_tokens:,}",
        f"{provider.output_tokens:,}",
        money.format_dollars(ledger.usd or _ZERO),
        "tokens only" if provider.usd is None else money.format_dollars(provider.usd),
        compare.difference_words(row),
        money.format_dollars(row.imported.usd or _ZERO),
    ]


def _totals_text(result: Reconciliation) -> str:
    if not result.rows:
        return (
            f"Neither the ledger nor {result.provider} shows spend from {result.since}"
            f" to {result.until}."
        )
    totals = result.totals
    counts = ", ".join(
        f"{n} {_lower_first(STATUS_WORDS[status])}" for status, n in result.counts().items() if n
    )
    dollars = money.format_dollars
    provider = "tokens only" if totals.provider.usd is None else dollars(totals.provider.usd)
    text = (
        f"Total: ledger {dollars(totals.ledger.usd or _ZERO)}, provider {provider},"
        f" difference {compare.difference_words(totals)},"
        f" imported {dollars(totals.imported.usd or _ZERO)} ({counts})."
    )
    if result.unattributed_usd:
        text += (
            f" Also billed on no model (images, tools, storage…):"
            f" {money.format_dollars(result.unattributed_usd)}."
        )
    return text


def _lower_first(words: str) -> str:
    """``Outside Tallybook`` inside a sentence: ``outside Tallybook``."""
    return words[:1].lower() + words[1:]


def _day_figures(rows: Sequence[Row]) -> list[DayFigures]:
    """Each day's rows summed, for the chart (the ledger's side with imported spend)."""
    ledger: dict[date, Decimal] = defaultdict(Decimal)
    provider: dict[date, Decimal | None] = {}
    for row in rows:
        ledger[row.day] += (row.ledger.usd or _ZERO) + (row.imported.usd or _ZERO)
        known = provider.get(row.day)
        if row.provider.usd is None:
            provider.setdefault(row.day, None)
        else:
            provider[row.day] = (known or _ZERO) + row.provider.usd
    return [DayFigures(day, ledger[day], provider[day]) for day in sorted(ledger)]


def show_window(context: AppContext, parent: QWidget) -> ReconcileView:
    """``parent``'s reconciliation window, built on first use, then brought to the front.

    It is a window of its own (not modal: the user can chat beside it) that closing only hides,
    so the last check is still there when it is opened again.
    """
    view = parent.findChild(ReconcileView, options=Qt.FindChildOption.FindDirectChildrenOnly)
    if view is None:
        view = ReconcileView(context, parent)
        view.setWindowFlag(Qt.WindowType.Window)
        view.setWindowTitle("Reconcile with the provider — Tallybook")
        view.resize(1100, 720)
    view.show()
    view.raise_()
    view.activateWindow()
    return view
