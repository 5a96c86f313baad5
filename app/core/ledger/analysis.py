"""The figures the dashboard draws, all read from the daily aggregates (never the raw ledger).

Every figure is for a :class:`Selection`: a range of UTC days (inclusive) and optional provider,
model and source filters; ``tallybook report`` reads the same tables, so the two always agree.
Money is in credits, positive for spend.

Without a source filter the figures read ``daily_totals`` (all spend). With one they read
``source_days`` (the spend per day of each source), and the per-conversation figures
``conversation_days`` of the conversations from those sources, since ``daily_totals`` knows no
conversation. Every spend the app writes has a conversation (the chat window and ``tallybook
chat`` create one first, titles are charged to theirs, the local endpoint files a tool's requests
under :func:`~app.core.conversations.for_source`), so the sources' figures add up to the total.
Spend recorded through the ledger API without a conversation belongs to no source: it counts
when no source is chosen, and under none otherwise. The balance and the forecast ignore every
filter: the balance is one account, and the budgets it is measured against are overall.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, case, func, or_, select, type_coerce
from sqlalchemy.orm import Session

from app.core import conversations
from app.core.pricing.prices import PriceBook
from app.core.pricing.units import Kind, kind_clause, spend_clause
from app.core.storage.models import Conversation, ConversationDay, DailyTotal, Millionths, SourceDay

SPEND_TYPES = ("prompt", "completion", "cache_write", "cache_read")
"""The four kinds of tokens, by their stem (every token unit is one of them: see units)."""
INPUT_TYPES = ("prompt", "cache_write", "cache_read")
_KINDS = {
    "prompt": Kind.INPUT,
    "completion": Kind.OUTPUT,
    "cache_write": Kind.CACHE_WRITE,
    "cache_read": Kind.CACHE_READ,
}
OTHER = "Other"


class Bucket(StrEnum):
    """How days are grouped on the time charts."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True)
class Selection:
    """Which spend a figure covers (an empty filter set means all).

    Attributes:
        sources: conversation sources (``chat`` for the chat window, or tools' names); see
            the module's note on spend outside any conversation.
    """

    since: date | None = None
    until: date | None = None
    providers: frozenset[str] = field(default_factory=frozenset)
    models: frozenset[str] = field(default_factory=frozenset)
    sources: frozenset[str] = field(default_factory=frozenset)


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
    source: str | None = None
    """The conversation's source (a conversation's bar only)."""


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


class FilterChoices(NamedTuple):
    """What the filter menus offer."""

    providers: list[str]
    models: list[str]
    sources: list[str]
    """``chat`` first, then the tools (see :func:`app.core.conversations.sources`)."""


class _DaySpend(NamedTuple):
    """The spend of one model on one day: its cost and its tokens of each spend type."""

    day: str
    model: str
    cost: Decimal
    tokens: dict[str, int]


def spend_over_time(session: Session, selection: Selection, bucket: Bucket) -> list[CostPoint]:
    """Spend per bucket and model, for the stacked daily-cost chart."""
    points: dict[tuple[date, str], list[Any]] = defaultdict(lambda: [Decimal(0), 0, 0])
    for spent in _spend(session, selection):
        entry = points[(bucket_start(spent.day, bucket), spent.model)]
        entry[0] += spent.cost
        entry[1] += sum(spent.tokens[kind] for kind in INPUT_TYPES)
        entry[2] += spent.tokens["completion"]
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
    for spent in _spend(session, selection):
        costs[spent.model] += spent.cost
    return sorted((Share(m, m, c) for m, c in costs.items()), key=lambda s: s.cost, reverse=True)


def spend_by_conversation(session: Session, selection: Selection, *, top: int = 10) -> list[Share]:
    """The ``top`` conversations by spend, and the rest grouped as "Other"."""
    rows = session.execute(
        select(
            ConversationDay.conversation_id,
            Conversation.title,
            -func.sum(ConversationDay.value),
            Conversation.source,
        )
        .join(Conversation, Conversation.id == ConversationDay.conversation_id)
        .where(*_conversation_filters(selection))
        .group_by(ConversationDay.conversation_id)
        .order_by(func.sum(ConversationDay.value), ConversationDay.conversation_id)
    ).all()
    shares = [
        Share(str(cid), title, Decimal(cost), cid, source)
        for cid, title, cost, source in rows[:top]
    ]
    rest = sum((Decimal(cost) for _, _, cost, _ in rows[top:]), Decimal(0))
    if rest:
        shares.append(Share("other", f"{OTHER} ({len(rows) - top} conversations)", rest))
    return shares


