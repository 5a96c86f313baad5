"""Anthropic's usage and cost reports, read from written bodies and from the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anthropic
import pytest

from app.core.keys import ApiKey
from app.core.reconcile.anthropic_usage import NO_ADMIN_API, AnthropicUsage
from app.core.reconcile.records import ReconcileError
from app.servers.emulator import Emulator
from app.servers.emulator.served import Served
from tests.support.replay_server import Answer, Recorded, ReplayServer, replay_server

ADMIN = ApiKey("sk-ant-admin01-TEST")
DAY1 = date(2025, 8, 1)
NOW = datetime(2025, 8, 3, 9, 15, 30, 123456, tzinfo=UTC)


def bucket(day: date, results: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "starting_at": f"{day.isoformat()}T00:00:00Z",
        "ending_at": f"{(day + timedelta(days=1)).isoformat()}T00:00:00Z",
        "results": results,
    }


def usage_row(
    model: str, uncached: int, five: int, hour: int, read: int, out: int
) -> dict[str, Any]:
    return {
        "uncached_input_tokens": uncached,
        "cache_creation": {"ephemeral_1h_input_tokens": hour, "ephemeral_5m_input_tokens": five},
        "cache_read_input_tokens": read,
        "output_tokens": out,
        "server_tool_use": {"web_search_requests": 0},
        "api_key_id": None,
        "workspace_id": None,
        "model": model,
        "service_tier": None,
        "context_window": None,
    }


def cost_row(model: str | None, cents: str, token_type: str | None = None) -> dict[str, Any]:
    return {
        "currency": "USD",
        "amount": cents,
        "workspace_id": None,
        "description": f"{model} Usage - Input Tokens" if model else "Web Search Usage",
        "cost_type": "tokens" if model else "web_search",
        "context_window": "0-200k" if model else None,
        "model": model,
        "service_tier": "standard" if model else None,
        "token_type": token_type,
    }


def page(buckets: list[dict[str, Any]], next_page: str | None = None) -> Answer:
    return Answer(200, {"data": buckets, "has_more": next_page is not None, "next_page": next_page})


def scripted(server: ReplayServer, answers: list[Answer]) -> None:
    server.answer = lambda request: answers.pop(0)


def query(request: Recorded) -> dict[str, list[str]]:
    return parse_qs(urlsplit(request.path).query)


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with replay_server() as replay:
        yield replay


def source(url: str, **options: Any) -> AnthropicUsage:
    return AnthropicUsage(ADMIN, url, now=lambda: NOW, **options)


def test_pages_cache_counts_and_cents(server: ReplayServer) -> None:
    day2 = DAY1 + timedelta(days=1)
    sonnet = "claude-sonnet-4-5-20250929"
    scripted(
        server,
        [
            page([bucket(DAY1, [usage_row(sonnet, 100, 20, 30, 400, 50)])], "page_next"),
            page([bucket(day2, [])]),  # an empty day
            page(
                [
                    bucket(
                        DAY1,
                        [
                            cost_row(sonnet, "123.45", "uncached_input_tokens"),
                            cost_row(sonnet, "0.0001", "cache_read_input_tokens"),
                            cost_row(None, "1000"),  # a web search: no model
                        ],
                    )
                ]
            ),
        ],
    )
    records = source(server.url).fetch(DAY1, day2)
    [row] = records.days
    assert (row.day, row.model) == (DAY1, sonnet)
    assert (row.input_tokens, row.cached_input_tokens, row.output_tokens) == (550, 400, 50)
    assert row.usd == Decimal("1.234501")  # cents to dollars, exactly
    assert records.unattributed_usd == ((DAY1, Decimal("10")),)
    first, second, cost = server.requests
    assert first.path.startswith("/v1/organizations/usage_report/messages?")
    assert first.headers["x-api-key"] == ADMIN.secret
    assert first.headers["anthropic-version"] == "2023-06-01"
    assert query(first)["group_by[]"] == ["model"] and query(first)["bucket_width"] == ["1d"]
    assert query(second)["page"] == ["page_next"]
    assert cost.path.startswith("/v1/organizations/cost_report?")
    assert query(cost)["group_by[]"] == ["description"]


def test_the_end_is_never_in_the_future(server: ReplayServer) -> None:
    scripted(server, [page([]), page([])])
    source(server.url).fetch(DAY1, date(2031, 1, 1))
    for request in server.requests:
        assert query(request)["starting_at"] == ["2025-08-01T00:00:00Z"]
        assert query(request)["ending_at"] == ["2025-08-03T09:15:30Z"]


@pytest.mark.parametrize("status", [401, 403, 404])
def test_a_key_without_the_admin_api_is_told_plainly(server: ReplayServer, status: int) -> None:
    body = {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
    }
    server.answer = Answer(status, body)
    with pytest.raises(ReconcileError) as raised:
        source(server.url).fetch(DAY1, DAY1)
    assert str(raised.value) == NO_ADMIN_API
    assert ADMIN.secret not in str(raised.value)


@pytest.mark.parametrize(("status", "words"), [(429, "limiting"), (529, "unavailable")])
def test_passing_failures_are_sentences(server: ReplayServer, status: int, words: str) -> None:
    server.answer = Answer(status, {}, headers={"retry-after": "0"})
    with pytest.raises(ReconcileError, match=words) as raised:
        source(server.url, retries=0).fetch(DAY1, DAY1)
    assert str(raised.value).endswith(".")


def test_the_emulator_reports_what_it_served() -> None:
    today = datetime.now(UTC).date()
    outside = Served(
        today, "anthropic", "claude-haiku-4-5", requests=1, input_tokens=70, output_tokens=7
    )
    system = [
        {"type": "text", "text": "Keep to the facts. " * 50, "cache_control": {"type": "ephemeral"}}
    ]
    with Emulator(outside=[outside]) as emu:
        with anthropic.Anthropic(base_url=emu.url, api_key="demo", max_retries=0) as client:
            replies = [
                client.messages.create(
                    model="claude-sonnet-4-5",
                    max_tokens=200,
                    system=system,  # type: ignore[arg-type]
                    messages=[
                        {"role": "user", "content": "first"},
                        {"role": "assistant", "content": "ok"},
                        {"role": "user", "content": f"/words {n}"},
                    ],
                )
                for n in (3, 9)
            ]
        records = AnthropicUsage(ADMIN, emu.url).fetch(
            today - timedelta(days=1), today + timedelta(days=2)
        )
    haiku, sonnet = records.days
    assert (haiku.model, haiku.input_tokens, haiku.output_tokens) == ("claude-haiku-4-5", 70, 7)
    used = [reply.usage for reply in replies]
    total_input = sum(
        u.input_tokens + (u.cache_creation_input_tokens or 0) + (u.cache_read_input_tokens or 0)
        for u in used
    )
    assert sonnet.model == "claude-sonnet-4-5" and sonnet.day == today
    assert sonnet.input_tokens == total_input
    assert sonnet.cached_input_tokens == sum(u.cache_read_input_tokens or 0 for u in used) > 0
    assert sonnet.output_tokens == sum(u.output_tokens for u in used)
    assert sonnet.usd is not None and sonnet.usd > 0 and haiku.usd is not None


def test_the_emulator_refuses_a_standard_key() -> None:
    standard = ApiKey("sk-ant-api03-NOTADMIN")
    with Emulator() as emu, pytest.raises(ReconcileError) as raised:
        AnthropicUsage(standard, emu.url).fetch(DAY1, DAY1)
    assert str(raised.value) == NO_ADMIN_API
