"""What the main window holds once the ledger is open: conversations, chat, tabs, balance, alerts.

The window's frame (:mod:`app.ui.main_window`) is painted first; this module, and the core it
imports, load meanwhile and then fill it. All ledger reads and writes run on the context's task
runners; replies stream on their own threads. After each reply the alerts are checked once
(budgets, low balance, anomalies) and any new one is shown as a banner and a desktop
notification, never a dialog. The status-bar balance follows every change to the ledger,
whoever made it, and a banner whose cause is gone (a top-up from the CLI lifted the low
balance) is taken down.
"""

from __future__ import annotations

from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QInputDialog,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app import __version__
from app.core import money
from app.core.clock import utcnow
from app.core.errors import InvalidAmount
from app.core.ledger import alerts, balance, spend
from app.core.ledger.alerts import Alert
from app.core.metering.client import Metered
from app.core.providers import counts
from app.core.reconcile import daily
from app.core.storage.changes import LEDGER, SETTINGS, Changes
from app.core.types import ConversationId
from app.servers.gateway import Settlement
from app.ui.alerts import AlertBanner, TrayNotifier
from app.ui.chat import ChatView
from app.ui.context import AppContext
from app.ui.conversation_list import ConversationListPanel
from app.ui.errors import describe
from app.ui.lazy_page import LazyPage
from app.ui.live import ChangeThrottle
from app.ui.local_endpoint import EndpointState, LocalEndpoint
from app.ui.operations import LatestLoad, alive, run_write

if TYPE_CHECKING:
    from app.ui.dashboard import DashboardView
    from app.ui.main_window import MainWindow
    from app.ui.transactions import TransactionsView

DEFAULT_CONFIRM_ABOVE = Decimal(100_000)
"""Ask before sending a message quoted above $0.10 (the user can change it in Settings)."""
DAILY_CHECK_MS = 3_600_000
"""How often the window asks whether a provider's daily check is due (hourly)."""


