"""The real main window against the emulator: chat, list, balance, alerts, settings."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QRect, QSettings, Qt
from PySide6.QtGui import QKeySequence
from pytestqt.qtbot import QtBot

from app.core import conversations, money
from app.core.ledger import alerts, entries
from app.core.metering.client import Metered
from app.core.storage.db import Database
from app.ui.context import AppContext
from app.ui.conversation_list import SummaryRole
from app.ui.main_window import SETTINGS_FILE, MainWindow, fitted, window_settings
from app.ui.workspace import DEFAULT_CONFIRM_ABOVE

WAIT_MS = 10_000

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot: QtBot, db: Database, tmp_path: Path) -> Iterator[MainWindow]:
    context = AppContext.create(db)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    main = MainWindow(context, settings)
    qtbot.addWidget(main)
    main.show()
    main.workspace.chat.set_selection("demo", "gpt-4o-mini")
    yield main
    main.close()
    context.close()


def _send(qtbot: QtBot, window: MainWindow, text: str) -> Metered:
    window.workspace.chat.composer.editor.setPlainText(text)
    with qtbot.waitSignal(window.workspace.chat.reply_finished, timeout=20_000) as finished:
        window.workspace.chat.composer.send_button.click()
    qtbot.waitUntil(
        lambda: not window.workspace.chat.is_busy(), timeout=20_000
    )  # ready for the next
    metered: Metered = finished.args[0]
    return metered


def test_a_conversation_appears_in_the_list_with_its_cost(
    qtbot: QtBot, window: MainWindow, db: Database
) -> None:
    metered = _send(qtbot, window, "Hello from the window")
    conversation = window.workspace.chat.current_conversation()
    assert conversation is not None
    qtbot.waitUntil(lambda: window.workspace.conversations.model.rowCount() == 1, timeout=10_000)
    model = window.workspace.conversations.model

    def listed_at_the_ledgers_cost() -> bool:  # the reply, then its title, are charged
        with db.read() as session:
            cost = conversations.conversation_cost(session, conversation)
        return bool(model.data(model.index(0), SummaryRole).cost == cost >= metered.cost > 0)

    qtbot.waitUntil(listed_at_the_ledgers_cost, timeout=10_000)
    qtbot.waitUntil(
        lambda: window.workspace.balance_button.text().startswith(
            f"Today {money.format_usd(model.data(model.index(0), SummaryRole).cost)}"
        ),  # the reply and its title: all of today's spend
        timeout=10_000,
    )


def test_a_budget_crossing_shows_a_banner_without_blocking(
    qtbot: QtBot, window: MainWindow, db: Database
) -> None:
    with db.write() as session:
        alerts.add_budget(session, "day", Decimal("0.000001"))  # any reply crosses 100%
    _send(qtbot, window, "Spend a little")
    qtbot.waitUntil(window.workspace.banner.isVisible, timeout=10_000)
    assert "Daily budget: 100% reached" in window.workspace.banner.text.text()
    assert window.workspace.chat.composer.editor.isEnabled()  # nothing modal, typing goes on


def test_low_balance_alert_fires_once(qtbot: QtBot, window: MainWindow, db: Database) -> None:
    with db.write() as session:
        entries.add_credits(session, Decimal(100))
        alerts.set_low_balance_threshold(session, Decimal(1_000_000))
    seen: list[object] = []
    window.workspace.context.events.alert.connect(seen.append)
    with qtbot.waitSignal(window.workspace.alerts_checked, timeout=20_000):
        _send(qtbot, window, "first")
    with qtbot.waitSignal(window.workspace.alerts_checked, timeout=20_000) as second:
        _send(qtbot, window, "second")
    assert second.args[0] == []
    assert [getattr(a, "key", None) for a in seen] == ["low-balance"]


def test_window_state_and_model_are_remembered(qtbot: QtBot, db: Database, tmp_path: Path) -> None:
    path = str(tmp_path / "settings.ini")
    context = AppContext.create(db)
    first = MainWindow(context, QSettings(path, QSettings.Format.IniFormat))
    qtbot.addWidget(first)
    first.resize(1180, 760)  # shown at a real size: a hidden splitter is 640 px, too narrow
    first.show()
    first.workspace.chat.set_selection("demo", "claude-haiku-4-5")
    first.workspace.splitter.setSizes([333, 700])
    first.close()
    second = MainWindow(context, QSettings(path, QSettings.Format.IniFormat))
    qtbot.addWidget(second)
    second.show()
    assert second.workspace.chat.selection() == ("demo", "claude-haiku-4-5")
    assert second.workspace.splitter.sizes()[0] == 333
    second.close()
    context.close()


def test_the_window_opens_on_the_chat_without_building_its_hidden_pages(
    qtbot: QtBot, window: MainWindow
) -> None:
    assert window.workspace.pages.currentWidget() is window.workspace.splitter
    assert not window.workspace._dashboard_page.is_built
    assert not window.workspace._transactions_page.is_built
    window.workspace.pages.setCurrentIndex(
        window.workspace.pages.indexOf(window.workspace._dashboard_page)
    )
    # The tab answers the click with a line, and the view is built once that line is painted.
    assert not window.workspace._dashboard_page.is_built
    qtbot.waitUntil(lambda: window.workspace._dashboard_page.is_built)
    assert not window.workspace._transactions_page.is_built


def test_the_windows_loads_start_once_it_has_painted(
    qtbot: QtBot, db: Database, tmp_path: Path
) -> None:
    context = AppContext.create(db)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(context, settings)
    qtbot.addWidget(window)
    QCoreApplication.processEvents()
    assert context.reads.pending > 0  # the list, the balance, the chat's menu: held, not run
    assert window.workspace.balance_button.text() == "Balance …"
    window.show()
    qtbot.waitUntil(lambda: context.reads.pending == 0, timeout=WAIT_MS)
    assert window.workspace.balance_button.text().startswith("Today $")
    window.close()
    context.close()


def test_a_window_never_painted_still_loads_and_starts_its_endpoint(
    qtbot: QtBot, db: Database, tmp_path: Path
) -> None:
    """Started minimized, a window is not painted: its loads (the local endpoint's settings
    among them) start after a moment all the same."""
    context = AppContext.create(db)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(context, settings)
    qtbot.addWidget(window)
    qtbot.waitUntil(
        lambda: window.workspace.balance_button.text().startswith("Today $"), timeout=WAIT_MS
    )
    assert not window.isVisible()
    context.close()


def test_hand_edited_settings_that_make_no_sense_fall_back_to_defaults(
    qtbot: QtBot, db: Database, tmp_path: Path
) -> None:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    for key, value in {
        "window/page": "dashboard",
        "window/geometry": "not bytes",
        "chat/confirm_above": "ten dollars",
        "chat/model": 42,
    }.items():
        settings.setValue(key, value)
    context = AppContext.create(db)
    window = MainWindow(context, settings)
    qtbot.addWidget(window)
    assert window.workspace.pages.currentIndex() == 0
    assert window.workspace._confirm_threshold() == DEFAULT_CONFIRM_ABOVE
    window.close()
    context.close()


def test_a_conversation_clicked_on_the_dashboard_opens_in_the_chat(
    qtbot: QtBot, window: MainWindow
) -> None:
    _send(qtbot, window, "Something to chart")
    conversation = window.workspace.chat.current_conversation()
    assert conversation is not None
    window.workspace.new_conversation()
    window.workspace.show_page(window.workspace.dashboard)
    window.workspace.dashboard.conversation_activated.emit(conversation)
    assert window.workspace.pages.currentWidget() is window.workspace.splitter
    assert window.workspace.chat.current_conversation() == conversation


def test_f2_renames_from_the_list_without_an_ambiguous_shortcut(window: MainWindow) -> None:
    """One action owns F2 (Chat > Rename): a second one on the list made the key do nothing."""
    f2 = QKeySequence(Qt.Key.Key_F2)
    reachable = [
        *window.workspace.conversations.view.actions(),
        *(action for menu in vars(window.menus).values() for action in menu.actions()),
    ]
    assert [action.text() for action in reachable if action.shortcut() == f2] == [
        "Rename conversation…"
    ]


def test_stop_reply_is_offered_only_while_a_reply_streams(qtbot: QtBot, window: MainWindow) -> None:
    (stop,) = [a for a in window.menus.chat.actions() if a.text() == "&Stop reply"]
    assert not stop.isEnabled()
    chat = window.workspace.chat
    chat.set_selection("demo", "gpt-4o-mini@slow")
    chat.composer.editor.setPlainText("/words 400")
    chat.composer.send_button.click()
    qtbot.waitUntil(stop.isEnabled, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: chat._reply is not None and chat._reply.handle is not None)
    stop.trigger()
    qtbot.waitUntil(lambda: not stop.isEnabled(), timeout=20_000)


def test_a_saved_size_bigger_than_the_screen_is_fitted_to_it(qtbot: QtBot, tmp_path: Path) -> None:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    first = MainWindow(settings=settings)
    qtbot.addWidget(first)
    screen = first.screen().availableGeometry()
    first.setGeometry(
        screen.left() - 50, screen.top() - 80, screen.width() * 2, screen.height() * 2
    )
    settings.setValue("window/geometry", first.saveGeometry())  # as a 2x scale factor left it

    second = MainWindow(settings=settings)
    qtbot.addWidget(second)

    assert screen.contains(second.geometry())


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        (QRect(100, 100, 800, 600), QRect(100, 100, 800, 600)),  # fits: unchanged
        (QRect(-50, -80, 3000, 2000), QRect(0, 0, 1280, 800)),  # larger: the whole screen
        (QRect(1000, 700, 800, 600), QRect(480, 200, 800, 600)),  # off the edge: moved in
    ],
)
def test_fitting_a_window_to_a_screen(window: QRect, expected: QRect) -> None:
    assert fitted(window, QRect(0, 0, 1280, 800)) == expected


def test_window_settings_live_in_the_data_folder_and_start_from_the_earlier_ones(
    tmp_path: Path,
) -> None:
    QSettings().setValue("chat/confirm_above", "250000")  # where an earlier version kept them
    try:
        settings = window_settings(tmp_path)
        assert settings.value("chat/confirm_above") == "250000"
        settings.setValue("window/page", 2)
        settings.sync()
        assert (tmp_path / SETTINGS_FILE).exists()
        assert window_settings(tmp_path).value("window/page") == 2  # read back, not re-copied
    finally:
        QSettings().remove("chat/confirm_above")
