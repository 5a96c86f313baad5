"""0014: a ledger from before the message tree keeps every message, as a chain with its retried
replies beside their replacements."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from app.core import conversations
from app.core.storage.db import Database
from app.core.types import ConversationId
from tests.core.storage.test_db import _upgrade_to

BEFORE_TREE = "0013_budget_blocks"
AT = "2026-11-01 08:00:00.000000"


def _ledger_before_the_tree(path: Path) -> None:
    """One conversation as 0013 stored it: a question whose first reply was retried (hidden,
    charged), a second turn, and a turn whose request got no reply (both hidden, uncharged)."""
    _upgrade_to(path, BEFORE_TREE)
    messages = [
        (1, "user", "Question one", None),
        (2, "assistant", "First attempt", AT),  # retried: hidden, its cost kept
        (3, "assistant", "Second attempt", None),
        (4, "user", "Question two", None),
        (5, "assistant", "Answer two", None),
        (6, "user", "Never answered", AT),  # no reply came: hidden, nothing charged
        (7, "assistant", "", AT),
    ]
    with sqlite3.connect(path) as raw:
        raw.execute(
            "INSERT INTO conversations (id, title, system_prompt, created_at, updated_at,"
            " drop_oldest, source) VALUES (1, 'Old chat', '', ?, ?, 0, 'chat')",
            (AT, AT),
        )
        raw.executemany(
            "INSERT INTO messages (id, conversation_id, role, content, created_at, deleted_at)"
            " VALUES (?, 1, ?, ?, ?, ?)",
            [(i, role, text, AT, deleted) for i, role, text, deleted in messages],
        )
        raw.executemany(
            "INSERT INTO transactions (created_at, conversation_id, message_id, provider, model,"
            " token_type, raw_amount, rate, token_value, context, estimated, rate_source)"
            " VALUES (?, 1, ?, 'demo', 'm', 'completion', -1000000, 1000000, -1000000,"
            " 'message', 0, 'test')",
            [(AT, message) for message in (2, 3, 5)],
        )
        raw.execute("UPDATE balance SET credits = -3000000")


def test_0014_makes_a_chain_and_shows_retried_replies_as_siblings(tmp_path: Path) -> None:
    path = tmp_path / "before-tree.sqlite3"
    _ledger_before_the_tree(path)
    db = Database(path)
    try:
        with db.read() as session:
            shown = conversations.messages(session, ConversationId(1))
            costs = conversations.cost_breakdown(session, ConversationId(1))
            sent = [m.content for m in conversations.history(session, 1)]
    finally:
        db.close()
    with sqlite3.connect(path) as raw:
        rows = raw.execute(
            "SELECT id, parent_id, on_branch, deleted_at IS NOT NULL FROM messages ORDER BY id"
        ).fetchall()
    assert rows == [
        (1, None, 1, 0),
        (2, 1, 0, 0),  # the retried attempt, beside its replacement
        (3, 1, 1, 0),
        (4, 3, 1, 0),
        (5, 4, 1, 0),
        (6, None, 0, 1),  # what never got a reply stays hidden
        (7, None, 0, 1),
    ]
    assert [m.id for m in shown] == [1, 3, 4, 5]
    assert shown[1].siblings == (2, 3) and shown[1].attempt == 2
    assert sent == ["Question one", "Second attempt", "Question two", "Answer two"]
    assert costs.total == 3 and costs.branch == 2 and costs.elsewhere == 1
