"""Conversations and their messages, stored beside the ledger in the same file.

A conversation has a *source*: ``chat`` for the chat window's own, or the name of a tool
(``openai-python``, ``curl``, ``Zed``...) whose requests came through the local metering
endpoint. A tool's requests all land on one conversation per tool (:func:`for_source`); it holds
no messages, it only groups their cost, so the chat window lists ``chat`` conversations only.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    ColumnElement,
    Select,
    case,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import ScalarSelect

from app.core.attachments import Attachment
from app.core.clock import utcnow
from app.core.errors import ConversationNotFound
from app.core.messages import ChatMessage, Part
from app.core.model_settings import DEFAULT_SETTINGS, ModelSettings
from app.core.pricing.units import Kind, UnitCost, extra_units, kind_of
from app.core.storage.models import Attachment as AttachmentRow
from app.core.storage.models import Conversation, ConversationDay, Message, Request, Transaction
from app.core.types import ConversationId, MessageId, RequestStatus

DEFAULT_TITLE = "New conversation"
CHAT_SOURCE = "chat"
"""The source of the chat window's own conversations."""
UNKNOWN_SOURCE = "unknown tool"
"""The source of a tool that gave no usable name."""
CHAT_IMPOSTOR = "chat (external)"
"""Where a tool that calls itself ``chat`` lands: it cannot pose as the chat window."""
MAX_SOURCE_LENGTH = 64


@dataclass(frozen=True)
class ConversationView:
    """A conversation header as callers see it."""

    id: ConversationId
    title: str
    provider: str | None
    model: str | None
    created_at: datetime
    drop_oldest: bool = False
    source: str = CHAT_SOURCE
    model_settings: ModelSettings = DEFAULT_SETTINGS
    """Temperature, max output, reasoning effort, thinking budget (defaults: the provider's)."""


def create_conversation(
    session: Session,
    *,
    title: str = DEFAULT_TITLE,
    provider: str | None = None,
    model: str | None = None,
    system_prompt: str = "",
    drop_oldest: bool = False,
    source: str = CHAT_SOURCE,
    model_settings: ModelSettings = DEFAULT_SETTINGS,
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
        source=source,
        model_settings=model_settings.to_json(),
        created_at=now,
        updated_at=now,
    )
    session.add(conversation)
    session.flush()
    return ConversationView(
        ConversationId(conversation.id),
        title,
        provider,
        model,
        now,
        drop_oldest,
        source,
        model_settings,
    )


def clean_source(text: str) -> str:
    """A tool's name as it may be stored and shown: one line, printable, at most 64 characters.

    Whitespace runs become one space and other control or format characters (NUL, escape
    sequences, bidi overrides) are dropped, so a name cannot break a table or disguise itself;
    nothing usable left gives :data:`UNKNOWN_SOURCE`.
    """
    printable = "".join(
        c for c in " ".join(text.split()) if not unicodedata.category(c).startswith("C")
    )
    return " ".join(printable.split())[:MAX_SOURCE_LENGTH].rstrip() or UNKNOWN_SOURCE


def source_label(source: str) -> str:
    """How a source reads in a filter menu: the chat window by that name, a tool by its own."""
    return "Chat window" if source == CHAT_SOURCE else source


def for_source(session: Session, source: str, *, now: datetime | None = None) -> ConversationId:
    """The conversation that collects one tool's requests through the local endpoint.

    The tool's name goes through :func:`clean_source`; a tool calling itself ``chat`` or
    "Chat window" (in any case) is filed as :data:`CHAT_IMPOSTOR`, never as the chat window. The
    conversation is created on the tool's first request (titled "<tool> (local endpoint)"), and
    again if the user deleted it. Call it in a write session (``Database.write``): it holds the
    file's write lock, so two simultaneous first requests cannot create two conversations.

    Returns:
        The conversation's id.
    """
    found = find_for_source(session, source)
    if found is not None:
        return found
    name = _tool_name(source)
    return create_conversation(session, title=f"{name} (local endpoint)", source=name, now=now).id


def find_for_source(session: Session, source: str) -> ConversationId | None:
    """The conversation :func:`for_source` would return, if it exists already (a read: most
    requests come from a tool seen before, and need no write lock for this)."""
    found = session.scalar(
        select(Conversation.id)
        .where(Conversation.source == _tool_name(source), Conversation.deleted_at.is_(None))
        .order_by(Conversation.id)
        .limit(1)
    )
    return None if found is None else ConversationId(found)


