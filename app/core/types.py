"""The core's small vocabulary: the states and names that are stored or compared, and the ids
that are passed around, each a type of its own.

The enums are ``StrEnum``s, so what the database, the CSV export and the JSON reports hold is
the same text as before; the ids are ``NewType``s, so a message id can no longer be passed where
a conversation id is expected (``Chats.retry(conversation_id, reply_id)``) without mypy noticing.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NewType

ConversationId = NewType("ConversationId", int)
MessageId = NewType("MessageId", int)
RequestId = NewType("RequestId", int)


class RequestStatus(StrEnum):
    """Where a metered request is: journaled, or settled one of three ways."""

    PENDING = "pending"
    """Journaled and holding its prompt's cost; being sent, or its process crashed."""
    COMPLETE = "complete"
    """The reply ended as the provider meant it to; charged as reported."""
    INCOMPLETE = "incomplete"
    """Cancelled, cut or malformed (or recovered after a crash): charged for what arrived."""
    FAILED = "failed"
    """No reply came: nothing charged."""


class WireApi(StrEnum):
    """A request format on the wire: what an adapter writes and a passthrough carries."""

    OPENAI_CHAT = "openai-chat"
    OPENAI_RESPONSES = "openai-responses"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"


class EndpointApi(StrEnum):
    """What kind of server an endpoint is, which decides the adapters it is spoken to with."""

    OPENAI = "openai"
    COMPATIBLE = "compatible"
    """Any server speaking OpenAI's Chat Completions (OpenRouter, Groq, llama.cpp...)."""
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"
    DEMO = "demo"
    """The offline demo, which speaks every protocol."""


class IntervalUnit(StrEnum):
    """Units of the balance's auto-refill interval (LibreChat's)."""

    SECONDS = "seconds"
    MINUTES = "minutes"
    HOURS = "hours"
    DAYS = "days"
    WEEKS = "weeks"
    MONTHS = "months"


class GroupBy(StrEnum):
    """How a spend report (``tallybook report --by``) groups its rows."""

    DAY = "day"
    WEEK = "week"
    """ISO weeks (Monday to Sunday) of UTC days."""
    MONTH = "month"
    MODEL = "model"
    CONVERSATION = "conversation"
    UNIT = "unit"
    """Per billed unit (``token_type``): tokens, searches, steps, tier adjustments."""
