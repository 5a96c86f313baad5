"""Writing the ledger: one transaction per token type of a request, and credit top-ups.

Every write updates the running balance in the same database transaction as its rows, so the
balance always equals the sum of ``token_value`` over all transactions (see
:func:`ledger_sum`), to the last millionth. Rows are never updated or deleted.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.orm import Session

from app.core.clock import utcnow
from app.core.errors import AlreadySettled, InvalidAmount
from app.core.ledger import rollups
from app.core.money import require_amount
from app.core.pricing import charges, units
from app.core.pricing.charges import PricedLine, ProviderFigure, TokenUsage
from app.core.pricing.prices import Rates
from app.core.storage.models import BalanceAccount, Request, Transaction
from app.core.types import RequestId, RequestStatus

# Writes go through the tables, not the ORM: the ledger is append-only, so there is nothing for
# the unit of work to track, and Core statements record a request several times faster.
_REQUESTS = cast(Table, Request.__table__)
_TRANSACTIONS = cast(Table, Transaction.__table__)
_BALANCE = cast(Table, BalanceAccount.__table__)
_UNCACHED = "_uncached"
"""Key of a row's cost at the plain input rate: for the aggregates, not a column."""


class TokenType(StrEnum):
    """The stems of ``token_type`` (LibreChat's names, plus the cache ones); every billed unit's
    name starts with one of them or is its own (see :mod:`app.core.pricing.units`)."""

    PROMPT = "prompt"
    COMPLETION = "completion"
    CACHE_WRITE = "cache_write"
    CACHE_READ = "cache_read"
    CREDITS = "credits"


CREDIT_SOURCE = "credits"
"""``rate_source`` of a top-up: one credit per credit."""


@dataclass(frozen=True)
class Spend:
    """One request's usage, ready to be recorded.

    Attributes:
        model: the model that served the request, which is the one priced.
        requested_model: the name the request asked for, when the reply named another.
        input_estimated: the input counts are Tallybook's own (the provider reported none).
        output_estimated: the output count is Tallybook's own, from the text that arrived.
        estimated_prompt_tokens: the count made before sending, kept to measure estimates.
        estimate_method: how that count was made (:attr:`TokenCount.method`).
        context: why the request ran: ``message``, ``title``, ``incomplete``...
        provider_figure: the provider's own cost; when present it is the charge, and the
            computed price stays on the request for comparison.
        raw_usage: the provider's usage object as JSON, kept as it came.
        usage_notes: what Tallybook did not understand in it (the request is flagged).
        service_tier: the tier the provider says it used.
    """

    provider: str
    model: str
    usage: TokenUsage
    rates: Rates
    conversation_id: int | None = None
    message_id: int | None = None
    context: str = "message"
    input_estimated: bool = False
    output_estimated: bool = False
    estimated_prompt_tokens: int | None = None
    estimate_method: str | None = None
    requested_model: str | None = None
    provider_figure: ProviderFigure | None = None
    raw_usage: str | None = None
    usage_notes: str | None = None
    service_tier: str | None = None

    @property
    def estimated(self) -> bool:
        """Whether any of the counts is Tallybook's own rather than the provider's."""
        return self.input_estimated or self.output_estimated

    @functools.cached_property
    def _lines(self) -> tuple[PricedLine, ...]:
        return tuple(charges.price_lines(self.usage, self.rates))

    def priced_lines(self) -> list[PricedLine]:
        """The transactions this request will write (see :func:`charges.price_lines`), and the
        provider's figure as an adjustment where it differs from Tallybook's price."""
        lines = list(self._lines)
        figure = self.provider_figure
        if figure is not None:
            difference = figure.credits - sum((line.value for line in lines), Decimal(0))
            if difference:
                adjustment = units.PROVIDER_ADJUSTMENT
                lines.append(
                    PricedLine(adjustment, 1, difference, figure.source, "output", difference)
                )
        return lines

    @property
    def computed_cost(self) -> Decimal:
        """Tallybook's own price of the request, in credits (positive)."""
        return sum((line.value for line in self._lines), Decimal(0))

    @property
    def cost(self) -> Decimal:
        """What the request is charged, in credits (positive): the provider's figure if any."""
        if self.provider_figure is not None:
            return self.provider_figure.credits
        return self.computed_cost


@dataclass(frozen=True)
class TransactionView:
    """A transaction as callers see it (never an ORM instance)."""

    id: int
    created_at: datetime
    token_type: str
    raw_amount: Decimal
    rate: Decimal
    token_value: Decimal
    context: str
    estimated: bool
    rate_source: str
    provider: str | None = None
    model: str | None = None
    conversation_id: int | None = None
    message_id: int | None = None
    request_id: int | None = None


