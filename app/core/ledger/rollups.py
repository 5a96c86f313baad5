"""Keeping the daily aggregates exact as transactions are written.

Every write of transactions also adds them, in the same database transaction, to
``daily_totals`` (per UTC day, provider, model, token type), ``conversation_days`` and
``source_days`` (the conversation days regrouped by their conversation's source). Rows are summed
in Python first, then upserted once per key, so a batch of thousands of transactions costs a few
hundred statements, and one chat reply costs four (one of them reads the conversation's source).

Every count is stored positive (tokens and units spent, a top-up's credits) and money in the
ledger's own sign (negative for spend), as :mod:`app.core.ledger.spend` reads them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.orm import Session

from app.core.pricing.units import Kind, kind_of
from app.core.storage.models import Conversation, ConversationDay, DailyTotal, SourceDay

_DAILY = cast(Table, DailyTotal.__table__)
_CONVERSATIONS = cast(Table, ConversationDay.__table__)
_SOURCES = cast(Table, SourceDay.__table__)
_DAILY_KEYS = ("day", "provider", "model", "token_type")
_DAILY_SUMS = ("tokens", "value", "uncached", "transactions")
_CONVERSATION_KEYS = ("day", "conversation_id", "provider", "model")
_CONVERSATION_SUMS = (
    "prompt_tokens",
    "completion_tokens",
    "cache_write_tokens",
    "cache_read_tokens",
    "value",
    "uncached",
)
_SOURCE_KEYS = ("day", "source", "provider", "model")
_IDS_PER_QUERY = 900
_CREDITS = Kind.CREDITS.value
_TOKEN_COLUMN = {Kind.INPUT: 0, Kind.OUTPUT: 1, Kind.CACHE_WRITE: 2, Kind.CACHE_READ: 3}
"""Where each kind's tokens go in a conversation day; other units and adjustments add money
only (their counts are searches or nothing, not tokens)."""


def accumulate(
    session: Session, rows: Sequence[dict[str, Any]], uncached: Sequence[Decimal]
) -> None:
    """Add transaction rows (as inserted) to the aggregates.

    Args:
        rows: the transaction rows, with ``created_at``, ``token_type``, ``raw_amount``,
            ``token_value`` and, for spend, ``provider``, ``model`` and ``conversation_id``.
        uncached: for each row, what it would have cost at the plain input rate.
    """
    daily: dict[tuple[str, str, str, str], list[Any]] = {}
    by_conversation: dict[tuple[str, int, str, str], list[Any]] = {}
    for row, plain in zip(rows, uncached, strict=True):
        day = row["created_at"].date().isoformat()
        provider, model, kind = row.get("provider") or "", row.get("model") or "", row["token_type"]
        totals = daily.setdefault(
            (day, provider, model, kind), [Decimal(0), Decimal(0), Decimal(0), 0]
        )
        # Counts positive: units spent, or a top-up's credits (the ledger stores spend negative).
        totals[0] += row["raw_amount"] if kind == _CREDITS else -row["raw_amount"]
        totals[1] += row["token_value"]
        totals[2] += plain
        totals[3] += 1
        if row.get("conversation_id") is not None:
            spent = by_conversation.setdefault(
                (day, row["conversation_id"], provider, model), [0, 0, 0, 0, Decimal(0), Decimal(0)]
            )
            if (column := _TOKEN_COLUMN.get(kind_of(kind))) is not None:
                spent[column] -= int(row["raw_amount"])
            spent[4] += row["token_value"]
            spent[5] += plain
    if daily:
        _upsert(session, _DAILY, _DAILY_KEYS, _DAILY_SUMS, daily)
    if by_conversation:
        _upsert(session, _CONVERSATIONS, _CONVERSATION_KEYS, _CONVERSATION_SUMS, by_conversation)
        by_source = _by_source(session, by_conversation)
        _upsert(session, _SOURCES, _SOURCE_KEYS, _CONVERSATION_SUMS, by_source)


def _by_source(
    session: Session, by_conversation: dict[tuple[str, int, str, str], list[Any]]
) -> dict[tuple[str, str, str, str], list[Any]]:
    """The conversation days' sums regrouped by each conversation's source."""
    ids = sorted({conversation for _, conversation, _, _ in by_conversation})
    source_of: dict[int, str] = {}
    for start in range(0, len(ids), _IDS_PER_QUERY):  # under SQLite's bound-parameter limit
        chunk = ids[start : start + _IDS_PER_QUERY]
        found = select(Conversation.id, Conversation.source).where(Conversation.id.in_(chunk))
        source_of.update((row_id, source) for row_id, source in session.execute(found))
    grouped: dict[tuple[str, str, str, str], list[Any]] = {}
    for (day, conversation, provider, model), values in by_conversation.items():
        key = (day, source_of[conversation], provider, model)
        if key in grouped:
            grouped[key] = [a + b for a, b in zip(grouped[key], values, strict=True)]
        else:
            grouped[key] = list(values)
    return grouped


def _upsert(
    session: Session,
    table: Table,
    keys: tuple[str, ...],
    sums: tuple[str, ...],
    groups: dict[Any, list[Any]],
) -> None:
    """Insert each group, or add its sums to the row that has its key."""
    session.execute(
        _upsert_statement(table, keys, sums),
        [dict(zip((*keys, *sums), (*key, *values), strict=True)) for key, values in groups.items()],
    )


@functools.cache
def _upsert_statement(table: Table, keys: tuple[str, ...], sums: tuple[str, ...]) -> Any:
    """Built once per table: building the expression costs more than running it (every reply
    writes three aggregates)."""
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: table.c[name] + statement.excluded[name] for name in sums},
    )
