"""One exception root for everything Tallybook raises on purpose.

Callers (the CLI, the UI's error presenter) catch :class:`TallybookError` and show ``str(error)``
to the user, so every message here is a complete sentence in the user's words and never contains
a key or other secret.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from app.core.redaction import redact


class TallybookError(Exception):
    """Root of the errors a user can be shown as they are."""


class InvalidAmount(TallybookError, ValueError):
    """A typed amount, rate or setting that cannot be stored as given."""


class InvalidSetting(TallybookError, ValueError):
    """A setting value that is out of range or of the wrong kind."""


class Remedy(StrEnum):
    """What the user can do about a refused request; each face (the command line, the window)
    words it in its own terms: a command to run, a button to press."""

    ADD_CREDITS = "add-credits"
    BUDGETS = "budgets"


class SpendRefused(TallybookError):
    """The user's own spending rules refused a request before anything was sent.

    Its message says what happened and that nothing was sent, not what to do: ``remedy`` says
    that, for the caller to word.
    """

    remedy: Remedy


class InsufficientBalance(SpendRefused):
    """The prompt alone costs more than the balance: nothing was sent.

    Attributes:
        needed: what the prompt would cost, in credits.
        available: the balance at the time of the check, in credits.
        held: credits set aside by requests still in flight.
    """

    remedy = Remedy.ADD_CREDITS

    def __init__(
        self, message: str, *, needed: Decimal, available: Decimal, held: Decimal = Decimal(0)
    ) -> None:
        self.needed = needed
        self.available = available
        self.held = held
        super().__init__(message)


class BudgetReached(SpendRefused):
    """A budget that blocks at 100% is spent: nothing was sent until it is raised, removed or
    its period ends.

    Attributes:
        budget_id: the budget that refused.
        period_key: the period it refused in (``2026-12`` or ``2026-12-02``).
    """

    remedy = Remedy.BUDGETS

    def __init__(self, message: str, *, budget_id: int, period_key: str) -> None:
        self.budget_id = budget_id
        self.period_key = period_key
        super().__init__(message)


class DatabaseError(TallybookError):
    """The ledger file cannot be opened or written; the file itself is left untouched."""


class DatabaseLocked(DatabaseError):
    """Another program holds a write lock on the ledger file."""


class DatabaseCorrupt(DatabaseError):
    """The file is not a Tallybook database or is damaged."""


class DatabaseTooNew(DatabaseError):
    """The file was written by a newer Tallybook whose schema this version does not know."""


class NotFound(TallybookError, LookupError):
    """What was asked for does not exist (or no longer does): gone, not broken. A caller
    that expects a thing may vanish meanwhile (deleted in another window) catches this alone."""


class ConversationNotFound(NotFound):
    """No such conversation, or it was deleted."""


class UnknownEndpoint(NotFound):
    """No built-in provider or custom endpoint has this id."""


class AlreadySettled(TallybookError):
    """The request is no longer pending: it was charged (or abandoned) already, and is never
    charged twice."""


class UnknownModel(TallybookError, LookupError):
    """A model name that no price source, override or default can price."""


class ContextWindowExceeded(TallybookError):
    """The prompt (plus the room kept for the reply) does not fit the model's context window.

    Attributes:
        prompt_tokens: the prompt's count.
        reserved_tokens: tokens kept free for the reply.
        window: the model's context window.
    """

    def __init__(self, model: str, prompt_tokens: int, reserved_tokens: int, window: int) -> None:
        self.prompt_tokens = prompt_tokens
        self.reserved_tokens = reserved_tokens
        self.window = window
        reserve = f" + {reserved_tokens:,} kept for the reply" if reserved_tokens else ""
        super().__init__(
            f"Too long for {model}: the prompt is {prompt_tokens:,} tokens{reserve}, but the "
            f"context window is {window:,}. Nothing was sent. Shorten the message, start a new "
            "conversation, or let this conversation drop its oldest messages."
        )


class ProviderError(TallybookError):
    """A provider answered with an error, or could not be reached; the message is redacted.

    Its message usually quotes the provider, and provider text is untrusted: it may echo the
    caller's key. Every message is redacted here, once, whoever built it (a status error, an
    error event in a stream, an unreadable event), before anyone can show, log or forward it.

    Attributes:
        status: the HTTP status, or ``None`` when no answer came.
        retryable: sending the same request again may work (before any reply text arrived).
    """

    retryable = False

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(redact(message))


class AuthenticationFailed(ProviderError):
    """The provider refused the key (401 or 403)."""


class ModelNotFound(ProviderError):
    """The provider does not serve the model (404)."""


class RateLimited(ProviderError):
    """Too many requests (429); ``retry_after`` is the provider's own wait, in seconds."""

    retryable = True

    def __init__(
        self, message: str, status: int | None = 429, retry_after: float | None = None
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, status)


class ProviderOverloaded(ProviderError):
    """The provider failed or is overloaded (5xx, Anthropic's 529)."""

    retryable = True


class ProviderUnreachable(ProviderError):
    """No answer: the host could not be reached, or it did not answer in time."""

    retryable = True


class MissingKey(TallybookError):
    """The endpoint needs an API key and none is set."""
