"""The keys dialog as a new user meets it (review-ux finding 18): Test offered only with
something to test, failures in sentences, results that leave the rows where they were, and a
base URL typed without its scheme accepted."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import keyring
import pytest
import shiboken6
from keyring.backends import fail
from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from app.core import redaction
from app.core.providers import registry
from app.core.storage.db import Database
from app.servers.emulator import Emulator
from app.ui.context import AppContext
from app.ui.dialogs import KeysDialog
from app.ui.dialogs.widgets import Tone

pytestmark = pytest.mark.gui

WAIT_MS = 10_000


@pytest.fixture(autouse=True)
def no_keys_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variables in redaction.ENVIRONMENT_FALLBACK.values():
        for variable in variables:
            monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def open_keys(qtbot: QtBot, context: AppContext) -> Iterator[Callable[[], KeysDialog]]:
    """Open the dialog (once the test has set the scene) and wait for its first read."""
    opened: list[KeysDialog] = []

    def show() -> KeysDialog:
        dialog = KeysDialog(context)
        dialog.resize(880, 900)
        opened.append(dialog)
        with qtbot.waitSignal(dialog.refreshed, timeout=WAIT_MS):
            dialog.show()
        return dialog

    yield show
    for dialog in opened:
        if shiboken6.isValid(dialog):  # it deletes itself on close
            dialog.close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _add(db: Database, name: str, url: str, *, needs_key: bool = True) -> str:
    with db.write() as session:
        return registry.add_endpoint(session, name, url, needs_key=needs_key).id


def test_without_a_key_store_test_is_offered_only_where_there_is_a_key(
    open_keys: Callable[[], KeysDialog], monkeypatch: pytest.MonkeyPatch
) -> None:
    keyring.set_keyring(fail.Keyring())
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-ant-fromenv-0123456789abcdef")
    dialog = open_keys()
    openai = dialog.rows["openai"]
    assert not openai.enter_button.isEnabled()
    assert not openai.test_button.isEnabled()
    assert openai.test_button.toolTip() == (
        "No key to test: set OPENAI_API_KEY and restart Tallybook."
    )
    assert "GEMINI_API_KEY or GOOGLE_API_KEY" in dialog.rows["gemini"].test_button.toolTip()
    assert dialog.rows["anthropic"].test_button.isEnabled()  # its key is in the environment
    for keyless in ("demo", "ollama", "lmstudio"):  # nothing to enter; is it answering?
        assert dialog.rows[keyless].test_button.isEnabled()
        assert not dialog.rows[keyless].enter_button.isVisibleTo(dialog)


def test_a_server_that_does_not_answer_is_a_sentence(
    qtbot: QtBot, open_keys: Callable[[], KeysDialog], db: Database
) -> None:
    port = _closed_port()
    endpoint_id = _add(db, "Local llama", f"http://127.0.0.1:{port}/v1", needs_key=False)
    dialog = open_keys()
    row = dialog.rows[endpoint_id]
    with qtbot.waitSignal(dialog.key_tested, timeout=WAIT_MS):
        row.test_button.click()
    assert row.result.tone is Tone.ERROR
    assert row.result.text() == (
        f"Cannot reach Local llama: nothing is listening at 127.0.0.1:{port} (is it running?)."
    )
    assert "Error" not in row.result.text()
    assert row.test_button.isEnabled()  # try again once it runs


def _row_tops(dialog: KeysDialog) -> dict[str, int]:
    return {
        endpoint_id: row.test_button.mapTo(dialog, QPoint(0, 0)).y()
        for endpoint_id, row in dialog.rows.items()
    }


def test_test_results_leave_every_row_where_it_was(
    qtbot: QtBot, open_keys: Callable[[], KeysDialog], db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _closed_port()
    long_name = "A gateway with a rather long name that makes its sentences long too"
    gone = _add(db, long_name, f"http://127.0.0.1:{port}/v1", needs_key=False)
    with Emulator() as emulator:
        monkeypatch.setattr(registry, "_demo", lambda: emulator.url)
        dialog = open_keys()
        before = _row_tops(dialog)
        for endpoint_id in ("demo", gone, "ollama"):
            row = dialog.rows[endpoint_id]
            with qtbot.waitSignal(dialog.key_tested, timeout=WAIT_MS):
                row.test_button.click()
            qtbot.wait(50)  # let the layout settle, as before the user's next click
            assert _row_tops(dialog) == before, endpoint_id
            assert row.result.isVisible()
    assert dialog.rows["demo"].result.text().startswith("Offline demo answers: ")
    # A sentence longer than its line is cut short on screen, whole in its tooltip.
    result = dialog.rows[gone].result
    whole = result.text()
    assert whole.startswith(f"Cannot reach {long_name}: nothing is listening")
    label = next(label for label in result.findChildren(QLabel) if label.text())
    assert label.text().endswith("…") and label.text() != whole
    assert label.toolTip() == whole


def test_a_base_url_without_a_scheme_gets_https(
    qtbot: QtBot, open_keys: Callable[[], KeysDialog], db: Database
) -> None:
    dialog = open_keys()
    dialog.add_button.click()
    dialog.endpoint_name.setText("Work gateway")
    dialog.endpoint_url.setText("api.example.com/v1")
    dialog.add_save_button.click()
    qtbot.waitUntil(lambda: "custom-work-gateway" in dialog.rows, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: dialog.message.tone is Tone.SUCCESS, timeout=WAIT_MS)
    assert dialog.message.text() == (
        "Added Work gateway. No scheme was given: it uses https://api.example.com/v1."
        " Enter its key in its row."
    )
    with db.read() as session:
        added = registry.get_endpoint(session, "custom-work-gateway")
    assert added.base_url == "https://api.example.com/v1"
