from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core import money
from app.core.errors import InvalidAmount


def test_librechat_example_is_exact() -> None:
    value = -137 * Decimal("1.5")
    assert value == Decimal("-205.5")
    assert money.credits_to_usd(value) == Decimal("-0.0002055")
    assert money.to_micros(value) == -205_500_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1500", Decimal(1500)), ("1_000_000", Decimal(1_000_000)), (" 205.5 ", Decimal("205.5"))],
)
def test_parse_credits(text: str, expected: Decimal) -> None:
    assert money.parse_credits(text) == expected


@pytest.mark.parametrize("text", ["-5", "abc", "", "nan", "inf", "1.0000001", "1e400x"])
def test_parse_credits_rejects_bad_input_with_a_message(text: str) -> None:
    with pytest.raises(InvalidAmount, match=r"\S"):
        money.parse_credits(text)


def test_parse_usd_converts_to_credits() -> None:
    assert money.parse_usd("$5.00") == Decimal(5_000_000)
    assert money.parse_usd("0.000001") == Decimal(1)
    with pytest.raises(InvalidAmount):
        money.parse_usd("-1")


def test_rates_keep_six_decimals_and_refuse_seven() -> None:
    assert money.parse_rate("0.123456") == Decimal("0.123456")
    with pytest.raises(InvalidAmount):
        money.parse_rate("0.1234567")
    assert money.quantize_rate(Decimal("0.18000000000000002")) == Decimal("0.18")


def test_formatting_for_people() -> None:
    cases = {
        "5000000": "$5.00",  # cents from a dollar up
        "1234567890": "$1,234.57",
        "995000": "$1.00",  # $0.995 rounds up into dollars
        "546900": "$0.55",  # two significant digits below a dollar
        "43200": "$0.043",
        "-6840": "-$0.0068",
        "-205.5": "-$0.00021",
        "20.1": "$0.00002",
        "18.45": "$0.000018",
        "50": "$0.00005",
        "1": "$0.000001",
        "0.5": "<$0.000001",  # never shows a real cost as zero
        "0": "$0.00",
    }
    for credits, shown in cases.items():
        assert money.format_usd(Decimal(credits)) == shown, credits
    assert money.format_usd_exact(Decimal("21.75")) == "$0.00002175"
    assert money.format_usd_exact(Decimal("-1234567890.5")) == "-$1,234.5678905"
    assert money.format_usd_exact(Decimal(5_000_000)) == "$5.00"
    assert money.format_credits(Decimal("1234567.5")) == "1,234,567.5"
    assert money.format_credits(Decimal(-1000)) == "-1,000"
    assert f"{money.tidy(Decimal('1000.000'))}" == "1000"


amounts = st.decimals(
    min_value=-(10**12), max_value=10**12, places=6, allow_nan=False, allow_infinity=False
)


@given(amounts)
def test_millionths_round_trip_exactly(value: Decimal) -> None:
    assert money.from_micros(money.to_micros(value)) == value


@given(
    st.integers(min_value=0, max_value=10**9), st.decimals(min_value=0, max_value=1000, places=6)
)
def test_tokens_times_a_six_decimal_rate_always_fits_the_ledger(tokens: int, rate: Decimal) -> None:
    value = -tokens * rate
    assert money.from_micros(money.to_micros(value)) == value
