"""Conversations as the user has them: start one, send a message, retry a reply, name it.

The one owner of every conversation write a chat makes, used by the window, ``tallybook chat``
and the local endpoint alike. The metering client keeps no conversations: each request carries
a :class:`Turn` (its :class:`~app.core.metering.client.RequestHooks`), which files the user's
message and the reply in the client's own transactions. So a refused request leaves nothing, a
request that got no reply is undone whole (even the conversation its first message created),
and no caller ever has to undo a write that went wrong.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy.orm import Session

from app.core import conversations
from app.core.attachments import Attachment, AttachmentRefused, refusal
from app.core.messages import ChatMessage
from app.core.metering import checks
from app.core.metering.client import (
    ChatRequest,
    Filed,
    MeteringClient,
    Quote,
    StreamItem,
)
from app.core.model_settings import (
    DEFAULT_SETTINGS,
    ModelSettings,
    Offered,
    applicable,
    offered,
    reasons_by_default,
)
from app.core.pricing.prices import PriceBook
from app.core.providers import registry
from app.core.storage.db import Database
from app.core.types import ConversationId, EndpointApi, MessageId, RequestId

__all__ = ["Chats", "NewConversation", "Opened", "ToolTurn", "Turn", "title_max_tokens"]

TITLE_MAX_TOKENS = 24
TITLE_MAX_TOKENS_REASONING = 1024
"""Reasoning models think before they answer, and the thinking counts against the limit: with 24
tokens they would be billed for a title and produce none."""
TITLE_PROMPT = (
    "Write a short title (3 to 6 words) for a conversation that starts with the message below. "
    "Answer with the title only, no quotes.\n\n"
)


@dataclass(frozen=True)
class NewConversation:
    """The settings a conversation that does not exist yet is created with, by its first
    message (in the same transaction as that message's request)."""

    system_prompt: str = ""
    drop_oldest: bool = False
    model_settings: ModelSettings = DEFAULT_SETTINGS


@dataclass(frozen=True)
class Opened:
    """The first item of a chat stream: where the request was filed (a conversation the first
    message created is known from here on)."""

    conversation_id: ConversationId
    message_id: MessageId
    """The reply's."""
    prompt_id: MessageId | None = None
    """The user's message's (``None`` for a retry, which has none of its own)."""


@dataclass
class Turn:
    """One exchange of a conversation, filed by the metering client's hooks.

    Attributes:
        conversation_id: the conversation, or ``None`` to create it (with ``new``) when the
            request is accepted.
        prompt: the user's new message, stored when the request is accepted; ``None`` for a
            retry, which asks again for the same prompt.
        replaces: the message a retry (a reply) or an edit (the user's message) takes the place
            of: once the request is accepted, it and what followed it leave the branch shown
            and the new one becomes their sibling (they stay in the tree, and their cost on the
            ledger); they are shown again if no reply comes.
        attachments: the files of the user's new message, stored with it.
    """

    conversation_id: ConversationId | None
    prompt: str | None = None
    replaces: MessageId | None = None
    new: NewConversation = field(default_factory=NewConversation)
    attachments: tuple[Attachment, ...] = ()
    filed: Filed | None = field(default=None, init=False)
    _created: bool = field(default=False, init=False, repr=False)
    _prompt_id: MessageId | None = field(default=None, init=False, repr=False)
    _forked: list[MessageId] = field(default_factory=list, init=False, repr=False)
    _last_use: conversations.LastUse | None = field(default=None, init=False, repr=False)

    def opened(self, session: Session, request: ChatRequest, now: datetime) -> Filed:
        """File the request: the conversation (if new), the user's message, the empty reply."""
        conversation_id = self.conversation_id
        if conversation_id is None:
            conversation_id = conversations.create_conversation(
                session,
                provider=request.endpoint,
                model=request.model,
                system_prompt=self.new.system_prompt,
                drop_oldest=self.new.drop_oldest,
                model_settings=self.new.model_settings,
                now=now,
            ).id
            self._created = True
        else:
            self._last_use = conversations.last_use(session, conversation_id)
            conversations.configure_conversation(
                session, conversation_id, provider=request.endpoint, model=request.model
            )
        if self.replaces is not None:
            self._forked = conversations.fork(session, self.replaces)
        if self.prompt is not None:
            self._prompt_id = conversations.add_message(
                session, conversation_id, "user", self.prompt, now=now
            )
            conversations.add_attachments(session, self._prompt_id, self.attachments)
        reply_id = conversations.add_message(
            session,
            conversation_id,
            "assistant",
            "",
            provider=request.endpoint,
            model=request.model,
            now=now,
        )
        self.filed = Filed(conversation_id, reply_id)
        return self.filed

    @property
    def prompt_id(self) -> MessageId | None:
        """The user's message, once filed."""
        return self._prompt_id

    def abandoned(self, session: Session) -> None:
        """No reply came: the conversation is as it was before, in its place in the list and on
        its last model (or gone, if it was new)."""
        assert self.filed is not None and self.filed.conversation_id is not None
        if self._created:
            conversations.delete_conversation(session, self.filed.conversation_id)
        if self._last_use is not None:
            conversations.put_last_use(session, self.filed.conversation_id, self._last_use)
        if self.filed.message_id is not None:
            conversations.delete_message(session, self.filed.message_id)
        if self._prompt_id is not None:
            conversations.delete_message(session, self._prompt_id)
        conversations.put_back(session, self._forked)

    def settled(self, session: Session, text: str) -> None:
        """Keep the reply as it was charged."""
        assert self.filed is not None and self.filed.message_id is not None
        conversations.set_message_text(session, self.filed.message_id, text)


@dataclass
class ToolTurn:
    """A tool's request through the local endpoint, filed under that tool's conversation
    (created with its first request, in the transaction that accepts it; nothing of the
    request's text is kept: the tool keeps its own conversation)."""

    source: str
    _filed: Filed | None = field(default=None, init=False, repr=False)
    _created: bool = field(default=False, init=False, repr=False)

    def opened(self, session: Session, request: ChatRequest, now: datetime) -> Filed:
        """Find (or create) the tool's conversation."""
        found = conversations.find_for_source(session, self.source)
        self._created = found is None
        conversation_id = found or conversations.for_source(session, self.source, now=now)
        self._filed = Filed(conversation_id)
        return self._filed

    def abandoned(self, session: Session) -> None:
        """No reply came: a conversation made for this request alone goes again."""
        if self._created and self._filed is not None and self._filed.conversation_id:
            conversations.delete_conversation(session, self._filed.conversation_id)

    def settled(self, session: Session, text: str) -> None:
        """Nothing to keep: the charge is the record."""


class Chats:
    """Conversation use cases over one ledger and one metering client."""

    def __init__(self, db: Database, metering: MeteringClient) -> None:
        self._db = db
        self.metering = metering

    def recover_pending(self) -> list[RequestId]:
        """Charge the requests a crashed process left pending, keeping what their replies
        had received (ledger writes: run it off the GUI thread, once at start)."""
        return self.metering.recover_pending(conversations.set_message_text)

    def quote(
        self,
        conversation_id: ConversationId | None,
        text: str,
        endpoint: str,
        model: str,
        *,
        new: NewConversation | None = None,
        max_tokens: int | None = None,
        attachments: Sequence[Attachment] = (),
        replaces: MessageId | None = None,
    ) -> Quote:
        """What sending ``text`` (and its ``attachments``) now would send and what its prompt
        costs: the same count and price a send charges by (the composer's live estimate,
        ``tallybook count``). With ``replaces``, what :meth:`edit` of that message would send
        (the branch up to it, its files kept unless ``attachments`` are given).

        Raises:
            ContextWindowExceeded: it would not fit the model's window.
            AttachmentRefused: the endpoint or the model cannot take its files.
            UnknownEndpoint, ConversationNotFound: nothing to send it to.
        """
        turn = Turn(conversation_id, text, new=new or NewConversation(), replaces=replaces)
        turn.attachments = tuple(attachments)
        if replaces is not None and not attachments:
            turn.attachments = self._files_of(replaces)
        return self.metering.quote(self._request(turn, endpoint, model, max_tokens))

    def send(
        self,
        conversation_id: ConversationId | None,
        text: str,
        endpoint: str,
        model: str,
        *,
        new: NewConversation | None = None,
        max_tokens: int | None = None,
        cancel: threading.Event | None = None,
        attachments: Sequence[Attachment] = (),
    ) -> Generator[StreamItem | Opened, None, None]:
        """Send the user's message and stream the reply: :class:`Opened` once the request is
        accepted, then the reply's deltas, then its :class:`Metered` (see
        :meth:`MeteringClient.stream`). With no conversation yet, the first message creates
        it (with ``new``'s settings), in the transaction that accepts the request. The
        message's ``attachments`` are stored with it, in the same transaction.

        Raises:
            AttachmentRefused: the endpoint or the model cannot take its files; nothing sent.

        Raises (when iterated):
            InsufficientBalance, ContextWindowExceeded, MissingKey: refused; nothing stored.
            ProviderError: no reply came; the conversation is as it was.
        """
        turn = Turn(conversation_id, text, new=new or NewConversation())
        turn.attachments = tuple(attachments)
        return self._stream(turn, self._request(turn, endpoint, model, max_tokens), cancel)

    def retry(
        self,
        conversation_id: ConversationId,
        reply_id: MessageId,
        endpoint: str,
        model: str,
        *,
        cancel: threading.Event | None = None,
    ) -> Generator[StreamItem | Opened, None, None]:
        """Ask again for a reply, streamed as :meth:`send` streams. Once the new request is
        accepted, the new reply is a sibling of the old one and is shown in its place (a
        refused or failed retry leaves the old one in place); the old one stays reachable
        (:meth:`show_branch`), and its cost on the ledger."""
        turn = Turn(conversation_id, replaces=reply_id)
        return self._stream(turn, self._request(turn, endpoint, model, None), cancel)

    def edit(
        self,
        conversation_id: ConversationId,
        message_id: MessageId,
        text: str,
        endpoint: str,
        model: str,
        *,
        cancel: threading.Event | None = None,
        attachments: Sequence[Attachment] | None = None,
    ) -> Generator[StreamItem | Opened, None, None]:
        """Send an edited version of one of the user's messages: a new branch (the message as
        edited and its reply, siblings of the old ones), streamed as :meth:`send` streams. The
        old branch stays in the tree, and its cost on the ledger. The edit keeps the message's
        files unless ``attachments`` replaces them."""
        turn = Turn(conversation_id, text, replaces=message_id)
        turn.attachments = self._files_of(message_id) if attachments is None else tuple(attachments)
        return self._stream(turn, self._request(turn, endpoint, model, None), cancel)

    def _files_of(self, message_id: MessageId) -> tuple[Attachment, ...]:
        """The files a stored message carries (what an edit of it keeps)."""
        with self._db.read() as session:
            return tuple(conversations.attachments_of(session, [message_id]).get(message_id, ()))

    def show_branch(self, conversation_id: ConversationId, message_id: MessageId) -> None:
        """Show (and send as context from now on) the branch through one of the siblings of a
        message: the branch chosen is remembered by the ledger.

        Raises:
            ConversationNotFound: the conversation or the message is gone.
        """
        with self._db.write() as session:
            conversations.get_conversation(session, conversation_id)
            conversations.show_branch(session, conversation_id, message_id)

    def configure(
        self,
        conversation_id: ConversationId,
        *,
        system_prompt: str | None = None,
        drop_oldest: bool | None = None,
        model_settings: ModelSettings | None = None,
    ) -> None:
        """Save a conversation's system prompt, trimming rule or model settings (``None``:
        unchanged; settings are checked against the model by :meth:`offered_settings` first)."""
        with self._db.write() as session:
            conversations.get_conversation(session, conversation_id)  # gone: ConversationNotFound
            conversations.configure_conversation(
                session,
                conversation_id,
                system_prompt=system_prompt,
                drop_oldest=drop_oldest,
                model_settings=model_settings,
            )

    def offered_settings(self, endpoint: str, model: str) -> Offered:
        """The settings ``model`` takes at ``endpoint``, with its longest reply and its output
        rate (a read).

        Raises:
            UnknownEndpoint: no such endpoint.
        """
        with self._db.read() as session:
            place = registry.get_endpoint(session, endpoint)
            book = PriceBook.load(session)
        limits = book.limits(model, provider=place.price_provider)
        rate = book.rates(model, provider=place.price_provider).completion
        adapter, _ = place.adapter_for(model)
        vendor = place.api != EndpointApi.COMPATIBLE
        offer = offered(adapter.name, model, limits.max_output, vendor=vendor)
        return replace(offer, output_rate=rate)

    def choose_model(self, endpoint: str, model: str) -> None:
        """Put the model first in its endpoint's menu next time."""
        with self._db.write() as session:
            registry.remember_model(session, endpoint, model)

    def name(
        self, conversation_id: ConversationId, endpoint: str, model: str, first_message: str
    ) -> str | None:
        """Let the model title a conversation that still has the default title (metered, with
        ``context='title'``); ``None`` when it needs none, or the title was skipped or failed.

        LibreChat's rule: the title prompt plus a 150-token buffer must fit the balance, and no
        blocking budget may be reached (the reply may just have reached it); if not, the title
        is skipped quietly.
        """
        with self._db.read() as session:
            if conversations.get_conversation(session, conversation_id).title != (
                conversations.DEFAULT_TITLE
            ):
                return None
        request = ChatRequest(
            endpoint=endpoint,
            model=model,
            messages=(ChatMessage("user", TITLE_PROMPT + first_message[:2000]),),
            max_tokens=title_max_tokens(model),
            conversation_id=conversation_id,
            context="title",
        )
        quote = self.metering.quote(request)
        with self._db.write() as session:  # an auto-refill may top the balance up first
            if not checks.affords_title(session, quote):
                return None
        metered = self.metering.send(request)
        title = metered.text.strip().strip("\"'").splitlines()[0] if metered.text.strip() else ""
        if metered.error is not None or not title:
            return None
        with self._db.write() as session:
            conversations.set_title(session, conversation_id, title)
        return title

    def rename(self, conversation_id: ConversationId, title: str) -> None:
        """The user's own title (it stops the model from naming the conversation)."""
        with self._db.write() as session:
            conversations.set_title(session, conversation_id, title)

    def discard(self, conversation_id: ConversationId) -> None:
        """Hide a conversation; its spend stays on the ledger, under its title."""
        with self._db.write() as session:
            conversations.delete_conversation(session, conversation_id)

    def _stream(
        self, turn: Turn, request: ChatRequest, cancel: threading.Event | None
    ) -> Generator[StreamItem | Opened, None, None]:
        stream = self.metering.stream(request, cancel=cancel)
        try:
            yield from _announced(turn, stream)
        finally:
            stream.close()

    def _request(
        self, turn: Turn, endpoint: str, model: str, max_tokens: int | None
    ) -> ChatRequest:
        """The request a turn sends: the stored conversation (or the new one's system prompt),
        then the new message."""
        history: tuple[ChatMessage, ...] = ()
        if turn.conversation_id is None:
            system = turn.new.system_prompt
            history = (ChatMessage("system", system),) if system else ()
            drop_oldest, stored = turn.new.drop_oldest, turn.new.model_settings
        else:
            with self._db.read() as session:
                history = conversations.history(session, turn.conversation_id, before=turn.replaces)
                found = conversations.get_conversation(session, turn.conversation_id)
                drop_oldest, stored = found.drop_oldest, found.model_settings
        settings = DEFAULT_SETTINGS
        if not stored.is_default:  # only what the model it now talks to takes
            settings = applicable(stored, self.offered_settings(endpoint, model))
        prompt: tuple[ChatMessage, ...] = ()
        if turn.prompt is not None:
            content = conversations.with_attachments(turn.prompt, turn.attachments)
            prompt = (ChatMessage("user", content),)
        self._check_attachments(endpoint, model, (*history, *prompt))
        return ChatRequest(
            endpoint,
            model,
            (*history, *prompt),
            max_tokens=max_tokens or settings.max_output_tokens,
            conversation_id=turn.conversation_id,
            drop_oldest=drop_oldest,
            hooks=turn,
            settings=settings,
        )

    def _check_attachments(
        self, endpoint: str, model: str, messages: Sequence[ChatMessage]
    ) -> None:
        """Refuse, before anything is sent, files the endpoint or the model cannot take."""
        files = [part for m in messages for part in m.parts if not isinstance(part, str)]
        if not files:
            return
        with self._db.read() as session:
            api = registry.get_endpoint(session, endpoint).api
        reason = refusal(api, model, files)
        if reason is not None:
            raise AttachmentRefused(reason)


def _announced(turn: Turn, stream: Iterator[StreamItem]) -> Iterator[StreamItem | Opened]:
    """The stream, with :class:`Opened` before its first item (the request is filed by then)."""
    announced = False
    for item in stream:
        filed = turn.filed
        if not announced and filed is not None:
            announced = True
            assert filed.conversation_id is not None and filed.message_id is not None
            yield Opened(filed.conversation_id, filed.message_id, turn.prompt_id)
        yield item


def title_max_tokens(model: str) -> int:
    """A title's reply limit: room for the thinking of models that reason by default."""
    if reasons_by_default(model):
        return TITLE_MAX_TOKENS_REASONING
    return TITLE_MAX_TOKENS
