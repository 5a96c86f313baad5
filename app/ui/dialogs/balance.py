"""The balance panel: the balance, top-ups or setting it to a figure, the balance rules, the
low-balance alert and budgets (each one alerting, or blocking sending once reached).

It saves the way a desktop dialog does: every setting in it (balance checking, the rules, the
budgets added to or removed from the list) is saved by OK or Apply, together, in one write
transaction, and Cancel discards them. Only "Add" and "Set" act at once: they record a credits
transaction, as a button that names a deed should (the dialog says so beside them).

Every amount is parsed by :mod:`app.core.money` (dollars or credits, as the user picks) before
anything is written, so a value that is refused leaves the ledger and the settings exactly as
they were. The panel re-reads whenever the ledger or the settings change, whoever changed them
(a top-up from the CLI shows here within a second); the settings are refilled only while they
show what is stored, so an edit being made is never overwritten.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from app.core import money
from app.core.errors import InvalidAmount
from app.core.ledger import alerts, balance, entries
from app.core.ledger.alerts import BudgetView
from app.core.ledger.balance import BalanceView
from app.core.providers import registry
from app.core.storage.changes import LEDGER, SETTINGS, Changes
from app.core.storage.db import Database
from app.core.types import IntervalUnit
from app.ui.context import AppContext
from app.ui.dialogs.widgets import AmountEdit, MessageLine, plain_button_box, push_button
from app.ui.errors import describe
from app.ui.live import ChangeThrottle
from app.ui.operations import LatestLoad, run_write

PERIODS = (("Monthly", "month"), ("Daily", "day"))
SCOPES = (("All spend", "all"), ("One provider", "provider"), ("One model", "model"))
BUDGET_COLUMNS = ("Budget", "Spent", "Limit", "Used", "At 100%")
BUDGET_ID_ROLE = Qt.ItemDataRole.UserRole + 1

_Settings = tuple[bool, Decimal | None, bool, Decimal | None, int, IntervalUnit, Decimal | None]
"""Checking on, start balance, auto-refill on, refill amount, interval value and unit,
low-balance alert: what OK or Apply saves, besides the budgets."""


@dataclass(frozen=True)
class NewBudget:
    """A budget added to the list, saved by OK or Apply (see :func:`alerts.add_budget`)."""

    period: str
    limit: Decimal
    scope: str
    target: str | None
    block: bool


@dataclass(frozen=True)
class BalanceState:
    """Everything the panel shows, read in one go off the GUI thread."""

    balance: BalanceView
    low_balance: Decimal | None
    budgets: tuple[BudgetView, ...]
    providers: tuple[tuple[str, str], ...]
    """``(endpoint id, name)`` of every endpoint, for provider budgets."""
    models: tuple[str, ...]
    """Models the pickers offer, for model budgets (any other name can be typed)."""


def load_state(db: Database) -> BalanceState:
    """Read the balance, its rules, the threshold and the budgets (task thread)."""
    with db.read() as session:
        view = balance.get_balance(session)
        threshold = alerts.low_balance_threshold(session)
        budgets = tuple(alerts.budgets(session))
        menu = registry.model_menu(session)
    providers = tuple((endpoint.id, endpoint.name) for endpoint, _ in menu)
    models = tuple(dict.fromkeys(choice.model for _, choices in menu for choice in choices))
    return BalanceState(view, threshold, budgets, providers, models)


class BalanceDialog(QDialog):
    """The balance panel.

    Signals:
        refreshed(): every figure shows the ledger's current state.
    """

    refreshed = Signal()

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self._state = LatestLoad(context, self)
        self.state: BalanceState | None = None
        self._clear_after: AmountEdit | None = None  # the field to empty once its change is saved
        self._saved: _Settings | None = None  # the settings as last saved
        self.added_budgets: list[NewBudget] = []
        """Budgets in the list that OK or Apply will add."""
        self.removed_budgets: set[int] = set()
        """Stored budgets taken off the list, that OK or Apply will remove."""
        self.message = MessageLine()
        """Feedback on the balance itself: a failed read."""
        self.top_up_message = MessageLine()
        self.rules_message = MessageLine()
        self.budget_message = MessageLine()
        self.saved_message = MessageLine()
        """What OK or Apply saved, or why it saved nothing."""
        self._feedback = self.message  # where the outcome of the change being written goes
        self._busy = False
        self._close_after = False  # OK: close once the change is saved
        self.setWindowTitle("Balance")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(1000, 640)

        left = QVBoxLayout()
        left.addWidget(self._build_balance_box())
        left.addWidget(self._build_top_up_box())
        left.addWidget(self._build_rules_box())
        left.addStretch(1)
        columns = QHBoxLayout()
        columns.addLayout(left, 1)
        columns.addWidget(self._build_budgets_box(), 1)
        standard = QDialogButtonBox.StandardButton
        buttons = plain_button_box(QDialogButtonBox(standard.Ok | standard.Cancel | standard.Apply))
        self.ok_button = buttons.button(standard.Ok)
        self.apply_button = buttons.button(standard.Apply)
        self.cancel_button = buttons.button(standard.Cancel)
        self.ok_button.clicked.connect(self._on_ok_button_clicked)
        self.apply_button.clicked.connect(self._on_apply_button_clicked)
        buttons.rejected.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(self.saved_message, 1)
        bottom.addWidget(buttons)

        layout = QVBoxLayout(self)
        layout.addLayout(columns, 1)
        layout.addLayout(bottom)
        self._watch_settings()
        self._set_busy(True)
        ChangeThrottle(context.events.changed, LEDGER | SETTINGS, self._on_changes, self)
        self.refresh()

    def refresh(self) -> None:
        """Re-read everything in the background."""
        db = self.context.db
        self._state.start(lambda: load_state(db), self._on_load_finished, self._on_failed)

    # --- building --------------------------------------------------------------------------

    def _build_balance_box(self) -> QGroupBox:
        box = QGroupBox("Balance")
        self.balance_label = QLabel("…")
        font = QFont(self.balance_label.font())
        font.setPointSizeF(font.pointSizeF() * 1.8)
        font.setBold(True)
        self.balance_label.setFont(font)
        self.balance_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.credits_label = QLabel()
        self.checking_box = QCheckBox(
            "Balance checking: refuse a request whose prompt costs more than the balance"
        )
        self.checking_box.setToolTip(
            "Off: Tallybook tracks spend and never refuses. The start balance is granted the "
            "first time checking is turned on."
        )
        layout = QVBoxLayout(box)
        layout.addWidget(self.balance_label)
        layout.addWidget(self.credits_label)
        layout.addWidget(self.checking_box)
        layout.addWidget(self.message)
        return box

    def _build_top_up_box(self) -> QGroupBox:
        box = QGroupBox("Add credits or set the balance")
        self.top_up_amount = AmountEdit("Amount to add")
        self.top_up_amount.edit.setPlaceholderText("e.g. 20")
        self.top_up_amount.edit.returnPressed.connect(self._on_add_credits_button_clicked)
        self.add_credits_button = push_button("Add")
        self.add_credits_button.clicked.connect(self._on_add_credits_button_clicked)
        self.set_balance_amount = AmountEdit("Set balance to")
        self.set_balance_amount.setToolTip(
            "Match what your provider's billing page says is left: the difference is recorded."
        )
        self.set_balance_amount.edit.setPlaceholderText("e.g. 12.40")
        self.set_balance_amount.edit.returnPressed.connect(self._on_set_balance_button_clicked)
        self.set_balance_button = push_button("Set")
        self.set_balance_button.clicked.connect(self._on_set_balance_button_clicked)
        hint = QLabel(
            "Add and Set are recorded at once, as a credits transaction in the ledger "
            "(1,000,000 credits = $1). The rest of this dialog is saved by OK or Apply."
        )
        hint.setWordWrap(True)
        form = QGridLayout()
        form.addWidget(QLabel("Add:"), 0, 0)
        form.addWidget(self.top_up_amount, 0, 1)
        form.addWidget(self.add_credits_button, 0, 2)
        form.addWidget(QLabel("Set balance to:"), 1, 0)
        form.addWidget(self.set_balance_amount, 1, 1)
        form.addWidget(self.set_balance_button, 1, 2)
        form.setColumnStretch(1, 1)
        layout = QVBoxLayout(box)
        layout.addLayout(form)
        layout.addWidget(hint)
        layout.addWidget(self.top_up_message)
        return box

    def _build_rules_box(self) -> QGroupBox:
        box = QGroupBox("Rules")
        self.start_balance = AmountEdit("Start balance")
        self.start_balance.setToolTip("Granted once, when balance checking is first turned on.")
        self.auto_refill_box = QCheckBox("Add credits automatically when the balance runs short")
        self.refill_amount = AmountEdit("Refill amount")
        self.refill_every = QSpinBox()
        self.refill_every.setRange(1, 100_000)
        self.refill_every.setAccessibleName("Refill interval")
        self.refill_unit = QComboBox()
        for unit in IntervalUnit:
            self.refill_unit.addItem(unit.value, unit)
        self.refill_unit.setAccessibleName("Refill interval unit")
        every = QHBoxLayout()
        every.addWidget(self.refill_every)
        every.addWidget(self.refill_unit, 1)
        self.next_refill_label = QLabel()
        self.next_refill_label.setWordWrap(True)
        self.low_balance = AmountEdit("Low-balance alert", optional=True)
        self.low_balance.setToolTip("Alert when the balance falls under this; empty: no alert.")

        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Start balance:", self.start_balance)
        form.addRow(self.auto_refill_box)
        form.addRow("Refill amount:", self.refill_amount)
        form.addRow("At most every:", every)
        form.addRow("", self.next_refill_label)
        form.addRow("Low-balance alert:", self.low_balance)
        form.addRow(self.rules_message)
        return box

    def _build_budgets_box(self) -> QGroupBox:
        box = QGroupBox("Budgets")
        self.budget_table = QTableWidget(0, len(BUDGET_COLUMNS))
        self.budget_table.setHorizontalHeaderLabels(BUDGET_COLUMNS)
        self.budget_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.budget_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.budget_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.budget_table.verticalHeader().hide()
        self.budget_table.verticalHeader().setDefaultSectionSize(
            self.budget_table.fontMetrics().height() + 10
        )
        header = self.budget_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(3, self.fontMetrics().horizontalAdvance("0") * 16)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.ResizeToContents)
        self.budget_table.itemSelectionChanged.connect(self._on_budget_table_selection_changed)
        self.remove_budget_button = push_button("Remove budget")
        self.remove_budget_button.setEnabled(False)
        self.remove_budget_button.clicked.connect(self._on_remove_budget_button_clicked)
        remove_row = QHBoxLayout()
        remove_row.addStretch(1)
        remove_row.addWidget(self.remove_budget_button)

        self.budget_period = QComboBox()
        for label, period in PERIODS:
            self.budget_period.addItem(label, period)
        self.budget_scope = QComboBox()
        for label, scope in SCOPES:
            self.budget_scope.addItem(label, scope)
        self.budget_scope.currentIndexChanged.connect(self._on_budget_scope_current_index_changed)
        self.budget_target = QComboBox()
        self.budget_target.setAccessibleName("Budget provider or model")
        self.budget_target.setEnabled(False)
        self.budget_limit = AmountEdit("Budget limit")
        self.budget_limit.edit.setPlaceholderText("e.g. 10")
        self.budget_limit.edit.returnPressed.connect(self._on_add_budget_button_clicked)
        self.budget_block = QCheckBox("Block sending at 100%")
        self.budget_block.setToolTip(
            "Refuse the requests this budget covers once it is reached, until its period ends "
            "(otherwise it only alerts)."
        )
        self.add_budget_button = push_button("Add budget")
        self.add_budget_button.clicked.connect(self._on_add_budget_button_clicked)
        add = QGroupBox("New budget")
        grid = QGridLayout(add)
        grid.addWidget(QLabel("Period:"), 0, 0)
        grid.addWidget(self.budget_period, 0, 1)
        grid.addWidget(QLabel("Covers:"), 1, 0)
        grid.addWidget(self.budget_scope, 1, 1)
        grid.addWidget(self.budget_target, 1, 2)
        grid.addWidget(QLabel("Limit:"), 2, 0)
        grid.addWidget(self.budget_limit, 2, 1, 1, 2)
        grid.addWidget(self.budget_block, 3, 1, 1, 2)
        actions = QHBoxLayout()
        actions.addStretch(1)
        actions.addWidget(self.add_budget_button)
        grid.addWidget(self.budget_message, 4, 0, 1, 3)
        grid.addLayout(actions, 5, 0, 1, 3)
        grid.setColumnStretch(2, 1)
        hint = QLabel(
            "Periods are UTC days and calendar months; alerts at 50%, 80% and 100%. A blocking "
            "budget also refuses sending once reached. The list is saved by OK or Apply."
        )
        hint.setWordWrap(True)

        layout = QVBoxLayout(box)
        layout.addWidget(self.budget_table, 1)
        layout.addLayout(remove_row)
        layout.addWidget(add)
        layout.addWidget(hint)
        return box

    # --- showing ---------------------------------------------------------------------------

    def _apply(self, state: BalanceState, *, rules: bool) -> None:
        rules = rules and self._settings_untouched()
        self.state = state
        view = state.balance
        overdrawn = "  (overdrawn)" if view.credits < 0 else ""
        self.balance_label.setText(money.format_usd(view.credits) + overdrawn)
        mode = "checking on" if view.enabled else "tracking only, nothing is refused"
        self.credits_label.setText(f"{money.format_credits(view.credits)} credits · {mode}")
        self.next_refill_label.setText(_next_refill(view))
        if rules:
            self.checking_box.setChecked(view.enabled)
            self.start_balance.set_credits(view.start_balance)
            self.auto_refill_box.setChecked(view.auto_refill_enabled)
            self.refill_amount.set_credits(view.refill_amount)
            self.refill_every.setValue(view.refill_interval_value)
            self.refill_unit.setCurrentIndex(list(IntervalUnit).index(view.refill_interval_unit))
            self.low_balance.set_credits(state.low_balance)
        stored = {budget.id for budget in state.budgets}
        self.removed_budgets &= stored  # one removed elsewhere meanwhile is gone anyway
        self._fill_budgets(state)
        self._fill_targets()
        self._set_busy(False)
        self.refreshed.emit()

    def _fill_budgets(self, state: BalanceState) -> None:
        """The stored budgets not taken off the list, then the ones added to it."""
        names = dict(state.providers)
        table = self.budget_table
        kept = [b for b in state.budgets if b.id not in self.removed_budgets]
        table.setRowCount(0)
        table.setRowCount(len(kept) + len(self.added_budgets))
        for row, budget in enumerate(kept):
            text = _budget_text(budget.period, budget.scope, budget.target, names)
            self._fill_budget_row(row, budget.id, text, budget.block)
            for column, amount in ((1, budget.spent), (2, budget.limit)):
                table.setItem(row, column, _amount_item(money.format_usd(amount)))
            bar = QProgressBar()
            bar.setRange(0, 100)
            bar.setValue(min(100, round(budget.percent)))
            bar.setFormat(f"{budget.percent:.0f}%")
            bar.setAccessibleName(f"{budget.percent:.0f}% used")
            table.setCellWidget(row, 3, bar)
        for row, new in enumerate(self.added_budgets, start=len(kept)):
            text = _budget_text(new.period, new.scope, new.target, names)
            self._fill_budget_row(row, new, text, new.block)
            table.setItem(row, 1, _amount_item("—"))
            table.setItem(row, 2, _amount_item(money.format_usd(new.limit)))
            for column in (0, 1, 2, 4):  # in italics, as a change not yet made
                item = table.item(row, column)
                assert item is not None
                font = item.font()
                font.setItalic(True)
                item.setFont(font)
                item.setToolTip("Added to the list: OK or Apply saves it")
            bar = QProgressBar()
            bar.setRange(0, 100)
            bar.setValue(0)
            bar.setFormat("not saved")
            bar.setAccessibleName("not saved yet: OK or Apply saves it")
            table.setCellWidget(row, 3, bar)
        self.remove_budget_button.setEnabled(False)

    def _fill_budget_row(self, row: int, key: int | NewBudget, text: str, block: bool) -> None:
        label = QTableWidgetItem(text)
        label.setData(BUDGET_ID_ROLE, key)
        self.budget_table.setItem(row, 0, label)
        blocks = QTableWidgetItem("blocks" if block else "alerts")
        blocks.setToolTip(
            "Sending is refused once it is reached" if block else "Alerts only; sending goes on"
        )
        self.budget_table.setItem(row, 4, blocks)

    def _fill_targets(self) -> None:
        scope: str = self.budget_scope.currentData()
        combo = self.budget_target
        typed = combo.currentText()
        combo.clear()
        combo.setEnabled(scope != "all")
        combo.setEditable(scope == "model")
        if self.state is None or scope == "all":
            return
        if scope == "provider":
            for endpoint_id, name in self.state.providers:
                combo.addItem(name, endpoint_id)
        else:
            combo.addItems(list(self.state.models))
            combo.setEditText(typed)

    def budget_percents(self) -> list[str]:
        """The "used" text of each listed budget, top to bottom (``"0%"``...)."""
        table = self.budget_table
        shown = []
        for row in range(table.rowCount()):
            bar = table.cellWidget(row, 3)
            assert isinstance(bar, QProgressBar)
            shown.append(bar.text())
        return shown

    def has_changes(self) -> bool:
        """Whether OK or Apply has something to save (a half-typed amount counts: saving it
        says what is wrong with it)."""
        if self.state is None:
            return False
        if self.added_budgets or self.removed_budgets:
            return True
        return self._shown_settings() != _stored_settings(self.state)

    def _settings_untouched(self) -> bool:
        """The form shows the settings last read, or last saved: nobody is editing them."""
        if self.state is None:
            return True
        shown = self._shown_settings()
        return shown is not None and shown in (_stored_settings(self.state), self._saved)

    def _shown_settings(self) -> _Settings | None:
        """What the form says (``None``: something is half-typed)."""
        try:
            return self._settings()
        except InvalidAmount:
            return None

    def _settings(self) -> _Settings:
        """What the form says.

        Raises:
            InvalidAmount: an amount is not one, naming its field.
        """
        return (
            self.checking_box.isChecked(),
            self.start_balance.credits(),
            self.auto_refill_box.isChecked(),
            self.refill_amount.credits(),
            self.refill_every.value(),
            IntervalUnit(self.refill_unit.currentData()),  # Qt hands it back as a plain str
            self.low_balance.credits(),
        )

    def _watch_settings(self) -> None:
        """Apply is enabled while there is something to save."""
        for box in (self.checking_box, self.auto_refill_box):
            box.toggled.connect(self._update_buttons)
        for amount in (self.start_balance, self.refill_amount, self.low_balance):
            amount.edit.textChanged.connect(self._update_buttons)
            amount.unit.currentIndexChanged.connect(self._update_buttons)
        self.refill_every.valueChanged.connect(self._update_buttons)
        self.refill_unit.currentIndexChanged.connect(self._update_buttons)

    def _update_buttons(self) -> None:
        self.apply_button.setEnabled(not self._busy and self.has_changes())

    def _on_changes(self, _changes: Changes) -> None:
        self.refresh()

    def _on_load_finished(self, state: BalanceState) -> None:
        self._apply(state, rules=True)

    def _on_failed(self, error: BaseException) -> None:
        self._clear_after = None
        self._saved = None
        self._close_after = False
        self._set_busy(False)
        self._feedback.show_error(describe(error))

    def _on_budget_scope_current_index_changed(self, _index: int) -> None:
        self._fill_targets()

    def _on_budget_table_selection_changed(self) -> None:
        self.remove_budget_button.setEnabled(bool(self.budget_table.selectedItems()))

    # --- changing --------------------------------------------------------------------------

    def _on_add_credits_button_clicked(self) -> None:
        try:
            amount = self.top_up_amount.credits()
            assert amount is not None
            if amount == 0:
                raise InvalidAmount("Amount to add: enter an amount above zero.")
        except InvalidAmount as error:
            self._refuse(error, self.top_up_message)
            return
        self._clear_after = self.top_up_amount
        self._write(
            lambda session: entries.add_credits(session, amount),
            f"Added {money.format_usd(amount)} ({money.format_credits(amount)} credits).",
            where=self.top_up_message,
        )

    def _on_set_balance_button_clicked(self) -> None:
        try:
            target = self.set_balance_amount.credits()
            assert target is not None
        except InvalidAmount as error:
            self._refuse(error, self.top_up_message)
            return
        before = self.state.balance.credits if self.state is not None else None
        change = "" if before is None else f" ({_signed_usd(target - before)} recorded)"
        self._clear_after = self.set_balance_amount
        self._write(
            lambda session: balance.set_balance(session, target),
            f"The balance is now {money.format_usd(target)}{change}.",
            where=self.top_up_message,
        )

    def _on_add_budget_button_clicked(self) -> None:
        period: str = self.budget_period.currentData()
        scope: str = self.budget_scope.currentData()
        target: str | None = None
        if scope == "provider":
            target = self.budget_target.currentData()
        elif scope == "model":
            target = self.budget_target.currentText().strip()
        block = self.budget_block.isChecked()
        try:
            limit = self.budget_limit.credits()
            assert limit is not None
            if limit == 0:
                raise InvalidAmount("Budget limit: enter an amount above zero.")
            if scope != "all" and not target:
                raise InvalidAmount(f"A {scope} budget needs the {scope}'s name.")
        except InvalidAmount as error:
            self._refuse(error, self.budget_message, saving="Nothing was added")
            return
        self.added_budgets.append(NewBudget(period, limit, scope, target, block))
        if self.state is not None:
            self._fill_budgets(self.state)
        self.budget_limit.edit.clear()
        blocks = ", which blocks sending once reached," if block else ""
        self.budget_message.show_message(
            f"A budget of {money.format_usd(limit)}{blocks} is in the list: OK or Apply saves it."
        )
        self._update_buttons()

    def _on_remove_budget_button_clicked(self) -> None:
        selected = self.budget_table.selectedItems()
        if not selected:
            return
        item = self.budget_table.item(selected[0].row(), 0)
        assert item is not None
        key: int | NewBudget = item.data(BUDGET_ID_ROLE)
        text = item.text()  # the row goes with the refill below
        if isinstance(key, NewBudget):
            self.added_budgets.remove(key)
        else:
            self.removed_budgets.add(key)
        if self.state is not None:
            self._fill_budgets(self.state)
        self.budget_message.show_message(f"“{text}” is off the list: OK or Apply removes it.")
        self._update_buttons()

    def _on_ok_button_clicked(self) -> None:
        if not self.has_changes():
            self.accept()
            return
        self._save(close=True)

    def _on_apply_button_clicked(self) -> None:
        self._save(close=False)

    def _save(self, *, close: bool) -> None:
        """Save every setting and the budget list together, or nothing."""
        try:
            settings = self._settings()
        except InvalidAmount as error:
            self._refuse(error, self.saved_message)
            return
        enabled, start, auto_refill, refill, every, unit, threshold = settings
        added, removed = tuple(self.added_budgets), sorted(self.removed_budgets)

        def save(session: Session) -> None:
            balance.configure(
                session,
                enabled=enabled,
                start_balance=start,
                auto_refill_enabled=auto_refill,
                refill_amount=refill,
                refill_interval_value=every,
                refill_interval_unit=unit.value,
            )
            alerts.set_low_balance_threshold(session, threshold)
            for budget_id in removed:
                alerts.remove_budget(session, budget_id)
            for new in added:
                alerts.add_budget(
                    session, new.period, new.limit, new.scope, new.target, block=new.block
                )

        was_enabled = self.state is not None and self.state.balance.enabled
        said = "Saved."
        if enabled != was_enabled:
            said = (
                "Saved. Balance checking is on: a prompt the balance cannot cover is refused."
                if enabled
                else "Saved. Balance checking is off: spend is tracked and nothing is refused."
            )
        self._saved = settings  # refilled from the ledger unless edited again
        self._close_after = close
        self._write(save, said, where=self.saved_message)

    def _refuse(
        self, error: InvalidAmount, where: MessageLine, *, saving: str = "Nothing was saved"
    ) -> None:
        where.show_error(f"{error} {saving}.")

    def _write(
        self, change: Callable[[Session], object], message: str, *, where: MessageLine
    ) -> None:
        """Run ``change(session)`` in one write transaction; its commit brings the new state."""
        self._feedback = where
        self._set_busy(True)
        run_write(
            self.context, self, change, lambda _: self._on_write_finished(message), self._on_failed
        )

    def _on_write_finished(self, message: str) -> None:
        if self._clear_after is not None:
            self._clear_after.edit.clear()
            self._clear_after = None
        if self._feedback is self.saved_message:
            self.added_budgets.clear()
            self.removed_budgets.clear()
            self.refresh()  # the budgets as stored now, without waiting for the announcement
        for line in (
            self.message,
            self.top_up_message,
            self.rules_message,
            self.budget_message,
            self.saved_message,
        ):
            line.clear()
        self._feedback.show_success(message)
        self._set_busy(False)
        if self._close_after:
            self.accept()

    def _set_busy(self, busy: bool) -> None:
        """Keep the buttons still while a change is being written (one at a time)."""
        self._busy = busy
        for widget in (
            self.add_credits_button,
            self.set_balance_button,
            self.add_budget_button,
            self.ok_button,
        ):
            widget.setEnabled(not busy)
        self._update_buttons()


def _stored_settings(state: BalanceState) -> _Settings:
    view = state.balance
    return (
        view.enabled,
        view.start_balance,
        view.auto_refill_enabled,
        view.refill_amount,
        view.refill_interval_value,
        view.refill_interval_unit,
        state.low_balance,
    )


def _amount_item(text: str) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


def _signed_usd(credits: Decimal) -> str:
    """``+$2.50``, ``-$0.40``: a change of the balance."""
    return ("-" if credits < 0 else "+") + money.format_usd(abs(credits))


def _budget_text(
    period: str, scope: str, target: str | None, provider_names: dict[str, str]
) -> str:
    every = "Daily" if period == "day" else "Monthly"
    if scope == "provider" and target:
        return f"{every}: {provider_names.get(target, target)}"
    if scope == "model" and target:
        return f"{every}: {target}"
    return f"{every}: all spend"


def _next_refill(view: BalanceView) -> str:
    if not view.auto_refill_enabled:
        return "Auto-refill is off."
    due = view.next_refill_at
    if due is None:
        return "Refills at the next check that finds the balance short."
    return f"Next refill possible from {due:%Y-%m-%d %H:%M} UTC."
