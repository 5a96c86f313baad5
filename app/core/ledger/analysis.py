"""The figures the dashboard draws, all read from the daily rollups (never the raw ledger).

Every figure is for a :class:`~app.core.ledger.selection.Selection` and read through
:mod:`app.core.ledger.spend`, as ``tallybook report`` is, so the two always agree (that module
says which table answers which selection, and why spend outside any conversation counts under
no source). Money is in credits, positive for spend. The balance and the forecast ignore every
filter: the balance is one account, and the budgets it is measured against are overall.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from app.core.ledger import spend
from app.core.ledger.selection import Selection
from app.core.ledger.spend import By
from app.core.pricing.prices import PriceBook

OTHER = "Other"


class Bucket(StrEnum):
    """How days are grouped on the time charts."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


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


def spend_over_time(session: Session, selection: Selection, bucket: Bucket) -> list[CostPoint]:
    """Spend per bucket and model, for the stacked daily-cost chart."""
    points: dict[tuple[date, str], list[Any]] = defaultdict(lambda: [Decimal(0), 0, 0])
    for row in spend.rows(session, selection, (By.DAY, By.MODEL)):
        assert row.day is not None  # grouped by day
        entry = points[(bucket_start(row.day, bucket), row.model)]
        entry[0] += row.cost
        entry[1] += row.input_tokens + row.cache_write_tokens + row.cache_read_tokens
        entry[2] += row.output_tokens
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
    shares = (Share(r.model, r.model, r.cost) for r in _by_model(session, selection))
    return sorted(shares, key=lambda s: s.cost, reverse=True)


def spend_by_conversation(session: Session, selection: Selection, *, top: int = 10) -> list[Share]:
    """The ``top`` conversations by spend, and the rest grouped as "Other"."""
    ranked = spend.largest(session, selection, _CONVERSATION, top)
    shares = [
        Share(str(r.conversation_id), r.title or "", r.cost, r.conversation_id, r.source)
        for r in ranked.top
    ]
    rest = ranked.cost - sum((share.cost for share in shares), Decimal(0))
    if rest:
        shares.append(Share("other", f"{OTHER} ({ranked.groups - top} conversations)", rest))
    return shares


def balance_over_time(session: Session, selection: Selection) -> list[BalancePoint]:
    """The balance at the end of each day of the range.

    Top-ups are included and the provider, model and source filters are ignored: the balance is
    one account, whatever spent it; only the selection's days are used.
    """
    points, running = [], Decimal(0)
    for day, change in spend.balance_changes(session):
        running += change
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
    spent = spend.total(session, Selection(since=month_start, until=today))
    week_start = max(today - timedelta(days=6), month_start - timedelta(days=31))
    days = (today - week_start).days + 1
    daily_rate = spend.total(session, Selection(since=week_start, until=today)) / days
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
    rows = _by_model(session, selection, savings=True)
    savings = (Saving(r.model, r.model, r.saved) for r in rows)
    return sorted((s for s in savings if s.saved), key=lambda s: s.saved, reverse=True)


def cache_savings_by_conversation(
    session: Session, selection: Selection, *, top: int = 10
) -> list[Saving]:
    """The conversations whose prompt cache saved the most."""
    ranked = spend.largest(session, selection, _CONVERSATION, top, savings=True)
    return [Saving(str(r.conversation_id), r.title or "", r.saved) for r in ranked.top if r.saved]


def reprice(session: Session, selection: Selection, model: str, book: PriceBook) -> Repricing:
    """What the selection would have cost on ``model``, from its stored token counts.

    Long-context tiers are not re-applied (the per-request input sizes are not in the daily
    rollups): the target's base rates are used.
    """
    rates = book.rates(model)
    by_model = [
        (
            row.model,
            row.cost,
            row.input_tokens * rates.prompt
            + row.output_tokens * rates.completion
            + row.cache_write_tokens * rates.cache_write
            + row.cache_read_tokens * rates.cache_read,
        )
        for row in _by_model(session, selection)
    ]
    by_model.sort(key=lambda entry: (-entry[1], entry[0]))
    actual = sum((cost for _, cost, _ in by_model), Decimal(0))
    repriced = sum((cost for _, _, cost in by_model), Decimal(0))
    return Repricing(model, actual, repriced, tuple(by_model))


def bucket_start(day: date | str, bucket: Bucket) -> date:
    """The first day of the bucket a day falls in (weeks start on Monday)."""
    day = date.fromisoformat(day) if isinstance(day, str) else day
    if bucket is Bucket.WEEK:
        return day - timedelta(days=day.weekday())
    if bucket is Bucket.MONTH:
        return day.replace(day=1)
    return day


def _by_model(
    session: Session, selection: Selection, *, savings: bool = False
) -> list[spend.SpendRow]:
    return spend.rows(session, selection, (By.MODEL,), savings=savings)


_CONVERSATION = (By.CONVERSATION,)
