"""The checks before a request is sent: a blocking budget reached, then the balance.

:func:`check` runs in the write transaction that journals the request, so a refused request
changes nothing; :func:`refusal` asks the same question without writing, so the composer can
warn before a send that would be refused.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from app.core.errors import SpendRefused
from app.core.ledger import alerts, balance
from app.core.storage.db import Database

if TYPE_CHECKING:
    from app.core.metering.client import Quote


def check(session: Session, cost: Decimal, *, provider: str, model: str, now: datetime) -> None:
    """Refuse a request to ``model`` at ``provider`` (an endpoint id) whose prompt costs
    ``cost``, refilling the balance first when due (:func:`balance.check_prompt`).

    Raises:
        BudgetReached: a blocking budget that covers it is spent.
        InsufficientBalance: checking is on and the balance cannot pay the prompt.
    """
    blocked = alerts.blocking(session, provider=provider, model=model, now=now)
    if blocked is not None:
        raise blocked
    balance.check_prompt(session, cost, now=now)


def refusal(
    session: Session, cost: Decimal, *, provider: str, model: str, now: datetime | None = None
) -> SpendRefused | None:
    """What :func:`check` would refuse now, or ``None``: a read only."""
    blocked = alerts.blocking(session, provider=provider, model=model, now=now)
    return blocked if blocked is not None else balance.shortfall(session, cost, now=now)


def quote_refusal(
    db: Database, quote: Quote, *, now: datetime | None = None
) -> SpendRefused | None:
    """Whether sending this quote would be refused now (its own read; any thread)."""
    with db.read() as session:
        return refusal(
            session,
            quote.prompt_cost,
            provider=quote.endpoint.id,
            model=quote.request.model,
            now=now,
        )


def affords_title(session: Session, quote: Quote, *, now: datetime | None = None) -> bool:
    """A title is asked for only if nothing would refuse it: no blocking budget reached (the
    reply itself may just have reached it) and LibreChat's balance rule
    (:func:`balance.can_afford_title`); otherwise it is skipped quietly."""
    blocked = alerts.blocking(
        session, provider=quote.endpoint.id, model=quote.request.model, now=now
    )
    return blocked is None and balance.can_afford_title(
        session, quote.count.tokens, quote.rates, now=now
    )
