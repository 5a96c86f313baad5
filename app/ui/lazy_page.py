"""A tab whose view is built the first time it is shown, so the window paints before it exists.

The dashboard's six plots cost a quarter of a second to build and its figures a read of their
own; a window that opens on the chat need pay neither until the user looks. When the user does
look, the tab answers the click at once with a line saying what is coming, and the view is
built just after that line is on screen: a click never waits on a build with nothing to show.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QPaintEvent, QPalette
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

View = TypeVar("View", bound=QWidget)


class LazyPage(QWidget, Generic[View]):
    """Holds the place of ``build()``'s view; builds it once shown and painted, or when asked."""

    def __init__(
        self, build: Callable[[], View], placeholder: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._build = build
        self._view: View | None = None
        self._scheduled = False
        self._placeholder = QLabel(placeholder)
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._placeholder.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.addWidget(self._placeholder)

    @property
    def is_built(self) -> bool:
        return self._view is not None

    def view(self) -> View:
        """The view, built now if it was not yet."""
        if self._view is None:
            self._view = self._build()
            self._placeholder.hide()
            self._layout.addWidget(self._view)
        return self._view

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        """Once the placeholder is on screen, build the view (next turn of the event loop)."""
        super().paintEvent(event)
        if self._view is None and not self._scheduled:
            self._scheduled = True
            QTimer.singleShot(0, self, self.view)
