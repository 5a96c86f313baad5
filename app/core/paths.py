"""Where the ledger file and the shipped resources live.

Order of precedence: an explicit folder (the ``--data-dir`` option), then ``TALLYBOOK_HOME``,
then the platform's user data folder (``~/.local/share/Tallybook`` on Linux,
``~/Library/Application Support/Tallybook`` on macOS, ``%LOCALAPPDATA%\\Tallybook`` on Windows).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "Tallybook"
HOME_ENV = "TALLYBOOK_HOME"
DATABASE_NAME = "tallybook.sqlite3"


def _resources_dir() -> Path:
    """``resources/`` beside ``app/`` in a source tree; inside ``app/`` when installed from a
    wheel (pyproject maps it to ``app.resources``); inside the bundle when frozen.

    A PyInstaller build (``sys.frozen``) unpacks its data files under ``sys._MEIPASS``: the
    ``_internal`` folder of a one-folder build, ``Contents/Frameworks`` of a macOS app bundle
    (where ``resources`` is a link into ``Contents/Resources``).
    """
    bundle = getattr(sys, "_MEIPASS", None)
    if getattr(sys, "frozen", False) and bundle:
        return Path(bundle) / "resources"
    package = Path(__file__).resolve().parents[1]
    installed = package / "resources"
    return installed if installed.is_dir() else package.parent / "resources"


RESOURCES_DIR = _resources_dir()


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The folder that holds the ledger file (not created here)."""
    if explicit:
        return Path(explicit).expanduser()
    if env := os.environ.get(HOME_ENV):
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def database_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The ledger file inside :func:`data_dir`."""
    return data_dir(explicit) / DATABASE_NAME


def resource_path(name: str) -> Path:
    """A file shipped in ``resources/`` (beside ``app/`` in the source tree and in a build)."""
    return RESOURCES_DIR / name
