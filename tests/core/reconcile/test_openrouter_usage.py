"""OpenRouter's activity (management key) and key summary (chat key), from written bodies and
from the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from app.core.keys import ApiKey
from app.core.reconcile.openrouter_usage import (
    REFUSED,
    OpenRouterActivity,
    OpenRouterKeySummary,
    openrouter_source,
)
from app.core.reconcile.records import EVERY_MODEL, ProviderDay, ReconcileError
from app.servers.emulator import Emulator
from app.servers.emulator.served import Served
from tests.support.replay_server import Answer, ReplayServer, replay_server

MANAGEMENT = ApiKey("sk-test-or-mgmt-0123456789abcdefghij")
CHAT = ApiKey("sk-test-or-chat-0123456789abcdefghij")
NOW = datetime(2025, 8, 26, 15, 30)  # naive UTC, as the ledger's clock
YESTERDAY = date(2025, 8, 25)


def row(day: str, model: str, provider: str, usage: float, **counts: Any) -> dict[str, Any]:
    """An activity row in OpenRouter's documented shape."""
    return {
        "date": day,
        "model": model,
        "model_permaslug": f"{model}-2025-04-14",
        "endpoint_id": "550e8400-e29b-41d4-a716-446655440000",
        "provider_name": provider,
        "usage": usage,
        "byok_usage_inference": counts.pop("byok", 0.0),
        "requests": counts.pop("requests", 5),
        "prompt_tokens": counts.pop("prompt", 50),
        "completion_tokens": counts.pop("completion", 125),
        "reasoning_tokens": counts.pop("reasoning", 25),
    }


def key_body(**figures: float) -> dict[str, Any]:
    data: dict[str, Any] = {
        "label": "sk-or-v1-abc...123",
        "limit": 100,
        "limit_remaining": 74.5,
        "limit_reset": "monthly",
        "include_byok_in_limit": False,
        "is_free_tier": False,
        "is_management_key": False,
        "is_provisioning_key": False,
        "creator_user_id": None,
        "expires_at": None,
    }
    for name in ("usage", "usage_daily", "usage_weekly", "usage_monthly"):
        data[name] = figures.get(name, 0.0)
        data[f"byok_{name}"] = figures.get(f"byok_{name}", 0.0)
    return {"data": data}


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with replay_server() as replay:
        yield replay


def activity(server: ReplayServer, **options: Any) -> OpenRouterActivity:
    return OpenRouterActivity(
        MANAGEMENT, base_url=f"{server.url}/api/v1", now=lambda: NOW, **options
    )


def test_activity_sums_endpoints_per_day_and_model_byok_included(server: ReplayServer) -> None:
    server.answer = Answer(
        200,
        {
            "data": [
                row("2025-08-24", "openai/gpt-4.1", "OpenAI", 0.015, byok=0.012),
                row("2025-08-24", "openai/gpt-4.1", "Azure", 0.1, prompt=1000, completion=10),
                row("2025-08-25", "anthropic/claude-sonnet-4", "Anthropic", 0.3),
            ]
        },
    )
    records = activity(server).fetch(date(2025, 8, 24), date(2025, 8, 25))
    assert records.days == (
        ProviderDay(date(2025, 8, 24), "openai/gpt-4.1", 1050, 135, 0, Decimal("0.127")),
        ProviderDay(YESTERDAY, "anthropic/claude-sonnet-4", 50, 125, 0, Decimal("0.3")),
    )
    (request,) = server.requests
    assert urlsplit(request.path).path == "/api/v1/activity"
    assert request.headers["authorization"] == f"Bearer {MANAGEMENT.secret}"
    assert parse_qs(urlsplit(request.path).query) == {}  # every day comes in one answer


def test_activity_covers_only_the_completed_days_of_the_last_thirty(server: ReplayServer) -> None:
    server.answer = Answer(200, {"data": [row("2025-08-25", "openai/gpt-4o", "OpenAI", 0.5)]})
    records = activity(server).fetch(date(2025, 6, 1), date(2025, 9, 30))
    assert (records.since, records.until) == (date(2025, 7, 27), YESTERDAY)
    assert [d.usd for d in records.days] == [Decimal("0.5")]
    nothing = activity(server).fetch(NOW.date(), NOW.date())  # today is not completed yet
    assert nothing.days == () and len(server.requests) == 1


def test_one_day_is_asked_for_alone(server: ReplayServer) -> None:
    server.answer = Answer(200, {"data": []})
    records = activity(server).fetch(YESTERDAY, YESTERDAY)
    assert records.days == ()
    assert parse_qs(urlsplit(server.requests[0].path).query) == {"date": ["2025-08-25"]}


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, REFUSED),
        (403, REFUSED),
        (429, "OpenRouter is limiting requests for its usage records (429); try again in a"),
        (500, "OpenRouter's usage records are unavailable right now (500)"),
    ],
)
def test_activity_errors_are_one_sentence_without_the_key(
    server: ReplayServer, status: int, expected: str
) -> None:
    message = f"Only management keys can fetch activity ({MANAGEMENT.secret})"
    server.answer = Answer(status, {"error": {"code": status, "message": message}})
    with pytest.raises(ReconcileError) as caught:
        activity(server, retries=0).fetch(YESTERDAY, YESTERDAY)
    assert str(caught.value).startswith(expected)
    assert MANAGEMENT.secret not in str(caught.value)


