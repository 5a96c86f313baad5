"""What the chat says about tokens and money, as text, in one place so every label agrees.

Pure functions over core values (no Qt), so the wording is tested without widgets and the usage
footer built from a fresh :class:`~app.core.metering.Metered` reads exactly like the one rebuilt
from the ledger when the conversation is opened again.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from app.core.conversations import MessageUsage
from app.core.endpoints import ModelChoice
from app.core.metering import Metered, Quote
from app.core.money import format_usd
from app.core.tokens import TokenCount

ESTIMATED_MARK = "≈ estimated"
INCOMPLETE_MARK = "incomplete"


@dataclass(frozen=True)
class ReplyFigures:
    """One reply's tokens and cost, from whichever source the chat has at hand.

    ``input_tokens`` counts every input token, cached or not (what the context window holds);
    ``cached_tokens`` are the cache reads among them; ``reasoning_tokens`` are part of
    ``output_tokens``.
    """

    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    cost: Decimal
    estimated: bool
    status: str

    @classmethod
    def from_metered(cls, metered: Metered) -> ReplyFigures:
        """The figures of a reply that just settled (no need to read the ledger back)."""
        usage = metered.usage
        return cls(
            input_tokens=usage.input_tokens,
            output_tokens=usage.completion_tokens,
            cached_tokens=usage.cache_read_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            cost=metered.cost,
            estimated=metered.estimated,
            status=metered.status,
        )

    @classmethod
    def from_usage(cls, usage: MessageUsage) -> ReplyFigures:
        """The figures of a stored reply, as the ledger has them."""
        return cls(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cached_tokens=usage.cached_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            cost=usage.cost,
            estimated=usage.estimated,
            status=usage.status,
        )


def usage_line(figures: ReplyFigures) -> str:
    """The footer under a reply: ``1,234 in · 56 out · 1,024 cached · $0.0012 · ≈ estimated``."""
    parts = [f"{figures.input_tokens:,} in", f"{figures.output_tokens:,} out"]
    if figures.cached_tokens:
        parts.append(f"{figures.cached_tokens:,} cached")
    if figures.reasoning_tokens:
        parts.append(f"{figures.reasoning_tokens:,} reasoning")
    parts.append(format_usd(figures.cost))
    if figures.estimated:
        parts.append(ESTIMATED_MARK)
    if figures.status != "complete":
        parts.append(INCOMPLETE_MARK if figures.status == "incomplete" else figures.status)
    return " · ".join(parts)


def per_million(rate: Decimal) -> str:
    """A rate (credits per token, the same number as USD per 1M tokens) as ``$2.50``.

    Two decimals at least, more when the price has them ($0.075 stays $0.075).
    """
    shown = f"{rate:,.2f}"
    if Decimal(shown.replace(",", "")) != rate:
        shown = f"{rate.normalize():,f}"
    return f"${shown}"


def price_line(choice: ModelChoice) -> str:
    """What the model picker shows beside a model: ``$2.50 / $10.00 per 1M``."""
    line = f"{per_million(choice.prompt)} / {per_million(choice.completion)} per 1M"
    if choice.flagged:
        line += " · unknown price, default rate"
    return line


def estimate_line(quote: Quote) -> str:
    """The composer's live estimate: ``≈ 1,234 tokens · $0.0031 to send``.

    ``≈`` marks a count that is Tallybook's estimate rather than the model's own tokenizer.
    """
    approx = "" if quote.count.exact else "≈ "
    line = f"{approx}{quote.count.tokens:,} tokens · {format_usd(quote.prompt_cost)} to send"
    if quote.dropped:
        line += f" · drops the {quote.dropped:,} oldest messages"
    return line


def provider_count_line(quote: Quote, count: TokenCount) -> str:
    """The composer's estimate once the provider has counted the draft itself."""
    cost = format_usd(count.tokens * quote.rates.prompt)
    return f"{count.tokens:,} tokens ({count.method}) · {cost} to send"


def expensive_reason(quote: Quote, *, in_conversation: bool) -> str:
    """Why a message is above the confirmation threshold, in the user's terms.

    The prompt is what costs: a long conversation is sent again in full with every message.
    """
    tokens = quote.count.tokens
    approx = "" if quote.count.exact else "about "
    what = "The conversation is" if in_conversation else "This message is"
    dropped = f" (after dropping its {quote.dropped:,} oldest messages)" if quote.dropped else ""
    return (
        f"{what} {approx}{tokens:,} tokens long{dropped}, so this message costs about "
        f"{format_usd(quote.prompt_cost, places=2)} at {quote.request.model}'s input rate "
        f"({per_million(quote.rates.prompt)} per 1M tokens), before the reply is paid for."
    )


def context_use(quote: Quote) -> tuple[int, int] | None:
    """(tokens the prompt takes, the model's context window), or ``None`` when unknown."""
    window = quote.limits.context_window
    if not window:
        return None
    return quote.count.tokens, window
