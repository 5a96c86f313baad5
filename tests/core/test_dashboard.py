from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from app.core import conversations, dashboard, demo_data, ledger
from app.core.dashboard import Bucket, Selection
from app.core.db import Database
from app.core.ledger import Spend, TokenUsage
from app.core.pricing import PriceBook
from app.core.reports import GroupBy, build_report
from tests.factories import rates

NOW = datetime(2026, 11, 23, 12, 0)


@pytest.fixture
def seeded(db: Database) -> Database:
    with db.write() as session:
        demo_data.fill(session, 6_000, 45, now=NOW)
    return db


def test_every_figure_agrees_with_the_report(seeded: Database) -> None:
    selection = Selection(since=date(2026, 11, 1), until=date(2026, 11, 20))
    with seeded.read() as session:
        report_days = build_report(
            session, GroupBy.DAY, since=selection.since, until=selection.until
        )
        report_models = build_report(
            session, GroupBy.MODEL, since=selection.since, until=selection.until
        )
        points = dashboard.spend_over_time(session, selection, Bucket.DAY)
        models = dashboard.spend_by_model(session, selection)
        chats = dashboard.spend_by_conversation(session, selection, top=5)
        weeks = dashboard.spend_over_time(session, selection, Bucket.WEEK)
    by_day: dict[str, Decimal] = {}
    for point in points:
        by_day[point.start.isoformat()] = (
            by_day.get(point.start.isoformat(), Decimal(0)) + point.cost
        )
    assert by_day == {row.key: row.cost for row in report_days.rows}
    assert {s.key: s.cost for s in models} == {row.key: row.cost for row in report_models.rows}
    assert (
        sum(s.cost for s in chats) == report_days.total.cost
    )  # demo spend is all in conversations
    assert len(chats) == 6 and chats[-1].label.startswith("Other")
    assert sum(p.cost for p in weeks) == report_days.total.cost
    assert {p.start.weekday() for p in weeks} == {0}


def test_filters_by_provider_and_model(seeded: Database) -> None:
    with seeded.read() as session:
        only = dashboard.spend_by_model(session, Selection(models=frozenset({"gpt-4o"})))
        anthropic = dashboard.spend_by_model(session, Selection(providers=frozenset({"anthropic"})))
        providers, models = dashboard.filter_choices(session)
    assert [s.key for s in only] == ["gpt-4o"]
    assert {s.key for s in anthropic} == {"claude-sonnet-4-5", "claude-haiku-4-5"}
    assert "openai" in providers and "gemini-2.5-flash" in models


def test_balance_over_time_ends_at_the_balance(seeded: Database) -> None:
    with seeded.read() as session:
        points = dashboard.balance_over_time(session, Selection())
        assert points[-1].balance == ledger.current_balance(session)
        window = dashboard.balance_over_time(
            session, Selection(since=date(2026, 11, 10), until=date(2026, 11, 12))
        )
    assert [p.day for p in window] == [date(2026, 11, d) for d in (10, 11, 12)]


def test_forecast_and_budget_crossing(db: Database) -> None:
    today = date(2026, 11, 10)
    with db.write() as session:
        for offset in range(7):  # 1,000 credits a day for the last week
            at = datetime.combine(today - timedelta(days=offset), datetime.min.time())
            ledger.spend_tokens(
                session, Spend("openai", "m", TokenUsage(1000, 0), rates("1")), now=at
            )
        result = dashboard.forecast(session, today, budget=Decimal(20_000))
    assert result.spent == Decimal(7_000)  # Nov 4-10
    assert result.daily_rate == Decimal(1_000)
    assert result.projected == Decimal(7_000 + 20 * 1_000)
    assert result.crossing == date(2026, 11, 23)


def test_cache_savings_and_repricing(db: Database) -> None:
    with db.write() as session:
        chat = conversations.create_conversation(session, title="Cached").id
        model_rates = rates("3", "15", "3.75", "0.3", model="claude-sonnet-4-5")
        usage = TokenUsage(1000, 100, cache_write_tokens=2000, cache_read_tokens=10_000)
        ledger.spend_tokens(
            session, Spend("anthropic", "claude-sonnet-4-5", usage, model_rates, chat), now=NOW
        )
        book = PriceBook.load(session)
        savings = dashboard.cache_savings_by_model(session, Selection())
        by_chat = dashboard.cache_savings_by_conversation(session, Selection())
        what_if = dashboard.reprice(session, Selection(), "gpt-4o-mini", book)
    saved = Decimal(10_000) * (Decimal(3) - Decimal("0.3")) - Decimal(2000) * (
        Decimal("3.75") - Decimal(3)
    )
    assert [(s.key, s.saved) for s in savings] == [("claude-sonnet-4-5", saved)]
    assert [(s.label, s.saved) for s in by_chat] == [("Cached", saved)]
    mini = book.rates("gpt-4o-mini")
    expected = (
        1000 * mini.prompt
        + 100 * mini.completion
        + 2000 * mini.cache_write
        + 10_000 * mini.cache_read
    )
    assert what_if.actual == Decimal(3000 + 1500 + 7500 + 3000)
    assert what_if.repriced == expected
