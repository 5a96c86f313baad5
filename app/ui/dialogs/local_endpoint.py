"""Tools > Local endpoint: turn the metering endpoint on, see its address and token, copy a setup,
and give tools tokens of their own (:mod:`app.ui.dialogs.tool_tokens`).

The token is a secret (it spends the user's keys), so it is masked until asked for; the setup
text copied to the clipboard carries it, the one on screen only when it is shown. Where no key
store keeps the token, the dialog says that it changes at the next launch, and how to keep one.
The port is typed, and a value that is not a usable port is refused in words, never cut short.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import InvalidSetting
from app.core.providers import registry
from app.core.providers.registry import DEMO, Endpoint
from app.servers.gateway import DEFAULT_PORT, TokenKeeping, Upstreams, access_token, token_keeping
from app.servers.gateway.access import VARIABLE
from app.servers.gateway.config import EndpointConfig
from app.ui.context import AppContext
from app.ui.dialogs.tool_tokens import ToolTokensBox
from app.ui.dialogs.widgets import MessageLine, Tone, confirm, plain_button_box, push_button
from app.ui.errors import describe
from app.ui.local_endpoint import EndpointState, LocalEndpoint

INTRO = (
    "Scripts, editors and other tools can spend through Tallybook: point their OpenAI or "
    "Anthropic client at this address with the access token as its API key. Each call goes to "
    "the provider with your key from the key store, is checked against your balance, and lands "
    "on this ledger under the tool's name (filter by it on the Dashboard)."
)
SPEAKS_OPENAI = ("openai", "compatible", DEMO)
SPEAKS_ANTHROPIC = ("anthropic", DEMO)
LOWEST_PORT = 1024
FOR_THIS_RUN = (
    "No OS key store here: this token lasts until Tallybook closes, and tools set up with it "
    f"are refused after the next launch. To keep one, start Tallybook with {VARIABLE} set, e.g. "
    f"export {VARIABLE}=$(openssl rand -hex 32)"
)
FROM_ENVIRONMENT = f"This token is set by {VARIABLE}; change it there to renew it."


def parse_port(text: str) -> int:
    """The port typed in the dialog.

    Raises:
        InvalidSetting: not a whole number from 1024 to 65535, in words that say why (0 does
            not pick a free port here: tools could not find it again after a restart).
    """
    typed = text.strip()
    if not typed:
        raise InvalidSetting(f"Enter a port, e.g. {DEFAULT_PORT}.")
    if not typed.isascii() or not typed.isdigit():
        raise InvalidSetting(
            f"The port is a whole number from {LOWEST_PORT} to 65535, not {typed!r}."
        )
    port = int(typed)
    if port == 0:
        raise InvalidSetting(
            "Port 0 would pick another free port at every start, and tools could not find it; "
            f"choose a fixed one, e.g. {DEFAULT_PORT}."
        )
    if not LOWEST_PORT <= port <= 65535:
        raise InvalidSetting(
            f"The port must be from {LOWEST_PORT} to 65535 (lower ones need administrator "
            f"rights), not {port}."
        )
    return port


def setup_text(url: str, token: str) -> str:
    """Environment variables that point the official clients (and most tools) at the endpoint."""
    return (
        f"export OPENAI_BASE_URL={url}/v1\n"
        f"export OPENAI_API_KEY={token}\n"
        f"export ANTHROPIC_BASE_URL={url}\n"
        f"export ANTHROPIC_API_KEY={token}\n"
        "# A tool may name itself in the ledger: header X-Tallybook-Source: my-tool\n"
        "# (a tool token of its own, below, files its spend under the token's name)"
    )


class LocalEndpointDialog(QDialog):
    """On/off, port and upstreams (applied with Apply), the address, the token, a setup."""

    def __init__(
        self, context: AppContext, endpoint: LocalEndpoint, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Local endpoint")
        self._context = context
        self._endpoint = endpoint
        self._token = ""

        intro = QLabel(INTRO)
        intro.setWordWrap(True)
        self.enabled_box = QCheckBox("Run the local endpoint (and start it when Tallybook opens)")
        self.port_edit = QLineEdit(str(DEFAULT_PORT))
        self.port_edit.setAccessibleName("Port")
        self.port_edit.setMaximumWidth(self.port_edit.fontMetrics().horizontalAdvance("0") * 10)
        self.port_edit.setToolTip(f"A fixed port from {LOWEST_PORT} to 65535, which tools use")
        self.openai_combo = QComboBox()
        self.openai_combo.setAccessibleName("OpenAI-style requests go to")
        self.anthropic_combo = QComboBox()
        self.anthropic_combo.setAccessibleName("Anthropic requests go to")
        self.status = MessageLine()

        settings_box = QGroupBox("Endpoint")
        form = QFormLayout(settings_box)
        form.addRow(self.enabled_box)
        form.addRow("Port on 127.0.0.1:", self.port_edit)
        form.addRow("OpenAI-style requests go to:", self.openai_combo)
        form.addRow("Anthropic requests go to:", self.anthropic_combo)
        form.addRow(self.status)

        self.token_edit = QLineEdit()
        self.token_edit.setReadOnly(True)
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_edit.setAccessibleName("Access token")
        self.show_token_box = QCheckBox("Show")
        self.copy_token_button = push_button("Copy")
        self.renew_button = push_button("Renew…")
        self.renew_button.setToolTip("A new token; tools using the old one are refused from now on")
        token_row = QHBoxLayout()
        for widget in (self.token_edit, self.show_token_box, self.copy_token_button):
            token_row.addWidget(widget)
        token_row.addWidget(self.renew_button)
        self.keeping_line = MessageLine()
        self.setup_view = QPlainTextEdit()
        self.setup_view.setReadOnly(True)
        self.setup_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.setup_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setup_view.setFixedHeight(self.setup_view.fontMetrics().lineSpacing() * 7 + 12)
        self.copy_setup_button = push_button("Copy setup")
        access_box = QGroupBox("Access")
        access = QVBoxLayout(access_box)
        access.addWidget(QLabel("Access token (tools pass it as their API key):"))
        access.addLayout(token_row)
        access.addWidget(self.keeping_line)
        access.addWidget(QLabel("Setup for a terminal or a tool's settings:"))
        access.addWidget(self.setup_view)
        access.addWidget(self.copy_setup_button, 0, Qt.AlignmentFlag.AlignLeft)

        self.buttons = plain_button_box(
            QDialogButtonBox(
                QDialogButtonBox.StandardButton.Apply | QDialogButtonBox.StandardButton.Close
            )
        )
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(settings_box)
        layout.addWidget(access_box)
        self.tool_tokens = ToolTokensBox(context)
        layout.addWidget(self.tool_tokens)
        layout.addWidget(self.buttons)
        self.resize(620, self.sizeHint().height())

        self._connect()
        self._load()
        self._show_state(endpoint.state)

    def config(self) -> EndpointConfig:
        """The settings the widgets show.

        Raises:
            InvalidSetting: the port typed is not a usable one.
        """
        return EndpointConfig(
            enabled=self.enabled_box.isChecked(),
            port=parse_port(self.port_edit.text()),
            upstreams=Upstreams(
                self.openai_combo.currentData(), self.anthropic_combo.currentData()
            ),
        )

    def apply(self) -> None:
        """Save the settings; the endpoint starts, restarts or stops to match (a port that is
        not usable is refused here, and nothing changes)."""
        try:
            config = self.config()
        except InvalidSetting as error:
            self.status.show_message(str(error), Tone.ERROR)
            self.port_edit.setFocus()
            return
        self.status.show_message("Applying…")
        self._endpoint.apply(config)

    def event(self, event: QEvent) -> bool:
        """Grow to show every line when the layout changes: a wrapped message that appears later
        needs more height than the dialog opened with, and Qt does not grow a window for it."""
        handled = super().event(event)
        layout = self.layout()
        if event.type() == QEvent.Type.LayoutRequest and layout is not None:
            needed = layout.totalHeightForWidth(self.width())
            if needed > self.height():
                self.resize(self.width(), needed)
        return handled

    # --- private -------------------------------------------------------------------------------

    def _connect(self) -> None:
        apply_button = self.buttons.button(QDialogButtonBox.StandardButton.Apply)
        apply_button.clicked.connect(self.apply)
        self.buttons.rejected.connect(self.reject)
        self.show_token_box.toggled.connect(self._on_show_token_box_toggled)
        self.copy_token_button.clicked.connect(self._on_copy_token_button_clicked)
        self.copy_setup_button.clicked.connect(self._on_copy_setup_button_clicked)
        self.renew_button.clicked.connect(self._on_renew_button_clicked)
        self._endpoint.state_changed.connect(self._show_state)

    def _load(self) -> None:
        """The endpoints to offer and the token, read off the GUI thread."""

        def load() -> tuple[list[Endpoint], str, TokenKeeping]:
            with self._context.db.read() as session:
                return registry.all_endpoints(session), access_token(), token_keeping()

        self._context.reads.run(load, self._on_loaded, self._on_error)

    def _on_loaded(self, loaded: tuple[list[Endpoint], str, TokenKeeping]) -> None:
        known, self._token, keeping = loaded
        self._show_keeping(keeping)
        config = self._endpoint.state.config
        for combo, speaks, chosen in (
            (self.openai_combo, SPEAKS_OPENAI, config.upstreams.openai),
            (self.anthropic_combo, SPEAKS_ANTHROPIC, config.upstreams.anthropic),
        ):
            combo.clear()
            for endpoint in known:
                if endpoint.api in speaks:
                    combo.addItem(endpoint.name, endpoint.id)
            combo.setCurrentIndex(max(combo.findData(chosen), 0))
        self._show_token()

    def _show_state(self, state: EndpointState) -> None:
        self.enabled_box.setChecked(state.config.enabled)
        self.port_edit.setText(str(state.config.port))
        for combo, chosen in (
            (self.openai_combo, state.config.upstreams.openai),
            (self.anthropic_combo, state.config.upstreams.anthropic),
        ):
            if (index := combo.findData(chosen)) >= 0:
                combo.setCurrentIndex(index)
        if state.error:
            self.status.show_message(state.error, Tone.ERROR)
        elif state.url is not None:
            self.status.show_message(f"Running on {state.url}", Tone.SUCCESS)
        elif state.config.enabled:
            self.status.show_message("Starting…")
        else:
            self.status.show_message("Off: tools cannot reach Tallybook.")
        self._show_token()

    def _url(self) -> str:
        return self._endpoint.state.url or f"http://127.0.0.1:{self.port_edit.text().strip()}"

    def _show_keeping(self, keeping: TokenKeeping) -> None:
        """Say when the token will not outlive this run, or is not the dialog's to renew."""
        self.renew_button.setEnabled(keeping is not TokenKeeping.ENVIRONMENT)
        if keeping is TokenKeeping.THIS_RUN:
            self.keeping_line.show_message(FOR_THIS_RUN, Tone.ERROR)
        elif keeping is TokenKeeping.ENVIRONMENT:
            self.keeping_line.show_message(FROM_ENVIRONMENT)
        else:
            self.keeping_line.clear()

    def _show_token(self) -> None:
        self.token_edit.setText(self._token)
        shown = self._token if self.show_token_box.isChecked() else "<access token>"
        self.setup_view.setPlainText(setup_text(self._url(), shown))

    def _on_show_token_box_toggled(self, shown: bool) -> None:
        mode = QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password
        self.token_edit.setEchoMode(mode)
        self._show_token()

    def _on_copy_token_button_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self._token)
        self.status.show_message("Token copied.", Tone.SUCCESS)

    def _on_copy_setup_button_clicked(self) -> None:
        QGuiApplication.clipboard().setText(setup_text(self._url(), self._token))
        self.status.show_message("Setup copied, with the token.", Tone.SUCCESS)

    def _on_renew_button_clicked(self) -> None:
        text = "Tools using the current token will be refused until they get the new one."
        if confirm(self, "Renew the access token", text, "Renew"):
            self._endpoint.renew_token()
            self._context.reads.run(
                lambda: (access_token(), token_keeping()), self._on_token_loaded, self._on_error
            )

    def _on_token_loaded(self, loaded: tuple[str, TokenKeeping]) -> None:
        self._token, keeping = loaded
        self._show_keeping(keeping)
        self._show_token()
        self.status.show_message("A new token is in use.", Tone.SUCCESS)

    def _on_error(self, error: BaseException) -> None:
        self.status.show_message(describe(error), Tone.ERROR)
