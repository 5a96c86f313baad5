"""Each provider's stream shape and usage facts (design.md), decoded from canned events."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.core.providers.anthropic import MessagesDecoder
from app.core.providers.base import MalformedStream, ReasoningDelta, StreamDecoder, TextDelta
from app.core.providers.gemini import GeminiDecoder
from app.core.providers.openai import ChatCompletionsDecoder, ResponsesDecoder, api_for_model
from app.core.providers.sse import ServerSentEvent
from app.core.providers.usage import InputTokens, OutputTokens
from app.core.providers.vendors import chat_rules


def feed(decoder: StreamDecoder, *events: tuple[str, Any]) -> str:
    text = ""
    for name, data in events:
        payload = data if isinstance(data, str) else json.dumps(data)
        for delta in decoder.feed(ServerSentEvent(name, payload)):
            if isinstance(delta, TextDelta):
                text += delta.text
    return text


def test_openai_chat_usage_in_the_last_chunk_cached_and_reasoning_inside() -> None:
    decoder = ChatCompletionsDecoder()
    text = feed(
        decoder,
        (
            "message",
            {
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
                "usage": None,
            },
        ),
        ("message", {"choices": [{"index": 0, "delta": {"content": "Hel"}}], "usage": None}),
        (
            "message",
            {
                "choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}],
                "usage": None,
            },
        ),
        (
            "message",
            {
                "choices": [],
                "usage": {
                    "prompt_tokens": 2000,
                    "completion_tokens": 300,
                    "prompt_tokens_details": {"cached_tokens": 1536},
                    "completion_tokens_details": {"reasoning_tokens": 256},
                },
            },
        ),
        ("message", "[DONE]"),
    )
    assert text == "Hello"
    assert decoder.state.finished and decoder.state.finish_reason == "stop"
    assert decoder.state.usage.input == InputTokens(prompt=464, cache_read=1536)
    assert decoder.state.usage.output == OutputTokens(300, reasoning=256)


def test_openrouter_reports_cache_writes_and_mid_stream_errors() -> None:
    decoder = ChatCompletionsDecoder(chat_rules("openrouter"))
    feed(
        decoder,
        (
            "message",
            {
                "choices": [],
                "usage": {
                    "prompt_tokens": 100,
                    "completion_tokens": 5,
                    "prompt_tokens_details": {"cached_tokens": 10, "cache_write_tokens": 40},
                },
            },
        ),
    )
    assert decoder.state.usage.input == InputTokens(prompt=50, cache_write=40, cache_read=10)
    with pytest.raises(MalformedStream, match="Upstream overloaded"):
        feed(decoder, ("message", {"error": {"message": "Upstream overloaded", "code": 502}}))


def test_openai_stream_cut_before_usage_reports_nothing() -> None:
    decoder = ChatCompletionsDecoder()
    feed(decoder, ("message", {"choices": [{"index": 0, "delta": {"content": "partial"}}]}))
    assert decoder.state.usage.input is None and decoder.state.usage.output is None
    assert not decoder.state.finished


def test_responses_usage_in_response_completed() -> None:
    decoder = ResponsesDecoder()
    text = feed(
        decoder,
        ("response.created", {"type": "response.created", "response": {"status": "in_progress"}}),
        ("response.output_text.delta", {"type": "response.output_text.delta", "delta": "Hi"}),
        (
            "response.completed",
            {
                "type": "response.completed",
                "response": {
                    "status": "completed",
                    "usage": {
                        "input_tokens": 1200,
                        "input_tokens_details": {"cached_tokens": 1024},
                        "output_tokens": 80,
                        "output_tokens_details": {"reasoning_tokens": 64},
                        "total_tokens": 1280,
                    },
                },
            },
        ),
    )
    assert text == "Hi" and decoder.state.finished
    assert decoder.state.usage.input == InputTokens(prompt=176, cache_read=1024)
    assert decoder.state.usage.output == OutputTokens(80, 64)


def test_anthropic_input_excludes_cache_and_message_delta_is_cumulative() -> None:
    decoder = MessagesDecoder()
    text = feed(
        decoder,
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "usage": {
                        "input_tokens": 20,
                        "cache_creation_input_tokens": 1000,
                        "cache_read_input_tokens": 3000,
                        "cache_creation": {
                            "ephemeral_5m_input_tokens": 600,
                            "ephemeral_1h_input_tokens": 400,
                        },
                        "output_tokens": 1,
                    }
                },
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "hmm"},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "text_delta", "text": "Yes."},
            },
        ),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": None},
                "usage": {"output_tokens": 15},
            },
        ),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": 42},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    )
    assert text == "Yes."
    assert decoder.state.usage.input == InputTokens(
        prompt=20, cache_write=600, cache_write_1h=400, cache_read=3000
    )
    assert decoder.state.usage.output == OutputTokens(42)  # the latest, never 15 + 42
    assert decoder.state.finished and decoder.state.finish_reason == "end_turn"


def test_anthropic_cut_after_message_start_keeps_the_reported_input_only() -> None:
    decoder = MessagesDecoder()
    feed(
        decoder,
        (
            "message_start",
            {
                "type": "message_start",
                "message": {"usage": {"input_tokens": 7, "output_tokens": 1}},
            },
        ),
    )
    assert decoder.state.usage.input == InputTokens(prompt=7)
    assert decoder.state.usage.output is None


def test_anthropic_error_event() -> None:
    with pytest.raises(MalformedStream, match="Overloaded"):
        feed(
            MessagesDecoder(),
            (
                "error",
                {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            ),
        )


def test_gemini_usage_is_cumulative_and_thoughts_are_output_too() -> None:
    decoder = GeminiDecoder()
    deltas = []
    for chunk in (
        {
            "candidates": [
                {"content": {"parts": [{"text": "plan", "thought": True}], "role": "model"}}
            ],
            "usageMetadata": {
                "promptTokenCount": 900,
                "cachedContentTokenCount": 512,
                "thoughtsTokenCount": 30,
            },
        },
        {
            "candidates": [{"content": {"parts": [{"text": "Answer"}], "role": "model"}}],
            "usageMetadata": {
                "promptTokenCount": 900,
                "cachedContentTokenCount": 512,
                "candidatesTokenCount": 1,
                "thoughtsTokenCount": 30,
            },
        },
        {
            "candidates": [
                {"content": {"parts": [{"text": "."}], "role": "model"}, "finishReason": "STOP"}
            ],
            "usageMetadata": {
                "promptTokenCount": 900,
                "cachedContentTokenCount": 512,
                "candidatesTokenCount": 2,
                "thoughtsTokenCount": 30,
                "totalTokenCount": 932,
            },
        },
    ):
        deltas += decoder.feed(ServerSentEvent("message", json.dumps(chunk)))
    assert [type(d) for d in deltas] == [ReasoningDelta, TextDelta, TextDelta]
    assert decoder.state.usage.input == InputTokens(prompt=388, cache_read=512)
    assert decoder.state.usage.output == OutputTokens(32, reasoning=30)  # candidates + thoughts


def test_gemini_output_counts_only_once_finished() -> None:
    decoder = GeminiDecoder()
    feed(
        decoder,
        (
            "message",
            {
                "candidates": [{"content": {"parts": [{"text": "par"}]}}],
                "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 1},
            },
        ),
    )
    assert decoder.state.usage.input == InputTokens(prompt=10)
    assert decoder.state.usage.output is None


@pytest.mark.parametrize(
    "decoder",
    [ChatCompletionsDecoder(), ResponsesDecoder(), MessagesDecoder(), GeminiDecoder()],
)
@pytest.mark.parametrize("data", ['{"choices": [', "[1, 2]", '"text"'])
def test_malformed_events_are_specific_errors(decoder: StreamDecoder, data: str) -> None:
    with pytest.raises(MalformedStream):
        decoder.feed(ServerSentEvent("message", data))


@pytest.mark.parametrize(
    ("model", "api"),
    [
        ("gpt-4o", "chat"),
        ("o3-pro", "responses"),
        ("gpt-5-pro", "responses"),
        ("gpt-5.2-pro", "responses"),
        ("codex-mini-latest", "responses"),
        ("o4-mini-deep-research", "responses"),
        ("gpt-5.5-pro-2026-04-23", "responses"),
        ("openai/gpt-6.1-terra-pro", "responses"),
        ("gpt-6-astra-pro", "responses"),
        ("gpt-5.6-cyber", "responses"),
        ("gpt-6-cyber", "responses"),
        ("gpt-6-rosalind", "responses"),
        ("gpt-rosalind-research", "responses"),
        ("gpt-6.2-astra-law", "responses"),
        ("gpt-daybreak-blue-latest", "responses"),
        ("gpt-5", "chat"),
        ("gpt-6.1-sol", "chat"),
        ("gpt-6.2-astra", "chat"),
        ("gpt-6-luna", "chat"),
        ("gpt-5.6-terra", "chat"),
        ("gpt-5.4-mini", "chat"),
        ("gpt-5-profile", "chat"),
    ],
)
def test_api_chosen_per_model(model: str, api: str) -> None:
    assert api_for_model(model) == api
