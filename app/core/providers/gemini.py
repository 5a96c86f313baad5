"""Google Gemini API: request bodies and the ``countTokens`` endpoint.

Gemini calls the assistant ``model``, takes the system prompt as ``systemInstruction``, tool calls
as ``functionCall`` parts and their results as ``functionResponse`` parts (named after the call),
and inline images and PDFs as ``inlineData``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import httpx2

from app.core.keys import ApiKey
from app.core.messages import ChatMessage, DocumentPart, ImagePart, ToolSpec
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

BASE_URL = "https://generativelanguage.googleapis.com"


def headers(key: ApiKey) -> dict[str, str]:
    """The key goes in a header, never in the URL (URLs end up in logs)."""
    return {"x-goog-api-key": key.secret}


def model_path(model: str) -> str:
    """``models/<name>`` whichever way the user wrote it."""
    return model if model.startswith("models/") else f"models/{model}"


def generate_body(
    messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()
) -> dict[str, Any]:
    """The body of ``generateContent`` / ``streamGenerateContent``."""
    call_names = {call.id: call.name for m in messages for call in m.tool_calls}
    system = "\n\n".join(m.text for m in messages if m.role in ("system", "developer"))
    contents: list[dict[str, Any]] = []
    for message in messages:
        if message.role in ("system", "developer"):
            continue
        role = "model" if message.role == "assistant" else "user"
        parts = _parts(message, call_names)
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": [{"text": system}]}
    if tools:
        body["tools"] = [
            {
                "functionDeclarations": [
                    {"name": t.name, "description": t.description, "parameters": dict(t.parameters)}
                    if t.parameters
                    else {"name": t.name, "description": t.description}
                    for t in tools
                ]
            }
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
    """Gemini's own count of the prompt (``models/<model>:countTokens``)."""
    request = {"model": model_path(model), **generate_body(messages, tools)}
    answer = post_json(
        client,
        f"{base_url.rstrip('/')}/v1beta/{model_path(model)}:countTokens",
        {"generateContentRequest": request},
        headers=headers(key),
        provider="Gemini",
        secret=key.secret,
    )
    return count_field(answer, "totalTokens", "Gemini")


def _parts(message: ChatMessage, call_names: dict[str, str]) -> list[dict[str, Any]]:
    if message.role == "tool":
        name = call_names.get(message.tool_call_id or "", "tool")
        return [{"functionResponse": {"name": name, "response": {"content": message.text}}}]
    parts: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, str):
            if part:
                parts.append({"text": part})
        elif isinstance(part, DocumentPart):
            parts.append({"inlineData": {"mimeType": part.media_type, "data": part.data}})
        else:
            parts.append(_image(part))
    for call in message.tool_calls:
        parts.append({"functionCall": {"name": call.name, "args": call.parsed_arguments()}})
    return parts or [{"text": ""}]


def _image(part: ImagePart) -> dict[str, Any]:
    inline = part.inline_data()
    if inline is None:
        return {"fileData": {"fileUri": part.url}}
    media_type, data = inline
    return {"inlineData": {"mimeType": media_type, "data": data}}


@dataclass(frozen=True)
class GeminiAdapter:
    """``streamGenerateContent?alt=sse``: ``usageMetadata`` is cumulative; the last one counts."""

    name: WireApi = WireApi.GEMINI
    requires_max_tokens: bool = False

    def call(self, base_url: str, key: ApiKey | None, turn: Turn, *, stream: bool) -> HttpCall:
        body = generate_body(turn.messages, turn.tools)
        config: dict[str, Any] = {}
        if turn.max_tokens is not None:
            config["maxOutputTokens"] = turn.max_tokens
        if turn.settings.temperature is not None:
            config["temperature"] = turn.settings.temperature
        if turn.settings.thinking_budget is not None:  # within maxOutputTokens, billed as output
            config["thinkingConfig"] = {"thinkingBudget": turn.settings.thinking_budget}
        if config:
            body["generationConfig"] = config
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        url = f"{base_url.rstrip('/')}/v1beta/{model_path(turn.model)}:{method}"
        return HttpCall(url, headers(key) if key else {}, body)

    def decoder(self) -> GeminiDecoder:
        return GeminiDecoder()

    def parse_response(self, body: Any) -> tuple[str, StreamState]:
        decoder = GeminiDecoder()
        deltas = decoder.read(mapping(body, "a response"), final=True)
        return "".join(d.text for d in deltas if isinstance(d, TextDelta)), decoder.state


