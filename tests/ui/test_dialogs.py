"""The keys, prices and balance dialogs, driven as a user would, against a real ledger file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import keyring
import keyring.errors
import pytest
import shiboken6
from keyring.backends import fail
from PySide6.QtWidgets import QDialog, QLabel, QLineEdit
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from app.core import keys, redaction
from app.core.ledger import alerts, balance, entries
from app.core.pricing import prices
from app.core.pricing.prices import RateOverride
from app.core.providers import registry
from app.core.storage.db import Database
from app.core.storage.models import Transaction
from app.servers.emulator import Emulator
from app.ui.context import AppContext
from app.ui.dialogs import BalanceDialog, KeysDialog, PricesDialog, widgets
from app.ui.dialogs.widgets import AmountUnit, Tone
from tests.support.memory_keyring import MemoryKeyring

pytestmark = pytest.mark.gui

SECRET = "sk-test-DIALOG-0123456789abcdefghij"
WAIT_MS = 10_000


def _announced(qtbot: QtBot, dialog: Any, kind: str) -> Any:
    """Wait for a commit that changed ``kind`` (ledger, settings...), whoever announced it."""
    return qtbot.waitSignal(
        dialog.context.events.changed,
        timeout=WAIT_MS,
        check_params_cb=lambda changes: bool(getattr(changes, kind)),
    )


@contextmanager
def _nothing_announced(qtbot: QtBot, dialog: Any, kind: str) -> Iterator[None]:
    """No commit changed ``kind`` while the block ran, nor in the 200 ms after it."""
    seen: list[Any] = []
    dialog.context.events.changed.connect(seen.append)
    try:
        yield
        qtbot.wait(200)
    finally:
        dialog.context.events.changed.disconnect(seen.append)
    assert not [changes for changes in seen if getattr(changes, kind)]


D = TypeVar("D", KeysDialog, PricesDialog, BalanceDialog)


@pytest.fixture(autouse=True)
def no_keys_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own OPENAI_API_KEY... must not show up in these tests."""
    for variables in redaction.ENVIRONMENT_FALLBACK.values():
        for variable in variables:
            monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def open_dialog(qtbot: QtBot, context: AppContext) -> Iterator[Callable[[type[D]], D]]:
    """Build a dialog, show it, and wait for its first read; closed again after the test."""
    opened: list[QDialog] = []

    def make(cls: type[D]) -> D:
        dialog = cls(context)
        opened.append(dialog)
        with qtbot.waitSignal(dialog.refreshed, timeout=WAIT_MS):
            dialog.show()
        return dialog

    yield make
    for dialog in opened:
        if shiboken6.isValid(dialog):
            dialog.close()


def shown_text(dialog: QDialog) -> str:
    """Every piece of text the dialog shows or holds in a field."""
    labels = [label.text() for label in dialog.findChildren(QLabel)]
    fields = [edit.text() for edit in dialog.findChildren(QLineEdit)]
    return "\n".join(labels + fields)


# --- keys ------------------------------------------------------------------------------------


def test_a_key_entered_goes_to_the_key_store_and_only_its_tail_is_shown(
    qtbot: QtBot,
    open_dialog: Callable[[type[KeysDialog]], KeysDialog],
    memory_keyring: MemoryKeyring,
) -> None:
    dialog = open_dialog(KeysDialog)
    row = dialog.rows["openai"]
    assert row.state.text() == "No key"
    assert not dialog.banner.isVisible()
    row.enter_button.click()
    assert row.editor.isVisible()
    assert row.key_edit.echoMode() == QLineEdit.EchoMode.Password
    qtbot.keyClicks(row.key_edit, SECRET)

    with (
        _announced(qtbot, dialog, "settings"),
        qtbot.waitSignal(dialog.refreshed, timeout=WAIT_MS),
    ):
        row.save_button.click()

    assert memory_keyring.secrets == {("Tallybook", "openai"): SECRET}
    row = dialog.rows["openai"]
    assert row.state.text() == "Saved in the key store …ghij"
    assert row.enter_button.text() == "Replace…"
    assert "saved in the key store (…ghij)" in dialog.message.text()
    assert SECRET not in shown_text(dialog)