@dataclass(frozen=True)
class SpendRecord:
    """What :func:`spend_tokens` wrote: the request, its rows, their total and the new balance."""

    request_id: int
    transactions: tuple[TransactionView, ...]
    balance: Decimal
    total: Decimal = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "total", sum((t.token_value for t in self.transactions), Decimal(0))
        )


def spend_tokens(session: Session, spend: Spend, *, now: datetime | None = None) -> SpendRecord:
    """Record one request: a ``requests`` row and one transaction per token type.

    ``prompt`` and ``completion`` rows are always written (zero when nothing was used, so every
    request shows both); cache rows only when there were cached tokens. Amounts are negative.
    The caller's session commits them together with the balance update, or not at all.
    """
    return spend_many(session, [(spend, now or utcnow())])[0]


def open_request(
    session: Session,
    spend: Spend,
    *,
    hold: Decimal,
    owner: str | None = None,
    now: datetime | None = None,
) -> RequestId:
    """Journal a request before it is sent: a ``pending`` row holding ``hold`` credits.

    ``spend`` carries the request's identity and pre-send estimate (its usage is the estimate
    too, replaced when the request is settled). Nothing is charged yet; :func:`pending_holds`
    makes the held amount unavailable to other requests until :func:`settle` or :func:`abandon`.
    """
    row = _request_row(spend, now or utcnow()) | {
        "status": RequestStatus.PENDING,
        "hold": hold,
        "owner": owner,
    }
    request_id = session.execute(insert(_REQUESTS).returning(_REQUESTS.c.id), row).scalar_one()
    return RequestId(request_id)


def settle(
    session: Session,
    request_id: int,
    spend: Spend,
    *,
    status: RequestStatus = RequestStatus.COMPLETE,
    now: datetime | None = None,
) -> SpendRecord:
    """Charge a journaled request exactly once: its transactions, and the hold released.

    Raises:
        AlreadySettled: the request is not pending (it was settled already: never charge twice).
    """
    at = now or utcnow()
    row = {k: v for k, v in _request_row(spend, at).items() if k != "created_at"}
    claimed = session.execute(
        update(_REQUESTS)
        .where(_REQUESTS.c.id == request_id, _REQUESTS.c.status == RequestStatus.PENDING)
        .values(**row, status=status, hold=Decimal(0), partial_text=None)
        .returning(_REQUESTS.c.id)
    ).first()
    if claimed is None:
        raise AlreadySettled(f"request {request_id} is not pending; it was not charged again")
    views = _insert_transactions(session, _transaction_rows(spend, request_id, at))
    balance = _add_to_balance(session, sum((v.token_value for v in views), Decimal(0)))
    return SpendRecord(request_id=request_id, transactions=views, balance=balance)


def abandon(session: Session, request_id: int) -> None:
    """A journaled request that got no reply at all (refused, unreachable): nothing to charge."""
    session.execute(
        update(_REQUESTS)
        .where(_REQUESTS.c.id == request_id, _REQUESTS.c.status == RequestStatus.PENDING)
        .values(status=RequestStatus.FAILED, hold=Decimal(0), partial_text=None)
    )


def save_partial(session: Session, request_id: int, text: str) -> None:
    """Keep the reply received so far with its pending request (charged from it after a crash)."""
    session.execute(
        update(_REQUESTS)
        .where(_REQUESTS.c.id == request_id, _REQUESTS.c.status == RequestStatus.PENDING)
        .values(partial_text=text)
    )


def pending_holds(session: Session) -> Decimal:
    """Credits set aside by requests still in flight."""
    total = session.scalar(
        select(func.coalesce(func.sum(Request.hold), 0)).where(
            Request.status == RequestStatus.PENDING
        )
    )
    return Decimal(total or 0)


def spend_many(session: Session, spends: Sequence[tuple[Spend, datetime]]) -> list[SpendRecord]:
    """Record many requests at once, each exactly as :func:`spend_tokens` would.

    Used for imports and synthetic data: one multi-row insert per table and one balance update,
    so a million transactions take seconds, not minutes.
    """
    if not spends:
        return []
    request_ids = session.scalars(
        insert(_REQUESTS).returning(_REQUESTS.c.id, sort_by_parameter_order=True),
        [_request_row(spend, at) for spend, at in spends],
    ).all()
    rows_per_request = [
        _transaction_rows(spend, request_id, at)
        for (spend, at), request_id in zip(spends, request_ids, strict=True)
    ]
    views = iter(_insert_transactions(session, [row for rows in rows_per_request for row in rows]))
    grouped = [tuple(next(views) for _ in rows) for rows in rows_per_request]
    total = sum((v.token_value for group in grouped for v in group), Decimal(0))
    balance = _add_to_balance(session, total)
    return [
        SpendRecord(request_id=request_id, transactions=group, balance=balance)
        for request_id, group in zip(request_ids, grouped, strict=True)
    ]


