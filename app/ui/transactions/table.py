"""Every transaction of a filter (the raw ledger, a row per billed unit), a keyset page at a time.

The paging itself is :class:`~app.ui.transactions.paging.PagedTableModel`'s; this module says
what a ledger row's columns are and reads its pages with :func:`app.core.ledger.browse.page`.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject
from sqlalchemy.orm import Session

from app.core import money
from app.core.ledger import browse
from app.core.ledger.browse import Row
from app.core.ledger.entries import TokenType
from app.core.ledger.selection import Selection
from app.core.pricing.units import is_default_rated
from app.ui.context import AppContext
from app.ui.transactions.paging import Column, PagedTableModel, RowRole

__all__ = ["COLUMNS", "RowRole", "TransactionTableModel"]


def _value_tip(row: Row) -> str:
    usd = money.credits_to_usd(row.token_value)
    sign = "-" if usd < 0 else ""
    return f"{money.format_credits(row.token_value)} credits = {sign}${abs(usd):f}"


def _conversation_tip(row: Row) -> str | None:
    if row.conversation_id is None:
        return None
    return f"{row.conversation_title} (#{row.conversation_id})"


def _estimated_tip(row: Row) -> str | None:
    if not row.estimated:
        return None
    return "Tallybook counted these tokens itself; the provider reported none"


def _flags(row: Row) -> str:
    """What to look at twice: another model served the request, a rate is a default, the
    provider reported something Tallybook did not understand."""
    flags = []
    if row.requested_model:
        flags.append(f"asked {row.requested_model}")
    if is_default_rated(row.rate_source):
        flags.append("⚠ default rate")
    if row.usage_notes:
        flags.append("⚠ usage not fully understood")
    return " · ".join(flags)


def _estimated(row: Row) -> str:
    if row.token_type == TokenType.CREDITS:
        return ""
    return "≈ yes" if row.estimated else "no"


COLUMNS: tuple[Column[Row], ...] = (
    Column(
        "Time (UTC)",
        "created_at",
        lambda r: r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        tip="When the transaction was recorded, in UTC like the reports and the CSV",
    ),
    Column(
        "Conversation",
        None,
        lambda r: r.conversation_title or "—",
        tip="The conversation the request belonged to (— for top-ups); not sortable",
        cell_tip=_conversation_tip,
    ),
    Column("Provider", "provider", lambda r: r.provider or "—"),
    Column("Model", "model", lambda r: r.model or "—"),
    Column("Token type", "token_type", lambda r: r.token_type),
    Column(
        "Tokens",
        "raw_amount",
        lambda r: money.format_credits(r.raw_amount),
        numeric=True,
        tip="raw_amount: the unit's count (tokens, searches), negative when spent "
        "(credits for a top-up)",
    ),
    Column(
        "Rate",
        "rate",
        lambda r: f"{r.rate:f}",
        numeric=True,
        tip="Credits per unit: per token the same number as USD per million tokens",
    ),
    Column(
        "Value (credits)",
        "token_value",
        lambda r: money.format_credits(r.token_value),
        numeric=True,
        tip="token_value = raw_amount x rate; 1,000,000 credits = $1",
        cell_tip=_value_tip,
    ),
    Column(
        "USD",
        "token_value",
        lambda r: money.format_usd(r.token_value),
        numeric=True,
        tip="The value in dollars (the tooltip of a cell has it exactly)",
        cell_tip=_value_tip,
    ),
    Column("Context", None, lambda r: r.context, tip="Why the request ran; not sortable"),
    Column(
        "Estimated",
        None,
        _estimated,
        tip="≈ yes: Tallybook counted the tokens itself (the provider reported none)",
        cell_tip=_estimated_tip,
    ),
    Column("Rate source", None, lambda r: r.rate_source, tip="Where the rate came from"),
    Column(
        "Flags",
        None,
        _flags,
        tip="asked X: the reply named another model, which is what was billed and priced; "
        "⚠ default rate: no price in the table; ⚠ usage not fully understood: the provider "
        "reported counts Tallybook does not know (see `tallybook estimates`)",
    ),
)
TIME_COLUMN = 0
VALUE_COLUMN = next(i for i, c in enumerate(COLUMNS) if c.title == "Value (credits)")


class TransactionTableModel(PagedTableModel[Row]):
    """The transactions of a filter in a sort order, with the totals of the whole filtered set
    (see :class:`~app.ui.transactions.paging.PagedTableModel` for the paging and signals)."""

    def __init__(
        self,
        context: AppContext,
        parent: QObject | None = None,
        *,
        page_size: int = browse.PAGE_SIZE,
    ) -> None:
        super().__init__(context, COLUMNS, parent, page_size=page_size, with_totals=True)

    def _read(
        self,
        session: Session,
        selection: Selection,
        *,
        sort: str,
        descending: bool,
        after: Any,
        limit: int,
    ) -> list[Row]:
        return browse.page(
            session, selection, sort=sort, descending=descending, after=after, limit=limit
        )

    def _after(self, row: Row, sort: str) -> tuple[Any, int]:
        return row.sort_key(sort)
