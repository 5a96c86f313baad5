"""Anthropic Messages API: request bodies and the token-count endpoint.

Anthropic takes the system prompt apart from the messages, tool calls as ``tool_use`` blocks in
the assistant's turn and their results as ``tool_result`` blocks in the next user turn, images
as base64 or URL sources, and PDFs as base64 ``document`` blocks. ``count_tokens`` is free and
exact for the model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx2

from app.core.keys import ApiKey
from app.core.messages import ChatMessage, DocumentPart, ImagePart, ToolSpec
from app.core.model_settings import ANTHROPIC_DEFAULT_MAX_TOKENS
from app.core.providers.base import (
    Delta,
    HttpCall,
    MalformedStream,
    ReasoningDelta,
    StreamState,
    TextDelta,
    Turn,
    clean_text,
    error_message,
    json_event,
    mapping,
    sequence,
)
from app.core.providers.http import count_field, post_json
from app.core.providers.sse import ServerSentEvent
from app.core.providers.usage import UsageRules, dig, extract
from app.core.types import WireApi

BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"


def headers(key: ApiKey) -> dict[str, str]:
    """Authentication and version headers."""
    return {"x-api-key": key.secret, "anthropic-version": API_VERSION}


def messages_body(
    model: str, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()
) -> dict[str, Any]:
    """The body of ``/v1/messages`` (without ``max_tokens`` and ``stream``, set by the caller)."""
    system = "\n\n".join(m.text for m in messages if m.role in ("system", "developer"))
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role in ("system", "developer"):
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message)
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)  # the API wants alternating turns
        else:
            turns.append({"role": role, "content": blocks})
    while turns and turns[0]["role"] != "user":  # a trimmed history may start with a reply
        turns.pop(0)
    body: dict[str, Any] = {"model": model, "messages": turns}
    if system:
        body["system"] = system
    if tools:
        body["tools"] = [
            {
                "name": t.name,
                "description": t.description,
                "input_schema": dict(t.parameters) or {"type": "object"},
            }
            for t in tools
        ]
    return body


def count_tokens(
    client: httpx2.Client,
    key: ApiKey,
    model: str,
    messages: Sequence[ChatMessage],
    tools: Sequence[ToolSpec] = (),
    *,
    base_url: str = BASE_URL,
) -> int:
    """Anthropic's own count of the prompt's input tokens (``/v1/messages/count_tokens``)."""
    answer = post_json(
        client,
        f"{base_url.rstrip('/')}/v1/messages/count_tokens",
        messages_body(model, messages, tools),
        headers=headers(key),
        provider="Anthropic",
        secret=key.secret,
    )
    return count_field(answer, "input_tokens", "Anthropic")


def _blocks(message: ChatMessage) -> list[dict[str, Any]]:
    if message.role == "tool":
        return [
            {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id or "",
                "content": message.text,
            }
        ]
    blocks: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, str):
            if part:
                blocks.append({"type": "text", "text": part})
        elif isinstance(part, DocumentPart):
            source = {"type": "base64", "media_type": part.media_type, "data": part.data}
            blocks.append({"type": "document", "source": source})
        else:
            blocks.append({"type": "image", "source": _image_source(part)})
    for call in message.tool_calls:
        blocks.append(
            {"type": "tool_use", "id": call.id, "name": call.name, "input": call.parsed_arguments()}
        )
    return blocks or [{"type": "text", "text": ""}]


def _image_source(part: ImagePart) -> dict[str, str]:
    inline = part.inline_data()
    if inline is None:
        return {"type": "url", "url": part.url}
    media_type, data = inline
    return {"type": "base64", "media_type": media_type, "data": data}


DEFAULT_MAX_TOKENS = ANTHROPIC_DEFAULT_MAX_TOKENS
"""Anthropic requires ``max_tokens``; used when neither the user nor the model table gives one."""


@dataclass(frozen=True)
class MessagesAdapter:
    """``/v1/messages``: usage in ``message_start`` (input, cache), ``message_delta`` (output)."""

    name: WireApi = WireApi.ANTHROPIC
    requires_max_tokens: bool = True

    def call(self, base_url: str, key: ApiKey | None, turn: Turn, *, stream: bool) -> HttpCall:
        body = messages_body(turn.model, turn.messages, turn.tools)
        body["max_tokens"] = turn.max_tokens or DEFAULT_MAX_TOKENS
        if turn.settings.temperature is not None:
            body["temperature"] = turn.settings.temperature
        if turn.settings.thinking_budget is not None:  # within max_tokens, billed as output
            body["thinking"] = {"type": "enabled", "budget_tokens": turn.settings.thinking_budget}
        if stream:
            body["stream"] = True
        return HttpCall(
            f"{base_url.rstrip('/')}/v1/messages",
            headers(key) if key else _version_only(),
            body,
        )

    def decoder(self) -> MessagesDecoder:
        return MessagesDecoder()

    def parse_response(self, body: Any) -> tuple[str, StreamState]:
        message = mapping(body, "a message")
        text = "".join(
            clean_text(block.get("text"))
            for block in sequence(message.get("content"), "the content")
            if isinstance(block, dict) and block.get("type") == "text"
        )
        state = StreamState(finished=True)
        state.name_model(message.get("model"))
        if message.get("usage"):
            state.usage = extract(message, USAGE_RULES)
        return text, state


@dataclass
class MessagesDecoder:
    """Keeps the latest usage fields: ``message_delta`` counts are cumulative, never summed."""

    state: StreamState = field(default_factory=StreamState)
    _usage: dict[str, Any] = field(default_factory=dict)
    _output_reported: bool = False

    def feed(self, event: ServerSentEvent) -> list[Delta]:
        data = mapping(json_event(event), "an event")
        kind = data.get("type") or event.event
        if kind == "content_block_delta":
            delta = mapping(data.get("delta"), "a delta")
            if delta.get("type") == "text_delta":
                return [TextDelta(clean_text(delta.get("text")))]
            if delta.get("type") == "thinking_delta":
                return [ReasoningDelta(clean_text(delta.get("thinking")))]
        elif kind == "message_start":
            message = mapping(data.get("message"), "the message")
            self.state.name_model(message.get("model"))
            self._take_usage(message.get("usage"), output=False)
        elif kind == "message_delta":
            stop = mapping(data.get("delta") or {}, "a delta").get("stop_reason")
            if stop:
                self.state.finish_reason = clean_text(str(stop))
            self._take_usage(data.get("usage"), output=True)
        elif kind == "message_stop":
            self.state.finished = True
        elif kind == "error":
            failure = data.get("error") or "an error event with no details"
            raise MalformedStream(f"Anthropic stopped with an error: {error_message(failure)}")
        return []

    def _take_usage(self, usage: Any, *, output: bool) -> None:
        """Merge a usage report: ``message_delta``'s counts are the latest, so they replace.

        ``message_start`` opens the stream and carries a placeholder ``output_tokens`` (1): a
        repeated or late one (out of order) only fills in what is still unknown, so it can
        never take a cumulative output count back down to that placeholder.
        """
        if not usage:
            return
        fields = mapping(usage, "usage")
        if output:
            self._usage.update(fields)
        else:
            self._usage = {**fields, **self._usage}
        self._output_reported = self._output_reported or output
        if "input_tokens" in self._usage and "output_tokens" in self._usage:
            self.state.usage = extract(
                {"usage": self._usage}, USAGE_RULES, with_output=self._output_reported
            )


def _version_only() -> dict[str, str]:
    return {"anthropic-version": API_VERSION}


_STEP_COUNTS = ("input_tokens", "output_tokens", "cache_read_input_tokens")
_CACHE_COUNTS = ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens")


def _iterations(usage: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """With context compaction on, the top-level counts are only the last sampling step's: each
    billed step is listed in ``usage.iterations`` (``type`` ``message`` for the reply's,
    ``compaction`` for the summarising one). The reply's step is the sum of its ``message``
    iterations, with the top-level fields that no iteration carries (server tools); every
    other type is a step of its own (genai-prices reads only the top level)."""
    iterations = usage.get("iterations")
    if not isinstance(iterations, list) or not iterations:
        return [("", usage)]
    steps = [i for i in iterations if isinstance(i, Mapping)]
    replies = [i for i in steps if i.get("type") == "message"]
    reply = dict(usage)
    if replies:
        for name in (*_STEP_COUNTS, "cache_creation_input_tokens"):
            reply[name] = _sum(replies, name)
        reply["cache_creation"] = {
            name: _sum([dig(i, "cache_creation") or {} for i in replies], name)
            for name in _CACHE_COUNTS
        }
    others = [(str(i.get("type") or "step"), i) for i in steps if i.get("type") != "message"]
    return [("", reply), *others]


def _sum(items: list[Any], name: str) -> Any:
    values = [i.get(name) for i in items if isinstance(i, Mapping) and name in i]
    if not values:
        return 0
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return values[0]  # not a count: the extractor says so
    return sum(values)


def _tier(response: Mapping[str, Any]) -> dict[str, str]:
    """Anthropic's ``service_tier`` (``standard``, ``priority``, ``batch``) and ``speed``
    (``fast`` mode), as genai-prices' price context."""
    usage = response.get("usage") if isinstance(response.get("usage"), Mapping) else {}
    context: dict[str, str] = {}
    tier = dig(usage, "service_tier")
    if tier == "batch":
        context["processing"] = "batch"
    elif isinstance(tier, str) and tier not in ("", "standard"):
        context["service_tier"] = tier
    if dig(usage, "speed") == "fast":
        context["speed"] = "fast"
    return context


USAGE_RULES = UsageRules(
    "anthropic",
    "default",
    not_billed=(("server_tool_use", "web_fetch_requests"),),
    tier=_tier,
    steps=_iterations,
)
"""Web fetches cost only the tokens they add (Anthropic's pricing: "no additional cost")."""
