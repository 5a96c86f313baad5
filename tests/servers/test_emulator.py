"""The offline provider emulator, driven by the providers' own SDKs and by raw HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from google import genai
from google.genai import types as genai_types

from app.core.counting.encodings import get_encoding
from app.core.counting.tokens import TokenCounter
from app.core.messages import ChatMessage
from app.servers.emulator import FAULTS, Emulator
from app.servers.emulator.replies import REASONING_TOKENS

LONG_SYSTEM = "You are a careful assistant who keeps to the facts. " * 120  # ~1300 tokens
OPENAI_HEADERS = {"Authorization": "Bearer demo"}
ANTHROPIC_HEADERS = {"x-api-key": "demo", "anthropic-version": "2023-06-01"}
GEMINI_HEADERS = {"x-goog-api-key": "demo"}


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def oai(emu: Emulator) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=emu.url + "/v1", api_key="demo", max_retries=0) as client:
        yield client


@pytest.fixture
def claude(emu: Emulator) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=emu.url, api_key="demo", max_retries=0) as client:
        yield client


@pytest.fixture
def http() -> Iterator[httpx2.Client]:
    with httpx2.Client(timeout=10) as client:
        yield client


def o200k(text: str) -> int:
    return len(get_encoding("o200k_base").encode_ordinary(text))


def sse(text: str) -> list[tuple[str | None, str]]:
    """``(event name, data)`` of each event in a complete or torn SSE body."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name = None
        data = []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        if data:
            events.append((name, "\n".join(data)))
    return events


def read_stream(http: httpx2.Client, url: str, body: Any, headers: dict[str, str]) -> str:
    """The body of a streamed answer as far as it arrives (a dropped stream ends it)."""
    received = []
    try:
        with http.stream("POST", url, json=body, headers=headers) as response:
            assert response.status_code == 200
            for piece in response.iter_text():
                received.append(piece)
    except (httpx2.RemoteProtocolError, httpx2.ReadError):
        received.append("\n<dropped>")
    return "".join(received)


# --- construction -----------------------------------------------------------------------------


def test_only_loopback_hosts_unless_allowed() -> None:
    with pytest.raises(ValueError, match="allow_remote"):
        Emulator("192.0.2.10")
    with pytest.raises(ValueError):
        Emulator("example.com")
    Emulator("localhost")
    Emulator("::1")
    Emulator("0.0.0.0", allow_remote=True)  # constructed only: nothing is bound before start()
    assert "cut" in FAULTS and "slow-start" in FAULTS and len(FAULTS) == 11


def test_url_and_request_counter(emu: Emulator, http: httpx2.Client) -> None:
    assert emu.url.startswith("http://127.0.0.1:") and not emu.url.endswith("/")
    before = emu.requests_served
    answer = http.get(emu.url + "/nowhere")
    assert answer.status_code == 404
    assert "Invalid URL" in answer.json()["error"]["message"]
    assert emu.requests_served == before + 1


# --- OpenAI Chat Completions ------------------------------------------------------------------


def test_chat_whole_and_streamed_agree_and_report_exact_usage(oai: openai.OpenAI) -> None:
    messages: list[Any] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "How many tokens is this?"},
    ]
    whole = oai.chat.completions.create(model="gpt-4o-mini", messages=messages)
    text = whole.choices[0].message.content
    assert text is not None and "How many tokens is this?" in text
    assert whole.choices[0].finish_reason == "stop"

    streamed = ""
    usage = None
    chunks = 0
    stream = oai.chat.completions.create(
        model="gpt-4o-mini",
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
    )
    with stream:
        for chunk in stream:
            chunks += 1
            if chunk.choices:
                streamed += chunk.choices[0].delta.content or ""
            else:
                usage = chunk.usage
    assert streamed == text
    assert chunks > 5  # about a word per chunk

    expected = TokenCounter().count_chat(
        "gpt-4o-mini", [ChatMessage.from_openai(m) for m in messages]
    )
    for reported in (whole.usage, usage):
        assert reported is not None
        assert reported.prompt_tokens == expected.tokens
        assert reported.completion_tokens == o200k(text)
        assert reported.total_tokens == reported.prompt_tokens + reported.completion_tokens


