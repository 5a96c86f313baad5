"""Showing alerts: a banner in the window and a desktop notification, never a blocking dialog.

The banner shows the most severe alert standing (:func:`alerts.most_severe_first`), with what the
user can do about it as a button ("Add credits…", "Budgets…"), and "+N more" opens the list of
all of them. It is one line of a fixed height, so a long message never pushes the window
further down; the whole message is in its tooltip and in the list. It keeps an alert until the
user dismisses it or until what it warned about is gone (:meth:`AlertBanner.withdraw`: a
top-up lifted the low balance or paid for the refused prompt, the budget was removed).
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics, QIcon, QKeyEvent, QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QStyle,
    QSystemTrayIcon,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import InsufficientBalance, Remedy, SpendRefused
from app.core.ledger.alerts import Alert, Level, most_severe_first
from app.core.money import format_usd

REMEDY_BUTTONS = {Remedy.ADD_CREDITS: "Add credits…", Remedy.BUDGETS: "Budgets…"}
"""What the window offers for each remedy (the command line words it as a command)."""

_ICONS = {
    Level.INFO: QStyle.StandardPixmap.SP_MessageBoxInformation,
    Level.WARNING: QStyle.StandardPixmap.SP_MessageBoxWarning,
    Level.CRITICAL: QStyle.StandardPixmap.SP_MessageBoxCritical,
}
_TRAY_ICONS = {
    Level.INFO: QSystemTrayIcon.MessageIcon.Information,
    Level.WARNING: QSystemTrayIcon.MessageIcon.Warning,
    Level.CRITICAL: QSystemTrayIcon.MessageIcon.Critical,
}
_ICON_SIZE = 20
_LIST_WIDTH = 520


class AlertBanner(QFrame):
    """The most severe standing alert across the top of the window, on one line.

    Signals:
        balance_requested(): the user pressed an alert's "Add credits…" or "Budgets…" (the
            balance dialog holds both).
    """

    balance_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("alertBanner")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(self.palette().ColorRole.ToolTipBase)
        self.setForegroundRole(self.palette().ColorRole.ToolTipText)
        self.icon = QLabel()
        self.text = QLabel(textFormat=Qt.TextFormat.RichText)
        self.text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.action_button = QPushButton()
        self.action_button.clicked.connect(self._on_action_button_clicked)
        self.more_button = QToolButton(autoRaise=True)
        self.more_button.setToolTip("Show every alert, most severe first")
        self.more_button.clicked.connect(self._on_more_button_clicked)
        self.close_button = QToolButton(autoRaise=True)
        self.close_button.setText("✕")
        self.close_button.setToolTip("Dismiss")
        self.close_button.clicked.connect(self._on_close_button_clicked)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 3, 6, 3)
        layout.addWidget(self.icon)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.action_button)
        layout.addWidget(self.more_button)
        layout.addWidget(self.close_button)
        height = max(self.action_button.sizeHint().height(), _ICON_SIZE)
        self.setFixedHeight(height + 6 + 2 * self.frameWidth())
        self.list = AlertList(self)
        self.list.dismissed.connect(self._on_list_dismissed)
        self.list.balance_requested.connect(self.balance_requested)
        self._pending: list[Alert] = []  # in the order they came
        self.hide()

    def show_alert(self, alert: Alert) -> None:
        """Add an alert (one with the same key is replaced); the most severe is shown."""
        self._pending = [shown for shown in self._pending if shown.key != alert.key]
        self._pending.append(alert)
        self._render()

    def keys(self) -> set[str]:
        """The keys of every alert shown or counted."""
        return {alert.key for alert in self._pending}

    def alerts(self) -> list[Alert]:
        """Every standing alert, most severe first (the first is the one shown)."""
        return most_severe_first(self._pending)

    def withdraw(self, keys: set[str]) -> None:
        """Take down the alerts with these keys (their cause is gone); the banner hides when
        none is left."""
        self._pending = [alert for alert in self._pending if alert.key not in keys]
        self._render()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._fit_text()

    def _render(self) -> None:
        ordered = self.alerts()
        self.list.fill(ordered)
        if not ordered:
            self.list.hide()
            self.hide()
            return
        alert = ordered[0]
        self.icon.setPixmap(self.style().standardIcon(_ICONS[alert.level]).pixmap(_ICON_SIZE))
        self.setToolTip(f"{alert.title}: {alert.message}")
        self.action_button.setVisible(alert.remedy is not None)
        if alert.remedy is not None:
            self.action_button.setText(REMEDY_BUTTONS[alert.remedy])
        self.more_button.setVisible(len(ordered) > 1)
        self.more_button.setText(f"+{len(ordered) - 1} more")
        self.show()
        self._fit_text()

    def _fit_text(self) -> None:
        """The title in bold, then as much of the message as fits the line."""
        if not self._pending:
            return
        alert = self.alerts()[0]
        bold = QFont(self.text.font())
        bold.setBold(True)
        title = f"{alert.title} — "
        room = self.text.width() - self.text.fontMetrics().horizontalAdvance(" ")
        room -= QFontMetrics(bold).horizontalAdvance(title)
        message = self.text.fontMetrics().elidedText(
            alert.message, Qt.TextElideMode.ElideRight, max(room, 0)
        )
        self.text.setText(f"<b>{_escape(title)}</b>{_escape(message)}")

    def _on_action_button_clicked(self) -> None:
        self.balance_requested.emit()

    def _on_more_button_clicked(self) -> None:
        self.list.show_below(self)

    def _on_close_button_clicked(self) -> None:
        shown = self.alerts()
        if shown:
            self.withdraw({shown[0].key})

    def _on_list_dismissed(self, key: str) -> None:
        self.withdraw({key})


class AlertList(QFrame):
    """Every standing alert, most severe first, each with its remedy and a dismiss button: a
    panel laid over the window under the banner (it moves nothing), closed by "+N more" again,
    its Close button or Escape.

    Signals:
        dismissed(str): the user dismissed the alert with this key.
        balance_requested(): an alert's "Add credits…" or "Budgets…" was pressed.
    """

    dismissed = Signal(str)
    balance_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("alertList")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.setFixedWidth(_LIST_WIDTH)
        close = QPushButton("Close")
        close.clicked.connect(self.hide)
        footer = QHBoxLayout()
        footer.addStretch(1)
        footer.addWidget(close)
        self._rows = QVBoxLayout()
        self._rows.setSpacing(10)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.addLayout(self._rows)
        layout.addLayout(footer)
        self._titles: list[str] = []
        self.hide()

    def fill(self, alerts: list[Alert]) -> None:
        """Show these alerts, in this order."""
        while (item := self._rows.takeAt(0)) is not None:
            if (widget := item.widget()) is not None:
                widget.setParent(None)
        for alert in alerts:
            self._rows.addWidget(self._row(alert))
        self._titles = [alert.title for alert in alerts]
        self.adjustSize()

    def titles(self) -> list[str]:
        """The titles listed, top to bottom."""
        return list(self._titles)

    def show_below(self, anchor: QWidget) -> None:
        """Open (or close, if open) over the window, under ``anchor``'s right end."""
        if self.isVisible():
            self.hide()
            return
        window = anchor.window()
        if self.parentWidget() is not window:
            self.setParent(window)
        corner = anchor.mapTo(window, QPoint(anchor.width(), anchor.height()))
        self.adjustSize()
        self.move(max(corner.x() - self.width(), 0), corner.y())
        self.raise_()
        self.show()
        self.setFocus()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt's name)
        if event.key() == Qt.Key.Key_Escape:
            self.hide()
            return
        super().keyPressEvent(event)

    def _row(self, alert: Alert) -> QWidget:
        row = QWidget()
        icon = QLabel()
        icon.setPixmap(self.style().standardIcon(_ICONS[alert.level]).pixmap(_ICON_SIZE))
        title = QLabel(alert.title)
        title.setObjectName("alertTitle")
        font = QFont(title.font())
        font.setBold(True)
        title.setFont(font)
        message = QLabel(alert.message, wordWrap=True)
        message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton(autoRaise=True)
        close.setText("✕")
        close.setToolTip("Dismiss")
        close.clicked.connect(lambda: self.dismissed.emit(alert.key))
        grid = QGridLayout(row)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(icon, 0, 0, Qt.AlignmentFlag.AlignTop)
        grid.addWidget(title, 0, 1)
        grid.addWidget(close, 0, 3, Qt.AlignmentFlag.AlignTop)
        grid.addWidget(message, 1, 1, 1, 3)
        if alert.remedy is not None:
            action = QPushButton(REMEDY_BUTTONS[alert.remedy])
            action.setObjectName("alertAction")
            action.clicked.connect(self._on_action_clicked)
            grid.addWidget(action, 0, 2)
        grid.setColumnStretch(1, 1)
        return row

    def _on_action_clicked(self) -> None:
        self.hide()
        self.balance_requested.emit()


