"""Making a request fit its model's context window, or refusing it before it is sent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.core.counting.tokens import TokenCount, TokenCounter, counting_rules
from app.core.errors import ContextWindowExceeded
from app.core.messages import ChatMessage, ToolSpec
from app.core.pricing.prices import ModelLimits

_PINNED_ROLES = ("system", "developer")


@dataclass(frozen=True)
class FittedPrompt:
    """The messages that will be sent, their count, and how many older ones were left out."""

    messages: tuple[ChatMessage, ...]
    count: TokenCount
    dropped: int


def fit_context(
    counter: TokenCounter,
    model: str,
    messages: Sequence[ChatMessage],
    limits: ModelLimits,
    *,
    tools: Sequence[ToolSpec] = (),
    reserve_output: int = 0,
    drop_oldest: bool = False,
) -> FittedPrompt:
    """Check the prompt against the context window, dropping old messages if allowed.

    The window must hold the prompt plus ``reserve_output`` (the request's ``max_tokens``, if
    set). With ``drop_oldest``, the oldest messages go first, a turn at a time (an assistant
    message takes its tool results with it); system and developer messages and the newest user
    message are never dropped. An unknown window is not checked.

    Raises:
        ContextWindowExceeded: it does not fit, and may not (or can no longer) be trimmed.
    """
    rules = counting_rules(model)
    counts = counter.message_counts(rules, messages)
    count = counter.total(rules, counts, tools)
    window = limits.context_window
    if window is None or count.tokens + reserve_output <= window:
        return FittedPrompt(tuple(messages), count, 0)
    if not drop_oldest:
        raise ContextWindowExceeded(model, count.tokens, reserve_output, window)

    kept = list(range(len(messages)))
    protected = _protected(messages)
    while count.tokens + reserve_output > window:
        group = _oldest_droppable_group(messages, kept, protected)
        if not group:
            raise ContextWindowExceeded(model, count.tokens, reserve_output, window)
        kept = [i for i in kept if i not in group]
        count = counter.total(rules, [counts[i] for i in kept], tools)
    return FittedPrompt(tuple(messages[i] for i in kept), count, len(messages) - len(kept))


def _protected(messages: Sequence[ChatMessage]) -> set[int]:
    pinned = {i for i, m in enumerate(messages) if m.role in _PINNED_ROLES}
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    return pinned | ({users[-1]} if users else {len(messages) - 1})


def _oldest_droppable_group(
    messages: Sequence[ChatMessage], kept: list[int], protected: set[int]
) -> set[int]:
    """The oldest message that may go, with the tool results that answer it."""
    for position, index in enumerate(kept):
        if index in protected:
            continue
        group = {index}
        for later in kept[position + 1 :]:
            if messages[later].role != "tool" or later in protected:
                break
            group.add(later)
        return group
    return set()
