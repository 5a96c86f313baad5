from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import text

from app.core import conversations
from app.core.ledger import entries
from app.core.ledger.entries import Spend
from app.core.pricing.charges import TokenUsage
from app.core.storage.db import Database
from tests.factories import rates


def _reply(
    db: Database, conversation_id: int, text: str, prompt: int, completion: int, **usage: int
) -> int:
    with db.write() as session:
        message_id = conversations.add_message(
            session, conversation_id, "assistant", text, model="m"
        )
        entries.spend_tokens(
            session,
            Spend(
                "openai",
                "m",
                TokenUsage(prompt, completion, **usage),
                rates("1", "2"),
                conversation_id,
                message_id,
            ),
        )
        return message_id


def test_list_with_totals_and_search(db: Database) -> None:
    with db.write() as session:
        first = conversations.create_conversation(session, title="Sourdough").id
        second = conversations.create_conversation(session, title="Taxes").id
        conversations.add_message(session, second, "user", "What about 50% off_deals?")
    _reply(db, first, "Use a starter.", 100, 50)
    with db.read() as session:
        listed = conversations.list_conversations(session)
        assert {c.title: c.cost for c in listed} == {"Sourdough": Decimal(200), "Taxes": Decimal(0)}
        assert [c.title for c in conversations.list_conversations(session, "sour")] == ["Sourdough"]
        assert [c.title for c in conversations.list_conversations(session, "50% off_")] == ["Taxes"]
        assert conversations.list_conversations(session, "100%") == []


def test_messages_carry_their_usage_and_deletion_keeps_the_money(db: Database) -> None:
    with db.write() as session:
        conversation = conversations.create_conversation(session, system_prompt="Be brief.").id
        conversations.add_message(session, conversation, "user", "Hi")
    reply = _reply(db, conversation, "Hello!", 1000, 20, cache_read_tokens=500, reasoning_tokens=5)
    with db.read() as session:
        user, assistant = conversations.messages(session, conversation)
        assert user.usage is None
        assert assistant.usage is not None
        usage = assistant.usage
        assert (
            usage.input_tokens,
            usage.output_tokens,
            usage.cached_tokens,
            usage.reasoning_tokens,
        ) == (1500, 20, 500, 5)
        assert usage.cost == Decimal(1000 + 40 + 500) and not usage.estimated
        history = conversations.history(session, conversation)
    assert [m.role for m in history] == ["system", "user", "assistant"]
    with db.write() as session:
        conversations.delete_message(session, reply)
        conversations.delete_conversation(session, conversation)
    with db.read() as session:
        assert conversations.list_conversations(session) == []
        assert conversations.conversation_cost(session, conversation) == Decimal(1540)
        assert entries.current_balance(session) == -1540


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("  openai-python  ", "openai-python"),
        ("Zed\t\n  editor", "Zed editor"),
        ("cu\x00rl\x1b[31m", "curl[31m"),
        ("evil\u202egnp.exe", "evilgnp.exe"),  # a bidi override cannot reverse what is shown
        ("x" * 100, "x" * 64),
        ("a" * 63 + " b", "a" * 63),
        ("", "unknown tool"),
        (" \x07\u200b ", "unknown tool"),
    ],
)
def test_clean_source(given: str, stored: str) -> None:
    assert conversations.clean_source(given) == stored


def test_one_conversation_per_tool_created_on_first_use(db: Database) -> None:
    with db.write() as session:
        chat = conversations.create_conversation(session, title="Mine").id
        curl = conversations.for_source(session, "curl")
        again = conversations.for_source(session, "  curl ")
        zed = conversations.for_source(session, "Zed")
        header = conversations.get_conversation(session, curl)
    assert curl == again != zed
    assert (header.title, header.source) == ("curl (local endpoint)", "curl")
    _reply(db, chat, "Hi", 10, 5)
    with db.read() as session:
        assert [c.title for c in conversations.list_conversations(session)] == ["Mine"]
        every = conversations.list_conversations(session, source=None)
        assert {c.id: c.source for c in every} == {chat: "chat", curl: "curl", zed: "Zed"}
        assert [c.id for c in conversations.list_conversations(session, source="Zed")] == [zed]
    with db.write() as session:  # deleted by the user: the next request starts a new one
        conversations.delete_conversation(session, curl)
        assert conversations.for_source(session, "curl") not in (curl, zed)


@pytest.mark.parametrize("name", ["chat", "CHAT", " chat ", "Chat window"])
def test_a_tool_cannot_pose_as_the_chat_window(db: Database, name: str) -> None:
    with db.write() as session:
        tool = conversations.for_source(session, name)
        header = conversations.get_conversation(session, tool)
        listed = conversations.list_conversations(session)
    assert header.source == "chat (external)"
    assert listed == []


def test_the_list_looks_each_cost_up_by_index_never_by_a_scan(db: Database) -> None:
    """A scan inside the per-conversation cost made the list quadratic (hours at 50,000)."""
    with db.read() as session:
        statement = conversations.listing(source=None)
        compiled = statement.compile(session.bind, compile_kwargs={"literal_binds": True})
        plan = [row[-1] for row in session.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))]
    assert any("SEARCH conversation_days USING COVERING INDEX" in step for step in plan), plan
    assert not any(step.startswith("SCAN conversation_days") for step in plan), plan
