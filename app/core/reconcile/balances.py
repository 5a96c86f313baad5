"""DeepSeek's and Moonshot's balances: snapshots, a short history of them, and the drop between two.

These providers keep no usage history an API returns, only the account's balance now. So each
check takes a :class:`BalanceSnapshot`; :func:`record_snapshot` keeps it in the ledger file's
settings (the last :data:`KEPT` per provider, under :data:`HISTORY_KEY`); and
:func:`balance_drop` sets what the balance fell by between the last two against what the ledger
charged that provider in between. A drop larger than the ledger's spend is spend Tallybook did
not see (another tool, another computer); a negative drop is money added (a top-up).

- DeepSeek ``GET /user/balance`` (the chat key): ``{"is_available", "balance_infos": [{
  "currency": "CNY"|"USD", "total_balance", "granted_balance", "topped_up_balance"}]}`` with
  amounts as decimal strings; the USD entry is taken when there is one, else the first.
- Moonshot ``GET /v1/users/me/balance`` (the chat key): ``{"code": 0, "data": {
  "available_balance", "voucher_balance", "cash_balance"}, "scode", "status"}`` with floats (read
  as exact Decimals); ``available_balance`` is the balance (``cash_balance`` can be negative).
  Keys are bound to a region: ``api.moonshot.ai`` bills in USD, ``api.moonshot.cn`` in CNY.

Use::

    snapshot = DeepSeekBalance().snapshot()
    with db.write() as session:
        record_snapshot(session, "deepseek", snapshot)
        drop = balance_drop(session, "deepseek")  # None until there are two snapshots
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx2
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.clock import utcnow
from app.core.keys import ApiKey, get_key
from app.core.ledger.entries import TokenType
from app.core.money import credits_to_usd
from app.core.providers import registry
from app.core.providers.http import TIMEOUT
from app.core.reconcile.answers import amount, get_object
from app.core.reconcile.records import BalanceSnapshot, ProviderRecords, ReconcileError
from app.core.redaction import remember
from app.core.storage import settings
from app.core.storage.models import Transaction

DEEPSEEK_URL = "https://api.deepseek.com"
MOONSHOT_URLS = {"intl": "https://api.moonshot.ai", "cn": "https://api.moonshot.cn"}
MOONSHOT_CURRENCY = {"intl": "USD", "cn": "CNY"}
HOSTS = {
    "deepseek": frozenset({"api.deepseek.com"}),
    "moonshot": frozenset({"api.moonshot.ai", "api.moonshot.cn"}),
}
"""Where each provider's chat endpoints live: a custom endpoint there is the provider's spend."""
HISTORY_KEY = "balance_snapshots"
KEPT = 200


def _chat_key(provider: str, name: str, variable: str) -> ApiKey:
    """The provider's chat key: its key store entry (or known variable), else ``variable``."""
    if (key := get_key(provider)) is not None:
        return key
    if value := os.environ.get(variable, "").strip():
        remember(value)
        return ApiKey(value, f"${variable}")
    raise ReconcileError(f"No {name} key is set: save one in Keys or set {variable}.")


def _get(url: str, key: ApiKey, name: str, transport: httpx2.BaseTransport | None) -> Any:
    headers = {"Authorization": f"Bearer {key.secret}"}
    with httpx2.Client(timeout=TIMEOUT, headers=headers, transport=transport) as client:
        return get_object(client, url, provider=name, secret=key.secret)


@dataclass
class DeepSeekBalance:
    """DeepSeek's balance, one ``UsageSource`` whose records hold only ``balance``."""

    key: ApiKey | None = None
    base_url: str = DEEPSEEK_URL
    now: Callable[[], datetime] = utcnow
    transport: httpx2.BaseTransport | None = field(default=None, repr=False)
    provider: str = "deepseek"

    def snapshot(self) -> BalanceSnapshot:
        """The balance now.

        Raises:
            ReconcileError: no key, a refusal or failure, or an answer without a balance.
        """
        key = self.key or _chat_key("deepseek", "DeepSeek", "DEEPSEEK_API_KEY")
        root = self.base_url.rstrip("/").removesuffix("/v1")
        body = _get(f"{root}/user/balance", key, "DeepSeek", self.transport)
        infos = body.get("balance_infos")
        entries = [i for i in infos if isinstance(i, dict)] if isinstance(infos, list) else []
        if not entries:
            raise ReconcileError("DeepSeek sent no balance for this account.")
        chosen = next((i for i in entries if i.get("currency") == "USD"), entries[0])
        currency = chosen.get("currency")
        return BalanceSnapshot(
            at=self.now(),
            balance=amount(chosen.get("total_balance"), "balance", "DeepSeek"),
            currency=currency if isinstance(currency, str) and currency else "CNY",
        )

    def fetch(self, since: date, until: date) -> ProviderRecords:
        """The balance now, as records with no days."""
        return ProviderRecords(self.provider, since, until, balance=self.snapshot())


