"""Choosing where a message goes: models grouped by provider, priced, or any name typed in."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QFont, QPainter, QPalette, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from app.core.providers.registry import Endpoint, ModelChoice
from app.ui.chat.figures import price_line

ENDPOINT_ROLE = Qt.ItemDataRole.UserRole + 1
"""The endpoint id of a model row (headers have none)."""
PRICE_ROLE = Qt.ItemDataRole.UserRole + 2
"""The price text shown beside a model in the list."""
FLAGGED_ROLE = Qt.ItemDataRole.UserRole + 3
"""True when the model is priced at the default rate for unknown models."""
INDENT = 18
"""How far models sit in from their provider's header in the list."""

Menu = list[tuple[Endpoint, list[ModelChoice]]]


class _ChoiceDelegate(QStyledItemDelegate):
    """Draws each model indented under its provider, its price right-aligned and dimmed.

    The price lives in the delegate, not the item text, so the editable field shows the bare
    model name that is sent to the provider.
    """

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        price = index.data(PRICE_ROLE)
        if not price:
            super().paint(painter, option, index)
            return
        item = QStyleOptionViewItem(option)
        self.initStyleOption(item, index)
        name = item.text
        item.text = ""
        widget = item.widget
        style = widget.style() if widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, item, painter, widget)
        selected = bool(item.state & QStyle.StateFlag.State_Selected)
        palette = item.palette
        ink = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        dim = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.PlaceholderText
        rect = item.rect.adjusted(INDENT, 0, -8, 0)
        middle = Qt.AlignmentFlag.AlignVCenter
        painter.save()
        painter.setPen(palette.color(ink))
        painter.drawText(rect, Qt.AlignmentFlag.AlignLeft | middle, name)
        painter.setPen(palette.color(dim))
        painter.drawText(rect, Qt.AlignmentFlag.AlignRight | middle, str(price))
        painter.restore()

    def sizeHint(  # noqa: N802 (Qt API)
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        size = super().sizeHint(option, index)
        price = index.data(PRICE_ROLE)
        if price:
            metrics = option.fontMetrics
            size.setWidth(size.width() + INDENT + metrics.horizontalAdvance(str(price)) + 32)
        return size


class ModelPicker(QWidget):
    """An editable list of models, grouped under non-selectable provider headers.

    Picking a model selects its endpoint too; typing a name keeps the endpoint selected and
    sends that name as it is (any model the provider serves, including emulator faults such as
    ``gpt-4o-mini@slow``). A typed name joins the list only once it got a reply
    (:meth:`reply_succeeded`): a typo the provider refuses is not offered again and again.

    Signals:
        selection_changed(str, str): the user picked or is typing a model; endpoint id, model.
        model_chosen(str, str): a model worth remembering first in its endpoint's list: picked
            from the list, or one that has just replied and is not first there yet.
    """

    selection_changed = Signal(str, str)
    model_chosen = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._endpoint = ""
        self._names: dict[str, str] = {}
        self._model = QStandardItemModel(self)

        self.endpoint_label = QLabel()
        self.endpoint_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.combo = QComboBox()
        self.combo.setEditable(True)
        self.combo.setModel(self._model)
        self.combo.setItemDelegate(_ChoiceDelegate(self.combo))
        self.combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        # Return must not jump to the first item of the same name under another provider.
        self.combo.setDuplicatesEnabled(True)
        self.combo.setCompleter(None)  # type: ignore[arg-type]  # None: no completer
        self.combo.setMinimumContentsLength(8)
        self.combo.setMaxVisibleItems(24)
        self.combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.combo.setToolTip(
            "The model to send to; pick one, or type any name the provider serves"
        )
        line = self.combo.lineEdit()
        assert line is not None  # an editable combo always has one
        line.setPlaceholderText("model name")
        self.combo.activated.connect(self._on_combo_activated)
        line.textEdited.connect(self._on_line_text_edited)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.endpoint_label)
        layout.addWidget(self.combo, 1)

    def selection(self) -> tuple[str, str]:
        """(endpoint id, model name) as selected or typed."""
        return self._endpoint, self.combo.currentText().strip()

    def set_selection(self, endpoint: str, model: str) -> None:
        """Select a model (from the list when it is there); emits nothing."""
        self._endpoint = endpoint
        row = self._row_of(endpoint, model)
        blocked = self.combo.blockSignals(True)
        if row >= 0:
            self.combo.setCurrentIndex(row)
        else:
            self.combo.setCurrentIndex(-1)
        self.combo.setEditText(model)
        self.combo.blockSignals(blocked)
        self._show_endpoint()

    def set_menu(self, menu: Menu) -> None:
        """Offer these endpoints and models; the current selection is kept."""
        endpoint, model = self.selection()
        self._model.clear()
        self._names = {}
        header_font = QFont(self.font())
        header_font.setBold(True)
        widest = ""
        for group, choices in menu:
            self._names[group.id] = group.name
            header = QStandardItem(group.name)
            header.setFlags(Qt.ItemFlag.NoItemFlags)
            header.setFont(header_font)
            header.setToolTip(f"{group.name}: pick a model below, or type any name")
            self._model.appendRow(header)
            for choice in choices:
                item = QStandardItem(choice.model)
                item.setData(group.id, ENDPOINT_ROLE)
                price = price_line(choice)
                item.setData(price, PRICE_ROLE)
                item.setData(choice.flagged, FLAGGED_ROLE)
                item.setToolTip(f"{group.name} · {choice.model}: {price} (input / output)")
                self._model.appendRow(item)
                widest = max(widest, f"{choice.model}    {price}", key=len)
        metrics = self.combo.view().fontMetrics()
        self.combo.view().setMinimumWidth(metrics.horizontalAdvance(widest) + INDENT + 48)
        self.set_selection(endpoint, model)

    def reply_succeeded(self, endpoint: str, model: str) -> None:
        """A reply from ``model`` was complete: remember it first (emits ``model_chosen``)
        unless it already is first under its endpoint."""
        first = next((m for e, m, _price in self.choices() if e == endpoint), None)
        if model and model != first:
            self.model_chosen.emit(endpoint, model)

    def choices(self) -> list[tuple[str, str, str]]:
        """(endpoint id, model, price text) of every model offered, in menu order."""
        found = []
        for row in range(self._model.rowCount()):
            item = self._model.item(row)
            endpoint = item.data(ENDPOINT_ROLE)
            if endpoint:
                found.append((str(endpoint), item.text(), str(item.data(PRICE_ROLE))))
        return found

    def endpoint_name(self, endpoint: str) -> str:
        """The endpoint's name as the user knows it (its id until the menu has loaded)."""
        return self._names.get(endpoint, endpoint)

    def _row_of(self, endpoint: str, model: str) -> int:
        for row in range(self._model.rowCount()):
            item = self._model.item(row)
            if item.data(ENDPOINT_ROLE) == endpoint and item.text() == model:
                return row
        return -1

    def _show_endpoint(self) -> None:
        self.endpoint_label.setText(f"{self.endpoint_name(self._endpoint)}:")

    def _on_combo_activated(self, row: int) -> None:
        item = self._model.item(row) if row >= 0 else None
        endpoint = item.data(ENDPOINT_ROLE) if item is not None else None
        if endpoint:
            self._endpoint = str(endpoint)
            self._show_endpoint()
        selection = self.selection()
        if selection[1]:
            self.selection_changed.emit(*selection)
            self.model_chosen.emit(*selection)

    def _on_line_text_edited(self, _text: str) -> None:
        self.selection_changed.emit(*self.selection())
