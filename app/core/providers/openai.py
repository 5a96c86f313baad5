"""OpenAI Chat Completions and Responses, and every endpoint that speaks Chat Completions.

Chat Completions streams report usage only when asked (``stream_options.include_usage``), in an
extra last chunk with ``choices: []`` before ``[DONE]``; a cut stream loses it. The Responses
API reports usage in its final ``response.completed`` (or ``response.incomplete``) event and has
no ``[DONE]``. Some models exist only on the Responses API; :func:`api_for_model` picks it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from app.core.keys import ApiKey
from app.core.messages import ChatMessage, DocumentPart, ImagePart
from app.core.providers import vendors
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
from app.core.providers.sse import ServerSentEvent
from app.core.providers.usage import ReportedUsage, UsageRules, extract
from app.core.types import WireApi

BASE_URL = "https://api.openai.com/v1"
_RESPONSES_ONLY = re.compile(
    r"(^|[-/])(o1-pro|o3-pro|codex|computer-use|gpt-daybreak|gpt-rosalind"
    r"|gpt-\d+(\.\d+)?(-[a-z]+)?-(pro|cyber|rosalind|law)(?![a-z]))|deep-research"
)
"""Names the openai SDK lists as Responses models but not as Chat models (and pro variants
such as OpenRouter's openai/gpt-6.1-terra-pro): only ``/responses`` serves them."""


def api_for_model(model: str) -> str:
    """``responses`` for models served only by the Responses API, else ``chat``."""
    return "responses" if _RESPONSES_ONLY.search(model.lower()) else "chat"


def auth_headers(key: ApiKey | None) -> dict[str, str]:
    """Bearer authentication (none for a local server that needs no key)."""
    return {"Authorization": f"Bearer {key.secret}"} if key else {}


@dataclass(frozen=True)
class ChatCompletionsAdapter:
    """``/chat/completions``, for OpenAI and OpenAI-compatible endpoints.

    Attributes:
        usage_rules: how this vendor's usage is read (:mod:`app.core.providers.vendors`).
        max_tokens_field: OpenAI wants ``max_completion_tokens``; many compatible servers only
            know the older ``max_tokens``.
    """

    name: WireApi = WireApi.OPENAI_CHAT
    requires_max_tokens: bool = False
    usage_rules: UsageRules = vendors.OPENAI_CHAT
    max_tokens_field: str = "max_completion_tokens"

    def call(self, base_url: str, key: ApiKey | None, turn: Turn, *, stream: bool) -> HttpCall:
        body: dict[str, Any] = {
            "model": turn.model,
            "messages": [m.to_openai() for m in turn.messages],
        }
        if turn.tools:
            body["tools"] = [t.to_openai() for t in turn.tools]
        if turn.max_tokens is not None:
            body[self.max_tokens_field] = turn.max_tokens
        if turn.settings.temperature is not None:
            body["temperature"] = turn.settings.temperature
        if turn.settings.reasoning_effort is not None:
            body["reasoning_effort"] = turn.settings.reasoning_effort
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return HttpCall(f"{base_url.rstrip('/')}/chat/completions", auth_headers(key), body)

    def decoder(self) -> ChatCompletionsDecoder:
        return ChatCompletionsDecoder(self.usage_rules)

    def parse_response(self, body: Any) -> tuple[str, StreamState]:
        reply = mapping(body, "a chat completion")
        state = StreamState(finished=True)
        state.name_model(reply.get("model"))
        state.name_response(reply.get("id"))
        choices = sequence(reply.get("choices"), "the choices")
        message = mapping(choices[0], "a choice").get("message") if choices else {}
        content = mapping(message or {}, "a message").get("content")
        text = "".join(d.text for d in content_deltas(content) if isinstance(d, TextDelta))
        if self.usage_rules.has_usage(reply):
            state.usage = extract(reply, self.usage_rules)
        return text, state


def content_deltas(content: Any) -> list[Delta]:
    """The deltas of a message's ``content``: a string, or (Mistral's reasoning models) a list
    of typed chunks, ``text`` ones and ``thinking`` ones that hold text chunks of their own."""
    if isinstance(content, str):
        return [TextDelta(clean_text(content))] if content else []
    deltas: list[Delta] = []
    for chunk in sequence(content, "the content") if isinstance(content, list) else ():
        if not isinstance(chunk, dict):
            continue
        if chunk.get("type") == "text" and (text := clean_text(chunk.get("text"))):
            deltas.append(TextDelta(text))
        elif chunk.get("type") == "thinking":
            for inner in content_deltas(chunk.get("thinking")):
                deltas.append(ReasoningDelta(inner.text))
    return deltas


@dataclass
class ChatCompletionsDecoder:
    """Chunks of ``chat.completion.chunk``; usage from the last one, ``[DONE]`` ends."""

    usage_rules: UsageRules = vendors.OPENAI_CHAT
    state: StreamState = field(default_factory=StreamState)

    def feed(self, event: ServerSentEvent) -> list[Delta]:
        if event.data.strip() == "[DONE]":
            self.state.finished = True
            return []
        chunk = mapping(json_event(event), "a chunk")
        if "error" in chunk:  # OpenRouter and others report failures inside the stream
            raise MalformedStream(
                f"The provider stopped with an error: {error_message(chunk['error'])}"
            )
        if self.state.model is None:
            self.state.name_model(chunk.get("model"))
        self.state.name_response(chunk.get("id"))
        deltas: list[Delta] = []
        for choice in sequence(chunk.get("choices"), "the choices"):
            delta = mapping(mapping(choice, "a choice").get("delta") or {}, "a delta")
            if reasoning := clean_text(delta.get("reasoning_content") or delta.get("reasoning")):
                deltas.append(ReasoningDelta(reasoning))
            deltas += content_deltas(delta.get("content"))
            if choice.get("finish_reason"):
                self.state.finish_reason = clean_text(str(choice["finish_reason"]))
        if self.usage_rules.has_usage(chunk):
            self.state.usage = extract(chunk, self.usage_rules)
        return deltas


@dataclass(frozen=True)
class ResponsesAdapter:
    """``/responses``: usage arrives with ``response.completed`` or ``response.incomplete``."""

    name: WireApi = WireApi.OPENAI_RESPONSES
    requires_max_tokens: bool = False

    def call(self, base_url: str, key: ApiKey | None, turn: Turn, *, stream: bool) -> HttpCall:
        instructions = "\n\n".join(
            m.text for m in turn.messages if m.role in ("system", "developer")
        )
        items = [
            item
            for m in turn.messages
            if m.role not in ("system", "developer")
            for item in _items(m)
        ]
        body: dict[str, Any] = {"model": turn.model, "input": items, "store": False}
        if instructions:
            body["instructions"] = instructions
        if turn.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "name": t.name,
                    "description": t.description,
                    "parameters": dict(t.parameters),
                }
                for t in turn.tools
            ]
        if turn.max_tokens is not None:
            body["max_output_tokens"] = turn.max_tokens
        if turn.settings.temperature is not None:
            body["temperature"] = turn.settings.temperature
        if turn.settings.reasoning_effort is not None:
            body["reasoning"] = {"effort": turn.settings.reasoning_effort}
        if stream:
            body["stream"] = True
        return HttpCall(f"{base_url.rstrip('/')}/responses", auth_headers(key), body)

    def decoder(self) -> ResponsesDecoder:
        return ResponsesDecoder()

    def parse_response(self, body: Any) -> tuple[str, StreamState]:
        response = mapping(body, "a response")
        state = StreamState(usage=_responses_usage(response), finished=True)
        state.name_model(response.get("model"))
        return _output_text(response), state


