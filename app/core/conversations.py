"""Conversations and their messages, stored beside the ledger in the same file."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from app.core.chat import ChatMessage
from app.core.clock import utcnow
from app.core.errors import TallybookError
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
    drop_oldest: bool = False


def create_conversation(
    session: Session,
    *,
    title: str = DEFAULT_TITLE,
    provider: str | None = None,
    model: str | None = None,
    system_prompt: str = "",
    drop_oldest: bool = False,
    now: datetime | None = None,
) -> ConversationView:
    """Start a conversation (its title may be replaced once the model has named it)."""
    now = now or utcnow()
    conversation = Conversation(
        title=title,
        provider=provider,
        model=model,
        system_prompt=system_prompt,
        drop_oldest=drop_oldest,
        created_at=now,
        updated_at=now,
    )
    session.add(conversation)
    session.flush()
    return ConversationView(conversation.id, title, provider, model, now, drop_oldest)


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


def history(session: Session, conversation_id: int) -> tuple[ChatMessage, ...]:
    """The conversation as a chat payload: its system prompt, then every message kept.

    Assistant replies that never received text (a failed request) are left out.
    """
    conversation = session.get(Conversation, conversation_id)
    if conversation is None or conversation.deleted_at is not None:
        raise TallybookError(f"There is no conversation {conversation_id}.")
    rows = session.execute(
        select(Message.role, Message.content)
        .where(Message.conversation_id == conversation_id, Message.deleted_at.is_(None))
        .order_by(Message.id)
    )
    messages = [
        ChatMessage(role, content) for role, content in rows if content or role != "assistant"
    ]
    if conversation.system_prompt:
        messages.insert(0, ChatMessage("system", conversation.system_prompt))
    return tuple(messages)


def set_message_text(session: Session, message_id: int, content: str) -> None:
    """Store the text of a reply (as it streams, and when it ends)."""
    session.execute(update(Message).where(Message.id == message_id).values(content=content))


def delete_message(session: Session, message_id: int) -> None:
    """Hide a message; its spend, if any, stays on the ledger."""
    session.execute(update(Message).where(Message.id == message_id).values(deleted_at=utcnow()))


def set_title(session: Session, conversation_id: int, title: str) -> None:
    """Name a conversation (the model's title, or the user's)."""
    session.execute(
        update(Conversation)
        .where(Conversation.id == conversation_id)
        .values(title=title.strip()[:200] or DEFAULT_TITLE, updated_at=utcnow())
    )


def get_conversation(session: Session, conversation_id: int) -> ConversationView:
    """One conversation's header.

    Raises:
        TallybookError: it does not exist or was deleted.
    """
    row = session.get(Conversation, conversation_id)
    if row is None or row.deleted_at is not None:
        raise TallybookError(f"There is no conversation {conversation_id}.")
    return ConversationView(
        row.id, row.title, row.provider, row.model, row.created_at, row.drop_oldest
    )
