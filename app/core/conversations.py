"""Conversations and their messages, stored beside the ledger in the same file."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

from app.core.clock import utcnow
from app.core.models import Conversation, Message

DEFAULT_TITLE = "New conversation"


@dataclass(frozen=True)
class ConversationView:
    """A conversation header as callers see it."""

    id: int
    title: str
    provider: str | None
    model: str | None
    created_at: datetime


def create_conversation(
    session: Session,
    *,
    title: str = DEFAULT_TITLE,
    provider: str | None = None,
    model: str | None = None,
    system_prompt: str = "",
    now: datetime | None = None,
) -> ConversationView:
    """Start a conversation (its title may be replaced once the model has named it)."""
    now = now or utcnow()
    conversation = Conversation(
        title=title,
        provider=provider,
        model=model,
        system_prompt=system_prompt,
        created_at=now,
        updated_at=now,
    )
    session.add(conversation)
    session.flush()
    return ConversationView(conversation.id, title, provider, model, now)


def add_message(
    session: Session,
    conversation_id: int,
    role: str,
    content: str,
    *,
    provider: str | None = None,
    model: str | None = None,
    now: datetime | None = None,
) -> int:
    """Append a message and return its id."""
    return session.execute(
        insert(Message).returning(Message.id),
        {
            "conversation_id": conversation_id,
            "role": role,
            "content": content,
            "provider": provider,
            "model": model,
            "created_at": now or utcnow(),
        },
    ).scalar_one()
