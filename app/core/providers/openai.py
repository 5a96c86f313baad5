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

from app.core.chat import ChatMessage, ImagePart
from app.core.keys import ApiKey
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
from app.core.usage import ReportedUsage, extract

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
        usage_provider: genai-prices' extractor to read usage with (``openrouter`` adds cache
            writes; everything else has OpenAI's shape).
        max_tokens_field: OpenAI wants ``max_completion_tokens``; many compatible servers only
            know the older ``max_tokens``.
    """

    name: str = "openai-chat"
    requires_max_tokens: bool = False
    usage_provider: str = "openai"
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
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return HttpCall(f"{base_url.rstrip('/')}/chat/completions", auth_headers(key), body)

    def decoder(self) -> ChatCompletionsDecoder:
        return ChatCompletionsDecoder(self.usage_provider)

    def parse_response(self, body: Any) -> tuple[str, ReportedUsage]:
        reply = mapping(body, "a chat completion")
        choices = sequence(reply.get("choices"), "the choices")
        message = mapping(choices[0], "a choice").get("message") if choices else {}
        text = clean_text(mapping(message or {}, "a message").get("content"))
        usage = (
            extract(reply, provider=self.usage_provider, flavor="chat")
            if reply.get("usage")
            else ReportedUsage()
        )
        return text, usage


@dataclass
class ChatCompletionsDecoder:
    """Chunks of ``chat.completion.chunk``; usage from the last one, ``[DONE]`` ends."""

    usage_provider: str
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
        deltas: list[Delta] = []
        for choice in sequence(chunk.get("choices"), "the choices"):
            delta = mapping(mapping(choice, "a choice").get("delta") or {}, "a delta")
            if reasoning := clean_text(delta.get("reasoning_content") or delta.get("reasoning")):
                deltas.append(ReasoningDelta(reasoning))
            if content := clean_text(delta.get("content")):
                deltas.append(TextDelta(content))
            if choice.get("finish_reason"):
                self.state.finish_reason = clean_text(str(choice["finish_reason"]))
        if chunk.get("usage"):
            self.state.usage = extract(chunk, provider=self.usage_provider, flavor="chat")
        return deltas


@dataclass(frozen=True)
class ResponsesAdapter:
    """``/responses``: usage arrives with ``response.completed`` or ``response.incomplete``."""

    name: str = "openai-responses"
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
        if stream:
            body["stream"] = True
        return HttpCall(f"{base_url.rstrip('/')}/responses", auth_headers(key), body)

    def decoder(self) -> ResponsesDecoder:
        return ResponsesDecoder()

    def parse_response(self, body: Any) -> tuple[str, ReportedUsage]:
        response = mapping(body, "a response")
        return _output_text(response), _responses_usage(response)


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
        {"type": text_type, "text": part} if isinstance(part, str) else _image(part)
        for part in message.parts
    ]
    items: list[dict[str, Any]] = [{"role": message.role, "content": content}] if content else []
    items += [
        {"type": "function_call", "call_id": c.id, "name": c.name, "arguments": c.arguments}
        for c in message.tool_calls
    ]
    return items


def _image(part: ImagePart) -> dict[str, Any]:
    return {"type": "input_image", "image_url": part.url, "detail": part.detail}


def _output_text(response: dict[str, Any]) -> str:
    texts = [
        clean_text(content.get("text"))
        for item in sequence(response.get("output"), "the output")
        if isinstance(item, dict) and item.get("type") == "message"
        for content in sequence(item.get("content"), "a message's content")
        if isinstance(content, dict) and content.get("type") == "output_text"
    ]
    return "".join(texts)


def _responses_usage(response: dict[str, Any]) -> ReportedUsage:
    if not response.get("usage"):
        return ReportedUsage()
    return extract(response, provider="openai", flavor="responses")
