"""The small interface every wire protocol implements.

An :class:`Adapter` builds the HTTP call for a chat request and makes a fresh
:class:`StreamDecoder` for each streamed reply. The decoder turns server-sent events into text
deltas and keeps what the provider reported about usage, each half as soon as it is known, so a
stream cut after the input was reported still charges the reported input. Adding a provider is
adding a module with one adapter.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.core.errors import ProviderError
from app.core.keys import ApiKey
from app.core.messages import ChatMessage, ToolSpec
from app.core.model_settings import DEFAULT_SETTINGS, ModelSettings
from app.core.providers.sse import ServerSentEvent
from app.core.providers.usage import ReportedUsage
from app.core.types import WireApi


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
    """What one request asks the model: its name, the prompt, the tools, a reply limit, and
    the conversation's other settings (only those the model takes: see
    :func:`app.core.model_settings.applicable`)."""

    model: str
    messages: Sequence[ChatMessage]
    tools: Sequence[ToolSpec] = ()
    max_tokens: int | None = None
    settings: ModelSettings = DEFAULT_SETTINGS


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
    """What a decoder has learnt so far; read by the metering client at any moment.

    Attributes:
        model: the model the reply says served it (which is the one billed), once named.
        response_id: the reply's id as the provider gave it (Chat Completions' ``id``).
    """

    usage: ReportedUsage = field(default_factory=ReportedUsage)
    finished: bool = False
    finish_reason: str | None = None
    model: str | None = None
    response_id: str | None = None

    def name_model(self, value: Any) -> None:
        """Keep the served model's name from an event, if it carries a usable one."""
        if isinstance(value, str) and value.strip() and len(value) <= 200:
            self.model = clean_text(value.strip())

    def name_response(self, value: Any) -> None:
        """Keep the reply's own id (OpenRouter's ``gen-…``, asked for its exact cost later)."""
        if self.response_id is None and isinstance(value, str) and 0 < len(value) <= 200:
            self.response_id = clean_text(value)


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
    def name(self) -> WireApi:
        """The protocol's name."""

    @property
    def requires_max_tokens(self) -> bool:
        """The API rejects a request without a reply limit (Anthropic)."""

    def call(self, base_url: str, key: ApiKey | None, turn: Turn, *, stream: bool) -> HttpCall:
        """The HTTP request for one chat turn."""

    def decoder(self) -> StreamDecoder:
        """A fresh decoder for one streamed reply."""

    def parse_response(self, body: Any) -> tuple[str, StreamState]:
        """Text and what is known of a non-streamed reply (usage, served model).

        Raises:
            MalformedStream: the body is not a reply.
        """


def json_event(event: ServerSentEvent) -> Any:
    """The JSON in an event's data, or :class:`MalformedStream` saying what was wrong.

    Besides bad syntax (``JSONDecodeError``), ``json.loads`` refuses an integer of more than
    4,300 digits with a plain ``ValueError`` and nesting deeper than the interpreter's stack with
    ``RecursionError``: from a provider, all three are an unreadable event.
    """
    import json

    try:
        return json.loads(event.data)
    except (ValueError, RecursionError):
        raise MalformedStream(
            f"The provider sent an event that is not JSON: {clean_text(event.data[:80])!r}"
        ) from None


def mapping(value: Any, where: str) -> dict[str, Any]:
    """``value`` if it is a JSON object, else :class:`MalformedStream`."""
    if not isinstance(value, dict):
        raise MalformedStream(f"The provider sent {type(value).__name__} where {where} should be.")
    return value


def sequence(value: Any, where: str) -> list[Any]:
    """``value`` if it is a JSON array, ``[]`` if it is absent (``None``), else
    :class:`MalformedStream` (iterating a number raises ``TypeError``, and a string or an object
    would be read item by item as if it were the list)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedStream(f"The provider sent {type(value).__name__} where {where} should be.")
    return value


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(value: Any) -> str:
    """A text field of an event: a string, with lone surrogates replaced; ``""`` for anything else.

    JSON may escape half of a surrogate pair (``"\\ud800"``) and ``json.loads`` keeps it; such a
    string cannot be encoded as UTF-8, so storing the reply (SQLite), counting it or printing it
    would fail after the tokens were spent. U+FFFD is what :func:`~.sse.iter_sse` puts in place
    of invalid bytes too. A non-string "text" (a number, a list) is not text the user saw.
    """
    if not isinstance(value, str):
        return ""
    return _LONE_SURROGATE.sub("\ufffd", value)


def error_message(error: Any) -> str:
    """A provider's error, in a few words: its ``message`` (or ``code``), whatever its shape."""
    if isinstance(error, dict):
        error = error.get("message") or error.get("code") or error
    try:
        text = error if isinstance(error, str) else repr(error)
    except RecursionError:  # an absurdly nested error object
        text = type(error).__name__
    return clean_text(text[:300])
