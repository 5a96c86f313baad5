"""Small widgets the dialogs share: an inline message, a banner, and an amount with its unit.

Nothing here picks a colour: state is shown with the style's standard icons and the palette's
roles, so the light and dark themes both read well.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QStyle,
    QWidget,
)

from app.core import money
from app.core.errors import InvalidAmount

ICON_SIZE = 16


class Tone(StrEnum):
    """What a message means to the user."""

    INFO = "info"
    SUCCESS = "success"
    ERROR = "error"


_ICONS = {
    Tone.INFO: QStyle.StandardPixmap.SP_MessageBoxInformation,
    Tone.SUCCESS: QStyle.StandardPixmap.SP_DialogApplyButton,
    Tone.ERROR: QStyle.StandardPixmap.SP_MessageBoxWarning,
}


class MessageLine(QWidget):
    """One line of feedback beside the thing it is about (never a pop-up that blocks typing).

    Hidden while empty, so it takes no room until there is something to say. A ``one_line``
    message keeps its one line of room while empty and cuts a longer text short with "…" (the
    whole of it in its tooltip), so what is below it never moves when it speaks: a column of
    rows, each with its own message, stays under the pointer.
    """

    def __init__(self, parent: QWidget | None = None, *, one_line: bool = False) -> None:
        super().__init__(parent)
        self.tone: Tone | None = None
        self._one_line = one_line
        self._full = ""
        self._icon = QLabel()
        self._icon.setFixedSize(ICON_SIZE, ICON_SIZE)
        self._text = QLabel()
        self._text.setWordWrap(not one_line)
        self._text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        width = QSizePolicy.Policy.Ignored if one_line else QSizePolicy.Policy.Expanding
        self._text.setSizePolicy(width, QSizePolicy.Policy.Preferred)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self._text, 1)
        self._beside_text = ICON_SIZE + layout.spacing()
        if one_line:
            policy = self.sizePolicy()
            policy.setRetainSizeWhenHidden(True)
            self.setSizePolicy(policy)
        self.hide()

    def text(self) -> str:
        """The message shown ("" when none), whole even where it is cut short."""
        return self._full if self.tone is not None else ""

    def show_message(self, text: str, tone: Tone = Tone.INFO) -> None:
        """Show ``text`` with the icon for its tone."""
        self.tone = tone
        icon = self.style().standardIcon(_ICONS[tone])
        self._icon.setPixmap(icon.pixmap(ICON_SIZE, ICON_SIZE))
        self._full = text
        self._fit()
        self.show()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        if not self._one_line:
            self._text.setText(self._full)
            return
        room = self.contentsRect().width() - self._beside_text
        metrics = self._text.fontMetrics()
        shown = metrics.elidedText(self._full, Qt.TextElideMode.ElideRight, max(room, 0))
        self._text.setText(shown)
        self._text.setToolTip(self._full if shown != self._full else "")

    def show_error(self, text: str) -> None:
        """Something was refused or failed; nothing was stored."""
        self.show_message(text, Tone.ERROR)

    def show_success(self, text: str) -> None:
        """Something was stored or worked."""
        self.show_message(text, Tone.SUCCESS)

    def clear(self) -> None:
        """Say nothing (and take no room, unless ``one_line``)."""
        self.tone = None
        self._full = ""
        self._text.clear()
        self._text.setToolTip("")
        self.hide()


class Banner(QFrame):
    """A boxed notice across the top of a dialog, in the palette's tool-tip colours."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.ToolTipBase)
        self.setForegroundRole(QPalette.ColorRole.ToolTipText)
        icon = QLabel()
        icon.setPixmap(
            self.style()
            .standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
            .pixmap(ICON_SIZE * 2, ICON_SIZE * 2)
        )
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setForegroundRole(QPalette.ColorRole.ToolTipText)
        self.label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        layout = QHBoxLayout(self)
        layout.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.label, 1)
        self.hide()

    def show_text(self, text: str) -> None:
        """Show the banner with ``text``."""
        self.label.setText(text)
        self.show()


