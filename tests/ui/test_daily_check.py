"""The window's hourly timer runs the opt-in daily reconciliation and shows what it raised in
the banner (the slot is called directly: nobody waits an hour)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

from app.core.reconcile import daily
from app.core.storage.db import Database
from app.ui.context import AppContext
from app.ui.main_window import MainWindow
from app.ui.workspace import DAILY_CHECK_MS

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot: QtBot, db: Database, tmp_path: Path) -> Iterator[MainWindow]:
    context = AppContext.create(db)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    main = MainWindow(context, settings)
    qtbot.addWidget(main)
    main.show()
    yield main
    main.close()
    context.close()


def test_the_timer_runs_hourly_and_its_alert_reaches_the_banner(
    qtbot: QtBot, window: MainWindow, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = window.workspace
    assert workspace.daily_timer.isActive() and workspace.daily_timer.interval() == DAILY_CHECK_MS
    assert DAILY_CHECK_MS == 3_600_000
    monkeypatch.delenv("OPENAI_ADMIN_KEY", raising=False)  # the check fails, offline, quietly
    with db.write() as session:
        daily.set_enabled(session, "openai", True)
    workspace._on_daily_timer_timeout()
    qtbot.waitUntil(workspace.banner.isVisible, timeout=10_000)
    shown = workspace.banner.text.text()
    assert "OpenAI's daily check failed" in shown and "OPENAI_ADMIN_KEY" in shown
