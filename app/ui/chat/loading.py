"""The chat's reads, as plain functions run on the worker threads.

Nothing here touches Qt: :class:`~app.ui.chat.view.ChatView` hands these to
``context.reads`` (queries, side by side) or ``context.streams`` (provider calls) and paints what
comes back, so the GUI thread never waits on SQLite or the network. Every write is the chat
service's (:class:`~app.core.chats.Chats`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.core import conversations, keys
from app.core.counting.tokens import TokenCount
from app.core.metering.client import Quote
from app.core.providers import counts, registry
from app.core.storage.db import Database

PAGE_MESSAGES = 40
"""Messages read at a time: more than a window shows of any conversation, a small read of any."""


@dataclass(frozen=True)
class MessagePage:
    """Some consecutive messages of a conversation, oldest first.

    Attributes:
        earlier: older messages are stored before these (read them with :func:`older_messages`).
    """

    messages: list[conversations.MessageView]
    earlier: bool


@dataclass(frozen=True)
class ConversationSnapshot:
    """What the chat shows first of a stored conversation, read in one go: its newest page."""

    conversation: conversations.ConversationView
    page: MessagePage
    costs: conversations.CostBreakdown
    system_prompt: str


def load_conversation(db: Database, conversation_id: int) -> ConversationSnapshot:
    """Read a conversation, the newest messages of its branch shown with their usage and
    siblings, and its running total.

    Raises:
        ConversationNotFound: it does not exist (or was deleted).
    """
    with db.read() as session:
        return ConversationSnapshot(
            conversation=conversations.get_conversation(session, conversation_id),
            page=_page(session, conversation_id, None),
            costs=conversations.cost_breakdown(session, conversation_id),
            system_prompt=conversations.system_prompt(session, conversation_id),
        )


def older_messages(db: Database, conversation_id: int, before: int) -> MessagePage:
    """The page of messages stored just before message ``before``."""
    with db.read() as session:
        return _page(session, conversation_id, before)


def _page(session: Session, conversation_id: int, before: int | None) -> MessagePage:
    found = conversations.messages(session, conversation_id, before=before, limit=PAGE_MESSAGES + 1)
    return MessagePage(found[-PAGE_MESSAGES:], earlier=len(found) > PAGE_MESSAGES)


def has_chatted(db: Database) -> bool:
    """Whether there is any conversation yet (a new user is welcomed instead)."""
    with db.read() as session:
        return session.execute(conversations.listing().limit(1)).first() is not None


def load_menu(db: Database) -> list[tuple[registry.Endpoint, list[registry.ModelChoice]]]:
    """The model picker's endpoints and priced models."""
    with db.read() as session:
        return registry.model_menu(session)


@dataclass(frozen=True)
class HeaderFigures:
    """The title and running total, re-read after a reply or a title."""

    title: str
    costs: conversations.CostBreakdown


def header_figures(db: Database, conversation_id: int) -> HeaderFigures:
    """The conversation's title and everything it has cost."""
    with db.read() as session:
        return HeaderFigures(
            conversations.get_conversation(session, conversation_id).title,
            conversations.cost_breakdown(session, conversation_id),
        )


def provider_count(db: Database, quote: Quote) -> TokenCount | None:
    """The provider's own count of a quoted draft, when the user allows it and it can be had.

    ``None`` when the protocol has no count endpoint, the user has not opted in (it sends the
    draft to the provider), or no key is set: the local estimate then stands.
    """
    if not counts.supported(quote.endpoint):
        return None
    with db.read() as session:
        if not counts.allowed(session):
            return None
    if keys.get_key(quote.endpoint.id) is None:
        return None
    return counts.provider_count(
        quote.endpoint, quote.request.model, quote.messages, quote.request.tools
    )
