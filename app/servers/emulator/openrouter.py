"""OpenRouter under ``/api/v1``: chat completions that report their cost, and its billing records.

- ``POST /api/v1/chat/completions``: the OpenAI emulator's reply, with OpenRouter's marks: a
  ``gen-…`` id, and ``usage.cost`` (USD, the shipped price table's OpenRouter list price),
  ``is_byok`` and ``cost_details``. Each reply is tallied under ``openrouter`` and its id.
- ``GET /api/v1/generation?id=``: that reply's record, ``{"data": {"total_cost", ...}}``. Like
  OpenRouter's, it appears only a moment after the reply: the first
  :data:`LOOKUPS_BEFORE_READY` lookups of each id answer 404.
- ``GET /api/v1/key``: the key's spend today, this UTC week (from Monday) and month, and in all.
- ``GET /api/v1/activity``: the last 30 completed UTC days by day and model (``date=`` for one
  day; a day outside them is a 400). It needs a management key: a key with
  :data:`INFERENCE_ONLY` in it is a chat key here, refused with OpenRouter's 403.

Errors are OpenRouter's ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from app.servers.emulator import openai
from app.servers.emulator.admin import fault_refusal
from app.servers.emulator.served import Served, ServedTally, list_price
from app.servers.emulator.wire import BadRequest, Call, EmulatorState, Refused
from app.servers.wire import Answer, Event, Failure, JsonAnswer, dumps, new_id

PREFIX = "/api/v1"
PROVIDER = "openrouter"
INFERENCE_ONLY = "inference-only"
"""A key holding this is not a management key (the emulator takes any key otherwise)."""
ACTIVITY_DAYS = 30
LOOKUPS_BEFORE_READY = 1


def route(state: EmulatorState, call: Call) -> Answer | None:
    """The answer when ``call`` is for one of OpenRouter's paths, else ``None``."""
    path = call.path.rstrip("/")
    if not path.startswith(PREFIX + "/"):
        return None
    endpoint = {
        ("POST", "/chat/completions"): chat_completions,
        ("GET", "/generation"): generation,
        ("GET", "/key"): key,
        ("GET", "/activity"): activity,
    }.get((call.method, path.removeprefix(PREFIX)))
    if endpoint is None:
        return None
    try:
        return endpoint(state, call)
    except Refused as refused:
        return _error(refused.failure.status, refused.failure.message, refused.failure)
    except BadRequest as error:
        return _error(400, str(error))


def _error(status: int, message: str, failure: Failure | None = None) -> JsonAnswer:
    headers = {"retry-after": failure.retry_after} if failure and failure.retry_after else {}
    return JsonAnswer(status, {"error": {"code": status, "message": message}}, headers)


def chat_completions(state: EmulatorState, call: Call) -> Answer:
    """The OpenAI emulator's answer as OpenRouter words it, tallied as OpenRouter's."""
    scratch = ServedTally()  # what the OpenAI handler tallies is re-tallied here as OpenRouter's
    answer = openai.chat_completions(replace(state, served=scratch), call)
    if isinstance(answer, JsonAnswer) and answer.status >= 400:
        return answer
    generation_id = new_id("gen-")
    served = _priced(scratch)
    if served is not None:
        state.served.add(served, generation_id)
    if isinstance(answer, JsonAnswer):
        return replace(answer, body=_marked(answer.body, generation_id, served))
    events = [
        event if event.data == "[DONE]" else _marked_event(event, generation_id, served)
        for event in answer.events
    ]
    return replace(answer, events=events)


def _marked_event(event: Event, generation_id: str, served: Served | None) -> Event:
    return Event(dumps(_marked(json.loads(event.data), generation_id, served)), event.name)


def _priced(scratch: ServedTally) -> Served | None:
    """The one reply the OpenAI handler tallied, at OpenRouter's price, as OpenRouter's."""
    rows = scratch.rows("openai")
    if not rows:
        return None
    reply = rows[0]
    usd = list_price(
        reply.model, PROVIDER, reply.input_tokens, reply.output_tokens, reply.cached_input_tokens
    )
    return replace(reply, provider=PROVIDER, usd=usd, at=datetime.now(UTC))


def _marked(body: dict[str, Any], generation_id: str, served: Served | None) -> dict[str, Any]:
    """A chat answer or chunk with OpenRouter's id, and its cost beside a reported usage."""
    marked = {**body, "id": generation_id}
    usage = body.get("usage")
    if isinstance(usage, dict) and served is not None:
        marked["usage"] = {
            **usage,
            "cost": float(served.usd),
            "is_byok": False,
            "cost_details": {"upstream_inference_cost": None},
        }
    return marked


