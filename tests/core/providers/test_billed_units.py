"""Every billed unit of a reply on the ledger, read by each vendor's own rules.

Each test serves a response of one shape (written here, after the shapes real providers send:
see ``../shared/wire-recordings``) from a real HTTP server on 127.0.0.1, sends a request through
the metering client to the built-in endpoint of that vendor (a transport points its host at the
server), and checks the ledger: one row per billed unit, the provider's own figure where it gave
one, the served model, the flags. Streamed and not, for each shape.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.core import conversations, keys
from app.core.chats import Turn
from app.core.ledger import analysis, entries, export, reports
from app.core.ledger.selection import Selection
from app.core.messages import ChatMessage
from app.core.metering.client import ChatRequest, Metered, MeteringClient, Passthrough
from app.core.pricing.prices import PriceBook
from app.core.pricing.units import DEFAULT_UNIT_RATE, PROVIDER_ADJUSTMENT, UNPRICED_SOURCE
from app.core.providers import registry
from app.core.storage.db import Database
from app.core.storage.models import Request, Transaction
from app.core.types import GroupBy
from tests.support.replay_server import Answer, ReplayServer, ToReplay, replay_server

KEY = "sk-test-billed-units-0123456789abcdef"
HELLO = (ChatMessage("user", "Hello"),)


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with replay_server() as running:
        yield running


@pytest.fixture
def client(db: Database, server: ReplayServer) -> Iterator[MeteringClient]:
    with db.write() as session:
        registry.add_endpoint(session, "llama.cpp", "http://127.0.0.1:8080/v1", needs_key=False)
    metering = MeteringClient(
        db, transport=ToReplay(server.url), retries=0, key_for=lambda _: keys.ApiKey(KEY, "test")
    )
    yield metering
    metering.close()


def send(
    db: Database,
    client: MeteringClient,
    server: ReplayServer,
    answer: Answer,
    *,
    endpoint: str,
    model: str,
    api: str | None = None,
) -> Metered:
    server.answer = answer
    with db.write() as session:
        conversation = conversations.create_conversation(session, title="units").id
    passthrough = Passthrough(api, {"model": model, "input": "Hello"}) if api else None
    request = ChatRequest(
        endpoint=endpoint,
        model=model,
        messages=HELLO,
        hooks=Turn(conversation),
        passthrough=passthrough,
    )
    return client.send(request, stream=bool(answer.events))


def rows(db: Database, metered: Metered) -> dict[str, tuple[int, Decimal, str]]:
    """token_type: (units, rate, rate_source) of the request's transactions (units positive)."""
    with db.read() as session:
        found = session.scalars(
            select(Transaction).where(Transaction.request_id == metered.request_id)
        ).all()
        return {r.token_type: (-int(r.raw_amount), r.rate, r.rate_source) for r in found}


def request_row(db: Database, metered: Metered) -> Request:
    with db.read() as session:
        row = session.get(Request, metered.request_id)
        assert row is not None
        session.expunge(row)
        return row


def assert_exact(db: Database, metered: Metered) -> None:
    """Nothing estimated, and the ledger still adds up to the last millionth."""
    assert metered.error is None, metered.error
    assert metered.status == "complete"
    assert not metered.estimated
    with db.read() as session:
        assert entries.current_balance(session) == entries.ledger_sum(session)


def chat_stream(*chunks: dict[str, Any], model: str) -> Answer:
    events: list[tuple[str | None, Any]] = [
        (None, {"id": "c1", "object": "chat.completion.chunk", "model": model, **chunk})
        for chunk in chunks
    ]
    return Answer(events=[*events, (None, "[DONE]")])


def chat_json(content: Any, usage: dict[str, Any], *, model: str, **extra: Any) -> Answer:
    return Answer(
        json_body={
            "id": "c1",
            "object": "chat.completion",
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
            "usage": usage,
            **extra,
        }
    )


def text_chunk(text: Any, finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}


# --- Anthropic: compaction steps, 1-hour cache writes, web searches ----------------------------