def test_chat_reasoning_tokens_are_part_of_completion(oai: openai.OpenAI) -> None:
    answer = oai.chat.completions.create(
        model="o4-mini", messages=[{"role": "user", "content": "Think first."}]
    )
    usage = answer.usage
    assert usage is not None and usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == REASONING_TOKENS
    text = answer.choices[0].message.content or ""
    assert usage.completion_tokens == o200k(text) + REASONING_TOKENS


def test_chat_cached_tokens_on_a_repeated_long_prefix(oai: openai.OpenAI) -> None:
    def ask(question: str) -> Any:
        return oai.chat.completions.create(
            model="gpt-4o",
            messages=[
                {"role": "system", "content": LONG_SYSTEM},
                {"role": "user", "content": question},
            ],
        ).usage

    first, second = ask("What is a token?"), ask("And a cached one?")
    assert first.prompt_tokens_details.cached_tokens == 0
    cached = second.prompt_tokens_details.cached_tokens
    prefix = TokenCounter().count_chat("gpt-4o", [ChatMessage("system", LONG_SYSTEM)]).tokens - 3
    assert cached == prefix // 128 * 128 >= 1024
    assert cached <= second.prompt_tokens  # cached tokens are part of the prompt


def test_chat_output_limit_and_words_command(oai: openai.OpenAI) -> None:
    long = oai.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "/words 300"}]
    )
    assert len((long.choices[0].message.content or "").split()) == 300
    cut = oai.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "/words 300"}],
        max_completion_tokens=7,
    )
    assert cut.choices[0].finish_reason == "length"
    assert cut.usage is not None and cut.usage.completion_tokens <= 7
    assert cut.usage.completion_tokens == o200k(cut.choices[0].message.content or "")


def test_chat_errors_as_the_sdk_knows_them(emu: Emulator, oai: openai.OpenAI) -> None:
    messages: list[Any] = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.RateLimitError) as limited:
        oai.chat.completions.create(model="gpt-4o-mini@rate-limit", messages=messages)
    assert limited.value.response.headers["retry-after"] == "1"
    with pytest.raises(openai.AuthenticationError, match="Incorrect API key provided: demo"):
        oai.chat.completions.create(model="gpt-4o-mini@auth", messages=messages)
    with pytest.raises(openai.NotFoundError):
        oai.chat.completions.create(model="gpt-4o-mini@not-found", messages=messages)
    with pytest.raises(openai.InternalServerError) as failed:
        oai.chat.completions.create(model="gpt-4o-mini@server-error", messages=messages)
    assert failed.value.status_code == 500
    with pytest.raises(openai.APIStatusError) as overloaded:
        oai.chat.completions.create(
            model="gpt-4o-mini",
            messages=messages,
            extra_headers={"X-Emulator-Fault": "overloaded"},
        )
    assert overloaded.value.status_code == 503
    with pytest.raises(openai.BadRequestError, match="unknown X-Emulator-Fault"):
        oai.chat.completions.create(
            model="gpt-4o-mini", messages=messages, extra_headers={"X-Emulator-Fault": "nope"}
        )
    with pytest.raises(openai.BadRequestError):
        oai.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "wizard", "content": "x"}]
        )


def test_rate_limit_once_is_retried_by_the_sdk(emu: Emulator) -> None:
    with openai.OpenAI(base_url=emu.url + "/v1", api_key="demo", max_retries=1) as client:
        before = emu.requests_served
        answer = client.chat.completions.create(
            model="gpt-4o-mini@rate-limit-once", messages=[{"role": "user", "content": "again"}]
        )
        assert answer.model == "gpt-4o-mini"  # reported without the fault suffix
        assert emu.requests_served == before + 2
        client.chat.completions.create(
            model="gpt-4o-mini@rate-limit-once", messages=[{"role": "user", "content": "again"}]
        )
        assert emu.requests_served == before + 3  # only the first call is refused


