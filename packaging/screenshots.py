"""Take the README's screenshots from the real app on a real display (Xvfb on a server).

    Xvfb :99 -screen 0 1400x900x24 &  DISPLAY=:99 .venv/bin/python packaging/screenshots.py

Builds a throwaway ledger with synthetic history and a few real chats with the offline demo,
opens the main window and the dialogs, and saves PNGs to ``resources/screenshots``.
"""

from __future__ import annotations

import socket
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from PySide6.QtCore import QEventLoop, QSettings, QTimer
from PySide6.QtWidgets import QApplication, QWidget

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "resources" / "screenshots"
sys.path.insert(0, str(ROOT))

import httpx2  # noqa: E402
import keyring  # noqa: E402

from app.core import keys  # noqa: E402
from app.core.ledger import alerts, balance, demo_data, entries  # noqa: E402
from app.core.storage.db import Database  # noqa: E402
from app.servers.gateway import Upstreams  # noqa: E402
from app.servers.gateway.config import EndpointConfig  # noqa: E402
from app.ui.context import AppContext  # noqa: E402
from app.ui.dialogs import BalanceDialog, KeysDialog, LocalEndpointDialog  # noqa: E402
from app.ui.local_endpoint import LocalEndpoint  # noqa: E402
from app.ui.main_window import MainWindow, app_icon  # noqa: E402
from tests.support.memory_keyring import MemoryKeyring  # noqa: E402


def settle(milliseconds: int = 600) -> None:
    """Let queued signals, background tasks and layouts finish."""
    loop = QEventLoop()
    QTimer.singleShot(milliseconds, loop.quit)
    loop.exec()


def wait_for(condition: Callable[[], bool], limit_ms: int = 30_000) -> None:
    waited = 0
    while not condition() and waited < limit_ms:
        settle(100)
        waited += 100


def shoot(widget: QWidget, name: str) -> None:
    settle()
    path = OUT / f"{name}.png"
    widget.grab().save(str(path))
    print(f"saved {path.relative_to(ROOT)}")


def sample_image(folder: Path) -> Path:
    """A small chart-like PNG to attach (drawn here, so nothing is downloaded)."""
    from PIL import Image, ImageDraw

    path = folder / "spend-chart.png"
    image = Image.new("RGB", (640, 400), "white")
    draw = ImageDraw.Draw(image)
    for index, height in enumerate((120, 200, 160, 280, 240, 330)):
        left = 40 + index * 100
        draw.rectangle((left, 380 - height, left + 60, 380), fill=(66, 133, 244))
    image.save(path)
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def spend_as_tools(endpoint: LocalEndpoint) -> None:
    """Turn the local endpoint on and send it a few requests as two tools would."""
    endpoint.apply(EndpointConfig(True, free_port(), Upstreams.demo()))
    wait_for(lambda: endpoint.state.running)
    url = endpoint.state.url
    token = keys.get_key("local-endpoint")
    assert url is not None and token is not None
    for tool, model, count in (("zed", "gpt-4o", 6), ("nightly-report.py", "gpt-4o-mini", 3)):
        for number in range(count):
            httpx2.post(
                f"{url}/v1/chat/completions",
                headers={"Authorization": f"Bearer {token.secret}", "X-Tallybook-Source": tool},
                json={
                    "model": model,
                    "messages": [{"role": "user", "content": "x " * 900 * (number + 1)}],
                },
                timeout=30,
            )
    settle(800)


def main() -> None:
    keyring.set_keyring(MemoryKeyring())  # shows a saved, masked key on any machine
    keys.set_key("openai", "example-key-not-real-7c2e")
    app = QApplication(sys.argv)
    app.setStyle("Fusion")
    app.setWindowIcon(app_icon())
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        db = Database(Path(folder) / "tallybook.sqlite3")
        with db.write() as session:
            demo_data.fill(session, 4000, 30)
            balance.configure(
                session,
                enabled=True,
                auto_refill_enabled=True,
                refill_amount=Decimal(5_000_000),
                refill_interval_value=1,
                refill_interval_unit="months",
            )
            entries.add_credits(session, Decimal(20_000_000))
            alerts.add_budget(session, "month", Decimal(30_000_000))
            alerts.add_budget(session, "day", Decimal(2_000_000), "model", "claude-sonnet-4-5")
            # Crossed by the first chat below, whatever the time of day: the alerts list's shot.
            alerts.add_budget(session, "day", Decimal(100), "model", "gpt-4o-mini")
            alerts.set_low_balance_threshold(session, Decimal(50_000_000))
        context = AppContext.create(db, app)
        window = MainWindow(
            context, QSettings(str(Path(folder) / "ui.ini"), QSettings.Format.IniFormat)
        )
        window.resize(1280, 800)  # the size the dashboard is laid out to fit
        window.show()
        workspace = window.workspace
        workspace.chat.set_selection("demo", "gpt-4o-mini")
        for text in (
            "What is a ledger, in two sentences?",
            "Show me a Python function that adds two Decimals exactly.",
        ):
            workspace.chat.composer.set_text(text)
            workspace.chat.composer.send_button.click()
            wait_for(lambda: not workspace.chat.is_busy())
            settle(800)
        chat = workspace.chat
        chat.messages()[-1].retry_button.click()  # a second attempt: the reply shows < 2/2 >
        wait_for(lambda: not chat.is_busy())
        settle(800)
        chat.composer.add_paths([sample_image(Path(folder))])
        chat.composer.set_text("And how would I test it with pytest? The chart is attached.")
        settle(1200)
        shoot(window, "main-window")
        wait_for(lambda: len(workspace.banner.alerts()) > 1)
        workspace.banner.more_button.click()
        settle(600)
        shoot(window, "alerts-list")
        workspace.banner.more_button.click()
        spend_as_tools(workspace.local_endpoint)
        workspace.show_page(workspace.dashboard)
        settle(1500)
        shoot(workspace.dashboard, "dashboard")
        sources = frozenset({"zed", "nightly-report.py"})
        workspace.dashboard.set_selection(replace(workspace.dashboard.selection(), sources=sources))
        settle(1500)
        shoot(workspace.dashboard, "dashboard-tools")
        workspace.dashboard.set_selection(
            replace(workspace.dashboard.selection(), sources=frozenset())
        )
        workspace.show_page(workspace.transactions)
        settle(1500)
        shoot(workspace.transactions, "transactions")
        workspace.show_page(workspace.splitter)
        for dialog_type, name in ((KeysDialog, "keys-dialog"), (BalanceDialog, "balance-panel")):
            dialog = dialog_type(context, window)
            dialog.show()
            settle(1200)
            shoot(dialog, name)
            dialog.close()
        endpoint_dialog = LocalEndpointDialog(context, workspace.local_endpoint, window)
        endpoint_dialog.show()
        settle(1200)
        shoot(endpoint_dialog, "local-endpoint")
        endpoint_dialog.close()
        window.close()
        context.close()
        db.close()


if __name__ == "__main__":
    main()
