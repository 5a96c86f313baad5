"""A tab whose view is built the first time it is shown, so the window paints before it exists.

The dashboard's six plots cost a quarter of a second to build and its figures a read of their
own; a window that opens on the chat need pay neither until the user looks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget

View = TypeVar("View", bound=QWidget)


class LazyPage(QWidget, Generic[View]):
    """Holds the place of ``build()``'s view; builds it when shown or first asked for."""

    def __init__(self, build: Callable[[], View], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._build = build
        self._view: View | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    @property
    def is_built(self) -> bool:
        return self._view is not None

    def view(self) -> View:
        """The view, built now if it was not yet."""
        if self._view is None:
            self._view = self._build()
            self._layout.addWidget(self._view)
        return self._view

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt API)
        self.view()
        super().showEvent(event)
