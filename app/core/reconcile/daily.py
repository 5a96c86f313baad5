"""The opt-in daily check: each enabled provider's last week beside the ledger, and an alert
when spend from outside Tallybook or a drift appears.

Off for every provider until the user turns it on (``tallybook reconcile --daily on``, or the
window). Each alert is raised once (:func:`alerts.raise_once`): an outside alert is keyed by
the latest day showing outside spend, so new outside spend on a later day alerts again, the
same spend seen by tomorrow's check does not. The fetch goes over the network, so the window
calls :func:`run_checks` off the GUI thread; nothing here holds the ledger during a fetch.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from app.core import money
from app.core.ledger import alerts
from app.core.ledger.alerts import Alert, Level
from app.core.pricing.prices import PriceBook
from app.core.providers import registry
from app.core.reconcile import balances, compare, sources
from app.core.reconcile.compare import Reconciliation, Status
from app.core.reconcile.records import EVERY_MODEL, ReconcileError
from app.core.storage import settings
from app.core.storage.db import Database

ENABLED_KEY = "reconcile_daily"
"""Settings key: the providers whose daily check is on (a list; none by default)."""
LAST_KEY = "reconcile_daily_last"
"""Settings key: each provider's last completed check, as an ISO time."""
EVERY = timedelta(days=1)
WEEK = 7
"""Completed days fetched before today."""
OUTSIDE_ALERT = "reconcile-outside:"
DRIFT_ALERT = "reconcile-drift:"
FAILED_ALERT = "reconcile-failed:"

logger = logging.getLogger(__name__)


def is_enabled(session: Session, provider: str) -> bool:
    """Whether ``provider``'s daily check is on (off unless turned on)."""
    return provider in _enabled(session)


def set_enabled(session: Session, provider: str, on: bool) -> None:
    """Turn ``provider``'s daily check on or off.

    Raises:
        ReconcileError: Tallybook cannot read that provider's records.
    """
    if provider not in sources.PROVIDERS:
        raise ReconcileError(f"Tallybook cannot read {provider}'s usage records.")
    chosen = set(_enabled(session)) - {provider}
    if on:
        chosen.add(provider)
    settings.put(session, ENABLED_KEY, [p for p in sources.PROVIDERS if p in chosen])


def due(session: Session, now: datetime) -> list[str]:
    """The enabled providers never checked, or last checked a day or more before ``now``."""
    last: dict[str, str] = settings.get(session, LAST_KEY, {})
    return [
        provider
        for provider in _enabled(session)
        if provider not in last or now - datetime.fromisoformat(last[provider]) >= EVERY
    ]


def run_checks(
    db: Database, now: datetime, *, base_urls: Mapping[str, str] | None = None
) -> list[Alert]:
    """Check every due provider (``base_urls``: where to read each one, else its own API)
    and return the alerts newly raised. Blocks on the network: call it off the GUI thread.

    A provider that fails is not marked checked (the next call tries again) and gives a quiet
    alert once a day, its error's one sentence (which never holds a key).
    """
    with db.read() as session:
        providers = due(session, now)
    raised: list[Alert] = []
    for provider in providers:
        raised += _check(db, provider, now, (base_urls or {}).get(provider))
    return raised


def _check(db: Database, provider: str, now: datetime, base_url: str | None) -> list[Alert]:
    today = now.date()
    try:
        records = sources.source_for(provider, base_url).fetch(today - timedelta(days=WEEK), today)
    except ReconcileError as error:
        logger.warning("The daily check of %s failed: %s", provider, error)
        failed = Alert(
            f"{FAILED_ALERT}{provider}:{today}",
            Level.INFO,
            f"{_name(provider)}'s daily check failed",
            f"{error} The next check tries again.",
        )
        with db.write() as session:
            return alerts.raise_once(session, [failed], now=now)
    with db.write() as session:
        if records.balance is not None and not records.days:
            balances.record_snapshot(session, provider, records.balance)
            found = _balance_alerts(session, provider)
        else:
            found = _alerts_of(compare.reconcile(session, records, PriceBook.load(session)))
        last: dict[str, str] = settings.get(session, LAST_KEY, {})
        settings.put(session, LAST_KEY, last | {provider: now.isoformat()})
        return alerts.raise_once(session, found, now=now)


def _alerts_of(result: Reconciliation) -> list[Alert]:
    name = _name(result.provider)
    found = []
    outside = [  # not yet imported; a day's all-models row cannot be, but still counts
        r
        for r in result.rows
        if r.needs_import() or (r.status is Status.OUTSIDE and r.model == EVERY_MODEL)
    ]
    if outside:
        found.append(
            Alert(
                f"{OUTSIDE_ALERT}{result.provider}:{_latest(outside)}",
                Level.WARNING,
                f"Spend outside Tallybook at {name}",
                f"{name} shows {_amount(outside)} this week that the ledger does not have"
                " (another tool or computer?).",
            )
        )
    drift = [r for r in result.rows if r.status is Status.DRIFT]
    if drift:
        found.append(
            Alert(
                f"{DRIFT_ALERT}{result.provider}:{_latest(drift)}",
                Level.INFO,
                f"The ledger and {name} differ",
                f"{len(drift)} day(s) and model(s) this week differ by more than 1% between"
                f" the ledger and {name}.",
            )
        )
    return found


def _balance_alerts(session: Session, provider: str) -> list[Alert]:
    """A balance-only provider: outside spend is the fall the ledger did not charge."""
    drop = balances.balance_drop(session, provider)
    unseen = drop.unseen_usd if drop is not None else None
    if drop is None or unseen is None or unseen <= compare.SLACK_USD:
        return []
    name = _name(provider)
    return [
        Alert(
            f"{OUTSIDE_ALERT}{provider}:{drop.latest.at.date()}",
            Level.WARNING,
            f"Spend outside Tallybook at {name}",
            f"{name}'s balance fell by {money.format_dollars(unseen)} more than the ledger"
            f" charged since {drop.previous.at:%Y-%m-%d %H:%M} UTC (another tool or computer?).",
        )
    ]


def _amount(rows: list[compare.Row]) -> str:
    owed = [r.provider.usd - (r.imported.usd or 0) for r in rows if r.provider.usd is not None]
    if len(owed) == len(rows):
        return money.format_dollars(sum(owed, Decimal(0)))
    tokens = sum(r.provider.input_tokens + r.provider.output_tokens for r in rows)
    return f"{tokens:,} tokens"


def _latest(rows: list[compare.Row]) -> date:
    return max(r.day for r in rows)


def _name(provider: str) -> str:
    names = {e.id: e.name for e in registry.BUILTIN}
    return names.get(provider, provider)


def _enabled(session: Session) -> list[str]:
    stored: list[str] = settings.get(session, ENABLED_KEY, [])
    return stored
