from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from app.core import conversations
from app.core.ledger import analysis, demo_data, entries, spend
from app.core.ledger.analysis import Bucket
from app.core.ledger.entries import Spend
from app.core.ledger.reports import build_report
from app.core.ledger.selection import Selection
from app.core.money import from_micros
from app.core.pricing.charges import TokenUsage
from app.core.pricing.prices import PriceBook
from app.core.storage.db import Database
from app.core.types import GroupBy
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
        report_days = build_report(session, GroupBy.DAY, selection)
        report_models = build_report(session, GroupBy.MODEL, selection)
        points = analysis.spend_over_time(session, selection, Bucket.DAY)
        models = analysis.spend_by_model(session, selection)
        chats = analysis.spend_by_conversation(session, selection, top=5)
        weeks = analysis.spend_over_time(session, selection, Bucket.WEEK)
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
        only = analysis.spend_by_model(session, Selection(models=frozenset({"gpt-4o"})))
        anthropic = analysis.spend_by_model(session, Selection(providers=frozenset({"anthropic"})))
        providers, models, sources = spend.choices(session)
    assert [s.key for s in only] == ["gpt-4o"]
    assert {s.key for s in anthropic} == {"claude-sonnet-4-5", "claude-haiku-4-5"}
    assert "openai" in providers and "gemini-2.5-flash" in models
    assert sources == ["chat"]  # demo conversations are all the chat window's


def test_balance_over_time_ends_at_the_balance(seeded: Database) -> None:
    with seeded.read() as session:
        points = analysis.balance_over_time(session, Selection())
        assert points[-1].balance == entries.current_balance(session)
        window = analysis.balance_over_time(
            session, Selection(since=date(2026, 11, 10), until=date(2026, 11, 12))
        )
    assert [p.day for p in window] == [date(2026, 11, d) for d in (10, 11, 12)]


def test_forecast_and_budget_crossing(db: Database) -> None:
    today = date(2026, 11, 10)
    with db.write() as session:
        for offset in range(7):  # 1,000 credits a day for the last week
            at = datetime.combine(today - timedelta(days=offset), datetime.min.time())
            entries.spend_tokens(
                session, Spend("openai", "m", TokenUsage(1000, 0), rates("1")), now=at
            )
        result = analysis.forecast(session, today, budget=Decimal(20_000))
    assert result.spent == Decimal(7_000)  # Nov 4-10
    assert result.daily_rate == Decimal(1_000)
    assert result.projected == Decimal(7_000 + 20 * 1_000)
    assert result.crossing == date(2026, 11, 23)


def test_cache_savings_and_repricing(db: Database) -> None:
    with db.write() as session:
        chat = conversations.create_conversation(session, title="Cached").id
        model_rates = rates("3", "15", "3.75", "0.3", model="claude-sonnet-4-5")
        usage = TokenUsage(1000, 100, cache_write_tokens=2000, cache_read_tokens=10_000)
        entries.spend_tokens(
            session, Spend("anthropic", "claude-sonnet-4-5", usage, model_rates, chat), now=NOW
        )
        book = PriceBook.load(session)
        savings = analysis.cache_savings_by_model(session, Selection())
        by_chat = analysis.cache_savings_by_conversation(session, Selection())
        what_if = analysis.reprice(session, Selection(), "gpt-4o-mini", book)
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


TOOLS = ("curl", "openai-python")


@pytest.fixture
def sourced(db: Database) -> Database:
    """Spend from two chat-window conversations, two tools, outside any conversation, a top-up."""
    with db.write() as session:
        chats = [conversations.create_conversation(session, title=t).id for t in ("A", "B")]
        tools = [conversations.for_source(session, tool, now=NOW) for tool in TOOLS]
        owners: list[int | None] = [*chats, *tools, None]
        models = [
            ("openai", rates("2.5", "10", "2.5", "1.25", model="gpt-4o")),
            ("anthropic", rates("3", "15", "3.75", "0.3", model="claude-sonnet-4-5")),
        ]
        entries.add_credits(session, Decimal(50_000_000), now=NOW - timedelta(days=9))
        for step in range(40):
            provider, model_rates = models[step % 2]
            usage = TokenUsage(
                100 + 37 * step,
                20 + 11 * step,
                cache_write_tokens=(step % 3) * 50,
                cache_read_tokens=(step % 4) * 300,
            )
            entries.spend_tokens(
                session,
                Spend(provider, model_rates.model, usage, model_rates, owners[step % 5]),
                now=NOW - timedelta(days=step % 7, hours=step % 5),
            )
    return db


def _raw(
    session: Session, groups: tuple[str, ...], sources: frozenset[str] | None
) -> dict[tuple[object, ...], tuple[Decimal, ...]]:
    """Straight from the transactions: (cost, tokens in, tokens out, cache saving) per group,
    for the conversations of ``sources`` (``None``: every spend row)."""
    group = ", ".join(groups)
    where = "t.token_type != 'credits'"
    if sources is not None:
        marks = ", ".join("?" * len(sources))
        where += f" AND c.source IN ({marks})"
    statement = f"""
        SELECT {group},
               -SUM(t.token_value),
               -SUM(CASE WHEN t.token_type != 'completion' THEN t.raw_amount ELSE 0 END),
               -SUM(CASE WHEN t.token_type = 'completion' THEN t.raw_amount ELSE 0 END),
               SUM(CASE WHEN t.token_type IN ('cache_read', 'cache_write')
                        THEN t.token_value - t.raw_amount * p.rate / 1000000 ELSE 0 END)
        FROM transactions t
        LEFT JOIN conversations c ON c.id = t.conversation_id
        LEFT JOIN transactions p ON p.request_id = t.request_id AND p.token_type = 'prompt'
        WHERE {where}
        GROUP BY {group}
    """
    rows = session.connection().exec_driver_sql(statement, tuple(sorted(sources or ()))).all()
    width = len(groups)
    return {tuple(row[:width]): tuple(from_micros(int(v)) for v in row[width:]) for row in rows}