@dataclass
class MoonshotBalance:
    """Moonshot's (Kimi's) balance in one region, one ``UsageSource`` with only ``balance``.

    Args:
        region: ``intl`` (api.moonshot.ai, USD) or ``cn`` (api.moonshot.cn, CNY); the key
            works in its own region only.
        base_url: another place to ask (``--base-url``, a test server); the region still says
            the currency.
    """

    key: ApiKey | None = None
    region: str = "intl"
    base_url: str | None = None
    now: Callable[[], datetime] = utcnow
    transport: httpx2.BaseTransport | None = field(default=None, repr=False)
    provider: str = "moonshot"

    def snapshot(self) -> BalanceSnapshot:
        """The available balance now.

        Raises:
            ReconcileError: an unknown region, no key, a refusal or failure, or an answer
                without a balance.
        """
        if self.region not in MOONSHOT_URLS:
            raise ReconcileError(f"Moonshot has no region {self.region!r}: use intl or cn.")
        key = self.key or _chat_key("moonshot", "Moonshot", "MOONSHOT_API_KEY")
        root = (self.base_url or MOONSHOT_URLS[self.region]).rstrip("/").removesuffix("/v1")
        body = _get(f"{root}/v1/users/me/balance", key, "Moonshot", self.transport)
        data = body.get("data")
        if body.get("code", 0) != 0 or not isinstance(data, dict):
            raise ReconcileError("Moonshot sent no balance for this account.")
        return BalanceSnapshot(
            at=self.now(),
            balance=amount(data.get("available_balance"), "balance", "Moonshot"),
            currency=MOONSHOT_CURRENCY[self.region],
        )

    def fetch(self, since: date, until: date) -> ProviderRecords:
        """The balance now, as records with no days."""
        return ProviderRecords(self.provider, since, until, balance=self.snapshot())


def record_snapshot(session: Session, provider: str, snapshot: BalanceSnapshot) -> None:
    """Keep ``snapshot`` as the provider's latest (the oldest beyond :data:`KEPT` go)."""
    history: dict[str, list[list[str]]] = settings.get(session, HISTORY_KEY, {})
    kept = [*history.get(provider, []), _stored(snapshot)][-KEPT:]
    settings.put(session, HISTORY_KEY, {**history, provider: kept})


def snapshots(session: Session, provider: str) -> list[BalanceSnapshot]:
    """The provider's kept snapshots, oldest first."""
    history: dict[str, list[list[str]]] = settings.get(session, HISTORY_KEY, {})
    return [
        BalanceSnapshot(datetime.fromisoformat(at), Decimal(balance), currency)
        for at, balance, currency in history.get(provider, [])
    ]


def _stored(snapshot: BalanceSnapshot) -> list[str]:
    return [snapshot.at.isoformat(), str(snapshot.balance), snapshot.currency]


@dataclass(frozen=True)
class BalanceDrop:
    """What a balance fell by between two snapshots, beside the ledger's spend in between.

    Attributes:
        drop: ``previous.balance - latest.balance``, in their currency (negative: money added).
        ledger_usd: what the ledger charged the provider's endpoints after ``previous.at`` up to
            and including ``latest.at``, in USD.
    """

    provider: str
    previous: BalanceSnapshot
    latest: BalanceSnapshot
    drop: Decimal
    ledger_usd: Decimal

    @property
    def comparable(self) -> bool:
        """Whether ``drop`` and ``ledger_usd`` are in one currency (both snapshots in USD)."""
        return self.previous.currency == self.latest.currency == "USD"

    @property
    def unseen_usd(self) -> Decimal | None:
        """Spend the provider saw and the ledger did not (``drop - ledger_usd``), where the two
        are comparable; negative when the ledger charged more than the balance fell."""
        return self.drop - self.ledger_usd if self.comparable else None


def balance_drop(session: Session, provider: str) -> BalanceDrop | None:
    """The drop between the provider's last two snapshots and the ledger's spend between them;
    ``None`` until two snapshots were kept."""
    kept = snapshots(session, provider)
    if len(kept) < 2:
        return None
    previous, latest = kept[-2], kept[-1]
    spent = session.execute(
        select(func.coalesce(func.sum(Transaction.token_value), 0)).where(
            Transaction.provider.in_(sorted(ledger_names(session, provider))),
            Transaction.token_type != TokenType.CREDITS.value,
            Transaction.created_at > previous.at,
            Transaction.created_at <= latest.at,
        )
    ).scalar_one()
    return BalanceDrop(
        provider,
        previous,
        latest,
        previous.balance - latest.balance,
        credits_to_usd(-Decimal(spent)),
    )


def ledger_names(session: Session, provider: str) -> frozenset[str]:
    """The ledger's provider names whose spend this balance pays: the provider's own endpoint
    and every endpoint whose base URL is on its hosts."""
    hosts = HOSTS.get(provider, frozenset())
    found = {provider}
    for endpoint in registry.all_endpoints(session):
        if (urlsplit(endpoint.base_url).hostname or "").lower() in hosts:
            found.add(endpoint.id)
    return frozenset(found)