def test_removing_a_key_asks_first(
    qtbot: QtBot,
    open_dialog: Callable[[type[KeysDialog]], KeysDialog],
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keys.set_key("anthropic", SECRET)
    dialog = open_dialog(KeysDialog)
    assert dialog.rows["anthropic"].remove_button.isVisible()
    answers = [False, True]
    asked: list[str] = []

    def confirm(_parent: Any, _title: str, text: str, _action: str) -> bool:
        asked.append(text)
        return answers.pop(0)

    monkeypatch.setattr(widgets, "confirm", confirm)
    with qtbot.assertNotEmitted(dialog.refreshed, wait=100):
        dialog.rows["anthropic"].remove_button.click()  # cancelled
    assert keys.get_key("anthropic") is not None

    with qtbot.waitSignal(dialog.refreshed, timeout=WAIT_MS):
        dialog.rows["anthropic"].remove_button.click()
    assert "Remove the Anthropic key" in asked[0]
    assert memory_keyring.secrets == {}
    assert dialog.rows["anthropic"].state.text() == "No key"
    assert not dialog.rows["anthropic"].remove_button.isVisible()


def test_a_key_from_the_environment_is_shown_by_its_variable(
    open_dialog: Callable[[type[KeysDialog]], KeysDialog], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    dialog = open_dialog(KeysDialog)
    assert dialog.rows["openai"].state.text() == "From $OPENAI_API_KEY …ghij"
    assert not dialog.rows["openai"].remove_button.isVisible()  # not ours to remove
    assert SECRET not in shown_text(dialog)


def test_without_a_key_store_it_says_so_and_writes_the_key_nowhere(
    qtbot: QtBot,
    open_dialog: Callable[[type[KeysDialog]], KeysDialog],
    memory_keyring: MemoryKeyring,
    db: Database,
    tmp_path: Path,
) -> None:
    keyring.set_keyring(fail.Keyring())
    dialog = open_dialog(KeysDialog)
    assert dialog.banner.isVisible()
    banner = dialog.banner.label.text()
    assert "No OS key store is available" in banner
    assert "OPENAI_API_KEY" in banner and "offline demo needs none" in banner
    row = dialog.rows["openai"]
    assert not row.enter_button.isEnabled()

    # Even with the editor forced open, a save is refused and nothing is written anywhere.
    row.editor.show()
    row.key_edit.setText(SECRET)
    with qtbot.waitSignal(dialog.refreshed, timeout=WAIT_MS):
        row.save_button.click()
    assert dialog.message.tone is Tone.ERROR
    assert "No OS key store" in dialog.message.text()
    assert memory_keyring.secrets == {}
    assert keys.get_key("openai") is None
    for path in tmp_path.glob("ledger.sqlite3*"):
        assert SECRET.encode() not in path.read_bytes()


class RefusingKeyring(MemoryKeyring):
    """A key store that exists but refuses writes (locked, or access denied)."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.PasswordSetError("locked")


def test_a_key_store_that_refuses_a_save_is_reported_and_saving_stops(
    qtbot: QtBot, open_dialog: Callable[[type[KeysDialog]], KeysDialog]
) -> None:
    store = RefusingKeyring()
    keyring.set_keyring(store)
    dialog = open_dialog(KeysDialog)
    assert not dialog.banner.isVisible()
    row = dialog.rows["gemini"]
    row.enter_button.click()
    row.key_edit.setText(SECRET)
    with qtbot.waitSignal(dialog.refreshed, timeout=WAIT_MS):
        row.save_button.click()
    assert dialog.banner.isVisible()
    assert "refused" in dialog.banner.label.text()
    assert not dialog.rows["gemini"].enter_button.isEnabled()
    assert store.secrets == {}


def test_the_offline_demo_needs_no_key_and_its_test_succeeds(
    qtbot: QtBot,
    open_dialog: Callable[[type[KeysDialog]], KeysDialog],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with Emulator() as emulator:
        monkeypatch.setattr(registry, "_demo", lambda: emulator.url)  # owned by this test
        dialog = open_dialog(KeysDialog)
        row = dialog.rows["demo"]
        assert row.state.text() == "Needs no key"
        assert not row.enter_button.isVisibleTo(dialog)
        with qtbot.waitSignal(dialog.key_tested, timeout=WAIT_MS) as tested:
            row.test_button.click()
        assert tested.args == ["demo"]
        assert row.result.tone is Tone.SUCCESS
        assert row.result.text().startswith("Offline demo answers: ")
        assert row.test_button.isEnabled()


def test_without_a_key_there_is_nothing_to_test_until_one_is_typed(
    qtbot: QtBot, open_dialog: Callable[[type[KeysDialog]], KeysDialog]
) -> None:
    dialog = open_dialog(KeysDialog)
    row = dialog.rows["mistral"]
    assert not row.test_button.isEnabled()
    assert "No key to test yet: enter one first" in row.test_button.toolTip()
    row.enter_button.click()
    qtbot.keyClicks(row.key_edit, SECRET)
    assert row.test_button.isEnabled()
    row.key_edit.clear()
    assert not row.test_button.isEnabled()


def test_an_endpoint_can_be_added_refused_and_forgotten(
    qtbot: QtBot,
    open_dialog: Callable[[type[KeysDialog]], KeysDialog],
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dialog = open_dialog(KeysDialog)
    dialog.add_button.click()
    assert dialog.add_form.isVisible()
    dialog.endpoint_name.setText("Local llama")
    dialog.endpoint_url.setText("ftp://nowhere")
    dialog.add_save_button.click()
    qtbot.waitUntil(lambda: dialog.add_message.tone is Tone.ERROR, timeout=WAIT_MS)
    assert "is not an http(s) URL" in dialog.add_message.text()

    dialog.endpoint_url.setText("http://127.0.0.1:8080/v1")
    dialog.endpoint_protocol.setCurrentIndex(2)  # Gemini
    dialog.add_save_button.click()
    # Reads run beside the write: a refresh begun earlier may answer first, so wait for the row.
    qtbot.waitUntil(lambda: "custom-local-llama" in dialog.rows, timeout=WAIT_MS)
    assert not dialog.add_form.isVisible()
    row = dialog.rows["custom-local-llama"]
    assert row.state.text() == "No key"
    with db.read() as session:
        added = registry.get_endpoint(session, "custom-local-llama")
    assert (added.api, added.base_url) == ("gemini", "http://127.0.0.1:8080/v1")

    monkeypatch.setattr(widgets, "confirm", lambda *_: True)
    assert row.forget_button is not None
    with qtbot.waitSignal(dialog.refreshed, timeout=WAIT_MS):
        row.forget_button.click()
    assert "custom-local-llama" not in dialog.rows
    assert set(dialog.rows) == {e.id for e in registry.BUILTIN}


# --- prices ----------------------------------------------------------------------------------


def source_shown(dialog: PricesDialog, model: str) -> list[str]:
    proxy = dialog.proxy
    return [
        str(proxy.index(row, 6).data())
        for row in range(proxy.rowCount())
        if proxy.index(row, 1).data() == model
    ]


def test_a_valid_override_is_stored_and_shown_as_user_override(
    qtbot: QtBot, open_dialog: Callable[[type[PricesDialog]], PricesDialog], db: Database
) -> None:
    dialog = open_dialog(PricesDialog)
    assert source_shown(dialog, "gpt-4.1")[0].startswith("genai-prices ")
    assert dialog.select_model("gpt-4.1")
    assert dialog.override_model.text() == "gpt-4.1"
    assert dialog.override_edits["prompt"].placeholderText() == "2"
    dialog.override_edits["prompt"].setText("1.5")
    dialog.override_edits["completion"].setText("8.125")
    with (
        _announced(qtbot, dialog, "settings"),
        qtbot.waitSignal(dialog.refreshed, timeout=WAIT_MS),
    ):
        dialog.save_override_button.click()

    with db.read() as session:
        assert prices.list_overrides(session) == [
            RateOverride("gpt-4.1", Decimal("1.5"), Decimal("8.125"))
        ]
    assert set(source_shown(dialog, "gpt-4.1")) == {"user override"}
    row = dialog.rows_for("gpt-4.1")[0]
    assert (row.rates.prompt, row.rates.completion) == (Decimal("1.5"), Decimal("8.125"))
    assert dialog.remove_override_button.isEnabled()

    with qtbot.waitSignal(dialog.refreshed, timeout=WAIT_MS):
        dialog.remove_override_button.click()
    with db.read() as session:
        assert prices.list_overrides(session) == []
    assert source_shown(dialog, "gpt-4.1")[0].startswith("genai-prices ")


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("-1", "a rate cannot be negative"),
        ("0.1234567", "at most 6 decimals"),
        ("cheap", "is not a rate"),
    ],
)
def test_an_invalid_rate_is_explained_and_nothing_is_stored(
    qtbot: QtBot,
    open_dialog: Callable[[type[PricesDialog]], PricesDialog],
    db: Database,
    typed: str,
    said: str,
) -> None:
    dialog = open_dialog(PricesDialog)
    dialog.select_model("gpt-4o-mini")
    dialog.override_edits["completion"].setText(typed)
    with _nothing_announced(qtbot, dialog, "settings"):
        dialog.save_override_button.click()
    assert dialog.message.tone is Tone.ERROR
    assert said in dialog.message.text()
    assert dialog.message.text().startswith("Completion rate: ")
    assert "Nothing was saved" in dialog.message.text()
    with db.read() as session:
        assert prices.list_overrides(session) == []


def test_default_rates_price_unknown_models_and_the_filter_finds_them(
    qtbot: QtBot, open_dialog: Callable[[type[PricesDialog]], PricesDialog], db: Database
) -> None:
    dialog = open_dialog(PricesDialog)
    assert dialog.default_prompt.text() == "10"
    dialog.default_prompt.setText("1")
    dialog.default_completion.setText("3.5")
    with qtbot.waitSignal(dialog.refreshed, timeout=WAIT_MS):
        dialog.save_default_button.click()
    with db.read() as session:
        default = prices.default_rates(session)
    assert (default.prompt, default.completion) == (Decimal(1), Decimal("3.5"))

    qtbot.keyClicks(dialog.filter_edit, "unknown")
    proxy = dialog.proxy
    assert proxy.rowCount() > 0
    for row in range(proxy.rowCount()):
        assert proxy.index(row, 6).data() == prices.DEFAULT_SOURCE
        assert (proxy.index(row, 2).data(), proxy.index(row, 3).data()) == ("1", "3.5")
    assert any(proxy.index(row, 1).data() == "llama3.2" for row in range(proxy.rowCount()))


def test_price_table_model_passes_qt_model_checks(
    open_dialog: Callable[[type[PricesDialog]], PricesDialog], qtmodeltester: ModelTester
) -> None:
    dialog = open_dialog(PricesDialog)
    assert dialog.model.rowCount() > 20
    qtmodeltester.check(dialog.model, force_py=True)


# --- balance ---------------------------------------------------------------------------------


def credit_rows(db: Database) -> list[tuple[Decimal, str]]:
    with db.read() as session:
        rows = session.execute(
            select(Transaction.token_value, Transaction.context).where(
                Transaction.token_type == "credits"
            )
        )
        return [(value, context) for value, context in rows]


def test_adding_five_dollars_records_a_credits_transaction(
    qtbot: QtBot, open_dialog: Callable[[type[BalanceDialog]], BalanceDialog], db: Database
) -> None:
    dialog = open_dialog(BalanceDialog)
    assert dialog.balance_label.text() == "$0.00"
    assert dialog.top_up_amount.current_unit() is AmountUnit.USD
    qtbot.keyClicks(dialog.top_up_amount.edit, "5")
    with (
        _announced(qtbot, dialog, "ledger"),
        qtbot.waitSignal(dialog.refreshed, timeout=WAIT_MS),
    ):
        dialog.add_credits_button.click()
    assert dialog.balance_label.text() == "$5.00"
    assert dialog.credits_label.text().startswith("5,000,000 credits")
    assert dialog.top_up_amount.edit.text() == ""
    assert dialog.top_up_message.text() == "Added $5.00 (5,000,000 credits)."
    assert credit_rows(db) == [(Decimal(5_000_000), "top-up")]


def test_enter_in_the_amount_field_adds_credits_once(
    qtbot: QtBot, open_dialog: Callable[[type[BalanceDialog]], BalanceDialog], db: Database
) -> None:
    dialog = open_dialog(BalanceDialog)
    dialog.top_up_amount.set_unit(AmountUnit.CREDITS)
    qtbot.keyClicks(dialog.top_up_amount.edit, "1500")
    with qtbot.waitSignal(dialog.refreshed, timeout=WAIT_MS):
        qtbot.keyClick(dialog.top_up_amount.edit, "\r")
    with qtbot.assertNotEmitted(dialog.refreshed, wait=200):
        pass  # a second add, from the dialog's default button, would show here
    assert credit_rows(db) == [(Decimal(1500), "top-up")]
    assert dialog.isVisible()  # Enter did not close the dialog either


@pytest.mark.parametrize(
    ("unit", "typed", "said"),
    [
        (AmountUnit.USD, "-5", "must not be negative"),
        (AmountUnit.USD, "five", "is not a dollar amount"),
        (AmountUnit.USD, "0", "above zero"),
        (AmountUnit.CREDITS, "0.0000001", "more than 6 decimals"),
        (AmountUnit.USD, "", "enter an amount"),
    ],
)
def test_an_invalid_amount_is_explained_and_nothing_is_stored(
    qtbot: QtBot,
    open_dialog: Callable[[type[BalanceDialog]], BalanceDialog],
    db: Database,
    unit: AmountUnit,
    typed: str,
    said: str,
) -> None:
    dialog = open_dialog(BalanceDialog)
    dialog.top_up_amount.set_unit(unit)
    dialog.top_up_amount.edit.setText(typed)
    with _nothing_announced(qtbot, dialog, "ledger"):
        dialog.add_credits_button.click()
    assert dialog.top_up_message.tone is Tone.ERROR
    assert dialog.top_up_message.text().startswith("Amount to add: ")
    assert said in dialog.top_up_message.text()
    assert credit_rows(db) == []
    assert dialog.balance_label.text() == "$0.00"


def test_a_monthly_budget_is_listed_with_zero_percent_and_can_be_removed(
    qtbot: QtBot, open_dialog: Callable[[type[BalanceDialog]], BalanceDialog], db: Database
) -> None:
    dialog = open_dialog(BalanceDialog)
    assert dialog.budget_period.currentData() == "month"
    assert not dialog.apply_button.isEnabled()  # nothing to save yet
    dialog.budget_limit.edit.setText("10")
    with _nothing_announced(qtbot, dialog, "settings"):
        dialog.add_budget_button.click()  # into the list; saved by OK or Apply
    table = dialog.budget_table
    assert table.item(0, 0).text() == "Monthly: all spend"  # type: ignore[union-attr]
    assert dialog.budget_percents() == ["not saved"]
    assert dialog.apply_button.isEnabled()
    with qtbot.waitSignal(dialog.refreshed, timeout=WAIT_MS):
        dialog.apply_button.click()
    assert table.rowCount() == 1
    assert table.item(0, 2).text() == "$10.00"  # type: ignore[union-attr]
    assert dialog.budget_percents() == ["0%"]
    assert dialog.saved_message.text() == "Saved."
    assert not dialog.apply_button.isEnabled()
    with db.read() as session:
        (stored,) = alerts.budgets(session)
    assert (stored.period, stored.scope, stored.limit) == ("month", "all", Decimal(10_000_000))

    table.selectRow(0)
    dialog.remove_budget_button.click()
    assert table.rowCount() == 0
    with qtbot.waitSignal(dialog.refreshed, timeout=WAIT_MS):
        dialog.apply_button.click()
    assert table.rowCount() == 0
    with db.read() as session:
        assert alerts.budgets(session) == []


def test_a_model_budget_needs_its_model(
    qtbot: QtBot, open_dialog: Callable[[type[BalanceDialog]], BalanceDialog], db: Database
) -> None:
    dialog = open_dialog(BalanceDialog)
    dialog.budget_period.setCurrentIndex(1)  # daily
    dialog.budget_scope.setCurrentIndex(2)  # one model
    assert dialog.budget_target.isEnabled() and dialog.budget_target.isEditable()
    dialog.budget_target.setEditText("")
    dialog.budget_limit.edit.setText("1")
    dialog.add_budget_button.click()
    assert dialog.budget_message.tone is Tone.ERROR
    assert "needs the model's name" in dialog.budget_message.text()

    assert dialog.budget_table.rowCount() == 0

    dialog.budget_target.setEditText("gpt-4o")
    dialog.add_budget_button.click()
    with qtbot.waitSignal(dialog.refreshed, timeout=WAIT_MS):
        dialog.apply_button.click()
    assert dialog.budget_table.item(0, 0).text() == "Daily: gpt-4o"  # type: ignore[union-attr]
    with db.read() as session:
        (stored,) = alerts.budgets(session)
    assert (stored.period, stored.scope, stored.target) == ("day", "model", "gpt-4o")


def test_balance_rules_are_saved_together_or_not_at_all(
    qtbot: QtBot, open_dialog: Callable[[type[BalanceDialog]], BalanceDialog], db: Database
) -> None:
    dialog = open_dialog(BalanceDialog)
    dialog.auto_refill_box.setChecked(True)
    dialog.refill_amount.edit.setText("2")
    dialog.refill_every.setValue(1)
    dialog.refill_unit.setCurrentIndex(dialog.refill_unit.findText("weeks"))
    dialog.low_balance.edit.setText("oops")
    with _nothing_announced(qtbot, dialog, "settings"):
        dialog.apply_button.click()
    assert dialog.saved_message.text().startswith("Low-balance alert: ")
    assert dialog.saved_message.text().endswith("Nothing was saved.")
    with db.read() as session:
        assert not balance.get_balance(session).auto_refill_enabled

    dialog.low_balance.set_unit(AmountUnit.CREDITS)
    dialog.low_balance.edit.setText("1500000")
    with (
        _announced(qtbot, dialog, "settings"),
        qtbot.waitSignal(dialog.refreshed, timeout=WAIT_MS),  # ready for the next save
    ):
        dialog.apply_button.click()
    with db.read() as session:
        view = balance.get_balance(session)
        threshold = alerts.low_balance_threshold(session)
    assert view.auto_refill_enabled
    assert view.refill_amount == Decimal(2_000_000)
    assert (view.refill_interval_value, view.refill_interval_unit) == (1, "weeks")
    assert threshold == Decimal(1_500_000)

    dialog.low_balance.edit.clear()  # empty: no low-balance alert
    with _announced(qtbot, dialog, "settings"):
        dialog.apply_button.click()
    with db.read() as session:
        assert alerts.low_balance_threshold(session) is None


def test_turning_checking_on_grants_the_start_balance(
    qtbot: QtBot, open_dialog: Callable[[type[BalanceDialog]], BalanceDialog], db: Database
) -> None:
    with db.write() as session:
        balance.configure(session, start_balance=Decimal(3_000_000))
    dialog = open_dialog(BalanceDialog)
    assert not dialog.checking_box.isChecked()
    with _nothing_announced(qtbot, dialog, "ledger"):
        dialog.checking_box.click()  # saved by OK or Apply, as every setting here
    with qtbot.waitSignal(dialog.refreshed, timeout=WAIT_MS):
        dialog.apply_button.click()
    assert dialog.checking_box.isChecked()
    assert dialog.saved_message.text().startswith("Saved. Balance checking is on")
    assert dialog.balance_label.text() == "$3.00"
    assert "checking on" in dialog.credits_label.text()
    assert credit_rows(db) == [(Decimal(3_000_000), "start-balance")]


def test_the_balance_can_be_set_to_a_figure_and_the_difference_is_recorded(
    qtbot: QtBot, open_dialog: Callable[[type[BalanceDialog]], BalanceDialog], db: Database
) -> None:
    with db.write() as session:
        entries.add_credits(session, Decimal(5_000_000))
    dialog = open_dialog(BalanceDialog)
    assert dialog.balance_label.text() == "$5.00"
    qtbot.keyClicks(dialog.set_balance_amount.edit, "12.40")
    with qtbot.waitSignal(dialog.refreshed, timeout=WAIT_MS):
        dialog.set_balance_button.click()
    assert dialog.balance_label.text() == "$12.40"
    assert dialog.top_up_message.text() == "The balance is now $12.40 (+$7.40 recorded)."
    assert dialog.set_balance_amount.edit.text() == ""
    dialog.set_balance_amount.edit.setText("2")
    with qtbot.waitSignal(dialog.refreshed, timeout=WAIT_MS):
        qtbot.keyClick(dialog.set_balance_amount.edit, "\r")
    assert dialog.top_up_message.text() == "The balance is now $2.00 (-$10.40 recorded)."
    assert credit_rows(db) == [
        (Decimal(5_000_000), "top-up"),
        (Decimal(7_400_000), "set-balance"),
        (Decimal(-10_400_000), "set-balance"),
    ]


def test_setting_the_balance_to_nonsense_changes_nothing(
    qtbot: QtBot, open_dialog: Callable[[type[BalanceDialog]], BalanceDialog], db: Database
) -> None:
    dialog = open_dialog(BalanceDialog)
    dialog.set_balance_amount.edit.setText("lots")
    with _nothing_announced(qtbot, dialog, "ledger"):
        dialog.set_balance_button.click()
    assert dialog.top_up_message.tone is Tone.ERROR
    assert dialog.top_up_message.text().startswith("Set balance to: ")
    assert credit_rows(db) == []


def test_a_budget_can_block_sending_at_100_percent(
    qtbot: QtBot, open_dialog: Callable[[type[BalanceDialog]], BalanceDialog], db: Database
) -> None:
    dialog = open_dialog(BalanceDialog)
    dialog.budget_limit.edit.setText("10")
    dialog.budget_block.setChecked(True)
    dialog.add_budget_button.click()
    assert dialog.budget_message.text() == (
        "A budget of $10.00, which blocks sending once reached, is in the list: "
        "OK or Apply saves it."
    )
    dialog.budget_limit.edit.setText("1")
    dialog.budget_block.setChecked(False)
    dialog.add_budget_button.click()
    with qtbot.waitSignal(dialog.refreshed, timeout=WAIT_MS):
        dialog.apply_button.click()
    shown = [dialog.budget_table.item(row, 4).text() for row in range(2)]  # type: ignore[union-attr]
    assert shown == ["blocks", "alerts"]
    assert dialog.budget_table.horizontalHeaderItem(4).text() == "At 100%"  # type: ignore[union-attr]
    with db.read() as session:
        assert [(b.limit, b.block) for b in alerts.budgets(session)] == [
            (Decimal(10_000_000), True),
            (Decimal(1_000_000), False),
        ]


def test_cancel_discards_every_edit_and_ok_saves_them_all_and_closes(
    qtbot: QtBot, open_dialog: Callable[[type[BalanceDialog]], BalanceDialog], db: Database
) -> None:
    with db.write() as session:
        kept = alerts.add_budget(session, "day", Decimal(1_000_000))
    dialog = open_dialog(BalanceDialog)

    def edit(opened: BalanceDialog) -> None:
        opened.checking_box.setChecked(True)
        opened.start_balance.edit.setText("4")
        opened.low_balance.edit.setText("1")
        opened.budget_table.selectRow(0)
        opened.remove_budget_button.click()
        opened.budget_limit.edit.setText("10")
        opened.add_budget_button.click()

    edit(dialog)
    with (
        _nothing_announced(qtbot, dialog, "settings"),
        _nothing_announced(qtbot, dialog, "ledger"),
        qtbot.waitSignal(dialog.finished, timeout=WAIT_MS),  # closed
    ):
        dialog.cancel_button.click()
    with db.read() as session:
        view = balance.get_balance(session)
        assert (view.enabled, view.start_balance) == (False, Decimal(0))
        assert alerts.low_balance_threshold(session) is None
        assert [b.id for b in alerts.budgets(session)] == [kept]

    again = open_dialog(BalanceDialog)  # shows what is stored, none of the discarded edits
    assert not again.checking_box.isChecked() and again.low_balance.edit.text() == ""
    assert again.budget_table.item(0, 0).text() == "Daily: all spend"  # type: ignore[union-attr]
    edit(again)
    with qtbot.waitSignal(again.finished, timeout=WAIT_MS):
        again.ok_button.click()
    with db.read() as session:
        view = balance.get_balance(session)
        assert (view.enabled, view.start_balance) == (True, Decimal(4_000_000))
        assert alerts.low_balance_threshold(session) == Decimal(1_000_000)
        assert [(b.period, b.limit) for b in alerts.budgets(session)] == [
            ("month", Decimal(10_000_000))
        ]
    assert credit_rows(db) == [(Decimal(4_000_000), "start-balance")]


def test_switching_the_unit_converts_what_was_typed(qtbot: QtBot) -> None:
    amount = widgets.AmountEdit("Amount")
    qtbot.addWidget(amount)
    amount.edit.setText("5.25")
    amount.set_unit(AmountUnit.CREDITS)
    assert amount.edit.text() == "5250000"
    assert amount.credits() == Decimal(5_250_000)
    amount.edit.setText("nonsense")
    amount.set_unit(AmountUnit.USD)
    assert amount.edit.text() == "nonsense"  # left for the user to fix
