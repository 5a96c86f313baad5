"""What the emulator served, tallied by UTC day, provider and model: what its billing APIs report.

The providers' records APIs (OpenRouter's activity, key usage and generations; the balances of
DeepSeek and Moonshot) answer from this tally, so a reconciliation against the emulator compares
the ledger with what was really served. Usage that did not go through the ledger (another tool,
another computer) is added with :meth:`ServedTally.add` too: the emulator cannot tell it apart,
which is the point. Each reply may be kept under its own id as well (OpenRouter's ``gen-...``),
for the per-request lookups.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal

from app.core.errors import UnknownModel
from app.core.pricing.prices import catalog_rates

PER_USD = Decimal(1_000_000)
"""Credits per dollar: the price table's rates are credits per token."""


@dataclass(frozen=True)
class Served:
    """What was served for one day, provider and model (or for one reply)."""

    day: date
    provider: str
    model: str
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    usd: Decimal = Decimal(0)
    cache_write_tokens: int = 0
    """Of ``input_tokens``, those written to a 5-minute cache (Anthropic's cache writes)."""
    cache_write_1h_tokens: int = 0
    """Of ``input_tokens``, those written to a 1-hour cache."""
    at: datetime | None = None
    """When it was served (one reply only; ``None`` on a day's total)."""

    def plus(self, other: Served) -> Served:
        """The two added together (same day, provider and model)."""
        return replace(
            self,
            requests=self.requests + other.requests,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_input_tokens=self.cached_input_tokens + other.cached_input_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            usd=self.usd + other.usd,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            cache_write_1h_tokens=self.cache_write_1h_tokens + other.cache_write_1h_tokens,
            at=None,
        )


class ServedTally:
    """The emulator's running account of what it served. Thread-safe (one lock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._days: dict[tuple[date, str, str], Served] = {}
        self._replies: dict[str, Served] = {}
        self._lookups: dict[str, int] = {}

    def add(self, served: Served, reply_id: str | None = None) -> None:
        """Count ``served`` (a reply, or outside usage); keep it under ``reply_id`` if given."""
        key = (served.day, served.provider, served.model)
        with self._lock:
            known = self._days.get(key)
            self._days[key] = served if known is None else known.plus(served)
            if reply_id is not None:
                self._replies[reply_id] = served

    def rows(self, provider: str) -> list[Served]:
        """The provider's day totals, oldest first, then by model."""
        with self._lock:
            found = [s for (_, name, _), s in self._days.items() if name == provider]
        return sorted(found, key=lambda s: (s.day, s.model))

    def spent(self, provider: str, since: date | None = None) -> Decimal:
        """USD served for ``provider`` (from ``since`` on, when given)."""
        return sum(
            (s.usd for s in self.rows(provider) if since is None or s.day >= since), Decimal(0)
        )

    def reply(self, reply_id: str) -> tuple[Served | None, int]:
        """The reply kept under ``reply_id`` and how many times it was asked for before."""
        with self._lock:
            asked = self._lookups.get(reply_id, 0)
            self._lookups[reply_id] = asked + 1
            return self._replies.get(reply_id), asked


def list_price(
    model: str,
    provider: str | None,
    input_tokens: int,
    output_tokens: int,
    cached_input_tokens: int = 0,
) -> Decimal:
    """What the shipped price table says a reply costs, in USD; nothing for a model it lacks
    (the emulator's own models are free)."""
    try:
        rates = catalog_rates(model, provider, input_tokens, datetime.now(UTC))
    except UnknownModel:
        return Decimal(0)
    parts: Iterable[Decimal] = (
        (input_tokens - cached_input_tokens) * rates.prompt,
        cached_input_tokens * rates.cache_read,
        output_tokens * rates.completion,
    )
    return sum(parts, Decimal(0)) / PER_USD
