"""One row per request, as a person reads spend: tokens in and out, a positive cost, how it ended.

The ledger keeps a row per billed unit (two to four per request, spend negative); the
transactions view's default shows requests instead, a keyset page at a time at any size. A page
walks the ledger's time index (``ix_transactions_created``) and keeps each request's first row
that matches the filter (found through ``ix_transactions_request_id``), so it costs its own rows;
requests that charged nothing (failed, or still pending) come through ``ix_requests_status`` and
are merged in by time. A top-up is a row of its own.

A request is listed when any of its rows matches the filter, and then shown whole (all its tokens
and its whole cost): "the requests that read from the cache", not "their cache reads".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Column, ColumnElement, FromClause, Table, func, literal, or_, select, tuple_
from sqlalchemy.orm import Session
from sqlalchemy.sql.visitors import replacement_traverse

from app.core.ledger import browse
from app.core.ledger.selection import Selection
from app.core.pricing.units import Kind, is_default_rated, kind_of
from app.core.storage.models import Conversation, Request, Transaction
from app.core.types import RequestStatus

PAGE_SIZE = 500
_TRANSACTIONS = cast(Table, Transaction.__table__)
TOP_UP = "top-up"
"""The :attr:`RequestRow.status` of credits added (a top-up, a refill, a set balance)."""
_UNCHARGED = (RequestStatus.FAILED.value, RequestStatus.PENDING.value)
_UNCHARGED_STREAM, _LEDGER_STREAM = 0, 1
"""Where a row comes from, the middle of its keyset position: a request that charged nothing
sorts just before a charged row of the same instant."""

_NO_OPTIONS: dict[str, Any] = {}
Position = tuple[datetime, int, int]
"""A row's place in time order: ``(time, stream, id)`` (a request's id for an uncharged one, its
first matching transaction's id otherwise)."""


@dataclass(frozen=True)
class RequestRow:
    """One request (or one top-up) with its ledger rows summed, every count and cost positive.

    Attributes:
        input_tokens: the prompt's tokens, cached ones included.
        cache_read_tokens: of those, read from the provider's cache.
        cache_write_tokens: of those, written to it.
        reasoning_tokens: of the output, the model's reasoning (where the provider says).
        other_units: billed units that are not tokens (web searches, code executions).
        cost: credits charged (positive); for a top-up, the credits added.
        estimated: some count is Tallybook's own (the provider reported none).
        default_rate: some unit was priced at a default rate (an unknown model or unit).
        provider_figure: the charge is the provider's own figure, not Tallybook's price.
        usage_notes: what the provider reported that Tallybook did not understand.
        ledger_rows: how many transactions the row sums (0 for a request that charged nothing).
    """

    created_at: datetime
    stream: int
    lead_id: int
    request_id: int | None
    conversation_id: int | None
    conversation_title: str | None
    source: str | None
    provider: str | None
    model: str | None
    requested_model: str | None
    context: str
    status: str
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    other_units: int = 0
    cost: Decimal = Decimal(0)
    estimated: bool = False
    default_rate: bool = False
    provider_figure: bool = False
    usage_notes: str | None = None
    ledger_rows: int = 0

    @property
    def position(self) -> Position:
        """Where the row stands in time order (the ``after`` of the next page)."""
        return (self.created_at, self.stream, self.lead_id)

    @property
    def is_top_up(self) -> bool:
        """Credits added, not a request."""
        return self.status == TOP_UP


def page(
    session: Session,
    selection: Selection,
    *,
    descending: bool = True,
    after: Position | None = None,
    limit: int = PAGE_SIZE,
) -> list[RequestRow]:
    """The next ``limit`` requests and top-ups after ``after`` (the first page if None), by time."""
    leads = _ledger_leads(session, selection, descending, after, limit)
    uncharged = _uncharged(session, selection, descending, after, limit)
    merged = sorted(
        [*leads, *uncharged],
        key=lambda r: (r["created_at"], r["stream"], r["id"]),
        reverse=descending,
    )[:limit]
    return _rows(session, merged)


def ledger_rows(session: Session, request_id: int | None, transaction_id: int) -> list[browse.Row]:
    """The transactions of a request (or, without one, the one transaction), as written."""
    clause = (
        Transaction.request_id == request_id
        if request_id is not None
        else Transaction.id == transaction_id
    )
    return browse.rows_where(session, clause)


