"""Charging the requests a crashed process left pending, exactly once.

A pending request whose owner is gone (see :mod:`app.core.metering.journal`) reached, or may
have reached, the provider: it is charged as incomplete, from its pre-send count for the input
and from the reply text saved while it streamed for the output, both flagged estimated.
``entries.settle`` refuses a request that is no longer pending, so two clients recovering at
once cannot charge it twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.counting.tokens import TokenCounter
from app.core.errors import AlreadySettled, DatabaseLocked
from app.core.ledger import entries
from app.core.ledger.entries import Spend
from app.core.metering.journal import is_alive
from app.core.pricing.charges import TokenUsage
from app.core.pricing.prices import PriceBook
from app.core.providers import registry
from app.core.storage.db import Database
from app.core.storage.models import Message, Request
from app.core.types import RequestId, RequestStatus

StoreText = Callable[[Session, int, str], None]
"""Keep a recovered reply's text (session, message id, text), in the charge's transaction."""


def recover(
    db: Database,
    counter: TokenCounter,
    clock: Callable[[], datetime],
    store_text: StoreText | None = None,
) -> list[RequestId]:
    """Settle every pending request whose owner no longer runs; returns their ids."""
    with db.read() as session:
        pending = session.execute(
            select(Request, Message.content)
            .outerjoin(Message, Message.id == Request.message_id)
            .where(Request.status == RequestStatus.PENDING)
        ).all()
        orphans = [
            (request, text) for request, text in pending if not is_alive(db.path, request.owner)
        ]
        if not orphans:
            return []
        book = PriceBook.load(session)
        price_providers = {e.id: e.price_provider for e in registry.all_endpoints(session)}
    recovered: list[RequestId] = []
    for request, message_text in orphans:
        text = request.partial_text or message_text or ""
        usage = TokenUsage(
            request.estimated_prompt_tokens or 0, counter.count_text(request.model, text).tokens
        )
        rates = book.rates(
            request.model,
            provider=price_providers.get(request.provider),
            input_tokens=usage.input_tokens,
            at=request.created_at,
        )
        spend = Spend(
            provider=request.provider,
            model=request.model,
            usage=usage,
            rates=rates,
            conversation_id=request.conversation_id,
            message_id=request.message_id,
            context="incomplete",
            input_estimated=True,
            output_estimated=True,
            estimated_prompt_tokens=request.estimated_prompt_tokens,
            estimate_method=request.estimate_method,
        )
        try:
            with db.write() as session:
                entries.settle(
                    session, request.id, spend, status=RequestStatus.INCOMPLETE, now=clock()
                )
                if request.message_id is not None and store_text is not None:
                    store_text(session, request.message_id, text)
        except (AlreadySettled, DatabaseLocked):
            continue  # settled first by another client (charged once, by them), or the ledger
            # is busy: the next start tries again
        recovered.append(RequestId(request.id))
    return recovered
