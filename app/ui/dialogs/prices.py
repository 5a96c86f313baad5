"""The prices dialog: what each model costs per token, where that rate came from, and overrides.

Rates are credits per token, the same number as USD per million tokens. Every typed rate goes
through :func:`money.parse_rate` and :func:`prices.require_rate` before anything is written, so
a rate the ledger could not hold exactly (negative, more than six decimals, not a number, above
$1,000,000 per 1M tokens) is refused with the reason and never stored; one that looks like a slip
(:func:`plausibility.doubts`) is saved only once the user says it is meant. The table is read
on the task thread; pricing a hundred models takes a moment. It is read again whenever the
settings change, here or in another program (``tallybook prices set``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSignalBlocker,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QStyle,
    QTableView,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from app.core import money
from app.core.errors import InvalidAmount
from app.core.pricing import plausibility, prices
from app.core.pricing.prices import PriceBook, RateOverride, Rates
from app.core.providers import registry
from app.core.storage.changes import SETTINGS, Changes
from app.core.storage.db import Database
from app.ui.context import AppContext
from app.ui.dialogs.widgets import MessageLine, plain_button_box, push_button
from app.ui.errors import describe
from app.ui.live import ChangeThrottle
from app.ui.operations import LatestLoad, run_write

ANY_PROVIDER = "any provider"
COLUMNS = ("Provider", "Model", "Prompt", "Completion", "Cache write", "Cache read", "Source")
RATE_FIELDS = ("prompt", "completion", "cache_write", "cache_read")
FIELD_LABELS = {
    "prompt": "Prompt",
    "completion": "Completion",
    "cache_write": "Cache write",
    "cache_read": "Cache read",
}
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
DEFAULT_TIP = (
    "The price table does not know this model, so it is charged at your default rate for "
    "unknown models, and each of its transactions is flagged."
)

_Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class PriceRow:
    """One model as one endpoint charges it, with the user's override if there is one."""

    provider: str
    model: str
    rates: Rates
    override: RateOverride | None


@dataclass(frozen=True)
class PricesState:
    """Everything the dialog shows, read in one go off the GUI thread."""

    rows: tuple[PriceRow, ...]
    default: RateOverride
    catalog: str


def load_state(db: Database) -> PricesState:
    """Every model the pickers offer, plus every overridden model, priced (task thread)."""
    with db.read() as session:
        book = PriceBook.load(session)
        overrides = {prices.normalize_model(o.model): o for o in prices.list_overrides(session)}
        menu = registry.model_menu(session)
        default = prices.default_rates(session)
    rows: list[PriceRow] = []
    listed: set[str] = set()
    for endpoint, choices in menu:
        for choice in choices:
            key = prices.normalize_model(choice.model)
            rates = book.rates(choice.model, provider=endpoint.price_provider)
            rows.append(PriceRow(endpoint.name, choice.model, rates, overrides.get(key)))
            listed.add(key)
    for key, override in overrides.items():
        if key not in listed:
            rates = book.rates(override.model)
            rows.append(PriceRow(ANY_PROVIDER, override.model, rates, override))
    return PricesState(tuple(rows), default, prices.catalog_version())


