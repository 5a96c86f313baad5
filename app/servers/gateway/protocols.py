"""The three APIs the local endpoint speaks, and how each one says what went wrong.

A tool's request is read only to be counted and priced (:mod:`app.core.providers.payloads`); it
is sent on as written. Errors come back in the format the tool's client library expects (the
error writers of :mod:`app.servers.wire`, which the official SDKs already read), with a status
the SDKs act on sensibly: 429 and 503 are retried by them, a refusal by Tallybook (no balance,
no key) is not.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.core.errors import (
    AuthenticationFailed,
    ContextWindowExceeded,
    MissingKey,
    ModelNotFound,
    ProviderError,
    ProviderOverloaded,
    RateLimited,
    SpendRefused,
    TallybookError,
)
from app.core.messages import ChatPayload, InvalidPayload
from app.core.providers import payloads
from app.core.providers.sse import ServerSentEvent
from app.core.types import WireApi
from app.servers.wire import Event, Failure, JsonAnswer, anthropic_error, dumps, openai_error


@dataclass(frozen=True)
class Api:
    """One wire protocol as the local endpoint receives it."""

    name: WireApi
    """``openai-chat``, ``openai-responses`` or ``anthropic`` (see :class:`Passthrough`)."""
    read: Callable[[dict[str, Any]], ChatPayload]
    limit_fields: tuple[str, ...]
    error_answer: Callable[[Failure], JsonAnswer]

    def max_tokens(self, body: dict[str, Any]) -> int | None:
        """The reply limit the tool set, if it set a usable one."""
        for name in self.limit_fields:
            value = body.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
        return None

    def error_event(self, failure: Failure) -> Event:
        """The failure as this protocol's in-stream error event (a reply that broke off)."""
        body = self.error_answer(failure).body
        if self.name == WireApi.OPENAI_CHAT:
            return Event(dumps(body))
        if self.name == WireApi.OPENAI_RESPONSES:
            return Event(dumps({"type": "error", **body["error"]}), "error")
        return Event(dumps(body), "error")


CHAT = Api(
    WireApi.OPENAI_CHAT,
    payloads.from_chat_completions,
    ("max_completion_tokens", "max_tokens"),
    openai_error,
)
RESPONSES = Api(
    WireApi.OPENAI_RESPONSES, payloads.from_responses, ("max_output_tokens",), openai_error
)
MESSAGES = Api(WireApi.ANTHROPIC, payloads.from_anthropic, ("max_tokens",), anthropic_error)
ROUTES = {"/v1/chat/completions": CHAT, "/v1/responses": RESPONSES, "/v1/messages": MESSAGES}


def failure_for(error: Exception) -> Failure:
    """The status and words a tool gets for an error before any reply."""
    if isinstance(error, SpendRefused):  # the balance, or a budget set to block at 100%
        return Failure(402, "permission", f"Tallybook: {error}")
    if isinstance(error, MissingKey | AuthenticationFailed):
        return Failure(403, "permission", f"Tallybook: {error}")
    if isinstance(error, RateLimited):
        after = None if error.retry_after is None else f"{error.retry_after:g}"
        return Failure(429, "rate_limit", str(error), after)
    if isinstance(error, ProviderOverloaded):
        return Failure(503, "overloaded", str(error))
    if isinstance(error, ModelNotFound):
        return Failure(404, "not_found", str(error))
    if isinstance(error, ProviderError):
        status = error.status if error.status in (400, 413, 422) else 502
        return Failure(status, "invalid" if status < 500 else "server", str(error))
    if isinstance(error, ContextWindowExceeded | InvalidPayload | TallybookError):
        return Failure(400, "invalid", f"Tallybook: {error}")
    return Failure(500, "server", f"Tallybook failed ({type(error).__name__}); see its log.")


def is_unrequested_usage(api: Api, event: ServerSentEvent) -> bool:
    """A Chat Completions chunk that carries only usage (no choices).

    Tallybook always asks for it, to meter the reply; a tool that did not ask may index
    ``choices[0]`` of every chunk, so it is not passed on to such a tool.
    """
    if api is not CHAT or '"usage"' not in event.data:
        return False
    try:
        chunk = json.loads(event.data)
    except ValueError:
        return False
    return isinstance(chunk, dict) and chunk.get("choices") == [] and bool(chunk.get("usage"))


FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})
"""The Responses API's last event of a reply (named ``type`` and SSE ``event`` alike)."""


def is_final(api: Api, event: ServerSentEvent) -> bool:
    """The event that tells a tool its reply is over: ``[DONE]``, a final response event, or
    ``message_stop``. It is held back until the reply is charged, so once a tool's call returns
    the ledger already has its cost."""
    if api is CHAT:
        return event.data.strip() == "[DONE]"
    if api is MESSAGES:
        return event.event == "message_stop"
    return event.event in FINAL_EVENTS


def asked_for_usage(body: dict[str, Any]) -> bool:
    """Whether a streamed Chat Completions request asked for the usage chunk itself."""
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True
