"""Spend summaries by day, month, model or conversation (``tallybook report``, the dashboard).

Days and months are UTC calendar days, the same clock the ledger and the CSV export use.
Only spending rows count; top-ups and refills are not spend. A report for some sources (the
chat window, tools on the local endpoint) reads their conversations' days, as the dashboard does
(see :mod:`app.core.ledger.analysis` on spend outside any conversation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from app.core.money import tidy
from app.core.pricing.units import Kind, kind_clause, kind_of, label_of, spend_clause
from app.core.storage.models import (
    Conversation,
    ConversationDay,
    DailyTotal,
    Request,
    SourceDay,
    Transaction,
)

NO_CONVERSATION = "(no conversation)"
_TOKEN_ORDER = (Kind.INPUT, Kind.OUTPUT, Kind.CACHE_WRITE, Kind.CACHE_READ)


class GroupBy(StrEnum):
    """How ``report`` groups rows."""

    DAY = "day"
    MONTH = "month"
    MODEL = "model"
    CONVERSATION = "conversation"
    UNIT = "unit"
    """Per billed unit (``token_type``): tokens, searches, steps, tier adjustments."""


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
    since: date | None
    until: date | None
    rows: tuple[ReportRow, ...]
    sources: frozenset[str] = frozenset()
    """The sources reported on (empty: all spend)."""

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


def build_report(
    session: Session,
    group_by: GroupBy,
    *,
    since: date | None = None,
    until: date | None = None,
    sources: frozenset[str] = frozenset(),
) -> Report:
    """Spend between ``since`` and ``until`` (inclusive UTC days; ``None`` = unbounded).

    Read from the daily aggregates (the dashboard reads the same), so it is fast at any ledger
    size; a test proves the aggregates equal a fresh sum of the transactions.

    Args:
        sources: only the conversations from these sources (``chat``, tools' names); empty
            for all spend, including any recorded outside a conversation.
    """
    if group_by is GroupBy.CONVERSATION:
        rows = _by_conversation(session, since, until, sources)
    elif group_by is GroupBy.UNIT:
        rows = _by_unit(session, since, until, sources)
    elif sources:
        rows = _by_period_or_model_of(session, group_by, since, until, sources)
    else:
        rows = _by_period_or_model(session, group_by, since, until)
    return Report(group_by, since, until, rows, sources)


def _by_period_or_model(
    session: Session, group_by: GroupBy, since: date | None, until: date | None
) -> tuple[ReportRow, ...]:
    key = {
        GroupBy.DAY: DailyTotal.day,
        GroupBy.MONTH: func.substr(DailyTotal.day, 1, 7),
        GroupBy.MODEL: DailyTotal.model,
    }[group_by]
    statement = (
        select(
            key,
            func.group_concat(func.distinct(DailyTotal.model)),
            *(_tokens_of(kind) for kind in _TOKEN_ORDER),
            func.sum(DailyTotal.value),
        )
        .where(spend_clause(DailyTotal.token_type))
        .where(*_day_filters(DailyTotal.day, since, until))
        .group_by(key)
        .order_by(key)
    )
    return tuple(
        _row(str(group), str(group), models, tokens, value)
        for group, models, *tokens, value in session.execute(statement)
    )


_CONVERSATION_TOKENS = (
    ConversationDay.prompt_tokens,
    ConversationDay.completion_tokens,
    ConversationDay.cache_write_tokens,
    ConversationDay.cache_read_tokens,
)


_SOURCE_TOKENS = (
    SourceDay.prompt_tokens,
    SourceDay.completion_tokens,
    SourceDay.cache_write_tokens,
    SourceDay.cache_read_tokens,
)


def _by_period_or_model_of(
    session: Session,
    group_by: GroupBy,
    since: date | None,
    until: date | None,
    sources: frozenset[str],
) -> tuple[ReportRow, ...]:
    """As :func:`_by_period_or_model`, for some sources only (from ``source_days``)."""
    key = {
        GroupBy.DAY: SourceDay.day,
        GroupBy.MONTH: func.substr(SourceDay.day, 1, 7),
        GroupBy.MODEL: SourceDay.model,
    }[group_by]
    statement = (
        select(
            key,
            func.group_concat(func.distinct(SourceDay.model)),
            *(-func.sum(column) for column in _SOURCE_TOKENS),
            func.sum(SourceDay.value),
        )
        .where(*_day_filters(SourceDay.day, since, until))
        .where(SourceDay.source.in_(sorted(sources)))
        .group_by(key)
        .order_by(key)
    )
    # Tokens are stored positive here; _row expects the ledger's negative sums.
    return tuple(
        _row(str(group), str(group), models, tokens, value)
        for group, models, *tokens, value in session.execute(statement)
    )


def _by_unit(
    session: Session, since: date | None, until: date | None, sources: frozenset[str]
) -> tuple[ReportRow, ...]:
    """One row per ``token_type``: from the daily totals, or for some sources from their
    conversations' transactions (the per-source aggregates keep no token type)."""
    if sources:
        chosen = select(Conversation.id).where(Conversation.source.in_(sorted(sources)))
        statement = (
            select(
                Transaction.token_type,
                func.group_concat(func.distinct(Transaction.model)),
                func.sum(Transaction.raw_amount),
                func.sum(Transaction.token_value),
            )
            .where(*time_filters(since, until), Transaction.conversation_id.in_(chosen))
            .group_by(Transaction.token_type)
        )
    else:
        statement = (
            select(
                DailyTotal.token_type,
                func.group_concat(func.distinct(DailyTotal.model)),
                func.sum(DailyTotal.tokens),
                func.sum(DailyTotal.value),
            )
            .where(*_day_filters(DailyTotal.day, since, until))
            .group_by(DailyTotal.token_type)
        )
    rows = []
    for token_type, models, amount, value in session.execute(statement):
        if kind_of(token_type) is Kind.CREDITS:
            continue
        count = -int(Decimal(amount or 0))
        kind = kind_of(token_type)
        label = label_of(token_type)
        if kind not in _TOKEN_ORDER and count:
            label = f"{label} ({count:,})"
        counts = [-count if kind is k else 0 for k in _TOKEN_ORDER]
        rows.append(_row(token_type, label, models, counts, value))
    return tuple(sorted(rows, key=lambda r: r.cost, reverse=True))


def _by_conversation(
    session: Session, since: date | None, until: date | None, sources: frozenset[str]
) -> tuple[ReportRow, ...]:
    statement = (
        select(
            ConversationDay.conversation_id,
            func.max(Conversation.title),
            func.group_concat(func.distinct(ConversationDay.model)),
            *(-func.sum(column) for column in _CONVERSATION_TOKENS),
            func.sum(ConversationDay.value),
        )
        .join(Conversation, Conversation.id == ConversationDay.conversation_id)
        .where(*_day_filters(ConversationDay.day, since, until))
        .group_by(ConversationDay.conversation_id)
    )
    if sources:
        statement = statement.where(Conversation.source.in_(sorted(sources)))
    # Tokens are stored positive here; _row expects the ledger's negative sums.
    rows = [
        _row(str(cid), title or NO_CONVERSATION, models, tokens, value)
        for cid, title, models, *tokens, value in session.execute(statement)
    ]
    if sources:  # spend outside any conversation has no source
        return tuple(sorted(rows, key=lambda r: r.cost, reverse=True))
    everything = _by_period_or_model(session, GroupBy.MODEL, since, until)
    rest = _difference(everything, rows)
    if rest is not None:
        rows.append(rest)
    return tuple(sorted(rows, key=lambda r: r.cost, reverse=True))


def _difference(everything: tuple[ReportRow, ...], parts: list[ReportRow]) -> ReportRow | None:
    """Spend outside any conversation: the total minus the conversations' share."""

    def total(rows: Sequence[ReportRow], name: str) -> Any:
        return sum((getattr(r, name) for r in rows), Decimal(0) if name == "cost" else 0)

    fields = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens", "cost")
    left = {name: total(everything, name) - total(parts, name) for name in fields}
    if not any(left.values()):
        return None
    models = {m for r in everything for m in r.models}
    return ReportRow("0", NO_CONVERSATION, tuple(sorted(models)), **left)


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


def time_filters(since: date | None, until: date | None) -> list[ColumnElement[bool]]:
    """WHERE clauses for an inclusive range of UTC days on ``transactions.created_at``."""
    clauses: list[ColumnElement[bool]] = []
    if since is not None:
        clauses.append(Transaction.created_at >= datetime.combine(since, time.min))
    if until is not None:
        clauses.append(
            Transaction.created_at < datetime.combine(until + timedelta(days=1), time.min)
        )
    return clauses


def _tokens_of(kind: Kind) -> ColumnElement[Any]:
    """Tokens of one kind, every unit of it (stored negative, in millionths, in daily_totals)."""
    return func.coalesce(
        func.sum(case((kind_clause(DailyTotal.token_type, kind), DailyTotal.tokens))), 0
    )


def _day_filters(day: Any, since: date | None, until: date | None) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if since is not None:
        clauses.append(day >= since.isoformat())
    if until is not None:
        clauses.append(day <= until.isoformat())
    return clauses


def _row(key: str, label: str, models: str | None, tokens: Sequence[Any], value: Any) -> ReportRow:
    prompt, completion, cache_write, cache_read = (-int(Decimal(t)) for t in tokens)
    return ReportRow(
        key=key,
        label=label,
        models=tuple(sorted(filter(None, (models or "").split(",")))),
        input_tokens=prompt,
        output_tokens=completion,
        cache_write_tokens=cache_write,
        cache_read_tokens=cache_read,
        cost=-Decimal(value or 0),
    )
