"""A conversation's tree: retried replies and edited messages as siblings, the branch shown and
sent as context, every branch's cost on the ledger, and all of it kept across a restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.core import conversations
from app.core.chats import Chats
from app.core.errors import ConversationNotFound, ProviderError
from app.core.ledger import demo_data
from app.core.messages import ChatMessage
from app.core.metering.client import Metered, MeteringClient
from app.core.storage.db import Database
from app.core.storage.models import Message
from app.core.types import ConversationId, MessageId

MODEL = "gpt-4o-mini"


@pytest.fixture
def chats(db: Database) -> Iterator[Chats]:
    service = Chats(db, MeteringClient(db))
    yield service
    service.metering.close()


def _last(items: object) -> Metered:
    *_, metered = items  # type: ignore[misc]
    assert isinstance(metered, Metered)
    return metered


def _send(chats: Chats, conversation: ConversationId | None, text: str) -> Metered:
    return _last(chats.send(conversation, text, "demo", MODEL))


def _shown(db: Database, conversation: ConversationId) -> list[conversations.MessageView]:
    with db.read() as session:
        return conversations.messages(session, conversation)


def _context(db: Database, conversation: ConversationId) -> list[tuple[str, str]]:
    with db.read() as session:
        return [(m.role, m.text) for m in conversations.history(session, conversation)]


def _two_turns(chats: Chats) -> tuple[ConversationId, Metered, Metered]:
    first = _send(chats, None, "First question")
    conversation = first.conversation_id
    assert conversation is not None
    second = _send(chats, conversation, "Second question")
    return conversation, first, second


def test_an_edited_message_starts_a_branch_and_only_its_branch_is_sent(
    db: Database, chats: Chats
) -> None:
    conversation, first, second = _two_turns(chats)
    asked = _shown(db, conversation)[2]
    assert asked.content == "Second question"
    edited = _last(chats.edit(conversation, MessageId(asked.id), "Edited question", "demo", MODEL))
    shown = _shown(db, conversation)
    assert [m.content for m in shown[:3]] == ["First question", first.text, "Edited question"]
    assert shown[3].id == edited.message_id and len(shown) == 4
    assert shown[2].siblings == (asked.id, shown[2].id) and shown[2].attempt == 2
    assert _context(db, conversation) == [
        ("user", "First question"),
        ("assistant", first.text),
        ("user", "Edited question"),
        ("assistant", edited.text),
    ]
    with db.read() as session:
        costs = conversations.cost_breakdown(session, conversation)
    assert costs.total == first.cost + second.cost + edited.cost  # the old branch still counts
    assert costs.branch == first.cost + edited.cost and costs.elsewhere == second.cost


def test_switching_back_shows_the_old_branch_and_sends_it(db: Database, chats: Chats) -> None:
    conversation, _first, second = _two_turns(chats)
    asked = _shown(db, conversation)[2]
    _last(chats.edit(conversation, MessageId(asked.id), "Edited question", "demo", MODEL))
    chats.show_branch(conversation, MessageId(asked.id))
    shown = _shown(db, conversation)
    assert [m.id for m in shown][2:] == [asked.id, second.message_id]
    assert shown[2].attempt == 1 and len(shown[2].siblings) == 2
    third = _send(chats, conversation, "Third question")  # continues the branch shown
    assert [m.content for m in _shown(db, conversation)][-2:] == ["Third question", third.text]
    assert ("user", "Edited question") not in _context(db, conversation)


def test_switching_to_an_old_attempt_shows_its_newest_continuation(
    db: Database, chats: Chats
) -> None:
    first = _send(chats, None, "Tell me a fact")
    conversation = first.conversation_id
    assert conversation is not None and first.message_id is not None
    later = _send(chats, conversation, "And another")
    again = _last(chats.retry(conversation, first.message_id, "demo", MODEL))
    assert [m.id for m in _shown(db, conversation)][1:] == [again.message_id]
    chats.show_branch(conversation, first.message_id)
    assert [m.id for m in _shown(db, conversation)][1:] == [
        first.message_id,
        _shown(db, conversation)[2].id,
        later.message_id,
    ]


def test_a_retry_sends_the_branch_up_to_the_reply_it_replaces(db: Database, chats: Chats) -> None:
    conversation, first, _second = _two_turns(chats)
    assert first.message_id is not None
    with db.read() as session:
        sent = conversations.history(session, conversation, before=first.message_id)
    assert sent == (ChatMessage("user", "First question"),)


def test_a_failed_edit_leaves_the_branch_as_it_was(db: Database, chats: Chats) -> None:
    conversation, _first, _second = _two_turns(chats)
    before = [m.id for m in _shown(db, conversation)]
    with pytest.raises(ProviderError):
        list(chats.edit(conversation, MessageId(before[2]), "Edited", "demo", f"{MODEL}@not-found"))
    after = _shown(db, conversation)
    assert [m.id for m in after] == before and after[2].siblings == ()


def test_a_message_of_another_conversation_cannot_be_shown(db: Database, chats: Chats) -> None:
    one = _send(chats, None, "One")
    other = _send(chats, None, "Other")
    assert one.conversation_id is not None and other.message_id is not None
    with pytest.raises(ConversationNotFound):
        chats.show_branch(one.conversation_id, other.message_id)


def test_the_tree_and_the_branch_shown_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    db = Database(path)
    chats = Chats(db, MeteringClient(db))
    try:
        first = _send(chats, None, "Tell me a fact")
        conversation = first.conversation_id
        assert conversation is not None and first.message_id is not None
        again = _last(chats.retry(conversation, first.message_id, "demo", MODEL))
        chats.show_branch(conversation, first.message_id)
        before = _shown(db, conversation)
    finally:
        chats.metering.close()
        db.close()
    reopened = Database(path)
    try:
        after = _shown(reopened, conversation)
        with reopened.read() as session:
            costs = conversations.cost_breakdown(session, conversation)
    finally:
        reopened.close()
    assert after == before
    assert after[1].id == first.message_id
    assert after[1].siblings == (first.message_id, again.message_id)
    assert costs.total == first.cost + again.cost and costs.branch == first.cost


def test_the_title_has_its_own_share_of_the_total(db: Database, chats: Chats) -> None:
    first = _send(chats, None, "How do tides work?")
    conversation = first.conversation_id
    assert conversation is not None
    assert chats.name(conversation, "demo", MODEL, "How do tides work?")
    with db.read() as session:
        costs = conversations.cost_breakdown(session, conversation)
        total = conversations.conversation_cost(session, conversation)
    assert costs.title > 0 and costs.branch == first.cost
    assert costs.total == total == first.cost + costs.title and costs.elsewhere == 0


def test_the_demo_s_conversations_are_chains(db: Database) -> None:
    with db.write() as session:
        demo_data.fill(session, rows=400, days=3)
    with db.read() as session:
        busiest = session.scalar(
            select(Message.conversation_id)
            .group_by(Message.conversation_id)
            .order_by(func.count().desc())
            .limit(1)
        )
        assert busiest is not None
        shown = conversations.messages(session, busiest)
        parents = session.scalars(
            select(Message.parent_id).where(Message.conversation_id == busiest).order_by(Message.id)
        ).all()
    assert len(shown) > 2 and all(m.siblings == () for m in shown)
    assert parents == [None, *(m.id for m in shown[:-1])]
