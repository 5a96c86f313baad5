"""The small interface every wire protocol implements.

An :class:`Adapter` builds the HTTP call for a chat request and makes a fresh
:class:`StreamDecoder` for each streamed reply. The decoder turns server-sent events into text
deltas and keeps what the provider reported about usage, each half as soon as it is known, so a
stream cut after the input was reported still charges the reported input. Adding a provider is
adding a module with one adapter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.core.chat import ChatMessage, ToolSpec
from app.core.errors import ProviderError
from app.core.keys import ApiKey
from app.core.providers.sse import ServerSentEvent
from app.core.usage import ReportedUsage


class MalformedStream(ProviderError):
    """An event the provider sent could not be read (bad JSON, wrong types, an error event)."""


@dataclass(frozen=True)
class HttpCall:
    """Everything needed to send one request."""

    url: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass(frozen=True)
class Turn:
    """What one request asks the model: its name, the prompt, the tools, a reply limit."""

    model: str
    messages: Sequence[ChatMessage]
    tools: Sequence[ToolSpec] = ()
    max_tokens: int | None = None


@dataclass(frozen=True)
class TextDelta:
    """Reply text, in arrival order."""

    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    """Visible reasoning ("thinking") text, where a provider streams it."""

    text: str


Delta = TextDelta | ReasoningDelta


@dataclass
class StreamState:
    """What a decoder has learnt so far; read by the metering client at any moment."""

    usage: ReportedUsage = field(default_factory=ReportedUsage)
    finished: bool = False
    finish_reason: str | None = None


class StreamDecoder(Protocol):
    """Reads one reply's events."""

    state: StreamState

    def feed(self, event: ServerSentEvent) -> list[Delta]:
        """Deltas carried by the event.

        Raises:
            MalformedStream: the event cannot be read, or is the provider's error event.
        """


class Adapter(Protocol):
    """One wire protocol (OpenAI Chat Completions, Responses, Anthropic Messages, Gemini)."""

    @property
    def name(self) -> str:
        """A short name for the protocol."""

    @property
    def requires_max_tokens(self) -> bool:
        """The API rejects a request without a reply limit (Anthropic)."""

    def call(self, base_url: str, key: ApiKey | None, turn: Turn, *, stream: bool) -> HttpCall:
        """The HTTP request for one chat turn."""

    def decoder(self) -> StreamDecoder:
        """A fresh decoder for one streamed reply."""

    def parse_response(self, body: Any) -> tuple[str, ReportedUsage]:
        """Text and usage of a non-streamed reply.

        Raises:
            MalformedStream: the body is not a reply.
        """


def json_event(event: ServerSentEvent) -> Any:
    """The JSON in an event's data, or :class:`MalformedStream` saying what was wrong."""
    import json

    try:
        return json.loads(event.data)
    except json.JSONDecodeError:
        raise MalformedStream(
            f"The provider sent an event that is not JSON: {event.data[:80]!r}"
        ) from None


def mapping(value: Any, where: str) -> dict[str, Any]:
    """``value`` if it is a JSON object, else :class:`MalformedStream`."""
    if not isinstance(value, dict):
        raise MalformedStream(f"The provider sent {type(value).__name__} where {where} should be.")
    return value