class AmountUnit(StrEnum):
    """How the user types an amount: dollars or credits (one credit is a micro-dollar)."""

    USD = "USD"
    CREDITS = "credits"


class AmountEdit(QWidget):
    """A money amount typed in dollars or credits, with a unit selector beside it.

    The value is always handed out in credits, parsed by :func:`money.parse_usd` or
    :func:`money.parse_credits`, so the dialogs store exactly what the command line would.
    Switching the unit converts a valid amount in place.
    """

    def __init__(
        self,
        what: str,
        *,
        unit: AmountUnit = AmountUnit.USD,
        optional: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.what = what
        self.optional = optional
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("none" if optional else "0")
        self.edit.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.edit.setMinimumWidth(self.edit.fontMetrics().horizontalAdvance("0") * 14)
        self.edit.setAccessibleName(what)
        self.unit = QComboBox()
        for item in AmountUnit:
            self.unit.addItem(item.value, item)
        self.unit.setCurrentIndex(list(AmountUnit).index(unit))
        self.unit.setAccessibleName(f"{what} unit")
        self._shown_unit = unit
        self.unit.currentIndexChanged.connect(self._on_unit_current_index_changed)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.unit)

    def current_unit(self) -> AmountUnit:
        """The unit selected now."""
        return AmountUnit(self.unit.currentData())  # Qt hands the enum back as a plain str

    def set_unit(self, unit: AmountUnit) -> None:
        """Select a unit (a valid amount typed so far is converted)."""
        self.unit.setCurrentIndex(list(AmountUnit).index(unit))

    def credits(self) -> Decimal | None:
        """The amount in credits; ``None`` when an optional field is empty.

        Raises:
            InvalidAmount: not a non-negative amount, or empty when required; the message
                names the field.
        """
        return self._parse(self.edit.text(), self.current_unit())

    def set_credits(self, credits: Decimal | None) -> None:
        """Show an amount (``None``: empty) in the selected unit."""
        self.edit.setText("" if credits is None else _shown(credits, self.current_unit()))

    def _parse(self, text: str, unit: AmountUnit) -> Decimal | None:
        if not text.strip():
            if self.optional:
                return None
            raise InvalidAmount(f"{self.what}: enter an amount.")
        try:
            if unit is AmountUnit.USD:
                return money.parse_usd(text)
            return money.parse_credits(text)
        except InvalidAmount as error:
            raise InvalidAmount(f"{self.what}: {error}.") from None

    def _on_unit_current_index_changed(self, _index: int) -> None:
        previous, self._shown_unit = self._shown_unit, self.current_unit()
        try:
            value = self._parse(self.edit.text(), previous)
        except InvalidAmount:
            return  # leave what the user typed for them to fix
        if value is not None:
            self.edit.setText(_shown(value, self._shown_unit))


def _shown(credits: Decimal, unit: AmountUnit) -> str:
    """An amount as an editable number (no $ or separators, so it parses back unchanged)."""
    value = money.credits_to_usd(credits) if unit is AmountUnit.USD else money.tidy(credits)
    return f"{value:f}"


def push_button(text: str) -> QPushButton:
    """A button that Enter in a text field never presses.

    In a dialog, Qt clicks the "default" button on Enter after the field's own ``returnPressed``
    has already acted, which would add a top-up twice; the dialogs bind Enter per field instead.
    """
    button = QPushButton(text)
    button.setAutoDefault(False)
    return button


def plain_button_box(box: QDialogButtonBox) -> QDialogButtonBox:
    """``box`` with none of its buttons pressed by Enter (see :func:`push_button`)."""
    for button in box.buttons():
        if isinstance(button, QPushButton):
            button.setAutoDefault(False)
    return box


def confirm(parent: QWidget, title: str, text: str, action: str) -> bool:
    """Ask before something that cannot be undone; ``action`` names the button that does it."""
    box = QMessageBox(
        QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.Cancel, parent
    )
    yes = box.addButton(action, QMessageBox.ButtonRole.DestructiveRole)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is yes
