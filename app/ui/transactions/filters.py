"""The row of filters above the transactions table: a day range, provider, model, conversation,
token type and who counted the tokens (the provider, or Tallybook's estimate), read back as one
:class:`~app.core.ledger.selection.Selection`.

Days are UTC days, as in the reports and the CSV, so a filter here selects exactly what
``tallybook export --since/--until`` would.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from PySide6.QtCore import QDate, QSignalBlocker, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QWidget,
)

from app.core.conversations import source_label
from app.core.day_ranges import RangePreset, preset_days, preset_matching, utc_today
from app.core.ledger.selection import Selection
from app.core.ledger.spend import FilterChoices
from app.core.pricing.units import Kind
from app.ui.context import AppContext
from app.ui.transactions.conversation_filter import ConversationFilter

_KIND_NAMES = {
    Kind.INPUT: "Prompt (input)",
    Kind.OUTPUT: "Completion (output)",
    Kind.CACHE_WRITE: "Cache writes",
    Kind.CACHE_READ: "Cache reads",
    Kind.OTHER: "Other units (searches, tools)",
    Kind.ADJUSTMENT: "Adjustments (tiers, provider figures)",
    Kind.CREDITS: "Credits (top-ups)",
}
_DATE_FORMAT = "yyyy-MM-dd"
_DATES_DEBOUNCE_MS = 400
_CONVERSATION_CHARS = 24


def _filter_days(preset: RangePreset, today: date) -> tuple[date | None, date | None]:
    """A preset's days as a filter: a range that ends today stays open, so rows recorded after
    midnight UTC still show while the window stays open."""
    since, until = preset_days(preset, today)
    return since, None if until == today else until


class ChoiceCombo(QComboBox):
    """A combo box whose items carry a value; "any" is the first item, with value ``None``."""

    def __init__(self, any_text: str, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._any_text = any_text
        self.setAccessibleName(name)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(10)
        self.setMaxVisibleItems(20)
        self.addItem(any_text, None)

    def value(self) -> Any:
        """The selected item's value (``None``: any)."""
        return self.currentData()

    def set_choices(self, choices: Iterable[tuple[str, Any]]) -> None:
        """Replace the items, keeping the selected value (added if it is no longer offered)."""
        current, text = self.value(), self.currentText()
        with QSignalBlocker(self):
            self.clear()
            self.addItem(self._any_text, None)
            for label, value in choices:
                self.addItem(label, value)
            self._select(current, text)

    def set_value(self, value: Any, text: str) -> None:
        """Select ``value``, adding it as ``text`` when it is not among the items; no signal."""
        with QSignalBlocker(self):
            self._select(value, text)

    def _select(self, value: Any, text: str) -> None:
        if value is None:
            self.setCurrentIndex(0)
            return
        for index in range(1, self.count()):
            if self.itemData(index) == value:
                self.setCurrentIndex(index)
                return
        self.addItem(text, value)
        self.setCurrentIndex(self.count() - 1)


def _set_text(values: frozenset[str]) -> str:
    return ", ".join(sorted(values))


