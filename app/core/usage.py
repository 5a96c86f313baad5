"""Turning what a provider reports into the ledger's token split, with genai-prices' extractors.

Providers disagree on what "input tokens" means (OpenAI's include cached tokens, Anthropic's
exclude cache reads and writes; Gemini's thoughts are outside the candidates count). genai-prices
ships an extractor per provider and API flavour that normalises this to *total* input, cache
reads/writes and total output; here that becomes :class:`~app.core.ledger.TokenUsage`, whose
``prompt_tokens`` are the input tokens billed at the plain input rate.

A stream may report its input and its output at different moments (Anthropic's
``message_start``, Gemini's cumulative ``usageMetadata``), and a cut stream may report only the
first: :class:`ReportedUsage` keeps the two halves apart so the metering client can fill the
missing half from its own count and mark only that half as estimated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.core.errors import ProviderError
from app.core.ledger import TokenUsage

MAX_PLAUSIBLE_TOKENS = 10**8
"""Ten times the largest context window offered today; a count beyond it is a broken report.
Kept this low so amounts stay far inside the ledger's 64-bit integers: 10^8 tokens at even
$1,000 per million tokens is 10^17 millionths of a credit, and a balance would need about
ninety such requests ($9 billion) to reach the limit."""


class MalformedUsage(ProviderError):
    """The provider's usage object is missing required fields or does not add up."""


@dataclass(frozen=True)
class InputTokens:
    """A request's input, split as it is priced."""

    prompt: int
    cache_write: int = 0
    cache_write_1h: int = 0
    cache_read: int = 0

    @property
    def total(self) -> int:
        """Every input token, cached or not."""
        return self.prompt + self.cache_write + self.cache_write_1h + self.cache_read


@dataclass(frozen=True)
class OutputTokens:
    """A reply's output; ``reasoning`` is part of ``total``."""

    total: int
    reasoning: int = 0


@dataclass(frozen=True)
class ReportedUsage:
    """What the provider reported, each half ``None`` when it did not (yet) report it."""

    input: InputTokens | None = None
    output: OutputTokens | None = None

    def complete(self) -> TokenUsage | None:
        """The ledger's usage, when both halves were reported."""
        if self.input is None or self.output is None:
            return None
        return combine(self.input, self.output)


def combine(input_tokens: InputTokens, output: OutputTokens) -> TokenUsage:
    """One :class:`TokenUsage` from the two halves."""
    return TokenUsage(
        prompt_tokens=input_tokens.prompt,
        completion_tokens=output.total,
        cache_write_tokens=input_tokens.cache_write,
        cache_write_1h_tokens=input_tokens.cache_write_1h,
        cache_read_tokens=input_tokens.cache_read,
        reasoning_tokens=min(output.reasoning, output.total),
    )


def extract(
    response: dict[str, Any], *, provider: str, flavor: str = "default", with_output: bool = True
) -> ReportedUsage:
    """Read a response-shaped object (``{"usage": ...}``, ``{"usageMetadata": ...}``).

    Args:
        provider: genai-prices provider id (``openai``, ``anthropic``, ``google``, ``openrouter``).
        flavor: its API flavour (``chat``, ``responses``, ``default``).
        with_output: ``False`` to keep only the input half (an early, non-final report).

    Raises:
        MalformedUsage: required fields missing, negative, or cache counts above the input.
    """
    from genai_prices import data_snapshot

    try:
        extractor_owner = data_snapshot.get_snapshot().find_provider(None, provider, None)
        _, usage = extractor_owner.extract_usage(response, api_flavor=flavor)
    except (ValueError, LookupError) as error:
        raise MalformedUsage(f"The usage the provider reported cannot be read: {error}") from None

    def value(key: str) -> int:
        number = usage.reported_value(key)
        if number != int(number):
            raise MalformedUsage(f"The provider reported a fractional token count for {key}.")
        return int(number)

    # Every count that is kept, not only the ones that are charged: a reasoning count of 10**30
    # is as broken a report as an output count of 10**30, and would be stored on the request.
    for key in _COUNTED:
        if (number := value(key)) > MAX_PLAUSIBLE_TOKENS:
            shown = f"{number:,}" if number < 10**15 else f"{number:.3g}"  # not 300 digits
            raise MalformedUsage(
                f"The provider reported {shown} {key.replace('_', ' ')}: not a real count."
            )
    total_input = value("input_tokens")
    cache_read = value("cache_read_tokens")
    cache_write = value("cache_write_tokens")
    cache_write_1h = min(value("cache_write_1h_tokens"), cache_write)
    prompt = total_input - cache_read - cache_write
    if prompt < 0:
        raise MalformedUsage(
            f"The provider reported more cached tokens ({cache_read + cache_write}) than input "
            f"tokens ({total_input})."
        )
    input_tokens = InputTokens(prompt, cache_write - cache_write_1h, cache_write_1h, cache_read)
    if not with_output:
        return ReportedUsage(input=input_tokens)
    total_output = value("output_tokens")
    # Reasoning is part of the output: a larger reasoning count is kept only up to the output.
    output = OutputTokens(total_output, min(value("output_reasoning_tokens"), total_output))
    return ReportedUsage(input=input_tokens, output=output)


_COUNTED = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_reasoning_tokens",
)
