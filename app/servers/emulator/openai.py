"""OpenAI's wire protocol: Chat Completions, Responses and the model list.

Usage follows OpenAI: ``prompt_tokens`` includes ``prompt_tokens_details.cached_tokens`` and
``completion_tokens`` includes ``completion_tokens_details.reasoning_tokens`` (the Responses API's
``input_tokens`` / ``output_tokens`` likewise). A Chat Completions stream carries usage only when
``stream_options.include_usage`` is set, in one extra chunk with ``choices: []`` before
``[DONE]``; a Responses stream ends with ``response.completed`` (or ``response.incomplete``) and
no ``[DONE]``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from app.core.providers import payloads
from app.servers.emulator.replies import Prompt, Reply, is_openai_reasoning, make_reply
from app.servers.emulator.served import Served, list_price
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
    dumps,
    new_id,
    openai_error,
)

FINGERPRINT = "fp_tallybook"
MODELS = (
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-5",
    "gpt-5-mini",
    "o3",
    "o4-mini",
)


def handle(
    state: EmulatorState, call: Call, endpoint: Callable[[EmulatorState, Call], Answer]
) -> Answer:
    """Run an endpoint, turning refusals and bad requests into OpenAI error answers."""
    try:
        return endpoint(state, call)
    except Refused as refused:
        return openai_error(refused.failure, refused.fault)
    except BadRequest as error:
        return openai_error(Failure(400, "invalid", str(error)))


def api_key(call: Call) -> str:
    """The bearer key, which must be present (any non-empty key is accepted).

    Raises:
        Refused: no ``Authorization: Bearer <key>`` header.
    """
    scheme, _, key = (call.header("authorization") or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Refused(
            Failure(
                401,
                "invalid",
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        )
    return key.strip()


def list_models(state: EmulatorState, call: Call) -> Answer:
    """``GET /v1/models``."""
    api_key(call)
    return JsonAnswer(200, {"object": "list", "data": [_model(name) for name in MODELS]})


def get_model(state: EmulatorState, call: Call) -> Answer:
    """``GET /v1/models/{model}``: any name is a model here."""
    api_key(call)
    return JsonAnswer(200, _model(call.path.removeprefix("/v1/models/")))


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 1_715_367_049, "owned_by": "tallybook-demo"}


def chat_completions(state: EmulatorState, call: Call) -> Answer:
    """``POST /v1/chat/completions``, streamed or whole."""
    key = api_key(call)
    body = call.json()
    model, fault = resolve_model(state, call, body.get("model"), key, provider="openai")
    payload = payloads.from_chat_completions(body)
    limit = limit_field(body, "max_completion_tokens", "max_tokens")
    prompt = state.replies.prompt("openai", model, payload.messages, payload.tools)
    reply = make_reply(model, payload.messages, limit=limit, reasoning=is_openai_reasoning(model))
    usage = None if fault == "no-usage" else chat_usage(prompt, reply)
    state.served.add(served_reply(model, prompt, reply))
    finish = "length" if reply.truncated else "stop"
    completion_id = new_id("chatcmpl-")
    created = int(time.time())
    headers = {"x-request-id": new_id("req_")}
    if not body.get("stream"):
        answer: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": reply.text,
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": finish,
                }
            ],
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
        }
        if usage is not None:
            answer["usage"] = usage
        return JsonAnswer(200, answer, headers, fault)
    options = body.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    include_usage = include_usage and usage is not None
    base = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }

    def chunk(delta: dict[str, Any], finish_reason: str | None) -> Event:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        data: dict[str, Any] = {**base, "choices": [choice]}
        if include_usage:
            data["usage"] = None
        return Event(dumps(data))

    events = [chunk({"role": "assistant", "content": "", "refusal": None}, None)]
    events += [chunk({"content": piece}, None) for piece in reply.pieces]
    events.append(chunk({}, finish))
    if include_usage:
        events.append(Event(dumps({**base, "choices": [], "usage": usage})))
    events.append(Event("[DONE]"))
    return StreamAnswer(events, headers, fault)


def chat_usage(prompt: Prompt, reply: Reply) -> dict[str, Any]:
    """The Chat Completions usage object."""
    return {
        "prompt_tokens": prompt.tokens,
        "completion_tokens": reply.output_tokens,
        "total_tokens": prompt.tokens + reply.output_tokens,
        "prompt_tokens_details": {"cached_tokens": prompt.openai_cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reply.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def served_reply(model: str, prompt: Prompt, reply: Reply) -> Served:
    """What a reply bills, for the emulator's records (OpenAI bills it even when cut)."""
    cached = prompt.openai_cached
    now = datetime.now(UTC)
    return Served(
        now.date(),
        "openai",
        model,
        requests=1,
        input_tokens=prompt.tokens,
        output_tokens=reply.output_tokens,
        cached_input_tokens=cached,
        reasoning_tokens=reply.reasoning_tokens,
        usd=list_price(model, "openai", prompt.tokens, reply.output_tokens, cached),
        at=now,
    )


