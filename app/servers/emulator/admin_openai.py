"""OpenAI's organisation Usage and Costs APIs, as the emulator serves them.

``GET /v1/organization/usage/completions`` (daily buckets; ``group_by[]=model`` gives a row per
model, else one row a day; ``limit`` 1-31, default 7) and ``GET /v1/organization/costs`` (daily;
``group_by[]=line_item`` gives ``"<model>, input"``, ``"<model>, cached input"`` and
``"<model>, output"`` lines, else one a day; ``limit`` 1-180), from ``start_time`` (unix seconds,
required) to ``end_time`` (exclusive, default now). ``input_tokens`` includes
``input_cached_tokens``; ``amount.value`` is a USD float. Only an admin key (``sk-admin-…``) may
read them; any other key gets OpenAI's 401 for missing scopes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from app.core.money import credits_to_usd
from app.servers.emulator import openai
from app.servers.emulator.admin import (
    by_day,
    fault_refusal,
    not_admin,
    page_of,
    unit_credits,
    usage_buckets,
)
from app.servers.emulator.served import Served
from app.servers.emulator.wire import BadRequest, Call, EmulatorState
from app.servers.wire import Answer, JsonAnswer

USAGE_PATH = "/v1/organization/usage/completions"
COSTS_PATH = "/v1/organization/costs"
ADMIN_PREFIX = "sk-admin-"
MISSING_SCOPES = (
    "You have insufficient permissions for this operation. Missing scopes: api.usage.read. Check"
    " that you have the correct role in your organization (Owner), and if you're using a"
    " restricted API key, that it has the necessary scopes."
)
LINE_PARTS = {"prompt": "input", "cache_read": "cached input", "completion": "output"}


def usage(state: EmulatorState, call: Call) -> Answer:
    """``GET /v1/organization/usage/completions``."""
    return openai.handle(state, call, _usage)


def costs(state: EmulatorState, call: Call) -> Answer:
    """``GET /v1/organization/costs``."""
    return openai.handle(state, call, _costs)


def _usage(state: EmulatorState, call: Call) -> Answer:
    window = _window(state, call)
    return _page(*usage_buckets(state, call, "openai", window, _usage_result, _bucket))


def _costs(state: EmulatorState, call: Call) -> Answer:
    start, end = _window(state, call)
    page = page_of(start, end, call, most=180)
    per_line = "line_item" in call.query.get("group_by[]", ())
    served = by_day(state.served.rows("openai"))
    buckets = []
    for day in page.days:
        lines: list[tuple[str | None, Decimal]] = []
        for row in served.get(day, []):
            for unit, credits in unit_credits(row).items():
                lines.append((f"{row.model}, {LINE_PARTS.get(unit, unit)}", credits))
        if not per_line and lines:
            lines = [(None, sum((credits for _, credits in lines), Decimal(0)))]
        buckets.append(_bucket(day, [_cost_result(line, credits) for line, credits in lines]))
    return _page(buckets, page.next_page)


def _window(state: EmulatorState, call: Call) -> tuple[datetime, datetime]:
    key = openai.api_key(call)
    if not key.startswith(ADMIN_PREFIX):
        raise not_admin(MISSING_SCOPES)
    fault_refusal(state, call, key, "openai")
    start = _unix(call.param("start_time"), "start_time")
    if start is None:
        raise BadRequest("start_time is required.")
    end = _unix(call.param("end_time"), "end_time") or datetime.now(UTC)
    return start, end


def _unix(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except ValueError:
        raise BadRequest(f"{name} must be unix seconds, not {value!r}.") from None


def _bucket(day: Any, results: list[dict[str, Any]]) -> dict[str, Any]:
    start = int(datetime.combine(day, datetime.min.time(), UTC).timestamp())
    return {"object": "bucket", "start_time": start, "end_time": start + 86_400, "results": results}


def _page(buckets: list[dict[str, Any]], next_page: str | None) -> JsonAnswer:
    body = {"object": "page", "data": buckets, "has_more": next_page is not None}
    return JsonAnswer(200, {**body, "next_page": next_page})


def _usage_result(row: Served, model: str | None) -> dict[str, Any]:
    return {
        "object": "organization.usage.completions.result",
        "input_tokens": row.input_tokens,
        "output_tokens": row.output_tokens,
        "input_cached_tokens": row.cached_input_tokens,
        "input_audio_tokens": 0,
        "output_audio_tokens": 0,
        "num_model_requests": row.requests,
        "project_id": None,
        "user_id": None,
        "api_key_id": None,
        "model": model,
        "batch": None,
        "service_tier": None,
    }


def _cost_result(line: str | None, credits: Decimal) -> dict[str, Any]:
    return {
        "object": "organization.costs.result",
        "amount": {"value": float(credits_to_usd(credits)), "currency": "usd"},
        "line_item": line,
        "project_id": None,
        "api_key_id": None,
        "quantity": None,
    }
