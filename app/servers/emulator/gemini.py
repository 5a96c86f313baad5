"""Google Gemini's wire protocol: generateContent, streamGenerateContent (SSE), countTokens.

Served under ``/v1beta/models`` and ``/v1/models`` (where a ``GET`` is Gemini's when it carries
``x-goog-api-key`` or ``?key=``, OpenAI's otherwise).

Usage follows Gemini: ``promptTokenCount`` includes ``cachedContentTokenCount``,
``thoughtsTokenCount`` is SEPARATE from ``candidatesTokenCount`` (output is their sum), and in a
stream every chunk's ``usageMetadata`` is cumulative, so the last one holds. Gemini 2.5 and 3
models think unless ``thinkingConfig.thinkingBudget`` is 0; ``includeThoughts`` also sends the
thought summary as a part marked ``"thought": true``. Streams are served only as server-sent
events (``?alt=sse``), lines ending in CRLF as Google sends them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.core.messages import ChatMessage, ImagePart, Part, ToolCall, ToolSpec, inline_part
from app.core.providers.payloads import text_of
from app.servers.emulator.replies import Prompt, Reply, is_gemini_reasoning, make_reply
from app.servers.emulator.wire import (
    BadRequest,
    Call,
    EmulatorState,
    Refused,
    limit_field,
    resolve_model,
)
from app.servers.wire import Answer, Event, Failure, JsonAnswer, StreamAnswer, dumps, new_id

PREFIXES = ("/v1beta/models", "/v1/models")  # google-genai 2+ calls v1 by default
MODELS = {
    "gemini-2.5-pro": "Gemini 2.5 Pro",
    "gemini-2.5-flash": "Gemini 2.5 Flash",
    "gemini-2.0-flash": "Gemini 2.0 Flash",
}
_STATUSES = {
    "rate_limit": "RESOURCE_EXHAUSTED",
    "server": "INTERNAL",
    "overloaded": "UNAVAILABLE",
    "auth": "UNAUTHENTICATED",
    "not_found": "NOT_FOUND",
    "invalid": "INVALID_ARGUMENT",
    "permission": "PERMISSION_DENIED",
}


def handle(
    state: EmulatorState, call: Call, endpoint: Callable[[EmulatorState, Call], Answer]
) -> Answer:
    """Run an endpoint, turning refusals and bad requests into Gemini error answers."""
    try:
        return endpoint(state, call)
    except Refused as refused:
        return error_answer(refused.failure, refused.fault)
    except BadRequest as error:
        return error_answer(Failure(400, "invalid", str(error)))


def error_answer(failure: Failure, fault: str | None = None) -> JsonAnswer:
    """``{"error": {"code", "message", "status"}}`` with the failure's status."""
    error: dict[str, Any] = {
        "code": failure.status,
        "message": failure.message,
        "status": _STATUSES.get(failure.kind, "INVALID_ARGUMENT"),
    }
    headers: dict[str, str] = {}
    if failure.retry_after is not None:
        headers["retry-after"] = failure.retry_after
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": f"{failure.retry_after}s",
            }
        ]
    return JsonAnswer(failure.status, {"error": error}, headers, fault)


def api_key(call: Call) -> str:
    """The key from ``x-goog-api-key`` or ``?key=`` (any non-empty key is accepted).

    Raises:
        Refused: no key (403, as Google answers unregistered callers).
    """
    key = (call.header("x-goog-api-key") or call.param("key") or "").strip()
    if not key:
        raise Refused(
            Failure(
                403,
                "permission",
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to call "
                "this API.",
            )
        )
    return key


def list_models(state: EmulatorState, call: Call) -> Answer:
    """``GET /v1beta/models``."""
    api_key(call)
    return JsonAnswer(200, {"models": [_model(name) for name in MODELS]})


def get_model(state: EmulatorState, call: Call) -> Answer:
    """``GET /v1beta/models/{model}``: any name is a model here."""
    api_key(call)
    return JsonAnswer(200, _model(_model_part(call.path)))


