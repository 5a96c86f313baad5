"""Anthropic's wire protocol: Messages (streamed or whole), token counting, the model list.

Usage follows Anthropic: ``input_tokens`` EXCLUDES the cache counts (total input is
``input_tokens + cache_creation_input_tokens + cache_read_input_tokens``), thinking is billed in
``output_tokens``, ``message_start`` carries the input and cache counts, and ``message_delta``'s
``usage`` is cumulative. Prompt caching happens only for requests with a ``cache_control``
marker: the messages before the last are written to the cache the first time (``ttl: "1h"`` on
any marker makes it a 1-hour write, else 5 minutes) and read from it afterwards.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from app.core.money import credits_to_usd
from app.core.providers import payloads
from app.servers.emulator.admin import unit_credits
from app.servers.emulator.replies import Prompt, Reply, make_reply, pieces
from app.servers.emulator.served import Served
from app.servers.emulator.wire import (
    BadRequest,
    Call,
    EmulatorState,
    Refused,
    limit_field,
    resolve_model,
)
from app.servers.wire import (
    Answer,
    Event,
    Failure,
    JsonAnswer,
    StreamAnswer,
    anthropic_error,
    dumps,
    new_id,
)

MODELS = {
    "claude-opus-4-5": "Claude Opus 4.5",
    "claude-sonnet-4-5": "Claude Sonnet 4.5",
    "claude-haiku-4-5": "Claude Haiku 4.5",
}


def handle(
    state: EmulatorState, call: Call, endpoint: Callable[[EmulatorState, Call], Answer]
) -> Answer:
    """Run an endpoint, turning refusals and bad requests into Anthropic error answers."""
    try:
        return endpoint(state, call)
    except Refused as refused:
        return anthropic_error(refused.failure, refused.fault)
    except BadRequest as error:
        return anthropic_error(Failure(400, "invalid", str(error)))


def api_key(call: Call) -> str:
    """The key (any non-empty one) after checking that ``anthropic-version`` is sent.

    The key comes in ``x-api-key``, or as ``Authorization: Bearer`` which the 2.x SDKs send.

    Raises:
        Refused: no key (401) or no version header (400).
    """
    key = (call.header("x-api-key") or "").strip()
    if not key:
        scheme, _, bearer = (call.header("authorization") or "").strip().partition(" ")
        key = bearer.strip() if scheme.lower() == "bearer" else ""
    if not key:
        raise Refused(Failure(401, "auth", "x-api-key header is required"))
    if not (call.header("anthropic-version") or "").strip():
        raise Refused(Failure(400, "invalid", "anthropic-version: header is required"))
    return key


def list_models(state: EmulatorState, call: Call) -> Answer:
    """``GET /v1/models``."""
    api_key(call)
    data = [_model(name) for name in MODELS]
    return JsonAnswer(
        200, {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]}
    )


def get_model(state: EmulatorState, call: Call) -> Answer:
    """``GET /v1/models/{model}``: any name is a model here."""
    api_key(call)
    return JsonAnswer(200, _model(call.path.removeprefix("/v1/models/")))


def _model(name: str) -> dict[str, Any]:
    return {
        "type": "model",
        "id": name,
        "display_name": MODELS.get(name, name),
        "created_at": "2025-09-29T00:00:00Z",
    }


def count_tokens(state: EmulatorState, call: Call) -> Answer:
    """``POST /v1/messages/count_tokens`` -> ``{"input_tokens": N}``."""
    key = api_key(call)
    body = call.json()
    model, fault = resolve_model(
        state, call, body.get("model"), key, provider="anthropic", counting=True
    )
    payload = payloads.from_anthropic(body)
    tokens = state.replies.count(model, payload.messages, payload.tools)
    return JsonAnswer(200, {"input_tokens": tokens}, {"request-id": new_id("req_")}, fault)


def create_message(state: EmulatorState, call: Call) -> Answer:
    """``POST /v1/messages``, streamed or whole."""
    key = api_key(call)
    body = call.json()
    model, fault = resolve_model(state, call, body.get("model"), key, provider="anthropic")
    limit = limit_field(body, "max_tokens")
    if limit is None:
        raise BadRequest("max_tokens: Field required")
    payload = payloads.from_anthropic(body)
    messages = payload.messages
    markers = cache_markers(body)
    prompt = state.replies.prompt(
        "anthropic", model, messages, payload.tools, caching=bool(markers)
    )
    thinking = body.get("thinking")
    reasoning = isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")
    reply = make_reply(model, messages, limit=limit, reasoning=reasoning)
    billed = message_usage(prompt, reply, markers)
    state.served.add(served_reply(model, billed, reply))
    usage = None if fault == "no-usage" else billed
    stop_reason = "max_tokens" if reply.truncated else "end_turn"
    signature = base64.b64encode(hashlib.sha256(reply.thinking.encode()).digest()).decode()
    message: dict[str, Any] = {
        "id": new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
    }
    headers = {"request-id": new_id("req_")}
    if not body.get("stream"):
        content: list[dict[str, Any]] = []
        if reasoning:
            content.append({"type": "thinking", "thinking": reply.thinking, "signature": signature})
        content.append({"type": "text", "text": reply.text})
        whole = {**message, "content": content, "stop_reason": stop_reason}
        if usage is not None:
            whole["usage"] = usage
        return JsonAnswer(200, whole, headers, fault)
    events: list[Event] = []

    def emit(kind: str, **fields: Any) -> None:
        events.append(Event(dumps({"type": kind, **fields}), kind))

    if usage is not None:
        message["usage"] = {**usage, "output_tokens": 1}
        message["usage"].pop("output_tokens_details", None)
    emit("message_start", message=message)
    index = 0
    if reasoning:
        emit(
            "content_block_start",
            index=0,
            content_block={"type": "thinking", "thinking": "", "signature": ""},
        )
        emit("ping")
        for piece in pieces(reply.thinking):
            emit(
                "content_block_delta", index=0, delta={"type": "thinking_delta", "thinking": piece}
            )
        emit(
            "content_block_delta",
            index=0,
            delta={"type": "signature_delta", "signature": signature},
        )
        emit("content_block_stop", index=0)
        index = 1
    emit("content_block_start", index=index, content_block={"type": "text", "text": ""})
    if not reasoning:
        emit("ping")
    for piece in reply.pieces:
        emit("content_block_delta", index=index, delta={"type": "text_delta", "text": piece})
    emit("content_block_stop", index=index)
    delta = {"stop_reason": stop_reason, "stop_sequence": None}
    if usage is not None:
        final = {
            key: usage[key]
            for key in (
                "input_tokens",
                "cache_creation_input_tokens",
                "cache_read_input_tokens",
                "output_tokens",
                "output_tokens_details",
            )
            if key in usage
        }
        emit("message_delta", delta=delta, usage=final)
    else:
        emit("message_delta", delta=delta)
    emit("message_stop")
    return StreamAnswer(events, headers, fault)


def message_usage(prompt: Prompt, reply: Reply, markers: list[dict[str, Any]]) -> dict[str, Any]:
    """The Messages usage object; the input count leaves out what was written to or read from the
    cache."""
    read = prompt.seen_tokens if markers else 0
    written = max(prompt.prefix_tokens - read, 0) if markers else 0
    one_hour = any(marker.get("ttl") == "1h" for marker in markers)
    usage: dict[str, Any] = {
        "input_tokens": prompt.tokens - read - written,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": 0 if one_hour else written,
            "ephemeral_1h_input_tokens": written if one_hour else 0,
        },
        "output_tokens": reply.output_tokens,
        "service_tier": "standard",
    }
    if reply.reasoning_tokens:
        usage["output_tokens_details"] = {"thinking_tokens": reply.reasoning_tokens}
    return usage


def served_reply(model: str, usage: dict[str, Any], reply: Reply) -> Served:
    """What a reply bills, for the emulator's records (Anthropic bills it even when cut)."""
    writes = usage["cache_creation"]
    written = writes["ephemeral_5m_input_tokens"] + writes["ephemeral_1h_input_tokens"]
    read = usage["cache_read_input_tokens"]
    now = datetime.now(UTC)
    served = Served(
        now.date(),
        "anthropic",
        model,
        requests=1,
        input_tokens=usage["input_tokens"] + written + read,
        output_tokens=reply.output_tokens,
        cached_input_tokens=read,
        reasoning_tokens=reply.reasoning_tokens,
        cache_write_tokens=writes["ephemeral_5m_input_tokens"],
        cache_write_1h_tokens=writes["ephemeral_1h_input_tokens"],
        at=now,
    )
    return replace(served, usd=credits_to_usd(sum(unit_credits(served).values(), Decimal(0))))


def cache_markers(value: Any) -> list[dict[str, Any]]:
    """Every ``cache_control`` object anywhere in the request (system, messages, tools, top)."""
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "cache_control" and isinstance(item, dict):
                found.append(item)
            else:
                found += cache_markers(item)
    elif isinstance(value, list):
        for item in value:
            found += cache_markers(item)
    return found