@dataclass
class ResponsesDecoder:
    """Typed events; ``response.completed``/``incomplete`` carries the final usage."""

    state: StreamState = field(default_factory=StreamState)

    def feed(self, event: ServerSentEvent) -> list[Delta]:
        data = mapping(json_event(event), "an event")
        kind = data.get("type") or event.event
        if kind == "response.output_text.delta":
            return [TextDelta(clean_text(data.get("delta")))]
        if kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            return [ReasoningDelta(clean_text(data.get("delta")))]
        if kind in ("response.completed", "response.incomplete"):
            response = mapping(data.get("response"), "the response")
            self.state.usage = _responses_usage(response)
            self.state.name_model(response.get("model"))
            self.state.finished = True
            details = response.get("incomplete_details")  # only a reason: odd ones are ignored
            reason = details.get("reason") if isinstance(details, dict) else None
            self.state.finish_reason = clean_text(reason or response.get("status")) or "completed"
        elif kind in ("response.failed", "error"):
            failure: Any = data
            if kind == "response.failed":  # the error may be missing: say what failed anyway
                response = mapping(data.get("response") or {}, "the response")
                failure = response.get("error") or "the response failed"
            raise MalformedStream(f"The provider stopped with an error: {error_message(failure)}")
        return []


def _items(message: ChatMessage) -> list[dict[str, Any]]:
    if message.role == "tool":
        return [
            {
                "type": "function_call_output",
                "call_id": message.tool_call_id or "",
                "output": message.text,
            }
        ]
    text_type = "output_text" if message.role == "assistant" else "input_text"
    content: list[dict[str, Any]] = [
        {"type": text_type, "text": part} if isinstance(part, str) else _input(part)
        for part in message.parts
    ]
    items: list[dict[str, Any]] = [{"role": message.role, "content": content}] if content else []
    items += [
        {"type": "function_call", "call_id": c.id, "name": c.name, "arguments": c.arguments}
        for c in message.tool_calls
    ]
    return items