def _tool_name(source: str) -> str:
    name = clean_source(source)
    if name.casefold() in (CHAT_SOURCE, source_label(CHAT_SOURCE).casefold()):
        return CHAT_IMPOSTOR
    return name


def add_message(
    session: Session,
    conversation_id: int,
    role: str,
    content: str,
    *,
    provider: str | None = None,
    model: str | None = None,
    now: datetime | None = None,
) -> MessageId:
    """Add a message at the end of the branch shown (it follows the branch's last message) and
    return its id; after :func:`fork`, it is a sibling of the message forked at."""
    message_id = session.execute(
        insert(Message).returning(Message.id),
        {
            "conversation_id": conversation_id,
            "parent_id": leaf(session, conversation_id),
            "role": role,
            "content": content,
            "provider": provider,
            "model": model,
            "created_at": now or utcnow(),
        },
    ).scalar_one()
    return MessageId(message_id)


def add_attachments(session: Session, message_id: int, attachments: Sequence[Attachment]) -> None:
    """Keep a message's files with it, in the order they were added."""
    if attachments:
        session.execute(
            insert(AttachmentRow),
            [
                {
                    "message_id": message_id,
                    "position": position,
                    "name": a.name,
                    "media_type": a.media_type,
                    "data": a.data,
                }
                for position, a in enumerate(attachments)
            ],
        )


def attachments_of(
    session: Session, message_ids: Iterable[int]
) -> dict[int, tuple[Attachment, ...]]:
    """The files of these messages (only those that have some), each in the order added."""
    ids = list(message_ids)
    if not ids:
        return {}
    found: dict[int, list[Attachment]] = {}
    rows = session.execute(
        select(
            AttachmentRow.message_id,
            AttachmentRow.name,
            AttachmentRow.media_type,
            AttachmentRow.data,
        )
        .where(AttachmentRow.message_id.in_(ids))
        .order_by(AttachmentRow.message_id, AttachmentRow.position)
    )
    for message_id, name, media_type, data in rows:
        found.setdefault(message_id, []).append(Attachment(name, media_type, data))
    return {message_id: tuple(files) for message_id, files in found.items()}


def with_attachments(text: str, attachments: Sequence[Attachment]) -> str | tuple[Part, ...]:
    """A user message's content: its files first (as the providers advise), then its text."""
    if not attachments:
        return text
    parts: tuple[Part, ...] = tuple(a.part() for a in attachments)
    return (*parts, text) if text else parts


def chain(session: Session, first: int, last: int) -> None:
    """Make the messages of conversations ``first`` to ``last`` (ids), stored in bulk without
    their parents, one chain each in the order of their ids: a plain conversation as a tree (the
    offline demo's synthetic ones)."""
    previous = func.lag(Message.id).over(partition_by=Message.conversation_id, order_by=Message.id)
    chained = (
        select(Message.id, previous.label("previous"))
        .where(Message.conversation_id.between(first, last))
        .subquery()
    )
    session.execute(
        update(Message)
        .where(Message.id == chained.c.id, chained.c.previous.is_not(None))
        .values(parent_id=chained.c.previous)
    )


def leaf(session: Session, conversation_id: int) -> MessageId | None:
    """The last message of the branch shown (``None`` before the first)."""
    found = session.scalar(
        select(func.max(Message.id)).where(
            Message.conversation_id == conversation_id, _shown(), Message.on_branch
        )
    )
    return None if found is None else MessageId(found)


def fork(session: Session, message_id: int) -> list[MessageId]:
    """Take a message of the branch shown, and all that follows it, off the branch: the next
    message added is its sibling (a retried reply, an edited message), and the old ones stay in
    the tree, reachable with :func:`show_branch`.

    Returns:
        The messages taken off, for :func:`put_back` should the new one never come.
    """
    conversation_id = session.scalar(
        select(Message.conversation_id).where(Message.id == message_id)
    )
    taken = [
        MessageId(found)
        for found in session.scalars(
            select(Message.id).where(
                Message.conversation_id == conversation_id,
                Message.on_branch,
                Message.id >= message_id,
            )
        )
    ]
    _set_on_branch(session, taken, on=False)
    return taken


