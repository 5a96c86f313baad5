"""The keys dialog: which endpoint has a key, and entering, testing and removing keys.

Keys go to the OS key store and nowhere else (:mod:`app.core.keys`); the dialog shows only a
key's last four characters and clears the entry field as soon as a key is handed over. Key-store
calls can block (an unlock prompt), so they run on the task thread, in order with the database
reads and writes of the same change; key tests are network calls and go to the stream threads.
The key store is not the ledger, so a key saved or removed is announced to the ledger's
subscribers by hand (:meth:`Database.announce`), as the settings kind like an endpoint added; the
dialog re-reads on every settings change, except while a key is being typed into its row.
"""

from __future__ import annotations

import contextlib
import functools
import html
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.core import keys
from app.core.providers import registry
from app.core.providers.key_check import check_key
from app.core.providers.key_sources import KeyStatus, key_statuses, secret_to_test
from app.core.providers.registry import DEMO
from app.core.redaction import ENVIRONMENT_FALLBACK
from app.core.storage.changes import SETTINGS, Changes
from app.core.storage.db import Database
from app.ui.context import AppContext
from app.ui.dialogs import widgets
from app.ui.dialogs.widgets import Banner, MessageLine, Tone, plain_button_box, push_button
from app.ui.errors import describe
from app.ui.live import ChangeThrottle
from app.ui.operations import LatestLoad, alive

PROTOCOLS = (
    ("OpenAI-compatible (Chat Completions)", "compatible"),
    ("Anthropic Messages", "anthropic"),
    ("Google Gemini", "gemini"),
)
NO_STORE_TIP = "There is no OS key store on this computer, so keys cannot be saved here."
TEST_TIP = "List the provider's models with this key: costs nothing."


@dataclass(frozen=True)
class KeysState:
    """Everything the dialog shows, read in one go off the GUI thread."""

    statuses: tuple[KeyStatus, ...]
    store_problem: str | None
    """Why keys cannot be saved here (``None``: the key store works)."""


@dataclass(frozen=True)
class KeyChange:
    """A change made (a key saved or removed, an endpoint added or forgotten); its announcement
    brings the new state."""

    endpoint_id: str
    message: str


@dataclass(frozen=True)
class KeyTestResult:
    """How a key test went: the success sentence, or the error to describe."""

    endpoint_id: str
    text: str = ""
    error: BaseException | None = None


def load_state(db: Database) -> KeysState:
    """Read the endpoints and where each key comes from (runs on the task thread)."""
    with db.read() as session:
        found = registry.all_endpoints(session)
    return KeysState(tuple(key_statuses(found)), keys.store_problem())


@dataclass
class KeyRow:
    """The widgets of one endpoint's row (tests and screen readers find them here)."""

    status: KeyStatus
    name: QLabel
    state: QLabel
    enter_button: QPushButton
    test_button: QPushButton
    remove_button: QPushButton
    forget_button: QPushButton | None
    editor: QWidget
    key_edit: QLineEdit
    save_button: QPushButton
    result: MessageLine


