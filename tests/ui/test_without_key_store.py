"""With no usable OS key store, the app says so, keeps working, and writes no key anywhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

from app.core import keys, redaction
from app.core.metering.client import Metered
from app.core.storage.db import Database
from app.ui.context import AppContext
from app.ui.dialogs import KeysDialog
from app.ui.dialogs.widgets import Tone
from app.ui.main_window import MainWindow

pytestmark = pytest.mark.gui

SECRET = "sk-test-NOSTORE-0123456789abcdefghij"
ENV_SECRET = "sk-test-FROMENV-0123456789abcdefghij"
WAIT_MS = 20_000


@pytest.fixture
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME and the XDG folders inside the test, where a plain-text key file would land."""
    home = tmp_path / "user-home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for variable, folder in (
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_CACHE_HOME", ".cache"),
        ("XDG_STATE_HOME", ".local/state"),
    ):
        monkeypatch.setenv(variable, str(home / folder))
    for variables in redaction.ENVIRONMENT_FALLBACK.values():
        for variable in variables:
            monkeypatch.delenv(variable, raising=False)
    return home


@pytest.fixture
def window(qtbot: QtBot, db: Database, tmp_path: Path, user_home: Path) -> Iterator[MainWindow]:
    keyring.set_keyring(fail.Keyring())  # what keyring picks on a box without a key store
    context = AppContext.create(db)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    main = MainWindow(context, settings)
    qtbot.addWidget(main)
    main.show()
    yield main
    main.close()
    context.close()


def test_without_a_key_store_the_demo_chats_and_no_key_is_written_anywhere(
    qtbot: QtBot,
    window: MainWindow,
    db: Database,
    tmp_path: Path,
    user_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert keys.store_problem() is not None

    # The offline demo needs no key: a real reply, streamed and charged.
    window.workspace.chat.set_selection("demo", "gpt-4o-mini")
    window.workspace.chat.composer.editor.setPlainText("Hello without a key store")
    with qtbot.waitSignal(window.workspace.chat.reply_finished, timeout=WAIT_MS) as finished:
        window.workspace.chat.composer.send_button.click()
    metered = finished.args[0]
    assert isinstance(metered, Metered)
    assert metered.status == "complete" and "Hello without a key store" in metered.text
    assert metered.cost > 0

    # Environment variables still provide keys, and the keys dialog says where each comes from.
    monkeypatch.setenv("OPENAI_API_KEY", ENV_SECRET)
    dialog = KeysDialog(window.workspace.context, window)
    try:
        with qtbot.waitSignal(dialog.refreshed, timeout=WAIT_MS):
            dialog.show()
        assert dialog.banner.isVisible()
        assert "No OS key store is available" in dialog.banner.label.text()
        assert dialog.rows["openai"].state.text() == "From $OPENAI_API_KEY …ghij"
        assert dialog.rows["demo"].state.text() == "Needs no key"

        # Trying to save anyway (the button is disabled; the editor forced open) is refused.
        row = dialog.rows["anthropic"]
        assert not row.enter_button.isEnabled()
        row.editor.show()
        row.key_edit.setText(SECRET)
        with qtbot.waitSignal(dialog.refreshed, timeout=WAIT_MS):
            row.save_button.click()
        assert dialog.message.tone is Tone.ERROR
        assert "No OS key store" in dialog.message.text()
    finally:
        dialog.close()
    assert keys.get_key("anthropic") is None

    # No file anywhere under the test (ledger and its WAL, settings, data folder, HOME) has it.
    window.close()  # writes the window's settings
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "settings.ini" for p in files)  # the search does see written files
    holding = [p for p in files if SECRET.encode() in p.read_bytes()]
    assert holding == []
