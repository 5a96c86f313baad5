from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from app.core.errors import InvalidAmount, InvalidSetting
from app.core.ledger import alerts, entries
from app.core.ledger.entries import Spend
from app.core.money import from_micros
from app.core.pricing.charges import TokenUsage
from app.core.storage.db import Database
from tests.factories import rates, spend

NOW = datetime(2026, 3, 15, 12, 0)


def test_budget_validation(db: Database) -> None:
    with db.write() as session:
        for bad in (
            ("week", Decimal(1), "all", None),
            ("day", Decimal(0), "all", None),
            ("day", Decimal(5), "model", " "),
        ):
            with pytest.raises((InvalidAmount, InvalidSetting)):
                alerts.add_budget(session, *bad)


def test_budget_thresholds_alert_once_per_period(db: Database) -> None:
    with db.write() as session:
        alerts.add_budget(session, "month", Decimal(1000))
        alerts.add_budget(session, "day", Decimal(10_000), "model", "other-model")
        entries.spend_tokens(
            session, spend(400, 0, model_rates=rates("1.5")), now=NOW
        )  # 600 credits: 60%
        first = alerts.check(session, now=NOW)
        assert [a.title for a in first] == ["Monthly budget: 50% reached"]
        assert alerts.check(session, now=NOW) == []  # once
        entries.spend_tokens(session, spend(200, 0, model_rates=rates("1.5")), now=NOW)  # 900: 90%
        assert [a.title for a in alerts.check(session, now=NOW)] == ["Monthly budget: 80% reached"]
        next_month = datetime(2026, 4, 2)
        entries.spend_tokens(session, spend(400, 0, model_rates=rates("1.5")), now=next_month)
        assert [a.key.split(":")[2] for a in alerts.check(session, now=next_month)] == ["2026-04"]
        views = alerts.budgets(session, now=next_month)
    assert views[1].spent == Decimal(600) and views[1].label == "Monthly budget"
    assert views[0].label == "Daily budget for other-model" and views[0].spent == 0


def test_low_balance_alerts_once_and_re_arms_after_a_top_up(db: Database) -> None:
    with db.write() as session:
        alerts.set_low_balance_threshold(session, Decimal(500))
        entries.add_credits(session, Decimal(1000))
        assert alerts.check(session) == []
        entries.spend_tokens(session, spend(400, 0, model_rates=rates("1.5")))  # 400 left
        (low,) = alerts.check(session)
        assert low.key == "low-balance" and "under your" in low.message
        assert alerts.check(session) == []
        entries.add_credits(session, Decimal(1000))
        assert alerts.check(session) == []  # above again: re-armed
        entries.spend_tokens(session, spend(1000, 0, model_rates=rates("1.5")))
        assert [a.key for a in alerts.check(session)] == ["low-balance"]


def test_an_unusually_expensive_request_is_an_anomaly(db: Database) -> None:
    with db.write() as session:
        for _ in range(12):
            entries.spend_tokens(session, spend(100, 100))
        big = entries.spend_tokens(session, spend(100_000, 1_000))
        usual = entries.spend_tokens(session, spend(100, 100))
        assert [a.title for a in alerts.check(session, request_id=big.request_id)] == [
            "An unusually expensive request"
        ]
        assert alerts.check(session, request_id=usual.request_id) == []


def test_an_estimate_far_from_the_report_is_an_anomaly(db: Database) -> None:
    with db.write() as session:
        base = spend(1000, 10)
        record = entries.spend_tokens(
            session,
            Spend(
                "anthropic",
                "claude-x",
                TokenUsage(1000, 10),
                base.rates,
                estimated_prompt_tokens=1400,
            ),
        )
        close = entries.spend_tokens(
            session,
            Spend(
                "anthropic",
                "claude-x",
                TokenUsage(1000, 10),
                base.rates,
                estimated_prompt_tokens=1100,
            ),
        )
        (far,) = alerts.check(session, request_id=record.request_id)
        assert far.title == "An estimate was far off" and "+40%" in far.message
        assert alerts.check(session, request_id=close.request_id) == []


def test_a_budget_counts_exactly_its_periods_spend(db: Database) -> None:
    """Read from the daily rollups, a budget's spend is the raw ledger's to the millionth, at
    the edges of its period too."""
    moments = (
        datetime(2026, 2, 28, 23, 59, 59, 999_999),  # the last instant before this month
        datetime(2026, 3, 1),
        datetime(2026, 3, 14, 23, 59, 59, 999_999),  # ... and before today
        datetime(2026, 3, 15),
        NOW,
    )
    cheap, dear = rates("0.000001", "0.000003", model="m-cheap"), rates("3", "15", model="m")
    with db.write() as session:
        for number, at in enumerate(moments):
            for provider, model_rates in (("openai", cheap), ("anthropic", dear)):
                usage = TokenUsage(1_000 + number * 17, 33 + number)
                entries.spend_tokens(
                    session, Spend(provider, model_rates.model, usage, model_rates), now=at
                )
        alerts.add_budget(session, "month", Decimal(10**6))
        alerts.add_budget(session, "month", Decimal(10**6), "provider", "openai")
        alerts.add_budget(session, "day", Decimal(10**6), "model", "m")
        alerts.add_budget(session, "day", Decimal(10**6))
        spent = {(v.period, v.scope): v.spent for v in alerts.budgets(session, now=NOW)}
        raw = (
            "SELECT -SUM(token_value) FROM transactions"
            " WHERE token_type != 'credits' AND created_at >= ? AND {}"
        )
        expected = {
            (period, scope): from_micros(
                session.connection().exec_driver_sql(raw.format(where), (start,)).scalar_one()
            )
            for period, scope, start, where in (
                ("month", "all", "2026-03-01", "1"),
                ("month", "provider", "2026-03-01", "provider = 'openai'"),
                ("day", "model", "2026-03-15", "model = 'm'"),
                ("day", "all", "2026-03-15", "1"),
            )
        }
    assert spent == expected
    assert spent[("month", "provider")] > 0  # the cheap model's millionths count too
