from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from app.core.ledger import entries
from app.core.ledger.entries import Spend
from app.core.pricing import prices
from app.core.pricing.charges import TokenUsage
from app.core.pricing.prices import PriceBook, RateOverride
from app.core.providers import registry
from app.core.storage.db import Database


@pytest.fixture
def book(db: Database) -> PriceBook:
    with db.read() as session:
        return PriceBook.load(session)


@pytest.mark.parametrize(
    ("typed", "provider", "canonical"),
    [
        ("gpt-4o", None, "gpt-4o"),
        ("gpt-4o-2024-08-06", None, "gpt-4o"),
        ("openai/gpt-4o", None, "gpt-4o"),
        ("models/gemini-2.5-pro", None, "gemini-2.5-pro"),
        ("gemini-2.5-pro", "gemini", "gemini-2.5-pro"),
        ("GPT-4o ", None, "gpt-4o"),
        ("anthropic/claude-sonnet-4.5", "openrouter", "anthropic/claude-sonnet-4.5"),
    ],
)
def test_model_names_resolve_as_users_type_them(
    book: PriceBook, typed: str, provider: str | None, canonical: str
) -> None:
    rates = book.rates(typed, provider=provider)
    assert rates.model == canonical
    assert rates.source == prices.catalog_version()
    assert not rates.is_default


def test_shipped_rates_are_librechats_units(book: PriceBook) -> None:
    rates = book.rates("gpt-3.5-turbo-1106")
    assert (rates.prompt, rates.completion) == (Decimal(1), Decimal(2))
    four_o = book.rates("gpt-4o", at=datetime(2026, 1, 1))
    assert (four_o.prompt, four_o.completion, four_o.cache_read) == (
        Decimal("2.5"),
        Decimal(10),
        Decimal("1.25"),
    )


def test_long_context_tier_applies_to_every_token(book: PriceBook) -> None:
    short = book.rates("claude-sonnet-4-5", input_tokens=200_000)
    long = book.rates("claude-sonnet-4-5", input_tokens=200_001)
    assert (short.prompt, long.prompt) == (Decimal(3), Decimal(6))
    assert (short.cache_write, short.cache_write_1h, short.cache_read) == (
        Decimal("3.75"),
        Decimal(6),
        Decimal("0.3"),
    )


def test_unknown_model_is_charged_the_default_and_flagged(db: Database) -> None:
    with db.write() as session:
        prices.set_default_rates(session, Decimal("4"), Decimal("12"))
        book = PriceBook.load(session)
        rates = book.rates("my-local-llama")
        record = entries.spend_tokens(
            session, Spend("ollama", "my-local-llama", TokenUsage(10, 10), rates)
        )
    assert rates.is_default
    assert (rates.prompt, rates.completion) == (Decimal(4), Decimal(12))
    assert record.total == Decimal(-160)  # never silently free
    assert {t.rate_source for t in record.transactions} == {prices.DEFAULT_SOURCE}


def test_overrides_win_and_are_recorded_as_such(db: Database) -> None:
    with db.write() as session:
        prices.set_override(session, RateOverride("gpt-4o", prompt=Decimal("2.000001")))
        book = PriceBook.load(session)
    rates = book.rates("GPT-4o")
    assert rates.prompt == Decimal("2.000001")
    assert rates.completion == Decimal(10)  # not overridden: the table's
    assert rates.source == prices.OVERRIDE_SOURCE
    with db.write() as session:
        assert prices.remove_override(session, "gpt-4o")
        assert PriceBook.load(session).rates("gpt-4o").source == prices.catalog_version()


def test_partial_override_of_an_unknown_model_stays_flagged(db: Database) -> None:
    with db.write() as session:
        prices.set_override(session, RateOverride("my-llama", prompt=Decimal("0.5")))
        rates = PriceBook.load(session).rates("my-llama")
    assert rates.prompt == Decimal("0.5")
    assert rates.completion == Decimal(30)
    assert rates.is_default


def test_limits_live_beside_the_prices(book: PriceBook) -> None:
    assert book.limits("gpt-4o-2024-08-06") == prices.ModelLimits(128_000, 16_384)
    assert book.limits("claude-sonnet-4-5").max_output == 64_000
    assert book.limits("models/gemini-2.5-pro").context_window == 1_048_576
    assert book.limits("never-heard-of-it") == prices.ModelLimits(None, None)


def test_dated_price_changes_and_float_noise_rounded_to_six_decimals() -> None:
    before = prices.catalog_rates(
        "google/gemini-2.5-flash", "openrouter", 0, datetime(2026, 10, 18)
    )
    after = prices.catalog_rates("google/gemini-2.5-flash", "openrouter", 0, datetime(2026, 10, 19))
    assert before.cache_write == Decimal("0.3833")
    assert after.cache_write == Decimal("0.083333")  # the table says 0.0833333333333333


def test_online_updates_are_opt_in_and_named_in_the_rate_source(db: Database) -> None:
    from genai_prices import data_snapshot

    with db.write() as session:
        assert not prices.online_updates_enabled(session)
        prices.set_online_updates(session, True)
        assert prices.online_updates_enabled(session)
    shipped = data_snapshot.get_snapshot()
    fetched = data_snapshot.DataSnapshot(
        providers=shipped.providers, from_auto_update=True, timestamp=datetime(2026, 11, 20, 9, 30)
    )
    data_snapshot.set_custom_snapshot(fetched)
    try:
        with db.read() as session:
            rates = PriceBook.load(session).rates("gpt-4o")
    finally:
        data_snapshot.set_custom_snapshot(None)
    assert rates.source.endswith("+ online data of 2026-11-20 09:30")


def test_every_model_the_picker_offers_from_a_priced_endpoint_is_in_the_price_table(
    db: Database,
) -> None:
    """A stale menu entry (a retired model, a misspelt name) would be charged the flagged default."""
    with db.read() as session:
        menu = registry.model_menu(session)
        book = PriceBook.load(session)
    offered = [(e, c.model) for e, choices in menu if e.price_provider for c in choices]
    assert len(offered) > 30
    unpriced = [
        f"{e.id}: {model}"
        for e, model in offered
        if book.rates(model, provider=e.price_provider).is_default
        or book.limits(model, provider=e.price_provider).context_window is None
    ]
    assert unpriced == []
