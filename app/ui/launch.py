"""Starting the Qt app: display check, the lock, the window's frame, then the ledger.

The frame is painted first (:mod:`app.ui.main_window` imports only Qt); the core's imports and
the ledger's checks then run off the GUI thread, and the workspace fills the window when they are
done. A second window on the same ledger is refused (:mod:`app.ui.single_instance`) before any
window shows. A damaged ledger is kept aside and a new one started
(:mod:`app.core.storage.rescue`), saying where the old file is; any other reason the ledger
cannot be opened is shown and the app exits with status 1.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.errors import TallybookError
from app.core.paths import database_path

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

    from app.core.storage.db import Database
    from app.core.storage.rescue import Opened
    from app.ui.context import AppContext
    from app.ui.main_window import MainWindow

logger = logging.getLogger(__name__)

DESKTOP_ID = "io.github.tallybook.Tallybook"
"""The ``.desktop`` file's name (``resources/linux``), which is also the AppStream id."""

BROUGHT_TO_FRONT = "Tallybook is already open with this ledger: its window is now in front."

NO_DISPLAY_HELP = """\
tallybook: no graphical display found (DISPLAY and WAYLAND_DISPLAY are not set).
  - On a desktop, start Tallybook from the desktop session (or its terminal).
  - Over SSH, connect with `ssh -X` so windows open on your machine.
  - On a server, use a virtual display: `sudo apt-get install xvfb`, then
    `xvfb-run -a python3 packaging/bootstrap.py run`.
The command-line tools need no display: `tallybook --help`."""


def has_display() -> bool:
    """Whether Qt can open a window here (always true off Linux, or with a platform forced)."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run_gui(*, data_dir: str | None = None, quit_after: float | None = None) -> int:
    """Open the main window and run until it closes; the exit status of the app.

    Args:
        quit_after: close the window after this many seconds, through the same path as the
            user closing it (a packaged build's smoke test).
    """
    if not has_display():
        print(NO_DISPLAY_HELP, file=sys.stderr)
        return 1
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox  # before pyqtgraph (picks a binding)

    from app import __version__
    from app.ui import single_instance
    from app.ui.main_window import MainWindow, app_icon, window_settings

    qt_app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(qt_app, QApplication)
    qt_app.setApplicationName("Tallybook")
    qt_app.setOrganizationName("Tallybook")
    qt_app.setApplicationVersion(__version__)
    qt_app.setDesktopFileName(DESKTOP_ID)  # Wayland matches the window to its menu entry
    qt_app.setStyle("Fusion")  # follows the system's light or dark colour scheme (Qt 6.5+)
    qt_app.setWindowIcon(app_icon())
    path = database_path(data_dir)
    try:
        lock = single_instance.acquire(path)  # held until the app exits
    except single_instance.AlreadyRunning as error:
        if single_instance.ask_to_raise(path):
            print(f"tallybook: {BROUGHT_TO_FRONT}", file=sys.stderr)
            return 0
        print(f"tallybook: error: {error}", file=sys.stderr)
        _tell(QMessageBox.Icon.Critical, str(error))
        return 1
    except TallybookError as error:
        print(f"tallybook: error: {error}", file=sys.stderr)
        _tell(QMessageBox.Icon.Critical, str(error))
        return 1
    window = MainWindow(settings=window_settings(path.parent))
    window.show()
    launch = Launch(qt_app, window, path)
    launch.open()
    if quit_after is not None:
        QTimer.singleShot(round(quit_after * 1000), window.close)
    try:
        exec_status = qt_app.exec()
    finally:
        launch.close()
        lock.unlock()
    return launch.status(exec_status)


class Launch:
    """From the painted frame to the exit: the ledger opened off the GUI thread, then the rest.

    Nothing here holds the window back: requests a crashed run left pending are charged on the
    database worker (the views refresh when the ledger announces the charges), and the price
    updater, if the user turned it on, is imported and started on a read thread.
    """

    def __init__(self, qt_app: QApplication, window: MainWindow, path: Path) -> None:
        from app.ui.workers import TaskRunner

        self._qt_app = qt_app
        self._window = window
        self._path = path
        self._db: Database | None = None
        self._context: AppContext | None = None
        self._updates = PriceUpdates()
        self._failure: BaseException | None = None
        self._opener = TaskRunner(window)

    def open(self) -> None:
        """Import the core and open the ledger on a worker thread; then fill the window."""
        path = self._path
        self._opener.run(lambda: _open_ledger(path), self._opened, self._failed)

    def status(self, exec_status: int) -> int:
        """The app's exit status; a failure that was not the user's to fix is raised here."""
        if self._failure is not None and not isinstance(self._failure, TallybookError):
            raise self._failure
        return 1 if self._failure is not None else exec_status

    def close(self) -> None:
        """Wait for the ledger to be open (the window may close first), then close it all."""
        from PySide6.QtCore import QCoreApplication

        self._opener.wait()
        QCoreApplication.sendPostedEvents()  # its answer, if the event loop ended before it
        if self._context is not None:
            self._context.close()  # waits for the read that may be starting the updater
        self._updates.stop()
        if self._db is not None:
            self._db.close()

    def _opened(self, opened: Opened) -> None:
        from PySide6.QtWidgets import QMessageBox

        from app.ui.context import AppContext

        self._db = db = opened.db
        notice = opened.notice()
        if notice:
            print(f"tallybook: {notice}", file=sys.stderr)
        if not self._window.isVisible():  # closed while the ledger opened
            return
        self._context = context = AppContext.create(db, self._qt_app)
        self._window.attach(context)
        from app.ui.single_instance import RaiseRequests

        RaiseRequests(self._path, self._window).requested.connect(self._window.bring_to_front)
        context.tasks.run(context.chats.recover_pending, on_error=_recovery_failed)
        updates = self._updates
        context.reads.run(lambda: updates.start_if_enabled(db))
        if notice:
            _tell(QMessageBox.Icon.Warning, notice, self._window)

    def _failed(self, error: BaseException) -> None:
        from PySide6.QtWidgets import QMessageBox

        self._failure = error
        if isinstance(error, TallybookError):
            print(f"tallybook: error: {error}", file=sys.stderr)
            if self._window.isVisible():
                _tell(QMessageBox.Icon.Critical, str(error), self._window)
        self._qt_app.exit(1)


def _open_ledger(path: Path) -> Opened:
    """On a worker thread: the core's imports (most of a cold start) and the ledger's checks."""
    importlib.import_module("app.ui.workspace")  # what attach() imports, loaded here meanwhile
    from app.core.storage import rescue

    return rescue.open_or_keep_aside(path)


class PriceUpdates:
    """The hourly price updater of genai-prices, when the user turned online prices on."""

    def __init__(self) -> None:
        self._updater: Any = None

    def start_if_enabled(self, db: Database) -> None:
        """Read the setting and start the updater (its import alone is a fifth of a second)."""
        from app.core.pricing import prices

        with db.read() as session:
            if prices.online_updates_enabled(session):
                self._updater = prices.start_online_updates()

    def stop(self) -> None:
        if self._updater is not None:
            self._updater.stop()


def _recovery_failed(error: BaseException) -> None:
    """The next start tries again (the requests stay pending, held, and charged once)."""
    logger.warning("charging requests a crashed run left pending failed: %s", error)


def _tell(icon: QMessageBox.Icon, text: str, parent: QWidget | None = None) -> None:
    """A message box; none where nobody could see it (offscreen)."""
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QMessageBox

    if QGuiApplication.platformName() in ("offscreen", "minimal"):
        return
    QMessageBox(icon, "Tallybook", text, parent=parent).exec()