@pytest.mark.parametrize(
    "sources", [{"chat"}, {"curl"}, {"openai-python"}, set(TOOLS), {"chat", *TOOLS}]
)
def test_every_figure_filtered_by_source_equals_the_raw_ledger(
    sourced: Database, sources: set[str]
) -> None:
    chosen = frozenset(sources)
    selection = Selection(sources=chosen)
    with sourced.read() as session:
        book = PriceBook.load(session)
        days = _raw(session, ("substr(t.created_at, 1, 10)", "t.model"), chosen)
        by_model = _raw(session, ("t.model",), chosen)
        by_chat = _raw(session, ("t.conversation_id", "c.source"), chosen)
        kinds = _raw(session, ("t.model", "t.token_type"), chosen)
        points = analysis.spend_over_time(session, selection, Bucket.DAY)
        tokens = analysis.tokens_over_time(session, selection, Bucket.DAY)
        models = analysis.spend_by_model(session, selection)
        chats = analysis.spend_by_conversation(session, selection, top=100)
        savings = analysis.cache_savings_by_model(session, selection)
        chat_savings = analysis.cache_savings_by_conversation(session, selection, top=100)
        what_if = analysis.reprice(session, selection, "gpt-4o-mini", book)
    assert {
        (p.start.isoformat(), p.model): (p.cost, p.input_tokens, p.output_tokens) for p in points
    } == {key: values[:3] for key, values in days.items()}
    per_day: dict[str, tuple[Decimal, Decimal]] = {}
    for (day, _), (_, into, out, _) in days.items():
        before = per_day.get(str(day), (Decimal(0), Decimal(0)))
        per_day[str(day)] = (before[0] + into, before[1] + out)
    assert {t.start.isoformat(): (t.input_tokens, t.output_tokens) for t in tokens} == per_day
    assert {s.key: s.cost for s in models} == {str(m): v[0] for (m,), v in by_model.items()}
    assert {(s.conversation_id, s.source): s.cost for s in chats} == {
        key: values[0] for key, values in by_chat.items()
    }
    assert {s.key: s.saved for s in savings} == {
        str(m): v[3] for (m,), v in by_model.items() if v[3]
    }
    assert {int(s.key): s.saved for s in chat_savings} == {
        cid: v[3] for (cid, _), v in by_chat.items() if v[3]
    }
    mini = book.rates("gpt-4o-mini")
    rate_of = {
        "prompt": mini.prompt,
        "completion": mini.completion,
        "cache_write": mini.cache_write,
        "cache_read": mini.cache_read,
    }
    assert what_if.actual == sum(v[0] for v in by_model.values())
    assert what_if.repriced == sum(
        (v[1] or v[2]) * rate_of[str(kind)] for (_, kind), v in kinds.items()
    )


def test_sources_add_up_to_the_unfiltered_total(sourced: Database) -> None:
    with sourced.read() as session:
        every = _raw(session, ("'all'",), None)[("all",)][0]
        outside = _raw(session, ("t.conversation_id IS NULL",), None)[(1,)][0]
        total = sum(p.cost for p in analysis.spend_over_time(session, Selection(), Bucket.DAY))
        per_source = {
            source: sum(
                p.cost
                for p in analysis.spend_over_time(
                    session, Selection(sources=frozenset({source})), Bucket.MONTH
                )
            )
            for source in ("chat", *TOOLS)
        }
        choices = spend.choices(session)
        reports = {
            (source, group): build_report(session, group, Selection(sources=frozenset({source})))
            for source in ("chat", *TOOLS)
            for group in (GroupBy.DAY, GroupBy.CONVERSATION)
        }
        balance = analysis.balance_over_time(session, Selection(sources=frozenset({"curl"})))
        assert balance[-1].balance == entries.current_balance(session)  # one account, unfiltered
    assert total == every > 0 and outside > 0
    assert all(cost > 0 for cost in per_source.values())
    assert sum(per_source.values()) + outside == total  # no-conversation spend: no source
    assert choices.sources == ["chat", *TOOLS]
    for (source, group), report in reports.items():  # the CLI's report agrees, no remainder
        assert report.total.cost == per_source[source], (source, group)
        assert all(row.key != "0" for row in report.rows)


def test_a_source_filter_combines_with_the_others(sourced: Database) -> None:
    since = (NOW - timedelta(days=3)).date()
    selection = Selection(
        since=since, providers=frozenset({"anthropic"}), sources=frozenset({"curl"})
    )
    with sourced.read() as session:
        models = analysis.spend_by_model(session, selection)
        report = build_report(
            session, GroupBy.MODEL, Selection(since=since, sources=frozenset({"curl"}))
        )
        rows = (
            session.connection()
            .exec_driver_sql(
                "SELECT -SUM(t.token_value) FROM transactions t "
                "JOIN conversations c ON c.id = t.conversation_id "
                "WHERE c.source = 'curl' AND t.provider = 'anthropic' AND t.created_at >= ?",
                (since.isoformat(),),
            )
            .scalar_one()
        )
    assert [(s.key, s.cost) for s in models] == [("claude-sonnet-4-5", from_micros(rows))]
    assert {r.key for r in report.rows} == {"gpt-4o", "claude-sonnet-4-5"}
    assert report.selection.sources == frozenset({"curl"})