def put_back(session: Session, message_ids: list[MessageId]) -> None:
    """Undo a :func:`fork` whose new message was never kept."""
    _set_on_branch(session, message_ids, on=True)


def show_branch(session: Session, conversation_id: int, message_id: int) -> None:
    """Show the branch through ``message_id``: the messages it follows, itself, and below it
    the newest continuation (at each turn, the latest sibling).

    Raises:
        ConversationNotFound: there is no such message (or it was deleted).
    """
    row = session.get(Message, message_id)
    if row is None or row.deleted_at is not None or row.conversation_id != conversation_id:
        raise ConversationNotFound(f"There is no message {message_id} in this conversation.")
    up = select(Message.id, Message.parent_id).where(Message.id == message_id)
    ancestors = up.cte("ancestors", recursive=True)
    ancestors = ancestors.union_all(
        select(Message.id, Message.parent_id).join(ancestors, Message.id == ancestors.c.parent_id)
    )
    path = set(session.scalars(select(ancestors.c.id)))
    below: int | None = message_id
    while below is not None:  # a continuation is as long as the turns after it
        below = session.scalar(
            select(func.max(Message.id)).where(Message.parent_id == below, _shown())
        )
        if below is not None:
            path.add(below)
    shown = set(
        session.scalars(
            select(Message.id).where(Message.conversation_id == conversation_id, Message.on_branch)
        )
    )
    _set_on_branch(session, sorted(shown - path), on=False)
    _set_on_branch(session, sorted(path - shown), on=True)


def _set_on_branch(session: Session, message_ids: list[MessageId] | list[int], *, on: bool) -> None:
    if message_ids:
        session.execute(update(Message).where(Message.id.in_(message_ids)).values(on_branch=on))


def _shown() -> ColumnElement[bool]:
    """Messages that were kept (a request that got no reply leaves its rows deleted)."""
    return Message.deleted_at.is_(None)


def history(
    session: Session, conversation_id: int, *, before: int | None = None
) -> tuple[ChatMessage, ...]:
    """The branch shown as a chat payload: the system prompt, then its messages from the first
    (up to message ``before``, when a retry or an edit takes its place).

    Assistant replies that never received text (a failed request) are left out.
    """
    conversation = session.get(Conversation, conversation_id)
    if conversation is None or conversation.deleted_at is not None:
        raise ConversationNotFound(f"There is no conversation {conversation_id}.")
    statement = (
        select(Message.id, Message.role, Message.content)
        .where(Message.conversation_id == conversation_id, _shown(), Message.on_branch)
        .order_by(Message.id)
    )
    if before is not None:
        statement = statement.where(Message.id < before)
    rows = [row for row in session.execute(statement) if row.content or row.role != "assistant"]
    files = attachments_of(session, (row.id for row in rows if row.role == "user"))
    messages = [
        ChatMessage(role, with_attachments(content, files.get(message_id, ())))
        for message_id, role, content in rows
    ]
    if conversation.system_prompt:
        messages.insert(0, ChatMessage("system", conversation.system_prompt))
    return tuple(messages)


def set_message_text(session: Session, message_id: int, content: str) -> None:
    """Store the text of a reply (as it streams, and when it ends)."""
    session.execute(update(Message).where(Message.id == message_id).values(content=content))


def delete_message(session: Session, message_id: int) -> None:
    """Hide a message (of a request that got no reply); its spend, if any, stays on the ledger."""
    session.execute(
        update(Message).where(Message.id == message_id).values(deleted_at=utcnow(), on_branch=False)
    )


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
        ConversationNotFound: it does not exist or was deleted.
    """
    row = session.get(Conversation, conversation_id)
    if row is None or row.deleted_at is not None:
        raise ConversationNotFound(f"There is no conversation {conversation_id}.")
    return ConversationView(
        ConversationId(row.id),
        row.title,
        row.provider,
        row.model,
        row.created_at,
        row.drop_oldest,
        row.source,
        ModelSettings.from_json(row.model_settings),
    )


@dataclass(frozen=True)
class ConversationSummary:
    """A row of the conversation list: what it is and what it has cost so far."""

    id: int
    title: str
    model: str | None
    updated_at: datetime
    cost: Decimal
    source: str = CHAT_SOURCE
    snippet: str = ""
    """Under a search, the text around the first match in its messages, on one line ("": no
    message matched, the title did)."""

    @property
    def position(self) -> ListPosition:
        """Where the row stands in the list's order: pass it as ``after`` for the next page."""
        return (self.updated_at, self.id)


