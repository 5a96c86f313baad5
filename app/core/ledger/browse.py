"""Browsing the raw ledger: filtered, sorted, a page at a time (keyset paging, any size).

The transactions view and the export read through here, with the same :class:`Filter`, so an
export of "the current filter" is exactly what the table shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, func, literal, or_, select, tuple_
from sqlalchemy.orm import Session

from app.core.ledger.entries import TokenType
from app.core.pricing.units import Kind, kind_clause
from app.core.storage.models import Conversation, Request, Transaction

PAGE_SIZE = 500
_CREDITS = TokenType.CREDITS.value
_COLUMNS = (
    Transaction.id,
    Transaction.created_at,
    Transaction.conversation_id,
    Conversation.title.label("conversation_title"),
    Transaction.provider,
    Transaction.model,
    Transaction.token_type,
    Transaction.raw_amount,
    Transaction.rate,
    Transaction.token_value,
    Transaction.context,
    Transaction.estimated,
    Transaction.rate_source,
    Request.requested_model,
    Request.usage_notes,
)
SORTABLE = ("created_at", "provider", "model", "token_type", "raw_amount", "rate", "token_value")


@dataclass(frozen=True)
class Filter:
    """Which transactions: a day range (UTC, inclusive) and any of the other criteria.

    Attributes:
        sources: the sources of the transactions' conversations (``chat`` for the chat
            window, or tools' names). Rows without a conversation, top-ups above all, come
            from no source: a source filter leaves them out.
    """

    since: date | None = None
    until: date | None = None
    providers: frozenset[str] = field(default_factory=frozenset)
    models: frozenset[str] = field(default_factory=frozenset)
    conversation_id: int | None = None
    token_types: frozenset[str] = field(default_factory=frozenset)
    estimated: bool | None = None
    sources: frozenset[str] = field(default_factory=frozenset)
    kinds: frozenset[Kind] = field(default_factory=frozenset)
    """Kinds of rows (input, cache writes of any lifetime, other units...), see units.Kind."""

    def clauses(self) -> list[ColumnElement[bool]]:
        """The WHERE clauses on ``transactions``."""
        clauses: list[ColumnElement[bool]] = []
        if self.since is not None:
            clauses.append(Transaction.created_at >= datetime.combine(self.since, time.min))
        if self.until is not None:
            end = datetime.combine(self.until + timedelta(days=1), time.min)
            clauses.append(Transaction.created_at < end)
        if self.providers:
            clauses.append(Transaction.provider.in_(sorted(self.providers)))
        if self.models:
            clauses.append(Transaction.model.in_(sorted(self.models)))
        if self.conversation_id is not None:
            clauses.append(Transaction.conversation_id == self.conversation_id)
        if self.token_types:
            clauses.append(Transaction.token_type.in_(sorted(self.token_types)))
        if self.kinds:
            clauses.append(or_(*(kind_clause(Transaction.token_type, k) for k in self.kinds)))
        if self.estimated is not None:
            clauses.append(Transaction.estimated == self.estimated)
        if self.sources:
            # A subquery, not a join: the clauses stay on ``transactions`` alone, for every
            # caller (totals reads no conversation; the page and the export join their own).
            chosen = select(Conversation.id).where(Conversation.source.in_(sorted(self.sources)))
            clauses.append(Transaction.conversation_id.in_(chosen))
        return clauses


@dataclass(frozen=True)
class Row:
    """One transaction as the table shows it."""

    id: int
    created_at: datetime
    conversation_id: int | None
    conversation_title: str | None
    provider: str | None
    model: str | None
    token_type: str
    raw_amount: Decimal
    rate: Decimal
    token_value: Decimal
    context: str
    estimated: bool
    rate_source: str
    requested_model: str | None = None
    """The model the request asked for, where another one (``model``) served and priced it."""
    usage_notes: str | None = None
    """What the provider reported that Tallybook did not understand (the row is flagged)."""

    def sort_key(self, column: str) -> tuple[Any, int]:
        """The keyset position of this row for a sort column."""
        return (getattr(self, column), self.id)


@dataclass(frozen=True)
class Totals:
    """Sums over everything the filter selects (not just the loaded pages)."""

    transactions: int
    spent: Decimal
    """Credits spent (positive), top-ups excluded."""
    credited: Decimal
    """Credits added by top-ups, refills and adjustments."""


def page(
    session: Session,
    selection: Filter,
    *,
    sort: str = "created_at",
    descending: bool = True,
    after: tuple[Any, int] | None = None,
    limit: int = PAGE_SIZE,
) -> list[Row]:
    """The next ``limit`` rows after the keyset position ``after`` (the first page if None).

    Raises:
        ValueError: ``sort`` is not a sortable column.
    """
    if sort not in SORTABLE:
        raise ValueError(f"cannot sort by {sort!r}")
    attribute = getattr(Transaction, sort)
    # Top-ups have no provider or model: compare them as "" so the keyset never skips them
    # (NULL compares as unknown). The position is bound with the column's own type, so an
    # amount compares as the stored integer of millionths, not as a float of credits.
    column = func.coalesce(attribute, "") if sort in ("provider", "model") else attribute
    statement = (
        select(*_COLUMNS)
        .outerjoin(Conversation, Conversation.id == Transaction.conversation_id)
        .outerjoin(Request, Request.id == Transaction.request_id)
        .where(*selection.clauses())
    )
    if after is not None:
        position = tuple_(column, Transaction.id)
        value = "" if after[0] is None and sort in ("provider", "model") else after[0]
        bound = tuple_(literal(value, attribute.type), literal(after[1]))
        statement = statement.where(position < bound if descending else position > bound)
    order = (
        (column.desc(), Transaction.id.desc())
        if descending
        else (column.asc(), Transaction.id.asc())
    )
    rows = session.execute(statement.order_by(*order).limit(limit))
    return [Row(**values._asdict()) for values in rows]


def totals(session: Session, selection: Filter) -> Totals:
    """Count and sums of the filtered transactions."""
    spent = func.coalesce(
        func.sum(Transaction.token_value).filter(Transaction.token_type != _CREDITS), 0
    )
    credited = func.coalesce(
        func.sum(Transaction.token_value).filter(Transaction.token_type == _CREDITS), 0
    )
    count, spent_value, credited_value = session.execute(
        select(func.count(), spent, credited).where(*selection.clauses())
    ).one()
    return Totals(count, -Decimal(spent_value), Decimal(credited_value))
