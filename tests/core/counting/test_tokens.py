from __future__ import annotations

import base64
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.counting.images import Patches, Tiles, tokens_for_size
from app.core.counting.tokens import TokenCounter, counting_rules
from app.core.messages import ChatMessage, ChatPayload, ImagePart, InvalidPayload, ToolSpec

# The OpenAI cookbook's examples, with the prompt_tokens the API reported for them.
COOKBOOK_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "New synergies will help drive top-line growth.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client deliverable.",
    },
]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {
                    "type": "string",
                    "description": "The city and state, e.g. San Francisco, CA",
                },
                "unit": {
                    "type": "string",
                    "description": "The unit of temperature to return",
                    "enum": ["celsius", "fahrenheit"],
                },
            },
            "required": ["location"],
        },
    },
}
WEATHER_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful assistant that can answer to questions about the weather.",
    },
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]


@pytest.fixture
def counter() -> TokenCounter:
    return TokenCounter()


@pytest.mark.parametrize(
    ("model", "tokens"),
    [
        ("gpt-3.5-turbo-0301", 127),
        ("gpt-3.5-turbo-0613", 129),
        ("gpt-4-0613", 129),
        ("gpt-4", 129),
        ("gpt-4o", 124),
        ("gpt-4o-mini", 124),
        ("gpt-4o-2024-08-06", 124),
        ("openai/gpt-4o", 124),
    ],
)
def test_chat_payload_counts_match_the_cookbook(
    counter: TokenCounter, model: str, tokens: int
) -> None:
    count = counter.count_chat(model, ChatPayload.from_openai(COOKBOOK_MESSAGES).messages)
    assert (count.tokens, count.exact) == (tokens, True)


@pytest.mark.parametrize(
    ("model", "tokens"),
    [("gpt-3.5-turbo", 105), ("gpt-4", 105), ("gpt-4o", 101), ("gpt-4o-mini", 101)],
)
def test_tool_definitions_match_the_cookbook(
    counter: TokenCounter, model: str, tokens: int
) -> None:
    payload = ChatPayload.from_openai({"messages": WEATHER_MESSAGES, "tools": [WEATHER_TOOL]})
    count = counter.count_chat(model, payload.messages, payload.tools)
    assert count.tokens == tokens
    assert not count.exact and "approximate" in count.method  # the cookbook calls it an estimate


def test_names_priming_and_tool_calls(counter: TokenCounter) -> None:
    plain = counter.count_chat("gpt-4o", [ChatMessage("user", "hi")])
    named = counter.count_chat("gpt-4o", [ChatMessage("user", "hi", name="ann")])
    assert plain.tokens == 3 + 1 + 1 + 3  # per message, role, content, reply priming
    assert named.tokens == plain.tokens + 1 + 1  # the name, and its extra token
    call = ChatPayload.from_openai(
        [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {
                            "name": "get_current_weather",
                            "arguments": '{"location": "Paris"}',
                        },
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"},
        ]
    )
    counted = counter.count_chat("gpt-4o", call.messages)
    assert counted.tokens > 20 and not counted.exact


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-5", "o200k_base"),
        ("gpt-5-mini-2025-08-07", "o200k_base"),
        ("gpt-4.1", "o200k_base"),
        ("gpt-4.1-nano-2025-04-14", "o200k_base"),
        ("gpt-4o-2024-08-06", "o200k_base"),
        ("chatgpt-4o-latest", "o200k_base"),
        ("o1", "o200k_base"),
        ("o1-mini-2024-09-12", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("o4-mini", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-0613", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("gpt-3.5-turbo-1106", "cl100k_base"),
        ("openai/gpt-4o", "o200k_base"),
        ("openai/gpt-3.5-turbo", "cl100k_base"),
        ("ft:gpt-4o-mini:org::abc", "o200k_base"),
    ],
)
def test_model_to_encoding(model: str, encoding: str) -> None:
    rules = counting_rules(model)
    assert (rules.encoding, rules.exact, rules.family) == (encoding, True, "openai")


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("claude-sonnet-4-5", "anthropic"),
        ("anthropic/claude-3.5-sonnet", "anthropic"),
        ("gemini-2.5-pro", "gemini"),
        ("models/gemini-2.5-flash", "gemini"),
        ("llama-3.3-70b-versatile", "other"),
        ("deepseek-chat", "other"),
    ],
)
def test_other_models_are_marked_as_estimates(
    counter: TokenCounter, model: str, family: str
) -> None:
    rules = counting_rules(model)
    assert (rules.family, rules.exact) == (family, False)
    count = counter.count_chat(model, [ChatMessage("user", "How many tokens is this, really?")])
    assert not count.exact
    assert "not public" in count.method
    assert (
        count.tokens
        >= counter.count_chat(
            "gpt-4o", [ChatMessage("user", "How many tokens is this, really?")]
        ).tokens
    )