def _model(name: str) -> dict[str, Any]:
    return {
        "name": f"models/{name}",
        "version": "001",
        "displayName": MODELS.get(name, name),
        "description": "An offline demo model served by Tallybook.",
        "inputTokenLimit": 1_048_576,
        "outputTokenLimit": 65_536,
        "supportedGenerationMethods": ["generateContent", "countTokens"],
        "thinking": is_gemini_reasoning(name),
    }


def model_action(call: Call) -> tuple[str, str]:
    """``(model, method)`` of ``/v1beta/models/{model}:{method}``."""
    model, _, method = _model_part(call.path).rpartition(":")
    return model, method


def _model_part(path: str) -> str:
    """What follows ``/v1beta/models/`` (or ``/v1/models/``) in a path."""
    for prefix in PREFIXES:
        if path.startswith(f"{prefix}/"):
            return path.removeprefix(f"{prefix}/")
    return path


def count_tokens(state: EmulatorState, call: Call) -> Answer:
    """``:countTokens`` -> ``{"totalTokens": N}``; the body is ``{"contents": ...}`` or
    ``{"generateContentRequest": {...}}``."""
    key = api_key(call)
    body = call.json()
    model, fault = resolve_model(
        state, call, model_action(call)[0], key, provider="gemini", counting=True
    )
    inner = body.get("generateContentRequest")
    request = inner if isinstance(inner, dict) else body
    messages, tools = request_messages(request)
    tokens = state.replies.count(model, messages, tools)
    details = [{"modality": "TEXT", "tokenCount": tokens}]
    return JsonAnswer(200, {"totalTokens": tokens, "promptTokensDetails": details}, {}, fault)


def generate(state: EmulatorState, call: Call) -> Answer:
    """``:generateContent`` and ``:streamGenerateContent?alt=sse``."""
    key = api_key(call)
    stream = model_action(call)[1] == "streamGenerateContent"
    if stream and call.param("alt") != "sse":
        raise BadRequest(
            "This emulator streams only as server-sent events: call "
            ":streamGenerateContent?alt=sse (the JSON-array stream is not supported)."
        )
    body = call.json()
    model, fault = resolve_model(state, call, model_action(call)[0], key, provider="gemini")
    model = model.removeprefix("models/")
    messages, tools = request_messages(body)
    config = _field(body, "generationConfig", "generation_config")
    config = config if isinstance(config, dict) else {}
    thinking = _field(config, "thinkingConfig", "thinking_config")
    thinking = thinking if isinstance(thinking, dict) else {}
    budget = _field(thinking, "thinkingBudget", "thinking_budget")
    include_thoughts = _field(thinking, "includeThoughts", "include_thoughts") is True
    limit = limit_field(config, "maxOutputTokens", "max_output_tokens")
    prompt = state.replies.prompt("gemini", model, messages, tools)
    reasoning = is_gemini_reasoning(model) and budget != 0
    reply = make_reply(model, messages, limit=limit, reasoning=reasoning)
    finish = "MAX_TOKENS" if reply.truncated else "STOP"
    response_id = new_id("")
    thought = {"text": reply.thinking, "thought": True}

    def chunk(parts: list[dict[str, Any]], candidates: int, last: bool) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if last:
            candidate["finishReason"] = finish
        data: dict[str, Any] = {"candidates": [candidate]}
        if fault != "no-usage":
            data["usageMetadata"] = usage_metadata(prompt, reply, candidates)
        return {**data, "modelVersion": model, "responseId": response_id}

    if not stream:
        parts = [thought] if reasoning and include_thoughts else []
        parts.append({"text": reply.text})
        return JsonAnswer(200, chunk(parts, reply.tokens, last=True), {}, fault)
    events: list[Event] = []
    if reasoning and include_thoughts:
        events.append(Event(dumps(chunk([thought], 0, last=False))))
    running = reply.running_tokens()
    for index, piece in enumerate(reply.pieces):
        last = index == len(reply.pieces) - 1
        events.append(Event(dumps(chunk([{"text": piece}], running[index], last))))
    if not reply.pieces:
        events.append(Event(dumps(chunk([{"text": ""}], 0, last=True))))
    return StreamAnswer(events, {}, fault, line_end="\r\n")


