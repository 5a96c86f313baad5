from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.core import conversations
from app.core.chats import Chats, NewConversation, Opened
from app.core.errors import ConversationNotFound, InsufficientBalance, ProviderError
from app.core.ledger import alerts, balance, entries
from app.core.metering.client import Metered, MeteringClient
from app.core.storage.db import Database
from app.core.storage.models import Conversation, Message, Request, Transaction


@pytest.fixture
def chats(db: Database) -> Iterator[Chats]:
    service = Chats(db, MeteringClient(db))
    yield service
    service.metering.close()


def _send(chats: Chats, conversation: int | None, text: str, model: str = "gpt-4o-mini") -> Metered:
    *_, metered = chats.send(conversation, text, "demo", model)
    assert isinstance(metered, Metered)
    return metered


def _live_conversations(db: Database) -> list[int]:
    with db.read() as session:
        return list(
            session.scalars(select(Conversation.id).where(Conversation.deleted_at.is_(None)))
        )


def test_a_first_message_creates_its_conversation_when_accepted(db: Database, chats: Chats) -> None:
    items = list(
        chats.send(
            None,
            "What is a ledger?",
            "demo",
            "gpt-4o-mini",
            new=NewConversation("Be brief.", drop_oldest=True),
        )
    )
    opened, metered = items[0], items[-1]
    assert isinstance(opened, Opened) and isinstance(metered, Metered)
    assert sum(isinstance(item, Opened) for item in items) == 1
    assert metered.conversation_id == opened.conversation_id
    assert metered.message_id == opened.message_id
    conversation = opened.conversation_id
    with db.read() as session:
        shown = conversations.messages(session, conversation)
        stored = conversations.get_conversation(session, conversation)
        assert conversations.system_prompt(session, conversation) == "Be brief."
    assert stored.drop_oldest and (stored.provider, stored.model) == ("demo", "gpt-4o-mini")
    assert [(m.role, m.content) for m in shown] == [
        ("user", "What is a ledger?"),
        ("assistant", metered.text),
    ]
    assert shown[1].usage is not None and shown[1].usage.cost == metered.cost


def test_the_system_prompt_of_a_new_conversation_is_quoted_and_sent(
    db: Database, chats: Chats
) -> None:
    bare = chats.quote(None, "Hello", "demo", "gpt-4o")
    briefed = chats.quote(None, "Hello", "demo", "gpt-4o", new=NewConversation("Be brief."))
    assert briefed.count.tokens > bare.count.tokens
    metered = _send_new(chats, "Hello", NewConversation("Be brief."))
    assert metered.estimate.tokens == briefed.count.tokens


def _send_new(chats: Chats, text: str, new: NewConversation) -> Metered:
    *_, metered = chats.send(None, text, "demo", "gpt-4o", new=new)
    assert isinstance(metered, Metered)
    return metered


def test_a_refused_first_message_creates_nothing(db: Database, chats: Chats) -> None:
    with db.write() as session:
        balance.configure(session, enabled=True)
    with pytest.raises(InsufficientBalance):
        list(chats.send(None, "Hello?", "demo", "gpt-4o-mini"))
    assert _live_conversations(db) == []
    with db.read() as session:
        assert session.scalars(select(Request)).all() == []


def test_a_first_message_that_got_no_reply_leaves_no_conversation(
    db: Database, chats: Chats
) -> None:
    with pytest.raises(ProviderError):
        list(chats.send(None, "Are you there?", "demo", "gpt-4o-mini@not-found"))
    assert _live_conversations(db) == []
    with db.read() as session:
        assert session.scalars(select(Message).where(Message.deleted_at.is_(None))).all() == []
        assert session.scalars(select(Transaction)).all() == []


def test_a_refused_message_leaves_no_trace(db: Database, chats: Chats) -> None:
    conversation = _send(chats, None, "Hi").conversation_id
    assert conversation is not None
    with db.write() as session:
        balance.configure(session, enabled=True)
    with pytest.raises(InsufficientBalance):
        list(chats.send(conversation, "Hello?", "demo", "gpt-4o-mini"))
    with db.read() as session:
        assert next(m.content for m in conversations.messages(session, conversation)) == "Hi"
        assert len(conversations.messages(session, conversation)) == 2


def test_a_message_that_got_no_reply_is_not_kept(db: Database, chats: Chats) -> None:
    conversation = _send(chats, None, "Hi").conversation_id
    assert conversation is not None
    with pytest.raises(ProviderError):
        list(chats.send(conversation, "Are you there?", "demo", "gpt-4o-mini@not-found"))
    with db.read() as session:
        assert len(conversations.messages(session, conversation)) == 2  # the composer keeps it


