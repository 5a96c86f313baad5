"""The Local endpoint dialog's tool tokens: one per tool, made, shown once to copy, revoked.

A token's secret exists on screen only in the moment after it is made (it is kept in the OS key
store and never read back for display); the list shows names and dates. Tokens are made and
revoked on the task thread (a key store call and a write), and the running endpoint sees the
change on its next request, with nothing to restart.
"""

from __future__ import annotations

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core import keys
from app.servers.gateway import tokens
from app.servers.gateway.tokens import IssuedToken, ToolToken
from app.ui.context import AppContext
from app.ui.dialogs.widgets import MessageLine, Tone, confirm, push_button
from app.ui.errors import describe

EXPLAINED = (
    "Give each tool its own token to see its spend under its name: requests made with it are "
    "filed under that name, whatever the tool's X-Tallybook-Source header or User-Agent says. "
    "Revoking a token refuses that tool at once; the others keep working."
)
NO_KEY_STORE = (
    "Tool tokens are kept only in the OS key store, which is not usable here (on Linux: GNOME "
    "Keyring or KWallet); tools can share the access token above meanwhile."
)


class ToolTokensBox(QGroupBox):
    """The working tool tokens, a name field to make one, and Revoke."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__("Tool tokens", parent)
        self._context = context
        explained = QLabel(EXPLAINED)
        explained.setWordWrap(True)
        self.token_list = QTreeWidget()
        self.token_list.setHeaderLabels(["Tool", "Made (UTC)"])
        self.token_list.setRootIsDecorated(False)
        self.token_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.token_list.setAccessibleName("Tool tokens")
        rows = self.token_list.fontMetrics().height() + 8
        self.token_list.setFixedHeight(rows * 4 + self.token_list.header().sizeHint().height())
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("Tool name, e.g. zed or nightly-report.py")
        self.name_edit.setAccessibleName("Tool name")
        self.create_button = push_button("Create token")
        self.revoke_button = push_button("Revoke…")
        self.revoke_button.setEnabled(False)
        self.new_token_edit = QLineEdit()
        self.new_token_edit.setReadOnly(True)
        self.new_token_edit.setAccessibleName("New tool token")
        self.copy_new_button = push_button("Copy")
        self.message = MessageLine()

        make_row = QHBoxLayout()
        make_row.addWidget(self.name_edit, 1)
        make_row.addWidget(self.create_button)
        make_row.addWidget(self.revoke_button)
        self._new_row = QWidget()
        new_row = QHBoxLayout(self._new_row)
        new_row.setContentsMargins(0, 0, 0, 0)
        new_row.addWidget(self.new_token_edit, 1)
        new_row.addWidget(self.copy_new_button)
        self._new_row.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(explained)
        layout.addWidget(self.token_list)
        layout.addLayout(make_row)
        layout.addWidget(self._new_row)
        layout.addWidget(self.message)

        self.name_edit.returnPressed.connect(self._on_create_button_clicked)
        self.create_button.clicked.connect(self._on_create_button_clicked)
        self.revoke_button.clicked.connect(self._on_revoke_button_clicked)
        self.copy_new_button.clicked.connect(self._on_copy_new_button_clicked)
        self.token_list.itemSelectionChanged.connect(self._on_token_list_selection_changed)
        self.refresh()

    def refresh(self) -> None:
        """Read the list (and whether a key store can hold a new token) off the GUI thread."""

        def load() -> tuple[list[ToolToken], str | None]:
            with self._context.db.read() as session:
                return tokens.list_tokens(session), keys.store_problem()

        self._context.reads.run(load, self._on_loaded, self._on_error)

    def working_names(self) -> list[str]:
        """The tools listed, in order."""
        items = (
            self.token_list.topLevelItem(i) for i in range(self.token_list.topLevelItemCount())
        )
        return [item.text(0) for item in items if item is not None]

    def revoke(self, name: str) -> None:
        """Revoke ``name``'s token (after the question, when the user asked)."""

        def revoke() -> ToolToken:
            with self._context.db.write() as session:
                return tokens.revoke(session, name)

        self._context.tasks.run(revoke, self._on_revoked, self._on_error)

    # --- private -------------------------------------------------------------------------------

    def _on_loaded(self, loaded: tuple[list[ToolToken], str | None]) -> None:
        made, problem = loaded
        self.token_list.clear()
        for token in made:
            if token.active:
                self.token_list.addTopLevelItem(
                    QTreeWidgetItem([token.name, f"{token.created:%Y-%m-%d %H:%M}"])
                )
        self.token_list.resizeColumnToContents(0)
        usable = problem is None
        self.token_list.setVisible(usable or self.token_list.topLevelItemCount() > 0)
        self.name_edit.setEnabled(usable)
        self.create_button.setEnabled(usable)
        if not usable:
            self.message.show_message(NO_KEY_STORE, Tone.ERROR)

    def _on_create_button_clicked(self) -> None:
        name = self.name_edit.text()

        def issue() -> IssuedToken:
            with self._context.db.write() as session:
                return tokens.issue(session, name)

        self._context.tasks.run(issue, self._on_issued, self._on_error)

    def _on_issued(self, issued: IssuedToken) -> None:
        self.name_edit.clear()
        self.new_token_edit.setText(issued.secret)
        self.new_token_edit.setCursorPosition(0)
        self._new_row.show()
        self.message.show_message(
            f"The token for {issued.token.name!r}: copy it into the tool now; it is not shown "
            "again (revoke it and make another if it is lost).",
            Tone.SUCCESS,
        )
        self.refresh()

    def _on_copy_new_button_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.new_token_edit.text())
        self.message.show_message("Token copied.", Tone.SUCCESS)

    def _on_token_list_selection_changed(self) -> None:
        self.revoke_button.setEnabled(bool(self.token_list.selectedItems()))

    def _on_revoke_button_clicked(self) -> None:
        selected = self.token_list.selectedItems()
        if not selected:
            return
        name = selected[0].text(0)
        text = f"{name} will be refused from its next request; its spend stays on the ledger."
        if confirm(self, "Revoke the tool token", text, "Revoke"):
            self.revoke(name)

    def _on_revoked(self, revoked: ToolToken) -> None:
        self.new_token_edit.clear()
        self._new_row.hide()
        self.message.show_message(f"Revoked the token for {revoked.name!r}.", Tone.SUCCESS)
        self.refresh()

    def _on_error(self, error: BaseException) -> None:
        self.message.show_message(describe(error), Tone.ERROR)