class KeysDialog(QDialog):
    """One row per endpoint: where its key comes from, and Enter/Replace, Test, Remove.

    Signals:
        refreshed(): the rows show the key store's and the ledger's current state.
        key_tested(str): a key test for this endpoint id finished; its row shows the outcome.
    """

    refreshed = Signal()
    key_tested = Signal(str)

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self._state = LatestLoad(context, self)
        self.rows: dict[str, KeyRow] = {}
        self.state: KeysState | None = None
        self._results: dict[str, tuple[str, Tone]] = {}
        self._refused: str | None = None  # a save refused by the store, though the probe passed
        self._stale = False  # a change arrived while a key was being typed
        self._testing: set[str] = set()  # endpoint ids whose test has not answered yet
        self.setWindowTitle("API keys and endpoints")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(880, 620)

        intro = QLabel(
            "Keys are kept in your operating system's key store, never in the ledger file. "
            "Only the last four characters of a saved key are ever shown."
        )
        intro.setWordWrap(True)
        self.banner = Banner()
        self.rows_area = QScrollArea()
        self.rows_area.setWidgetResizable(True)
        self.rows_area.setFrameShape(QFrame.Shape.NoFrame)
        self.rows_area.setWidget(QLabel("Reading keys…"))
        self.message = MessageLine()
        self.add_form = self._build_add_form()

        buttons = plain_button_box(QDialogButtonBox(QDialogButtonBox.StandardButton.Close))
        self.add_button = buttons.addButton("Add endpoint…", QDialogButtonBox.ButtonRole.ActionRole)
        self.add_button.setAutoDefault(False)
        self.add_button.setToolTip("A local server, a gateway or another vendor's API")
        self.add_button.clicked.connect(self._on_add_button_clicked)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.banner)
        layout.addWidget(self.rows_area, 1)
        layout.addWidget(self.add_form)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        ChangeThrottle(context.events.changed, SETTINGS, self._on_changes, self)
        self.refresh()

    def refresh(self) -> None:
        """Re-read endpoints and key sources in the background."""
        self._stale = False
        db = self.context.db
        self._state.start(lambda: load_state(db), self._on_load_finished, self._on_load_failed)

    # --- building --------------------------------------------------------------------------

    def _build_add_form(self) -> QGroupBox:
        box = QGroupBox("New endpoint")
        self.endpoint_name = QLineEdit()
        self.endpoint_name.setPlaceholderText("e.g. Work gateway")
        self.endpoint_url = QLineEdit()
        self.endpoint_url.setPlaceholderText("e.g. api.example.com/v1 or http://127.0.0.1:8080/v1")
        self.endpoint_url.setToolTip(
            "For OpenAI-compatible servers, the part before /chat/completions. Without a scheme,"
            " https:// is used (http:// for localhost)."
        )
        self.endpoint_protocol = QComboBox()
        for label, api in PROTOCOLS:
            self.endpoint_protocol.addItem(label, api)
        self.endpoint_needs_key = QCheckBox("Needs an API key")
        self.endpoint_needs_key.setChecked(True)
        self.add_message = MessageLine()
        save = push_button("Add endpoint")
        save.clicked.connect(self._on_add_save_clicked)
        cancel = push_button("Cancel")
        cancel.clicked.connect(self._on_add_cancel_clicked)
        self.add_save_button = save
        for field in (self.endpoint_name, self.endpoint_url):
            field.returnPressed.connect(self._on_add_save_clicked)
        actions = QHBoxLayout()
        actions.addStretch(1)
        actions.addWidget(save)
        actions.addWidget(cancel)
        form = QFormLayout(box)
        form.addRow("Name:", self.endpoint_name)
        form.addRow("Base URL:", self.endpoint_url)
        form.addRow("Protocol:", self.endpoint_protocol)
        form.addRow("", self.endpoint_needs_key)
        form.addRow(self.add_message)
        form.addRow(actions)
        box.hide()
        return box

    def _build_rows(self, state: KeysState) -> QWidget:
        page = QWidget()
        grid = QGridLayout(page)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(4)
        grid.setColumnStretch(1, 1)
        self.rows = {}
        line = 0
        for status in state.statuses:
            if line:
                separator = QFrame()
                separator.setFrameShape(QFrame.Shape.HLine)
                separator.setFrameShadow(QFrame.Shadow.Sunken)
                grid.addWidget(separator, line, 0, 1, 6)
                line += 1
            row = self._build_row(status, state)
            self.rows[status.endpoint.id] = row
            grid.addWidget(row.name, line, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(row.state, line, 1)
            grid.addWidget(row.enter_button, line, 2)
            grid.addWidget(row.test_button, line, 3)
            grid.addWidget(row.remove_button, line, 4)
            if row.forget_button is not None:
                grid.addWidget(row.forget_button, line, 5)
            grid.addWidget(row.editor, line + 1, 1, 1, 5)
            grid.addWidget(row.result, line + 2, 1, 1, 5)
            line += 3
        grid.setRowStretch(line, 1)
        return page

    def _build_row(self, status: KeyStatus, state: KeysState) -> KeyRow:
        endpoint = status.endpoint
        where = "built in, on this computer" if endpoint.api == DEMO else endpoint.base_url
        kind = "" if endpoint.builtin else " · yours"
        name = QLabel(
            f"<b>{html.escape(endpoint.name)}</b><br><small>{html.escape(where)}{kind}</small>"
        )
        name.setTextFormat(Qt.TextFormat.RichText)
        name.setToolTip(f"Key store entry and transactions use the id “{endpoint.id}”.")
        shown = QLabel(status.text)
        shown.setWordWrap(True)
        if status.source is not None and not status.saved:
            shown.setToolTip(
                "Read from the environment; Tallybook cannot change it. "
                "A key saved in the key store is used first."
            )

        enter = push_button("Replace…" if status.saved else "Enter key…")
        test = push_button("Test")
        remove = push_button("Remove key")
        enter.setVisible(status.needs_key)
        remove.setVisible(status.saved)
        problem = self._refused or state.store_problem
        if problem is not None:
            enter.setEnabled(False)
            enter.setToolTip(NO_STORE_TIP)
        forget = None
        if not endpoint.builtin:
            forget = push_button("Forget endpoint")
            forget.clicked.connect(functools.partial(self._on_forget_button_clicked, endpoint.id))

        editor = QWidget()
        key_edit = QLineEdit()
        key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        key_edit.setPlaceholderText(f"Paste the {endpoint.name} API key")
        key_edit.setAccessibleName(f"{endpoint.name} API key")
        key_edit.returnPressed.connect(functools.partial(self._on_save_button_clicked, endpoint.id))
        save = push_button("Save")
        cancel = push_button("Cancel")
        editor_layout = QHBoxLayout(editor)
        editor_layout.setContentsMargins(0, 0, 0, 0)
        editor_layout.addWidget(key_edit, 1)
        editor_layout.addWidget(save)
        editor_layout.addWidget(cancel)
        editor.hide()
        result = MessageLine(one_line=True)  # a result never pushes the rows below it down
        if endpoint.id in self._results:
            result.show_message(*self._results[endpoint.id])

        enter.clicked.connect(functools.partial(self._on_enter_button_clicked, endpoint.id))
        test.clicked.connect(functools.partial(self._on_test_button_clicked, endpoint.id))
        remove.clicked.connect(functools.partial(self._on_remove_button_clicked, endpoint.id))
        save.clicked.connect(functools.partial(self._on_save_button_clicked, endpoint.id))
        cancel.clicked.connect(functools.partial(self._on_cancel_button_clicked, endpoint.id))
        key_edit.textChanged.connect(functools.partial(self._on_key_edit_changed, endpoint.id))
        row = KeyRow(
            status, name, shown, enter, test, remove, forget, editor, key_edit, save, result
        )
        self._offer_test(row)
        return row

    def _offer_test(self, row: KeyRow) -> None:
        """Test is offered only with something to test: a key it has, or one being typed
        (an endpoint that needs no key is tested as it is: does it answer?), and not twice."""
        status = row.status
        typed = bool(row.key_edit.text().strip())
        testable = not status.needs_key or status.source is not None or typed
        row.test_button.setEnabled(testable and status.endpoint.id not in self._testing)
        if testable:
            row.test_button.setToolTip(TEST_TIP)
            return
        no_store = (self._refused or (self.state and self.state.store_problem)) is not None
        variables = " or ".join(ENVIRONMENT_FALLBACK.get(status.endpoint.id, ()))
        if no_store and variables:
            tip = f"No key to test: set {variables} and restart Tallybook."
        elif no_store:
            tip = "No key to test, and without a key store none can be entered here."
        else:
            tip = "No key to test yet: enter one first (a typed key can be tested before saving)."
        row.test_button.setToolTip(tip)

    # --- loading ---------------------------------------------------------------------------

    def _apply(self, state: KeysState) -> None:
        self.state = state
        problem = self._refused or state.store_problem
        if problem is not None:
            self.banner.show_text(problem)
        else:
            self.banner.hide()
        self.rows_area.setWidget(self._build_rows(state))
        self.refreshed.emit()

    def _on_load_finished(self, state: KeysState) -> None:
        self._apply(state)

    def _on_load_failed(self, error: BaseException) -> None:
        self.message.show_error(describe(error))

    def _on_changes(self, _changes: Changes) -> None:
        typing = any(
            not row.editor.isHidden() and row.editor.isEnabled() for row in self.rows.values()
        )
        if typing:  # rebuilding the rows would throw the half-typed key away
            self._stale = True
        else:
            self.refresh()

    # --- entering, saving and removing keys ------------------------------------------------

    def _on_enter_button_clicked(self, endpoint_id: str) -> None:
        row = self.rows[endpoint_id]
        row.editor.show()
        row.key_edit.setFocus()

    def _on_cancel_button_clicked(self, endpoint_id: str) -> None:
        row = self.rows[endpoint_id]
        row.key_edit.clear()
        row.editor.hide()
        if self._stale:
            self.refresh()

    def _on_key_edit_changed(self, endpoint_id: str, _text: str) -> None:
        row = self.rows.get(endpoint_id)
        if row is not None:
            self._offer_test(row)

    def _on_save_button_clicked(self, endpoint_id: str) -> None:
        row = self.rows[endpoint_id]
        secret = row.key_edit.text().strip()
        if not secret:
            row.result.show_error("Paste the key first.")
            return
        row.key_edit.clear()  # the secret stays in the widget no longer than needed
        row.editor.setEnabled(False)
        name = row.status.endpoint.name
        db = self.context.db

        def save() -> KeyChange:
            keys.set_key(endpoint_id, secret)
            db.announce(SETTINGS)
            message = f"The {name} key is saved in the key store ({keys.mask(secret)})."
            return KeyChange(endpoint_id, message)

        self._run_change(save)

    def _on_remove_button_clicked(self, endpoint_id: str) -> None:
        name = self.rows[endpoint_id].status.endpoint.name
        if not widgets.confirm(
            self,
            "Remove key",
            f"Remove the {name} key from the key store? Requests to {name} will need a key "
            "again (an environment variable, if set, is used instead).",
            "Remove key",
        ):
            return
        db = self.context.db

        def remove() -> KeyChange:
            keys.delete_key(endpoint_id)
            db.announce(SETTINGS)
            return KeyChange(endpoint_id, f"The {name} key was removed.")

        self._run_change(remove)

    def _run_change(self, change: Callable[[], KeyChange]) -> None:
        self.context.tasks.run(
            change, alive(self, self._on_change_finished), alive(self, self._on_change_failed)
        )

    def _on_change_finished(self, change: KeyChange) -> None:
        self._results.pop(change.endpoint_id, None)  # before the announced state is shown
        self.message.show_success(change.message)

    def _on_change_failed(self, error: BaseException) -> None:
        if isinstance(error, keys.KeyStoreUnavailable):
            self._refused = str(error)
        self.message.show_error(describe(error))
        self.refresh()

    # --- testing ---------------------------------------------------------------------------

    def _on_test_button_clicked(self, endpoint_id: str) -> None:
        row = self.rows[endpoint_id]
        endpoint = row.status.endpoint
        typed = row.key_edit.text().strip() if row.editor.isVisible() else ""
        self._testing.add(endpoint_id)
        row.test_button.setEnabled(False)
        row.result.show_message(
            "Testing the key you typed (not saved yet)…" if typed else "Testing…"
        )

        def test() -> KeyTestResult:
            try:
                return KeyTestResult(
                    endpoint.id, check_key(endpoint, secret_to_test(endpoint, typed))
                )
            except Exception as error:  # the outcome of a test; shown in its row, not dropped
                return KeyTestResult(endpoint.id, error=error)

        self.context.streams.run(test, self._on_test_finished)

    def _on_test_finished(self, outcome: KeyTestResult) -> None:
        if outcome.error is None:
            shown = (outcome.text, Tone.SUCCESS)
        else:
            shown = (describe(outcome.error), Tone.ERROR)
        self._results[outcome.endpoint_id] = shown
        row = self.rows.get(outcome.endpoint_id)
        self._testing.discard(outcome.endpoint_id)
        if row is not None:
            row.result.show_message(*shown)
            self._offer_test(row)
        self.key_tested.emit(outcome.endpoint_id)

    # --- endpoints -------------------------------------------------------------------------

    def _on_add_button_clicked(self) -> None:
        self.add_form.show()
        self.add_button.setEnabled(False)
        self.endpoint_name.setFocus()

    def _on_add_cancel_clicked(self) -> None:
        self._reset_add_form()

    def _on_add_save_clicked(self) -> None:
        name = self.endpoint_name.text()
        url = self.endpoint_url.text()
        api: str = self.endpoint_protocol.currentData()
        needs_key = self.endpoint_needs_key.isChecked()
        self.add_save_button.setEnabled(False)
        db = self.context.db

        def add() -> KeyChange:
            completed = registry.complete_base_url(url)[1]
            with db.write() as session:
                endpoint = registry.add_endpoint(session, name, url, api=api, needs_key=needs_key)
            scheme = f" No scheme was given: it uses {endpoint.base_url}." if completed else ""
            hint = " Enter its key in its row." if needs_key else ""
            return KeyChange(endpoint.id, f"Added {endpoint.name}.{scheme}{hint}")

        self.context.tasks.run(
            add, alive(self, self._on_add_finished), alive(self, self._on_add_failed)
        )

    def _on_add_finished(self, change: KeyChange) -> None:
        self._reset_add_form()
        self._on_change_finished(change)

    def _on_add_failed(self, error: BaseException) -> None:
        self.add_save_button.setEnabled(True)
        self.add_message.show_error(describe(error))

    def _reset_add_form(self) -> None:
        self.endpoint_name.clear()
        self.endpoint_url.clear()
        self.endpoint_protocol.setCurrentIndex(0)
        self.endpoint_needs_key.setChecked(True)
        self.add_message.clear()
        self.add_save_button.setEnabled(True)
        self.add_form.hide()
        self.add_button.setEnabled(True)

    def _on_forget_button_clicked(self, endpoint_id: str) -> None:
        name = self.rows[endpoint_id].status.endpoint.name
        if not widgets.confirm(
            self,
            "Forget endpoint",
            f"Forget the endpoint {name}? Its past transactions stay in the ledger; its key, "
            "if saved, is removed from the key store.",
            "Forget endpoint",
        ):
            return
        db = self.context.db

        def forget() -> KeyChange:
            with db.write() as session:
                registry.remove_endpoint(session, endpoint_id)
            with contextlib.suppress(keys.KeyStoreUnavailable):
                keys.delete_key(endpoint_id)  # without a store, no key of it was ever saved
            return KeyChange(endpoint_id, f"Forgot the endpoint {name}.")

        self._run_change(forget)
