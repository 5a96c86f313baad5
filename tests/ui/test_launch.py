"""Starting the app: one window per ledger, a damaged ledger kept aside, others refused.

The app runs as the user starts it (``main.py``, offscreen) in a subprocess; where it has to
open its window, a small wrapper closes the window as soon as the ledger has filled it, so the
app exits.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.core.ledger import entries
from app.core.paths import DATABASE_NAME
from app.core.storage.db import Database
from app.ui import single_instance
from app.ui.launch import BROUGHT_TO_FRONT
from app.ui.single_instance import ALREADY_RUNNING, AlreadyRunning

pytestmark = pytest.mark.gui

ROOT = Path(__file__).resolve().parents[2]
OPEN_AND_CLOSE = """
import sys
from PySide6.QtCore import QTimer
from app.ui import main_window

attach = main_window.MainWindow.attach

def attach_then_close(self, context):
    workspace = attach(self, context)
    QTimer.singleShot(0, self.close)
    return workspace

main_window.MainWindow.attach = attach_then_close
from app.cli import main
sys.exit(main(["gui"]))
"""


CLOSED_AT_ONCE = """
import sys
from PySide6.QtCore import QTimer
from app.ui import main_window

shown = main_window.MainWindow.show

def show_then_close(self):
    shown(self)
    QTimer.singleShot(0, self.close)