def usage_metadata(prompt: Prompt, reply: Reply, candidates: int) -> dict[str, Any]:
    """``usageMetadata`` after ``candidates`` text tokens (thoughts come first, all at once)."""
    cached = prompt.openai_cached
    meta: dict[str, Any] = {
        "promptTokenCount": prompt.tokens,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt.tokens + candidates + reply.reasoning_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt.tokens}],
    }
    if cached:
        meta["cachedContentTokenCount"] = cached
        meta["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": cached}]
    if reply.reasoning_tokens:
        meta["thoughtsTokenCount"] = reply.reasoning_tokens
    return meta


def request_messages(body: dict[str, Any]) -> tuple[tuple[ChatMessage, ...], tuple[ToolSpec, ...]]:
    """``systemInstruction``, ``contents`` and ``tools`` as chat messages and tool specs.

    Raises:
        BadRequest: no contents, or contents of the wrong shape.
    """
    contents = body.get("contents")
    if isinstance(contents, dict):
        contents = [contents]
    if not isinstance(contents, list) or not contents:
        raise BadRequest("* GenerateContentRequest.contents: contents is not specified")
    messages: list[ChatMessage] = []
    system = _field(body, "systemInstruction", "system_instruction")
    system_text = text_of(system.get("parts")) if isinstance(system, dict) else text_of(system)
    if system_text:
        messages.append(ChatMessage("system", system_text))
    for content in contents:
        if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
            raise BadRequest("* GenerateContentRequest.contents: each content needs parts")
        role = "assistant" if content.get("role") == "model" else "user"
        messages += _content(role, content["parts"])
    tools: list[ToolSpec] = []
    for tool in body.get("tools") or ():
        declarations = _field(tool, "functionDeclarations", "function_declarations") or ()
        for declaration in declarations if isinstance(tool, dict) else ():
            if isinstance(declaration, dict) and isinstance(declaration.get("name"), str):
                parameters = _field(declaration, "parameters", "parametersJsonSchema")
                tools.append(
                    ToolSpec(
                        declaration["name"],
                        str(declaration.get("description") or ""),
                        parameters if isinstance(parameters, dict) else {},
                    )
                )
    return tuple(messages), tuple(tools)


def _content(role: str, given: list[Any]) -> list[ChatMessage]:
    results: list[ChatMessage] = []
    parts: list[Part] = []
    calls: list[ToolCall] = []
    for part in given:
        if not isinstance(part, dict):
            raise BadRequest("* GenerateContentRequest.contents: each part must be an object")
        inline = _field(part, "inlineData", "inline_data")
        files = _field(part, "fileData", "file_data")
        call = _field(part, "functionCall", "function_call")
        answer = _field(part, "functionResponse", "function_response")
        if isinstance(part.get("text"), str):
            if not part.get("thought"):  # earlier thought summaries are not sent back
                parts.append(part["text"])
        elif isinstance(inline, dict):
            media = _field(inline, "mimeType", "mime_type") or "image/png"
            parts.append(inline_part(str(media), str(inline.get("data", ""))))
        elif isinstance(files, dict):
            parts.append(ImagePart(str(_field(files, "fileUri", "file_uri") or "")))
        elif isinstance(call, dict):
            name = str(call.get("name", ""))
            calls.append(ToolCall(str(call.get("id") or name), name, dumps(call.get("args") or {})))
        elif isinstance(answer, dict):
            name = str(answer.get("name", ""))
            text = dumps(answer.get("response") or {})
            results.append(ChatMessage("tool", text, tool_call_id=str(answer.get("id") or name)))
    if parts or calls or not results:
        first = parts[0] if len(parts) == 1 else None
        content: str | tuple[Part, ...] = first if isinstance(first, str) else tuple(parts)
        results.append(ChatMessage(role, content, tool_calls=tuple(calls)))
    return results


def _field(value: Any, camel: str, snake: str) -> Any:
    """A field under Google's JSON name or its proto (snake_case) name; both are accepted."""
    if not isinstance(value, dict):
        return None
    return value[camel] if camel in value else value.get(snake)
