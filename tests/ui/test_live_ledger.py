"""A live ledger: what another program writes (the CLI, a second process) shows in the open
window within about a second: the status bar, the conversation list, an open dialog, the
dashboard and the transactions; banners whose cause is gone are taken down; a stream of
changes re-reads a view at most about once a second."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

from app.core import conversations
from app.core.ledger import alerts, balance, entries
from app.core.ledger.alerts import Alert
from app.core.ledger.browse import Row
from app.core.ledger.entries import TokenType
from app.core.paths import database_path
from app.core.storage.db import Database
from app.ui.context import AppContext
from app.ui.dialogs import BalanceDialog
from app.ui.main_window import MainWindow
from tests.factories import spend

pytestmark = pytest.mark.gui

ROOT = Path(__file__).parents[2]
LIVE_MS = 3000
"""A look for other programs' writes each second, a view re-read: well within this."""
NOTHING_SPENT = "Today $0.00 · this month $0.00"
"""The status bar of a ledger that keeps no balance (tracking only) and has no spend yet."""


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def ledger(data_dir: Path) -> Iterator[Database]:
    """The window's ledger, in the file the CLI opens with ``--data-dir``."""
    opened = Database(database_path(data_dir))
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def window(qtbot: QtBot, ledger: Database, tmp_path: Path) -> Iterator[MainWindow]:
    context = AppContext.create(ledger)
    main = MainWindow(context, QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(main)
    main.show()
    qtbot.waitUntil(lambda: main.workspace.balance_button.text() == NOTHING_SPENT, timeout=LIVE_MS)
    yield main
    main.close()
    context.close()


def tallybook(data_dir: Path, *args: str) -> str:
    """Run the ``tallybook`` command in its own process, as a user in a terminal would."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout


def elsewhere(path: Path, statement: str) -> None:
    """Another process writes with its own ledger object (what no command does yet)."""
    code = (
        "import sys; from decimal import Decimal; from pathlib import Path\n"
        "from app.core.ledger import alerts\n"
        "from app.core.storage.db import Database\n"
        "db = Database(Path(sys.argv[1]))\n"
        f"with db.write() as session: {statement}\n"
        "db.close()\n"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], cwd=ROOT, check=True, timeout=120)


def test_a_top_up_from_the_cli_shows_in_the_status_bar_dialog_and_views(
    qtbot: QtBot, window: MainWindow, ledger: Database, data_dir: Path
) -> None:
    with ledger.write() as session:  # a balance is kept, so the status bar shows it
        balance.configure(session, enabled=True)
    dialog = BalanceDialog(window.workspace.context, window)
    dialog.show()  # left open beside the window, as a user would
    qtbot.waitUntil(lambda: dialog.balance_label.text() == "$0.00", timeout=LIVE_MS)
    window.workspace.show_page(window.workspace.transactions)

    tallybook(data_dir, "add-balance", "--usd", "2")

    qtbot.waitUntil(
        lambda: window.workspace.balance_button.text() == "Balance $2.00", timeout=LIVE_MS
    )
    qtbot.waitUntil(lambda: dialog.balance_label.text() == "$2.00", timeout=LIVE_MS)
    table = window.workspace.transactions.model
    qtbot.waitUntil(lambda: table.rowCount() == 1, timeout=LIVE_MS)
    assert table.row_at(0).token_type == TokenType.CREDITS
    assert table.row_at(0).token_value == Decimal(2_000_000)
    assert "credited $2.00" in window.workspace.transactions.totals_label.text()

    window.workspace.show_page(
        window.workspace.dashboard
    )  # it was hidden: it catches up when shown
    dashboard = window.workspace.dashboard
    qtbot.waitUntil(
        lambda: (
            dashboard.figures is not None
            and [p.balance for p in dashboard.figures.balance][-1:] == [Decimal(2_000_000)]
        ),
        timeout=LIVE_MS,
    )
    dialog.close()


def test_a_conversation_from_the_cli_is_listed_and_charged(
    qtbot: QtBot, window: MainWindow, ledger: Database, data_dir: Path
) -> None:
    window.workspace.show_page(window.workspace.transactions)
    tallybook(
        data_dir, "chat", "Hello from a terminal", "--model", "gpt-4o-mini", "--provider", "demo"
    )

    listed = window.workspace.conversations.model
    qtbot.waitUntil(lambda: listed.rowCount() == 1, timeout=LIVE_MS)
    with ledger.read() as session:
        (summary,) = conversations.list_conversations(session)
        balance = entries.current_balance(session)
    assert summary.cost > 0 and balance == -summary.cost
    qtbot.waitUntil(
        lambda: (
            listed.data(listed.index(0), 0) == summary.title
            and window.workspace.balance_button.text().startswith("Today $")
            and window.workspace.balance_button.text() != NOTHING_SPENT
        ),
        timeout=LIVE_MS,
    )
    qtbot.waitUntil(lambda: window.workspace.transactions.model.rowCount() >= 2, timeout=LIVE_MS)
    assert {row.model for row in _rows(window)} == {"gpt-4o-mini"}


def _rows(window: MainWindow) -> list[Row]:
    table = window.workspace.transactions.model
    return [table.row_at(i) for i in range(table.rowCount())]


def test_a_budget_added_elsewhere_shows_in_the_open_dialog_and_on_the_dashboard(
    qtbot: QtBot, window: MainWindow, ledger: Database
) -> None:
    dialog = BalanceDialog(window.workspace.context, window)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.state is not None, timeout=LIVE_MS)
    window.workspace.show_page(window.workspace.dashboard)
    assert not window.workspace.dashboard.daily_chart.budget_line.isVisible()

    elsewhere(ledger.path, "alerts.add_budget(session, 'day', Decimal(400_000))")

    qtbot.waitUntil(lambda: dialog.budget_table.rowCount() == 1, timeout=LIVE_MS)
    assert dialog.budget_percents() == ["0%"]
    chart = window.workspace.dashboard.daily_chart
    qtbot.waitUntil(chart.budget_line.isVisible, timeout=LIVE_MS)
    assert chart.budget_line.value() == pytest.approx(0.4)
    dialog.close()


def _raise_low_balance(window: MainWindow, ledger: Database) -> Alert:
    with ledger.write() as session:
        entries.add_credits(session, Decimal(100))
        alerts.set_low_balance_threshold(session, Decimal(1_000_000))
        (low,) = alerts.check(session)
    window.workspace.context.events.alert.emit(low)
    assert (
        window.workspace.banner.isVisible() and "Low balance" in window.workspace.banner.text.text()
    )
    return low


def test_a_low_balance_banner_clears_after_a_top_up_from_the_cli(
    qtbot: QtBot, window: MainWindow, ledger: Database, data_dir: Path
) -> None:
    _raise_low_balance(window, ledger)
    elsewhere(ledger.path, "alerts.set_low_balance_threshold(session, Decimal(900_000))")
    qtbot.wait(LIVE_MS // 2)  # a change that leaves the balance low: the banner stays
    assert window.workspace.banner.isVisible()

    tallybook(data_dir, "add-balance", "--usd", "5")

    qtbot.waitUntil(lambda: not window.workspace.banner.isVisible(), timeout=LIVE_MS)
    assert window.workspace.banner.keys() == set()


def test_a_budget_banner_clears_when_the_budget_is_removed_elsewhere(
    qtbot: QtBot, window: MainWindow, ledger: Database
) -> None:
    low = _raise_low_balance(window, ledger)
    with ledger.write() as session:
        budget_id = alerts.add_budget(session, "day", Decimal(1))
        entries.spend_tokens(session, spend(1000, 100))
        (crossed,) = [a for a in alerts.check(session) if a.key.startswith("budget:")]
    window.workspace.context.events.alert.emit(crossed)
    assert window.workspace.banner.keys() == {low.key, crossed.key}

    elsewhere(ledger.path, f"alerts.remove_budget(session, {budget_id})")

    qtbot.waitUntil(lambda: window.workspace.banner.keys() == {low.key}, timeout=LIVE_MS)
    assert "Low balance" in window.workspace.banner.text.text()  # the other alert still stands


def test_a_reply_saving_its_text_refreshes_nothing_and_a_burst_at_most_once_a_second(
    qtbot: QtBot, window: MainWindow, ledger: Database
) -> None:
    window.workspace.show_page(window.workspace.dashboard)
    dashboard = window.workspace.dashboard
    qtbot.waitUntil(lambda: dashboard.figures is not None, timeout=LIVE_MS)
    refreshes: list[None] = []
    dashboard.refreshed.connect(lambda: refreshes.append(None))
    with ledger.write() as session:
        request_id = entries.open_request(session, spend(10), hold=Decimal(0))
    done = threading.Event()

    def stream_then_settle() -> None:
        for n in range(8):  # a reply streaming for 2 s, its text saved as it comes
            with ledger.write() as session:
                entries.save_partial(session, request_id, "word " * n)
            done.wait(0.25)
        for _ in range(8):  # then 8 charges in 2 s (tools through the local endpoint)
            with ledger.write() as session:
                entries.spend_tokens(session, spend(100, 10))
            done.wait(0.25)

    writer = threading.Thread(target=stream_then_settle)
    writer.start()
    qtbot.waitUntil(lambda: not writer.is_alive(), timeout=20_000)
    writer.join()
    with ledger.read() as session:
        spent = -entries.current_balance(session)
    # The last, trailing re-read shows all of it (on a loaded machine its answer may take more
    # than the throttle's second to arrive).
    qtbot.waitUntil(
        lambda: dashboard.figures is not None and dashboard.figures.total == spent,
        timeout=LIVE_MS,
    )
    assert 2 <= len(refreshes) <= 4  # 16 writes in 4 s: the partial saves refreshed nothing
