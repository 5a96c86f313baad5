"""Crash recovery is an explicit step its owner runs off the GUI thread, never a constructor's
side effect (the window used to charge crashed requests on the GUI thread as it started)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from app.core import conversations
from app.core.chats import Chats
from app.core.ledger import entries
from app.core.metering.client import MeteringClient
from app.core.pricing.charges import TokenUsage
from app.core.pricing.prices import PriceBook
from app.core.storage.db import Database
from app.core.storage.models import Message, Request


def _orphan(db: Database) -> tuple[int, int]:
    """A request a crashed process left pending (its owner holds no lock), with the reply text
    it had saved while streaming."""
    with db.write() as session:
        conversation = conversations.create_conversation(session, title="crashed").id
        reply = conversations.add_message(session, conversation, "assistant", "")
        rates = PriceBook.load(session).rates("gpt-4o-mini", provider="openai")
        spend = entries.Spend(
            "demo",
            "gpt-4o-mini",
            TokenUsage(12, 0),
            rates,
            conversation_id=conversation,
            message_id=reply,
            estimated_prompt_tokens=12,
        )
        request = entries.open_request(session, spend, hold=Decimal(12) * rates.prompt)
        entries.save_partial(session, request, "The reply had got this far")
    return request, reply


def test_a_new_client_writes_nothing_until_asked_to_recover(db: Database) -> None:
    request, reply = _orphan(db)
    chats = Chats(db, MeteringClient(db))
    with db.read() as session:
        assert session.scalar(select(Request.status).where(Request.id == request)) == "pending"
    assert chats.recover_pending() == [request]
    assert chats.recover_pending() == []  # charged once
    chats.metering.close()
    with db.read() as session:
        stored = session.get(Request, request)
        assert stored is not None and stored.status == "incomplete" and stored.hold == 0
        assert session.scalar(select(Message.content).where(Message.id == reply)) == (
            "The reply had got this far"
        )
        assert entries.current_balance(session) == entries.ledger_sum(session) < 0
        assert entries.pending_holds(session) == 0
