"""Browsing the raw ledger: filtered, sorted, a page at a time (keyset paging, any size).

The transactions view and the export read through here, with the same
:class:`~app.core.ledger.selection.Selection` (the one the dashboard and the reports take), so
an export of "the current filter" is exactly what the table shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal, select, tuple_
from sqlalchemy.orm import Session

from app.core.ledger import spend
from app.core.ledger.entries import TokenType
from app.core.ledger.selection import Selection
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
    Transaction.request_id,
)
SORTABLE = ("created_at", "provider", "model", "token_type", "raw_amount", "rate", "token_value")


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
    request_id: int | None = None
    """The request the row charges (``None`` for a top-up)."""

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
    selection: Selection,
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
    statement = _rows_statement().where(*selection.transaction_clauses())
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


def rows_where(session: Session, *clauses: ColumnElement[bool]) -> list[Row]:
    """The transactions ``clauses`` pick (a request's few), in the order they were written."""
    found = session.execute(_rows_statement().where(*clauses).order_by(Transaction.id))
    return [Row(**values._asdict()) for values in found]


def _rows_statement() -> Select[*tuple[Any, ...]]:
    return (
        select(*_COLUMNS)
        .outerjoin(Conversation, Conversation.id == Transaction.conversation_id)
        .outerjoin(Request, Request.id == Transaction.request_id)
    )


def totals(session: Session, selection: Selection) -> Totals:
    """Count and sums of the filtered transactions (from the daily rollup where it can say)."""
    counted = spend.ledger_counts(session, selection)
    if counted is not None:
        return Totals(*counted)
    spent = func.coalesce(
        func.sum(Transaction.token_value).filter(Transaction.token_type != _CREDITS), 0
    )
    credited = func.coalesce(
        func.sum(Transaction.token_value).filter(Transaction.token_type == _CREDITS), 0
    )
    count, spent_value, credited_value = session.execute(
        select(func.count(), spent, credited).where(*selection.transaction_clauses())
    ).one()
    return Totals(count, -Decimal(spent_value), Decimal(credited_value))