class FilterBar(QWidget):
    """Range (presets or custom dates), provider, model, source, conversation, token type, and
    who counted the tokens.

    The conversation is searched for, not picked from a menu (:class:`ConversationFilter`: a
    ledger may hold 50,000). A choice made here is announced at once (typed dates after a short
    pause);
    :meth:`set_filter` shows a filter without announcing it. A filter with several providers,
    models or token types (from code) shows them as one item of the menu.

    Signals:
        changed(object): the user changed a filter; the new :class:`Selection`.
    """

    changed = Signal(object)

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.range_combo = QComboBox()
        self.range_combo.setAccessibleName("Date range")
        self.range_combo.setToolTip("Days are UTC days, as in the reports and the CSV")
        for preset in RangePreset:
            self.range_combo.addItem(preset.value, preset)
        self.range_combo.setCurrentIndex(self.range_combo.findData(RangePreset.ALL))
        today = QDate.fromString(utc_today().isoformat(), "yyyy-MM-dd")
        self.since_edit = self._date_edit("From (UTC)", today.addDays(-29))
        self.until_edit = self._date_edit("To (UTC, inclusive)", today)
        self.to_label = QLabel("to")
        self.provider_combo = ChoiceCombo("All providers", "Provider")
        self.model_combo = ChoiceCombo("All models", "Model")
        self.source_combo = ChoiceCombo("All sources", "Source")
        self.source_combo.setToolTip(
            "Where the requests came from: the chat window, or a tool on the local endpoint"
        )
        self.conversation_filter = ConversationFilter(context)
        self.conversation_filter.setMinimumWidth(
            self.conversation_filter.fontMetrics().averageCharWidth() * _CONVERSATION_CHARS
        )
        self.token_type_combo = ChoiceCombo("All token types", "Token type")
        self.token_type_combo.set_choices(
            (name, frozenset({kind})) for kind, name in _KIND_NAMES.items()
        )
        self.estimated_combo = ChoiceCombo("Counted by: anyone", "Counted by")
        self.estimated_combo.set_choices(
            (("Counted by: the provider", False), ("Counted by: Tallybook's estimate", True))
        )
        self.estimated_combo.setToolTip(
            "Who counted the tokens: the provider reported them, or Tallybook estimated them "
            "itself because the provider reported none"
        )
        for combo in (
            self.provider_combo,
            self.model_combo,
            self.source_combo,
            self.token_type_combo,
            self.estimated_combo,
        ):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Show every transaction")
        self._dates_timer = QTimer(self, singleShot=True, interval=_DATES_DEBOUNCE_MS)
        self._preset = RangePreset.ALL

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (
            self.range_combo,
            self.since_edit,
            self.to_label,
            self.until_edit,
            self.provider_combo,
            self.model_combo,
            self.source_combo,
            self.conversation_filter,
            self.token_type_combo,
            self.estimated_combo,
            self.clear_button,
        ):
            layout.addWidget(widget)
        layout.addStretch(1)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self._show_custom_dates(False)

        self.range_combo.currentIndexChanged.connect(self._on_range_combo_current_index_changed)
        for edit in (self.since_edit, self.until_edit):
            edit.dateChanged.connect(self._on_date_edit_date_changed)
        self._dates_timer.timeout.connect(self._on_dates_timer_timeout)
        for combo in (
            self.provider_combo,
            self.model_combo,
            self.source_combo,
            self.token_type_combo,
            self.estimated_combo,
        ):
            combo.currentIndexChanged.connect(self._on_combo_current_index_changed)
        self.conversation_filter.chosen.connect(self._on_conversation_filter_chosen)
        self.clear_button.clicked.connect(self._on_clear_button_clicked)

    # --- public --------------------------------------------------------------------------------

    def current_filter(self) -> Selection:
        """The filter the widgets show."""
        since, until = self._range()
        return Selection(
            since=since,
            until=until,
            providers=self.provider_combo.value() or frozenset(),
            models=self.model_combo.value() or frozenset(),
            conversation_id=self.conversation_filter.value(),
            kinds=self.token_type_combo.value() or frozenset(),
            estimated=self.estimated_combo.value(),
            sources=self.source_combo.value() or frozenset(),
        )

    def set_filter(self, selection: Selection) -> None:
        """Show ``selection`` in the widgets, without announcing it."""
        self._dates_timer.stop()
        preset = preset_matching(selection.since, selection.until, utc_today())
        with QSignalBlocker(self.range_combo):
            self.range_combo.setCurrentIndex(list(RangePreset).index(preset))
        self._preset = preset
        if preset is RangePreset.CUSTOM:
            self._set_dates(selection.since, selection.until)
        self._show_custom_dates(preset is RangePreset.CUSTOM)
        for combo, values in (
            (self.provider_combo, selection.providers),
            (self.model_combo, selection.models),
            (self.token_type_combo, selection.kinds),
        ):
            combo.set_value(values or None, _set_text(values))
        self.source_combo.set_value(
            selection.sources or None, _set_text(frozenset(map(source_label, selection.sources)))
        )
        self.conversation_filter.set_value(selection.conversation_id)
        self.estimated_combo.set_value(selection.estimated, "")

    def set_choices(self, choices: FilterChoices) -> None:
        """Offer these in the menus (what the ledger has), keeping what is selected."""
        self.provider_combo.set_choices((p, frozenset({p})) for p in choices.providers)
        self.model_combo.set_choices((m, frozenset({m})) for m in choices.models)
        self.source_combo.set_choices((source_label(s), frozenset({s})) for s in choices.sources)

    # --- private -------------------------------------------------------------------------------

    def _date_edit(self, name: str, initial: QDate) -> QDateEdit:
        edit = QDateEdit(initial)
        edit.setCalendarPopup(True)
        edit.setDisplayFormat(_DATE_FORMAT)
        edit.setAccessibleName(name)
        edit.setToolTip(name)
        return edit

    def _range(self) -> tuple[date | None, date | None]:
        preset = RangePreset(self.range_combo.currentData())
        if preset is not RangePreset.CUSTOM:
            return _filter_days(preset, utc_today())
        since = date.fromisoformat(self.since_edit.date().toString(_DATE_FORMAT))
        until = date.fromisoformat(self.until_edit.date().toString(_DATE_FORMAT))
        return (since, until) if since <= until else (until, since)

    def _set_dates(self, since: date | None, until: date | None) -> None:
        for edit, day in ((self.since_edit, since), (self.until_edit, until)):
            if day is not None:
                with QSignalBlocker(edit):
                    edit.setDate(QDate(day.year, day.month, day.day))

    def _show_custom_dates(self, shown: bool) -> None:
        for widget in (self.since_edit, self.to_label, self.until_edit):
            widget.setVisible(shown)

    def _announce(self) -> None:
        self._dates_timer.stop()
        self.changed.emit(self.current_filter())

    def _on_range_combo_current_index_changed(self, _index: int) -> None:
        preset = RangePreset(self.range_combo.currentData())
        if preset is RangePreset.CUSTOM:
            # Start from the range shown until now, ready to adjust (all time: the last 30 days).
            today = utc_today()
            since, until = preset_days(self._preset, today)
            self._set_dates(since or today - timedelta(days=29), until or today)
        self._preset = preset
        self._show_custom_dates(preset is RangePreset.CUSTOM)
        self._announce()

    def _on_combo_current_index_changed(self, _index: int) -> None:
        self._announce()

    def _on_conversation_filter_chosen(self, _conversation_id: int | None) -> None:
        self._announce()

    def _on_dates_timer_timeout(self) -> None:
        self._announce()

    def _on_date_edit_date_changed(self, _day: QDate) -> None:
        self._dates_timer.start()

    def _on_clear_button_clicked(self) -> None:
        self.set_filter(Selection())
        self._announce()
