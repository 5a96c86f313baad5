"""Showing alerts: a banner in the window and a desktop notification, never a blocking dialog.

The banner keeps an alert until the user dismisses it or until what it warned about is gone
(:meth:`AlertBanner.withdraw`: a top-up lifted the low balance, the budget was removed).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QStyle,
    QSystemTrayIcon,
    QToolButton,
    QWidget,
)

from app.core.ledger.alerts import Alert, Level

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


class AlertBanner(QFrame):
    """The latest alert across the top of the window, with a count of others and a close button."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("alertBanner")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(self.palette().ColorRole.ToolTipBase)
        self.setForegroundRole(self.palette().ColorRole.ToolTipText)
        self.icon = QLabel()
        self.text = QLabel(wordWrap=True, textFormat=Qt.TextFormat.RichText)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton(autoRaise=True)
        close.setText("✕")
        close.setToolTip("Dismiss")
        close.clicked.connect(self._on_close_clicked)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(self.icon)
        layout.addWidget(self.text, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self._pending: list[Alert] = []
        self.hide()

    def show_alert(self, alert: Alert) -> None:
        """Put an alert on top; earlier undismissed ones are counted."""
        self._pending.append(alert)
        self._render()

    def keys(self) -> set[str]:
        """The keys of every alert shown or counted."""
        return {alert.key for alert in self._pending}

    def withdraw(self, keys: set[str]) -> None:
        """Take down the alerts with these keys (their cause is gone); the banner hides when
        none is left."""
        self._pending = [alert for alert in self._pending if alert.key not in keys]
        self._render()

    def _render(self) -> None:
        if not self._pending:
            self.hide()
            return
        alert = self._pending[-1]
        more = f" <i>(+{len(self._pending) - 1} more)</i>" if len(self._pending) > 1 else ""
        self.icon.setPixmap(self.style().standardIcon(_ICONS[alert.level]).pixmap(20, 20))
        self.text.setText(f"<b>{_escape(alert.title)}</b> — {_escape(alert.message)}{more}")
        self.show()

    def _on_close_clicked(self) -> None:
        self._pending.pop()
        self._render()


class TrayNotifier:
    """Desktop notifications through the system tray, where there is one (silently none else)."""

    def __init__(self, icon: QIcon, parent: QWidget | None = None) -> None:
        self._tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self._tray = QSystemTrayIcon(icon, parent)
            self._tray.setToolTip("Tallybook")
            self._tray.show()

    def notify(self, alert: Alert) -> None:
        """A notification that goes away by itself and never takes the keyboard."""
        if self._tray is not None and QSystemTrayIcon.supportsMessages():
            self._tray.showMessage(alert.title, alert.message, _TRAY_ICONS[alert.level], 8000)

    def close(self) -> None:
        """Remove the tray icon."""
        if self._tray is not None:
            self._tray.hide()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
