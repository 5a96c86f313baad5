"""The one place that turns an exception into words for the user (Anki's ``aqt/errors.py``)."""

from __future__ import annotations

from app.core.errors import Remedy, SpendRefused, TallybookError

REMEDIES = {
    Remedy.ADD_CREDITS: "Add credits in Balance (Ctrl+B), or turn balance checking off there.",
    Remedy.BUDGETS: "Raise or remove the budget in Balance (Ctrl+B).",
}
"""What a refused request's user can do, in the window's words (the command line has its own)."""


def describe(error: BaseException) -> str:
    """A sentence for the user: the app's own errors as written (a refusal with what to do
    about it in the window), anything else as a bug."""
    if isinstance(error, SpendRefused):
        return f"{error} {REMEDIES[error.remedy]}"
    if isinstance(error, TallybookError):
        return str(error)
    name = type(error).__name__
    return f"Something went wrong ({name}). The ledger was not changed by it; please report this."
