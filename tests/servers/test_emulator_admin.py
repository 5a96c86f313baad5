"""The emulator's OpenAI and Anthropic organisation records endpoints, over raw HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx2
import pytest

from app.servers.emulator import Emulator
from app.servers.emulator.served import Served

OPENAI_ADMIN = {"Authorization": "Bearer sk-admin-bars-emulator-test-0000"}
ANTHROPIC_ADMIN = {"x-api-key": "sk-ant-admin01-emutest", "anthropic-version": "2023-06-01"}
START = date(2026, 3, 1)
OUTSIDE = [
    Served(
        START,
        "openai",
        "gpt-4o",
        requests=2,
        input_tokens=1000,
        output_tokens=100,
        cached_input_tokens=400,
    ),
    Served(
        START + timedelta(days=3),
        "openai",
        "gpt-4o-mini",
        requests=1,
        input_tokens=10,
        output_tokens=5,
    ),
    Served(
        START,
        "anthropic",
        "claude-sonnet-4-5",
        requests=1,
        input_tokens=1000,
        output_tokens=10,
        cached_input_tokens=600,
        cache_write_tokens=300,
    ),
]


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(outside=OUTSIDE) as emulator:
        yield emulator


@pytest.fixture
def http() -> Iterator[httpx2.Client]:
    with httpx2.Client(timeout=10) as client:
        yield client


def unix(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def all_pages(
    http: httpx2.Client, url: str, params: dict[str, Any], headers: dict[str, str]
) -> list[Any]:
    pages, cursor = [], None
    while True:
        answer = http.get(
            url, params={**params, **({"page": cursor} if cursor else {})}, headers=headers
        )
        assert answer.status_code == 200, answer.text
        pages.append(answer.json())
        if not pages[-1]["has_more"]:
            return pages
        cursor = pages[-1]["next_page"]


def test_openai_usage_pages_by_limit_with_empty_days(emu: Emulator, http: httpx2.Client) -> None:
    params = {
        "start_time": unix(START),
        "end_time": unix(START + timedelta(days=5)),
        "group_by[]": "model",
        "limit": 2,
    }
    pages = all_pages(http, emu.url + "/v1/organization/usage/completions", params, OPENAI_ADMIN)
    assert [len(p["data"]) for p in pages] == [2, 2, 1] and pages[-1]["next_page"] is None
    buckets = [b for p in pages for b in p["data"]]
    assert [b["start_time"] for b in buckets] == [unix(START + timedelta(days=n)) for n in range(5)]
    assert buckets[1]["results"] == [] and all(b["object"] == "bucket" for b in buckets)
    [row] = buckets[0]["results"]
    assert row["object"] == "organization.usage.completions.result"
    assert (row["model"], row["input_tokens"], row["input_cached_tokens"]) == ("gpt-4o", 1000, 400)
    assert row["num_model_requests"] == 2 and pages[0]["object"] == "page"


def test_openai_costs_are_usd_floats_by_line_item(emu: Emulator, http: httpx2.Client) -> None:
    params = {
        "start_time": unix(START),
        "end_time": unix(START + timedelta(days=1)),
        "group_by[]": "line_item",
    }
    body = http.get(emu.url + "/v1/organization/costs", params=params, headers=OPENAI_ADMIN).json()
    lines = {r["line_item"]: r["amount"] for r in body["data"][0]["results"]}
    assert set(lines) == {"gpt-4o, input", "gpt-4o, cached input", "gpt-4o, output"}
    assert all(a["currency"] == "usd" and isinstance(a["value"], float) for a in lines.values())
    whole = http.get(
        emu.url + "/v1/organization/costs",
        params={**params, "group_by[]": []},
        headers=OPENAI_ADMIN,
    )
    [total] = whole.json()["data"][0]["results"]
    assert total["line_item"] is None
    assert Decimal(str(total["amount"]["value"])) == sum(
        Decimal(str(a["value"])) for a in lines.values()
    )


def test_anthropic_reports_cache_counts_and_cents(emu: Emulator, http: httpx2.Client) -> None:
    params = {
        "starting_at": "2026-03-01T00:00:00Z",
        "ending_at": "2026-03-03T00:00:00Z",
        "group_by[]": "model",
    }
    usage = http.get(
        emu.url + "/v1/organizations/usage_report/messages", params=params, headers=ANTHROPIC_ADMIN
    )
    first, second = usage.json()["data"]
    assert first["starting_at"] == "2026-03-01T00:00:00Z" and second["results"] == []
    [row] = first["results"]
    assert row["uncached_input_tokens"] == 100 and row["cache_read_input_tokens"] == 600
    assert row["cache_creation"] == {
        "ephemeral_1h_input_tokens": 0,
        "ephemeral_5m_input_tokens": 300,
    }
    cost = http.get(
        emu.url + "/v1/organizations/cost_report",
        params={**params, "group_by[]": "description"},
        headers=ANTHROPIC_ADMIN,
    )
    rows = cost.json()["data"][0]["results"]
    assert {r["token_type"] for r in rows} == {
        "uncached_input_tokens",
        "cache_read_input_tokens",
        "cache_creation.ephemeral_5m_input_tokens",
        "output_tokens",
    }
    assert all(isinstance(r["amount"], str) and r["model"] == "claude-sonnet-4-5" for r in rows)
    Decimal(rows[0]["amount"])  # a decimal string


@pytest.mark.parametrize(
    ("path", "headers", "status", "kind"),
    [
        (
            "/v1/organization/costs?start_time=0",
            {"Authorization": "Bearer sk-proj-x"},
            401,
            "invalid_request_error",
        ),
        (
            "/v1/organizations/cost_report?starting_at=2026-03-01T00:00:00Z",
            {"x-api-key": "sk-ant-api03-x", "anthropic-version": "2023-06-01"},
            401,
            "authentication_error",
        ),
        (
            "/v1/organization/usage/completions?start_time=0&limit=32",
            OPENAI_ADMIN,
            400,
            "invalid_request_error",
        ),
        ("/v1/organization/costs", OPENAI_ADMIN, 400, "invalid_request_error"),
    ],
)
def test_refusals_use_each_providers_error_body(
    emu: Emulator, http: httpx2.Client, path: str, headers: dict[str, str], status: int, kind: str
) -> None:
    answer = http.get(emu.url + path, headers=headers)
    assert answer.status_code == status
    assert answer.json()["error"]["type"] == kind


def test_a_staged_fault_answers_the_records_endpoints(emu: Emulator, http: httpx2.Client) -> None:
    headers = {**OPENAI_ADMIN, "X-Emulator-Fault": "rate-limit"}
    answer = http.get(emu.url + "/v1/organization/costs?start_time=0", headers=headers)
    assert answer.status_code == 429 and answer.headers["retry-after"] == "1"
