"""The Prices dialog asks before saving a rate that looks like a slip, and refuses one no price
comes near."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import shiboken6
from PySide6.QtWidgets import QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from app.core.pricing import prices
from app.core.pricing.prices import RateOverride
from app.core.storage.db import Database
from app.ui.context import AppContext
from app.ui.dialogs import PricesDialog
from app.ui.dialogs import prices as prices_dialog
from app.ui.dialogs.widgets import Tone

pytestmark = pytest.mark.gui

WAIT_MS = 10_000


@pytest.fixture
def dialog(qtbot: QtBot, context: AppContext) -> Iterator[PricesDialog]:
    shown = PricesDialog(context)
    with qtbot.waitSignal(shown.refreshed, timeout=WAIT_MS):
        shown.show()
    yield shown
    if shiboken6.isValid(shown):
        shown.close()


def overrides(db: Database) -> list[RateOverride]:
    with db.read() as session:
        return prices.list_overrides(session)


def test_a_cache_read_far_above_the_table_is_saved_only_once_confirmed(
    qtbot: QtBot, dialog: PricesDialog, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = [False, True]
    asked: list[tuple[str, tuple[str, ...]]] = []

    def ask(_parent: QWidget, model: str, reasons: tuple[str, ...]) -> bool:
        asked.append((model, reasons))
        return answers.pop(0)

    monkeypatch.setattr(prices_dialog, "ask_to_save", ask)
    dialog.override_model.setText("gpt-4o")
    dialog.override_edits["cache_read"].setText("500000")
    dialog.save_override_button.click()  # answered No
    assert overrides(db) == []
    assert dialog.message.tone is Tone.ERROR
    assert "Nothing was saved" in dialog.message.text()
    model, reasons = asked[0]
    assert model == "gpt-4o"
    assert "400,000x the price table's" in reasons[0]
    assert "more than the prompt it stands in for" in reasons[1]

    with qtbot.waitSignal(dialog.refreshed, timeout=WAIT_MS):
        dialog.save_override_button.click()  # answered Yes
    assert overrides(db) == [RateOverride("gpt-4o", cache_read=Decimal(500_000))]


def test_an_ordinary_override_is_saved_without_a_question(
    qtbot: QtBot, dialog: PricesDialog, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    def ask(*_args: Any) -> bool:
        raise AssertionError("asked about a plausible rate")

    monkeypatch.setattr(prices_dialog, "ask_to_save", ask)
    dialog.override_model.setText("gpt-4o")
    dialog.override_edits["prompt"].setText("3")
    with qtbot.waitSignal(dialog.refreshed, timeout=WAIT_MS):
        dialog.save_override_button.click()
    assert overrides(db) == [RateOverride("gpt-4o", prompt=Decimal(3))]


def test_a_rate_above_a_million_dollars_per_million_tokens_is_refused(
    qtbot: QtBot, dialog: PricesDialog, db: Database
) -> None:
    dialog.override_model.setText("testm")
    dialog.override_edits["prompt"].setText("999999999")
    dialog.save_override_button.click()
    assert dialog.message.tone is Tone.ERROR
    assert dialog.message.text().startswith("Prompt rate: the rate 999,999,999 is above")
    assert "Nothing was saved" in dialog.message.text()
    assert overrides(db) == []


def test_the_question_gives_each_reason_and_defaults_to_no(dialog: PricesDialog) -> None:
    reasons = ("The cache read rate is far too dear.", "A cache read would cost more.")
    box = prices_dialog.doubt_box(dialog, "gpt-4o", reasons)
    assert "gpt-4o" in box.text()
    assert box.informativeText() == "\n\n".join(reasons)
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.No)
    assert box.icon() is QMessageBox.Icon.Warning
