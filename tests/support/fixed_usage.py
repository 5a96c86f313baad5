"""A provider's records source that answers from a fixed list: a real object, no network."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from app.core.reconcile.records import BalanceSnapshot, ProviderDay, ProviderRecords


@dataclass
class FixedUsage:
    """A :class:`~app.core.reconcile.records.UsageSource` whose provider reports ``days``
    (those inside the range asked for), or only ``balance`` (a balance-only provider); change
    either to report something else later."""

    provider: str = "openai"
    days: list[ProviderDay] = field(default_factory=list)
    asked: list[tuple[date, date]] = field(default_factory=list)
    balance: BalanceSnapshot | None = None

    def fetch(self, since: date, until: date) -> ProviderRecords:
        self.asked.append((since, until))
        inside = tuple(d for d in self.days if since <= d.day <= until)
        return ProviderRecords(self.provider, since, until, inside, self.balance)


def billed(
    day: date, model: str, usd: str | None, tokens_in: int = 0, tokens_out: int = 0, cached: int = 0
) -> ProviderDay:
    """One day and model as the provider reports it (``usd`` None: tokens only)."""
    return ProviderDay(
        day, model, tokens_in, tokens_out, cached, None if usd is None else Decimal(usd)
    )
