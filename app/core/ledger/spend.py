"""The one reader of the daily rollups: a :class:`Selection`'s spend, grouped, with one sign.

The dashboard (:mod:`~app.core.ledger.analysis`), ``tallybook report``
(:mod:`~app.core.ledger.reports`) and the budgets (:mod:`~app.core.ledger.alerts`) read spend
here, and this module picks the table that answers the selection (:func:`table_for`):

- ``daily_totals`` (per UTC day, provider, model and unit) when no source or conversation is
  asked for;
- ``source_days`` for a source filter;
- ``conversation_days`` when grouped by, or filtered to, a conversation;
- ``transactions`` for what no rollup keeps: the estimated flag, or units and kinds within some
  sources or a conversation. The raw ledger keeps no uncached price, so it has no cache
  savings to read.

One sign: every :class:`SpendRow` has its token counts and its cost positive for spend. The
rollups store every count positive (``daily_totals`` since migration 0010) and money in the
ledger's own sign, negative for spend, so that the balance stays the plain sum of ``value``;
this module is where that money is turned round, and only here.

Spend recorded without a conversation belongs to no source: it counts when no source is chosen,
and under none otherwise. Every spend the app writes has a conversation (the chat window and
``tallybook chat`` create one first, titles are charged to theirs, the local endpoint files a
tool's requests under :func:`~app.core.conversations.for_source`), so the sources add up to
the total.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    case,
    func,
    literal,
    null,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session

from app.core.conversations import CHAT_SOURCE
from app.core.ledger.selection import Selection
from app.core.pricing.units import TOKEN_KINDS, Kind, kind_clause, spend_clause
from app.core.storage.models import (
    Conversation,
    ConversationDay,
    DailyTotal,
    Millionths,
    SourceDay,
    Transaction,
)

_ZERO = Decimal(0)
_MICROS = 1_000_000


class By(StrEnum):
    """A key spend can be grouped by (any combination; none gives one row, the total)."""

    DAY = "day"
    MODEL = "model"
    CONVERSATION = "conversation"
    UNIT = "unit"
    """The billed unit (``token_type``): tokens of each kind, searches, steps, adjustments."""


class Table(StrEnum):
    """Where a selection's spend is read from."""

    DAILY = "daily_totals"
    SOURCES = "source_days"
    CONVERSATIONS = "conversation_days"
    LEDGER = "transactions"


class SpendRow(NamedTuple):
    """The spend of one group: counts and money positive for spend, in credits.

    A named tuple, not a dataclass: a year's conversations are tens of thousands of rows. The
    keys the grouping did not ask for are ``None`` (``model`` and ``token_type``: ``""``, as the
    rollups store a missing model).

    Attributes:
        conversation_id: grouped by conversation, whose spend it is. Such a grouping lists
            conversations only, whichever table answers: spend outside any conversation is in
            the total, not in any of its rows.
        title: the conversation's title, and ``source`` its source.
        models: the models the group spent on, sorted.
        units: grouped by unit, how many of that unit (tokens, searches, steps); else 0.
        uncached: what the group would have cost at its models' plain input rates (it differs
            from ``cost`` on cache reads and writes only); read only when asked for.
    """

    day: date | None
    model: str
    conversation_id: int | None
    title: str | None
    source: str | None
    token_type: str
    models: tuple[str, ...]
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    units: int
    cost: Decimal
    uncached: Decimal | None

    @property
    def saved(self) -> Decimal:
        """What prompt caching saved, net of what cache writes cost extra (positive: saved).

        Raises:
            ValueError: the row was read without ``savings`` (see :func:`rows`).
        """
        if self.uncached is None:
            raise ValueError("Cache savings were not read: ask spend.rows for savings.")
        return self.uncached - self.cost


class FilterChoices(NamedTuple):
    """What the filter menus offer: the providers, models and sources that have spend."""

    providers: list[str]
    models: list[str]
    sources: list[str]
    """``chat`` (the chat window) first and always, then the tools alphabetically."""


class Ranked(NamedTuple):
    """The largest groups of some spend, and all its groups counted and summed."""

    top: list[SpendRow]
    groups: int
    cost: Decimal
    """What every group cost, the top ones and the rest."""


