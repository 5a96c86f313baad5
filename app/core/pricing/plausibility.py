"""Whether a price override looks like a slip: far dearer than the rate it replaces, or a cache
read dearer than the prompt it stands in for.

Such a rate may be right (a private deployment charges what it likes), so it is not refused:
the Prices dialog and ``tallybook prices set`` ask first, saying why. A rate past
:data:`~app.core.pricing.prices.MAX_RATE` is refused outright elsewhere.
"""

from __future__ import annotations

from decimal import Decimal

from app.core.pricing.prices import PriceBook, RateOverride, Rates

FAR_ABOVE = 100
"""An override more than this many times the rate it replaces is asked about."""
_UNITS = (
    ("prompt", "input_tokens", "prompt"),
    ("completion", "output_tokens", "completion"),
    ("cache_write", "cache_write_tokens", "cache write"),
    ("cache_read", "cache_read_tokens", "cache read"),
)


def doubts(override: RateOverride, default: RateOverride) -> tuple[str, ...]:
    """Why ``override`` looks wrong, one sentence each; empty when it looks plausible.

    Args:
        override: the rates about to be stored.
        default: the user's rates for unknown models (what an unknown model's override
            replaces).
    """
    replaced = PriceBook({}, default).rates(override.model)
    charged = PriceBook({override.model: override}, default).rates(override.model)
    found = [
        _far_above(label, rate, replaced.units[key], replaced)
        for field, key, label in _UNITS
        if (rate := getattr(override, field)) is not None
        and replaced.units[key] > 0
        and rate > replaced.units[key] * FAR_ABOVE
    ]
    touched = override.prompt is not None or override.cache_read is not None
    if touched and charged.units["cache_read_tokens"] > charged.units["input_tokens"]:
        found.append(
            f"A cache read would cost {_per_million(charged.units['cache_read_tokens'])}, more "
            f"than the prompt it stands in for ({_per_million(charged.units['input_tokens'])}): "
            "a cached token is normally a fraction of the prompt rate."
        )
    return tuple(found)


def _far_above(label: str, rate: Decimal, was: Decimal, replaced: Rates) -> str:
    source = "the default rate for unknown models" if replaced.is_default else "the price table's"
    return (
        f"The {label} rate {_per_million(rate)} is {rate / was:,.0f}x {source} "
        f"({_per_million(was)})."
    )


def _per_million(rate: Decimal) -> str:
    """A rate as USD per 1M tokens: cents at least, every digit the user typed."""
    cents = f"{rate:,.2f}"
    return f"${cents if Decimal(cents.replace(',', '')) == rate else f'{rate:,f}'} per 1M tokens"
