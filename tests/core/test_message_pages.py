"""A conversation's messages a page at a time: the same messages as the whole read, with their
figures, in a few indexed queries whatever the length of the conversation or the ledger."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, text

from app.core import conversations
from app.core.storage.db import Database
from tests.support import long_conversation


@contextmanager
def statements(db: Database) -> Iterator[list[tuple[str, Any]]]:
    """Every statement the reads run meanwhile, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: object, _cursor: object, sql: str, params: Any, *_rest: object) -> None:
        seen.append((sql, params))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def test_pages_walk_back_through_the_whole_conversation_with_every_reply_priced(
    db: Database,
) -> None:
    conversation = long_conversation.create(db, 130)
    with db.read() as session:
        whole = conversations.messages(session, conversation)
        pages = [conversations.messages(session, conversation, limit=50)]
        while len(pages[-1]) == 50:
            pages.append(
                conversations.messages(session, conversation, before=pages[-1][0].id, limit=50)
            )
    assert [len(page) for page in pages] == [50, 50, 30]
    assert [m for page in reversed(pages) for m in page] == whole
    replies = [m for m in whole if m.role == "assistant"]
    assert len(replies) == 65 and all(m.usage is not None and m.usage.cost > 0 for m in replies)


def test_a_page_takes_five_indexed_queries_and_no_scan(db: Database) -> None:
    """Looking each reply's figures up by message id scanned the ledger (no index on it): on a
    million transactions every opening paid for a full scan."""
    conversation = long_conversation.create(db, 200)
    with db.read() as session:
        newest = conversations.messages(session, conversation, limit=1)[0]
        with statements(db) as seen:
            page = conversations.messages(session, conversation, before=newest.id, limit=60)
        assert len(page) == 60
        plans = [
            [row[-1] for row in session.execute(text(f"EXPLAIN QUERY PLAN {sql}"), params)]
            for sql, params in (_named(sql, params) for sql, params in seen)
        ]
    # The page, siblings, charges, requests, and the page's attachments (one query for all).
    assert len(seen) == 5, [sql for sql, _ in seen]
    steps = [step for plan in plans for step in plan]
    assert not any(step.startswith("SCAN") for step in steps), plans
    assert any("messages USING INDEX ix_messages_branch" in s for s in steps), plans
    assert any("messages USING INDEX ix_messages_parent" in s for s in steps), plans
    assert any("transactions USING INDEX ix_transactions_conversation" in s for s in steps), plans
    assert any("requests USING INTEGER PRIMARY KEY" in s for s in steps), plans
    assert any("attachments USING INDEX ix_attachments_message" in s for s in steps), plans


def _named(sql: str, params: Any) -> tuple[str, dict[str, Any]]:
    """A DB-API statement with ``?`` placeholders as one ``text()`` can run with its values."""
    parts = sql.split("?")
    values = list(params)
    assert len(parts) == len(values) + 1
    named = "".join(f"{part}:p{i}" for i, part in enumerate(parts[:-1])) + parts[-1]
    return named, {f"p{i}": value for i, value in enumerate(values)}