def table_for(selection: Selection, by: Collection[By] = ()) -> Table:
    """The table that answers ``selection`` grouped ``by`` (the rollups whenever they can)."""
    per_unit = By.UNIT in by or bool(selection.token_types or selection.kinds)
    per_conversation = By.CONVERSATION in by or selection.conversation_id is not None
    if selection.estimated is not None or (per_unit and (per_conversation or selection.sources)):
        return Table.LEDGER
    if per_conversation:
        return Table.CONVERSATIONS
    if selection.sources:
        return Table.SOURCES
    return Table.DAILY


def rows(
    session: Session, selection: Selection, by: Collection[By] = (), *, savings: bool = False
) -> list[SpendRow]:
    """The selection's spend per group of ``by`` (top-ups and refills are not spend).

    Grouped by nothing, one row: the selection's total.

    Args:
        savings: also read what the spend would have cost uncached (:attr:`SpendRow.saved`).

    Raises:
        ValueError: ``savings`` for a selection only the raw ledger answers: it keeps no
            uncached price.
    """
    statement, _ = _statement(selection, by, savings)
    found = session.connection().execute(statement).all()
    return [_spend_row(values, savings) for values in found]


def largest(
    session: Session, selection: Selection, by: Collection[By], count: int, *, savings: bool = False
) -> Ranked:
    """The ``count`` groups that spent the most (with ``savings``: that saved the most), largest
    first, and how many groups there are and what they cost in all.

    For a chart's top bars and its "Other" bar: the ranking is done in SQL, so a year of tens of
    thousands of conversations never reaches Python.

    Raises:
        ValueError: as :func:`rows`.
    """
    statement, keys = _statement(selection, by, savings)
    cost = statement.selected_columns[_COST]
    rank = statement.selected_columns[_UNCACHED] - cost if savings else cost
    statement = statement.add_columns(
        func.count().over(), type_coerce(func.sum(cost).over(), Millionths)
    )
    found = session.connection().execute(statement.order_by(rank.desc(), *keys).limit(count)).all()
    if not found:
        return Ranked([], 0, _ZERO)
    groups, spent = found[0][-2:]
    return Ranked([_spend_row(values, savings) for values in found], groups, spent or _ZERO)


def total(session: Session, selection: Selection) -> Decimal:
    """What the selection cost, in credits (positive)."""
    return sum((row.cost for row in rows(session, selection)), Decimal(0))


class RecentSpend(NamedTuple):
    """Today's and this month's spend (UTC days), in credits, each positive."""

    today: Decimal
    month: Decimal


def recent(session: Session, today: date) -> RecentSpend:
    """What the status bar shows when no balance is kept: a figure that means something."""
    return RecentSpend(
        total(session, Selection(since=today)),
        total(session, Selection(since=today.replace(day=1))),
    )


class LedgerCounts(NamedTuple):
    """How many transactions a selection holds, and their money, each positive."""

    transactions: int
    spent: Decimal
    credited: Decimal


def ledger_counts(session: Session, selection: Selection) -> LedgerCounts | None:
    """The selection's count, spend and credits from ``daily_totals``, where it can say.

    ``None`` when only the raw ledger can (a source, a conversation, the estimated flag): the
    transactions view's footer then counts the rows themselves. A million rows take a second
    to count; their days' rollups, milliseconds.
    """
    if table_for(selection) is not Table.DAILY:
        return None
    credits = DailyTotal.token_type == Kind.CREDITS.value
    count, spent, credited = session.execute(
        select(
            func.coalesce(func.sum(DailyTotal.transactions), 0),
            func.coalesce(func.sum(DailyTotal.value).filter(~credits), 0),
            func.coalesce(func.sum(DailyTotal.value).filter(credits), 0),
        ).where(*_clauses(selection, Table.DAILY, spend_only=False))
    ).one()
    return LedgerCounts(int(count), -Decimal(spent), Decimal(credited))


def balance_changes(session: Session) -> list[tuple[date, Decimal]]:
    """What each day did to the balance (top-ups less spend), oldest first.

    In the ledger's own sign, not spend's: the balance is the running sum of these. No filter
    applies: the balance is one account, whatever spent it.
    """
    found = session.execute(
        select(DailyTotal.day, func.sum(DailyTotal.value))
        .group_by(DailyTotal.day)
        .order_by(DailyTotal.day)
    )
    return [(date.fromisoformat(day), Decimal(value)) for day, value in found]


