"""The reconciliation window against the emulator's OpenAI Usage and Costs APIs: a check shows
an outside row beside a match, the import records it (and the re-check says so), a missing admin
key is its sentence with no rows, and the fetch runs off the GUI thread."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, QTimer
from pytestqt.qtbot import QtBot

from app.core.clock import utcnow
from app.core.ledger import entries
from app.core.pricing.charges import TokenUsage
from app.core.pricing.prices import PriceBook
from app.core.reconcile import daily
from app.core.reconcile.compare import Status
from app.core.storage.db import Database
from app.servers.emulator.served import Served
from app.servers.emulator.server import Emulator
from app.ui.context import AppContext
from app.ui.main_window import MainWindow
from app.ui.reconcile import ReconcileView
from app.ui.reconcile.view import DEFAULT_DAYS

pytestmark = pytest.mark.gui

WAIT_MS = 10_000
ADMIN = "sk-admin-bars-RECONCILE-VIEW-0123456789abcdef"
DAY = utcnow().date() - timedelta(days=2)
METERED = TokenUsage(400_000, 100_000)


@pytest.fixture
def db(db: Database) -> Database:
    """A ledger with gpt-4o metered two days ago, at the prices the emulator bills."""
    with db.write() as session:
        entries.spend_tokens(
            session,
            entries.Spend(
                "openai",
                "gpt-4o",
                METERED,
                PriceBook.load(session).rates("gpt-4o", provider="openai"),
            ),
            now=datetime.combine(DAY, time(9)),
        )
    return db


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """OpenAI billing what the ledger metered, and o3 spend from another tool."""
    served = [
        Served(DAY, "openai", "gpt-4o", 1, METERED.prompt_tokens, METERED.completion_tokens),
        Served(DAY, "openai", "o3", 2, input_tokens=10_000, output_tokens=20_000),
    ]
    with Emulator(outside=served) as emu:
        yield emu


def _view(qtbot: QtBot, context: AppContext, base_url: str) -> ReconcileView:
    view = ReconcileView(context, base_url=base_url)
    qtbot.addWidget(view)
    view.resize(1100, 700)
    view.show()
    return view


def _check(qtbot: QtBot, view: ReconcileView) -> None:
    with qtbot.waitSignal(view.checked, timeout=WAIT_MS):
        view.check_button.click()


def _cell(view: ReconcileView, row: int, column: int) -> str:
    item = view.table.item(row, column)
    assert item is not None
    return item.text()


def _shown(view: ReconcileView) -> list[tuple[str, str]]:
    return [(_cell(view, r, 1), _cell(view, r, 2)) for r in range(view.table.rowCount())]


def test_a_check_shows_the_outside_row_beside_the_match(
    qtbot: QtBot, context: AppContext, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", ADMIN)
    view = _view(qtbot, context, emulator.url)
    _check(qtbot, view)
    assert _shown(view) == [("gpt-4o", "Match"), ("o3", "Outside Tallybook")]
    assert view.result is not None
    assert [row.status for row in view.result.rows] == [Status.MATCH, Status.OUTSIDE]
    assert _cell(view, 1, 9).startswith("+$")  # the provider billed more
    assert view.import_button.isEnabled()
    assert "1 match, 1 outside Tallybook" in view.totals_label.text()
    assert view.message.text() == ""


def test_import_records_the_outside_row_and_the_recheck_shows_it(
    qtbot: QtBot, context: AppContext, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", ADMIN)
    view = _view(qtbot, context, emulator.url)
    _check(qtbot, view)
    billed = _cell(view, 1, 8)
    with qtbot.waitSignal(view.checked, timeout=WAIT_MS):
        view.import_button.click()
    assert _shown(view) == [("gpt-4o", "Match"), ("o3", "Outside, imported")]
    assert _cell(view, 1, 10) == billed  # imported what the provider billed
    assert not view.import_button.isEnabled()  # nothing left to import
    assert view.message.text().startswith(f"Imported 1 day(s) of outside spend ({billed})")
    _check(qtbot, view)  # a later check still knows it is imported
    assert _shown(view)[1] == ("o3", "Outside, imported")


def test_a_missing_admin_key_is_a_sentence_and_no_rows(
    qtbot: QtBot, context: AppContext, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_ADMIN_KEY", raising=False)
    view = _view(qtbot, context, emulator.url)
    _check(qtbot, view)
    assert "No OpenAI admin key is set" in view.message.text()
    assert "OPENAI_ADMIN_KEY" in view.message.text()
    assert view.table.rowCount() == 0
    assert view.result is None
    assert not view.import_button.isEnabled()
    assert view.check_button.isEnabled()


def test_the_fetch_does_not_hold_up_the_window(
    qtbot: QtBot, context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A provider that takes the request and never answers: the window still answers."""
    monkeypatch.setenv("OPENAI_ADMIN_KEY", ADMIN)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # connections queue and are never answered
    port = silent.getsockname()[1]
    view = _view(qtbot, context, f"http://127.0.0.1:{port}")
    view.check_button.click()
    assert not view.check_button.isEnabled()
    ticks: list[int] = []
    timer = QTimer(view)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(20)
    qtbot.waitUntil(lambda: len(ticks) >= 5, timeout=WAIT_MS)
    assert not view.check_button.isEnabled()  # the fetch is still waiting
    with qtbot.waitSignal(view.checked, timeout=30_000):
        silent.close()  # the provider goes away: the check ends in its sentence
    assert view.check_button.isEnabled()
    assert view.message.text() and ADMIN not in view.message.text()


def test_the_daily_check_box_is_per_provider_and_kept(
    qtbot: QtBot, context: AppContext, db: Database, emulator: Emulator
) -> None:
    view = _view(qtbot, context, emulator.url)
    qtbot.waitUntil(view.daily_box.isEnabled, timeout=WAIT_MS)
    assert not view.daily_box.isChecked()  # off until turned on
    view.daily_box.click()

    def saved() -> bool:
        with db.read() as session:
            return daily.is_enabled(session, "openai")

    qtbot.waitUntil(saved, timeout=WAIT_MS)
    view.provider_combo.setCurrentText("anthropic")
    qtbot.waitUntil(view.daily_box.isEnabled, timeout=WAIT_MS)
    assert not view.daily_box.isChecked()
    again = _view(qtbot, context, emulator.url)
    qtbot.waitUntil(again.daily_box.isEnabled, timeout=WAIT_MS)
    assert again.daily_box.isChecked()


@pytest.mark.qt_log_ignore("This plugin does not support raise")  # offscreen's note
def test_tools_reconcile_opens_one_window_that_closing_keeps(
    qtbot: QtBot, context: AppContext, tmp_path: Path
) -> None:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    main = MainWindow(context, settings)
    qtbot.addWidget(main)
    (action,) = [a for a in main.menus.tools.actions() if a.text() == "&Reconcile…"]
    action.trigger()
    (view,) = main.workspace.findChildren(ReconcileView)
    assert view.isWindow() and view.isVisible()
    assert view.provider() == "openai"
    since, until = view.days()
    assert (until - since).days == DEFAULT_DAYS - 1 and until == utcnow().date()
    view.close()
    action.trigger()
    assert main.workspace.findChildren(ReconcileView) == [view] and view.isVisible()
    main.close()