@dataclass(frozen=True)
class ConversationChoice:
    """A conversation as a filter menu offers it: enough to tell it from the others."""

    id: int
    title: str
    source: str


@dataclass(frozen=True)
class MessageUsage:
    """What one reply cost: its tokens by kind, its price, and how sure those numbers are.

    Attributes:
        extras: billed units beyond the plain tokens (see :func:`units.extra_units`).
        model: the model that served (and priced) the reply.
        requested_model: the model asked for, where the reply named another.
        computed_cost: Tallybook's own price (positive credits).
        provider_cost: the provider's own figure, where it gave one (the charge).
        usage_notes: what the provider's usage carried that Tallybook did not understand.
        default_rated: some row was charged at a default rate (unknown model or unit).
    """

    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    cost: Decimal
    estimated: bool
    status: RequestStatus
    extras: tuple[UnitCost, ...] = ()
    model: str | None = None
    requested_model: str | None = None
    computed_cost: Decimal | None = None
    provider_cost: Decimal | None = None
    usage_notes: str | None = None
    default_rated: bool = False


@dataclass(frozen=True)
class MessageView:
    """A message as the chat shows it."""

    id: int
    role: str
    content: str
    created_at: datetime
    provider: str | None
    model: str | None
    usage: MessageUsage | None
    siblings: tuple[int, ...] = ()
    """The message and its alternatives (the attempts at a reply, the edits of a message),
    oldest first; empty when it has none."""
    attachments: tuple[Attachment, ...] = ()
    """The files the user added to it, in the order added."""

    @property
    def attempt(self) -> int:
        """Which of its siblings it is, from 1 (1 when it has none)."""
        return self.siblings.index(self.id) + 1 if self.siblings else 1


@dataclass(frozen=True)
class CostBreakdown:
    """What a conversation has cost, split the way the chat shows it.

    Attributes:
        total: every charge filed under the conversation.
        branch: the replies on the branch shown.
        title: the model's naming of the conversation.
    """

    total: Decimal
    branch: Decimal
    title: Decimal

    @property
    def elsewhere(self) -> Decimal:
        """The other attempts and branches (and any reply no longer shown)."""
        return self.total - self.branch - self.title


PAGE_SIZE = 200
"""Rows of the conversation list read at a time (a window shows a few dozen)."""
CHOICES_LIMIT = 50
"""Conversations a filter menu offers for what the user typed (type more to narrow it)."""

ListPosition = tuple[datetime, int]
"""A row's place in the list's order: ``(updated_at, id)``, both descending."""
SNIPPET_LEAD = 24
"""Characters of a message a search's snippet shows before the match (a few words)."""
SNIPPET_LENGTH = 160
"""Characters a snippet is read with: more than a row shows, never a whole long message."""


def list_conversations(
    session: Session,
    search: str = "",
    *,
    source: str | None = CHAT_SOURCE,
    after: ListPosition | None = None,
    limit: int | None = None,
) -> list[ConversationSummary]:
    """Conversations, most recent first, with their total cost; ``search`` matches title or text.

    Only the chat window's own by default (a tool's conversation has no messages to open);
    ``source=None`` lists every source's. A page is ``limit`` rows after the position ``after``
    (keyset paging: the next page starts from the last row's :attr:`ConversationSummary.position`,
    so no page re-reads the ones before it). Under a search each row has its
    :attr:`~ConversationSummary.snippet`, read by the same statement.
    """
    statement = listing(search, source=source, after=after)
    if limit is not None:
        statement = statement.limit(limit)
    return [
        ConversationSummary(
            row_id, title, model, updated, Decimal(total), row_source, _one_line(snippet)
        )
        for row_id, title, model, updated, total, row_source, snippet in session.execute(statement)
    ]


Listing = Select[int, str, str | None, datetime, Decimal, str, str | None]