def choices(session: Session) -> FilterChoices:
    """The providers, models and sources that have spend, for the filter menus."""
    pairs = session.execute(
        select(DailyTotal.provider, DailyTotal.model)
        .where(spend_clause(DailyTotal.token_type))
        .group_by(DailyTotal.provider, DailyTotal.model)
    ).all()
    found = session.scalars(select(SourceDay.source).distinct())
    tools = sorted({s for s in found if s != CHAT_SOURCE}, key=lambda s: (s.casefold(), s))
    return FilterChoices(
        sorted({p for p, _ in pairs if p}),
        sorted({m for _, m in pairs if m}),
        [CHAT_SOURCE, *tools],
    )


_COST, _UNCACHED = 12, 13
"""Where the money is among the reader's columns (they follow :class:`SpendRow`'s fields)."""


def _statement(
    selection: Selection, by: Collection[By], savings: bool
) -> tuple[Select[Any], list[Any]]:
    """The query for :func:`rows`, its columns in :class:`SpendRow`'s order, and its keys."""
    table = table_for(selection, by)
    if savings and table is Table.LEDGER:
        raise ValueError("The raw ledger keeps no uncached price: no cache savings to read.")
    shape = _SHAPES[table]
    named = {
        By.DAY: shape.day,
        By.MODEL: shape.model,
        By.CONVERSATION: shape.conversation,
        By.UNIT: shape.token_type,
    }
    keys = [column for key, column in named.items() if key in by]
    conversation = By.CONVERSATION in by
    statement = select(
        shape.day if By.DAY in by else null(),
        shape.model if By.MODEL in by else literal(""),
        shape.conversation if conversation else null(),
        Conversation.title if conversation else null(),
        Conversation.source if conversation else null(),
        shape.token_type if By.UNIT in by else literal(""),
        shape.model if By.MODEL in by else func.group_concat(func.distinct(shape.model)),
        *shape.tokens,
        shape.units if By.UNIT in by else literal(0),
        shape.cost,
        shape.uncached if savings else null(),
    )
    statement = _joined(statement, table, by, selection).where(*_clauses(selection, table))
    return (statement.group_by(*keys) if keys else statement), keys


def _spend_row(values: Sequence[Any], savings: bool) -> SpendRow:
    """A result row (its first columns as :func:`_statement` selects them) as a SpendRow."""
    (
        day,
        model,
        conversation_id,
        title,
        source,
        token_type,
        models,
        prompt,
        completion,
        cache_write,
        cache_read,
        units,
        cost,
        uncached,
    ) = values[:14]
    return SpendRow(
        day and date.fromisoformat(day),
        model,
        conversation_id,
        title,
        source,
        token_type,
        tuple(sorted(models.split(","))) if models else (),
        prompt or 0,
        completion or 0,
        cache_write or 0,
        cache_read or 0,
        units or 0,
        cost or _ZERO,
        (uncached or _ZERO) if savings else None,
    )


@dataclass(frozen=True)
class _Shape:
    """One table's columns, as the reader selects them (sums already in spend's sign)."""

    day: Any
    provider: Any
    model: Any
    token_type: Any
    conversation: Any
    tokens: tuple[ColumnElement[Any], ...]
    """Positive tokens of each of the four kinds, in :data:`TOKEN_KINDS` order."""
    units: Any
    cost: ColumnElement[Any]
    uncached: ColumnElement[Any]


def _per_kind(token_type: Any, count: Any) -> tuple[ColumnElement[Any], ...]:
    """The positive ``count`` (in millionths) of each token kind, from a table with a row per
    unit, as whole tokens."""
    return tuple(
        _whole(func.sum(case((kind_clause(token_type, kind), count), else_=0)))
        for kind in TOKEN_KINDS
    )


def _whole(millionths: Any) -> ColumnElement[int]:
    """A sum of counts in millionths as the whole count, in SQL (SQLite's integer division:
    exact, as every count is whole; no Decimal made per row)."""
    return type_coerce(type_coerce(millionths, Integer).op("/")(_MICROS), Integer)