main_window.MainWindow.show = show_then_close
from app.cli import main
sys.exit(main(["gui"]))
"""


def run(args: list[str], home: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    user = tmp_path / "user-home"  # the window's own settings go here, not to the real HOME
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "TALLYBOOK_HOME": str(home),
            "QT_QPA_PLATFORM": "offscreen",
            "HOME": str(user),
            "XDG_CONFIG_HOME": str(user / ".config"),
            "XDG_DATA_HOME": str(user / ".local/share"),
        },
        timeout=120,
        check=False,
    )


def test_a_second_app_on_the_same_ledger_says_so_and_exits(tmp_path: Path) -> None:
    home = tmp_path / "data"
    held = single_instance.acquire(home / DATABASE_NAME)  # the running app
    try:
        second = run([str(ROOT / "main.py")], home, tmp_path)
    finally:
        held.unlock()
    assert second.returncode == 1
    assert (
        f"tallybook: error: {ALREADY_RUNNING} ({home / DATABASE_NAME}, process {os.getpid()})"
        in (second.stderr)
    )
    assert not (home / DATABASE_NAME).exists()  # it did not even open the ledger


def test_a_second_launch_brings_the_running_window_to_the_front(
    qtbot: QtBot, tmp_path: Path
) -> None:
    home = tmp_path / "data"
    held = single_instance.acquire(home / DATABASE_NAME)  # the running app...
    running = single_instance.RaiseRequests(home / DATABASE_NAME)  # ...listening, once it is up
    try:
        with qtbot.waitSignal(running.requested, timeout=10_000):
            second = run([str(ROOT / "main.py")], home, tmp_path)
    finally:
        held.unlock()
    assert second.returncode == 0, second.stderr
    assert f"tallybook: {BROUGHT_TO_FRONT}" in second.stderr
    assert not (home / DATABASE_NAME).exists()  # it did not open the ledger


def test_the_lock_is_per_ledger_and_given_up_on_exit(tmp_path: Path) -> None:
    first = single_instance.acquire(tmp_path / "one" / DATABASE_NAME)
    other = single_instance.acquire(tmp_path / "two" / DATABASE_NAME)  # another ledger: fine
    with pytest.raises(AlreadyRunning, match=ALREADY_RUNNING):
        single_instance.acquire(tmp_path / "one" / DATABASE_NAME)
    first.unlock()
    other.unlock()
    again = single_instance.acquire(tmp_path / "one" / DATABASE_NAME)
    again.unlock()
    assert list((tmp_path / "one").iterdir()) == []


def test_a_lock_left_by_a_crashed_app_is_taken_over(tmp_path: Path) -> None:
    ledger_file = tmp_path / "data" / DATABASE_NAME
    crashed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, signal\n"
            "from pathlib import Path\n"
            "from app.ui.single_instance import acquire\n"
            f"lock = acquire(Path({str(ledger_file)!r}))\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n",
        ],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert crashed.returncode == -signal.SIGKILL
    assert single_instance.lock_path(ledger_file).exists()  # left behind by the crash
    lock = single_instance.acquire(ledger_file)  # stale: its process is gone
    lock.unlock()


def test_the_command_line_works_beside_the_running_app(tmp_path: Path) -> None:
    home = tmp_path / "data"
    lock = single_instance.acquire(home / DATABASE_NAME)
    app_db = Database(home / DATABASE_NAME)  # the app's own connection, open meanwhile
    try:
        with app_db.write() as session:
            entries.add_credits(session, Decimal(100))
        added = run([str(ROOT / "main.py"), "add-balance", "5"], home, tmp_path)
        assert added.returncode == 0, added.stderr
        listed = run([str(ROOT / "main.py"), "list-balances", "--json"], home, tmp_path)
        assert json.loads(listed.stdout)["credits"] == "105"
        with app_db.read() as session:  # and the app sees it on its next read
            assert entries.current_balance(session) == entries.ledger_sum(session) == Decimal(105)
    finally:
        app_db.close()
        lock.unlock()


def test_the_frame_needs_nothing_of_the_core() -> None:
    """What paints the frame (the command line, the launcher, the window) imports no SQLAlchemy,
    HTTP client or tokenizer: those load on a worker thread while the frame is on screen."""
    imported = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys\n"
            "import app.cli, app.ui.launch, app.ui.main_window, app.ui.single_instance\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    top_level = set(json.loads(imported.stdout))
    assert "PySide6" in top_level
    assert not top_level & {"sqlalchemy", "httpx2", "tiktoken", "keyring", "genai_prices"}


def test_a_window_closed_before_its_ledger_opened_exits_cleanly(tmp_path: Path) -> None:
    home = tmp_path / "data"

    started = run(["-c", CLOSED_AT_ONCE], home, tmp_path)

    assert started.returncode == 0, started.stderr
    assert "Traceback" not in started.stderr
    assert not single_instance.lock_path(home / DATABASE_NAME).exists()
    again = run(["-c", OPEN_AND_CLOSE], home, tmp_path)  # and the next start opens it
    assert again.returncode == 0, again.stderr


def test_the_app_keeps_a_damaged_ledger_aside_and_starts_on_a_new_one(tmp_path: Path) -> None:
    home = tmp_path / "data"
    home.mkdir()
    damaged = b"\x00not a ledger any more" * 500
    (home / DATABASE_NAME).write_bytes(damaged)

    started = run(["-c", OPEN_AND_CLOSE], home, tmp_path)

    assert started.returncode == 0, started.stderr
    (kept,) = home.glob(f"{DATABASE_NAME}.corrupt-*")
    assert kept.read_bytes() == damaged
    assert f"tallybook: The ledger {home / DATABASE_NAME} was damaged." in started.stderr
    assert f"It was kept, unchanged, as {kept}" in started.stderr
    db = Database(home / DATABASE_NAME)  # the new ledger is a working one
    try:
        with db.read() as session:
            assert entries.current_balance(session) == 0
    finally:
        db.close()
    assert not single_instance.lock_path(home / DATABASE_NAME).exists()  # given up on exit


def test_the_app_refuses_a_ledger_from_a_newer_version_and_leaves_it(tmp_path: Path) -> None:
    home = tmp_path / "data"
    db = Database(home / DATABASE_NAME)
    with db.write() as session:
        entries.add_credits(session, Decimal(100))
        session.connection().exec_driver_sql(
            "UPDATE alembic_version SET version_num = '9999_from_the_future'"
        )
    db.close()
    before = (home / DATABASE_NAME).read_bytes()

    started = run([str(ROOT / "main.py")], home, tmp_path)

    assert started.returncode == 1
    assert "was written by a newer Tallybook" in started.stderr
    assert (home / DATABASE_NAME).read_bytes() == before
    assert list(home.glob("*corrupt*")) == []