def listing(
    search: str = "", *, source: str | None = CHAT_SOURCE, after: ListPosition | None = None
) -> Listing:
    """The statement :func:`list_conversations` runs.

    For one source the rows come in the order of ``ix_conversations_recent`` (no sort), and
    each cost is an indexed lookup, so a page costs its own rows only. So is a search's snippet:
    it is read for the rows returned only, each from its own conversation's messages.
    """
    cost = (
        select(func.coalesce(-func.sum(ConversationDay.value), 0))
        .where(ConversationDay.conversation_id == Conversation.id)
        .scalar_subquery()
    )
    statement = (
        select(
            Conversation.id,
            Conversation.title,
            Conversation.model,
            Conversation.updated_at,
            cost,
            Conversation.source,
            _snippet(search) if search.strip() else null(),
        )
        .where(Conversation.deleted_at.is_(None))
        .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
    )
    if source is not None:
        statement = statement.where(Conversation.source == source)
    if after is not None:
        updated_at, after_id = after
        position = tuple_(Conversation.updated_at, Conversation.id)
        bound = tuple_(literal(updated_at, Conversation.updated_at.type), literal(after_id))
        statement = statement.where(position < bound)
    if search.strip():
        # The messages that match are found in one pass over them (a list the rows are checked
        # against), not looked for conversation by conversation in the list's order: that
        # visits them at random, three times slower when few match (1.0 s against 0.35 s over
        # the 394,000 messages of the 1M-transaction demo ledger).
        pattern = _pattern(search)
        text_matches = select(Message.conversation_id).where(
            Message.deleted_at.is_(None), Message.content.ilike(pattern, escape="\\")
        )
        statement = statement.where(
            or_(Conversation.title.ilike(pattern, escape="\\"), Conversation.id.in_(text_matches))
        )
    return statement


def _snippet(search: str) -> ScalarSelect[str | None]:
    """The first matching message's text from a little before the match, "…" in front where it
    was cut: a correlated subquery, so only the rows a page returns look for it.

    ``instr`` over ``lower`` finds what ``ilike`` matched (both fold ASCII letters only).
    """
    found = func.instr(func.lower(Message.content), func.lower(literal(search.strip())))
    start = func.max(found - SNIPPET_LEAD, 1)
    text = func.substr(Message.content, start, SNIPPET_LENGTH)
    return (
        select(case((start > 1, literal("…") + text), else_=text))
        .where(
            Message.conversation_id == Conversation.id,
            _shown(),
            Message.content.ilike(_pattern(search), escape="\\"),
        )
        .order_by(Message.id)
        .limit(1)
        .scalar_subquery()
    )


def _one_line(snippet: str | None) -> str:
    """A snippet as a row shows it: one line, and from a word's start where it was cut."""
    if not snippet:
        return ""
    if snippet.startswith("…"):  # the match follows SNIPPET_LEAD characters of the text
        lead = snippet[1 : SNIPPET_LEAD + 1].split(maxsplit=1)
        if len(lead) == 2:
            snippet = "…" + lead[1] + snippet[SNIPPET_LEAD + 1 :]
    return " ".join(snippet.split())


def find_by_title(
    session: Session, text: str, *, limit: int = CHOICES_LIMIT
) -> list[ConversationChoice]:
    """Conversations of every source whose title contains ``text``, most recent first, at most
    ``limit`` of them (all conversations' most recent when ``text`` is blank): what a filter menu
    offers as the user types, at any size of ledger."""
    statement = (
        select(Conversation.id, Conversation.title, Conversation.source)
        .where(Conversation.deleted_at.is_(None))
        .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
        .limit(limit)
    )
    if text.strip():
        statement = statement.where(Conversation.title.ilike(_pattern(text), escape="\\"))
    return [ConversationChoice(*row) for row in session.execute(statement)]


def choice_of(session: Session, conversation_id: int) -> ConversationChoice | None:
    """How a filter names one conversation, deleted ones too (their spend stays on the ledger);
    ``None`` if there never was such a conversation."""
    row = session.execute(
        select(Conversation.id, Conversation.title, Conversation.source).where(
            Conversation.id == conversation_id
        )
    ).one_or_none()
    return None if row is None else ConversationChoice(*row)


