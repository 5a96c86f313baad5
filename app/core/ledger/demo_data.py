"""Synthetic but realistic history, to try the charts and to benchmark (``tallybook demo-data``).

Conversations of a few to a few dozen turns over the chosen days, busier on weekdays and in
working hours, across models of several providers, each request priced with the real rates and
recorded through :func:`app.core.ledger.entries.spend_many` exactly as live usage would be.
Prompts grow as conversations go on, some models read from the prompt cache and reasoning models
think.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import insert
from sqlalchemy.orm import Session

from app.core import conversations
from app.core.clock import utcnow
from app.core.ledger import entries
from app.core.ledger.entries import Spend
from app.core.pricing.charges import TokenUsage
from app.core.pricing.prices import PriceBook
from app.core.storage.models import Conversation, Message

DEMO_MODELS = (
    # provider, model, share of conversations, prompt cache ("", "read", "read+write"), reasons
    ("openai", "gpt-4o-mini", 0.26, "read", False),
    ("openai", "gpt-4o", 0.16, "read", False),
    ("openai", "o3-mini", 0.08, "read", True),
    ("anthropic", "claude-sonnet-4-5", 0.2, "read+write", False),
    ("anthropic", "claude-haiku-4-5", 0.1, "read+write", False),
    ("gemini", "gemini-2.5-flash", 0.14, "", True),
    ("deepseek", "deepseek-chat", 0.06, "read", False),
)
TOPICS = (
    "Refactor this parser",
    "Trip plan for Lisbon",
    "Explain Rust lifetimes",
    "SQL window functions",
    "Draft a cover letter",
    "Summarise the meeting notes",
    "Debug a flaky test",
    "Recipe ideas",
    "Qt layout question",
    "Tax receipt checklist",
    "Write a haiku",
    "Review my pull request",
)
BATCH_REQUESTS = 5000


@dataclass(frozen=True)
class DemoResult:
    """What was added."""

    conversations: int
    requests: int
    transactions: int


def fill(
    session: Session, rows: int, days: int, *, seed: int = 7, now: datetime | None = None
) -> DemoResult:
    """Add exactly ``rows`` transactions spread over the last ``days`` days.

    Top-ups (one at the start, or two when an odd row is left over) cover the whole synthetic
    spend plus $25, so the balance ends positive; they are among the ``rows``.
    """
    if rows < 1 or days < 1:
        raise ValueError("rows and days must be at least 1")
    rng = random.Random(seed)
    now = now or utcnow()
    start = now - timedelta(days=days)
    book = PriceBook.load(session)
    plan = list(_plan(rng, rows - 1, start, now))
    conversation_ids = _insert_conversations(session, rng, plan)
    spends = []
    for turn in plan:
        provider, model = turn.provider, turn.model
        rates = book.rates(
            model, provider=provider, input_tokens=turn.usage.input_tokens, at=turn.at
        )
        spends.append(
            (
                Spend(provider, model, turn.usage, rates, conversation_ids[turn.conversation]),
                turn.at,
            )
        )
    cost = sum((spend.cost for spend, _ in spends), Decimal(0))
    top_ups = rows - sum(len(spend.priced_lines()) for spend, _ in spends)  # 1, or 2 if odd
    cover = Decimal(math.ceil(cost) + 25_000_000)
    for index in range(top_ups):
        share = cover if top_ups == 1 else (cover // 2 if index == 0 else cover - cover // 2)
        entries.add_credits(
            session, share, context="demo top-up", now=start + index * (now - start) / 2
        )
    for first in range(0, len(spends), BATCH_REQUESTS):
        batch = spends[first : first + BATCH_REQUESTS]
        message_ids = _insert_messages(session, batch)
        entries.spend_many(
            session,
            [
                (Spend(s.provider, s.model, s.usage, s.rates, s.conversation_id, message_id), at)
                for (s, at), message_id in zip(batch, message_ids, strict=True)
            ],
        )
    if conversation_ids:
        ids = conversation_ids.values()
        conversations.chain(session, min(ids), max(ids))
    return DemoResult(len(conversation_ids), len(spends), rows)


@dataclass(frozen=True)
class _Turn:
    conversation: int
    provider: str
    model: str
    at: datetime
    usage: TokenUsage


def _plan(rng: random.Random, rows: int, start: datetime, end: datetime) -> Iterator[_Turn]:
    """Turns of conversations until exactly ``rows`` transaction rows are planned."""
    conversation = 0
    span = (end - start).total_seconds()
    weights = [m[2] for m in DEMO_MODELS]
    while rows >= 2:
        provider, model, _, caches, reasons = rng.choices(DEMO_MODELS, weights)[0]
        at = start + timedelta(seconds=_busy_moment(rng, span, start))
        context = rng.randint(200, 2500)
        for _ in range(max(1, int(rng.lognormvariate(1.8, 0.8)))):
            if rows < 2:
                break
            usage = _usage(rng, context, caches, reasons, max_cache_rows=min(2, rows - 2))
            rows -= _row_count(usage)
            yield _Turn(conversation, provider, model, min(at, end), usage)
            context += usage.completion_tokens + rng.randint(20, 600)
            at += timedelta(seconds=rng.randint(20, 900))
        conversation += 1


def _busy_moment(rng: random.Random, span: float, start: datetime) -> float:
    """Seconds after ``start``, more often on weekdays and between 8:00 and 23:00."""
    while True:
        offset = rng.uniform(0, span)
        moment = start + timedelta(seconds=offset)
        weekday = moment.weekday() < 5
        daytime = 8 <= moment.hour < 23
        if rng.random() < (0.35 + 0.4 * weekday + 0.25 * daytime):
            return offset


def _usage(
    rng: random.Random, context: int, caches: str, reasons: bool, *, max_cache_rows: int
) -> TokenUsage:
    completion = int(rng.lognormvariate(5.6, 0.7)) + 1
    reasoning = int(completion * rng.uniform(0.3, 0.8)) if reasons else 0
    completion += reasoning
    cache_read = cache_write = 0
    if caches and max_cache_rows and context > 1024 and rng.random() < 0.6:
        cache_read = int(context * rng.uniform(0.5, 0.9))
        if caches == "read+write" and max_cache_rows == 2 and rng.random() < 0.3:
            cache_write = rng.randint(100, 800)
    prompt = max(1, context - cache_read - cache_write)
    return TokenUsage(prompt, completion, cache_write, 0, cache_read, reasoning)


def _row_count(usage: TokenUsage) -> int:
    return 2 + (usage.cache_write_tokens > 0) + (usage.cache_read_tokens > 0)


def _insert_conversations(
    session: Session, rng: random.Random, plan: list[_Turn]
) -> dict[int, int]:
    firsts: dict[int, _Turn] = {}
    for turn in plan:
        firsts.setdefault(turn.conversation, turn)
    if not firsts:
        return {}
    rows = [
        {
            "title": f"{rng.choice(TOPICS)} #{index + 1}",
            "provider": turn.provider,
            "model": turn.model,
            "system_prompt": "",
            "created_at": turn.at,
            "updated_at": turn.at,
        }
        for index, turn in enumerate(firsts.values())
    ]
    ids = session.scalars(
        insert(Conversation).returning(Conversation.id, sort_by_parameter_order=True), rows
    )
    return dict(zip(firsts, ids, strict=True))


def _insert_messages(session: Session, batch: list[tuple[Spend, datetime]]) -> list[int]:
    rows = [
        {
            "conversation_id": spend.conversation_id,
            "role": "assistant",
            "content": f"(synthetic reply of {spend.usage.completion_tokens} tokens)",
            "provider": spend.provider,
            "model": spend.model,
            "created_at": at,
        }
        for spend, at in batch
    ]
    return list(
        session.scalars(insert(Message).returning(Message.id, sort_by_parameter_order=True), rows)
    )