def test_missing_bearer_key_is_401(emu: Emulator, http: httpx2.Client) -> None:
    answer = http.post(
        emu.url + "/v1/chat/completions",
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]},
    )
    assert answer.status_code == 401
    error = answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}


def test_models_list_is_openai_or_anthropic_by_headers(
    oai: openai.OpenAI, claude: anthropic.Anthropic
) -> None:
    assert "gpt-4o-mini" in [model.id for model in oai.models.list()]
    names = [model.id for model in claude.models.list()]
    assert names and all(name.startswith("claude") for name in names)


# --- OpenAI Responses -------------------------------------------------------------------------


def test_responses_stream_ends_with_completed_usage(oai: openai.OpenAI) -> None:
    kinds: list[str] = []
    text = ""
    final: Any = None
    stream = oai.responses.create(
        model="gpt-5-mini",
        instructions="Answer plainly.",
        input=[{"role": "user", "content": [{"type": "input_text", "text": "Hello Responses"}]}],
        stream=True,
    )
    with stream:
        for event in stream:
            kinds.append(event.type)
            if event.type == "response.output_text.delta":
                text += event.delta
            if event.type == "response.completed":
                final = event.response
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert final is not None and final.output_text == text
    usage = final.usage
    expected = TokenCounter().count_chat(
        "gpt-5-mini",
        [ChatMessage("system", "Answer plainly."), ChatMessage("user", ("Hello Responses",))],
    )
    assert usage.input_tokens == expected.tokens
    assert usage.output_tokens_details.reasoning_tokens == REASONING_TOKENS
    assert usage.output_tokens == o200k(text) + REASONING_TOKENS
    assert usage.input_tokens_details.cached_tokens == 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens


def test_responses_whole_and_incomplete(oai: openai.OpenAI) -> None:
    whole = oai.responses.create(model="gpt-4o", input="Say something")
    assert whole.status == "completed" and "Say something" in whole.output_text
    short = oai.responses.create(model="gpt-4o", input="/words 100", max_output_tokens=16)
    assert short.status == "incomplete"
    assert short.incomplete_details is not None
    assert short.incomplete_details.reason == "max_output_tokens"
    assert short.usage is not None and short.usage.output_tokens <= 16


def test_responses_stream_incomplete_event(emu: Emulator, http: httpx2.Client) -> None:
    body = {"model": "gpt-4o", "input": "/words 50", "max_output_tokens": 16, "stream": True}
    events = sse(read_stream(http, emu.url + "/v1/responses", body, OPENAI_HEADERS))
    assert events[-1][0] == "response.incomplete"
    assert all(data != "[DONE]" for _, data in events)
    numbers = [json.loads(data)["sequence_number"] for _, data in events]
    assert numbers == list(range(len(events)))


# --- Anthropic --------------------------------------------------------------------------------


