"""Small builders shared by tests."""

from __future__ import annotations

from decimal import Decimal

from app.core.ledger.entries import Spend
from app.core.pricing.charges import TokenUsage
from app.core.pricing.prices import Rates


def rates(
    prompt: str = "1.5",
    completion: str = "2",
    cache_write: str | None = None,
    cache_read: str | None = None,
    *,
    model: str = "test-model",
    source: str = "test",
) -> Rates:
    """Rates with the cache rates defaulting to the prompt rate."""
    return Rates(
        model=model,
        units={
            "input_tokens": Decimal(prompt),
            "output_tokens": Decimal(completion),
            "cache_write_tokens": Decimal(cache_write or prompt),
            "cache_write_1h_tokens": Decimal(cache_write or prompt),
            "cache_read_tokens": Decimal(cache_read or prompt),
        },
        source=source,
    )


def spend(
    prompt: int = 137, completion: int = 0, *, model_rates: Rates | None = None, **usage: int
) -> Spend:
    """A request of the test model through the "openai" provider."""
    given = model_rates or rates()
    return Spend("openai", given.model, TokenUsage(prompt, completion, **usage), given)
