from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from app.core import conversations
from app.core.chats import Chats
from app.core.errors import InsufficientBalance, ProviderError
from app.core.ledger import balance, entries
from app.core.metering.client import Metered, MeteringClient
from app.core.storage.db import Database


@pytest.fixture
def chats(db: Database) -> Iterator[Chats]:
    service = Chats(db, MeteringClient(db))
    yield service
    service.metering.close()


def test_send_stores_the_message_and_the_reply_in_order(db: Database, chats: Chats) -> None:
    conversation = chats.start("demo", "gpt-4o-mini", system_prompt="Be brief.").id
    *_, metered = chats.send(conversation, "What is a ledger?", "demo", "gpt-4o-mini")
    assert isinstance(metered, Metered)
    with db.read() as session:
        shown = conversations.messages(session, conversation)
    assert [(m.role, m.content) for m in shown] == [
        ("user", "What is a ledger?"),
        ("assistant", metered.text),
    ]
    assert shown[1].usage is not None and shown[1].usage.cost == metered.cost
    assert chats.needs_title(conversation)
    assert chats.name(conversation, "demo", "gpt-4o-mini", "What is a ledger?")
    assert not chats.needs_title(conversation)


def test_a_refused_message_leaves_no_trace(db: Database, chats: Chats) -> None:
    conversation = chats.start("demo", "gpt-4o-mini").id
    with db.write() as session:
        balance.configure(session, enabled=True)
    with pytest.raises(InsufficientBalance):
        list(chats.send(conversation, "Hello?", "demo", "gpt-4o-mini"))
    with db.read() as session:
        assert conversations.messages(session, conversation) == []


def test_retry_hides_the_old_reply_and_keeps_its_cost(db: Database, chats: Chats) -> None:
    conversation = chats.start("demo", "gpt-4o-mini").id
    *_, first = chats.send(conversation, "Tell me a fact", "demo", "gpt-4o-mini")
    assert isinstance(first, Metered) and first.message_id is not None
    *_, again = chats.retry(conversation, first.message_id, "demo", "gpt-4o-mini")
    assert isinstance(again, Metered)
    with db.read() as session:
        shown = conversations.messages(session, conversation)
        assert [m.role for m in shown] == ["user", "assistant"] and shown[1].id == again.message_id
        assert conversations.conversation_cost(session, conversation) == first.cost + again.cost
        assert entries.current_balance(session) == -(first.cost + again.cost)


def test_live_quote_for_a_draft(db: Database, chats: Chats) -> None:
    quote = chats.quote(None, "How much will this cost?", "demo", "gpt-4o")
    assert quote.count.exact and quote.count.tokens > 5
    assert quote.prompt_cost == quote.count.tokens * Decimal("2.5")


def test_a_message_that_got_no_reply_is_not_kept(db: Database, chats: Chats) -> None:
    conversation = chats.start("demo", "gpt-4o-mini").id
    with pytest.raises(ProviderError):
        list(chats.send(conversation, "Are you there?", "demo", "gpt-4o-mini@not-found"))
    with db.read() as session:
        assert conversations.messages(session, conversation) == []  # the composer keeps the text


def test_a_failed_or_refused_retry_keeps_the_old_reply(db: Database, chats: Chats) -> None:
    conversation = chats.start("demo", "gpt-4o-mini").id
    *_, first = chats.send(conversation, "Tell me a fact", "demo", "gpt-4o-mini")
    assert isinstance(first, Metered) and first.message_id is not None
    with pytest.raises(ProviderError):
        list(chats.retry(conversation, first.message_id, "demo", "gpt-4o-mini@not-found"))
    with db.write() as session:
        balance.configure(session, enabled=True)
    with pytest.raises(InsufficientBalance):
        list(chats.retry(conversation, first.message_id, "demo", "gpt-4o-mini"))
    with db.read() as session:
        assert [m.id for m in conversations.messages(session, conversation)][-1] == first.message_id


@pytest.mark.parametrize("model", ["gpt-5-mini", "gemini-2.5-flash", "o3-pro"])
def test_reasoning_models_get_room_to_think_before_a_title(
    db: Database, chats: Chats, model: str
) -> None:
    conversation = chats.start("demo", model).id
    list(chats.send(conversation, "How do tides work?", "demo", model))
    assert chats.name(conversation, "demo", model, "How do tides work?")
