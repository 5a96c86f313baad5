"""Outside spend onto the ledger: what the provider billed that Tallybook never metered.

Each ``outside`` day and model becomes one request on the ledger (``context='reconciled'``,
filed under the source ``<provider> usage``, its counts the provider's own: not estimated),
written through :mod:`app.core.ledger.entries`, so the balance, the rollups, the charts and the
budgets count it like any spend. It is charged at the provider's figure where the provider
gives money (kept as the request's ``provider_cost``), else priced from its tokens.

What is already imported is read back from the ledger (the row's ``imported`` figures), never
kept aside, so nothing can drift: importing again adds nothing, and a later, larger provider
figure adds only the difference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal

from sqlalchemy.orm import Session

from app.core import conversations, money
from app.core.ledger import entries
from app.core.pricing.charges import ProviderFigure, TokenUsage
from app.core.pricing.prices import PriceBook
from app.core.reconcile.compare import Reconciliation, Row, Status, Usage, source_of
from app.core.reconcile.records import EVERY_MODEL
from app.core.types import ConversationId

CONTEXT = "reconciled"
_MICRO = Decimal(1).scaleb(-money.DECIMALS)


@dataclass(frozen=True)
class Imported:
    """What one import recorded.

    Attributes:
        requests: one per day and model that had spend left to import.
        credits: what they were charged, in all (positive).
    """

    requests: int
    credits: Decimal


def import_outside(session: Session, reconciliation: Reconciliation) -> Imported:
    """Record the ``outside`` rows' spend not imported yet, in the caller's write session.

    ``reconciliation`` must be fresh from this ledger (:func:`compare.reconcile`): its rows'
    ``imported`` figures are what makes a second import add nothing.
    """
    book = PriceBook.load(session)
    provider = reconciliation.provider
    reported = f"reported by {source_of(provider)}"
    conversation: ConversationId | None = None
    spends: list[tuple[entries.Spend, datetime]] = []
    for row in reconciliation.rows:
        if row.status is not Status.OUTSIDE or row.model == EVERY_MODEL:
            continue  # a day's every model together names no model to record it under
        left = _left(row)
        if left is None:
            continue
        usage, figure = left
        if conversation is None:
            conversation = _conversation(session, provider)
        at = datetime.combine(row.day, time.min)
        spend = entries.Spend(
            provider,
            row.model,
            usage,
            book.rates(row.model, provider=provider, at=at),
            conversation,
            context=CONTEXT,
            provider_figure=None if figure is None else ProviderFigure(figure, reported),
            raw_usage=_raw(row.provider),
        )
        spends.append((spend, at))
    recorded = entries.spend_many(session, spends)
    return Imported(len(recorded), sum((spend.cost for spend, _ in spends), Decimal(0)))


def _left(row: Row) -> tuple[TokenUsage, Decimal | None] | None:
    """The tokens and money (in credits, where the provider gives it) of ``row`` not imported
    yet; ``None`` when nothing is left (money is what decides, where there is money)."""
    seen, had = row.provider, row.imported
    usage = TokenUsage(
        prompt_tokens=max(0, seen.input_tokens - seen.cached_input_tokens - _plain_input(had)),
        completion_tokens=max(0, seen.output_tokens - had.output_tokens),
        cache_read_tokens=max(0, seen.cached_input_tokens - had.cached_input_tokens),
    )
    if seen.usd is not None:
        credits = _credits(seen.usd) - _credits(had.usd or Decimal(0))
        return (usage, credits) if credits > 0 else None
    if not (usage.prompt_tokens or usage.completion_tokens or usage.cache_read_tokens):
        return None
    return usage, None


def _plain_input(usage: Usage) -> int:
    return usage.input_tokens - usage.cached_input_tokens


def _credits(usd: Decimal) -> Decimal:
    """Dollars as credits the ledger can hold (to the millionth of a credit)."""
    return money.tidy((usd * money.CREDITS_PER_USD).quantize(_MICRO))


def _conversation(session: Session, provider: str) -> ConversationId:
    """The conversation imported spend is filed under, created with the first import."""
    source = source_of(provider)
    found = conversations.find_for_source(session, source)
    if found is not None:
        return found
    title = f"{source} (reconciled)"
    return conversations.create_conversation(session, title=title, source=source).id


def _raw(usage: Usage) -> str:
    """The provider's figures for the day and model, as the request's raw usage."""
    return json.dumps(
        {
            "input_tokens": usage.input_tokens,
            "cached_input_tokens": usage.cached_input_tokens,
            "output_tokens": usage.output_tokens,
            "usd": None if usage.usd is None else f"{usage.usd:f}",
        }
    )
