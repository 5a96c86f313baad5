"""What a provider says it billed, in one shape whatever the provider, and how it is fetched.

Each provider's module (``openai_usage``, ``anthropic_usage``, ``openrouter_usage``,
``balances``) turns its API's pages into these values; the comparison (``compare``) reads only
these, so a new provider is one module. Days are UTC calendar days, as in the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

from app.core.errors import TallybookError

EVERY_MODEL = "*"
"""The model of a row that is every model's spend of a day together (OpenRouter's key summary
knows no models): the comparison sums the ledger's models of that day into one row for it."""


@dataclass(frozen=True)
class ProviderDay:
    """What a provider reports for one UTC day and one model.

    Attributes:
        model: the provider's own name for it (``gpt-4o-2024-08-06``); matched to the ledger's
            names the way the price table resolves them.
        input_tokens: every input token, cached ones included (OpenAI's ``input_tokens``;
            Anthropic's uncached + cache writes + cache reads).
        output_tokens: output tokens, reasoning included.
        cached_input_tokens: of ``input_tokens``, those read from the provider's cache.
        usd: what the provider says the day and model cost, where it gives money; ``None``
            where it gives only tokens.
    """

    day: date
    model: str
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = 0
    usd: Decimal | None = None


@dataclass(frozen=True)
class BalanceSnapshot:
    """A balance-only provider's balance at one moment (DeepSeek, Moonshot)."""

    at: datetime
    balance: Decimal
    currency: str


@dataclass(frozen=True)
class ProviderRecords:
    """Everything one fetch brought back for a range of days.

    Attributes:
        unattributed_usd: money the provider billed on a day that it did not put on any model
            (OpenAI's non-model line items, Anthropic's non-token costs), as ``(day, usd)``
            sorted by day; a day's total is its models' ``usd`` plus this.
    """

    provider: str
    since: date
    until: date
    days: tuple[ProviderDay, ...] = ()
    balance: BalanceSnapshot | None = None
    unattributed_usd: tuple[tuple[date, Decimal], ...] = ()


class UsageSource(Protocol):
    """One provider's records API (or balance API), behind one call."""

    provider: str

    def fetch(self, since: date, until: date) -> ProviderRecords:
        """The provider's records from ``since`` to ``until`` (UTC days, both included).

        Raises:
            ReconcileError: the provider refused (a key that is not an admin key, an account
                without the API), limited (429) or failed (5xx); one sentence, nothing changed.
        """
        ...


class ReconcileError(TallybookError):
    """A provider's records could not be fetched; the message says why in one sentence."""