def _spend_of(value: Any) -> ColumnElement[Any]:
    """Money summed and turned to spend's sign (the ledger and the rollups keep it negative)."""
    return type_coerce(-func.sum(value), Millionths)


def _wide(table: type[ConversationDay] | type[SourceDay]) -> _Shape:
    """A rollup with a column per token kind (its counts positive, whole tokens)."""
    conversation = table.conversation_id if table is ConversationDay else None
    return _Shape(
        day=table.day,
        provider=table.provider,
        model=table.model,
        token_type=None,
        conversation=conversation,
        tokens=tuple(
            func.sum(column)
            for column in (
                table.prompt_tokens,
                table.completion_tokens,
                table.cache_write_tokens,
                table.cache_read_tokens,
            )
        ),
        units=None,
        cost=_spend_of(table.value),
        uncached=_spend_of(table.uncached),
    )


_SHAPES = {
    Table.DAILY: _Shape(
        day=DailyTotal.day,
        provider=DailyTotal.provider,
        model=DailyTotal.model,
        token_type=DailyTotal.token_type,
        conversation=None,
        tokens=_per_kind(DailyTotal.token_type, DailyTotal.tokens),
        units=_whole(func.sum(DailyTotal.tokens)),
        cost=_spend_of(DailyTotal.value),
        uncached=_spend_of(DailyTotal.uncached),
    ),
    Table.SOURCES: _wide(SourceDay),
    Table.CONVERSATIONS: _wide(ConversationDay),
    Table.LEDGER: _Shape(
        day=func.substr(Transaction.created_at, 1, 10),
        provider=func.coalesce(Transaction.provider, ""),
        model=func.coalesce(Transaction.model, ""),
        token_type=Transaction.token_type,
        conversation=Transaction.conversation_id,
        tokens=_per_kind(Transaction.token_type, -Transaction.raw_amount),
        units=_whole(-func.sum(Transaction.raw_amount)),
        cost=_spend_of(Transaction.token_value),
        uncached=null(),
    ),
}


def _joined(
    statement: Select[Any], table: Table, by: Collection[By], selection: Selection
) -> Select[Any]:
    """The statement on its table, joined to ``conversations`` where a title or source is read."""
    if table is Table.LEDGER:
        statement = statement.select_from(Transaction)
        if By.CONVERSATION in by:  # as from the rollups: conversations only
            statement = statement.join(Conversation, Conversation.id == Transaction.conversation_id)
        return statement
    if table is Table.CONVERSATIONS:
        statement = statement.select_from(ConversationDay)
        if By.CONVERSATION in by or selection.sources:
            statement = statement.join(
                Conversation, Conversation.id == ConversationDay.conversation_id
            )
        return statement
    return statement.select_from(SourceDay if table is Table.SOURCES else DailyTotal)


def _clauses(
    selection: Selection, table: Table, *, spend_only: bool = True
) -> list[ColumnElement[bool]]:
    """The selection as WHERE clauses on ``table`` (:func:`table_for` chose it to fit).

    Args:
        spend_only: leave out the credits added (``daily_totals`` keeps them beside the spend).
    """
    if table is Table.LEDGER:
        return [*selection.transaction_clauses(), spend_clause(Transaction.token_type)]
    shape = _SHAPES[table]
    clauses: list[ColumnElement[bool]] = []
    if selection.since is not None:
        clauses.append(shape.day >= selection.since.isoformat())
    if selection.until is not None:
        clauses.append(shape.day <= selection.until.isoformat())
    if selection.providers:
        clauses.append(shape.provider.in_(sorted(selection.providers)))
    if selection.models:
        clauses.append(shape.model.in_(sorted(selection.models)))
    if table is Table.DAILY:
        if spend_only:
            clauses.append(spend_clause(DailyTotal.token_type))
        if selection.token_types:
            clauses.append(DailyTotal.token_type.in_(sorted(selection.token_types)))
        if selection.kinds:
            kinds = (kind_clause(DailyTotal.token_type, kind) for kind in selection.kinds)
            clauses.append(or_(*kinds))
    if selection.conversation_id is not None:
        clauses.append(ConversationDay.conversation_id == selection.conversation_id)
    if selection.sources:
        column = SourceDay.source if table is Table.SOURCES else Conversation.source
        clauses.append(column.in_(sorted(selection.sources)))
    return clauses
