"""The alert banner: most severe first, its remedy as a button, the list of all, one line high."""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtWidgets import QPushButton
from pytestqt.qtbot import QtBot

from app.core.errors import BudgetReached, InsufficientBalance, Remedy
from app.core.ledger import alerts, balance, entries
from app.core.ledger.alerts import Alert, Level
from app.core.storage.db import Database
from app.ui.alerts import AlertBanner, send_warning
from app.ui.errors import describe

ANOMALY = Alert("anomaly-cost:7", Level.WARNING, "An unusually expensive request", "It cost $1.")
FULL = Alert(
    "budget:1:2026-03:100",
    Level.CRITICAL,
    "Monthly budget: 100% reached",
    "$0.22 of $0.22 spent (100%).",
    Remedy.BUDGETS,
)
LOW = Alert(
    "low-balance", Level.WARNING, "Low balance", "The balance is $0.10.", Remedy.ADD_CREDITS
)


def _banner(qtbot: QtBot) -> AlertBanner:
    banner = AlertBanner()
    qtbot.addWidget(banner)
    banner.resize(900, banner.height())
    return banner


def test_the_most_severe_alert_is_shown_whatever_came_last(qtbot: QtBot) -> None:
    banner = _banner(qtbot)
    banner.show_alert(FULL)
    banner.show_alert(ANOMALY)  # later, and milder: it is counted, not shown
    assert banner.isVisible()
    assert "Monthly budget: 100% reached" in banner.text.text()
    assert banner.more_button.isVisible() and banner.more_button.text() == "+1 more"
    assert banner.action_button.isVisible() and banner.action_button.text() == "Budgets…"


def test_the_banner_keeps_one_line_however_long_the_message(qtbot: QtBot) -> None:
    banner = _banner(qtbot)
    banner.show_alert(ANOMALY)
    height = banner.height()
    banner.show_alert(Alert("anomaly-cost:8", Level.WARNING, "Long", "word " * 400 + "end."))
    assert banner.height() == height == banner.minimumHeight() == banner.maximumHeight()
    assert "…" in banner.text.text()
    assert banner.toolTip().endswith("word end.")  # the whole message is on hover


def test_more_opens_the_list_of_every_alert_most_severe_first(qtbot: QtBot) -> None:
    banner = _banner(qtbot)
    banner.show()
    for alert in (ANOMALY, LOW, FULL):
        banner.show_alert(alert)
    banner.more_button.click()
    assert banner.list.isVisible()
    assert banner.list.titles() == [
        "Monthly budget: 100% reached",
        "Low balance",
        "An unusually expensive request",
    ]
    first_remedy = banner.list.findChildren(QPushButton, "alertAction")[0]
    assert first_remedy.text() == "Budgets…"
    with qtbot.waitSignal(banner.balance_requested, timeout=1_000):
        first_remedy.click()
    assert not banner.list.isVisible()  # it gets out of the way of the balance dialog
    banner.more_button.click()
    assert banner.list.isVisible()
    banner.more_button.click()  # "+N more" again closes it
    assert not banner.list.isVisible()


def test_dismissing_takes_down_the_shown_alert_and_shows_the_next(qtbot: QtBot) -> None:
    banner = _banner(qtbot)
    banner.show_alert(LOW)
    banner.show_alert(FULL)
    banner.show_alert(FULL)  # the same alert again is one alert
    assert banner.keys() == {LOW.key, FULL.key}
    banner.close_button.click()
    assert banner.keys() == {LOW.key}
    assert "Low balance" in banner.text.text()
    assert banner.action_button.text() == "Add credits…" and banner.more_button.isHidden()
    with qtbot.waitSignal(banner.balance_requested, timeout=1_000):
        banner.action_button.click()
    banner.close_button.click()
    assert banner.isHidden()


def test_an_alert_without_a_remedy_offers_no_button(qtbot: QtBot) -> None:
    banner = _banner(qtbot)
    banner.show_alert(ANOMALY)
    assert banner.action_button.isHidden()


def test_a_refusal_is_a_banner_with_its_button_that_a_top_up_takes_down(
    qtbot: QtBot, db: Database
) -> None:
    with db.write() as session:
        balance.configure(session, enabled=True)
        refusal = balance.shortfall(session, Decimal(2200))
    assert refusal is not None
    banner = _banner(qtbot)
    banner.show_alert(alerts.refused(refusal))
    assert "Not sent" in banner.text.text() and banner.action_button.text() == "Add credits…"
    assert "tallybook" not in banner.toolTip()
    with db.write() as session:
        balance.set_balance(session, Decimal(2200))
        banner.withdraw(banner.keys() - alerts.standing(session, banner.keys()))
    assert banner.isHidden()


def test_the_window_words_a_refusal_with_its_own_action() -> None:
    words = describe(
        InsufficientBalance(
            "Not enough balance. Nothing was sent.", needed=Decimal(2), available=Decimal(1)
        )
    )
    assert words == (
        "Not enough balance. Nothing was sent. Add credits in Balance (Ctrl+B), or turn balance "
        "checking off there."
    )


def test_the_composer_is_warned_before_a_send_the_balance_cannot_cover(db: Database) -> None:
    line = "≈ 12 tokens · $0.0022 to send"
    with db.write() as session:
        assert send_warning(line, balance.shortfall(session, Decimal(2200))) == line  # tracking
        balance.configure(session, enabled=True)
        entries.add_credits(session, Decimal(100))
        short = balance.shortfall(session, Decimal(2200))
    assert send_warning(line, short) == (
        "≈ 12 tokens · $0.0022 to send · ⚠ only $0.0001 available: it would be refused"
    )
    blocked = BudgetReached("Daily budget reached.", budget_id=1, period_key="2026-03-15")
    assert send_warning(line, blocked).endswith(
        "⚠ a blocking budget is reached: it would be refused"
    )
