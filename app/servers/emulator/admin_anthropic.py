"""Anthropic's Admin API usage and cost reports, as the emulator serves them.

``GET /v1/organizations/usage_report/messages`` (daily buckets from ``starting_at``, RFC 3339,
required, to ``ending_at``; ``group_by[]=model`` gives a row per model, else one a day; an
empty day is ``results: []``) and ``GET /v1/organizations/cost_report`` (``group_by[]=description``
gives a row per model and token type, naming the ``model``; ``amount`` is a decimal string in
cents). ``limit`` is 1-31, default 7, for both. Only an admin key (``sk-ant-admin…``) may read
them; any other key gets Anthropic's 401.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from app.servers.emulator import anthropic
from app.servers.emulator.admin import (
    DAY,
    by_day,
    fault_refusal,
    not_admin,
    page_of,
    unit_credits,
    usage_buckets,
)
from app.servers.emulator.served import Served
from app.servers.emulator.wire import BadRequest, Call, EmulatorState
from app.servers.wire import Answer, JsonAnswer, new_id

USAGE_PATH = "/v1/organizations/usage_report/messages"
COST_PATH = "/v1/organizations/cost_report"
ADMIN_PREFIX = "sk-ant-admin"
TOKEN_TYPES = {
    "prompt": ("uncached_input_tokens", "Input Tokens"),
    "cache_write": ("cache_creation.ephemeral_5m_input_tokens", "Cache Write (5m) Tokens"),
    "cache_write_1h": ("cache_creation.ephemeral_1h_input_tokens", "Cache Write (1h) Tokens"),
    "cache_read": ("cache_read_input_tokens", "Cache Read Tokens"),
    "completion": ("output_tokens", "Output Tokens"),
}
CENTS_PER_CREDIT = Decimal(1).scaleb(-4)  # a credit is a millionth of a dollar


def usage(state: EmulatorState, call: Call) -> Answer:
    """``GET /v1/organizations/usage_report/messages``."""
    return anthropic.handle(state, call, _usage)


def cost(state: EmulatorState, call: Call) -> Answer:
    """``GET /v1/organizations/cost_report``."""
    return anthropic.handle(state, call, _cost)


def _usage(state: EmulatorState, call: Call) -> Answer:
    window = _window(state, call)
    return _page(*usage_buckets(state, call, "anthropic", window, _usage_result, _bucket))


def _cost(state: EmulatorState, call: Call) -> Answer:
    start, end = _window(state, call)
    page = page_of(start, end, call, most=31)
    per_description = "description" in call.query.get("group_by[]", ())
    served = by_day(state.served.rows("anthropic"))
    buckets = []
    for day in page.days:
        results = []
        summed = Decimal(0)
        for row in served.get(day, []):
            for unit, credits in unit_credits(row).items():
                summed += credits
                results.append(_cost_result(credits, row.model, unit))
        if not per_description and results:
            results = [_cost_result(summed, None, None)]
        buckets.append(_bucket(day, results))
    return _page(buckets, page.next_page)


def _window(state: EmulatorState, call: Call) -> tuple[datetime, datetime]:
    key = anthropic.api_key(call)
    if not key.startswith(ADMIN_PREFIX):
        raise not_admin("invalid x-api-key")
    fault_refusal(state, call, key, "anthropic")
    start = _moment(call.param("starting_at"), "starting_at")
    if start is None:
        raise BadRequest("starting_at: Field required")
    end = _moment(call.param("ending_at"), "ending_at") or datetime.now(UTC)
    return start, end


def _moment(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name}: Input should be a valid RFC 3339 datetime") from None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _rfc3339(day: date) -> str:
    return datetime.combine(day, time(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bucket(day: date, results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"starting_at": _rfc3339(day), "ending_at": _rfc3339(day + DAY), "results": results}


def _page(buckets: list[dict[str, Any]], next_page: str | None) -> JsonAnswer:
    body = {"data": buckets, "has_more": next_page is not None, "next_page": next_page}
    return JsonAnswer(200, body, {"request-id": new_id("req_")})


def _usage_result(row: Served, model: str | None) -> dict[str, Any]:
    written = row.cache_write_tokens + row.cache_write_1h_tokens
    return {
        "uncached_input_tokens": row.input_tokens - row.cached_input_tokens - written,
        "cache_creation": {
            "ephemeral_1h_input_tokens": row.cache_write_1h_tokens,
            "ephemeral_5m_input_tokens": row.cache_write_tokens,
        },
        "cache_read_input_tokens": row.cached_input_tokens,
        "output_tokens": row.output_tokens,
        "server_tool_use": {"web_search_requests": 0},
        "api_key_id": None,
        "workspace_id": None,
        "model": model,
        "service_tier": None,
        "context_window": None,
        "inference_geo": None,
    }


def _cost_result(credits: Decimal, model: str | None, unit: str | None) -> dict[str, Any]:
    token_type, label = TOKEN_TYPES.get(unit or "", (unit, unit))
    described = model is not None
    return {
        "currency": "USD",
        "amount": format((credits * CENTS_PER_CREDIT).normalize(), "f"),
        "workspace_id": None,
        "description": f"{model} Usage - {label}" if described else None,
        "cost_type": "tokens" if described else None,
        "context_window": "0-200k" if described else None,
        "model": model,
        "service_tier": "standard" if described else None,
        "token_type": token_type if described else None,
        "inference_geo": None,
    }