@dataclass
class GeminiDecoder:
    """Each chunk carries candidates and the usage so far; ``finishReason`` marks the last."""

    state: StreamState = field(default_factory=StreamState)
    _queries: set[str] = field(default_factory=set)

    def feed(self, event: ServerSentEvent) -> list[Delta]:
        return self.read(mapping(json_event(event), "a chunk"), final=False)

    def read(self, chunk: dict[str, Any], *, final: bool) -> list[Delta]:
        """Deltas of one chunk (or of a whole non-streamed answer, ``final=True``)."""
        if "error" in chunk:
            raise MalformedStream(f"Gemini stopped with an error: {error_message(chunk['error'])}")
        self.state.name_model(chunk.get("modelVersion"))
        deltas: list[Delta] = []
        for candidate in sequence(chunk.get("candidates"), "the candidates"):
            candidate = mapping(candidate, "a candidate")
            content = mapping(candidate.get("content") or {}, "content")
            for part in sequence(content.get("parts"), "the parts"):
                part = mapping(part, "a part")
                if text := clean_text(part.get("text")):
                    deltas.append(ReasoningDelta(text) if part.get("thought") else TextDelta(text))
            queries = dig(candidate, "groundingMetadata", "webSearchQueries")
            self._queries.update(q for q in sequence(queries, "the searches") if isinstance(q, str))
            if candidate.get("finishReason"):
                self.state.finish_reason = clean_text(str(candidate["finishReason"]))
                self.state.finished = True
        if final:
            self.state.finished = True
        if metadata := chunk.get("usageMetadata"):
            metadata = mapping(metadata, "the usage metadata")
            response = {"usageMetadata": metadata, _SEARCHES: self._searches_billed()}
            usage = extract(response, USAGE_RULES, with_output=self.state.finished)
            if "promptTokenCount" not in metadata:
                # genai-prices reads a missing prompt count as 0 input tokens, but no request has
                # an empty prompt: keep what an earlier chunk reported, else Tallybook counts it.
                usage = replace(usage, input=self.state.usage.input)
            self.state.usage = usage
        return deltas

    def _searches_billed(self) -> int:
        """Grounding with Google Search is billed per search query from Gemini 3 on, and per
        grounded prompt before (Google's pricing page); the queries are listed in each
        candidate's ``groundingMetadata``, never in the usage."""
        if not self._queries:
            return 0
        return len(self._queries) if _PER_QUERY.search(self.state.model or "") else 1


_PER_QUERY = re.compile(r"gemini-([3-9]|\d\d)")


def _tier(response: Mapping[str, Any]) -> dict[str, str]:
    """Gemini's ``serviceTier`` (``standard``, ``flex``, ``priority``) as a price context."""
    tier = dig(response, "usageMetadata", "serviceTier")
    if isinstance(tier, str) and tier.lower() not in ("", "standard"):
        return {"service_tier": tier.lower()}
    return {}


def _with_searches(response: dict[str, Any]) -> dict[str, Any]:
    """The searches the decoder counted, as a field of the usage Tallybook reads (the usage
    kept on the request stays as Gemini sent it)."""
    searches = response.pop(_SEARCHES, 0)
    if searches and isinstance(response.get("usageMetadata"), Mapping):
        response["usageMetadata"] = {**response["usageMetadata"], _SEARCHES: searches}
    return response


_SEARCHES = "tallybook_web_searches"
USAGE_RULES = UsageRules(
    "google",
    "default",
    root="usageMetadata",
    extra=(((_SEARCHES,), "web_searches"),),
    prepare=_with_searches,
    tier=_tier,
)
