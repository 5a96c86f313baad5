"""Tools > Local endpoint, the parts a new user trips on: the port typed, a token that would not
outlive the run, and tool tokens made, used by a real SDK, and revoked, all in the real window."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import keyring
import openai
import pytest
from keyring.backends import fail
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

from app.core.storage.db import Database
from app.servers.gateway import access
from app.servers.gateway import config as endpoint_config
from app.ui.context import AppContext
from app.ui.dialogs.local_endpoint import LocalEndpointDialog
from app.ui.main_window import MainWindow

pytestmark = pytest.mark.gui
HELLO = [{"role": "user", "content": "Hello from zed"}]


@pytest.fixture
def window(qtbot: QtBot, db: Database, tmp_path: Path) -> Iterator[MainWindow]:
    context = AppContext.create(db)
    main = MainWindow(context, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(main)
    main.show()
    yield main
    main.close()
    context.close()


def _dialog(qtbot: QtBot, window: MainWindow) -> LocalEndpointDialog:
    shown = LocalEndpointDialog(window.workspace.context, window.workspace.local_endpoint, window)
    qtbot.addWidget(shown)
    qtbot.waitUntil(lambda: shown.openai_combo.count() > 0 and shown.token_edit.text() != "")
    return shown


@pytest.fixture
def no_key_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keyring, "get_keyring", fail.Keyring)
    monkeypatch.setattr(access, "_for_this_run", None)
    monkeypatch.delenv(access.VARIABLE, raising=False)


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("99999abc", "whole number from 1024 to 65535, not '99999abc'"),
        ("70000", "from 1024 to 65535"),
        ("80", "administrator"),
        ("0", "Port 0 would pick another free port at every start"),
        ("", "Enter a port"),
    ],
)
def test_a_port_that_cannot_be_used_is_refused_in_words(
    qtbot: QtBot, window: MainWindow, db: Database, typed: str, said: str
) -> None:
    dialog = _dialog(qtbot, window)
    dialog.enabled_box.setChecked(True)
    dialog.port_edit.setText(typed)
    dialog.apply()
    assert said in dialog.status.text()
    assert dialog.port_edit.text() == typed  # left for the user to fix, not cut short
    with db.read() as session:
        assert endpoint_config.load(session) == endpoint_config.EndpointConfig()  # not saved


def test_with_a_key_store_the_token_is_kept_and_nothing_is_said(
    qtbot: QtBot, window: MainWindow
) -> None:
    dialog = _dialog(qtbot, window)
    assert dialog.keeping_line.text() == ""
    assert dialog.renew_button.isEnabled() and dialog.tool_tokens.create_button.isEnabled()


@pytest.mark.usefixtures("no_key_store")
def test_without_a_key_store_the_dialog_says_the_token_changes_at_next_launch(
    qtbot: QtBot, window: MainWindow
) -> None:
    dialog = _dialog(qtbot, window)
    said = dialog.keeping_line.text()
    assert "token lasts until Tallybook closes" in said and "refused after the next launch" in said
    assert f"{access.VARIABLE}=$(openssl rand -hex 32)" in said
    tokens_box = dialog.tool_tokens
    qtbot.waitUntil(lambda: not tokens_box.create_button.isEnabled())
    assert "kept only in the OS key store" in tokens_box.message.text()


@pytest.mark.usefixtures("no_key_store")
def test_a_token_from_the_environment_is_renewed_there(
    qtbot: QtBot, window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(access.VARIABLE, "tb-local-my-own-token-for-every-launch-0123")
    dialog = _dialog(qtbot, window)
    assert dialog.token_edit.text() == "tb-local-my-own-token-for-every-launch-0123"
    assert f"set by {access.VARIABLE}" in dialog.keeping_line.text()
    assert not dialog.renew_button.isEnabled()
    window.workspace.local_endpoint.renew_token()  # as if asked all the same: refused in words
    qtbot.waitUntil(lambda: "change it there" in dialog.status.text(), timeout=10_000)
    assert dialog.token_edit.text() == "tb-local-my-own-token-for-every-launch-0123"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_a_tool_token_is_shown_once_used_and_revoked(qtbot: QtBot, window: MainWindow) -> None:
    dialog = _dialog(qtbot, window)
    port = _free_port()
    dialog.enabled_box.setChecked(True)
    dialog.port_edit.setText(str(port))
    dialog.openai_combo.setCurrentIndex(dialog.openai_combo.findData("demo"))
    dialog.apply()
    endpoint = window.workspace.local_endpoint
    qtbot.waitUntil(lambda: endpoint.state.running, timeout=10_000)

    box = dialog.tool_tokens
    box.name_edit.setText("zed")
    box.create_button.click()
    qtbot.waitUntil(lambda: box.working_names() == ["zed"], timeout=10_000)
    token = box.new_token_edit.text()
    assert token.startswith("tb-tool-") and "not shown again" in box.message.text()
    assert box.name_edit.text() == ""

    url = f"http://127.0.0.1:{port}/v1"
    with openai.OpenAI(base_url=url, api_key=token, max_retries=0, timeout=60) as sdk:
        sdk.chat.completions.create(model="gpt-4o-mini", messages=HELLO)  # type: ignore[arg-type]
    status = window.statusBar()
    qtbot.waitUntil(lambda: "zed spent $" in status.currentMessage(), timeout=10_000)

    box.revoke("zed")
    qtbot.waitUntil(lambda: box.working_names() == [], timeout=10_000)
    assert box.new_token_edit.text() == "" and not box.new_token_edit.isVisible()
    with (
        openai.OpenAI(base_url=url, api_key=token, max_retries=0, timeout=60) as sdk,
        pytest.raises(openai.AuthenticationError, match="'zed' was revoked"),
    ):
        sdk.chat.completions.create(model="gpt-4o-mini", messages=HELLO)  # type: ignore[arg-type]
    dialog.enabled_box.setChecked(False)
    dialog.apply()
    qtbot.waitUntil(lambda: not endpoint.state.running, timeout=10_000)


def test_a_name_already_in_use_is_refused_in_the_box(qtbot: QtBot, window: MainWindow) -> None:
    box = _dialog(qtbot, window).tool_tokens
    box.name_edit.setText("zed")
    box.create_button.click()
    qtbot.waitUntil(lambda: box.working_names() == ["zed"], timeout=10_000)
    box.name_edit.setText("ZED")
    box.create_button.click()
    qtbot.waitUntil(lambda: "already" in box.message.text(), timeout=10_000)
    assert "'ZED' already has a working token" in box.message.text()
    assert box.working_names() == ["zed"] and box.name_edit.text() == "ZED"
