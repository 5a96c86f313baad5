"""The daily check against the emulator's OpenAI admin APIs: off by default, due once a day,
an outside alert and a drift alert each raised once, a provider's failure a quiet alert."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from app.core.clock import utcnow
from app.core.ledger import entries
from app.core.ledger.alerts import Level
from app.core.pricing.charges import TokenUsage
from app.core.reconcile import daily
from app.core.storage.db import Database
from app.servers.emulator.served import Served
from app.servers.emulator.server import Emulator
from tests.factories import rates

ADMIN = "sk-admin-bars-DAILY-0123456789abcdefghij"
NOW = utcnow()  # the sources never ask past the real now
YESTERDAY = NOW.date() - timedelta(days=1)


def outside(model: str, usd: str) -> Served:
    return Served(
        YESTERDAY,
        "openai",
        model,
        requests=3,
        input_tokens=30_000,
        output_tokens=3_000,
        usd=Decimal(usd),
    )


@pytest.fixture(autouse=True)
def admin_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", ADMIN)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(outside=[outside("gpt-4o-2024-08-06", "0.105")]) as running:
        yield running


def enable(db: Database) -> None:
    with db.write() as session:
        daily.set_enabled(session, "openai", True)


def test_off_by_default_and_due_once_enabled(db: Database) -> None:
    with db.read() as session:
        assert not daily.is_enabled(session, "openai")
        assert daily.due(session, NOW) == []
    enable(db)
    with db.read() as session:
        assert daily.is_enabled(session, "openai")
        assert daily.due(session, NOW) == ["openai"]
    with db.write() as session:
        daily.set_enabled(session, "openai", False)
    with db.read() as session:
        assert not daily.is_enabled(session, "openai") and daily.due(session, NOW) == []


def test_outside_spend_alerts_once_and_not_again_within_the_day(
    db: Database, emulator: Emulator
) -> None:
    enable(db)
    urls = {"openai": emulator.url}
    (alert,) = daily.run_checks(db, NOW, base_urls=urls)
    assert alert.level is Level.WARNING
    assert alert.message == (
        "OpenAI shows $0.10 this week that the ledger does not have (another tool or computer?)."
    )
    with db.read() as session:
        assert daily.due(session, NOW + timedelta(hours=23)) == []
        assert daily.due(session, NOW + timedelta(days=1)) == ["openai"]
    assert daily.run_checks(db, NOW + timedelta(hours=1), base_urls=urls) == []
    # A day later the same outside spend is checked again, and not raised again.
    assert daily.run_checks(db, NOW + timedelta(days=1), base_urls=urls) == []


def test_a_drift_alerts(db: Database, emulator: Emulator) -> None:
    with db.write() as session:  # $2.00 metered where OpenAI billed $0.105
        entries.spend_tokens(
            session,
            entries.Spend(
                "openai", "gpt-4o", TokenUsage(400_000, 100_000), rates("2.5", "10", model="gpt-4o")
            ),
            now=datetime.combine(YESTERDAY, datetime.min.time()).replace(hour=9),
        )
    enable(db)
    (alert,) = daily.run_checks(db, NOW, base_urls={"openai": emulator.url})
    assert alert.key.startswith(daily.DRIFT_ALERT) and "OpenAI" in alert.message


def test_a_failure_is_a_quiet_alert_without_the_key_and_is_retried(db: Database) -> None:
    with socket.socket() as unused:  # a port nothing listens on
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}"
    enable(db)
    (alert,) = daily.run_checks(db, NOW, base_urls={"openai": url})
    assert alert.level is Level.INFO and ADMIN not in alert.message
    with db.read() as session:
        assert daily.due(session, NOW) == ["openai"]  # not marked checked: tried again
    assert daily.run_checks(db, NOW + timedelta(hours=1), base_urls={"openai": url}) == []
