"""What one request used, in billed units, and the transactions that charges it.

A :class:`TokenUsage` is read from what the provider reported (or counted by Tallybook where it
reported nothing); :func:`price_lines` splits it into one :class:`PricedLine` per priced unit of
each billed step, plus a line per rate adjustment (a service tier, a long prompt). The ledger
writes each line as a transaction (:mod:`app.core.ledger.entries`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from app.core.errors import InvalidAmount
from app.core.pricing.prices import Rates
from app.core.pricing.units import (
    DEFAULT_UNIT_RATE,
    UNPRICED_SOURCE,
    Kind,
    ancestors,
    leaves,
    ordered,
    registered,
)


@dataclass(frozen=True)
class TokenUsage:
    """What one request used, in billed units.

    The six named counts are the classic split: ``prompt_tokens`` are the input tokens billed at
    the plain input rate (*without* cache reads and writes; the provider readers normalise to
    this), ``completion_tokens`` include ``reasoning_tokens``, which are kept only as a count.

    Attributes:
        other: further units by genai-prices usage key, as reported: modality counts, which are
            part of the counts above (``input_audio_tokens`` of the prompt), and units of their
            own (``web_searches``, ``code_executions``).
        steps: billed sampling steps besides the reply itself (Anthropic's context compaction),
            each with its own usage; the named counts are the reply's step only.
    """

    prompt_tokens: int
    completion_tokens: int
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    cache_read_tokens: int = 0
    reasoning_tokens: int = 0
    other: tuple[tuple[str, int], ...] = ()
    steps: tuple[tuple[str, TokenUsage], ...] = ()

    def __post_init__(self) -> None:
        named = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "cache_write_1h_tokens": self.cache_write_1h_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "reasoning_tokens": self.reasoning_tokens,
        }
        for name, value in (*named.items(), *self.other):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidAmount(f"{name} must be a whole number >= 0, not {value!r}")
        if self.reasoning_tokens > self.completion_tokens:
            raise InvalidAmount("reasoning tokens are part of the completion and cannot exceed it")

    @property
    def input_tokens(self) -> int:
        """All input tokens of this step, cached or not: what price tiers count."""
        return (
            self.prompt_tokens
            + self.cache_write_tokens
            + self.cache_write_1h_tokens
            + self.cache_read_tokens
        )

    def counts(self) -> dict[str, int]:
        """This step's counts by genai-prices usage key (``input_tokens`` includes the cache)."""
        counts = dict(self.other)
        counts.update(
            input_tokens=self.input_tokens,
            output_tokens=self.completion_tokens,
            cache_read_tokens=self.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + self.cache_write_1h_tokens,
            cache_write_1h_tokens=self.cache_write_1h_tokens,
            output_reasoning_tokens=self.reasoning_tokens,
        )
        return counts

    def total(self) -> TokenUsage:
        """Every step together, as one usage (what the reply cost in tokens, all told)."""
        if not self.steps:
            return self
        parts = [self, *(usage.total() for _, usage in self.steps)]
        other: dict[str, int] = {}
        for part in parts:
            for key, value in part.other:
                other[key] = other.get(key, 0) + value
        return TokenUsage(
            prompt_tokens=sum(p.prompt_tokens for p in parts),
            completion_tokens=sum(p.completion_tokens for p in parts),
            cache_write_tokens=sum(p.cache_write_tokens for p in parts),
            cache_write_1h_tokens=sum(p.cache_write_1h_tokens for p in parts),
            cache_read_tokens=sum(p.cache_read_tokens for p in parts),
            reasoning_tokens=sum(p.reasoning_tokens for p in parts),
            other=tuple(sorted(other.items())),
        )


@dataclass(frozen=True)
class ProviderFigure:
    """A provider's own cost for one request (OpenRouter's ``usage.cost``, xAI's ticks).

    Attributes:
        credits: what the provider charged, in credits (positive).
        source: who said so, as ``rate_source`` shows it (``reported by OpenRouter``).
    """

    credits: Decimal
    source: str


@dataclass(frozen=True)
class PricedLine:
    """One transaction a request will write: ``amount`` units at ``rate`` credits each.

    Attributes:
        side: ``input`` or ``output``: which half of the provider's report the count came
            with, so it is flagged estimated when that half is Tallybook's own count.
        uncached_rate: what the unit would cost at the plain input rate (cache rows), for the
            cache-savings figures; the rate itself for every other row.
    """

    token_type: str
    amount: int
    rate: Decimal
    source: str
    side: str
    uncached_rate: Decimal

    @property
    def value(self) -> Decimal:
        """What the line costs, in credits (positive)."""
        return self.amount * self.rate


def price_lines(usage: TokenUsage, rates: Rates) -> list[PricedLine]:
    """The transactions of one request: each priced unit of each step, and each adjustment.

    ``prompt`` and ``completion`` are always written for the reply's step (zero when nothing was
    used, so every request shows both); any other unit only when it was used.
    """
    lines = _step_lines(usage.counts(), rates, suffix="", always=("input_tokens", "output_tokens"))
    for step, part in usage.steps:
        lines += _step_lines(part.counts(), rates, suffix=f"_{step}", always=())
    return lines


def _step_lines(
    counts: Mapping[str, int], rates: Rates, *, suffix: str, always: tuple[str, ...]
) -> list[PricedLine]:
    priced = frozenset(key for key in rates.units if key in registered())
    own = leaves(counts, priced)
    plain = rates.units.get("input_tokens", Decimal(0))
    lines: list[PricedLine] = []
    for key in ordered(priced):
        amount = own.get(key, 0)
        if not amount and key not in always:
            continue
        info = registered()[key]
        token_type = info.token_type + suffix
        rate = rates.units[key]
        cached = info.kind in (Kind.CACHE_READ, Kind.CACHE_WRITE)
        uncached = plain if cached else rate
        lines.append(PricedLine(token_type, amount, rate, rates.source, info.side, uncached))
        for adjustment in rates.adjustments:
            if adjustment.usage_key == key and amount:
                lines.append(
                    PricedLine(
                        f"{adjustment.reason}:{token_type}",
                        amount,
                        adjustment.delta,
                        rates.source,
                        info.side,
                        adjustment.delta,
                    )
                )
    for key, amount in counts.items():
        if amount and key in registered() and key not in priced and not ancestors(key) & priced:
            info = registered()[key]
            token_type = info.token_type + suffix
            rate = DEFAULT_UNIT_RATE
            lines.append(PricedLine(token_type, amount, rate, UNPRICED_SOURCE, info.side, rate))
    return lines
