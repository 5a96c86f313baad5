"""Proving that a key works, with the cheapest real call each provider offers: list its models.

Listing models costs nothing, sends no prompt and needs the same authentication as a chat
request, so a success here means a chat request would not be refused for its key. Every failure
is one of the app's own errors; HTTP failures are built by :mod:`app.core.providers.http`, so
the key is scrubbed from any message the provider echoes.
"""

from __future__ import annotations

from typing import Any

import httpx2

from app.core.errors import MissingKey, ProviderError
from app.core.providers import anthropic
from app.core.providers.http import raise_for_status, transport_error
from app.core.providers.registry import DEMO, Endpoint, demo_url
from app.core.types import EndpointApi

TIMEOUT = httpx2.Timeout(10.0)
"""A model list is small: an endpoint that takes longer than this is as good as down."""
DEMO_KEY = "tallybook-demo"
"""The offline demo accepts any key; this is the one the metering client sends it too."""


def check_key(
    endpoint: Endpoint,
    secret: str | None,
    *,
    client: httpx2.Client | None = None,
    base_url: str | None = None,
) -> str:
    """List the endpoint's models with ``secret`` and say how it went, in one sentence.

    Args:
        endpoint: where to send the call; its ``api`` picks the path and headers.
        secret: the key to try; ``None`` for an endpoint that needs none (the offline demo,
            a local server).
        client: an HTTP client to use (tests inject one); by default a short-lived one.
        base_url: overrides the endpoint's base URL (and the demo's emulator address).

    Returns:
        A short success sentence, e.g. ``"The key works: 12 models available."``.

    Raises:
        MissingKey: the endpoint needs a key and ``secret`` is empty.
        AuthenticationFailed: the provider refused the key (401/403), with the key redacted.
        ProviderUnreachable: no answer (a closed port, no network, a timeout).
        ProviderError: any other error status, or a 200 answer that is not a model list
            (usually a wrong base URL).
    """
    secret = (secret or "").strip() or None
    if endpoint.api == DEMO:
        secret = secret or DEMO_KEY
    elif secret is None and endpoint.needs_key:
        raise MissingKey(f"There is no key for {endpoint.name} to test. Enter one first.")
    url, headers = _request(endpoint, secret, base_url)
    own_client = client is None
    http = client if client is not None else httpx2.Client(timeout=TIMEOUT)
    try:
        try:
            response = http.get(url, headers=headers, timeout=TIMEOUT)
        except httpx2.HTTPError as error:
            raise transport_error(error, endpoint.name) from None
        raise_for_status(response, endpoint.name, secret or "")
        count, more = _count_models(response, endpoint.name)
    finally:
        if own_client:
            http.close()
    shown = f"{count}+" if more else f"{count}"
    noun = "model" if count == 1 and not more else "models"
    if endpoint.api == DEMO or secret is None:
        return f"{endpoint.name} answers: {shown} {noun} available."
    return f"The key works: {shown} {noun} available."


def _request(
    endpoint: Endpoint, secret: str | None, base_url: str | None
) -> tuple[str, dict[str, str]]:
    """The URL and headers of the model list for the endpoint's protocol."""
    if endpoint.api == DEMO:
        base = (base_url or demo_url()).rstrip("/")
        return f"{base}/v1/models", {"Authorization": f"Bearer {secret}"}
    base = (base_url or endpoint.base_url).rstrip("/")
    if endpoint.api == EndpointApi.ANTHROPIC:
        headers = {"anthropic-version": anthropic.API_VERSION}
        if secret:
            headers["x-api-key"] = secret
        return f"{base}/v1/models", headers
    if endpoint.api == EndpointApi.GEMINI:
        # The key goes in a header, never the URL, so it cannot end up in a log line.
        return f"{base}/v1beta/models", {"x-goog-api-key": secret} if secret else {}
    return f"{base}/models", {"Authorization": f"Bearer {secret}"} if secret else {}


def _count_models(response: httpx2.Response, provider: str) -> tuple[int, bool]:
    """How many models the answer lists, and whether it said more pages follow.

    OpenAI and compatible servers answer ``{"data": [...]}``, Anthropic the same with
    ``has_more``, Gemini ``{"models": [...], "nextPageToken": ...}``.
    """
    try:
        answer: Any = response.json()
    except ValueError:
        answer = None
    if isinstance(answer, dict):
        for field in ("data", "models"):
            if isinstance(answer.get(field), list):
                more = bool(answer.get("has_more")) or bool(answer.get("nextPageToken"))
                return len(answer[field]), more
    raise ProviderError(
        f"{provider} answered, but not with a list of models: check the endpoint's base URL.",
        response.status_code,
    )
