"""OpenAI's organisation usage and costs, read from written bodies and from the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import openai
import pytest

from app.core.keys import ApiKey
from app.core.pricing.prices import catalog_rates
from app.core.reconcile.openai_usage import OpenAIUsage
from app.core.reconcile.records import ReconcileError
from app.servers.emulator import Emulator
from app.servers.emulator.served import Served
from tests.support.replay_server import Answer, Recorded, ReplayServer, replay_server

ADMIN = ApiKey("sk-admin-bars-TEST-0123456789abcdefghij")
DAY1 = date(2024, 11, 1)  # 1730419200
NOW = datetime(2024, 11, 3, 15, 30, tzinfo=UTC)


def bucket(day: date, results: list[dict[str, Any]]) -> dict[str, Any]:
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    return {"object": "bucket", "start_time": start, "end_time": start + 86400, "results": results}


def usage_row(model: str, inp: int, out: int, cached: int) -> dict[str, Any]:
    return {
        "object": "organization.usage.completions.result",
        "input_tokens": inp,
        "output_tokens": out,
        "input_cached_tokens": cached,
        "input_audio_tokens": 0,
        "output_audio_tokens": 0,
        "num_model_requests": 5,
        "project_id": None,
        "user_id": None,
        "api_key_id": None,
        "model": model,
        "batch": None,
        "service_tier": None,
    }


def cost_row(line: str | None, value: float) -> dict[str, Any]:
    return {
        "object": "organization.costs.result",
        "amount": {"value": value, "currency": "usd"},
        "line_item": line,
        "project_id": None,
    }


def page(buckets: list[dict[str, Any]], next_page: str | None = None) -> Answer:
    body = {"object": "page", "data": buckets, "has_more": next_page is not None}
    return Answer(200, {**body, "next_page": next_page})


def scripted(server: ReplayServer, answers: list[Answer]) -> None:
    def answer(request: Recorded) -> Answer:
        return answers.pop(0)

    server.answer = answer


def query(request: Recorded) -> dict[str, list[str]]:
    return parse_qs(urlsplit(request.path).query)


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with replay_server() as replay:
        yield replay


def source(url: str, **options: Any) -> OpenAIUsage:
    return OpenAIUsage(ADMIN, url, now=lambda: NOW, **options)


def test_pages_are_followed_and_costs_go_to_their_models(server: ReplayServer) -> None:
    day2 = DAY1 + timedelta(days=1)
    scripted(
        server,
        [
            page([bucket(DAY1, [usage_row("gpt-4o-2024-08-06", 1000, 500, 800)])], "page_AAAA"),
            page([bucket(day2, [])]),  # an empty day
            page(
                [
                    bucket(
                        DAY1,
                        [
                            cost_row("gpt-4o-2024-08-06, input", 0.1),
                            cost_row("gpt-4o-2024-08-06, cached input", 0.2),
                            cost_row("GPT-4o-2024-08-06, output", 0.00549),
                            cost_row("dall-e 3, standard, 1024x1024", 0.08),
                            cost_row(None, 0.01),
                        ],
                    )
                ]
            ),
        ],
    )
    records = source(server.url + "/v1").fetch(DAY1, day2)
    [row] = records.days
    assert (row.day, row.model) == (DAY1, "gpt-4o-2024-08-06")
    assert (row.input_tokens, row.output_tokens, row.cached_input_tokens) == (1000, 500, 800)
    assert row.usd == Decimal("0.30549")  # floats to Decimal exactly: 0.1 + 0.2 is 0.3 here
    assert records.unattributed_usd == ((DAY1, Decimal("0.09")),)
    first, second, costs = server.requests
    assert first.path.startswith("/v1/organization/usage/completions?")
    assert first.headers["authorization"] == f"Bearer {ADMIN.secret}"
    assert query(first)["group_by[]"] == ["model"] and query(first)["limit"] == ["31"]
    assert query(first)["bucket_width"] == ["1d"] and "page" not in query(first)
    assert query(second)["page"] == ["page_AAAA"]
    assert costs.path.startswith("/v1/organization/costs?")
    assert query(costs)["group_by[]"] == ["line_item"] and query(costs)["limit"] == ["180"]


def test_the_end_is_never_in_the_future(server: ReplayServer) -> None:
    scripted(server, [page([]), page([])])
    source(server.url).fetch(DAY1, date(2030, 1, 1))
    for request in server.requests:
        assert query(request)["start_time"] == [
            str(int(datetime(2024, 11, 1, tzinfo=UTC).timestamp()))
        ]
        assert query(request)["end_time"] == [str(int(NOW.timestamp()))]
    assert source(server.url).fetch(date(2030, 1, 1), date(2030, 1, 2)).days == ()
    assert len(server.requests) == 2  # a range wholly in the future asks nothing


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (401, "admin key"),
        (403, "admin key"),
        (429, "limiting requests"),
        (500, "unavailable right now"),
        (503, "unavailable right now"),
    ],
)
def test_errors_are_one_sentence_without_the_key(
    server: ReplayServer, status: int, words: str
) -> None:
    echoed = {"error": {"message": f"Incorrect API key provided: {ADMIN.secret}.", "type": "x"}}
    server.answer = Answer(status, echoed, headers={"retry-after": "0"})
    with pytest.raises(ReconcileError) as raised:
        source(server.url, retries=1).fetch(DAY1, DAY1)
    message = str(raised.value)
    assert words in message and ADMIN.secret not in message
    assert message.endswith(".") and ". " not in message.rstrip(".")
    assert len(server.requests) == (2 if status >= 429 else 1)  # a passing failure is retried


def test_a_retried_rate_limit_then_answers(server: ReplayServer) -> None:
    scripted(server, [Answer(429, {}, headers={"retry-after": "0"}), page([]), page([])])
    assert source(server.url).fetch(DAY1, DAY1).days == ()


def test_an_unreachable_api_is_a_sentence() -> None:
    with replay_server() as gone:
        url = gone.url
    with pytest.raises(ReconcileError, match="Cannot reach OpenAI"):
        source(url, retries=0).fetch(DAY1, DAY1)


# --- Against the emulator: what it served is what OpenAI reports ----------------------------------


def test_the_emulator_reports_what_it_served() -> None:
    today = datetime.now(UTC).date()
    far = today - timedelta(days=40)  # more than one page of 31 daily buckets back
    outside = Served(far, "openai", "gpt-4o-mini", requests=3, input_tokens=900, output_tokens=90)
    with Emulator(outside=[outside]) as emu:
        with openai.OpenAI(base_url=emu.url + "/v1", api_key="demo", max_retries=0) as client:
            replies = [
                client.chat.completions.create(
                    model="gpt-4o", messages=[{"role": "user", "content": f"/words {n}"}]
                )
                for n in (5, 12)
            ]
        records = OpenAIUsage(ADMIN, emu.url).fetch(far, today + timedelta(days=3))
    assert [(row.day, row.model) for row in records.days] == [
        (far, "gpt-4o-mini"),
        (today, "gpt-4o"),
    ]
    mini, four = records.days
    assert (mini.input_tokens, mini.output_tokens, mini.cached_input_tokens) == (900, 90, 0)
    used = [reply.usage for reply in replies if reply.usage]
    prompt = sum(u.prompt_tokens for u in used)
    completion = sum(u.completion_tokens for u in used)
    assert (four.input_tokens, four.output_tokens, four.cached_input_tokens) == (
        prompt,
        completion,
        0,
    )
    rates = catalog_rates("gpt-4o", "openai", 0, datetime.now(UTC))
    assert four.usd == (prompt * rates.prompt + completion * rates.completion) / 1_000_000
    assert records.unattributed_usd == ()


def test_the_emulator_refuses_a_project_key_in_one_sentence() -> None:
    project = ApiKey("sk-test-proj-notadmin-0123456789abcdef")
    with Emulator() as emu, pytest.raises(ReconcileError) as raised:
        OpenAIUsage(project, emu.url).fetch(DAY1, DAY1)
    assert "admin key" in str(raised.value) and project.secret not in str(raised.value)