def _input(part: ImagePart | DocumentPart) -> dict[str, Any]:
    if isinstance(part, ImagePart):
        return {"type": "input_image", "image_url": part.url, "detail": part.detail}
    return {"type": "input_file", "filename": part.name, "file_data": part.data_url}


def _output_text(response: dict[str, Any]) -> str:
    texts = [
        clean_text(content.get("text"))
        for item in sequence(response.get("output"), "the output")
        if isinstance(item, dict) and item.get("type") == "message"
        for content in sequence(item.get("content"), "a message's content")
        if isinstance(content, dict) and content.get("type") == "output_text"
    ]
    return "".join(texts)


def _tool_calls(response: dict[str, Any]) -> dict[str, Any]:
    """Server-side tools are billed per call, and the Responses API reports them as output
    items, not in ``usage``: a web search per ``web_search_call``, a file search per
    ``file_search_call``, and code execution per container (the code interpreter is billed per
    session, however many calls run in it). Tallybook adds them to the usage object it reads
    under names of its own (``tallybook_*``), leaving the provider's fields as they came."""
    items = [i for i in sequence(response.get("output"), "the output") if isinstance(i, dict)]
    kinds = [i.get("type") for i in items]
    containers = {i.get("container_id") or i.get("id") for i in items if i.get("type") == _CODE}
    counted = {
        "tallybook_web_searches": kinds.count("web_search_call"),
        "tallybook_file_searches": kinds.count("file_search_call"),
        "tallybook_code_sessions": len(containers),
    }
    usage = response.get("usage")
    if isinstance(usage, dict) and any(counted.values()):
        response = {**response, "usage": {**usage, **counted}}
    return response


_CODE = "code_interpreter_call"
RESPONSES_RULES = UsageRules(
    "openai",
    "responses",
    extra=(
        (("tallybook_web_searches",), "web_searches"),
        (("tallybook_file_searches",), "storage_searches"),
        (("tallybook_code_sessions",), "code_executions"),
    ),
    prepare=_tool_calls,
    tier=vendors.chat_tier,
)


def _responses_usage(response: dict[str, Any]) -> ReportedUsage:
    if not response.get("usage"):
        return ReportedUsage()
    return extract(response, RESPONSES_RULES)