def add_credits(
    session: Session, amount: Decimal, *, context: str = "top-up", now: datetime | None = None
) -> TransactionView:
    """Record a ``credits`` transaction (a top-up, refill or adjustment) of ``amount`` credits.

    Raises:
        InvalidAmount: ``amount`` is zero (a top-up of nothing is a mistake worth saying), or
            its size is one the ledger cannot hold (see :func:`money.require_amount`).
    """
    if amount == 0:
        raise InvalidAmount("a credit amount of zero changes nothing")
    require_amount("credit amount", abs(amount))
    row = {
        "created_at": now or utcnow(),
        "token_type": TokenType.CREDITS.value,
        "raw_amount": amount,
        "rate": Decimal(1),
        "token_value": amount,
        "context": context,
        "estimated": False,
        "rate_source": CREDIT_SOURCE,
    }
    (view,) = _insert_transactions(session, [row])
    _add_to_balance(session, amount)
    return view


def current_balance(session: Session) -> Decimal:
    """The running balance in credits (one row read, whatever the ledger's size)."""
    return session.scalars(select(BalanceAccount.credits)).one()


def ledger_sum(session: Session) -> Decimal:
    """The sum of every ``token_value``, recomputed from the rows; always equals the balance."""
    total = session.scalar(select(func.coalesce(func.sum(Transaction.token_value), 0)))
    return Decimal(total or 0)


def _request_row(spend: Spend, at: datetime) -> dict[str, object]:
    usage = spend.usage.total()
    return {
        "created_at": at,
        "conversation_id": spend.conversation_id,
        "message_id": spend.message_id,
        "provider": spend.provider,
        "model": spend.model,
        "context": spend.context,
        "estimated_prompt_tokens": spend.estimated_prompt_tokens,
        "estimate_method": spend.estimate_method,
        "reported_prompt_tokens": None if spend.input_estimated else usage.input_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "usage_estimated": spend.estimated,
        "requested_model": spend.requested_model,
        "service_tier": spend.service_tier,
        "raw_usage": spend.raw_usage,
        "usage_notes": spend.usage_notes,
        "computed_cost": spend.computed_cost,
        "provider_cost": spend.provider_figure.credits if spend.provider_figure else None,
    }


def _transaction_rows(spend: Spend, request_id: int, at: datetime) -> list[dict[str, object]]:
    common = {
        "created_at": at,
        "request_id": request_id,
        "conversation_id": spend.conversation_id,
        "message_id": spend.message_id,
        "provider": spend.provider,
        "model": spend.model,
        "context": spend.context,
    }
    return [
        common
        | {
            "token_type": line.token_type,
            "estimated": spend.output_estimated if line.side == "output" else spend.input_estimated,
            "raw_amount": Decimal(-line.amount),
            "rate": line.rate,
            "token_value": -line.value,
            "rate_source": line.source,
            _UNCACHED: -line.amount * line.uncached_rate,
        }
        for line in spend.priced_lines()
    ]


def _insert_transactions(
    session: Session, rows: list[dict[str, Any]]
) -> tuple[TransactionView, ...]:
    """Insert the rows and add them to the daily aggregates, in the caller's transaction."""
    uncached = [row.pop(_UNCACHED, row["token_value"]) for row in rows]
    ids = session.scalars(
        insert(_TRANSACTIONS).returning(_TRANSACTIONS.c.id, sort_by_parameter_order=True), rows
    )
    views = tuple(_view(row_id, row) for row_id, row in zip(ids, rows, strict=True))
    rollups.accumulate(session, rows, uncached)
    return views


def _view(row_id: int, row: dict[str, object]) -> TransactionView:
    return TransactionView(id=row_id, **row)  # type: ignore[arg-type]


def _add_to_balance(session: Session, delta: Decimal) -> Decimal:
    balance: Decimal = session.execute(
        update(_BALANCE)
        .where(_BALANCE.c.id == 1)
        .values(credits=_BALANCE.c.credits + delta)
        .returning(_BALANCE.c.credits)
    ).scalar_one()
    return balance
