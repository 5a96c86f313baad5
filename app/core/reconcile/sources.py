"""Which module reads which provider's records: the one place a provider name becomes a source.

Each provider's module is imported only when that provider is reconciled (the command line
names the providers without loading any HTTP client).
"""

from __future__ import annotations

from collections.abc import Callable

from app.core.reconcile.records import ReconcileError, UsageSource

Factory = Callable[[str | None], UsageSource]
"""Makes a provider's source; the argument is ``--base-url`` (``None``: the provider's own)."""


def _openai(base_url: str | None) -> UsageSource:
    from app.core.reconcile import openai_usage

    return openai_usage.OpenAIUsage(base_url=base_url or openai_usage.BASE_URL)


def _anthropic(base_url: str | None) -> UsageSource:
    from app.core.reconcile import anthropic_usage

    return anthropic_usage.AnthropicUsage(base_url=base_url or anthropic_usage.BASE_URL)


def _openrouter(base_url: str | None) -> UsageSource:
    from app.core.reconcile import openrouter_usage

    return openrouter_usage.openrouter_source(base_url)


def _deepseek(base_url: str | None) -> UsageSource:
    from app.core.reconcile import balances

    return balances.DeepSeekBalance(base_url=base_url or balances.DEEPSEEK_URL)


def _moonshot(base_url: str | None) -> UsageSource:
    from app.core.reconcile import balances

    return balances.MoonshotBalance(base_url=base_url)


_FACTORIES: dict[str, Factory] = {
    "openai": _openai,
    "anthropic": _anthropic,
    "openrouter": _openrouter,
    "deepseek": _deepseek,
    "moonshot": _moonshot,
}

PROVIDERS = tuple(_FACTORIES)
"""Every provider ``tallybook reconcile --provider`` names, in the order its help lists them."""


def source_for(provider: str, base_url: str | None = None) -> UsageSource:
    """The records source of ``provider``, reading from ``base_url`` if given.

    Raises:
        ReconcileError: Tallybook cannot read that provider's records.
    """
    make = _FACTORIES.get(provider)
    if make is None:
        raise ReconcileError(f"Tallybook cannot read {provider}'s usage records.")
    return make(base_url)