COMPACTION_USAGE = {
    "input_tokens": 300,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
    "output_tokens": 7,
    "service_tier": "standard",
    "iterations": [
        {
            "type": "compaction",
            "input_tokens": 150,
            "cache_creation_input_tokens": 40_000,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 40_000, "ephemeral_1h_input_tokens": 0},
            "output_tokens": 90,
        },
        {
            "type": "message",
            "input_tokens": 300,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 7,
        },
    ],
}
COMPACTION_ROWS = {
    "prompt": 300,
    "completion": 7,
    "prompt_compaction": 150,
    "cache_write_compaction": 40_000,
    "completion_compaction": 90,
}


def anthropic_json(usage: dict[str, Any], model: str = "claude-sonnet-4-5") -> Answer:
    return Answer(
        json_body={
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [
                {"type": "compaction", "content": "A summary."},
                {"type": "text", "text": "Hi!"},
            ],
            "stop_reason": "end_turn",
            "usage": usage,
        }
    )


def anthropic_stream(
    start: dict[str, Any], final: dict[str, Any], model: str = "claude-sonnet-4-5"
) -> Answer:
    return Answer(
        events=[
            (
                "message_start",
                {"type": "message_start", "message": {"model": model, "usage": start}},
            ),
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            ),
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": "Hi!"},
                },
            ),
            (
                "message_delta",
                {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": final},
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
    )


def test_anthropic_compaction_steps_are_rows_of_their_own_json(
    db: Database, client: MeteringClient, server: ReplayServer
) -> None:
    metered = send(
        db,
        client,
        server,
        anthropic_json(COMPACTION_USAGE),
        endpoint="anthropic",
        model="claude-sonnet-4-5",
    )
    assert_exact(db, metered)
    found = rows(db, metered)
    assert {t: n for t, (n, _, _) in found.items()} == COMPACTION_ROWS
    assert found["cache_write_compaction"][1] == Decimal("3.75")  # the 5-minute write rate
    assert metered.usage.input_tokens == 40_450  # every billed step, as the provider billed it
    assert metered.usage.completion_tokens == 97
    assert request_row(db, metered).reported_prompt_tokens == 40_450


def test_anthropic_compaction_streamed_message_delta_has_the_steps(
    db: Database, client: MeteringClient, server: ReplayServer
) -> None:
    start = {
        "input_tokens": 150,
        "cache_creation_input_tokens": 40_000,
        "cache_read_input_tokens": 0,
        "output_tokens": 1,
    }
    final = {k: v for k, v in COMPACTION_USAGE.items() if k != "service_tier"}
    metered = send(
        db,
        client,
        server,
        anthropic_stream(start, final),
        endpoint="anthropic",
        model="claude-sonnet-4-5",
    )
    assert_exact(db, metered)
    assert {t: n for t, (n, _, _) in rows(db, metered).items()} == COMPACTION_ROWS
    assert metered.text == "Hi!"


@pytest.mark.parametrize("streamed", [False, True])
def test_anthropic_one_hour_cache_writes_and_web_searches(
    db: Database, client: MeteringClient, server: ReplayServer, streamed: bool
) -> None:
    usage = {
        "input_tokens": 20,
        "cache_creation_input_tokens": 1_500,
        "cache_read_input_tokens": 2_000,
        "cache_creation": {"ephemeral_5m_input_tokens": 500, "ephemeral_1h_input_tokens": 1_000},
        "output_tokens": 80,
        "server_tool_use": {"web_search_requests": 3, "web_fetch_requests": 1},
    }
    answer = (
        anthropic_stream({**usage, "output_tokens": 1}, usage)
        if streamed
        else anthropic_json(usage)
    )
    metered = send(db, client, server, answer, endpoint="anthropic", model="claude-sonnet-4-5")
    assert_exact(db, metered)
    found = rows(db, metered)
    assert found["cache_write"][:2] == (500, Decimal("3.75"))  # 1.25x input
    assert found["cache_write_1h"][:2] == (1_000, Decimal(6))  # 2x input
    assert found["cache_read"][:2] == (2_000, Decimal("0.3"))
    assert found["web_searches"][:2] == (3, Decimal(10_000))  # $10 per 1,000 searches
    assert metered.usage_notes is None  # web fetches are free, and known to be


# --- xAI: reasoning outside completion_tokens, and its own cost in ticks --------------------------

XAI_USAGE = {
    "prompt_tokens": 40,
    "completion_tokens": 2,
    "total_tokens": 342,
    "prompt_tokens_details": {
        "text_tokens": 40,
        "audio_tokens": 0,
        "image_tokens": 0,
        "cached_tokens": 8,
    },
    "completion_tokens_details": {"reasoning_tokens": 300, "audio_tokens": 0},
    "num_sources_used": 0,
    "cost_in_usd_ticks": 1_600_000,
}


@pytest.mark.parametrize("streamed", [False, True])
def test_xai_reasoning_is_billed_as_output_and_its_ticks_are_the_charge(
    db: Database, client: MeteringClient, server: ReplayServer, streamed: bool
) -> None:
    model = "grok-3-mini"
    answer = (
        chat_stream(text_chunk("Hi", "stop"), {"choices": [], "usage": XAI_USAGE}, model=model)
        if streamed
        else chat_json("Hi", XAI_USAGE, model=model)
    )
    metered = send(db, client, server, answer, endpoint="xai", model=model)
    assert_exact(db, metered)
    found = rows(db, metered)
    assert found["completion"][0] == 302 and metered.usage.reasoning_tokens == 300
    assert (found["prompt"][0], found["cache_read"][0]) == (32, 8)
    computed = 32 * Decimal("0.3") + 8 * Decimal("0.075") + 302 * Decimal("0.5")
    assert metered.computed_cost == computed
    assert metered.cost == Decimal(160)  # 1,600,000 ticks of 10^-10 USD = 160 credits
    assert found[PROVIDER_ADJUSTMENT] == (1, Decimal(160) - computed, "reported by xAI")
    row = request_row(db, metered)
    assert (row.computed_cost, row.provider_cost) == (computed, Decimal(160))


# --- OpenRouter: its own cost, BYOK, cache writes -------------------------------------------------

OPENROUTER_USAGE = {
    "prompt_tokens": 1_000,
    "completion_tokens": 50,
    "total_tokens": 1_050,
    "prompt_tokens_details": {"cached_tokens": 600, "cache_write_tokens": 300, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 10, "image_tokens": 0},
    "cost": 0.0031,
    "is_byok": False,
    "cost_details": {"upstream_inference_cost": None},
}


@pytest.mark.parametrize("streamed", [False, True])
def test_openrouter_cost_is_the_charge_and_the_served_model_prices_it(
    db: Database, client: MeteringClient, server: ReplayServer, streamed: bool
) -> None:
    served = "anthropic/claude-sonnet-4.6"
    answer = (
        chat_stream(
            text_chunk("Hi", "stop"), {"choices": [], "usage": OPENROUTER_USAGE}, model=served
        )
        if streamed
        else chat_json("Hi", OPENROUTER_USAGE, model=served)
    )
    metered = send(db, client, server, answer, endpoint="openrouter", model="openrouter/auto")
    assert_exact(db, metered)
    found = rows(db, metered)
    assert {t: n for t, (n, _, _) in found.items() if t != PROVIDER_ADJUSTMENT} == {
        "prompt": 100,
        "completion": 50,
        "cache_read": 600,
        "cache_write": 300,
    }
    assert metered.cost == Decimal(3100)
    assert (metered.model, metered.requested_model) == (served, "openrouter/auto")
    computed = 100 * Decimal(3) + 50 * Decimal(15) + 600 * Decimal("0.3") + 300 * Decimal("3.75")
    assert metered.computed_cost == computed
    row = request_row(db, metered)
    assert (row.model, row.requested_model) == (served, "openrouter/auto")
    with db.read() as session:
        models = {
            t.model
            for t in session.scalars(
                select(Transaction).where(Transaction.request_id == metered.request_id)
            )
        }
    assert models == {served}


def test_openrouter_with_the_users_own_key_adds_the_upstream_cost(
    db: Database, client: MeteringClient, server: ReplayServer
) -> None:
    usage = {
        **OPENROUTER_USAGE,
        "is_byok": True,
        "cost": 0.0001,
        "cost_details": {"upstream_inference_cost": 0.002},
    }
    metered = send(
        db,
        client,
        server,
        chat_json("Hi", usage, model="openai/gpt-5-mini"),
        endpoint="openrouter",
        model="openai/gpt-5-mini",
    )
    assert metered.cost == Decimal(2100)


# --- Groq, DeepSeek, Mistral, llama.cpp: where each puts what -------------------------------------


def test_groq_usage_only_under_x_groq_is_reported_not_estimated(
    db: Database, client: MeteringClient, server: ReplayServer
) -> None:
    groq_usage = {
        "queue_time": 0.02,
        "prompt_tokens": 21,
        "prompt_time": 0.01,
        "completion_tokens": 900,
        "completion_time": 3.1,
        "total_tokens": 921,
        "total_time": 3.2,
    }
    answer = chat_stream(
        {**text_chunk("Hi"), "x_groq": {"id": "req_1"}},
        {**text_chunk("", "stop"), "x_groq": {"id": "req_1", "usage": groq_usage}},
        model="llama-3.3-70b-versatile",
    )
    metered = send(db, client, server, answer, endpoint="groq", model="llama-3.3-70b-versatile")
    assert_exact(db, metered)
    assert {t: n for t, (n, _, _) in rows(db, metered).items()} == {"prompt": 21, "completion": 900}
    assert metered.usage_notes is None  # the timings are known not to bill


def test_deepseek_cache_hits_under_its_own_name(
    db: Database, client: MeteringClient, server: ReplayServer
) -> None:
    usage = {
        "prompt_tokens": 700,
        "completion_tokens": 40,
        "total_tokens": 740,
        "prompt_cache_hit_tokens": 640,
        "prompt_cache_miss_tokens": 60,
    }
    metered = send(
        db,
        client,
        server,
        chat_json("Hi", usage, model="deepseek-chat"),
        endpoint="deepseek",
        model="deepseek-chat",
    )
    assert_exact(db, metered)
    assert {t: n for t, (n, _, _) in rows(db, metered).items()} == {
        "prompt": 60,
        "completion": 40,
        "cache_read": 640,
    }


def test_deepseek_alias_is_priced_by_the_model_that_answered(
    db: Database, client: MeteringClient, server: ReplayServer
) -> None:
    usage = {
        "prompt_tokens": 1_000,
        "completion_tokens": 100,
        "total_tokens": 1_100,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    answer = chat_json("Hi", usage, model="deepseek-v4-flash")
    metered = send(db, client, server, answer, endpoint="deepseek", model="deepseek-reasoner")
    assert (metered.model, metered.requested_model) == ("deepseek-v4-flash", "deepseek-reasoner")
    # DeepSeek's prices change with the hour (off-peak discounts): read them at the request's.
    with db.read() as session:
        at = session.get_one(Request, metered.request_id).created_at
        book = PriceBook.load(session)
    answered = book.rates("deepseek-v4-flash", provider="deepseek", at=at)
    asked = book.rates("deepseek-reasoner", provider="deepseek", at=at)
    assert (answered.prompt, answered.completion) != (asked.prompt, asked.completion)
    assert metered.cost == 1_000 * answered.prompt + 100 * answered.completion


MAGISTRAL_CHUNKS = [
    {"type": "thinking", "thinking": [{"type": "text", "text": "Two and two."}]},
    {"type": "text", "text": "2 + 2 = 4"},
]


def test_mistral_typed_content_chunks_streamed(
    db: Database, client: MeteringClient, server: ReplayServer
) -> None:
    usage = {"prompt_tokens": 10, "completion_tokens": 30, "total_tokens": 40}
    answer = chat_stream(
        {
            "choices": [
                {"index": 0, "delta": {"role": "assistant", "content": [MAGISTRAL_CHUNKS[0]]}}
            ]
        },
        {"choices": [{"index": 0, "delta": {"content": [MAGISTRAL_CHUNKS[1]]}}]},
        {**text_chunk("", "stop"), "usage": usage},
        model="magistral-medium-2507",
    )
    metered = send(db, client, server, answer, endpoint="mistral", model="magistral-medium-2507")
    assert_exact(db, metered)
    assert metered.text == "2 + 2 = 4"
    with db.read() as session:
        assert (
            conversations.messages(session, request_row(db, metered).conversation_id or 0)[
                -1
            ].content
            == "2 + 2 = 4"
        )


def test_mistral_typed_content_chunks_in_one_answer(
    db: Database, client: MeteringClient, server: ReplayServer
) -> None:
    usage = {"prompt_tokens": 10, "completion_tokens": 30, "total_tokens": 40}
    answer = chat_json(MAGISTRAL_CHUNKS, usage, model="magistral-medium-2507")
    metered = send(db, client, server, answer, endpoint="mistral", model="magistral-medium-2507")
    assert metered.text == "2 + 2 = 4"


def test_llamacpp_timings_are_its_counts_when_it_reports_no_usage(
    db: Database, client: MeteringClient, server: ReplayServer
) -> None:
    with db.read() as session:
        llama = next(e for e in registry.all_endpoints(session) if e.name == "llama.cpp")
    answer = chat_stream(
        text_chunk("Hello"),
        {
            **text_chunk("", "stop"),
            "timings": {"prompt_n": 9, "cache_n": 30, "predicted_n": 12, "prompt_ms": 4.2},
        },
        model="gemma-2-2b-it-Q4_K_M",
    )
    metered = send(db, client, server, answer, endpoint=llama.id, model="gemma-2-2b-it-Q4_K_M")
    assert_exact(db, metered)
    assert (metered.usage.input_tokens, metered.usage.completion_tokens) == (39, 12)


# --- OpenAI: server tools on the Responses API, service tiers -------------------------------------


def responses_answer(streamed: bool, output: list[dict[str, Any]], **extra: Any) -> Answer:
    response = {
        "id": "resp_1",
        "object": "response",
        "model": "gpt-5-2025-08-07",
        "status": "completed",
        "output": output,
        "usage": {
            "input_tokens": 2_000,
            "input_tokens_details": {"cached_tokens": 1_024},
            "output_tokens": 300,
            "output_tokens_details": {"reasoning_tokens": 128},
            "total_tokens": 2_300,
        },
        **extra,
    }
    if not streamed:
        return Answer(json_body=response)
    return Answer(
        events=[
            (
                "response.output_text.delta",
                {"type": "response.output_text.delta", "delta": "Done."},
            ),
            ("response.completed", {"type": "response.completed", "response": response}),
        ]
    )


TOOL_OUTPUT = [
    {"type": "web_search_call", "id": "ws_1", "status": "completed"},
    {"type": "web_search_call", "id": "ws_2", "status": "completed"},
    {"type": "code_interpreter_call", "id": "ci_1", "container_id": "cntr_1"},
    {"type": "code_interpreter_call", "id": "ci_2", "container_id": "cntr_1"},
    {"type": "message", "content": [{"type": "output_text", "text": "Done."}]},
]


@pytest.mark.parametrize("streamed", [False, True])
def test_responses_server_tools_are_billed_per_call_and_per_container(
    db: Database, client: MeteringClient, server: ReplayServer, streamed: bool
) -> None:
    metered = send(
        db,
        client,
        server,
        responses_answer(streamed, TOOL_OUTPUT),
        endpoint="openai",
        model="gpt-5",
        api="openai-responses",
    )
    assert_exact(db, metered)
    found = rows(db, metered)
    assert found["web_searches"] == (2, Decimal(10_000), found["prompt"][2])  # the table's price
    # Code execution: one container session, and the table has no price for it: flagged.
    assert found["code_executions"] == (1, DEFAULT_UNIT_RATE, UNPRICED_SOURCE)
    assert (found["prompt"][0], found["cache_read"][0], found["completion"][0]) == (976, 1_024, 300)
    assert metered.model == "gpt-5"  # a dated snapshot of the model asked for keeps its name


@pytest.mark.parametrize("streamed", [False, True])
def test_a_flex_tier_discount_is_its_own_row(
    db: Database, client: MeteringClient, server: ReplayServer, streamed: bool
) -> None:
    usage = {
        "prompt_tokens": 10_000,
        "completion_tokens": 1_000,
        "total_tokens": 11_000,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    answer = (
        chat_stream(
            text_chunk("Hi", "stop"),
            {"choices": [], "usage": usage, "service_tier": "flex"},
            model="gpt-5.5",
        )
        if streamed
        else chat_json("Hi", usage, model="gpt-5.5", service_tier="flex")
    )
    metered = send(db, client, server, answer, endpoint="openai", model="gpt-5.5")
    assert_exact(db, metered)
    found = rows(db, metered)
    assert found["prompt"][:2] == (10_000, Decimal(5))  # the list price
    assert found["flex:prompt"][:2] == (10_000, Decimal("-2.5"))  # the discount, on its own
    assert found["flex:completion"][:2] == (1_000, Decimal(-15))
    assert metered.cost == 10_000 * Decimal("2.5") + 1_000 * Decimal(15)
    assert request_row(db, metered).service_tier == "flex"


def test_a_long_prompt_tier_is_its_own_row(
    db: Database, client: MeteringClient, server: ReplayServer
) -> None:
    usage = {
        "input_tokens": 250_000,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 100,
    }
    metered = send(
        db, client, server, anthropic_json(usage), endpoint="anthropic", model="claude-sonnet-4-5"
    )
    found = rows(db, metered)
    assert found["prompt"][:2] == (250_000, Decimal(3))
    assert found["long context:prompt"][:2] == (250_000, Decimal(3))  # 6 per token past 200k
    assert found["long context:completion"][:2] == (100, Decimal("7.5"))


# --- Gemini: audio priced apart, grounding searches ------------------------------------------------


def gemini_answer(
    streamed: bool, metadata: dict[str, Any], model: str, queries: list[str]
) -> Answer:
    final = {
        "candidates": [
            {
                "content": {"parts": [{"text": "Sunny."}], "role": "model"},
                "finishReason": "STOP",
                "groundingMetadata": {"webSearchQueries": queries},
            }
        ],
        "usageMetadata": metadata,
        "modelVersion": model,
    }
    if not streamed:
        return Answer(json_body=final)
    first = {
        "candidates": [{"content": {"parts": [{"text": ""}], "role": "model"}}],
        "usageMetadata": {"promptTokenCount": metadata["promptTokenCount"]},
        "modelVersion": model,
    }
    return Answer(events=[(None, first), (None, final)])


@pytest.mark.parametrize("streamed", [False, True])
def test_gemini_audio_tokens_and_grounded_searches(
    db: Database, client: MeteringClient, server: ReplayServer, streamed: bool
) -> None:
    metadata = {
        "promptTokenCount": 1_000,
        "promptTokensDetails": [
            {"modality": "TEXT", "tokenCount": 400},
            {"modality": "AUDIO", "tokenCount": 600},
        ],
        "candidatesTokenCount": 20,
        "thoughtsTokenCount": 30,
        "totalTokenCount": 1_050,
    }
    answer = gemini_answer(streamed, metadata, "gemini-2.5-flash", ["weather today", "forecast"])
    metered = send(db, client, server, answer, endpoint="gemini", model="gemini-2.5-flash")
    assert_exact(db, metered)
    found = rows(db, metered)
    assert found["prompt"][:2] == (400, Decimal("0.3"))
    assert found["prompt_audio"][:2] == (600, Decimal(1))  # audio input has its own price
    assert found["completion"][0] == 50  # thoughts are output
    assert found["web_searches"][:2] == (1, Decimal(35_000))  # Gemini 2.5: per grounded prompt


def test_gemini_3_bills_grounding_per_query(
    db: Database, client: MeteringClient, server: ReplayServer
) -> None:
    metadata = {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15}
    answer = gemini_answer(True, metadata, "gemini-3-pro-preview", ["a", "b", "c"])
    metered = send(db, client, server, answer, endpoint="gemini", model="gemini-3-pro-preview")
    assert rows(db, metered)["web_searches"][:2] == (3, Decimal(14_000))


# --- Nothing dropped silently ------------------------------------------------------------------


@pytest.mark.parametrize("streamed", [False, True])
def test_a_count_tallybook_does_not_know_is_kept_and_flagged(
    db: Database, client: MeteringClient, server: ReplayServer, streamed: bool
) -> None:
    usage = {
        "prompt_tokens": 50,
        "completion_tokens": 10,
        "total_tokens": 60,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0, "hologram_tokens": 12},
        "warp_calls": 2,
        "zero_field": 0,
    }
    answer = (
        chat_stream(text_chunk("Hi", "stop"), {"choices": [], "usage": usage}, model="gpt-4.1")
        if streamed
        else chat_json("Hi", usage, model="gpt-4.1")
    )
    metered = send(db, client, server, answer, endpoint="openai", model="gpt-4.1")
    assert metered.usage_notes is not None
    assert "usage.prompt_tokens_details.hologram_tokens=12" in metered.usage_notes
    assert "usage.warp_calls=2" in metered.usage_notes
    assert "zero_field" not in metered.usage_notes  # a zero bills nothing
    row = request_row(db, metered)
    assert row.usage_notes == metered.usage_notes
    assert json.loads(row.raw_usage or "null") == usage  # the usage object as it came
    with db.read() as session:
        flagged = reports.flagged_requests(session)
    assert [f.request_id for f in flagged] == [metered.request_id]


def test_a_provider_figure_more_than_one_percent_off_is_flagged(
    db: Database, client: MeteringClient, server: ReplayServer
) -> None:
    usage = {**XAI_USAGE, "cost_in_usd_ticks": 1_500_000}  # 150 credits: 7.5% under 161.2
    send(
        db,
        client,
        server,
        chat_json("Hi", usage, model="grok-3-mini"),
        endpoint="xai",
        model="grok-3-mini",
    )
    close = {**XAI_USAGE, "cost_in_usd_ticks": 1_612_000}  # 161.2 credits: as computed
    send(
        db,
        client,
        server,
        chat_json("Hi", close, model="grok-3-mini"),
        endpoint="xai",
        model="grok-3-mini",
    )
    with db.read() as session:
        (accuracy,) = reports.cost_accuracy(session)
        flagged = reports.flagged_requests(session)
    assert (accuracy.model, accuracy.requests, accuracy.off) == ("grok-3-mini", 2, 1)
    assert len(flagged) == 1 and "provider's 150" in flagged[0].reason


# --- Shown everywhere: the CSV, the reports, the dashboard's token figures ------------------------


def test_units_served_models_and_flags_reach_the_csv_reports_and_dashboard(
    db: Database, client: MeteringClient, server: ReplayServer, tmp_path: Path
) -> None:
    usage = {
        "prompt_tokens": 1_000,
        "completion_tokens": 100,
        "total_tokens": 1_100,
        "warp_calls": 3,
    }
    send(
        db,
        client,
        server,
        chat_json("Hi", usage, model="deepseek-v4-flash"),
        endpoint="deepseek",
        model="deepseek-reasoner",
    )
    metadata = {
        "promptTokenCount": 1_000,
        "promptTokensDetails": [
            {"modality": "TEXT", "tokenCount": 400},
            {"modality": "AUDIO", "tokenCount": 600},
        ],
        "candidatesTokenCount": 50,
        "totalTokenCount": 1_050,
    }
    send(
        db,
        client,
        server,
        gemini_answer(False, metadata, "gemini-2.5-flash", ["q"]),
        endpoint="gemini",
        model="gemini-2.5-flash",
    )
    out = tmp_path / "ledger.csv"
    with db.read() as session:
        export.export(session, out)
        by_unit = {r.key: r for r in reports.build_report(session, GroupBy.UNIT).rows}
        by_day = reports.build_report(session, GroupBy.DAY).total
        figures = analysis.tokens_over_time(session, Selection(), analysis.Bucket.DAY)
        total = entries.ledger_sum(session)
    with out.open(encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    deepseek = [r for r in table if r["provider"] == "deepseek"]
    assert {(r["model"], r["requested_model"]) for r in deepseek} == {
        ("deepseek-v4-flash", "deepseek-reasoner")
    }
    assert all("usage.warp_calls=3" in r["usage_notes"] for r in deepseek)
    assert {r["token_type"] for r in table} >= {"prompt_audio", "web_searches"}
    assert by_unit["prompt_audio"].input_tokens == 600
    assert (
        by_unit["web_searches"].label == "web searches (1)"
        and by_unit["web_searches"].cost == 35_000
    )
    assert by_day.input_tokens == 2_000 and by_day.output_tokens == 150  # audio is input too
    assert by_day.cost == -total  # every unit in the total
    assert sum(p.input_tokens for p in figures) == 2_000