def _png(width: int, height: int) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize(
    ("size", "detail", "model", "image_tokens"),
    [
        ((1024, 1024), "high", "gpt-4o", 765),
        ((2048, 4096), "high", "gpt-4o", 1105),
        ((4096, 8192), "low", "gpt-4o", 85),
        ((1024, 1024), "high", "gpt-4o-mini", 2833 + 4 * 5667),
        ((1024, 1024), "auto", "gpt-5", 70 + 4 * 140),
        ((1024, 1024), "high", "o1", 75 + 4 * 150),
        ((1024, 1024), "high", "gpt-4.1-mini", 1659),
        ((1800, 2400), "high", "o4-mini", 2498),
    ],
)
def test_images_by_openais_formula(
    counter: TokenCounter, size: tuple[int, int], detail: str, model: str, image_tokens: int
) -> None:
    with_image = ChatMessage("user", ("What is this?", ImagePart(_png(*size), detail)))
    without = ChatMessage("user", "What is this?")
    count = counter.count_chat(model, [with_image])
    assert count.exact
    assert count.tokens - counter.count_chat(model, [without]).tokens == image_tokens


def test_documented_image_examples() -> None:
    assert tokens_for_size(Tiles(85, 170), 1024, 1024) == 765
    assert tokens_for_size(Tiles(85, 170), 2048, 4096) == 1105
    assert tokens_for_size(Patches(1.0), 1024, 1024) == 1024
    assert tokens_for_size(Patches(1.0), 1800, 2400) == 1452


def test_a_web_image_of_unknown_size_is_an_estimate_at_the_maximum(counter: TokenCounter) -> None:
    message = ChatMessage("user", (ImagePart("https://example.com/cat.jpg", "high"),))
    count = counter.count_chat("gpt-4o", [message])
    assert not count.exact
    assert count.tokens >= 85 + 8 * 170


def test_bad_payloads_are_rejected_clearly() -> None:
    for bad in (
        {"messages": [{"role": "wizard", "content": "x"}]},
        {"messages": "hi"},
        [{"role": "user", "content": 5}],
        {"messages": [{"role": "user", "content": [{"type": "audio"}]}]},
    ):
        with pytest.raises(InvalidPayload):
            ChatPayload.from_openai(bad)
    with pytest.raises(InvalidPayload, match="not valid JSON"):
        ChatPayload.parse("{nope")


def test_recount_after_one_new_message_encodes_only_that_message(counter: TokenCounter) -> None:
    history = [
        ChatMessage("user" if i % 2 else "assistant", f"message number {i} " * 20)
        for i in range(200)
    ]
    first = counter.count_chat("gpt-4o", history)
    assert len(counter) == 200
    longer = [*history, ChatMessage("user", "and one more")]
    second = counter.count_chat("gpt-4o", longer)
    assert len(counter) == 201
    assert (
        second.tokens == first.tokens + TokenCounter().count_chat("gpt-4o", [longer[-1]]).tokens - 3
    )


def test_cache_is_bounded() -> None:
    counter = TokenCounter(max_messages=10)
    counter.count_chat("gpt-4o", [ChatMessage("user", f"text {i}") for i in range(50)])
    assert len(counter) == 10


def test_same_text_under_different_rules_is_cached_apart(counter: TokenCounter) -> None:
    messages = [ChatMessage("user", "Grüße aus Köln, 東京 and 🧾 receipts " * 10, name="sam")]
    legacy = counter.count_chat("gpt-3.5-turbo-0301", messages)
    modern = counter.count_chat("gpt-3.5-turbo-0613", messages)
    o200k = counter.count_chat("gpt-4o", messages)
    fresh = TokenCounter()
    assert legacy.tokens == fresh.count_chat("gpt-3.5-turbo-0301", messages).tokens
    assert modern.tokens == fresh.count_chat("gpt-3.5-turbo-0613", messages).tokens
    assert o200k.tokens == fresh.count_chat("gpt-4o", messages).tokens
    assert legacy.tokens != modern.tokens


texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)
edits = st.lists(
    st.tuples(st.sampled_from(["append", "edit", "delete", "rename"]), st.integers(0, 30), texts),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(texts, min_size=1, max_size=12),
    edits,
    st.sampled_from(["gpt-4o", "gpt-4", "claude-sonnet-4-5"]),
)
def test_cached_counts_always_equal_a_fresh_count(
    start: list[str], steps: list[tuple[str, int, str]], model: str
) -> None:
    shared = TokenCounter(max_messages=16)  # small, so eviction happens too
    messages = [
        ChatMessage("user" if i % 2 == 0 else "assistant", text) for i, text in enumerate(start)
    ]
    for action, position, text in steps:
        index = position % len(messages) if messages else 0
        if action == "append" or not messages:
            messages.append(ChatMessage("user", text))
        elif action == "edit":
            messages[index] = ChatMessage(messages[index].role, text)
        elif action == "rename":
            messages[index] = ChatMessage(
                messages[index].role, messages[index].content, name=text or None
            )
        else:
            del messages[index]
        assert shared.count_chat(model, messages) == TokenCounter().count_chat(model, messages)


def test_tool_spec_round_trip() -> None:
    spec = ToolSpec.from_openai(WEATHER_TOOL)
    assert ToolSpec.from_openai(spec.to_openai()) == spec


def test_cache_is_bounded_by_characters_too() -> None:
    counter = TokenCounter(max_characters=1000)
    counter.count_chat("gpt-4o", [ChatMessage("user", "x" * 300) for _ in range(1)])
    counter.count_chat("gpt-4o", [ChatMessage("user", str(i) * 300) for i in range(10)])
    assert len(counter) == 3  # 3 x 300 characters fit in 1000
