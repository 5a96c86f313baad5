"""Blocking budgets, refusals as alerts, and the order alerts are listed in."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from app.core.errors import BudgetReached, InsufficientBalance, NotFound, Remedy
from app.core.ledger import alerts, balance, entries
from app.core.ledger.alerts import Alert, Level
from app.core.storage.db import Database
from tests.factories import rates, spend

NOW = datetime(2026, 3, 15, 12, 0)


def _spend(db: Database, credits: int, when: datetime = NOW) -> None:
    """Spend ``credits`` at the test model through "openai" (1.5 credits a prompt token)."""
    with db.write() as session:
        entries.spend_tokens(
            session, spend(credits * 2 // 3, 0, model_rates=rates("1.5")), now=when
        )


def test_a_blocking_budget_refuses_once_reached_and_only_what_it_covers(db: Database) -> None:
    with db.write() as session:
        month = alerts.add_budget(session, "month", Decimal(600), block=True)
        alerts.add_budget(session, "day", Decimal(300), "model", "test-model")  # alerts only
        other = alerts.add_budget(session, "day", Decimal(1), "provider", "anthropic", block=True)
    _spend(db, 450)
    with db.read() as session:
        assert alerts.blocking(session, provider="openai", model="test-model", now=NOW) is None
    _spend(db, 150)  # 600 of 600: reached
    with db.read() as session:
        refused = alerts.blocking(session, provider="openai", model="gpt-4o", now=NOW)
        views = {view.id: view for view in alerts.budgets(session, now=NOW)}
    assert isinstance(refused, BudgetReached) and refused.remedy is Remedy.BUDGETS
    assert refused.budget_id == month and refused.period_key == "2026-03"
    assert str(refused) == (
        "Monthly budget reached: $0.0006 of $0.0006 spent this month, and it blocks sending at "
        "100%. Nothing was sent."
    )
    assert views[month].block and views[month].reached
    assert not views[other].reached  # anthropic spent nothing: it does not refuse openai
    with db.read() as session:
        assert (
            alerts.blocking(session, provider="openai", model="x", now=datetime(2026, 4, 1)) is None
        )


def test_a_reached_blocking_budget_says_so_in_its_alert(db: Database) -> None:
    with db.write() as session:
        alerts.add_budget(session, "day", Decimal(300), block=True)
    _spend(db, 300)
    with db.write() as session:
        (reached,) = alerts.check(session, now=NOW)
    assert reached.title == "Daily budget: 100% reached" and reached.level is Level.CRITICAL
    assert reached.message.endswith("Sending is blocked.")
    assert reached.remedy is Remedy.BUDGETS


def test_removing_a_budget_that_is_gone_says_so(db: Database) -> None:
    with db.write() as session:
        budget_id = alerts.add_budget(session, "day", Decimal(5))
        alerts.remove_budget(session, budget_id)
        with pytest.raises(NotFound, match="no budget"):
            alerts.remove_budget(session, budget_id)


def test_a_balance_refusal_stands_until_the_balance_can_pay_that_prompt(db: Database) -> None:
    with db.write() as session:
        balance.configure(session, enabled=True)
        entries.add_credits(session, Decimal(100))
        refusal = balance.shortfall(session, Decimal(250), now=NOW)
    assert isinstance(refusal, InsufficientBalance)
    shown = alerts.refused(refusal)
    assert shown.is_refusal and shown.level is Level.CRITICAL
    assert shown.remedy is Remedy.ADD_CREDITS and "Nothing was sent" in shown.message
    assert "tallybook" not in shown.message  # the window words its action as a button
    with db.write() as session:
        entries.add_credits(session, Decimal(100))  # 200: still short of 250
        assert alerts.standing(session, {shown.key}, now=NOW) == {shown.key}
        entries.add_credits(session, Decimal(50))  # 250: it would be sent now
        assert alerts.standing(session, {shown.key}, now=NOW) == set()


def test_a_balance_refusal_goes_when_checking_is_turned_off(db: Database) -> None:
    with db.write() as session:
        balance.configure(session, enabled=True)
        shown = alerts.refused(balance.shortfall(session, Decimal(5)) or pytest.fail())
        balance.configure(session, enabled=False)
        assert alerts.standing(session, {shown.key}) == set()


def test_a_budget_refusal_stands_while_the_budget_blocks_this_period(db: Database) -> None:
    with db.write() as session:
        budget_id = alerts.add_budget(session, "month", Decimal(300), block=True)
    _spend(db, 300)
    with db.read() as session:
        refusal = alerts.blocking(session, provider="openai", model="m", now=NOW)
    assert refusal is not None
    shown = alerts.refused(refusal)
    with db.write() as session:
        assert alerts.standing(session, {shown.key}, now=NOW) == {shown.key}
        assert alerts.standing(session, {shown.key}, now=datetime(2026, 4, 1)) == set()
        alerts.remove_budget(session, budget_id)
        assert alerts.standing(session, {shown.key}, now=NOW) == set()


def test_alerts_are_listed_most_severe_first() -> None:
    def alert(key: str, level: Level) -> Alert:
        return Alert(key, level, key, "")

    anomaly = alert("anomaly-cost:7", Level.WARNING)
    estimate = alert("anomaly-estimate:7", Level.INFO)
    half = alert("budget:1:2026-03:50", Level.INFO)
    most = alert("budget:1:2026-03:80", Level.WARNING)
    full = alert("budget:2:2026-03:100", Level.CRITICAL)
    low = alert("low-balance", Level.WARNING)
    older_anomaly = alert("anomaly-cost:3", Level.WARNING)
    arrived = [older_anomaly, half, full, estimate, most, anomaly, low]
    assert [a.key for a in alerts.most_severe_first(arrived)] == [
        full.key,
        most.key,  # the spending rules' warnings, a higher budget threshold first...
        low.key,
        anomaly.key,  # ...above a remark on one request, newest first
        older_anomaly.key,
        half.key,
        estimate.key,
    ]