class Workspace(QWidget):
    """Conversations, chat, dashboard and transactions tabs, balance and alerts, in a window.

    Fills the window's menus and status bar too, and saves its own layout when the window
    closes (:meth:`shut_down`).

    Signals:
        alerts_checked(object): the alerts raised after a reply (a list, often empty).
    """

    alerts_checked = Signal(object)

    def __init__(self, window: MainWindow, context: AppContext, settings: QSettings) -> None:
        super().__init__()
        self._frame = window
        self.context = context
        context.reads.hold()  # every load below starts once the workspace is on screen
        window.when_painted(context.reads.release)
        self._balance = LatestLoad(context, self)
        self._settings = settings

        self.banner = AlertBanner()
        self.conversations = ConversationListPanel(context)
        self.chat = ChatView(context)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.conversations)
        self.splitter.addWidget(self.chat)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([280, 900])
        self._dashboard_page = LazyPage(self._build_dashboard, "Opening the dashboard…")
        self._transactions_page = LazyPage(self._build_transactions, "Opening the transactions…")
        self.pages = QTabWidget()
        self.pages.setDocumentMode(True)
        self.pages.addTab(self.splitter, "Chat")
        self.pages.addTab(self._dashboard_page, "Dashboard")
        self.pages.addTab(self._transactions_page, "Transactions")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 0)
        layout.addWidget(self.banner)
        layout.addWidget(self.pages, 1)

        self.balance_button = QPushButton("Balance …")
        self.balance_button.setFlat(True)
        self.balance_button.setToolTip("Balance, top-ups, auto-refill and budgets")
        window.statusBar().addPermanentWidget(self.balance_button)
        self.tray = TrayNotifier(window.windowIcon(), self)
        self.local_endpoint = LocalEndpoint(context, self)
        self.endpoint_button = QPushButton()
        self.endpoint_button.setFlat(True)
        self.endpoint_button.setToolTip("Tools spend through it; click for its address and token")
        self.endpoint_button.hide()
        window.statusBar().addPermanentWidget(self.endpoint_button)

        self._build_menus()
        self._connect()
        self._restore_settings()
        self._load_preferences()
        self.refresh_balance()
        self.local_endpoint.start_if_enabled()
        self.daily_timer = QTimer(self, interval=DAILY_CHECK_MS)  # first an hour after launch
        self.daily_timer.timeout.connect(self._on_daily_timer_timeout)
        self.daily_timer.start()

    # --- public -------------------------------------------------------------------------------

    @property
    def dashboard(self) -> DashboardView:
        """The dashboard page's view (built when first shown or asked for)."""
        return self._dashboard_page.view()

    @property
    def transactions(self) -> TransactionsView:
        """The transactions page's view (built when first shown or asked for)."""
        return self._transactions_page.view()

    def show_page(self, view: QWidget) -> None:
        """Bring the tab holding ``view`` (the chat's splitter, the dashboard, ...) to the front."""
        page = view.parentWidget() if self.pages.indexOf(view) < 0 else view
        if page is not None:
            self.pages.setCurrentWidget(page)

    def refresh_balance(self) -> None:
        """Re-read the balance for the status bar (in the background)."""

        def load() -> tuple[balance.BalanceView, spend.RecentSpend]:
            with self.context.db.read() as session:
                return balance.get_balance(session), spend.recent(session, utcnow().date())

        self._balance.start(load, self._on_balance_loaded, self._show_error)

    def new_conversation(self) -> None:
        """Open a fresh conversation (saved on its first message)."""
        self.conversations.select(None)
        self.chat.open_conversation(None)
        self.chat.focus_composer()

    # --- events -------------------------------------------------------------------------------

    def shut_down(self) -> None:
        """The window is closing: stop the reply and the local endpoint, keep the layout."""
        self.chat.stop()
        self.local_endpoint.stop()
        self._save_settings()
        self.tray.close()

    def _connect(self) -> None:
        events = self.context.events
        self.conversations.conversation_selected.connect(
            self._on_conversations_conversation_selected
        )
        self.conversations.new_requested.connect(self.new_conversation)
        self.chat.conversation_created.connect(self._on_chat_conversation_created)
        self.chat.reply_finished.connect(self._on_chat_reply_finished)
        self.chat.keys_requested.connect(self.open_keys)
        self.balance_button.clicked.connect(self.open_balance)
        self.banner.balance_requested.connect(self.open_balance)
        ChangeThrottle(events.changed, LEDGER | SETTINGS, self._on_changes, self)
        events.alert.connect(self._on_events_alert)
        self.endpoint_button.clicked.connect(self.open_local_endpoint)
        self.local_endpoint.state_changed.connect(self._on_local_endpoint_state_changed)
        self.local_endpoint.settled.connect(self._on_local_endpoint_settled)

    def _on_conversations_conversation_selected(self, conversation_id: int) -> None:
        self.chat.open_conversation(ConversationId(conversation_id))  # a Qt signal's int

    # The pages and dialogs the window opens on demand are imported on demand too: pyqtgraph and
    # numpy alone are half a second of a cold start.

    def _build_dashboard(self) -> DashboardView:
        from app.ui.dashboard import DashboardView

        dashboard = DashboardView(self.context)
        dashboard.conversation_activated.connect(self._on_dashboard_conversation_activated)
        return dashboard

    def _build_transactions(self) -> TransactionsView:
        from app.ui.transactions import TransactionsView

        return TransactionsView(self.context)

    def _on_dashboard_conversation_activated(self, conversation_id: int) -> None:
        self.pages.setCurrentWidget(self.splitter)
        self.conversations.select(conversation_id)
        self.chat.open_conversation(ConversationId(conversation_id))

    def _on_chat_conversation_created(self, conversation_id: int) -> None:
        self.conversations.select(conversation_id)  # listed once its commit is announced

    def _on_chat_reply_finished(self, metered: Metered) -> None:
        """Show what the charge made true (the metering client raised each alert once)."""
        for alert in metered.alerts:
            self.context.events.alert.emit(alert)
        self.alerts_checked.emit(list(metered.alerts))

    def _on_events_alert(self, alert: Alert) -> None:
        self.banner.show_alert(alert)
        self.tray.notify(alert)

    def _on_daily_timer_timeout(self) -> None:
        """Reconcile each provider whose opt-in daily check is due (over the network, so on
        the read pool); what it raises is shown like any other alert."""
        db = self.context.db
        self.context.reads.run(
            lambda: daily.run_checks(db, utcnow()),
            alive(self, self._on_daily_checked),
            alive(self, self._show_error),
        )

    def _on_daily_checked(self, raised: list[Alert]) -> None:
        for alert in raised:
            self.context.events.alert.emit(alert)

    def _on_changes(self, changes: Changes) -> None:
        if changes.ledger:
            self.refresh_balance()
        shown = self.banner.keys()
        if not shown:
            return

        def load() -> set[str]:
            with self.context.db.read() as session:
                return alerts.standing(session, shown)

        self.context.reads.run(
            load,
            alive(self, lambda standing: self.banner.withdraw(shown - standing)),
            alive(self, self._show_error),
        )

    def _on_local_endpoint_state_changed(self, state: EndpointState) -> None:
        self.endpoint_button.setVisible(state.running or bool(state.error))
        if state.url is not None:
            self.endpoint_button.setText(f"Local endpoint {state.url.removeprefix('http://')}")
        elif state.error:
            self.endpoint_button.setText("Local endpoint failed to start")
            self._frame.statusBar().showMessage(state.error, 10_000)

    def _on_local_endpoint_settled(self, done: Settlement) -> None:
        self._frame.statusBar().showMessage(
            f"{done.source} spent {money.format_usd(done.metered.cost)} through the local endpoint",
            5_000,
        )

    def _on_balance_loaded(self, loaded: tuple[balance.BalanceView, spend.RecentSpend]) -> None:
        view, recent = loaded
        today, month = money.format_usd(recent.today), money.format_usd(recent.month)
        spent = f"today {today} · this month {month}"
        if view.enabled:
            self.balance_button.setText(f"Balance {money.format_usd(view.credits)}")
            self.balance_button.setToolTip(
                f"{money.format_usd_exact(view.credits)} "
                f"({money.format_credits(view.credits)} credits); spent {spent}. "
                "Click for top-ups, auto-refill and budgets."
            )
        else:  # tracking only: a "balance" the user never set would mean nothing
            self.balance_button.setText(spent[0].upper() + spent[1:])
            self.balance_button.setToolTip(
                f"Spend is tracked, never refused (today {money.format_usd_exact(recent.today)},"
                f" this month {money.format_usd_exact(recent.month)}). Click to keep a balance"
                " that requests are checked against, and for budgets."
            )

    def _show_error(self, error: BaseException) -> None:
        self._frame.statusBar().showMessage(describe(error), 10_000)

    # --- dialogs ------------------------------------------------------------------------------

    def open_keys(self) -> None:
        """The keys dialog (modal: it edits secrets)."""
        from app.ui.dialogs import KeysDialog

        KeysDialog(self.context, self).exec()

    def open_balance(self) -> None:
        """Balance, top-ups, auto-refill, budgets, low-balance threshold."""
        from app.ui.dialogs import BalanceDialog

        BalanceDialog(self.context, self).exec()

    def open_local_endpoint(self) -> None:
        """On/off, port, where requests go, the address and access token for tools."""
        from app.ui.dialogs import LocalEndpointDialog

        LocalEndpointDialog(self.context, self.local_endpoint, self).exec()

    def open_prices(self) -> None:
        """Shipped rates and the user's overrides."""
        from app.ui.dialogs import PricesDialog

        PricesDialog(self.context, self).exec()

    def open_reconcile(self) -> None:
        """The ledger beside what a provider billed, in a window of its own (not modal)."""
        from app.ui.reconcile import show_window

        show_window(self.context, self)

    def _about(self) -> None:
        QMessageBox.about(
            self,
            "About Tallybook",
            f"<b>Tallybook {__version__}</b><p>A personal LLM spend tracker: chat with your own "
            f"keys, every token on an exact ledger.</p><p>Ledger: {self.context.db.path}</p>",
        )

    # --- menus and settings -------------------------------------------------------------------

    def _build_menus(self) -> None:
        menus = self._frame.menus
        file_menu = menus.file
        self._action(
            file_menu, "&New conversation", self.new_conversation, QKeySequence.StandardKey.New
        )
        self._action(file_menu, "&Export transactions…", self._export_all, "Ctrl+E")
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self._frame.close, QKeySequence.StandardKey.Quit)
        view_menu = menus.view
        for index, name in enumerate(("&Chat", "&Dashboard", "&Transactions")):
            self._action(
                view_menu, name, partial(self.pages.setCurrentIndex, index), f"Ctrl+{index + 1}"
            )
        edit_menu = menus.edit
        self._action(
            edit_menu, "&Find conversation", self._focus_search, QKeySequence.StandardKey.Find
        )
        chat_menu = menus.chat
        stop = self._action(chat_menu, "&Stop reply", self.chat.stop, "Esc")
        stop.setEnabled(False)  # only while a reply streams
        self.chat.busy_changed.connect(stop.setEnabled)
        self._action(chat_menu, "Rename conversation…", self.conversations.rename_current, "F2")
        self._action(chat_menu, "Delete conversation…", self.conversations.delete_current)
        chat_menu.addSeparator()
        self._action(chat_menu, "Ask before expensive messages…", self._ask_confirm_threshold)
        self.provider_counts_action = self._action(
            chat_menu, "Let Anthropic and Gemini count drafts", self._on_provider_counts_toggled
        )
        self.provider_counts_action.setCheckable(True)
        self.provider_counts_action.setToolTip(
            "Their tokenizers are not public: with this on, the draft is sent to their free "
            "count endpoint for an exact figure while you type."
        )
        tools = menus.tools
        self._action(tools, "&Keys and endpoints…", self.open_keys, "Ctrl+K")
        self._action(tools, "&Balance and budgets…", self.open_balance, "Ctrl+B")
        self._action(tools, "&Prices…", self.open_prices)
        self._action(tools, "&Reconcile…", self.open_reconcile)
        tools.addSeparator()
        self._action(tools, "&Local endpoint for other tools…", self.open_local_endpoint)
        help_menu = menus.help
        self._action(help_menu, "&About Tallybook", self._about)

    def _action(self, menu: Any, text: str, slot: Any, keys: Any = None) -> QAction:
        action = QAction(text, self)
        if keys is not None:
            action.setShortcut(QKeySequence(keys))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _ask_confirm_threshold(self) -> None:
        dollars = float(money.credits_to_usd(self._confirm_threshold() or Decimal(0)))
        value, ok = QInputDialog.getDouble(
            self,
            "Ask before expensive messages",
            "Ask before sending a message whose prompt costs more than (USD, 0 = never ask):",
            dollars,
            0.0,
            1000.0,
            2,
        )
        if not ok:
            return
        credits = money.parse_usd(f"{value:.2f}")
        self._settings.setValue("chat/confirm_above", f"{credits}" if credits else "")
        self.chat.set_confirm_threshold(credits or None)

    def _on_provider_counts_toggled(self, allowed: bool) -> None:
        run_write(
            self.context,
            self,
            lambda session: counts.set_allowed(session, allowed),
            on_failed=self._show_error,
        )

    def _load_preferences(self) -> None:
        def load() -> bool:
            with self.context.db.read() as session:
                return counts.allowed(session)

        self.context.reads.run(load, self.provider_counts_action.setChecked, self._show_error)

    def _export_all(self) -> None:
        from app.ui.transactions import export_all

        export_all(self.context, self)

    def _focus_search(self) -> None:
        self.conversations.search.setFocus()
        self.conversations.search.selectAll()

    def _restore_settings(self) -> None:
        splitter = self._settings.value("window/splitter")
        if isinstance(splitter, QByteArray):
            self.splitter.restoreState(splitter)
        page = str(self._settings.value("window/page", 0))
        self.pages.setCurrentIndex(int(page) if page.isdigit() else 0)
        endpoint, model = self._settings.value("chat/endpoint"), self._settings.value("chat/model")
        if isinstance(endpoint, str) and isinstance(model, str) and endpoint and model:
            self.chat.set_selection(endpoint, model)
        self.chat.set_confirm_threshold(self._confirm_threshold())

    def _confirm_threshold(self) -> Decimal | None:
        """The stored "ask above" amount; a hand-edited value that is not one means the default."""
        stored = str(self._settings.value("chat/confirm_above", f"{DEFAULT_CONFIRM_ABOVE}") or "")
        if not stored:
            return None
        try:
            return money.parse_credits(stored) or None
        except InvalidAmount:
            return DEFAULT_CONFIRM_ABOVE

    def _save_settings(self) -> None:
        self._settings.setValue("window/splitter", self.splitter.saveState())
        self._settings.setValue("window/page", self.pages.currentIndex())
        endpoint, model = self.chat.selection()
        self._settings.setValue("chat/endpoint", endpoint)
        self._settings.setValue("chat/model", model)