# --- the two streams ---------------------------------------------------------------------------


def _said_of(
    table: FromClause, clauses: Iterable[ColumnElement[bool]]
) -> list[ColumnElement[bool]]:
    """``clauses`` on ``transactions`` said of the same-named columns of ``table`` (an alias of
    it, or ``requests``), so one :class:`Selection` filters every table alike."""

    def swap(element: Any, **_kw: Any) -> Any:
        if isinstance(element, Column) and element.table is _TRANSACTIONS:
            return table.c[element.name]
        return None

    return [replacement_traverse(clause, _NO_OPTIONS, swap) for clause in clauses]


def _keyset(
    time: Any, row_id: Any, stream: int, after: Position | None, descending: bool
) -> list[ColumnElement[bool]]:
    """``(time, stream, id)`` beyond ``after``, said on one stream's own columns (so its index
    still serves the order)."""
    if after is None:
        return []
    at, after_stream, after_id = after
    if stream == after_stream:
        position, bound = tuple_(time, row_id), tuple_(literal(at, time.type), literal(after_id))
        return [position < bound if descending else position > bound]
    if descending:
        return [time <= at if stream < after_stream else time < at]
    return [time >= at if stream > after_stream else time > at]


def _ledger_leads(
    session: Session, selection: Selection, descending: bool, after: Position | None, limit: int
) -> list[dict[str, Any]]:
    """Each request's first matching transaction (and each top-up), in time order."""
    clauses = selection.transaction_clauses()
    # A request's rows share its time, provider, model and conversation: only what tells its rows
    # apart (their kind, the estimated flag) picks the first matching one.
    within = Selection(
        kinds=selection.kinds, token_types=selection.token_types, estimated=selection.estimated
    )
    mate = _TRANSACTIONS.alias("mate")
    first_match = (
        select(func.min(mate.c.id))
        .where(
            mate.c.request_id == Transaction.request_id,
            *_said_of(mate, within.transaction_clauses()),
        )
        .scalar_subquery()
    )
    order = (Transaction.created_at, Transaction.id)
    statement = (
        select(
            Transaction.id,
            Transaction.created_at,
            Transaction.request_id,
            Transaction.conversation_id,
            Transaction.provider,
            Transaction.model,
            Transaction.context,
        )
        .where(
            *clauses,
            or_(Transaction.request_id.is_(None), Transaction.id == first_match),
            *_keyset(*order, _LEDGER_STREAM, after, descending),
        )
        .order_by(*(c.desc() if descending else c.asc() for c in order))
        .limit(limit)
    )
    return [found._asdict() | {"stream": _LEDGER_STREAM} for found in session.execute(statement)]


def _request_clauses(selection: Selection) -> list[ColumnElement[bool]] | None:
    """The selection said of ``requests``; ``None`` when only ledger rows can match it (a kind of
    row, the estimated flag): a request that charged nothing has none."""
    if selection.kinds or selection.token_types or selection.estimated is not None:
        return None
    mirrored = Selection(
        since=selection.since,
        until=selection.until,
        providers=selection.providers,
        models=selection.models,
        sources=selection.sources,
        conversation_id=selection.conversation_id,
    )
    return _said_of(cast(Table, Request.__table__), mirrored.transaction_clauses())


def _uncharged(
    session: Session, selection: Selection, descending: bool, after: Position | None, limit: int
) -> list[dict[str, Any]]:
    """Requests that charged nothing (failed, pending), in time order."""
    clauses = _request_clauses(selection)
    if clauses is None:
        return []
    order = (Request.created_at, Request.id)
    statement = (
        select(
            Request.id,
            Request.created_at,
            Request.id.label("request_id"),
            Request.conversation_id,
            Request.provider,
            Request.model,
            Request.context,
        )
        .where(
            Request.status.in_(_UNCHARGED),
            *clauses,
            *_keyset(*order, _UNCHARGED_STREAM, after, descending),
        )
        .order_by(*(c.desc() if descending else c.asc() for c in order))
        .limit(limit)
    )
    return [found._asdict() | {"stream": _UNCHARGED_STREAM} for found in session.execute(statement)]