def test_anthropic_whole_and_streamed(claude: anthropic.Anthropic) -> None:
    messages: list[Any] = [{"role": "user", "content": "Hello Claude"}]
    whole = claude.messages.create(
        model="claude-haiku-4-5", max_tokens=200, system="Be kind.", messages=messages
    )
    block = whole.content[0]
    assert block.type == "text" and "Hello Claude" in block.text
    with claude.messages.stream(
        model="claude-haiku-4-5", max_tokens=200, system="Be kind.", messages=messages
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "text" and final.content[0].text == block.text
    raw = TokenCounter().count_chat(
        "gpt-4o", [ChatMessage("system", "Be kind."), ChatMessage("user", "Hello Claude")]
    )
    estimate = TokenCounter().count_chat(
        "claude-haiku-4-5", [ChatMessage("system", "Be kind."), ChatMessage("user", "Hello Claude")]
    )
    for usage in (whole.usage, final.usage):
        assert usage.input_tokens == raw.tokens != estimate.tokens  # a realistic drift
        assert usage.output_tokens == o200k(block.text)
        assert usage.cache_read_input_tokens == 0 and usage.cache_creation_input_tokens == 0
    counted = claude.messages.count_tokens(
        model="claude-haiku-4-5", system="Be kind.", messages=messages
    )
    assert counted.input_tokens == raw.tokens
    assert whole.stop_reason == final.stop_reason == "end_turn"


def test_anthropic_cache_write_then_read(claude: anthropic.Anthropic) -> None:
    def ask(question: str, ttl: str | None = None) -> Any:
        marker: dict[str, Any] = {"type": "ephemeral"}
        if ttl:
            marker["ttl"] = ttl
        with claude.messages.stream(
            model="claude-haiku-4-5",
            max_tokens=100,
            system=[{"type": "text", "text": LONG_SYSTEM, "cache_control": marker}],
            messages=[{"role": "user", "content": question}],
        ) as stream:
            return stream.get_final_message().usage

    first, second = ask("First question"), ask("Second question")
    prefix = TokenCounter().count_chat("gpt-4o", [ChatMessage("system", LONG_SYSTEM)]).tokens - 3
    assert first.cache_creation_input_tokens == prefix and first.cache_read_input_tokens == 0
    assert first.cache_creation.ephemeral_5m_input_tokens == prefix
    assert first.cache_creation.ephemeral_1h_input_tokens == 0
    assert second.cache_read_input_tokens == prefix and second.cache_creation_input_tokens == 0
    total = TokenCounter().count_chat(
        "gpt-4o", [ChatMessage("system", LONG_SYSTEM), ChatMessage("user", "Second question")]
    )
    assert second.input_tokens == total.tokens - prefix  # input excludes the cache counts
    other = ask("Third", ttl="1h")
    assert other.cache_read_input_tokens == prefix  # same prefix, already cached


def test_anthropic_one_hour_cache_write(claude: anthropic.Anthropic) -> None:
    answer = claude.messages.create(
        model="claude-haiku-4-5",
        max_tokens=50,
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": LONG_SYSTEM,
                        "cache_control": {"type": "ephemeral", "ttl": "1h"},
                    }
                ],
            },
            {"role": "assistant", "content": "Noted."},
            {"role": "user", "content": "Now?"},
        ],
    )
    written = answer.usage.cache_creation_input_tokens
    assert written and answer.usage.cache_creation is not None
    assert answer.usage.cache_creation.ephemeral_1h_input_tokens == written
    assert answer.usage.cache_creation.ephemeral_5m_input_tokens == 0


def test_anthropic_thinking_block_billed_as_output(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(
        model="claude-haiku-4-5",
        max_tokens=2000,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "Ponder"}],
    ) as stream:
        final = stream.get_final_message()
    thinking, text = final.content
    assert thinking.type == "thinking" and thinking.thinking and thinking.signature
    assert text.type == "text"
    assert final.usage.output_tokens == o200k(text.text) + REASONING_TOKENS


def test_anthropic_limits_and_errors(emu: Emulator, claude: anthropic.Anthropic) -> None:
    messages: list[Any] = [{"role": "user", "content": "/words 80"}]
    short = claude.messages.create(model="claude-haiku-4-5", max_tokens=5, messages=messages)
    assert short.stop_reason == "max_tokens" and short.usage.output_tokens <= 5
    with pytest.raises(anthropic.RateLimitError):
        claude.messages.create(model="claude-haiku-4-5@rate-limit", max_tokens=5, messages=messages)
    with pytest.raises(anthropic.APIStatusError) as overloaded:
        claude.messages.create(model="claude-haiku-4-5@overloaded", max_tokens=5, messages=messages)
    assert overloaded.value.status_code == 529
    assert overloaded.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    with pytest.raises(anthropic.AuthenticationError, match="demo"):
        claude.messages.create(model="claude-haiku-4-5@auth", max_tokens=5, messages=messages)
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.create(model="claude-haiku-4-5@not-found", max_tokens=5, messages=messages)


def test_anthropic_headers_are_required(emu: Emulator, http: httpx2.Client) -> None:
    body = {
        "model": "claude-haiku-4-5",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "x"}],
    }
    no_key = http.post(
        emu.url + "/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"}
    )
    assert no_key.status_code == 401
    assert no_key.json()["error"]["type"] == "authentication_error"
    no_version = http.post(emu.url + "/v1/messages", json=body, headers={"x-api-key": "demo"})
    assert no_version.status_code == 400
    assert no_version.json()["type"] == "error"


