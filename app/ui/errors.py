"""The one place that turns an exception into words for the user (Anki's ``aqt/errors.py``)."""

from __future__ import annotations

from app.core.errors import TallybookError


def describe(error: BaseException) -> str:
    """A sentence for the user: the app's own errors as written, anything else as a bug."""
    if isinstance(error, TallybookError):
        return str(error)
    name = type(error).__name__
    return f"Something went wrong ({name}). The ledger was not changed by it; please report this."