def test_retry_shows_the_new_reply_beside_the_old_and_keeps_both_costs(
    db: Database, chats: Chats
) -> None:
    first = _send(chats, None, "Tell me a fact")
    conversation = first.conversation_id
    assert conversation is not None and first.message_id is not None
    *_, again = chats.retry(conversation, first.message_id, "demo", "gpt-4o-mini")
    assert isinstance(again, Metered)
    with db.read() as session:
        shown = conversations.messages(session, conversation)
        assert [m.role for m in shown] == ["user", "assistant"] and shown[1].id == again.message_id
        assert shown[1].siblings == (first.message_id, again.message_id)
        assert shown[1].attempt == 2 and shown[0].siblings == ()
        assert conversations.conversation_cost(session, conversation) == first.cost + again.cost
        assert entries.current_balance(session) == -(first.cost + again.cost)


def test_a_failed_or_refused_retry_keeps_the_old_reply(db: Database, chats: Chats) -> None:
    first = _send(chats, None, "Tell me a fact")
    conversation = first.conversation_id
    assert conversation is not None and first.message_id is not None
    with pytest.raises(ProviderError):
        list(chats.retry(conversation, first.message_id, "demo", "gpt-4o-mini@not-found"))
    with db.write() as session:
        balance.configure(session, enabled=True)
    with pytest.raises(InsufficientBalance):
        list(chats.retry(conversation, first.message_id, "demo", "gpt-4o-mini"))
    with db.read() as session:
        assert [m.id for m in conversations.messages(session, conversation)][-1] == first.message_id


def test_live_quote_for_a_draft(db: Database, chats: Chats) -> None:
    quote = chats.quote(None, "How much will this cost?", "demo", "gpt-4o")
    assert quote.count.exact and quote.count.tokens > 5
    assert quote.prompt_cost == quote.count.tokens * Decimal("2.5")


def test_the_settings_of_a_conversation_are_the_services_to_change(
    db: Database, chats: Chats
) -> None:
    conversation = _send(chats, None, "Hi").conversation_id
    assert conversation is not None
    chats.configure(conversation, system_prompt="Answer in French.", drop_oldest=True)
    with db.read() as session:
        assert conversations.system_prompt(session, conversation) == "Answer in French."
        assert conversations.get_conversation(session, conversation).drop_oldest
    chats.rename(conversation, "  My own title ")
    assert chats.name(conversation, "demo", "gpt-4o-mini", "Hi") is None  # the user named it
    with db.read() as session:
        assert conversations.get_conversation(session, conversation).title == "My own title"
    chats.discard(conversation)
    with pytest.raises(ConversationNotFound):
        chats.configure(conversation, drop_oldest=False)
    with pytest.raises(ConversationNotFound):
        chats.quote(conversation, "Still there?", "demo", "gpt-4o")


def test_a_title_is_metered_as_title_and_only_once(db: Database, chats: Chats) -> None:
    conversation = _send(chats, None, "How do I bake sourdough bread?").conversation_id
    assert conversation is not None
    title = chats.name(conversation, "demo", "gpt-4o-mini", "How do I bake sourdough bread?")
    assert title
    with db.read() as session:
        assert conversations.get_conversation(session, conversation).title == title
        contexts = list(
            session.scalars(select(Transaction.context).where(Transaction.context == "title"))
        )
        assert len(session.scalars(select(Message)).all()) == 2  # a title is not a chat reply
    assert len(contexts) == 2  # its prompt and its completion
    assert chats.name(conversation, "demo", "gpt-4o-mini", "again") is None  # it has one


def test_a_title_is_skipped_quietly_when_the_balance_cannot_cover_it(
    db: Database, chats: Chats
) -> None:
    with db.write() as session:
        conversation = conversations.create_conversation(session).id
        balance.configure(session, enabled=True)
    assert chats.name(conversation, "demo", "gpt-4o-mini", "Hi") is None
    with db.read() as session:
        assert session.scalars(select(Request)).all() == []


@pytest.mark.parametrize("model", ["gpt-5-mini", "gemini-2.5-flash", "o3-pro"])
def test_reasoning_models_get_room_to_think_before_a_title(
    db: Database, chats: Chats, model: str
) -> None:
    conversation = _send(chats, None, "How do tides work?", model).conversation_id
    assert conversation is not None
    assert chats.name(conversation, "demo", model, "How do tides work?")


def test_the_alerts_a_reply_makes_true_come_with_it_once(db: Database, chats: Chats) -> None:
    with db.write() as session:
        entries.add_credits(session, Decimal(100))
        alerts.set_low_balance_threshold(session, Decimal(1_000_000))
    first = _send(chats, None, "first")
    second = _send(chats, first.conversation_id, "second")
    assert [alert.key for alert in first.alerts] == ["low-balance"]
    assert second.alerts == ()
