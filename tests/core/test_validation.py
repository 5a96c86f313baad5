"""Price overrides and settings with invalid values are refused with a sentence, never stored.

Each change runs in a write session that *commits* after the error is caught, as a caller that
saves several settings together might: a refused value must not be left half-applied in the
session either.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from app.core import money
from app.core.errors import TallybookError
from app.core.ledger import alerts, balance, entries
from app.core.pricing import prices
from app.core.pricing.prices import RateOverride
from app.core.providers import registry
from app.core.storage.db import Database

ROOT = Path(__file__).resolve().parents[2]

Change = Callable[[Session], object]

BAD_AMOUNTS = {
    "negative": "-1",
    "seven decimals": "0.0000001",
    "NaN": "NaN",
    "signalling NaN": "sNaN",
    "infinity": "Infinity",
    "too large to store": "1e13",  # 1e19 millionths: past a 64-bit integer
}


def refused(db: Database, change: Change) -> TallybookError:
    """Run ``change``; it must raise the app's own error, and committing afterwards is harmless."""
    with db.write() as session, pytest.raises(TallybookError) as caught:
        change(session)
    message = str(caught.value)
    assert len(message) > 10 and "Traceback" not in message and "[SQL" not in message
    return caught.value


def state(db: Database) -> dict[str, Any]:
    """Everything these settings can change, to compare before and after."""
    with db.read() as session:
        return {
            "overrides": prices.list_overrides(session),
            "default": prices.default_rates(session),
            "balance": balance.get_balance(session),
            "budgets": alerts.budgets(session),
            "threshold": alerts.low_balance_threshold(session),
            "endpoints": registry.all_endpoints(session),
        }


def amount_cases() -> list[Any]:
    return [pytest.param(Decimal(text), id=name) for name, text in BAD_AMOUNTS.items()]


# --- prices ----------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", amount_cases())
def test_an_invalid_override_rate_is_refused(db: Database, rate: Decimal) -> None:
    before = state(db)
    refused(db, lambda s: prices.set_override(s, RateOverride("gpt-4o", prompt=rate)))
    assert state(db) == before


def test_an_override_needs_a_model_name(db: Database) -> None:
    before = state(db)
    refused(db, lambda s: prices.set_override(s, RateOverride("   ", prompt=Decimal(1))))
    assert state(db) == before


@pytest.mark.parametrize("rate", amount_cases())
def test_an_invalid_default_rate_is_refused(db: Database, rate: Decimal) -> None:
    before = state(db)
    refused(db, lambda s: prices.set_default_rates(s, Decimal(1), rate))
    refused(db, lambda s: prices.set_default_rates(s, rate, Decimal(1)))
    assert state(db) == before


def test_valid_rates_at_the_limits_are_stored(db: Database) -> None:
    with db.write() as session:
        prices.set_override(session, RateOverride("gpt-4o", prompt=Decimal("0.000001")))
        prices.set_default_rates(session, Decimal(0), Decimal("123.456789"))
    with db.read() as session:
        assert prices.list_overrides(session)[0].prompt == Decimal("0.000001")
        assert prices.default_rates(session).completion == Decimal("123.456789")


# --- balance rules ---------------------------------------------------------------------------


@pytest.mark.parametrize("amount", amount_cases())
@pytest.mark.parametrize("field", ["start_balance", "refill_amount"])
def test_an_invalid_balance_amount_is_refused(db: Database, field: str, amount: Decimal) -> None:
    before = state(db)
    error = refused(db, lambda s: balance.configure(s, enabled=True, **{field: amount}))
    assert field.split("_")[0] in str(error)  # names what was wrong
    assert state(db) == before  # not even "enabled", given in the same call


@pytest.mark.parametrize(
    ("value", "unit", "words"),
    [
        (0, "days", "at least 1"),
        (-3, "days", "at least 1"),
        (999_999_999, "months", "longer than 100 years"),
        (10**30, "seconds", "longer than 100 years"),
        (101, "years", "unknown refill interval unit"),
    ],
)
def test_an_invalid_refill_interval_is_refused(
    db: Database, value: int, unit: str, words: str
) -> None:
    before = state(db)
    error = refused(
        db,
        lambda s: balance.configure(
            s, auto_refill_enabled=True, refill_interval_value=value, refill_interval_unit=unit
        ),
    )
    assert words in str(error)
    assert state(db) == before


def test_a_too_long_interval_is_refused_even_when_only_the_unit_changes(db: Database) -> None:
    with db.write() as session:
        balance.configure(session, refill_interval_value=5000, refill_interval_unit="days")
    before = state(db)
    refused(db, lambda s: balance.configure(s, refill_interval_unit="months"))  # 416 years
    assert state(db) == before


