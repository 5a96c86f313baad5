"""Asking a provider for its own prompt count (Anthropic ``count_tokens``, Gemini ``countTokens``).

Their tokenizers are not public, so the local count is an estimate; where the user has a key and
has allowed it (off by default: it sends the draft to the provider), the provider's free count
endpoint gives the real number. Callers run this off the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import httpx2
from sqlalchemy.orm import Session

from app.core import keys, settings
from app.core.chat import ChatMessage, ToolSpec
from app.core.errors import TallybookError
from app.core.providers import anthropic, gemini
from app.core.providers.http import TIMEOUT
from app.core.tokens import TokenCount

ALLOWED_KEY = "provider_token_counts"
Counter = Callable[..., int]
_ENDPOINTS: dict[str, tuple[Counter, str]] = {
    "anthropic": (anthropic.count_tokens, anthropic.BASE_URL),
    "gemini": (gemini.count_tokens, gemini.BASE_URL),
}


def supported(provider: str) -> bool:
    """Whether the provider has a count endpoint."""
    return provider in _ENDPOINTS


def allowed(session: Session) -> bool:
    """Whether the user lets Tallybook send drafts to the provider just to count them."""
    return settings.get(session, ALLOWED_KEY, False)


def set_allowed(session: Session, value: bool) -> None:
    """Opt in or out of provider counts."""
    settings.put(session, ALLOWED_KEY, value)


def provider_count(
    provider: str,
    model: str,
    messages: Sequence[ChatMessage],
    tools: Sequence[ToolSpec] = (),
    *,
    base_url: str | None = None,
    client: httpx2.Client | None = None,
) -> TokenCount:
    """The provider's own count of a prompt, marked exact.

    Raises:
        TallybookError: the provider has no count endpoint, or no key is available.
        ProviderError: the provider refused or could not be reached (message redacted).
    """
    if provider not in _ENDPOINTS:
        raise TallybookError(f"{provider} has no token count endpoint; the local estimate stands.")
    key = keys.get_key(provider)
    if key is None:
        raise TallybookError(f"No {provider} key is set, so only the local estimate is available.")
    count, default_url = _ENDPOINTS[provider]
    owned = client is None
    http = client or httpx2.Client(timeout=TIMEOUT)
    try:
        tokens = count(http, key, model, messages, tools, base_url=base_url or default_url)
    finally:
        if owned:
            http.close()
    return TokenCount(tokens, exact=True, method=f"{provider} count endpoint")