def balance_over_time(session: Session, selection: Selection) -> list[BalancePoint]:
    """The balance at the end of each day of the range.

    Top-ups are included and the provider, model and source filters are ignored: the balance is
    one account, whatever spent it; only the selection's days are used.
    """
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
    """Spend so far this month and the month-end total at the last seven days' rate.

    All spend, whatever its provider, model or source: the budgets it is measured against and
    the balance that pays for it are overall.
    """
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
    """Per model: what prompt caching saved (reads) net of what it cost extra (writes).

    ``conversation_days`` keeps no token type, but outside the cache rows ``uncached`` equals
    ``value``, so the difference over all its rows is the cache rows' difference.
    """
    saved: dict[str, Decimal] = defaultdict(Decimal)
    rows: Sequence[Any]
    if selection.sources:
        rows = session.execute(
            select(SourceDay.model, func.sum(SourceDay.value), func.sum(SourceDay.uncached))
            .where(*_source_filters(selection))
            .group_by(SourceDay.model)
        ).all()
    else:
        rows = session.execute(
            select(DailyTotal.model, func.sum(DailyTotal.value), func.sum(DailyTotal.uncached))
            .where(
                *_daily_filters(selection),
                or_(
                    kind_clause(DailyTotal.token_type, Kind.CACHE_READ),
                    kind_clause(DailyTotal.token_type, Kind.CACHE_WRITE),
                ),
            )
            .group_by(DailyTotal.model)
        ).all()
    for model, value, uncached in rows:
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
    for spent in _spend(session, selection):
        per_model[spent.model][0] += spent.cost
        per_model[spent.model][1] += sum(
            (count * rate_of[kind] for kind, count in spent.tokens.items()), Decimal(0)
        )
    actual = sum((v[0] for v in per_model.values()), Decimal(0))
    repriced = sum((v[1] for v in per_model.values()), Decimal(0))
    rows = tuple((m, v[0], v[1]) for m, v in sorted(per_model.items(), key=lambda kv: -kv[1][0]))
    return Repricing(model, actual, repriced, rows)


def filter_choices(session: Session) -> FilterChoices:
    """Providers and models that have spend, and the conversations' sources, for the menus."""
    rows = session.execute(
        select(DailyTotal.provider, DailyTotal.model)
        .where(spend_clause(DailyTotal.token_type))
        .group_by(DailyTotal.provider, DailyTotal.model)
    ).all()
    return FilterChoices(
        sorted({p for p, _ in rows if p}),
        sorted({m for _, m in rows if m}),
        conversations.sources(session),
    )


def bucket_start(day: date | str, bucket: Bucket) -> date:
    """The first day of the bucket a day falls in (weeks start on Monday)."""
    day = date.fromisoformat(day) if isinstance(day, str) else day
    if bucket is Bucket.WEEK:
        return day - timedelta(days=day.weekday())
    if bucket is Bucket.MONTH:
        return day.replace(day=1)
    return day


def _spend(session: Session, selection: Selection) -> Iterable[_DaySpend]:
    """The selection's spend per day and model (see the module's note on sources)."""
    rows: Sequence[Any]
    if selection.sources:
        rows = session.execute(
            select(
                SourceDay.day,
                SourceDay.model,
                func.sum(SourceDay.value),
                *(func.sum(getattr(SourceDay, f"{kind}_tokens")) for kind in SPEND_TYPES),
            )
            .where(*_source_filters(selection))
            .group_by(SourceDay.day, SourceDay.model)
        ).all()
    else:  # daily_totals keeps tokens negative, in millionths, one row per token type
        rows = session.execute(
            select(
                DailyTotal.day,
                DailyTotal.model,
                func.sum(DailyTotal.value),
                *(_daily_tokens(_KINDS[kind]) for kind in SPEND_TYPES),
            )
            .where(*_daily_filters(selection), spend_clause(DailyTotal.token_type))
            .group_by(DailyTotal.day, DailyTotal.model)
        ).all()
    return [
        _DaySpend(
            day, model, -Decimal(value), dict(zip(SPEND_TYPES, map(int, counts), strict=True))
        )
        for day, model, value, *counts in rows
    ]


def _daily_tokens(kind: Kind) -> ColumnElement[Any]:
    """Positive tokens of one kind, summed from ``daily_totals`` (stored negative)."""
    tokens = case((kind_clause(DailyTotal.token_type, kind), DailyTotal.tokens), else_=0)
    return -type_coerce(func.sum(tokens), Millionths)


def _spent_between(session: Session, first: date, last: date) -> Decimal:
    total = session.scalar(
        select(func.coalesce(func.sum(DailyTotal.value), 0)).where(
            DailyTotal.day >= first.isoformat(),
            DailyTotal.day <= last.isoformat(),
            spend_clause(DailyTotal.token_type),
        )
    )
    return -Decimal(total or 0)


def _daily_filters(selection: Selection) -> list[ColumnElement[bool]]:
    return _filters(selection, DailyTotal.day, DailyTotal.provider, DailyTotal.model)


def _source_filters(selection: Selection) -> list[ColumnElement[bool]]:
    """Filters on ``source_days`` (the selection has sources)."""
    clauses = _filters(selection, SourceDay.day, SourceDay.provider, SourceDay.model)
    clauses.append(SourceDay.source.in_(sorted(selection.sources)))
    return clauses


def _conversation_filters(selection: Selection) -> list[ColumnElement[bool]]:
    """Filters on ``conversation_days`` joined to ``conversations``."""
    clauses = _filters(
        selection, ConversationDay.day, ConversationDay.provider, ConversationDay.model
    )
    if selection.sources:
        clauses.append(Conversation.source.in_(sorted(selection.sources)))
    return clauses


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
