"""Exact money: credits, USD and rates as Decimals that always fit six decimals.

One credit is one micro-dollar (1,000 credits = $0.001, as in LibreChat), and a rate is credits per
token, which is the same number as USD per million tokens. Rates carry up to six decimals, and a
whole number of tokens times such a rate has six decimals or fewer, so every amount the ledger
holds fits an integer count of *millionths*: that is how SQLite stores it
(:class:`app.core.storage.models.Millionths`), and why a balance is an exact integer sum
whatever the number of rows. Python code only ever sees :class:`~decimal.Decimal`.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, InvalidOperation

from app.core.errors import InvalidAmount

SCALE = 1_000_000
DECIMALS = 6
CREDITS_PER_USD = Decimal(1_000_000)
MAX_AMOUNT = Decimal(10**12)
"""The largest amount or rate one entry may carry, in credits ($1,000,000): far above any
personal spend, and far below what a 64-bit count of millionths holds, so sums still fit."""
_QUANTUM = Decimal(1).scaleb(-DECIMALS)


def to_micros(value: Decimal) -> int:
    """The exact count of millionths in ``value``.

    Raises:
        InvalidAmount: ``value`` has more than six decimals (storing it would round).
    """
    scaled = value.scaleb(DECIMALS)
    if scaled != scaled.to_integral_value():
        raise InvalidAmount(f"{value} has more than {DECIMALS} decimals")
    return int(scaled)


def from_micros(micros: int) -> Decimal:
    """The Decimal for a count of millionths, without trailing zeros (205.5, not 205.500000)."""
    return tidy(Decimal(micros).scaleb(-DECIMALS))


def credits_to_usd(credits: Decimal) -> Decimal:
    """USD for a credit amount, exactly (one credit is a millionth of a dollar)."""
    return tidy(credits.scaleb(-DECIMALS))


def quantize_rate(rate: Decimal) -> Decimal:
    """Round a price-table rate to the ledger's six decimals.

    Price data sometimes carries float noise (0.18000000000000002); the sixth decimal of a credit
    per token is a millionth of a dollar per million tokens, far below any real price step.
    """
    return tidy(rate.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN))


def require_amount(what: str, value: Decimal, *, positive: bool = False) -> Decimal:
    """Refuse an amount or rate the ledger could not store as given, or that makes no sense.

    Returns ``value`` tidied, so callers can validate and store in one step.

    Raises:
        InvalidAmount: not a finite number, negative (or zero when ``positive``), more than
            six decimals, or above :data:`MAX_AMOUNT`; the message names ``what``.
    """
    if not value.is_finite():
        raise InvalidAmount(f"the {what} must be a number, not {value}")
    if value < 0:
        raise InvalidAmount(f"the {what} cannot be negative")
    if positive and value == 0:
        raise InvalidAmount(f"the {what} must be more than zero")
    _check_size(value, f"the {what}")
    if value != value.quantize(_QUANTUM, rounding=ROUND_DOWN):
        raise InvalidAmount(f"the {what} has more than {DECIMALS} decimals of a credit: {value}")
    return tidy(value)


def parse_credits(text: str, *, allow_negative: bool = False) -> Decimal:
    """Parse a typed credit amount ("1500", "1_000_000", "205.5").

    Raises:
        InvalidAmount: not a finite number, negative when not allowed, or finer than a millionth
            of a credit.
    """
    value = _parse_decimal(text, "credit amount")
    _check_sign(value, text, allow_negative)
    to_micros(value)
    _check_size(abs(value), repr(text))
    return tidy(value)


def parse_usd(text: str, *, allow_negative: bool = False) -> Decimal:
    """Parse a typed dollar amount ("5", "$5.00") and return it in credits."""
    value = _parse_decimal(text.strip().removeprefix("$"), "dollar amount")
    _check_sign(value, text, allow_negative)
    credits = value * CREDITS_PER_USD
    try:
        to_micros(credits)
    except InvalidAmount:
        raise InvalidAmount(f"{text!r} has more than 12 decimals of a dollar") from None
    _check_size(abs(credits), repr(text))
    return tidy(credits)


def parse_rate(text: str) -> Decimal:
    """Parse a rate in credits per token (= USD per million tokens), at most six decimals."""
    value = _parse_decimal(text, "rate")
    if value < 0:
        raise InvalidAmount(f"a rate cannot be negative: {text!r}")
    if value != quantize_rate(value):
        raise InvalidAmount(f"a rate has at most {DECIMALS} decimals: {text!r}")
    _check_size(value, repr(text))
    return tidy(value)


SIGNIFICANT_DIGITS = 2
"""Below a dollar, amounts show this many significant digits: $0.043, $0.0013, $0.00002."""
SMALLEST_SHOWN = Decimal(1)
"""One credit ($0.000001): a nonzero amount below it shows as ``<$0.000001``, never as zero."""


def format_usd(credits: Decimal) -> str:
    """Dollars for people, the one format every screen and report uses.

    Cents from a dollar up (``$1.23``, ``$1,204.50``); below a dollar two significant digits
    (``$0.55``, ``$0.043``, ``$0.00002``), so a cheap reply and an expensive one are both
    readable; ``<$0.000001`` below one credit; ``$0.00`` for nothing. The exact amount is
    :func:`format_usd_exact` (tooltips) or the export's.
    """
    usd = credits_to_usd(credits)
    sign = "-" if usd < 0 else ""
    magnitude = abs(usd)
    if not magnitude:
        return "$0.00"
    if magnitude < credits_to_usd(SMALLEST_SHOWN):
        return f"{sign}<${credits_to_usd(SMALLEST_SHOWN):f}"
    if magnitude < 1:
        exponent = magnitude.adjusted() - SIGNIFICANT_DIGITS + 1
        rounded = magnitude.quantize(Decimal(1).scaleb(exponent), rounding=ROUND_HALF_EVEN)
        if rounded < 1:
            shown = f"{rounded.normalize():f}"
            decimals = len(shown.partition(".")[2])
            return f"{sign}${rounded:.{max(decimals, 2)}f}"
        magnitude = rounded  # $0.996 is $1.00
    return f"{sign}${magnitude.quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN):,.2f}"


def format_dollars(usd: Decimal) -> str:
    """An amount in dollars (a provider's bill) in the one readable format of :func:`format_usd`."""
    return format_usd(usd * CREDITS_PER_USD)


def format_usd_exact(credits: Decimal) -> str:
    """Every digit of an amount in dollars (``$0.00002175``): the tooltip behind each figure."""
    usd = abs(tidy(credits_to_usd(credits)))
    whole, _, decimals = f"{usd:f}".partition(".")
    return f"{'-' if credits < 0 else ''}${int(whole):,}.{decimals.ljust(2, '0')}"


def format_credits(credits: Decimal) -> str:
    """Credits with thousands separators and only the decimals that exist."""
    whole, _, frac = f"{abs(credits):f}".partition(".")
    text = f"{int(whole):,}" + (f".{frac}" if frac else "")
    return f"-{text}" if credits < 0 else text


def tidy(value: Decimal) -> Decimal:
    """Drop trailing zeros, keeping whole numbers whole (1000, not 1E+3); print with ``:f``."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def _parse_decimal(text: str, what: str) -> Decimal:
    try:
        value = Decimal(text.strip().replace("_", ""))
    except InvalidOperation:
        raise InvalidAmount(f"{text!r} is not a {what}") from None
    if not value.is_finite():
        raise InvalidAmount(f"{text!r} is not a {what}")
    return value


def _check_size(magnitude: Decimal, shown: str) -> None:
    if magnitude > MAX_AMOUNT:
        raise InvalidAmount(
            f"{shown} is above the largest amount Tallybook keeps "
            f"({MAX_AMOUNT:,} credits, $1,000,000)"
        )


def _check_sign(value: Decimal, text: str, allow_negative: bool) -> None:
    if value < 0 and not allow_negative:
        raise InvalidAmount(f"the amount must not be negative: {text!r}")
