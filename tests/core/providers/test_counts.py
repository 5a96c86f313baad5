from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from app.core import keys
from app.core.errors import AuthenticationFailed, TallybookError
from app.core.messages import ChatPayload
from app.core.providers import counts, registry
from app.core.storage.db import Database
from tests.support.replay_server import Answer, Recorded, ReplayServer, replay_server

SENTINEL = "sk-ant-SENTINEL-abcdefghijklmnopqrstuvwxyz"
PAYLOAD = ChatPayload.from_openai(
    {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "t1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "t1", "content": "18C"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "weather",
                    "description": "Weather now",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            }
        ],
    }
)


def _at(endpoint_id: str, url: str) -> registry.Endpoint:
    """A built-in endpoint, pointed at the test server."""
    builtin = next(e for e in registry.BUILTIN if e.id == endpoint_id)
    return dataclasses.replace(builtin, base_url=url)


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with replay_server() as running:
        yield running


def test_anthropic_count_tokens(server: ReplayServer) -> None:
    keys.set_key("anthropic", SENTINEL)
    server.answer = Answer(200, {"input_tokens": 321})
    count = counts.provider_count(
        _at("anthropic", server.url), "claude-sonnet-4-5", PAYLOAD.messages, PAYLOAD.tools
    )
    assert (count.tokens, count.exact, count.method) == (321, True, "Anthropic's own count")
    (request,) = server.requests
    assert request.path == "/v1/messages/count_tokens"
    assert request.headers["x-api-key"] == SENTINEL
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.body["system"] == "Be brief."
    assert [turn["role"] for turn in request.body["messages"]] == ["user", "assistant", "user"]
    assert request.body["messages"][1]["content"][0] == {
        "type": "tool_use",
        "id": "t1",
        "name": "weather",
        "input": {"city": "Paris"},
    }
    assert request.body["messages"][2]["content"][0]["type"] == "tool_result"
    assert request.body["tools"][0]["input_schema"]["properties"] == {"city": {"type": "string"}}


def test_gemini_count_tokens(server: ReplayServer) -> None:
    keys.set_key("gemini", "AIza-SENTINEL-0000000000000000000000")
    server.answer = Answer(200, {"totalTokens": 77})
    count = counts.provider_count(
        _at("gemini", server.url), "gemini-2.5-flash", PAYLOAD.messages, PAYLOAD.tools
    )
    assert count.tokens == 77
    (request,) = server.requests
    assert request.path == "/v1beta/models/gemini-2.5-flash:countTokens"
    assert "key=" not in request.path  # the key travels in a header, not the URL
    inner = request.body["generateContentRequest"]
    assert inner["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert [c["role"] for c in inner["contents"]] == ["user", "model", "user"]
    assert inner["contents"][2]["parts"][0]["functionResponse"]["name"] == "weather"


def test_a_401_echoing_the_key_is_redacted(server: ReplayServer) -> None:
    keys.set_key("anthropic", SENTINEL)

    def refuse(request: Recorded) -> Answer:
        return Answer(
            401,
            {"error": {"type": "authentication_error", "message": f"invalid x-api-key {SENTINEL}"}},
        )

    server.answer = refuse
    with pytest.raises(AuthenticationFailed) as failed:
        counts.provider_count(_at("anthropic", server.url), "claude-sonnet-4-5", PAYLOAD.messages)
    assert failed.value.status == 401
    assert SENTINEL not in str(failed.value)
    assert "[redacted]" in str(failed.value)


def test_a_malformed_answer_is_a_clear_error(server: ReplayServer) -> None:
    keys.set_key("anthropic", SENTINEL)
    server.answer = Answer(200, {"input_tokens": -4})
    with pytest.raises(TallybookError, match="no usable 'input_tokens'"):
        counts.provider_count(_at("anthropic", server.url), "claude-sonnet-4-5", PAYLOAD.messages)


def test_without_a_key_or_an_endpoint_the_estimate_stands() -> None:
    with pytest.raises(TallybookError, match="No Anthropic key"):
        counts.provider_count(
            _at("anthropic", "http://127.0.0.1:9"), "claude-sonnet-4-5", PAYLOAD.messages
        )
    with pytest.raises(TallybookError, match="no token count endpoint"):
        counts.provider_count(_at("openai", "http://127.0.0.1:9"), "gpt-4o", PAYLOAD.messages)


def test_provider_counts_are_opt_in(db: Database) -> None:
    with db.write() as session:
        assert not counts.allowed(session)
        counts.set_allowed(session, True)
        assert counts.allowed(session)
