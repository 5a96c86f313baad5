"""From a tool's HTTP request to a metered chat request: where it goes, whose it is, what it costs.

The request is read only to count and price it; it is forwarded as the tool wrote it
(:class:`~app.core.metering.client.Passthrough`), to the endpoint chosen for its protocol, and filed
under the conversation of the tool that sent it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.core import conversations
from app.core.chats import ToolTurn
from app.core.messages import InvalidPayload
from app.core.metering.client import ChatRequest, Passthrough
from app.core.providers.registry import DEMO
from app.servers.gateway.protocols import MESSAGES, Api
from app.servers.gateway.sources import source_of

ENDPOINT_HEADER = "x-tallybook-endpoint"
KEPT_HEADERS = ("anthropic-version", "anthropic-beta", "openai-beta")
"""Protocol headers a tool's request keeps on its way (features, API versions); never auth."""


@dataclass(frozen=True)
class Upstreams:
    """Which endpoint serves each protocol; a request may name another in ``X-Tallybook-Endpoint``.

    Attributes:
        openai: the endpoint id for Chat Completions and Responses requests (``openai``, or an
            OpenAI-compatible one: ``openrouter``, ``groq``, a custom endpoint...).
        anthropic: the endpoint id for Messages requests.
    """

    openai: str = "openai"
    anthropic: str = "anthropic"

    @classmethod
    def demo(cls) -> Upstreams:
        """Everything to the offline demo provider (no keys, no spend of real money)."""
        return cls(DEMO, DEMO)

    def endpoint_for(self, api: Api, headers: Mapping[str, str]) -> str:
        """The endpoint id a request goes to."""
        named = (headers.get(ENDPOINT_HEADER) or "").strip()
        return named or (self.anthropic if api is MESSAGES else self.openai)


@dataclass(frozen=True)
class Forward:
    """A tool's request, ready for the metering client."""

    request: ChatRequest
    source: str
    stream: bool
    body: dict[str, Any]


def prepare(
    api: Api,
    raw: bytes,
    headers: Mapping[str, str],
    upstreams: Upstreams,
    token_name: str | None = None,
) -> Forward:
    """Read and route one request (header names in lower case); the chat service's
    :class:`~app.core.chats.ToolTurn` files it under the tool's conversation once accepted:
    the name of the tool token it presented, if any (see :func:`source_of`).

    Raises:
        InvalidPayload: the body is not a request in ``api``'s format.
    """
    body = _json_object(raw)
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidPayload("model: a model name is required.")
    payload = api.read(body)
    source = conversations.clean_source(source_of(headers, token_name))
    kept = {name: value for name in KEPT_HEADERS if (value := headers.get(name))}
    request = ChatRequest(
        endpoint=upstreams.endpoint_for(api, headers),
        model=model.strip(),
        messages=payload.messages,
        tools=payload.tools,
        max_tokens=api.max_tokens(body),
        hooks=ToolTurn(source),
        passthrough=Passthrough(api.name, body, kept),
    )
    return Forward(request, source, body.get("stream") is True, body)


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidPayload("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise InvalidPayload("The request body must be a JSON object.")
    return body