def messages(
    session: Session,
    conversation_id: int,
    *,
    before: int | None = None,
    limit: int | None = None,
) -> list[MessageView]:
    """The branch shown of a conversation, oldest first, each reply with what it cost and each
    message with its siblings.

    A page is the newest ``limit`` messages older than message ``before`` (keyset on the id), so
    a long conversation opens on what it shows first and each older page costs its own rows.
    Every lookup goes through the conversation's indexes, whatever the size of the ledger.
    """
    statement = (
        select(Message)
        .where(Message.conversation_id == conversation_id, _shown(), Message.on_branch)
        .order_by(Message.id.desc())
    )
    if before is not None:
        statement = statement.where(Message.id < before)
    if limit is not None:
        statement = statement.limit(limit)
    found = list(reversed(session.scalars(statement).all()))
    replies = [m.id for m in found if m.role == "assistant"]
    usage = _usage_by_message(session, conversation_id, replies)
    siblings = _siblings(session, conversation_id, {m.parent_id for m in found})
    files = attachments_of(session, (m.id for m in found if m.role == "user"))
    return [
        MessageView(
            m.id,
            m.role,
            m.content,
            m.created_at,
            m.provider,
            m.model,
            usage.get(m.id),
            siblings.get(m.parent_id, ()),
            files.get(m.id, ()),
        )
        for m in found
    ]


def _siblings(
    session: Session, conversation_id: int, parents: set[int | None]
) -> dict[int | None, tuple[int, ...]]:
    """The children of each of ``parents`` (``None``: the first messages), where there are more
    than one."""
    known = [parent for parent in parents if parent is not None]
    which: ColumnElement[bool] = Message.parent_id.in_(known)  # their children, by the index
    if None in parents:
        first = Message.parent_id.is_(None) & (Message.conversation_id == conversation_id)
        which = or_(which, first)
    children: dict[int | None, list[int]] = {}
    for message_id, parent_id in session.execute(
        select(Message.id, Message.parent_id).where(which, _shown()).order_by(Message.id)
    ):
        children.setdefault(parent_id, []).append(message_id)
    return {parent: tuple(ids) for parent, ids in children.items() if len(ids) > 1}


def conversation_cost(session: Session, conversation_id: int) -> Decimal:
    """Everything the conversation has cost (titles and other attempts included: it was spent)."""
    total = session.scalar(
        select(func.coalesce(func.sum(Transaction.token_value), 0)).where(
            Transaction.conversation_id == conversation_id
        )
    )
    return -Decimal(total or 0)


def cost_breakdown(session: Session, conversation_id: int) -> CostBreakdown:
    """The conversation's cost: all of it, its branch shown, its title (one pass over its
    charges, through the conversation's index; the messages off the branch are few)."""
    value = Transaction.token_value
    off_branch = select(Message.id).where(  # a deleted message is off the branch too
        Message.conversation_id == conversation_id, Message.on_branch.is_(False)
    )
    total, title, elsewhere = session.execute(
        select(
            func.coalesce(func.sum(value), 0),
            func.coalesce(func.sum(case((Transaction.context == "title", value))), 0),
            func.coalesce(func.sum(case((Transaction.message_id.in_(off_branch), value))), 0),
        ).where(Transaction.conversation_id == conversation_id)
    ).one()
    return CostBreakdown(-Decimal(total), -Decimal(total - title - elsewhere), -Decimal(title))


def delete_conversation(session: Session, conversation_id: int) -> None:
    """Hide a conversation; its transactions stay on the ledger, with its title."""
    session.execute(
        update(Conversation).where(Conversation.id == conversation_id).values(deleted_at=utcnow())
    )


def restore_conversation(session: Session, conversation_id: int) -> None:
    """Undo :func:`delete_conversation`: the conversation is listed again where it was (deleting
    kept its time), with its messages; its spend never left the ledger."""
    session.execute(
        update(Conversation).where(Conversation.id == conversation_id).values(deleted_at=None)
    )


@dataclass(frozen=True)
class LastUse:
    """When a conversation was last used, and with what: what a send changes (it moves the
    conversation to the top of the list and makes its model the one it reopens on), and what a
    send that got no reply puts back (:func:`put_last_use`)."""

    updated_at: datetime
    provider: str | None
    model: str | None


def last_use(session: Session, conversation_id: int) -> LastUse | None:
    """The conversation's :class:`LastUse` (``None``: there is no such conversation)."""
    row = session.execute(
        select(Conversation.updated_at, Conversation.provider, Conversation.model).where(
            Conversation.id == conversation_id
        )
    ).one_or_none()
    return None if row is None else LastUse(*row)


