from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from app.core import conversations
from app.core.ledger import entries
from app.core.ledger.reports import build_report
from app.core.ledger.selection import Selection
from app.core.storage.db import Database
from app.core.types import GroupBy
from tests.factories import rates, spend


def _seed(db: Database) -> int:
    with db.write() as session:
        chat = conversations.create_conversation(session, title="Budget chat")
        entries.add_credits(session, Decimal(10**6), now=datetime(2026, 1, 1))
        entries.spend_tokens(
            session, spend(1000, 100, cache_read_tokens=50), now=datetime(2026, 1, 1, 23, 59)
        )
        entries.spend_tokens(
            session,
            spend(2000, 200, model_rates=rates("3", "15", model="other")),
            now=datetime(2026, 1, 2),
        )
        conv_spend = spend(10, 10)
        entries.spend_tokens(
            session,
            entries.Spend("openai", "test-model", conv_spend.usage, conv_spend.rates, chat.id),
            now=datetime(2026, 2, 1),
        )
        return chat.id


def test_report_by_day_counts_tokens_and_cost_not_top_ups(db: Database) -> None:
    _seed(db)
    with db.read() as session:
        report = build_report(session, GroupBy.DAY)
    assert [r.key for r in report.rows] == ["2026-01-01", "2026-01-02", "2026-02-01"]
    first = report.rows[0]
    assert (first.input_tokens, first.output_tokens, first.cache_read_tokens) == (1000, 100, 50)
    assert first.cost == Decimal(1500 + 200 + 75)
    assert report.total.cost == Decimal(1775 + 6000 + 3000 + 35)
    assert report.total.cost == sum(r.cost for r in report.rows)


def test_report_by_month_model_and_conversation(db: Database) -> None:
    chat_id = _seed(db)
    with db.read() as session:
        months = build_report(session, GroupBy.MONTH)
        models = build_report(session, GroupBy.MODEL)
        chats = build_report(session, GroupBy.CONVERSATION)
    assert [(r.key, r.cost) for r in months.rows] == [
        ("2026-01", Decimal(10775)),
        ("2026-02", Decimal(35)),
    ]
    assert [r.key for r in models.rows] == ["other", "test-model"]
    assert [(r.key, r.label) for r in chats.rows] == [
        ("0", "(no conversation)"),
        (str(chat_id), "Budget chat"),
    ]


def test_since_and_until_are_inclusive_days(db: Database) -> None:
    _seed(db)
    with db.read() as session:
        one_day = Selection(since=date(2026, 1, 2), until=date(2026, 1, 2))
        report = build_report(session, GroupBy.DAY, one_day)
        empty = build_report(session, GroupBy.DAY, Selection(since=date(2027, 1, 1)))
    assert [r.key for r in report.rows] == ["2026-01-02"]
    assert empty.rows == ()
    assert empty.total.cost == 0


def test_estimate_accuracy_per_model_and_method(db: Database) -> None:
    from app.core.ledger.reports import estimate_accuracy

    with db.write() as session:
        for estimated, reported in ((110, 100), (90, 100), (130, 100)):
            base = spend(reported, 5)
            entries.spend_tokens(
                session,
                entries.Spend(
                    "anthropic",
                    "claude-x",
                    base.usage,
                    base.rates,
                    estimated_prompt_tokens=estimated,
                    estimate_method="o200k_base x1.2",
                ),
            )
        entries.spend_tokens(session, spend(50, 5))  # no estimate kept: not counted
    with db.read() as session:
        (row,) = estimate_accuracy(session)
    assert (row.model, row.method, row.requests) == ("claude-x", "o200k_base x1.2", 3)
    assert round(row.mean_gap_percent, 6) == 10.0
    assert row.worst_gap_percent == 30.0


def test_report_by_week_sums_iso_weeks_of_utc_days(db: Database) -> None:
    """2026-01-01 is a Thursday: its ISO week began on Monday 2025-12-29."""
    with db.write() as session:
        for moment in (
            datetime(2025, 12, 29, 0, 0),  # Monday of 2026-W01
            datetime(2026, 1, 4, 23, 59),  # its Sunday
            datetime(2026, 1, 5, 0, 0),  # Monday of 2026-W02
            datetime(2026, 3, 30, 12),  # 2026-W14, March into April
        ):
            entries.spend_tokens(session, spend(1000, 100), now=moment)
    with db.read() as session:
        weeks = build_report(session, GroupBy.WEEK)
        days = build_report(session, GroupBy.DAY)
    assert [(r.key, r.label) for r in weeks.rows] == [
        ("2026-W01", "2026-W01 (Dec 29 - Jan 4)"),
        ("2026-W02", "2026-W02 (Jan 5 - 11)"),
        ("2026-W14", "2026-W14 (Mar 30 - Apr 5)"),
    ]
    assert weeks.rows[0].cost == 2 * days.rows[0].cost
    assert weeks.rows[0].input_tokens == 2000
    assert weeks.rows[0].models == ("test-model",)
    assert weeks.total.cost == days.total.cost
