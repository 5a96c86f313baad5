"""The daily aggregates always equal a fresh GROUP BY over the ledger (counts positive, money in
the ledger's sign)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core import conversations
from app.core.ledger import demo_data, entries
from app.core.ledger.entries import Spend
from app.core.pricing.charges import TokenUsage
from app.core.storage.db import Database
from tests.factories import rates

FRESH_DAILY = """
SELECT substr(created_at, 1, 10), COALESCE(provider, ''), COALESCE(model, ''), token_type,
       CASE token_type WHEN 'credits' THEN SUM(raw_amount) ELSE -SUM(raw_amount) END,
       SUM(token_value), COUNT(*)
FROM transactions GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
"""
KEPT_DAILY = """
SELECT day, provider, model, token_type, tokens, value, transactions
FROM daily_totals ORDER BY 1, 2, 3, 4
"""
FRESH_CONVERSATIONS = """
SELECT substr(created_at, 1, 10), conversation_id, COALESCE(provider, ''), COALESCE(model, ''),
       -SUM(CASE token_type WHEN 'prompt' THEN raw_amount ELSE 0 END) / 1000000,
       -SUM(CASE token_type WHEN 'completion' THEN raw_amount ELSE 0 END) / 1000000,
       -SUM(CASE token_type WHEN 'cache_write' THEN raw_amount ELSE 0 END) / 1000000,
       -SUM(CASE token_type WHEN 'cache_read' THEN raw_amount ELSE 0 END) / 1000000,
       SUM(token_value)
FROM transactions WHERE conversation_id IS NOT NULL GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
"""
KEPT_CONVERSATIONS = """
SELECT day, conversation_id, provider, model, prompt_tokens, completion_tokens, cache_write_tokens,
       cache_read_tokens, value
FROM conversation_days ORDER BY 1, 2, 3, 4
"""

FRESH_SOURCES = """
SELECT substr(t.created_at, 1, 10), c.source, COALESCE(t.provider, ''), COALESCE(t.model, ''),
       -SUM(CASE t.token_type WHEN 'prompt' THEN t.raw_amount ELSE 0 END) / 1000000,
       -SUM(CASE t.token_type WHEN 'completion' THEN t.raw_amount ELSE 0 END) / 1000000,
       -SUM(CASE t.token_type WHEN 'cache_write' THEN t.raw_amount ELSE 0 END) / 1000000,
       -SUM(CASE t.token_type WHEN 'cache_read' THEN t.raw_amount ELSE 0 END) / 1000000,
       SUM(t.token_value)
FROM transactions t JOIN conversations c ON c.id = t.conversation_id
GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
"""
KEPT_SOURCES = """
SELECT day, source, provider, model, prompt_tokens, completion_tokens, cache_write_tokens,
       cache_read_tokens, value
FROM source_days ORDER BY 1, 2, 3, 4
"""


def assert_aggregates_exact(path: Path) -> None:
    with sqlite3.connect(path) as raw:
        assert raw.execute(KEPT_DAILY).fetchall() == raw.execute(FRESH_DAILY).fetchall()
        assert (
            raw.execute(KEPT_CONVERSATIONS).fetchall()
            == raw.execute(FRESH_CONVERSATIONS).fetchall()
        )
        assert raw.execute(KEPT_SOURCES).fetchall() == raw.execute(FRESH_SOURCES).fetchall()


steps = st.lists(
    st.tuples(
        st.integers(0, 40),  # day offset
        st.sampled_from(["gpt-4o", "claude-x", "gemini-y"]),
        st.sampled_from(["openai", "anthropic", "demo"]),
        st.integers(0, 5000),
        st.integers(0, 3000),
        st.integers(0, 2000),
        st.integers(0, 2000),
        st.booleans(),  # in a conversation
        st.integers(0, 3),  # a top-up of 10^n credits, or none
    ),
    max_size=30,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps)
def test_aggregates_equal_a_fresh_group_by(db: Database, plan: list[tuple]) -> None:  # type: ignore[type-arg]
    start = datetime(2026, 1, 1, 23, 0)
    with db.write() as session:
        chat = conversations.create_conversation(session).id
        tool = conversations.for_source(session, "zed")
    for (
        offset,
        model,
        provider,
        prompt,
        completion,
        cache_write,
        cache_read,
        in_chat,
        top_up,
    ) in plan:
        at = start + timedelta(days=offset, minutes=offset * 37)
        with db.write() as session:
            usage = TokenUsage(prompt, completion, cache_write, 0, cache_read)
            spend = Spend(
                provider,
                model,
                usage,
                rates("1.25", "10", "1.5625", "0.125"),
                (chat if offset % 2 else tool) if in_chat else None,
            )
            entries.spend_tokens(session, spend, now=at)
            if top_up:
                entries.add_credits(session, Decimal(10**top_up), now=at)
    assert_aggregates_exact(db.path)


def test_bulk_inserts_keep_them_exact_and_cache_savings_follow(db: Database) -> None:
    with db.write() as session:
        demo_data.fill(session, 5_000, 20)
    assert_aggregates_exact(db.path)
    with sqlite3.connect(db.path) as raw:
        (saved,) = raw.execute(
            "SELECT SUM(value - uncached) FROM daily_totals WHERE token_type = 'cache_read'"
        ).fetchone()
    assert saved > 0  # cache reads cost less than the plain input rate would have