def put_last_use(session: Session, conversation_id: int, used: LastUse) -> None:
    """Give a conversation back its place in the list and its last model."""
    session.execute(
        update(Conversation)
        .where(Conversation.id == conversation_id)
        .values(updated_at=used.updated_at, provider=used.provider, model=used.model)
    )


def configure_conversation(
    session: Session,
    conversation_id: int,
    *,
    system_prompt: str | None = None,
    drop_oldest: bool | None = None,
    provider: str | None = None,
    model: str | None = None,
    model_settings: ModelSettings | None = None,
) -> None:
    """Change a conversation's system prompt, trimming rule, last model or model settings
    (``None``: unchanged)."""
    values: dict[str, object] = {"updated_at": utcnow()}
    if model_settings is not None:
        values["model_settings"] = model_settings.to_json()
    if system_prompt is not None:
        values["system_prompt"] = system_prompt
    if drop_oldest is not None:
        values["drop_oldest"] = drop_oldest
    if provider is not None:
        values["provider"] = provider
    if model is not None:
        values["model"] = model
    session.execute(update(Conversation).where(Conversation.id == conversation_id).values(**values))


def system_prompt(session: Session, conversation_id: int) -> str:
    """The conversation's system prompt ("" when none)."""
    value = session.scalar(
        select(Conversation.system_prompt).where(Conversation.id == conversation_id)
    )
    return value or ""


def _usage_by_message(
    session: Session, conversation_id: int, message_ids: list[int]
) -> dict[int, MessageUsage]:
    """The figures of these replies of one conversation.

    Read through the conversation's index on ``transactions`` (a reply's rows carry its
    conversation), and its requests by their ids: no scan of the ledger, whose size it ignores.
    """
    if not message_ids:
        return {}
    charged = (Transaction.conversation_id == conversation_id) & Transaction.message_id.in_(
        message_ids
    )
    rows = session.execute(
        select(
            Transaction.message_id,
            Transaction.token_type,
            func.sum(Transaction.raw_amount),
            func.sum(Transaction.token_value),
            func.max(Transaction.estimated),
            func.max(Transaction.rate_source.like("%default for%")),
        )
        .where(charged)
        .group_by(Transaction.message_id, Transaction.token_type)
        .order_by(Transaction.message_id, func.min(Transaction.id))
    )
    parts: dict[int, list[tuple[str, Decimal, Decimal, bool, bool]]] = {}
    for message_id, token_type, amount, value, estimated, defaulted in rows:
        if message_id is not None:
            parts.setdefault(message_id, []).append(
                (token_type, Decimal(amount), Decimal(value), bool(estimated), bool(defaulted))
            )
    requests = select(Transaction.request_id).where(charged)
    details = {
        request.message_id: request
        for request in session.scalars(select(Request).where(Request.id.in_(requests)))
    }
    return {
        message_id: _message_usage(rows_of_message, details.get(message_id))
        for message_id, rows_of_message in parts.items()
    }


def _message_usage(
    rows: list[tuple[str, Decimal, Decimal, bool, bool]], request: Request | None
) -> MessageUsage:
    """One reply's figures from its transactions (grouped by token type) and its request."""

    def tokens(*kinds: Kind) -> int:
        return -int(sum((a for t, a, *_ in rows if kind_of(t) in kinds), Decimal(0)))

    return MessageUsage(
        input_tokens=tokens(Kind.INPUT, Kind.CACHE_WRITE, Kind.CACHE_READ),
        output_tokens=tokens(Kind.OUTPUT),
        cached_tokens=tokens(Kind.CACHE_READ),
        reasoning_tokens=request.reasoning_tokens if request else 0,
        cost=-sum((value for _, _, value, *_ in rows), Decimal(0)),
        estimated=any(estimated for *_, estimated, _ in rows),
        status=RequestStatus(request.status) if request else RequestStatus.COMPLETE,
        extras=extra_units((t, a, v) for t, a, v, *_ in rows),
        model=request.model if request else None,
        requested_model=request.requested_model if request else None,
        computed_cost=request.computed_cost if request else None,
        provider_cost=request.provider_cost if request else None,
        usage_notes=request.usage_notes if request else None,
        default_rated=any(defaulted for *_, defaulted in rows),
    )


def _pattern(search: str) -> str:
    """A LIKE pattern matching ``search`` anywhere, its own ``%``, ``_`` and ``\\`` literal."""
    escaped = search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
