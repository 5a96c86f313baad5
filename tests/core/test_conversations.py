from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Select, event, text

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


def test_a_restored_conversation_is_back_in_its_place_with_its_messages_and_spend(
    db: Database,
) -> None:
    start = datetime(2026, 1, 1)
    with db.write() as session:
        older, middle, newer = (
            conversations.create_conversation(
                session, title=title, now=start + timedelta(hours=n)
            ).id
            for n, title in enumerate(("Older", "Middle", "Newer"))
        )
        conversations.add_message(session, middle, "user", "Hi")
    _reply(db, middle, "Hello!", 100, 50)
    with db.write() as session:
        conversations.delete_conversation(session, middle)
    with db.read() as session:
        assert [c.id for c in conversations.list_conversations(session)] == [newer, older]

    with db.write() as session:
        conversations.restore_conversation(session, middle)

    with db.read() as session:
        listed = conversations.list_conversations(session)
        assert [c.id for c in listed] == [newer, middle, older]
        assert listed[1].cost == Decimal(200) == -entries.current_balance(session)
        assert [m.content for m in conversations.messages(session, middle)] == ["Hi", "Hello!"]


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


def _conversations_at(db: Database, count: int, *, ties: int = 3) -> list[int]:
    """``count`` chat conversations, ``ties`` of them at each moment (the id breaks the tie);
    their ids most recent first, as the list orders them."""
    start = datetime(2026, 1, 1)
    with db.write() as session:
        made = [
            (
                n // ties,
                conversations.create_conversation(
                    session, title=f"Topic {n}", now=start + timedelta(minutes=n // ties)
                ).id,
            )
            for n in range(count)
        ]
    return [conversation_id for _, conversation_id in sorted(made, reverse=True)]


def _pages(db: Database, size: int, search: str = "") -> list[list[int]]:
    pages: list[list[int]] = []
    after = None
    with db.read() as session:
        while True:
            page = conversations.list_conversations(session, search, after=after, limit=size)
            if not page:
                return pages
            pages.append([c.id for c in page])
            after = page[-1].position


def test_pages_follow_one_another_without_gaps_or_repeats(db: Database) -> None:
    newest_first = _conversations_at(db, 25)
    with db.write() as session:
        conversations.delete_conversation(session, newest_first[10])
    shown = [i for i in newest_first if i != newest_first[10]]

    pages = _pages(db, 7)

    assert [len(p) for p in pages] == [7, 7, 7, 3]
    assert [i for p in pages for i in p] == shown
    with db.read() as session:
        assert [c.id for c in conversations.list_conversations(session)] == shown


def test_a_search_pages_through_its_matches_only(db: Database) -> None:
    newest_first = _conversations_at(db, 20)
    with db.write() as session:
        conversations.add_message(session, newest_first[-1], "user", "a topic about sourdough")
        for conversation_id in newest_first[:15:3]:
            conversations.set_title(session, conversation_id, "Sourdough starter")

    pages = _pages(db, 2, "SOURDOUGH")

    with db.read() as session:
        matches = [c.id for c in conversations.list_conversations(session, "sourdough")]
    assert [len(p) for p in pages] == [2, 2, 2]
    assert [i for p in pages for i in p] == matches
    assert newest_first[-1] == matches[-1]  # found by its text: the oldest, on the last page


def _plan(db: Database, statement: Select[Any], *, top: bool = False) -> list[str]:
    """SQLite's plan for ``statement``, its steps in order (``top``: the outer query's only)."""
    with db.read() as session:
        compiled = statement.compile(session.bind, compile_kwargs={"literal_binds": True})
        rows = session.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
        return [detail for _, parent, _, detail in rows if parent == 0 or not top]


def test_a_page_is_read_in_the_order_of_an_index_and_each_cost_looked_up(db: Database) -> None:
    """Sorting every conversation to return 200 cost the whole list; the index hands them over
    in order, so a page costs its own rows (50,000 conversations: one page, not all)."""
    after = (datetime(2026, 1, 1), 500)
    plan = _plan(db, conversations.listing(after=after).limit(conversations.PAGE_SIZE))
    assert any("SEARCH conversations USING INDEX ix_conversations_recent" in s for s in plan), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan
    assert any("SEARCH conversation_days USING COVERING INDEX" in step for step in plan), plan
    assert not any(step.startswith("SCAN conversation_days") for step in plan), plan


def test_a_search_reads_the_messages_once_not_once_per_conversation(db: Database) -> None:
    """Looked for conversation by conversation in the list's order, the messages were visited
    at random: a search that matched little took three times a plain pass over them."""
    statement = conversations.listing("taxes").limit(conversations.PAGE_SIZE)
    plan = _plan(db, statement)
    scan = plan.index("SCAN messages")
    assert plan[scan - 1].startswith("LIST SUBQUERY"), plan  # once, not CORRELATED
    # The list needs no sort; a row's snippet sorts only its own conversation's matches.
    assert not any("TEMP B-TREE" in step for step in _plan(db, statement, top=True)), plan
    assert "SEARCH messages USING INDEX ix_messages_branch (conversation_id=?)" in plan, plan


def test_find_by_title_offers_every_source_most_recent_first_within_the_limit(
    db: Database,
) -> None:
    newest_first = _conversations_at(db, 12)
    with db.write() as session:
        curl = conversations.for_source(session, "curl", now=datetime(2027, 1, 1))
        conversations.delete_conversation(session, newest_first[0])
        found = conversations.find_by_title(session, "topic", limit=5)
        tools = conversations.find_by_title(session, "CURL")
        recent = conversations.find_by_title(session, "  ", limit=3)
        none = conversations.find_by_title(session, "100%")
    assert [c.id for c in found] == newest_first[1:6]
    assert found[0] == conversations.ConversationChoice(newest_first[1], "Topic 10", "chat")
    assert [(c.id, c.title, c.source) for c in tools] == [(curl, "curl (local endpoint)", "curl")]
    assert [c.id for c in recent] == [curl, *newest_first[1:3]]
    assert none == []


def test_a_filter_names_a_deleted_conversation_too(db: Database) -> None:
    with db.write() as session:
        gone = conversations.create_conversation(session, title="Old taxes").id
        conversations.delete_conversation(session, gone)
    with db.read() as session:
        assert conversations.choice_of(session, gone) == conversations.ConversationChoice(
            gone, "Old taxes", "chat"
        )
        assert conversations.choice_of(session, gone + 1) is None


def test_a_search_shows_the_text_around_the_first_match_in_one_statement(db: Database) -> None:
    long_text = "Before we start,\nthe keeper of the Lighthouse at the harbour wrote logs."
    with db.write() as session:
        texts = conversations.create_conversation(session, title="Harbour notes").id
        hidden = conversations.add_message(session, texts, "user", "lighthouse, deleted")
        conversations.delete_message(session, hidden)
        conversations.add_message(session, texts, "user", long_text)
        conversations.add_message(session, texts, "assistant", "Another lighthouse")
        short = conversations.create_conversation(session, title="Short").id
        conversations.add_message(session, short, "user", "A LIGHTHOUSE")
        titled = conversations.create_conversation(session, title="Lighthouse trip").id
    statements: list[str] = []

    def count(*args: Any) -> None:
        if args[2].startswith("SELECT"):
            statements.append(args[2])

    with db.read() as session:
        event.listen(session.get_bind(), "before_cursor_execute", count)
        try:
            found = conversations.list_conversations(session, "lighthouse", limit=200)
        finally:
            event.remove(session.get_bind(), "before_cursor_execute", count)
        plain = conversations.list_conversations(session)

    assert len(statements) == 1  # the page and its snippets: never a query per row
    assert {c.id: c.snippet for c in found} == {
        titled: "",  # the title matched: nothing to explain
        short: "A LIGHTHOUSE",
        texts: "…the keeper of the Lighthouse at the harbour wrote logs.",  # from a word, one line
    }
    assert all(c.snippet == "" for c in plain)
