from __future__ import annotations

import pytest

from app.core.counting.tokens import TokenCounter
from app.core.counting.window import fit_context
from app.core.errors import ContextWindowExceeded
from app.core.messages import ChatMessage, ChatPayload
from app.core.pricing.prices import ModelLimits

SYSTEM = ChatMessage("system", "You are terse.")


def _history(turns: int) -> list[ChatMessage]:
    messages = [SYSTEM]
    for i in range(turns):
        messages += [
            ChatMessage("user", f"question {i} " * 30),
            ChatMessage("assistant", f"answer {i} " * 30),
        ]
    return [*messages, ChatMessage("user", "the newest question")]


def test_fits_untouched(counter: TokenCounter) -> None:
    messages = _history(3)
    fitted = fit_context(counter, "gpt-4o", messages, ModelLimits(128_000, 16_384))
    assert fitted.messages == tuple(messages)
    assert fitted.dropped == 0


def test_refused_with_the_counts_in_the_message(counter: TokenCounter) -> None:
    messages = _history(10)
    total = counter.count_chat("gpt-4o", messages).tokens
    with pytest.raises(ContextWindowExceeded) as refused:
        fit_context(counter, "gpt-4o", messages, ModelLimits(total + 50, None), reserve_output=100)
    assert (refused.value.prompt_tokens, refused.value.reserved_tokens, refused.value.window) == (
        total,
        100,
        total + 50,
    )
    assert f"{total:,} tokens + 100 kept for the reply" in str(refused.value)
    assert "Nothing was sent" in str(refused.value)


def test_trimming_drops_the_oldest_and_keeps_system_and_newest_user(counter: TokenCounter) -> None:
    messages = _history(10)
    window = counter.count_chat("gpt-4o", [SYSTEM, *messages[-5:]]).tokens + 10
    fitted = fit_context(counter, "gpt-4o", messages, ModelLimits(window, None), drop_oldest=True)
    assert fitted.messages[0] == SYSTEM
    assert fitted.messages[-1] == messages[-1]
    assert fitted.messages[1:] == tuple(
        messages[-len(fitted.messages) + 1 :]
    )  # a contiguous recent tail
    assert fitted.count.tokens <= window
    assert fitted.count == counter.count_chat("gpt-4o", fitted.messages)
    assert fitted.dropped == len(messages) - len(fitted.messages)


def test_an_assistant_turn_goes_with_its_tool_results(counter: TokenCounter) -> None:
    payload = ChatPayload.from_openai(
        [
            {"role": "user", "content": "weather? " * 50},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "sunny " * 50},
            {"role": "assistant", "content": "It is sunny."},
            {"role": "user", "content": "thanks"},
        ]
    )
    messages = list(payload.messages)
    window = counter.count_chat("gpt-4o", messages[3:]).tokens
    fitted = fit_context(counter, "gpt-4o", messages, ModelLimits(window, None), drop_oldest=True)
    assert [m.role for m in fitted.messages] == ["assistant", "user"]
    assert all(m.role != "tool" for m in fitted.messages)


def test_when_even_the_essentials_do_not_fit_it_is_refused(counter: TokenCounter) -> None:
    messages = [SYSTEM, ChatMessage("user", "long " * 500)]
    with pytest.raises(ContextWindowExceeded):
        fit_context(counter, "gpt-4o", messages, ModelLimits(100, None), drop_oldest=True)


def test_unknown_window_is_not_checked(counter: TokenCounter) -> None:
    fitted = fit_context(counter, "my-llama", _history(50), ModelLimits(None, None))
    assert fitted.dropped == 0


@pytest.fixture
def counter() -> TokenCounter:
    return TokenCounter()
