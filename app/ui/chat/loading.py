"""The chat's database and provider work, as plain functions run on the worker threads.

Nothing here touches Qt: :class:`~app.ui.chat.view.ChatView` hands these to
``context.tasks`` (database, in order) or ``context.streams`` (provider calls) and paints what
comes back, so the GUI thread never waits on SQLite or the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from app.core import conversations, keys
from app.core.chats import Chats
from app.core.counting.tokens import TokenCount
from app.core.messages import ChatMessage
from app.core.metering.client import ChatRequest, Quote
from app.core.providers import counts, registry
from app.core.storage.db import Database


@dataclass(frozen=True)
class ConversationSnapshot:
    """Everything the chat shows of a stored conversation, read in one go."""

    conversation: conversations.ConversationView
    messages: list[conversations.MessageView]
    cost: Decimal
    system_prompt: str


def load_conversation(db: Database, conversation_id: int) -> ConversationSnapshot:
    """Read a conversation, its visible messages with their usage, and its running total.

    Raises:
        TallybookError: it does not exist (or was deleted).
    """
    with db.read() as session:
        return ConversationSnapshot(
            conversation=conversations.get_conversation(session, conversation_id),
            messages=conversations.messages(session, conversation_id),
            cost=conversations.conversation_cost(session, conversation_id),
            system_prompt=conversations.system_prompt(session, conversation_id),
        )


def has_chatted(db: Database) -> bool:
    """Whether there is any conversation yet (a new user is welcomed instead)."""
    with db.read() as session:
        return bool(conversations.list_conversations(session))


def load_menu(db: Database) -> list[tuple[registry.Endpoint, list[registry.ModelChoice]]]:
    """The model picker's endpoints and priced models."""
    with db.read() as session:
        return registry.model_menu(session)


def remember_model(db: Database, endpoint: str, model: str) -> None:
    """Put the model first in its endpoint's menu next time."""
    with db.write() as session:
        registry.remember_model(session, endpoint, model)


def configure(
    db: Database,
    conversation_id: int,
    *,
    system_prompt: str | None = None,
    drop_oldest: bool | None = None,
) -> None:
    """Save a conversation's system prompt or trimming rule (``None``: unchanged)."""
    with db.write() as session:
        conversations.configure_conversation(
            session, conversation_id, system_prompt=system_prompt, drop_oldest=drop_oldest
        )


def start_conversation(
    chats: Chats, db: Database, endpoint: str, model: str, system_prompt: str, drop_oldest: bool
) -> int:
    """Create the conversation a first message goes into, with the settings chosen for it."""
    conversation = chats.start(endpoint, model, system_prompt=system_prompt)
    if drop_oldest:
        configure(db, conversation.id, drop_oldest=True)
    return conversation.id


def discard_if_empty(db: Database, conversation_id: int) -> bool:
    """Hide a conversation that has no message (its first one was refused); True if hidden.

    A refusal stores nothing, so the conversation made for it would be an empty row in the
    list; hiding it leaves the list as the user knew it.
    """
    with db.write() as session:
        if conversations.messages(session, conversation_id):
            return False
        conversations.delete_conversation(session, conversation_id)
        return True


def quote_draft(
    chats: Chats,
    conversation_id: int | None,
    text: str,
    endpoint: str,
    model: str,
    system_prompt: str = "",
) -> Quote:
    """The estimate for sending ``text`` now.

    For a conversation not saved yet, the system prompt chosen for it is counted too (it will
    be sent with the first message).

    Raises:
        ContextWindowExceeded: it would not fit the model's window.
        TallybookError: unknown endpoint.
    """
    if conversation_id is None and system_prompt:
        messages = (ChatMessage("system", system_prompt), ChatMessage("user", text))
        return chats.metering.quote(ChatRequest(endpoint, model, messages))
    return chats.quote(conversation_id, text, endpoint, model)


@dataclass(frozen=True)
class HeaderFigures:
    """The title and running total, re-read after a reply or a title."""

    title: str
    cost: Decimal


def header_figures(db: Database, conversation_id: int) -> HeaderFigures:
    """The conversation's title and everything it has cost."""
    with db.read() as session:
        return HeaderFigures(
            conversations.get_conversation(session, conversation_id).title,
            conversations.conversation_cost(session, conversation_id),
        )


def name_conversation(
    chats: Chats, conversation_id: int, endpoint: str, model: str, first_message: str
) -> str | None:
    """Let the model title a new conversation, if it still needs one (metered; may skip)."""
    if not chats.needs_title(conversation_id):
        return None
    return chats.name(conversation_id, endpoint, model, first_message)


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