class PriceTableModel(QAbstractTableModel):
    """Models and their rates, one row per (endpoint, model); read-only."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[PriceRow] = []

    def set_rows(self, rows: tuple[PriceRow, ...]) -> None:
        """Replace every row."""
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def row_at(self, row: int) -> PriceRow:
        """The price row shown at ``row``."""
        return self._rows[row]

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802 (Qt API)
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802 (Qt API)
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(  # noqa: N802 (Qt API)
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole and 2 <= section <= 5:
            return "Credits per token, the same number as USD per million tokens"
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, SORT_ROLE):
            if column == 0:
                return row.provider
            if column == 1:
                return row.model
            if column == 6:
                return row.rates.source
            rate = _rate(row.rates, RATE_FIELDS[column - 2])
            return float(rate) if role == SORT_ROLE else f"{rate:f}"
        if role == Qt.ItemDataRole.TextAlignmentRole and 2 <= column <= 5:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.DecorationRole and column == 6 and row.rates.is_default:
            return QApplication.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        if role == Qt.ItemDataRole.ToolTipRole and column == 6 and row.rates.is_default:
            return DEFAULT_TIP
        if role == Qt.ItemDataRole.FontRole and column == 6 and row.override is not None:
            font = QFont()
            font.setBold(True)
            return font
        return None


class PricesDialog(QDialog):
    """The price table with a filter, an override editor and the default for unknown models.

    Signals:
        refreshed(): the table shows the ledger's current overrides and defaults.
    """

    refreshed = Signal()

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self._state = LatestLoad(context, self)
        self.state: PricesState | None = None
        self._refill = False  # the next state read refills the editors, typed in or not
        self.setWindowTitle("Prices")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(980, 680)

        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter by provider, model or source (Ctrl+F)")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self._on_filter_edit_text_changed)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Find), self, self.filter_edit.setFocus)
        self.catalog_label = QLabel()
        self.model = PriceTableModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(-1)
        self.proxy.setSortRole(SORT_ROLE)
        self.table = self._build_table()

        self.message = MessageLine()
        editors = QHBoxLayout()
        editors.addWidget(self._build_override_box(), 3)
        editors.addWidget(self._build_default_box(), 2)
        buttons = plain_button_box(QDialogButtonBox(QDialogButtonBox.StandardButton.Close))
        buttons.rejected.connect(self.reject)

        top = QHBoxLayout()
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.catalog_label)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addLayout(editors)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        ChangeThrottle(context.events.changed, SETTINGS, self._on_changes, self)
        self.refresh()

    def refresh(self) -> None:
        """Re-read rates, overrides and defaults in the background."""
        db = self.context.db
        self._state.start(lambda: load_state(db), self._on_load_finished, self._on_failed)

    def rows_for(self, model: str) -> list[PriceRow]:
        """The rows shown for a model name (every endpoint that offers it)."""
        key = prices.normalize_model(model)
        rows = (self.model.row_at(r) for r in range(self.model.rowCount()))
        return [row for row in rows if prices.normalize_model(row.model) == key]

    def select_model(self, model: str) -> bool:
        """Select the first visible row of ``model``; whether there was one."""
        key = prices.normalize_model(model)
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, 1)
            if prices.normalize_model(str(index.data())) == key:
                self.table.selectRow(row)
                self.table.scrollTo(index)
                return True
        return False

    # --- building --------------------------------------------------------------------------

    def _build_table(self) -> QTableView:
        table = QTableView()
        table.setModel(self.proxy)
        table.setSortingEnabled(True)
        table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setAlternatingRowColors(True)
        table.setWordWrap(False)
        table.verticalHeader().hide()
        table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        table.selectionModel().currentRowChanged.connect(self._on_table_current_row_changed)
        return table

    def _build_override_box(self) -> QGroupBox:
        box = QGroupBox("Your rates for a model")
        self.override_model = QLineEdit()
        self.override_model.setPlaceholderText("Select a row, or type any model name")
        self.override_edits: dict[str, QLineEdit] = {}
        grid = QGridLayout(box)
        grid.addWidget(QLabel("Model:"), 0, 0)
        grid.addWidget(self.override_model, 0, 1, 1, 3)
        for i, field in enumerate(RATE_FIELDS):
            edit = _rate_edit(f"{FIELD_LABELS[field]} rate")
            edit.returnPressed.connect(self._on_save_override_button_clicked)
            self.override_edits[field] = edit
            grid.addWidget(QLabel(f"{FIELD_LABELS[field]}:"), 1 + i // 2, (i % 2) * 2)
            grid.addWidget(edit, 1 + i // 2, (i % 2) * 2 + 1)
        hint = QLabel("An empty field keeps the price table's rate for that token type.")
        hint.setWordWrap(True)
        grid.addWidget(hint, 3, 0, 1, 4)
        self.save_override_button = push_button("Save override")
        self.save_override_button.clicked.connect(self._on_save_override_button_clicked)
        self.remove_override_button = push_button("Remove override")
        self.remove_override_button.setEnabled(False)
        self.remove_override_button.clicked.connect(self._on_remove_override_button_clicked)
        actions = QHBoxLayout()
        actions.addStretch(1)
        actions.addWidget(self.remove_override_button)
        actions.addWidget(self.save_override_button)
        grid.addLayout(actions, 4, 0, 1, 4)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        return box

    def _build_default_box(self) -> QGroupBox:
        box = QGroupBox("Default for unknown models")
        self.default_prompt = _rate_edit("Default prompt rate")
        self.default_completion = _rate_edit("Default completion rate")
        for edit in (self.default_prompt, self.default_completion):
            edit.returnPressed.connect(self._on_save_default_button_clicked)
        grid = QGridLayout(box)
        grid.addWidget(QLabel("Prompt:"), 0, 0)
        grid.addWidget(self.default_prompt, 0, 1)
        grid.addWidget(QLabel("Completion:"), 1, 0)
        grid.addWidget(self.default_completion, 1, 1)
        hint = QLabel("Charged, and flagged, for any model the price table does not know.")
        hint.setWordWrap(True)
        grid.addWidget(hint, 2, 0, 1, 2)
        self.save_default_button = push_button("Save defaults")
        self.save_default_button.clicked.connect(self._on_save_default_button_clicked)
        actions = QHBoxLayout()
        actions.addStretch(1)
        actions.addWidget(self.save_default_button)
        grid.addLayout(actions, 4, 0, 1, 2)
        grid.setRowStretch(3, 1)
        grid.setColumnStretch(1, 1)
        return box

    # --- loading ---------------------------------------------------------------------------

    def _on_load_finished(self, state: PricesState) -> None:
        selected = self.override_model.text()
        refill = self._refill or self._editors_as_stored()  # else the user is typing: keep it
        self._refill = False
        self.state = state
        self.model.set_rows(state.rows)
        self.catalog_label.setText(f"Prices from {state.catalog}; rates in USD per 1M tokens")
        if refill:
            self.default_prompt.setText(_rate_text(state.default.prompt))
            self.default_completion.setText(_rate_text(state.default.completion))
        if selected:
            with QSignalBlocker(self.table.selectionModel()):  # keeps the editor and message
                self.select_model(selected)
            if refill:
                self._show_override(selected)
        self.refreshed.emit()

    def _editors_as_stored(self) -> bool:
        """The editors still show what was last read (read before the new rows replace it)."""
        if self.state is None:
            return True
        default = self.state.default
        if (self.default_prompt.text(), self.default_completion.text()) != (
            _rate_text(default.prompt),
            _rate_text(default.completion),
        ):
            return False
        rows = self.rows_for(self.override_model.text())
        override = rows[0].override if rows else None
        return all(
            edit.text() == _rate_text(getattr(override, field) if override else None)
            for field, edit in self.override_edits.items()
        )

    def _on_changes(self, _changes: Changes) -> None:
        self.refresh()

    def _on_failed(self, error: BaseException) -> None:
        self._set_busy(False)
        self.message.show_error(describe(error))

    def _on_filter_edit_text_changed(self, text: str) -> None:
        self.proxy.setFilterFixedString(text)

    def _on_table_current_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            return
        row = self.model.row_at(self.proxy.mapToSource(current).row())
        self.override_model.setText(row.model)
        self._show_override(row.model)
        self.message.clear()

    def _show_override(self, model: str) -> None:
        """Fill the editor with a model's override, the table's rates as placeholders."""
        rows = self.rows_for(model)
        override = rows[0].override if rows else None
        for field, edit in self.override_edits.items():
            value = getattr(override, field) if override is not None else None
            edit.setText(_rate_text(value))
            if rows and (override is None or value is None):
                edit.setPlaceholderText(f"{_rate(rows[0].rates, field):f}")
            else:
                edit.setPlaceholderText("table rate")
        self.remove_override_button.setEnabled(override is not None)

    # --- saving ----------------------------------------------------------------------------

    def _on_save_override_button_clicked(self) -> None:
        model = self.override_model.text().strip()
        if not model:
            self.message.show_error("Choose a model in the table, or type its name.")
            return
        try:
            values = {field: _read_rate(edit) for field, edit in self.override_edits.items()}
        except InvalidAmount as error:
            self.message.show_error(f"{error} Nothing was saved.")
            return
        if all(value is None for value in values.values()):
            self.message.show_error(
                "Enter at least one rate; an empty field keeps the price table's rate."
            )
            return
        override = RateOverride(model, **values)
        reasons = () if self.state is None else plausibility.doubts(override, self.state.default)
        if reasons and not ask_to_save(self, model, reasons):
            self.message.show_error(f"Nothing was saved; your rates for {model} are as before.")
            return
        self._write(
            lambda session: prices.set_override(session, override),
            f"Saved your rates for {model}.",
        )

    def _on_remove_override_button_clicked(self) -> None:
        model = self.override_model.text().strip()
        self._write(
            lambda session: prices.remove_override(session, model),
            f"Removed your rates for {model}; the price table's apply again.",
        )

    def _on_save_default_button_clicked(self) -> None:
        try:
            prompt = _read_rate(self.default_prompt, required=True)
            completion = _read_rate(self.default_completion, required=True)
        except InvalidAmount as error:
            self.message.show_error(f"{error} Nothing was saved.")
            return
        assert prompt is not None and completion is not None
        self._write(
            lambda session: prices.set_default_rates(session, prompt, completion),
            f"Unknown models are now charged {prompt:f} / {completion:f} per 1M tokens.",
        )

    def _write(self, change: Callable[[Session], object], message: str) -> None:
        """Run ``change(session)`` in one write transaction; its commit brings the new table."""
        self._set_busy(True)
        run_write(
            self.context, self, change, lambda _: self._on_write_finished(message), self._on_failed
        )

    def _on_write_finished(self, message: str) -> None:
        self._refill = True  # the state its commit brings shows what was stored
        self._set_busy(False)
        self.message.show_success(message)

    def _set_busy(self, busy: bool) -> None:
        for button in (self.save_override_button, self.save_default_button):
            button.setEnabled(not busy)
        if busy:
            self.remove_override_button.setEnabled(False)


def ask_to_save(parent: QWidget, model: str, reasons: tuple[str, ...]) -> bool:
    """Whether the user means rates that look like a slip (No unless they say so)."""
    return doubt_box(parent, model, reasons).exec() == QMessageBox.StandardButton.Yes


def doubt_box(parent: QWidget, model: str, reasons: tuple[str, ...]) -> QMessageBox:
    """The question :func:`ask_to_save` asks: each reason, Yes and No, No the default."""
    box = QMessageBox(
        QMessageBox.Icon.Warning,
        "Save these rates?",
        f"Your rates for {model} look like a slip. Save them anyway?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        parent,
    )
    box.setInformativeText("\n\n".join(reasons))
    box.setDefaultButton(QMessageBox.StandardButton.No)
    return box


def _rate(rates: Rates, field: str) -> Decimal:
    value: Decimal = getattr(rates, field)
    return value


def _rate_text(rate: Decimal | None) -> str:
    """A rate as its editor shows it (empty: none)."""
    return "" if rate is None else f"{rate:f}"


def _rate_edit(name: str) -> QLineEdit:
    edit = QLineEdit()
    edit.setAccessibleName(name)
    edit.setAlignment(Qt.AlignmentFlag.AlignRight)
    edit.setMinimumWidth(edit.fontMetrics().horizontalAdvance("0") * 12)
    return edit


def _read_rate(edit: QLineEdit, *, required: bool = False) -> Decimal | None:
    """The rate typed in ``edit`` (``None`` when empty and allowed).

    Raises:
        InvalidAmount: not a rate the ledger can hold; the message names the field.
    """
    text = edit.text().strip()
    if not text:
        if required:
            edit.setFocus()
            raise InvalidAmount(f"{edit.accessibleName()}: enter a rate.")
        return None
    try:
        return prices.require_rate("rate", money.parse_rate(text))
    except InvalidAmount as error:
        edit.setFocus()
        edit.selectAll()
        raise InvalidAmount(f"{edit.accessibleName()}: {error}.") from None
