"""What the chat says about tokens and money, as text, in one place so every label agrees.

Pure functions over core values (no Qt), so the wording is tested without widgets and the usage
footer built from a fresh :class:`~app.core.metering.client.Metered`
(:meth:`~Metered.as_usage`) reads exactly like the one rebuilt from the ledger when the
conversation is opened again.
"""

from __future__ import annotations

from decimal import Decimal

from app.core.conversations import MessageUsage
from app.core.counting.tokens import TokenCount
from app.core.metering.client import Quote
from app.core.money import format_usd, format_usd_exact
from app.core.pricing.prices import Rates
from app.core.pricing.units import COMPACTION, PROVIDER_ADJUSTMENT, UnitCost, label_of
from app.core.providers.registry import ModelChoice
from app.core.types import RequestStatus

ESTIMATED_MARK = "≈ estimated"
INCOMPLETE_MARK = "incomplete"
PROVIDER_MARK = "provider's figure"
DEFAULT_RATE_MARK = "⚠ default rate"
NOT_UNDERSTOOD_MARK = "⚠ usage not fully understood"
STEPS = (COMPACTION,)


def usage_line(figures: MessageUsage) -> str:
    """The footer under a reply: ``1,234 in · 56 out · 1,024 cached · 2 web searches $0.02 ·
    $0.0012 · ≈ estimated``, then what the provider said where it differs from Tallybook."""
    parts = [f"{figures.input_tokens:,} in", f"{figures.output_tokens:,} out"]
    if figures.cached_tokens:
        parts.append(f"{figures.cached_tokens:,} cached")
    if figures.reasoning_tokens:
        parts.append(f"{figures.reasoning_tokens:,} reasoning")
    parts += extras_text(figures.extras)
    parts.append(format_usd(figures.cost))
    if figures.provider_cost is not None:
        parts.append(PROVIDER_MARK)
    if figures.estimated:
        parts.append(ESTIMATED_MARK)
    if figures.status != RequestStatus.COMPLETE:
        incomplete = figures.status == RequestStatus.INCOMPLETE
        parts.append(INCOMPLETE_MARK if incomplete else figures.status)
    if figures.requested_model and figures.model:
        parts.append(f"served by {figures.model}")
    if figures.default_rated:
        parts.append(DEFAULT_RATE_MARK)
    if figures.usage_notes:
        parts.append(NOT_UNDERSTOOD_MARK)
    return " · ".join(parts)


def usage_details(figures: MessageUsage) -> str:
    """The footer's tooltip: what each mark means for this reply, in full."""
    lines = [
        f"Tokens in and out and what the reply cost: {format_usd_exact(figures.cost)}. "
        "≈ estimated: the provider did not report these counts, so Tallybook counted them itself."
    ]
    if figures.provider_cost is not None and figures.computed_cost is not None:
        lines.append(
            f"Charged the provider's own figure, {format_usd_exact(figures.provider_cost)}; "
            f"Tallybook's price table gives {format_usd_exact(figures.computed_cost)}"
            f"{_gap(figures.provider_cost, figures.computed_cost)}."
        )
    if figures.requested_model and figures.model:
        lines.append(
            f"Asked for {figures.requested_model}; {figures.model} answered and is what was "
            "billed, so the reply is priced by it."
        )
    if figures.default_rated:
        lines.append(
            "Part of this reply was charged at a default rate: the price table has no price "
            "for it (set your own in Tools > Prices…)."
        )
    if figures.usage_notes:
        lines.append(
            f"The provider's usage carried counts Tallybook does not know: "
            f"{figures.usage_notes.partition(': ')[2] or figures.usage_notes}. They may be "
            "billed and are not on the ledger."
        )
    return "\n".join(lines)


def extras_text(extras: tuple[UnitCost, ...]) -> list[str]:
    """The extra billed units, grouped as a person reads them: ``2 web searches $0.02``,
    ``compaction $0.21``, ``flex -$0.0010`` (the provider's figure is said elsewhere)."""
    grouped: dict[str, list[Decimal]] = {}
    for unit in extras:
        if unit.token_type == PROVIDER_ADJUSTMENT:
            continue
        reason, _, plain = unit.token_type.rpartition(":")
        step = next((s for s in STEPS if plain.endswith("_" + s)), None)
        if reason or step:
            key = reason or step or ""
            amount = Decimal(0)
        else:
            key = label_of(plain)
            amount = unit.amount
        entry = grouped.setdefault(key, [Decimal(0), Decimal(0)])
        entry[0] += amount
        entry[1] += unit.cost
    texts = []
    for label, (amount, cost) in grouped.items():
        count = f"{amount:,.0f} " if amount else ""
        texts.append(f"{count}{label} {format_usd(cost)}")
    return texts


def _gap(provider: Decimal, computed: Decimal) -> str:
    if not provider:
        return ""
    percent = (computed - provider) / provider * 100
    return f" ({percent:+.1f}%)" if abs(percent) >= Decimal("0.05") else " (the same)"


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
    """The composer's live estimate: ``≈ 1,234 tokens · $0.0031 to send``, and
    :func:`default_rate_flag` when the model's price is unknown.

    ``≈`` marks a count that is Tallybook's estimate rather than the model's own tokenizer.
    """
    approx = "" if quote.count.exact else "≈ "
    line = f"{approx}{quote.count.tokens:,} tokens · {format_usd(quote.prompt_cost)} to send"
    if quote.dropped:
        line += f" · drops the {quote.dropped:,} oldest messages"
    return line + _flag_of(quote.rates)


def provider_count_line(quote: Quote, count: TokenCount) -> str:
    """The composer's estimate once the provider has counted the draft itself."""
    cost = format_usd(count.tokens * quote.rates.prompt)
    return f"{count.tokens:,} tokens ({count.method}) · {cost} to send{_flag_of(quote.rates)}"


def default_rate_flag(rates: Rates) -> str:
    """What the quote says of a model the price table does not know: ``⚠ unknown price:
    default $10/$30 per 1M`` (the rates it is charged at; short, the quote's line is narrow)."""
    prompt, completion = (
        per_million(r).removesuffix(".00") for r in (rates.prompt, rates.completion)
    )
    return f"⚠ unknown price: default {prompt}/{completion} per 1M"


def default_rate_tip(rates: Rates) -> str:
    """Why a model is flagged, and how to give it its real price."""
    return (
        f"The price table does not know {rates.model!r}, so it is charged at the default rate "
        f"for unknown models ({per_million(rates.prompt)} in, {per_million(rates.completion)} "
        "out per 1M tokens) and every reply is flagged. Check the name's spelling, or set the "
        "model's price in Tools > Prices… (or `tallybook prices set MODEL --prompt RATE "
        "--completion RATE`)."
    )


def _flag_of(rates: Rates) -> str:
    return f" · {default_rate_flag(rates)}" if rates.is_default else ""


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
        f"{format_usd(quote.prompt_cost)} at {quote.request.model}'s input rate "
        f"({per_million(quote.rates.prompt)} per 1M tokens), before the reply is paid for."
    )


def context_use(quote: Quote) -> tuple[int, int] | None:
    """(tokens the prompt takes, the model's context window), or ``None`` when unknown."""
    window = quote.limits.context_window
    if not window:
        return None
    return quote.count.tokens, window