def test_anthropic_stream_event_order(emu: Emulator, http: httpx2.Client) -> None:
    body = {
        "model": "claude-haiku-4-5",
        "max_tokens": 100,
        "stream": True,
        "messages": [{"role": "user", "content": "Order please"}],
    }
    events = sse(read_stream(http, emu.url + "/v1/messages", body, ANTHROPIC_HEADERS))
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    for name, data in events:
        assert json.loads(data)["type"] == name
    start = json.loads(events[0][1])["message"]["usage"]
    delta = json.loads(events[-2][1])["usage"]
    assert start["output_tokens"] == 1 and delta["output_tokens"] > 1
    assert delta["input_tokens"] == start["input_tokens"]


# --- Gemini -----------------------------------------------------------------------------------


def gemini_body(text: str, **config: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "systemInstruction": {"parts": [{"text": "Be helpful."}]},
        "contents": [{"role": "user", "parts": [{"text": text}]}],
    }
    if config:
        body["generationConfig"] = config
    return body


def test_gemini_sse_usage_is_cumulative(emu: Emulator, http: httpx2.Client) -> None:
    url = emu.url + "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
    raw = read_stream(http, url, gemini_body("Hello Gemini"), GEMINI_HEADERS)
    assert "\r\n\r\n" in raw
    chunks = [json.loads(data) for _, data in sse(raw)]
    assert len(chunks) > 5
    text = "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks)
    counts = [c["usageMetadata"]["candidatesTokenCount"] for c in chunks]
    assert counts == sorted(counts)
    last = chunks[-1]
    assert last["candidates"][0]["finishReason"] == "STOP"
    assert all("finishReason" not in c["candidates"][0] for c in chunks[:-1])
    usage = last["usageMetadata"]
    prompt = TokenCounter().count_chat(
        "gpt-4o", [ChatMessage("system", "Be helpful."), ChatMessage("user", "Hello Gemini")]
    )
    assert usage["promptTokenCount"] == prompt.tokens
    assert usage["candidatesTokenCount"] == o200k(text)
    assert usage["totalTokenCount"] == prompt.tokens + o200k(text)
    assert "thoughtsTokenCount" not in usage
    assert last["modelVersion"] == "gemini-2.0-flash"

    whole = http.post(
        emu.url + "/v1beta/models/gemini-2.0-flash:generateContent",
        json=gemini_body("Hello Gemini"),
        headers=GEMINI_HEADERS,
    ).json()
    assert whole["candidates"][0]["content"]["parts"][0]["text"] == text
    assert whole["usageMetadata"] == usage


def test_gemini_thoughts_are_separate_and_cache_is_reported(
    emu: Emulator, http: httpx2.Client
) -> None:
    url = emu.url + "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    body = gemini_body("Think", thinkingConfig={"includeThoughts": True})
    chunks = [json.loads(d) for _, d in sse(read_stream(http, url, body, GEMINI_HEADERS))]
    assert chunks[0]["candidates"][0]["content"]["parts"][0]["thought"] is True
    text = "".join(
        part["text"]
        for c in chunks
        for part in c["candidates"][0]["content"]["parts"]
        if not part.get("thought")
    )
    usage = chunks[-1]["usageMetadata"]
    assert usage["thoughtsTokenCount"] == REASONING_TOKENS
    assert usage["candidatesTokenCount"] == o200k(text)  # thoughts are not in the candidates
    assert usage["totalTokenCount"] == (
        usage["promptTokenCount"] + usage["candidatesTokenCount"] + usage["thoughtsTokenCount"]
    )
    off = http.post(
        emu.url + "/v1beta/models/gemini-2.5-flash:generateContent",
        json=gemini_body("No thinking", thinkingConfig={"thinkingBudget": 0}),
        headers=GEMINI_HEADERS,
    ).json()
    assert "thoughtsTokenCount" not in off["usageMetadata"]

    def cached(question: str) -> Any:
        long = {"systemInstruction": {"parts": [{"text": LONG_SYSTEM}]}}
        request = {**gemini_body(question), **long}
        return http.post(
            emu.url + "/v1beta/models/gemini-2.0-flash:generateContent?key=demo", json=request
        ).json()["usageMetadata"]

    assert "cachedContentTokenCount" not in cached("one")
    again = cached("two")
    assert again["cachedContentTokenCount"] >= 1024
    assert again["cachedContentTokenCount"] % 128 == 0
    assert again["cachedContentTokenCount"] < again["promptTokenCount"]


