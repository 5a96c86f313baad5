"""Tools > Local endpoint in the real window: turned on, used by the openai SDK, off again."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import openai
import pytest
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

from app.core.ledger import alerts, entries
from app.core.storage.db import Database
from app.servers.gateway import Upstreams
from app.servers.gateway import config as endpoint_config
from app.servers.gateway.config import EndpointConfig
from app.ui.context import AppContext
from app.ui.dialogs.local_endpoint import LocalEndpointDialog
from app.ui.main_window import MainWindow

pytestmark = pytest.mark.gui
HELLO = [{"role": "user", "content": "Hello from a tool"}]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _window(qtbot: QtBot, db: Database, tmp_path: Path) -> tuple[MainWindow, AppContext]:
    context = AppContext.create(db)
    main = MainWindow(context, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(main)
    main.show()
    return main, context


@pytest.fixture
def window(qtbot: QtBot, db: Database, tmp_path: Path) -> Iterator[MainWindow]:
    main, context = _window(qtbot, db, tmp_path)
    yield main
    main.close()
    context.close()


@pytest.fixture
def dialog(qtbot: QtBot, window: MainWindow) -> LocalEndpointDialog:
    shown = LocalEndpointDialog(window.workspace.context, window.workspace.local_endpoint, window)
    qtbot.addWidget(shown)
    qtbot.waitUntil(lambda: shown.openai_combo.count() > 0 and shown.token_edit.text() != "")
    return shown


def _turn_on(qtbot: QtBot, dialog: LocalEndpointDialog, port: int) -> None:
    dialog.enabled_box.setChecked(True)
    dialog.port_edit.setText(str(port))
    dialog.openai_combo.setCurrentIndex(dialog.openai_combo.findData("demo"))
    dialog.anthropic_combo.setCurrentIndex(dialog.anthropic_combo.findData("demo"))
    dialog.apply()


def test_turned_on_it_meters_a_tool_into_the_window(
    qtbot: QtBot, window: MainWindow, dialog: LocalEndpointDialog, db: Database
) -> None:
    port = _free_port()
    _turn_on(qtbot, dialog, port)
    endpoint = window.workspace.local_endpoint
    qtbot.waitUntil(lambda: endpoint.state.running, timeout=10_000)
    assert dialog.status.text() == f"Running on http://127.0.0.1:{port}"
    assert window.workspace.endpoint_button.isVisible()
    with db.write() as session:
        entries.add_credits(session, Decimal(1_000))
        alerts.set_low_balance_threshold(session, Decimal(999))

    with openai.OpenAI(
        base_url=f"http://127.0.0.1:{port}/v1", api_key=dialog.token_edit.text(), max_retries=0
    ) as sdk:
        sdk.chat.completions.create(model="gpt-4o-mini", messages=HELLO)  # type: ignore[arg-type]

    status = window.statusBar()
    qtbot.waitUntil(lambda: "openai-python spent $" in status.currentMessage(), timeout=10_000)
    qtbot.waitUntil(
        window.workspace.banner.isVisible, timeout=10_000
    )  # its alert, as for a chat reply
    assert "Low balance" in window.workspace.banner.text.text()
    with db.read() as session:
        saved = endpoint_config.load(session)
    assert saved == EndpointConfig(True, port, Upstreams.demo())

    dialog.enabled_box.setChecked(False)
    dialog.apply()
    qtbot.waitUntil(lambda: not endpoint.state.running, timeout=10_000)
    assert not window.workspace.endpoint_button.isVisible()
    with (
        openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0, timeout=2
        ) as sdk,
        pytest.raises(openai.APIConnectionError),
    ):
        sdk.chat.completions.create(model="gpt-4o-mini", messages=HELLO)  # type: ignore[arg-type]


def test_it_starts_with_the_app_when_left_on(qtbot: QtBot, db: Database, tmp_path: Path) -> None:
    port = _free_port()
    with db.write() as session:
        endpoint_config.save(session, EndpointConfig(True, port, Upstreams.demo()))
    main, context = _window(qtbot, db, tmp_path)
    try:
        qtbot.waitUntil(lambda: main.workspace.local_endpoint.state.running, timeout=10_000)
        assert main.workspace.endpoint_button.text() == f"Local endpoint 127.0.0.1:{port}"
    finally:
        main.close()
        context.close()


def test_a_taken_port_is_explained(
    qtbot: QtBot, window: MainWindow, dialog: LocalEndpointDialog
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        _turn_on(qtbot, dialog, port)
        qtbot.waitUntil(lambda: "in use" in dialog.status.text(), timeout=10_000)
    assert not window.workspace.local_endpoint.state.running


def test_the_token_is_masked_until_asked_for(dialog: LocalEndpointDialog) -> None:
    token = dialog.token_edit.text()
    assert token.startswith("tb-local-")
    assert dialog.token_edit.echoMode() == dialog.token_edit.EchoMode.Password
    assert token not in dialog.setup_view.toPlainText()
    assert "<access token>" in dialog.setup_view.toPlainText()
    dialog.show_token_box.setChecked(True)
    assert f"OPENAI_API_KEY={token}" in dialog.setup_view.toPlainText()
