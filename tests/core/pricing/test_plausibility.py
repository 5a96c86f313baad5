"""Overrides that look like slips are asked about; a rate no price comes near is refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.core.errors import InvalidAmount
from app.core.pricing import prices
from app.core.pricing.plausibility import doubts
from app.core.pricing.prices import RateOverride
from app.core.storage.db import Database

DEFAULT = RateOverride("*", Decimal(10), Decimal(30))


def test_a_cache_read_of_five_million_on_gpt_4o_gives_both_reasons() -> None:
    reasons = doubts(RateOverride("gpt-4o", cache_read=Decimal(500_000)), DEFAULT)
    assert len(reasons) == 2
    table = "cache read rate $500,000.00 per 1M tokens is 400,000x the price table's"
    assert table in reasons[0]
    assert "more than the prompt it stands in for ($2.50 per 1M tokens)" in reasons[1]


@pytest.mark.parametrize(
    "override",
    [
        RateOverride("gpt-4o", prompt=Decimal(3), completion=Decimal(12)),
        RateOverride("gpt-4o", completion=Decimal(1000)),  # exactly 100x is still allowed
        RateOverride("gpt-4o", prompt=Decimal(2), cache_read=Decimal(2)),
        RateOverride("my-local-llama", prompt=Decimal("0.1"), completion=Decimal("0.2")),
    ],
)
def test_ordinary_overrides_raise_no_doubt(override: RateOverride) -> None:
    assert doubts(override, DEFAULT) == ()


def test_an_unknown_models_override_is_measured_against_the_default_rate() -> None:
    (reason,) = doubts(RateOverride("testm", prompt=Decimal(999_999)), DEFAULT)
    assert reason == (
        "The prompt rate $999,999.00 per 1M tokens is 100,000x the default rate for unknown "
        "models ($10.00 per 1M tokens)."
    )


def test_a_prompt_lowered_below_the_tables_cache_read_is_asked_about() -> None:
    (reason,) = doubts(RateOverride("gpt-4o", prompt=Decimal(1)), DEFAULT)
    assert "A cache read would cost $1.25 per 1M tokens" in reason


def test_a_rate_above_a_million_dollars_per_million_tokens_is_refused(db: Database) -> None:
    """The README's "above $1,000,000 ... refused", for a rate (USD per 1M tokens)."""
    with db.write() as session, pytest.raises(InvalidAmount) as caught:
        prices.set_override(session, RateOverride("testm", prompt=Decimal(999_999_999)))
    assert "prompt rate 999,999,999 is above the dearest rate" in str(caught.value)
    with db.write() as session, pytest.raises(InvalidAmount):
        prices.set_default_rates(session, Decimal(1), prices.MAX_RATE + 1)
    with db.write() as session:
        prices.set_override(session, RateOverride("testm", prompt=prices.MAX_RATE))
    with db.read() as session:
        assert prices.list_overrides(session) == [RateOverride("testm", prompt=prices.MAX_RATE)]