def send_warning(estimate: str, refusal: SpendRefused | None) -> str:
    """The composer's estimate line, warned when sending it would be refused (finding 22):
    ``≈ 120 tokens · $0.0022 to send · ⚠ only $0.0001 available: it would be refused``.

    ``refusal`` is :func:`app.core.metering.checks.quote_refusal` of the same quote; its full
    sentence (:func:`app.ui.errors.describe`) belongs in the tooltip.
    """
    if refusal is None:
        return estimate
    if isinstance(refusal, InsufficientBalance):
        why = f"only {format_usd(refusal.available)} available"
    else:
        why = "a blocking budget is reached"
    return f"{estimate} · ⚠ {why}: it would be refused"


class TrayNotifier:
    """Desktop notifications through the system tray, where there is one (silently none else)."""

    def __init__(self, icon: QIcon, parent: QWidget | None = None) -> None:
        self._tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self._tray = QSystemTrayIcon(icon, parent)
            self._tray.setToolTip("Tallybook")
            self._tray.show()

    def notify(self, alert: Alert) -> None:
        """A notification that goes away by itself and never takes the keyboard; none for a
        refusal, which answers the user's own click in the window."""
        if alert.is_refusal:
            return
        if self._tray is not None and QSystemTrayIcon.supportsMessages():
            self._tray.showMessage(alert.title, alert.message, _TRAY_ICONS[alert.level], 8000)

    def close(self) -> None:
        """Remove the tray icon."""
        if self._tray is not None:
            self._tray.hide()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
