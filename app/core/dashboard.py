"""The figures the dashboard draws, all read from the daily aggregates (never the raw ledger).

Every figure is for a :class:`Selection`: a range of UTC days (inclusive) and optional provider
and model filters; ``tallybook report`` reads the same tables, so the two always agree. Money is
in credits, positive for spend.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, func, select, type_coerce
from sqlalchemy.orm import Session

from app.core.models import Conversation, ConversationDay, DailyTotal, Millionths
from app.core.pricing import PriceBook

SPEND_TYPES = ("prompt", "completion", "cache_write", "cache_read")
INPUT_TYPES = ("prompt", "cache_write", "cache_read")
OTHER = "Other"


class Bucket(StrEnum):
    """How days are grouped on the time charts."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True)
class Selection:
    """Which spend a figure covers."""

    since: date | None = None
    until: date | None = None
    providers: frozenset[str] = field(default_factory=frozenset)
    models: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class CostPoint:
    """Spend of one model in one bucket."""

    start: date
    model: str
    cost: Decimal
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class Share:
    """One bar of a breakdown (a model, a conversation, or everything else)."""

    key: str
    label: str
    cost: Decimal
    conversation_id: int | None = None


@dataclass(frozen=True)
class TokenPoint:
    """Tokens in and out in one bucket."""

    start: date
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class BalancePoint:
    """The balance at the end of a day."""

    day: date
    balance: Decimal


@dataclass(frozen=True)
class Forecast:
    """This month so far, and where the recent daily rate takes it.

    Attributes:
        daily_rate: the average spend per day over the last seven days (today included).
        crossing: the day the monthly budget is reached at that rate, if it will be this month.
    """

    month_start: date
    spent: Decimal
    daily_rate: Decimal
    projected: Decimal
    budget: Decimal | None
    crossing: date | None


@dataclass(frozen=True)
class Saving:
    """What cache reads saved (and cache writes cost extra) against the plain input price."""

    key: str
    label: str
    saved: Decimal
    """Positive: paid less than the uncached price would have been."""


@dataclass(frozen=True)
class Repricing:
    """The selection's token counts priced at another model's rates, beside what they cost."""

    model: str
    actual: Decimal
    repriced: Decimal
    by_model: tuple[tuple[str, Decimal, Decimal], ...]
    """(model, actual cost, repriced cost) per model that was used."""


def spend_over_time(session: Session, selection: Selection, bucket: Bucket) -> list[CostPoint]:
    """Spend per bucket and model, for the stacked daily-cost chart."""
    points: dict[tuple[date, str], list[Any]] = defaultdict(lambda: [Decimal(0), 0, 0])
    for day, model, kind, tokens, value in _daily(session, selection):
        entry = points[(bucket_start(day, bucket), model)]
        entry[0] -= value
        if kind in INPUT_TYPES:
            entry[1] -= int(tokens)
        elif kind == "completion":
            entry[2] -= int(tokens)
    return [CostPoint(start, model, *values) for (start, model), values in sorted(points.items())]


def tokens_over_time(session: Session, selection: Selection, bucket: Bucket) -> list[TokenPoint]:
    """Tokens in (prompt and cache) and out per bucket."""
    totals: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for point in spend_over_time(session, selection, bucket):
        totals[point.start][0] += point.input_tokens
        totals[point.start][1] += point.output_tokens
    return [TokenPoint(start, *values) for start, values in sorted(totals.items())]


def spend_by_model(session: Session, selection: Selection) -> list[Share]:
    """Spend per model, largest first."""
    costs: dict[str, Decimal] = defaultdict(Decimal)
    for _, model, _, _, value in _daily(session, selection):
        costs[model] -= value
    return sorted((Share(m, m, c) for m, c in costs.items()), key=lambda s: s.cost, reverse=True)


def spend_by_conversation(session: Session, selection: Selection, *, top: int = 10) -> list[Share]:
    """The ``top`` conversations by spend, and the rest grouped as "Other"."""
    rows = session.execute(
        select(
            ConversationDay.conversation_id, Conversation.title, -func.sum(ConversationDay.value)
        )
        .join(Conversation, Conversation.id == ConversationDay.conversation_id)
        .where(*_conversation_filters(selection))
        .group_by(ConversationDay.conversation_id)
        .order_by(func.sum(ConversationDay.value))
    ).all()
    shares = [Share(str(cid), title, Decimal(cost), cid) for cid, title, cost in rows[:top]]
    rest = sum((Decimal(cost) for _, _, cost in rows[top:]), Decimal(0))
    if rest:
        shares.append(Share("other", f"{OTHER} ({len(rows) - top} conversations)", rest))
    return shares


def balance_over_time(session: Session, selection: Selection) -> list[BalancePoint]:
    """The balance at the end of each day of the range (top-ups included, filters ignored:
    the balance is one number)."""
    net = session.execute(
        select(DailyTotal.day, func.sum(DailyTotal.value))
        .group_by(DailyTotal.day)
        .order_by(DailyTotal.day)
    ).all()
    points, running = [], Decimal(0)
    for day_text, value in net:
        running += Decimal(value)
        day = date.fromisoformat(day_text)
        if (selection.since is None or day >= selection.since) and (
            selection.until is None or day <= selection.until
        ):
            points.append(BalancePoint(day, running))
    return points


