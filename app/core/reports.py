"""Spend summaries by day, month, model or conversation (``tallybook report``, the dashboard).

Days and months are UTC calendar days, the same clock the ledger and the CSV export use.
Only spending rows count; top-ups and refills are not spend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from app.core.ledger import TokenType
from app.core.models import Conversation, Request, Transaction
from app.core.money import tidy


class GroupBy(StrEnum):
    """How ``report`` groups rows."""

    DAY = "day"
    MONTH = "month"
    MODEL = "model"
    CONVERSATION = "conversation"


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
) -> Report:
    """Spend between ``since`` and ``until`` (inclusive UTC days; ``None`` = unbounded)."""
    key = _group_key(group_by)
    statement = (
        select(
            key.label("key"),
            func.group_concat(func.distinct(Transaction.model)).label("models"),
            _tokens_of(TokenType.PROMPT),
            _tokens_of(TokenType.COMPLETION),
            _tokens_of(TokenType.CACHE_WRITE),
            _tokens_of(TokenType.CACHE_READ),
            func.sum(Transaction.token_value).label("value"),
        )
        .where(Transaction.token_type != TokenType.CREDITS.value)
        .where(*time_filters(since, until))
        .group_by(key)
        .order_by(key)
    )
    if group_by is GroupBy.CONVERSATION:
        statement = statement.add_columns(func.max(Conversation.title)).outerjoin(
            Conversation, Conversation.id == Transaction.conversation_id
        )
    rows = tuple(_row(group_by, values) for values in session.execute(statement))
    if group_by is GroupBy.CONVERSATION:
        rows = tuple(sorted(rows, key=lambda r: r.cost, reverse=True))
    return Report(group_by, since, until, rows)


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


def _group_key(group_by: GroupBy) -> ColumnElement[Any]:
    match group_by:
        case GroupBy.DAY:
            return func.substr(Transaction.created_at, 1, 10)
        case GroupBy.MONTH:
            return func.substr(Transaction.created_at, 1, 7)
        case GroupBy.MODEL:
            return func.coalesce(Transaction.model, "")
        case GroupBy.CONVERSATION:
            return func.coalesce(Transaction.conversation_id, 0)


def _tokens_of(kind: TokenType) -> ColumnElement[Any]:
    """Tokens of one type as a positive count (stored negative, in millionths)."""
    return func.coalesce(
        func.sum(case((Transaction.token_type == kind.value, Transaction.raw_amount))), 0
    ).label(kind.value)


def _row(group_by: GroupBy, values: Sequence[Any]) -> ReportRow:
    key, models, prompt, completion, cache_write, cache_read, value, *title = values
    label = str(key)
    if group_by is GroupBy.CONVERSATION:
        label = (
            (title[0] if title and title[0] else "(no conversation)")
            if key
            else "(no conversation)"
        )
    return ReportRow(
        key=str(key),
        label=label,
        models=tuple(sorted(filter(None, (models or "").split(",")))),
        input_tokens=-int(Decimal(prompt)),
        output_tokens=-int(Decimal(completion)),
        cache_write_tokens=-int(Decimal(cache_write)),
        cache_read_tokens=-int(Decimal(cache_read)),
        cost=-Decimal(value or 0),
    )
