"""The main window's frame: painted a moment after launch, before the ledger is even open.

Opening the ledger means importing the core (SQLAlchemy alone is half a second) and checking
the file, so the frame (title, icon, the size the user left it at, the menu bar and a status
line saying what is happening) comes first and imports nothing but Qt; the launcher then
:meth:`~MainWindow.attach`\\ es the :class:`~app.ui.workspace.Workspace` that fills it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QRect, QSettings, Qt, QTimer, Signal
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


SETTINGS_FILE = "window.ini"
"""The window's settings (size, layout, last model, "ask above"), in the data folder."""


def window_settings(folder: Path) -> QSettings:
    """The window's settings, kept beside the ledger so a data folder (``TALLYBOOK_HOME``,
    ``--data-dir``, a portable folder) carries them; the first time, those an earlier version
    kept in the user's config folder are copied over."""
    path = folder / SETTINGS_FILE
    settings = QSettings(str(path), QSettings.Format.IniFormat)
    if not path.exists():
        earlier = QSettings()  # the organisation and application names the app set
        for key in earlier.allKeys():
            settings.setValue(key, earlier.value(key))
    return settings


def fitted(window: QRect, screen: QRect) -> QRect:
    """A saved window rectangle made to fit a screen's free area (one saved on a bigger screen,
    or at another scale factor, would hide its title and status bars off screen)."""
    width, height = min(window.width(), screen.width()), min(window.height(), screen.height())
    left = min(max(window.left(), screen.left()), screen.right() + 1 - width)
    top = min(max(window.top(), screen.top()), screen.bottom() + 1 - height)
    return QRect(left, top, width, height)


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
            self._fit_to_screen()
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

    def _fit_to_screen(self) -> None:
        screen = self.screen().availableGeometry()
        # The frame's decorations are not known before it is shown; leave room for a title bar.
        title_bar = self.frameGeometry().height() - self.height() or 32
        room = screen.adjusted(0, title_bar, 0, 0)
        if not room.contains(self.geometry()):
            self.setGeometry(fitted(self.geometry(), room))

    def bring_to_front(self) -> None:
        """Show the window over the others (a second launch on this ledger asked for it)."""
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()

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
