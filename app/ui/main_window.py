"""The main window's frame: painted a moment after launch, before the ledger is even open.

Opening the ledger means importing the core (SQLAlchemy alone is half a second) and checking
the file, so the frame (title, icon, the size the user left it at, the menu bar and a status
line saying what is happening) comes first and imports nothing but Qt; the launcher then
:meth:`~MainWindow.attach`\\ es the :class:`~app.ui.workspace.Workspace` that fills it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QIcon, QPaintEvent
from PySide6.QtWidgets import QMainWindow, QMenu, QWidget

from app.core.paths import resource_path

if TYPE_CHECKING:
    from app.ui.context import AppContext
    from app.ui.workspace import Workspace

OPENING = "Opening the ledger…"

UNPAINTED_MS = 1_000
"""How long what waits for the window's paint waits for a window that is not painted (one
started minimized): the ledger must open, and the local endpoint start, all the same."""


def app_icon() -> QIcon:
    """The Tallybook icon, from ``resources/icons``."""
    return QIcon(str(resource_path("icons/tallybook.svg")))


@dataclass(frozen=True)
class Menus:
    """The menu bar's menus, there from the first paint; the workspace fills them."""

    file: QMenu
    view: QMenu
    edit: QMenu
    chat: QMenu
    tools: QMenu
    help: QMenu


class MainWindow(QMainWindow):
    """The Tallybook window: the frame, and the workspace once the ledger is open.

    ``MainWindow(context)`` attaches the workspace at once (tests, screenshots); the launcher
    shows ``MainWindow()`` first and attaches when the ledger has opened.

    Signals:
        painted(): after each paint (:meth:`when_painted` waits for the next one).
    """

    painted = Signal()

    def __init__(
        self, context: AppContext | None = None, settings: QSettings | None = None
    ) -> None:
        super().__init__()
        self._settings = settings or QSettings()
        self._workspace: Workspace | None = None
        self.setWindowTitle("Tallybook")
        self.setWindowIcon(app_icon())
        self.resize(1180, 760)
        geometry = self._settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        bar = self.menuBar()
        self.menus = Menus(
            *(bar.addMenu(name) for name in ("&File", "&View", "&Edit", "&Chat", "&Tools", "&Help"))
        )
        self.setCentralWidget(QWidget())
        self.statusBar().showMessage(OPENING)
        if context is not None:
            self.attach(context)

    @property
    def workspace(self) -> Workspace:
        """What the window holds (conversations, chat, tabs, balance); there once attached."""
        if self._workspace is None:
            raise RuntimeError("the ledger is not open yet: attach() the workspace first")
        return self._workspace

    def attach(self, context: AppContext) -> Workspace:
        """Fill the frame with the workspace of an open ledger."""
        from app.ui.workspace import Workspace  # the core's import: after the frame's paint

        self._workspace = Workspace(self, context, self._settings)
        self.setCentralWidget(self._workspace)
        self.statusBar().clearMessage()
        return self._workspace

    def when_painted(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the window's next frame is on screen.

        The workspace's loads wait for it: each answer is handled on the GUI thread, and a
        dozen of them arriving while the workspace is laid out held its first paint back.
        """
        called = False

        def once() -> None:
            nonlocal called
            if not called:
                called = True
                callback()

        self.painted.connect(
            lambda: QTimer.singleShot(0, once), Qt.ConnectionType.SingleShotConnection
        )
        QTimer.singleShot(UNPAINTED_MS, once)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        super().paintEvent(event)
        self.painted.emit()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        if self._workspace is not None:
            self._workspace.shut_down()
        self._settings.setValue("window/geometry", self.saveGeometry())
        self._settings.sync()
        super().closeEvent(event)
