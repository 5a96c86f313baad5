from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from app.core import ledger
from app.core.clock import utcnow
from app.core.db import Database
from app.ui.main_window import MainWindow
from tests.factories import spend

pytestmark = pytest.mark.gui


def test_window_shows_the_balance_and_spend_read_in_the_background(
    qtbot: QtBot, db: Database
) -> None:
    with db.write() as session:
        ledger.add_credits(session, Decimal(5_000_000))
        ledger.spend_tokens(session, spend(137, 0), now=utcnow() - timedelta(days=1))
    window = MainWindow(db)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.refreshed, timeout=10_000):
        window.show()
    assert "$4.9998" in window.balance_label.text()
    assert window.by_day.rowCount() == 1
    assert window.by_model.data(window.by_model.index(0, 5)) == "$0.0002"


def test_report_model_passes_qt_model_checks(
    qtbot: QtBot, db: Database, qtmodeltester: ModelTester
) -> None:
    with db.write() as session:
        for days in range(3):
            ledger.spend_tokens(
                session, spend(100 * days + 1, 5), now=utcnow() - timedelta(days=days)
            )
    window = MainWindow(db)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.refreshed, timeout=10_000):
        pass
    assert window.by_day.rowCount() == 3
    qtmodeltester.check(window.by_day, force_py=True)
