"""Typed tables of the ledger file.

Every amount column (tokens, rates, credits) is an integer count of millionths in SQLite and an
exact :class:`~decimal.Decimal` in Python (:class:`Millionths`, see :mod:`app.core.money`). Times
are naive UTC. ORM instances never leave the core: callers get frozen dataclasses.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Dialect,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from app.core.money import from_micros, to_micros


class Millionths(TypeDecorator[Decimal]):
    """An exact Decimal with up to six decimals, stored as a 64-bit integer of millionths.

    SQLite has no decimal type (SQLAlchemy's ``Numeric`` goes through float there), and integer
    sums never drift, so ``SUM(token_value)`` over any number of rows is exact.
    """

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | int | None, dialect: Dialect) -> int | None:
        return None if value is None else to_micros(Decimal(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else from_micros(int(value))


class Base(DeclarativeBase):
    """Declarative root; the migrations in ``app/core/migrations`` create exactly these tables."""


class Conversation(Base):
    """A chat thread, or the cost grouping of one tool's requests through the local endpoint.

    Deleting one only hides it: its spend stays on the ledger.
    """

    __tablename__ = "conversations"
    __table_args__ = (  # the conversation list, a source's most recent first
        Index("ix_conversations_recent", "source", "updated_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(Text, default="New conversation")
    provider: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(200))
    system_prompt: Mapped[str] = mapped_column(Text, default="")
    drop_oldest: Mapped[bool] = mapped_column(default=False, server_default=false())
    """When a prompt outgrows the context window, drop the oldest messages instead of refusing."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]
    source: Mapped[str] = mapped_column(Text, default="chat", server_default="chat")
    """``chat`` (:data:`app.core.conversations.CHAT_SOURCE`) for the chat window's own, else the
    name of the tool that called the local endpoint; a tool's conversation holds no messages."""
    model_settings: Mapped[str] = mapped_column(Text, default="", server_default="")
    """JSON of the settings chosen for this conversation (temperature, max output, reasoning
    effort, thinking budget); empty for the provider's defaults."""


class Message(Base):
    """One turn of a conversation; edits and regenerations add rows, never rewrite spent ones.

    A conversation's messages form a tree: each follows (answers) its ``parent``, and a retried
    reply or an edited message is a sibling of the one it replaces. The branch the conversation
    shows is the chain of rows ``on_branch``, root to leaf in the order of their ids (a child is
    always newer than its parent), so the shown branch pages by id like a plain list.
    """

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_parent", "parent_id", "conversation_id"),
        Index("ix_messages_branch", "conversation_id", "on_branch"),  # the branch, by id
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    """The message this one follows; ``None`` for a conversation's first (or an edit of it)."""
    on_branch: Mapped[bool] = mapped_column(default=True, server_default=true())
    """Whether it is on the branch the conversation shows (and sends as context)."""
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    provider: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class Attachment(Base):
    """A file the user added to a message (an image or a PDF), kept with it as written."""

    __tablename__ = "attachments"
    __table_args__ = (Index("ix_attachments_message", "message_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"))
    position: Mapped[int] = mapped_column(default=0, server_default="0")
    """Its place among the message's attachments, in the order they were added."""
    name: Mapped[str] = mapped_column(Text)
    media_type: Mapped[str] = mapped_column(String(100))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Request(Base):
    """One metered call to a provider: the estimate made before and the usage reported after."""

    __tablename__ = "requests"
    __table_args__ = (Index("ix_requests_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime]
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    provider: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(200))
    context: Mapped[str] = mapped_column(String(32))
    estimated_prompt_tokens: Mapped[int | None]
    estimate_method: Mapped[str | None] = mapped_column(String(64))
    """How the pre-send count was made: ``tiktoken o200k_base``, ``estimate: ...``, a provider's."""
    reported_prompt_tokens: Mapped[int | None]
    reasoning_tokens: Mapped[int] = mapped_column(default=0)
    usage_estimated: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default="complete", server_default="complete")
    """``pending`` while in flight (journaled before sending), then ``complete``, ``incomplete``
    (cancelled or cut: charged from what arrived) or ``failed`` (refused before any reply)."""
    hold: Mapped[Decimal] = mapped_column(Millionths, default=Decimal(0), server_default="0")
    """The prompt cost set aside while pending, so concurrent requests cannot spend it twice."""
    owner: Mapped[str | None] = mapped_column(String(64))
    """The metering client that journaled it; while its lock file is held, it is still alive."""
    partial_text: Mapped[str | None] = mapped_column(Text)
    """The reply received so far, saved while it streams, so a crash can be charged for it."""
    requested_model: Mapped[str | None] = mapped_column(String(200))
    """The model the request asked for; ``model`` is the one that served it (and is priced)."""
    service_tier: Mapped[str | None] = mapped_column(String(32))
    """The tier the provider says it served the request on (``flex``, ``priority``...)."""
    raw_usage: Mapped[str | None] = mapped_column(Text)
    """The provider's usage object as it came (JSON, keys redacted): nothing is dropped."""
    usage_notes: Mapped[str | None] = mapped_column(Text)
    """What the usage carried that Tallybook did not understand; NULL when it read all of it."""
    computed_cost: Mapped[Decimal | None] = mapped_column(Millionths)
    """Tallybook's own price of the request, in credits (positive)."""
    provider_cost: Mapped[Decimal | None] = mapped_column(Millionths)
    """The provider's own figure for the request, in credits, where it gave one: the charge."""


class Transaction(Base):
    """One token type of one request, or one top-up: LibreChat's Transactions.

    ``raw_amount`` is the unit's count (tokens, searches; negative when spent) or credits for a
    top-up, ``rate`` is credits per unit (per token: USD per million tokens) and
    ``token_value = raw_amount * rate`` in credits, exactly: a whole count times a six-decimal
    rate always has six decimals or fewer.
    """

    __tablename__ = "transactions"
    __table_args__ = (
        Index("ix_transactions_created", "created_at", "id"),
        Index("ix_transactions_conversation", "conversation_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime]
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id"), index=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    provider: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(200))
    token_type: Mapped[str] = mapped_column(String(40))
    """The billed unit (see :mod:`app.core.pricing.units`): ``prompt``, ``cache_write_1h``,
    ``web_searches``, ``flex:completion``..."""
    raw_amount: Mapped[Decimal] = mapped_column(Millionths)
    rate: Mapped[Decimal] = mapped_column(Millionths)
    token_value: Mapped[Decimal] = mapped_column(Millionths)
    context: Mapped[str] = mapped_column(String(32))
    estimated: Mapped[bool] = mapped_column(default=False)
    rate_source: Mapped[str] = mapped_column(String(64))


class BalanceAccount(Base):
    """The single balance row: the running total and LibreChat's balance settings.

    ``credits`` is kept equal to the sum of all ``transactions.token_value`` inside the same
    database transaction as every insert, so a balance check reads one row, not the ledger.
    """

    __tablename__ = "balance"

    id: Mapped[int] = mapped_column(primary_key=True)
    credits: Mapped[Decimal] = mapped_column(Millionths, default=Decimal(0))
    enabled: Mapped[bool] = mapped_column(default=False)
    start_balance: Mapped[Decimal] = mapped_column(Millionths, default=Decimal(0))
    start_balance_granted: Mapped[bool] = mapped_column(default=False)
    auto_refill_enabled: Mapped[bool] = mapped_column(default=False)
    refill_amount: Mapped[Decimal] = mapped_column(Millionths, default=Decimal(0))
    refill_interval_value: Mapped[int] = mapped_column(default=1)
    refill_interval_unit: Mapped[str] = mapped_column(String(16), default="days")
    last_refill_at: Mapped[datetime | None]


class PriceOverride(Base):
    """The user's own rates for one model; a NULL rate falls through to the price table."""

    __tablename__ = "price_overrides"

    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    prompt_rate: Mapped[Decimal | None] = mapped_column(Millionths)
    completion_rate: Mapped[Decimal | None] = mapped_column(Millionths)
    cache_write_rate: Mapped[Decimal | None] = mapped_column(Millionths)
    cache_read_rate: Mapped[Decimal | None] = mapped_column(Millionths)
    updated_at: Mapped[datetime]


class DailyTotal(Base):
    """The ledger summed per UTC day, provider, model and token type, kept exact as rows are
    written (in the same transaction), so charts and reports read thousands of rows, not millions.

    ``tokens`` is the count, positive: units spent (``-SUM(raw_amount)``), or for ``credits`` the
    credits added; ``value`` is ``SUM(token_value)``, in the ledger's sign (negative for spend), so
    the balance is its sum. ``uncached`` is what the spend would have cost at the model's plain
    input rate (equal to ``value`` except for cache reads and writes), from which cache savings
    follow. Read through :mod:`app.core.ledger.spend`.
    """

    __tablename__ = "daily_totals"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    provider: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    token_type: Mapped[str] = mapped_column(String(40), primary_key=True)
    tokens: Mapped[Decimal] = mapped_column(Millionths)
    value: Mapped[Decimal] = mapped_column(Millionths)
    uncached: Mapped[Decimal] = mapped_column(Millionths)
    transactions: Mapped[int]


class _SpendByTokenType:
    """The columns of a per-day spend row after its key: positive counts of each token type, and
    money as in DailyTotal."""

    prompt_tokens: Mapped[int] = mapped_column(BigInteger)
    completion_tokens: Mapped[int] = mapped_column(BigInteger)
    cache_write_tokens: Mapped[int] = mapped_column(BigInteger)
    cache_read_tokens: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[Decimal] = mapped_column(Millionths)
    uncached: Mapped[Decimal] = mapped_column(Millionths)


class ConversationDay(_SpendByTokenType, Base):
    """A conversation's spend per UTC day and model: its running total is the sum of its rows."""

    __tablename__ = "conversation_days"
    __table_args__ = (
        Index("ix_conversation_days_conversation", "conversation_id", "value"),  # its cost
    )

    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), primary_key=True)
    provider: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)


class SourceDay(_SpendByTokenType, Base):
    """The spend of one source (the chat window, or a tool on the local endpoint) per UTC day,
    provider and model: what the dashboard reads when filtered by source, so the filter does not
    have to walk every conversation's days.
    """

    __tablename__ = "source_days"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    source: Mapped[str] = mapped_column(Text, primary_key=True)
    provider: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)


class Budget(Base):
    """A spending limit for a day or a month, overall or for one provider or model."""

    __tablename__ = "budgets"

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(8))
    """``day`` or ``month`` (UTC calendar periods, like the reports)."""
    scope: Mapped[str] = mapped_column(String(16))
    """``all``, ``provider`` or ``model``."""
    target: Mapped[str | None] = mapped_column(String(200))
    limit: Mapped[Decimal] = mapped_column(Millionths)
    block: Mapped[bool] = mapped_column(default=False, server_default=false())
    """Refuse requests once this budget is reached (not only warn)."""


class AlertLog(Base):
    """Alerts already raised, so each crossing is announced once (per period, per threshold)."""

    __tablename__ = "alert_log"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    raised_at: Mapped[datetime]


class Setting(Base):
    """Small named preferences stored as JSON text (default rates, opt-ins)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