def test_gemini_count_tokens_and_requests(emu: Emulator, http: httpx2.Client) -> None:
    url = emu.url + "/v1beta/models/gemini-2.5-pro:countTokens"
    body = gemini_body("Count me")
    plain = http.post(url, json={"contents": body["contents"]}, headers=GEMINI_HEADERS).json()
    wrapped = http.post(
        url,
        json={"generateContentRequest": {"model": "models/gemini-2.5-pro", **body}},
        headers=GEMINI_HEADERS,
    ).json()
    assert (
        plain["totalTokens"]
        == TokenCounter().count_chat("gpt-4o", [ChatMessage("user", "Count me")]).tokens
    )
    assert wrapped["totalTokens"] > plain["totalTokens"]  # the system instruction counts too
    no_sse = http.post(
        emu.url + "/v1beta/models/gemini-2.5-pro:streamGenerateContent",
        json=body,
        headers=GEMINI_HEADERS,
    )
    assert no_sse.status_code == 400 and "alt=sse" in no_sse.json()["error"]["message"]
    no_key = http.post(emu.url + "/v1beta/models/gemini-2.5-pro:generateContent", json=body)
    assert no_key.status_code == 403
    limited = http.post(
        emu.url + "/v1beta/models/gemini-2.5-pro@rate-limit:generateContent",
        json=body,
        headers=GEMINI_HEADERS,
    )
    assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
    assert limited.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    short = http.post(
        emu.url + "/v1beta/models/gemini-2.0-flash:generateContent",
        json=gemini_body("/words 90", maxOutputTokens=10),
        headers=GEMINI_HEADERS,
    ).json()
    assert short["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert short["usageMetadata"]["candidatesTokenCount"] <= 10
    models = http.get(emu.url + "/v1beta/models", headers=GEMINI_HEADERS).json()["models"]
    assert all(model["name"].startswith("models/gemini") for model in models)


def test_google_genai_sdk(emu: Emulator) -> None:
    client = genai.Client(api_key="demo", http_options=genai_types.HttpOptions(base_url=emu.url))
    try:
        whole = client.models.generate_content(model="gemini-2.5-flash", contents="Hello SDK")
        assert whole.text is not None and "Hello SDK" in whole.text
        assert whole.usage_metadata is not None
        assert whole.usage_metadata.thoughts_token_count == REASONING_TOKENS
        text = ""
        last: Any = None
        for chunk in client.models.generate_content_stream(
            model="gemini-2.0-flash", contents="Hello SDK"
        ):
            text += chunk.text or ""
            last = chunk
        assert text == whole.text
        assert last.usage_metadata.candidates_token_count == o200k(text)
        counted = client.models.count_tokens(model="gemini-2.0-flash", contents="Hello SDK")
        assert counted.total_tokens == last.usage_metadata.prompt_token_count
    finally:
        client.close()


# --- faults on the wire -----------------------------------------------------------------------


def chat_body(model: str, text: str = "/words 40") -> dict[str, Any]:
    return {
        "model": model,
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": text}],
    }


def test_cut_drops_the_stream_before_usage(emu: Emulator, http: httpx2.Client) -> None:
    raw = read_stream(
        http, emu.url + "/v1/chat/completions", chat_body("gpt-4o@cut"), OPENAI_HEADERS
    )
    assert raw.endswith("<dropped>")
    events = sse(raw.removesuffix("\n<dropped>"))
    assert events and "[DONE]" not in [data for _, data in events]
    assert not any(json.loads(data).get("usage") for _, data in events)
    words = "".join(
        json.loads(data)["choices"][0]["delta"].get("content", "") for _, data in events
    ).split()
    assert 5 < len(words) < 40  # about half
    anthropic_raw = read_stream(
        http,
        emu.url + "/v1/messages",
        {
            "model": "claude-haiku-4-5",
            "max_tokens": 500,
            "stream": True,
            "messages": [{"role": "user", "content": "/words 30"}],
        },
        {**ANTHROPIC_HEADERS, "X-Emulator-Fault": "cut"},
    )
    assert "message_delta" not in anthropic_raw and "message_stop" not in anthropic_raw
    # the connection the cut used is gone, but the emulator serves the next request as usual
    assert http.get(emu.url + "/v1/models", headers=OPENAI_HEADERS).status_code == 200


def test_malformed_event_then_the_stream_goes_on(emu: Emulator, http: httpx2.Client) -> None:
    raw = read_stream(
        http, emu.url + "/v1/chat/completions", chat_body("gpt-4o@malformed"), OPENAI_HEADERS
    )
    broken = 0
    usage = None
    datas = [data for _, data in sse(raw)]
    assert datas[-1] == "[DONE]"
    for data in datas[:-1]:
        try:
            chunk = json.loads(data)
        except json.JSONDecodeError:
            broken += 1
            continue
        usage = chunk.get("usage") or usage
    assert broken == 1
    assert usage is not None


def test_no_usage_anywhere(emu: Emulator, http: httpx2.Client) -> None:
    raw = read_stream(
        http, emu.url + "/v1/chat/completions", chat_body("gpt-4o@no-usage"), OPENAI_HEADERS
    )
    chunks = [json.loads(data) for _, data in sse(raw) if data != "[DONE]"]
    assert chunks and all("usage" not in chunk for chunk in chunks)
    assert all(chunk["choices"] for chunk in chunks)
    claude_raw = read_stream(
        http,
        emu.url + "/v1/messages",
        {
            "model": "claude-haiku-4-5@no-usage",
            "max_tokens": 50,
            "stream": True,
            "messages": [{"role": "user", "content": "x"}],
        },
        ANTHROPIC_HEADERS,
    )
    assert '"usage"' not in claude_raw and "message_stop" in claude_raw
    gemini_raw = read_stream(
        http,
        emu.url + "/v1beta/models/gemini-2.0-flash@no-usage:streamGenerateContent?alt=sse",
        gemini_body("x"),
        GEMINI_HEADERS,
    )
    assert "usageMetadata" not in gemini_raw and "STOP" in gemini_raw
    whole = http.post(
        emu.url + "/v1/chat/completions",
        json={**chat_body("gpt-4o@no-usage"), "stream": False},
        headers=OPENAI_HEADERS,
    ).json()
    assert "usage" not in whole


def test_slow_start_trips_a_read_timeout(emu: Emulator) -> None:
    started = time.monotonic()
    with (
        httpx2.Client(timeout=httpx2.Timeout(5.0, read=1.0)) as client,
        pytest.raises(httpx2.ReadTimeout),
    ):
        client.post(
            emu.url + "/v1/chat/completions",
            json=chat_body("gpt-4o"),
            headers={**OPENAI_HEADERS, "X-Emulator-Fault": "slow-start"},
        )
    assert 0.9 < time.monotonic() - started < 2.9


def test_slow_spaces_out_events(emu: Emulator, http: httpx2.Client) -> None:
    started = time.monotonic()
    read_stream(
        http,
        emu.url + "/v1/chat/completions",
        chat_body("gpt-4o@slow", "/words 1"),
        OPENAI_HEADERS,
    )
    assert time.monotonic() - started >= 0.2 * 4  # role, 1 word, finish, usage, [DONE]


def test_cut_whole_answer_is_a_connection_error(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.APIConnectionError):
        oai.chat.completions.create(
            model="gpt-4o-mini@cut", messages=[{"role": "user", "content": "hi"}]
        )


def test_stop_is_idempotent_and_frees_the_port() -> None:
    emulator = Emulator().start()
    url = emulator.url
    emulator.stop()
    emulator.stop()
    with httpx2.Client(timeout=2) as client, pytest.raises(httpx2.ConnectError):
        client.get(url + "/")
