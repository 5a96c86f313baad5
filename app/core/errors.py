"""One exception root for everything Tallybook raises on purpose.

Callers (the CLI, the UI's error presenter) catch :class:`TallybookError` and show ``str(error)``
to the user, so every message here is a complete sentence in the user's words and never contains
a key or other secret.
"""

from __future__ import annotations

from decimal import Decimal


class TallybookError(Exception):
    """Root of the errors a user can be shown as they are."""


class InvalidAmount(TallybookError, ValueError):
    """A typed amount, rate or setting that cannot be stored as given."""


class InvalidSetting(TallybookError, ValueError):
    """A setting value that is out of range or of the wrong kind."""


class InsufficientBalance(TallybookError):
    """The prompt alone costs more than the balance: nothing was sent.

    Attributes:
        needed: what the prompt would cost, in credits.
        available: the balance at the time of the check, in credits.
    """

    def __init__(self, needed: Decimal, available: Decimal) -> None:
        from app.core.money import format_usd  # local: money imports this module

        self.needed = needed
        self.available = available
        super().__init__(
            f"Not enough balance: this prompt costs {format_usd(needed, places=6)} "
            f"but the balance is {format_usd(available, places=6)}. "
            "Nothing was sent. Add credits (tallybook add-balance) or turn balance checking off."
        )


class DatabaseError(TallybookError):
    """The ledger file cannot be opened or written; the file itself is left untouched."""


class DatabaseLocked(DatabaseError):
    """Another program holds a write lock on the ledger file."""


class DatabaseCorrupt(DatabaseError):
    """The file is not a Tallybook database or is damaged."""


class DatabaseTooNew(DatabaseError):
    """The file was written by a newer Tallybook whose schema this version does not know."""


class UnknownModel(TallybookError, LookupError):
    """A model name that no price source, override or default can price."""
