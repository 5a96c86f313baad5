"""Spend summaries by day, week, month, model, conversation or unit (``tallybook report``), and
how far Tallybook's counts and prices were from what the providers reported.

Days and months are UTC calendar days, the same clock the ledger and the CSV export use; weeks
are ISO 8601 weeks of those days (Monday to Sunday, keyed ``2026-W49``).
Only spending rows count; top-ups and refills are not spend. Spend is read through
:mod:`app.core.ledger.spend`, as the dashboard reads it (that module says which table answers
which selection, and why spend outside any conversation counts under no source).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from app.core.ledger import spend
from app.core.ledger.selection import Selection
from app.core.ledger.spend import By, SpendRow
from app.core.money import tidy
from app.core.pricing.units import TOKEN_KINDS, kind_of, label_of
from app.core.storage.models import Request
from app.core.types import GroupBy

NO_CONVERSATION = "(no conversation)"


@dataclass(frozen=True)
class ReportRow:
    """One group: its tokens by type and what they cost (a positive number of credits)."""

    key: str
    label: str
    models: tuple[str, ...]
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    cost: Decimal

    @property
    def total_tokens(self) -> int:
        """Every token of the group, input, output and cache."""
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_write_tokens
            + self.cache_read_tokens
        )


@dataclass(frozen=True)
class Report:
    """The rows of a report and their totals."""

    group_by: GroupBy
    selection: Selection
    """The spend reported on."""
    rows: tuple[ReportRow, ...]

    @property
    def total(self) -> ReportRow:
        """The sum over all rows (its ``key`` is ``total``)."""
        models = sorted({m for row in self.rows for m in row.models})
        return ReportRow(
            key="total",
            label="Total",
            models=tuple(models),
            input_tokens=sum(r.input_tokens for r in self.rows),
            output_tokens=sum(r.output_tokens for r in self.rows),
            cache_write_tokens=sum(r.cache_write_tokens for r in self.rows),
            cache_read_tokens=sum(r.cache_read_tokens for r in self.rows),
            cost=tidy(sum((r.cost for r in self.rows), Decimal(0))),
        )


def build_report(session: Session, group_by: GroupBy, selection: Selection | None = None) -> Report:
    """The selection's spend, grouped (days are inclusive UTC days).

    Read through :mod:`app.core.ledger.spend`, as the dashboard is, so it is fast at any ledger
    size; a test proves it equals a fresh sum of the transactions. Without a source or
    conversation filter, the spend outside any conversation is its own row when grouped by
    conversation; a source filter leaves it out (it has no source).
    """
    selection = selection or Selection()
    by, key_of = _GROUPINGS[group_by]
    found = spend.rows(session, selection, by)
    if group_by in (GroupBy.WEEK, GroupBy.MONTH):
        periods: dict[str, list[SpendRow]] = {}
        for row in found:
            periods.setdefault(key_of(row), []).append(row)
        rows = [_period(group_by, key, days) for key, days in periods.items()]
    else:  # the reader's rows are the groups
        rows = [_row(key_of(row), _label(group_by, key_of(row), row), row) for row in found]
    whole = not selection.sources and selection.conversation_id is None
    if group_by is GroupBy.CONVERSATION and whole:
        (everything,) = spend.rows(session, selection)
        rest = _difference(_row("", "", everything), rows)
        if rest is not None:
            rows.append(rest)
    if group_by in (GroupBy.CONVERSATION, GroupBy.UNIT):
        rows.sort(key=lambda r: r.cost, reverse=True)
    else:
        rows.sort(key=lambda r: r.key)
    return Report(group_by, selection, tuple(rows))


_GROUPINGS: dict[GroupBy, tuple[tuple[By, ...], Callable[[SpendRow], str]]] = {
    GroupBy.DAY: ((By.DAY,), lambda row: str(row.day)),
    GroupBy.WEEK: ((By.DAY,), lambda row: _iso_week(row.day)),
    GroupBy.MONTH: ((By.DAY,), lambda row: str(row.day)[:7]),
    GroupBy.MODEL: ((By.MODEL,), lambda row: row.model),
    GroupBy.CONVERSATION: ((By.CONVERSATION,), lambda row: str(row.conversation_id)),
    GroupBy.UNIT: ((By.UNIT,), lambda row: row.token_type),
}
"""What each grouping asks the reader for, and the report's key of each row it gets back
(weeks and months are summed here from days)."""


def _iso_week(day: date | None) -> str:
    """``2026-W49``: the ISO year and week of a day (a week's days share them)."""
    assert day is not None  # grouped by day
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _week_label(key: str) -> str:
    """``2026-W49 (Nov 30 - Dec 6)``: the week and its Monday to Sunday."""
    monday = date.fromisoformat(f"{key}-1")
    sunday = monday + timedelta(days=6)
    end = f"{_MONTHS[sunday.month]} {sunday.day}" if sunday.month != monday.month else sunday.day
    return f"{key} ({_MONTHS[monday.month]} {monday.day} - {end})"


_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
"""English month names, whatever the locale (the rest of the report is English too)."""


def _label(group_by: GroupBy, key: str, row: SpendRow) -> str:
    """A row's words: a conversation's title, a unit's name (with its count if not tokens)."""
    if group_by is GroupBy.CONVERSATION:
        return row.title or f"(untitled #{key})"
    if group_by is GroupBy.UNIT:
        label = label_of(key)
        return (
            f"{label} ({row.units:,})" if kind_of(key) not in TOKEN_KINDS and row.units else label
        )
    return key


def _row(key: str, label: str, row: SpendRow) -> ReportRow:
    return ReportRow(
        key,
        label,
        row.models,
        row.input_tokens,
        row.output_tokens,
        row.cache_write_tokens,
        row.cache_read_tokens,
        row.cost,
    )


def _period(group_by: GroupBy, key: str, days: list[SpendRow]) -> ReportRow:
    """A week's or a month's row, summed from its days' (a year is a few hundred of them)."""
    return ReportRow(
        key=key,
        label=_week_label(key) if group_by is GroupBy.WEEK else key,
        models=tuple(sorted({model for day in days for model in day.models})),
        input_tokens=sum(day.input_tokens for day in days),
        output_tokens=sum(day.output_tokens for day in days),
        cache_write_tokens=sum(day.cache_write_tokens for day in days),
        cache_read_tokens=sum(day.cache_read_tokens for day in days),
        cost=sum((day.cost for day in days), Decimal(0)),
    )


def _difference(everything: ReportRow, parts: list[ReportRow]) -> ReportRow | None:
    """Spend outside any conversation: the total minus the conversations' share."""
    rest = ReportRow(
        "0",
        NO_CONVERSATION,
        everything.models,
        everything.input_tokens - sum(r.input_tokens for r in parts),
        everything.output_tokens - sum(r.output_tokens for r in parts),
        everything.cache_write_tokens - sum(r.cache_write_tokens for r in parts),
        everything.cache_read_tokens - sum(r.cache_read_tokens for r in parts),
        everything.cost - sum((r.cost for r in parts), Decimal(0)),
    )
    return rest if rest.total_tokens or rest.cost else None


@dataclass(frozen=True)
class EstimateAccuracy:
    """How the pre-send counts of one model compared with what its provider reported."""

    model: str
    method: str
    requests: int
    mean_estimated: float
    mean_reported: float
    mean_gap_percent: float
    """Signed: positive when estimates run high."""
    worst_gap_percent: float


def estimate_accuracy(session: Session) -> list[EstimateAccuracy]:
    """Per model and counting method, over every request that has both numbers."""
    gap = (
        (Request.estimated_prompt_tokens - Request.reported_prompt_tokens)
        * 100.0
        / Request.reported_prompt_tokens
    )
    method = func.coalesce(Request.estimate_method, "unknown")
    statement = (
        select(
            Request.model,
            method,
            func.count(),
            func.avg(Request.estimated_prompt_tokens),
            func.avg(Request.reported_prompt_tokens),
            func.avg(gap),
            func.max(func.abs(gap)),
        )
        .where(Request.estimated_prompt_tokens.is_not(None))
        .where(Request.reported_prompt_tokens > 0)
        .group_by(Request.model, method)
        .order_by(Request.model, method)
    )
    return [EstimateAccuracy(*row) for row in session.execute(statement)]


COST_TOLERANCE_PERCENT = 1.0
"""A reply whose computed price is further than this from the provider's figure is flagged."""


@dataclass(frozen=True)
class CostAccuracy:
    """How Tallybook's computed prices of one model compared with its provider's own figures."""

    model: str
    requests: int
    computed: Decimal
    reported: Decimal
    gap_percent: float
    """Signed, over all the requests: positive when the computed prices run high."""
    worst_gap_percent: float
    off: int
    """Requests more than :data:`COST_TOLERANCE_PERCENT` off."""


@dataclass(frozen=True)
class FlaggedRequest:
    """A request whose figures deserve a second look, and why."""

    request_id: int
    created_at: datetime
    model: str
    reason: str


def cost_accuracy(session: Session) -> list[CostAccuracy]:
    """Per model, over every request whose provider reported its own cost."""
    gap = _cost_gap()
    statement = (
        select(
            Request.model,
            func.count(),
            func.sum(Request.computed_cost),
            func.sum(Request.provider_cost),
            func.max(func.abs(gap)),
            func.sum(case((func.abs(gap) > COST_TOLERANCE_PERCENT, 1), else_=0)),
        )
        .where(Request.provider_cost.is_not(None), Request.computed_cost.is_not(None))
        .group_by(Request.model)
        .order_by(Request.model)
    )
    rows = []
    for model, count, computed, reported, worst, off in session.execute(statement):
        computed, reported = Decimal(computed), Decimal(reported)
        overall = float((computed - reported) / reported * 100) if reported else 0.0
        rows.append(
            CostAccuracy(model, count, computed, reported, overall, float(worst or 0), int(off))
        )
    return rows


def flagged_requests(session: Session, *, limit: int = 50) -> list[FlaggedRequest]:
    """The latest requests whose usage Tallybook did not fully understand, or whose computed
    price was more than :data:`COST_TOLERANCE_PERCENT` from the provider's figure."""
    gap = _cost_gap()
    statement = (
        select(
            Request.id,
            Request.created_at,
            Request.model,
            Request.usage_notes,
            Request.computed_cost,
            Request.provider_cost,
            gap,
        )
        .where(
            or_(
                Request.usage_notes.is_not(None),
                and_(Request.provider_cost.is_not(None), func.abs(gap) > COST_TOLERANCE_PERCENT),
            )
        )
        .order_by(Request.id.desc())
        .limit(limit)
    )
    flagged = []
    for request_id, at, model, notes, computed, reported, percent in session.execute(statement):
        reasons = [notes] if notes else []
        if reported is not None and percent is not None and abs(percent) > COST_TOLERANCE_PERCENT:
            reasons.append(
                f"computed {computed:f} credits vs the provider's {reported:f} ({percent:+.1f}%)"
            )
        flagged.append(FlaggedRequest(request_id, at, model, "; ".join(reasons)))
    return flagged


def _cost_gap() -> ColumnElement[Any]:
    """(computed - provider) / provider in percent, in SQL (NULL without a provider figure)."""
    return case(
        (
            Request.provider_cost > 0,
            (Request.computed_cost - Request.provider_cost) * 100.0 / Request.provider_cost,
        ),
        (
            Request.provider_cost == 0,
            case((Request.computed_cost > 0, 100.0), else_=0.0),
        ),
    )
