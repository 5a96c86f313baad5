"""The chat area of the main window (see :class:`ChatView`)."""

from __future__ import annotations

from app.ui.chat.view import ChatView

__all__ = ["ChatView"]
