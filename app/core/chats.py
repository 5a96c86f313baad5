"""Conversations as the user has them: send a message, retry a reply, name the conversation.

The one place that turns "the user typed this in that conversation" into a metered request, used
by the window and by ``tallybook chat`` alike.
"""

from __future__ import annotations

import threading
from collections.abc import Generator

from app.core import conversations
from app.core.messages import ChatMessage
from app.core.metering.client import ChatRequest, MeteringClient, Quote, StreamItem
from app.core.storage.db import Database

__all__ = ["Chats"]


class Chats:
    """Conversation operations over one ledger and one metering client."""

    def __init__(self, db: Database, metering: MeteringClient) -> None:
        self._db = db
        self.metering = metering

    def start(
        self, endpoint: str, model: str, system_prompt: str = ""
    ) -> conversations.ConversationView:
        """A new, empty conversation."""
        with self._db.write() as session:
            return conversations.create_conversation(
                session, provider=endpoint, model=model, system_prompt=system_prompt
            )

    def quote(
        self,
        conversation_id: int | None,
        text: str,
        endpoint: str,
        model: str,
        *,
        max_tokens: int | None = None,
    ) -> Quote:
        """The estimate for sending ``text`` now (for the composer, live as the user types)."""
        return self.metering.quote(
            self._request(conversation_id, text, endpoint, model, max_tokens)
        )

    def send(
        self,
        conversation_id: int,
        text: str,
        endpoint: str,
        model: str,
        *,
        max_tokens: int | None = None,
        cancel: threading.Event | None = None,
    ) -> Generator[StreamItem, None, None]:
        """Send the user's message and stream the reply (see :meth:`MeteringClient.stream`).

        The message is stored only if the request is not refused (balance, context, key).
        """
        request = self._request(conversation_id, text, endpoint, model, max_tokens)
        with self._db.write() as session:
            conversations.configure_conversation(
                session, conversation_id, provider=endpoint, model=model
            )
        return self.metering.stream(request, cancel=cancel)

    def retry(
        self,
        conversation_id: int,
        reply_id: int,
        endpoint: str,
        model: str,
        *,
        cancel: threading.Event | None = None,
    ) -> Generator[StreamItem, None, None]:
        """Ask again for a reply; the old one is hidden once the new request is accepted (a
        refused or failed retry leaves it in place), and its cost stays on the ledger."""
        with self._db.read() as session:
            history = conversations.history(session, conversation_id, without=reply_id)
            drop_oldest = conversations.get_conversation(session, conversation_id).drop_oldest
        request = ChatRequest(
            endpoint,
            model,
            history,
            conversation_id=conversation_id,
            drop_oldest=drop_oldest,
            replaces=reply_id,
        )
        return self.metering.stream(request, cancel=cancel)

    def needs_title(self, conversation_id: int) -> bool:
        """Whether the conversation still has the default title."""
        with self._db.read() as session:
            title = conversations.get_conversation(session, conversation_id).title
        return title == conversations.DEFAULT_TITLE

    def name(
        self, conversation_id: int, endpoint: str, model: str, first_message: str
    ) -> str | None:
        """Let the model title the conversation (metered; skipped when the balance is short)."""
        return self.metering.generate_title(conversation_id, endpoint, model, first_message)

    def _request(
        self,
        conversation_id: int | None,
        text: str,
        endpoint: str,
        model: str,
        max_tokens: int | None,
    ) -> ChatRequest:
        history: tuple[ChatMessage, ...] = ()
        drop_oldest = False
        if conversation_id is not None:
            with self._db.read() as session:
                history = conversations.history(session, conversation_id)
                drop_oldest = conversations.get_conversation(session, conversation_id).drop_oldest
        return ChatRequest(
            endpoint,
            model,
            (*history, ChatMessage("user", text)),
            max_tokens=max_tokens,
            conversation_id=conversation_id,
            drop_oldest=drop_oldest,
            store_prompt=conversation_id is not None,
        )