def forecast(session: Session, today: date, budget: Decimal | None = None) -> Forecast:
    """Spend so far this month and the month-end total at the last seven days' rate."""
    month_start = today.replace(day=1)
    spent = _spent_between(session, month_start, today)
    week_start = max(today - timedelta(days=6), month_start - timedelta(days=31))
    days = (today - week_start).days + 1
    daily_rate = _spent_between(session, week_start, today) / days
    days_in_month = calendar.monthrange(today.year, today.month)[1]
    remaining = days_in_month - today.day
    projected = spent + daily_rate * remaining
    crossing = None
    if budget is not None:
        if spent >= budget:
            crossing = today
        elif daily_rate > 0:
            days_needed = int(
                ((budget - spent) / daily_rate).to_integral_value(rounding="ROUND_CEILING")
            )
            if days_needed <= remaining:
                crossing = today + timedelta(days=days_needed)
    return Forecast(month_start, spent, daily_rate, projected, budget, crossing)


def cache_savings_by_model(session: Session, selection: Selection) -> list[Saving]:
    """Per model: what prompt caching saved (reads) net of what it cost extra (writes)."""
    saved: dict[str, Decimal] = defaultdict(Decimal)
    statement = (
        select(DailyTotal.model, func.sum(DailyTotal.value), func.sum(DailyTotal.uncached))
        .where(*_daily_filters(selection), DailyTotal.token_type.in_(("cache_read", "cache_write")))
        .group_by(DailyTotal.model)
    )
    for model, value, uncached in session.execute(statement):
        saved[model] += Decimal(value) - Decimal(uncached)
    return sorted(
        (Saving(m, m, s) for m, s in saved.items() if s), key=lambda s: s.saved, reverse=True
    )


def cache_savings_by_conversation(
    session: Session, selection: Selection, *, top: int = 10
) -> list[Saving]:
    """The conversations whose prompt cache saved the most."""
    saved = type_coerce(func.sum(ConversationDay.value - ConversationDay.uncached), Millionths)
    rows = session.execute(
        select(ConversationDay.conversation_id, Conversation.title, saved)
        .join(Conversation, Conversation.id == ConversationDay.conversation_id)
        .where(*_conversation_filters(selection))
        .group_by(ConversationDay.conversation_id)
        .order_by(saved.desc())
        .limit(top)
    )
    return [Saving(str(cid), title, Decimal(amount)) for cid, title, amount in rows if amount]


def reprice(session: Session, selection: Selection, model: str, book: PriceBook) -> Repricing:
    """What the selection would have cost on ``model``, from its stored token counts.

    Long-context tiers are not re-applied (the per-request input sizes are not in the daily
    aggregates): the target's base rates are used.
    """
    rates = book.rates(model)
    rate_of = {
        "prompt": rates.prompt,
        "completion": rates.completion,
        "cache_write": rates.cache_write,
        "cache_read": rates.cache_read,
    }
    per_model: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for _, used, kind, tokens, value in _daily(session, selection):
        per_model[used][0] -= value
        per_model[used][1] -= tokens * rate_of[kind]
    actual = sum((v[0] for v in per_model.values()), Decimal(0))
    repriced = sum((v[1] for v in per_model.values()), Decimal(0))
    rows = tuple((m, v[0], v[1]) for m, v in sorted(per_model.items(), key=lambda kv: -kv[1][0]))
    return Repricing(model, actual, repriced, rows)


def filter_choices(session: Session) -> tuple[list[str], list[str]]:
    """Providers and models that have spend, for the filter menus."""
    rows = session.execute(
        select(DailyTotal.provider, DailyTotal.model)
        .where(DailyTotal.token_type.in_(SPEND_TYPES))
        .group_by(DailyTotal.provider, DailyTotal.model)
    ).all()
    return sorted({p for p, _ in rows if p}), sorted({m for _, m in rows if m})


def bucket_start(day: date | str, bucket: Bucket) -> date:
    """The first day of the bucket a day falls in (weeks start on Monday)."""
    day = date.fromisoformat(day) if isinstance(day, str) else day
    if bucket is Bucket.WEEK:
        return day - timedelta(days=day.weekday())
    if bucket is Bucket.MONTH:
        return day.replace(day=1)
    return day


def _daily(
    session: Session, selection: Selection
) -> Iterable[tuple[str, str, str, Decimal, Decimal]]:
    """(day, model, token type, tokens, value) rows of spend for the selection."""
    statement = select(
        DailyTotal.day, DailyTotal.model, DailyTotal.token_type, DailyTotal.tokens, DailyTotal.value
    ).where(*_daily_filters(selection), DailyTotal.token_type.in_(SPEND_TYPES))
    return [(d, m, k, Decimal(t), Decimal(v)) for d, m, k, t, v in session.execute(statement)]


def _spent_between(session: Session, first: date, last: date) -> Decimal:
    total = session.scalar(
        select(func.coalesce(func.sum(DailyTotal.value), 0)).where(
            DailyTotal.day >= first.isoformat(),
            DailyTotal.day <= last.isoformat(),
            DailyTotal.token_type.in_(SPEND_TYPES),
        )
    )
    return -Decimal(total or 0)


def _daily_filters(selection: Selection) -> list[ColumnElement[bool]]:
    return _filters(selection, DailyTotal.day, DailyTotal.provider, DailyTotal.model)


def _conversation_filters(selection: Selection) -> list[ColumnElement[bool]]:
    return _filters(selection, ConversationDay.day, ConversationDay.provider, ConversationDay.model)


def _filters(
    selection: Selection, day: Any, provider: Any, model: Any
) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if selection.since is not None:
        clauses.append(day >= selection.since.isoformat())
    if selection.until is not None:
        clauses.append(day <= selection.until.isoformat())
    if selection.providers:
        clauses.append(provider.in_(sorted(selection.providers)))
    if selection.models:
        clauses.append(model.in_(sorted(selection.models)))
    return clauses
