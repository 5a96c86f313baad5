"""Asking a provider for its own prompt count (Anthropic ``count_tokens``, Gemini ``countTokens``).

Their tokenizers are not public, so the local count is an estimate; where the user has a key and
has allowed it (off by default: it sends the draft to the provider), the provider's free count
endpoint gives the real number. Callers run this off the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import httpx2
from sqlalchemy.orm import Session

from app.core import keys
from app.core.counting.tokens import TokenCount
from app.core.errors import TallybookError
from app.core.messages import ChatMessage, ToolSpec
from app.core.providers import anthropic, gemini
from app.core.providers.http import TIMEOUT
from app.core.providers.registry import Endpoint
from app.core.storage import settings
from app.core.types import EndpointApi

ALLOWED_KEY = "provider_token_counts"
Counter = Callable[..., int]
_COUNTERS: dict[EndpointApi, Counter] = {
    EndpointApi.ANTHROPIC: anthropic.count_tokens,
    EndpointApi.GEMINI: gemini.count_tokens,
}


def supported(endpoint: Endpoint) -> bool:
    """Whether the endpoint's protocol has a count endpoint (Anthropic, Gemini)."""
    return endpoint.api in _COUNTERS


def allowed(session: Session) -> bool:
    """Whether the user lets Tallybook send drafts to the provider just to count them."""
    return settings.get(session, ALLOWED_KEY, False)


def set_allowed(session: Session, value: bool) -> None:
    """Opt in or out of provider counts."""
    settings.put(session, ALLOWED_KEY, value)


def provider_count(
    endpoint: Endpoint,
    model: str,
    messages: Sequence[ChatMessage],
    tools: Sequence[ToolSpec] = (),
    *,
    client: httpx2.Client | None = None,
) -> TokenCount:
    """The provider's own count of a prompt, marked exact.

    Raises:
        TallybookError: the protocol has no count endpoint, or no key is available.
        ProviderError: the provider refused or could not be reached (message redacted).
    """
    count = _COUNTERS.get(endpoint.api)
    if count is None:
        raise TallybookError(
            f"{endpoint.name} has no token count endpoint; the local estimate stands."
        )
    key = keys.get_key(endpoint.id)
    if key is None:
        raise TallybookError(
            f"No {endpoint.name} key is set, so only the local estimate is available."
        )
    owned = client is None
    http = client or httpx2.Client(timeout=TIMEOUT)
    try:
        tokens = count(http, key, model, messages, tools, base_url=endpoint.base_url)
    finally:
        if owned:
            http.close()
    return TokenCount(tokens, exact=True, method=f"{endpoint.name}'s own count")