def test_the_largest_valid_balance_settings_are_stored(db: Database) -> None:
    with db.write() as session:
        view = balance.configure(
            session,
            start_balance=money.MAX_AMOUNT,
            refill_amount=Decimal("0.000001"),
            refill_interval_value=100,
            refill_interval_unit="months",
        )
    assert view.start_balance == money.MAX_AMOUNT and view.refill_interval_value == 100


# --- budgets and alerts ----------------------------------------------------------------------


@pytest.mark.parametrize("limit", [*amount_cases(), pytest.param(Decimal(0), id="zero")])
def test_an_invalid_budget_limit_is_refused(db: Database, limit: Decimal) -> None:
    before = state(db)
    refused(db, lambda s: alerts.add_budget(s, "month", limit))
    assert state(db) == before


@pytest.mark.parametrize("threshold", amount_cases())
def test_an_invalid_low_balance_threshold_is_refused(db: Database, threshold: Decimal) -> None:
    with db.write() as session:
        alerts.set_low_balance_threshold(session, Decimal(500))
    before = state(db)
    error = refused(db, lambda s: alerts.set_low_balance_threshold(s, threshold))
    assert "threshold" in str(error)
    assert state(db) == before


def test_valid_budgets_and_thresholds_are_stored(db: Database) -> None:
    with db.write() as session:
        alerts.add_budget(session, "day", Decimal("0.000001"))
        alerts.add_budget(session, "month", money.MAX_AMOUNT, "model", "gpt-4o")
        alerts.set_low_balance_threshold(session, Decimal(0))
    with db.read() as session:
        assert [b.limit for b in alerts.budgets(session)] == [
            Decimal("0.000001"),
            money.MAX_AMOUNT,
        ]
        assert alerts.low_balance_threshold(session) == 0


# --- endpoints -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "url", "words"),
    [
        ("Gateway", "ftp://example.com/v1", "not an http(s) URL"),
        ("Gateway", "http:///v1", "not an http(s) URL"),
        ("Gateway", "http://user:sk-test-abcdefghijklmnopqrstu@example.com/v1", "key store"),
        ("Gateway", "https://example.com/v1?api_key=abc123", "no ?query"),
        ("Gateway", "https://example.com/v1#section", "no ?query"),
        ("Gateway", "http://example.com:99999/v1", "invalid port"),
        ("Gateway", "http://example.com:port/v1", "invalid port"),
        ("Gateway", "http://exa mple.com/v1", "spaces or control characters"),
        ("Gateway", "http://example.com/v1\x00", "spaces or control characters"),
        ("", "http://example.com/v1", "needs a name"),
        ("  ***  ", "http://example.com/v1", "needs a name"),
        ("Two\nlines", "http://example.com/v1", "one line"),
        ("x" * 81, "http://example.com/v1", "at most 80"),
    ],
)
def test_an_invalid_endpoint_is_refused(db: Database, name: str, url: str, words: str) -> None:
    before = state(db)
    error = refused(db, lambda s: registry.add_endpoint(s, name, url))
    assert words in str(error)
    assert "sk-live" not in str(error)  # a key typed into the URL is not echoed
    assert state(db) == before


def test_an_unknown_protocol_or_a_taken_name_is_refused(db: Database) -> None:
    with db.write() as session:
        registry.add_endpoint(session, "Gateway", " http://127.0.0.1:8080/v1/ ")
    before = state(db)
    refused(db, lambda s: registry.add_endpoint(s, "Other", "http://h/v1", api="soap"))
    refused(db, lambda s: registry.add_endpoint(s, "gateway", "http://h/v1"))
    assert state(db) == before
    assert before["endpoints"][-1].base_url == "http://127.0.0.1:8080/v1"  # tidied, kept


# --- from the command line: one line, exit 1, nothing written ---------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("set-balance", "--start-balance", "1e13"),
        ("set-balance", "--every", "999999999", "--unit", "months"),
        ("prices", "set", "gpt-4o", "--prompt", "1e13"),
        ("prices", "default", "--prompt", "1e13", "--completion", "1"),
        ("add-balance", "1e13"),
    ],
)
def test_the_command_line_refuses_values_the_ledger_cannot_hold(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    db = Database(tmp_path / "tallybook.sqlite3")
    try:
        with db.write() as session:
            entries.add_credits(session, Decimal(100))
        before = state(db)
    finally:
        db.close()
    result = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "TALLYBOOK_HOME": str(tmp_path)},
        timeout=60,
        check=False,
    )
    assert result.returncode in (1, 2), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "tallybook" in result.stderr
    db = Database(tmp_path / "tallybook.sqlite3")
    try:
        assert state(db) == before
    finally:
        db.close()