def generation(state: EmulatorState, call: Call) -> Answer:
    """``GET /api/v1/generation?id=``: one reply's record, once it is "ready"."""
    api_key = openai.api_key(call)
    fault_refusal(state, call, api_key, PROVIDER)
    generation_id = call.param("id") or ""
    served, asked = state.served.reply(generation_id)
    if served is None or asked < LOOKUPS_BEFORE_READY:
        return _error(404, f"Generation {generation_id} not found")
    created = served.at or datetime.now(UTC)
    cost = float(served.usd)
    return JsonAnswer(
        200,
        {
            "data": {
                "id": generation_id,
                "upstream_id": new_id("chatcmpl-"),
                "total_cost": cost,
                "cache_discount": None,
                "upstream_inference_cost": None,
                "created_at": created.isoformat().replace("+00:00", "Z"),
                "model": served.model,
                "app_id": None,
                "streamed": True,
                "cancelled": False,
                "provider_name": _maker(served.model),
                "latency": 120,
                "moderation_latency": None,
                "generation_time": 480,
                "finish_reason": "stop",
                "native_finish_reason": "stop",
                "tokens_prompt": served.input_tokens,
                "tokens_completion": served.output_tokens,
                "native_tokens_prompt": served.input_tokens,
                "native_tokens_completion": served.output_tokens,
                "native_tokens_completion_images": None,
                "native_tokens_reasoning": served.reasoning_tokens,
                "native_tokens_cached": served.cached_input_tokens,
                "num_media_prompt": None,
                "num_media_completion": None,
                "num_search_results": None,
                "origin": "",
                "usage": cost,
                "is_byok": False,
                "api_type": "completions",
            }
        },
    )


def key(state: EmulatorState, call: Call) -> Answer:
    """``GET /api/v1/key``: the current key's spend (every OpenRouter reply served)."""
    api_key = openai.api_key(call)
    fault_refusal(state, call, api_key, PROVIDER)
    today = datetime.now(UTC).date()
    spent = {
        "usage": state.served.spent(PROVIDER),
        "usage_daily": state.served.spent(PROVIDER, today),
        "usage_weekly": state.served.spent(PROVIDER, today - timedelta(days=today.weekday())),
        "usage_monthly": state.served.spent(PROVIDER, today.replace(day=1)),
    }
    data: dict[str, Any] = {
        "label": f"sk-or-v1-{api_key[-3:]}...",
        "limit": None,
        "limit_remaining": None,
        "limit_reset": None,
        "include_byok_in_limit": False,
        "is_free_tier": False,
        "is_management_key": INFERENCE_ONLY not in api_key,
        "is_provisioning_key": INFERENCE_ONLY not in api_key,
        "creator_user_id": None,
        "expires_at": None,
        "rate_limit": {"requests": -1, "interval": "10s", "note": "This field is deprecated"},
    }
    for name, usd in spent.items():
        data[name] = float(usd)
        data[f"byok_{name}"] = 0
    return JsonAnswer(200, {"data": data})


def activity(state: EmulatorState, call: Call) -> Answer:
    """``GET /api/v1/activity``: the last 30 completed days, by day and model."""
    api_key = openai.api_key(call)
    if INFERENCE_ONLY in api_key:
        return _error(403, "Only management keys can fetch activity")
    fault_refusal(state, call, api_key, PROVIDER)
    today = datetime.now(UTC).date()
    first, last = today - timedelta(days=ACTIVITY_DAYS), today - timedelta(days=1)
    if asked := call.param("date"):
        try:
            first = last = _within(date.fromisoformat(asked), first, last)
        except ValueError:
            return _error(400, "Invalid date format or date range")
    rows = [s for s in state.served.rows(PROVIDER) if first <= s.day <= last]
    return JsonAnswer(200, {"data": [_activity_row(s) for s in rows]})


def _within(day: date, first: date, last: date) -> date:
    if not first <= day <= last:
        raise ValueError(day)
    return day


def _activity_row(served: Served) -> dict[str, Any]:
    return {
        "date": served.day.isoformat(),
        "model": served.model,
        "model_permaslug": served.model,
        "endpoint_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"openrouter:{served.model}")),
        "provider_name": _maker(served.model),
        "usage": float(served.usd),
        "byok_usage_inference": 0,
        "requests": served.requests,
        "prompt_tokens": served.input_tokens,
        "completion_tokens": served.output_tokens,
        "reasoning_tokens": served.reasoning_tokens,
    }


def _maker(model: str) -> str:
    """The provider that "served" a model: its maker, from the slug (``openai/…``)."""
    maker = model.split("/", 1)[0] if "/" in model else "tallybook"
    return {"openai": "OpenAI", "anthropic": "Anthropic", "google": "Google"}.get(
        maker, maker.title()
    )