def responses_usage(prompt: Prompt, reply: Reply) -> dict[str, Any]:
    """The Responses API usage object."""
    return {
        "input_tokens": prompt.tokens,
        "input_tokens_details": {"cached_tokens": prompt.openai_cached, "cache_write_tokens": 0},
        "output_tokens": reply.output_tokens,
        "output_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
        "total_tokens": prompt.tokens + reply.output_tokens,
    }


def responses(state: EmulatorState, call: Call) -> Answer:
    """``POST /v1/responses``, streamed or whole."""
    key = api_key(call)
    body = call.json()
    model, fault = resolve_model(state, call, body.get("model"), key, provider="openai")
    payload = payloads.from_responses(body)
    limit = limit_field(body, "max_output_tokens")
    prompt = state.replies.prompt("openai", model, payload.messages, payload.tools)
    reasoning = is_openai_reasoning(model)
    reply = make_reply(model, payload.messages, limit=limit, reasoning=reasoning)
    usage = None if fault == "no-usage" else responses_usage(prompt, reply)
    state.served.add(served_reply(model, prompt, reply))
    status = "incomplete" if reply.truncated else "completed"
    response_id = new_id("resp_")
    message_id = new_id("msg_")
    created = int(time.time())
    reasoning_item: dict[str, Any] = {"id": new_id("rs_"), "type": "reasoning", "summary": []}
    part = {"type": "output_text", "annotations": [], "logprobs": [], "text": reply.text}
    message: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "status": status,
        "content": [part],
        "role": "assistant",
    }
    output = [reasoning_item, message] if reasoning else [message]

    incomplete = {"reason": "max_output_tokens"}

    def response(state: str, items: list[dict[str, Any]], final: bool) -> dict[str, Any]:
        return {
            "id": response_id,
            "object": "response",
            "created_at": created,
            "status": state,
            "background": False,
            "error": None,
            "incomplete_details": incomplete if state == "incomplete" else None,
            "instructions": body.get("instructions"),
            "max_output_tokens": limit,
            "model": model,
            "output": items,
            "parallel_tool_calls": True,
            "previous_response_id": body.get("previous_response_id"),
            "reasoning": {"effort": "medium" if reasoning else None, "summary": None},
            "service_tier": "default",
            "store": True,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": body.get("tools") or [],
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": usage if final else None,
            "user": None,
            "metadata": {},
        }

    headers = {"x-request-id": new_id("req_")}
    if not body.get("stream"):
        return JsonAnswer(200, response(status, output, final=True), headers, fault)
    events: list[Event] = []

    def emit(kind: str, **fields: Any) -> None:
        data = {"type": kind, "sequence_number": len(events), **fields}
        events.append(Event(dumps(data), kind))

    emit("response.created", response=response("in_progress", [], final=False))
    emit("response.in_progress", response=response("in_progress", [], final=False))
    index = 0
    if reasoning:
        emit("response.output_item.added", output_index=0, item=reasoning_item)
        emit("response.output_item.done", output_index=0, item=reasoning_item)
        index = 1
    emit(
        "response.output_item.added",
        output_index=index,
        item={**message, "status": "in_progress", "content": []},
    )
    place = {"item_id": message_id, "output_index": index, "content_index": 0}
    emit("response.content_part.added", **place, part={**part, "text": ""})
    for piece in reply.pieces:
        emit("response.output_text.delta", **place, delta=piece, logprobs=[])
    emit("response.output_text.done", **place, text=reply.text, logprobs=[])
    emit("response.content_part.done", **place, part=part)
    emit("response.output_item.done", output_index=index, item=message)
    emit(f"response.{status}", response=response(status, output, final=True))
    return StreamAnswer(events, headers, fault)