def test_an_unreadable_activity_row_is_a_sentence(server: ReplayServer) -> None:
    server.answer = Answer(200, {"data": [{**row("yesterday", "m", "P", 0.1)}]})
    with pytest.raises(ReconcileError, match="whose date is not a day"):
        activity(server).fetch(date(2025, 8, 1), YESTERDAY)


def test_the_key_summary_is_today_for_every_model_together(server: ReplayServer) -> None:
    server.answer = Answer(
        200,
        key_body(
            usage=25.5, usage_daily=0.25, byok_usage_daily=0.05, usage_weekly=1.5, usage_monthly=9
        ),
    )
    source = OpenRouterKeySummary(CHAT, base_url=f"{server.url}/api/v1", now=lambda: NOW)
    records = source.fetch(date(2025, 8, 1), NOW.date())
    assert records.days == (ProviderDay(NOW.date(), EVERY_MODEL, 0, 0, 0, Decimal("0.30")),)
    assert (records.since, records.until) == (NOW.date(), NOW.date())
    usage = source.usage()
    assert (usage.week, usage.month, usage.total) == (Decimal("1.5"), 9, Decimal("25.5"))
    assert usage.limit_remaining == Decimal("74.5")
    assert urlsplit(server.requests[0].path).path == "/api/v1/key"
    assert source.fetch(date(2025, 8, 1), YESTERDAY).days == ()  # today is not in the range


def test_the_key_summary_refused_is_a_sentence_without_the_key(server: ReplayServer) -> None:
    server.answer = Answer(401, {"error": {"code": 401, "message": f"bad key {CHAT.secret}"}})
    source = OpenRouterKeySummary(CHAT, base_url=f"{server.url}/api/v1", now=lambda: NOW)
    with pytest.raises(ReconcileError) as caught:
        source.fetch(NOW.date(), NOW.date())
    assert "OpenRouter refused the API key (401)" in str(caught.value)
    assert CHAT.secret not in str(caught.value)


def test_the_source_is_the_activity_with_a_management_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENROUTER_MANAGEMENT_KEY", raising=False)
    assert isinstance(openrouter_source(), OpenRouterKeySummary)
    monkeypatch.setenv("OPENROUTER_MANAGEMENT_KEY", MANAGEMENT.secret)
    chosen = openrouter_source("http://127.0.0.1:9/api/v1")
    assert isinstance(chosen, OpenRouterActivity)
    assert chosen.base_url == "http://127.0.0.1:9/api/v1"


def test_no_key_at_all_is_a_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    monkeypatch.delenv("OPENROUTER_MANAGEMENT_KEY", raising=False)
    with pytest.raises(ReconcileError, match="No OpenRouter key is set"):
        openrouter_source().fetch(date.today(), date.today())


# --- against the emulator -----------------------------------------------------------------


def test_the_emulator_reports_what_it_served_by_day_and_model() -> None:
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    outside = [
        Served(yesterday, "openrouter", "openai/gpt-4o", 2, 1000, 100, usd=Decimal("0.0035")),
        Served(yesterday, "openrouter", "openai/gpt-4o", 1, 500, 50, usd=Decimal("0.00175")),
        Served(today - timedelta(days=40), "openrouter", "openai/gpt-4o", 1, 9, 9, usd=Decimal(1)),
        Served(yesterday, "openai", "gpt-4o", 1, 7, 7, usd=Decimal(1)),  # not OpenRouter's
    ]
    with Emulator() as emu:
        for served in outside:
            emu.state.served.add(served)
        records = OpenRouterActivity(MANAGEMENT, base_url=f"{emu.url}/api/v1").fetch(
            today - timedelta(days=60), today
        )
        refused = OpenRouterActivity(
            ApiKey("sk-test-or-inference-only-0123456789"), base_url=f"{emu.url}/api/v1"
        )
        with pytest.raises(ReconcileError, match="needs a management key"):
            refused.fetch(yesterday, yesterday)
    assert records.days == (
        ProviderDay(yesterday, "openai/gpt-4o", 1500, 150, 0, Decimal("0.00525")),
    )


def test_the_emulators_key_usage_is_todays_openrouter_spend() -> None:
    today = datetime.now(UTC).date()
    with Emulator() as emu:
        emu.state.served.add(Served(today, "openrouter", "m", 1, 10, 10, usd=Decimal("0.125")))
        emu.state.served.add(Served(today, "openai", "m", 1, 10, 10, usd=Decimal(3)))
        records = OpenRouterKeySummary(CHAT, base_url=f"{emu.url}/api/v1").fetch(today, today)
        body = httpx2.get(
            f"{emu.url}/api/v1/key", headers={"Authorization": f"Bearer {CHAT.secret}"}
        ).json()
    assert [d.usd for d in records.days] == [Decimal("0.125")]
    assert set(body["data"]) >= {"usage", "usage_weekly", "byok_usage_monthly", "limit"}