# --- a page's figures --------------------------------------------------------------------------


@dataclass
class _Sums:
    """What one request's (or top-up's) transactions add up to."""

    tokens: dict[Kind, int]
    cost: Decimal = Decimal(0)
    estimated: bool = False
    default_rate: bool = False
    rows: int = 0


def _sums(session: Session, leads: Sequence[dict[str, Any]]) -> dict[tuple[str, int], _Sums]:
    """The page's transactions summed per request (or per top-up: its own row)."""
    request_ids = sorted({r["request_id"] for r in leads if r["request_id"] is not None})
    own_ids = [r["id"] for r in leads if r["request_id"] is None and r["stream"] == _LEDGER_STREAM]
    wanted = [
        *([Transaction.request_id.in_(request_ids)] if request_ids else []),
        *([Transaction.id.in_(own_ids)] if own_ids else []),
    ]
    sums: dict[tuple[str, int], _Sums] = defaultdict(lambda: _Sums(defaultdict(int)))
    if not wanted:
        return sums
    found = session.execute(
        select(
            Transaction.id,
            Transaction.request_id,
            Transaction.token_type,
            Transaction.raw_amount,
            Transaction.token_value,
            Transaction.estimated,
            Transaction.rate_source,
        ).where(or_(*wanted))
    )
    for row_id, request_id, token_type, amount, value, estimated, rate_source in found:
        key = ("request", request_id) if request_id is not None else ("own", row_id)
        total = sums[key]
        kind = kind_of(token_type)
        if kind is not Kind.ADJUSTMENT:
            total.tokens[kind] += abs(int(amount))
        total.cost += value
        total.estimated |= estimated
        total.default_rate |= is_default_rated(rate_source)
        total.rows += 1
    return sums


def _by_id(
    session: Session, model: Any, ids: Iterable[int | None], *columns: Any
) -> dict[int, Any]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    found = session.execute(select(model.id, *columns).where(model.id.in_(wanted)))
    return {values[0]: values for values in found}


def _rows(session: Session, leads: Sequence[dict[str, Any]]) -> list[RequestRow]:
    sums = _sums(session, leads)
    requests = _by_id(
        session,
        Request,
        (r["request_id"] for r in leads),
        Request.status,
        Request.requested_model,
        Request.usage_notes,
        Request.provider_cost,
        Request.reasoning_tokens,
        Request.usage_estimated,
    )
    titles = _by_id(
        session,
        Conversation,
        (r["conversation_id"] for r in leads),
        Conversation.title,
        Conversation.source,
    )
    rows = []
    for lead in leads:
        request_id = lead["request_id"]
        key = ("request", request_id) if request_id is not None else ("own", lead["id"])
        total = sums[key]
        request = requests.get(request_id) if request_id is not None else None
        conversation = titles.get(lead["conversation_id"])
        top_up = request is None and Kind.CREDITS in total.tokens
        rows.append(
            RequestRow(
                created_at=lead["created_at"],
                stream=lead["stream"],
                lead_id=lead["id"],
                request_id=request_id,
                conversation_id=lead["conversation_id"],
                conversation_title=conversation.title if conversation else None,
                source=conversation.source if conversation else None,
                provider=lead["provider"],
                model=lead["model"],
                requested_model=request.requested_model if request else None,
                context=lead["context"],
                status=TOP_UP if top_up else (request.status if request else "complete"),
                input_tokens=sum(
                    total.tokens[k] for k in (Kind.INPUT, Kind.CACHE_READ, Kind.CACHE_WRITE)
                ),
                cache_read_tokens=total.tokens[Kind.CACHE_READ],
                cache_write_tokens=total.tokens[Kind.CACHE_WRITE],
                output_tokens=total.tokens[Kind.OUTPUT],
                reasoning_tokens=request.reasoning_tokens if request else 0,
                other_units=total.tokens[Kind.OTHER],
                cost=total.cost if top_up else -total.cost,
                estimated=total.estimated or bool(request and request.usage_estimated),
                default_rate=total.default_rate,
                provider_figure=bool(request and request.provider_cost is not None),
                usage_notes=request.usage_notes if request else None,
                ledger_rows=total.rows,
            )
        )
    return rows
