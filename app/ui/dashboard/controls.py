"""What the dashboard shows: a range of days, how to bucket them, and provider, model and source
filters."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

from PySide6.QtCore import QDate, Signal
from PySide6.QtGui import QAction, QMouseEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QWidget,
)

from app.core.conversations import source_label
from app.core.day_ranges import RangePreset, preset_days, preset_matching, utc_today
from app.core.ledger.analysis import Bucket
from app.core.ledger.selection import Selection
from app.ui.transactions.filters import ChoiceCombo

EARLIEST = QDate(2000, 1, 1)
"""The "from" date edit at this date means no lower bound (shown as "Beginning")."""


def _qdate(day: date) -> QDate:
    return QDate(day.year, day.month, day.day)


def _pydate(day: QDate) -> date:
    return date(day.year(), day.month(), day.day())


class _StayOpenMenu(QMenu):
    """A menu of check boxes that stays open while the user ticks several."""

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt's name)
        """Toggle a checkable entry without closing the menu."""
        action = self.activeAction()
        if action is not None and action.isCheckable() and action.isEnabled():
            action.trigger()
            return
        super().mouseReleaseEvent(event)


class FilterButton(QPushButton):
    """A button with a menu of check boxes; nothing ticked means everything.

    Signals:
        changed(): the user ticked or unticked an entry, or chose all.
    """

    changed = Signal()

    def __init__(self, plural: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._plural = plural
        self._actions: dict[str, QAction] = {}
        self.setAccessibleName(f"Filter by {plural}")
        self._menu = _StayOpenMenu(self)
        self._all_action = self._menu.addAction(f"All {plural}")
        self._all_action.triggered.connect(self._on_all_action_triggered)
        self._menu.addSeparator()
        self.setMenu(self._menu)
        self._update_text()

    def set_choices(self, choices: Sequence[str]) -> None:
        """Offer ``choices`` (ticked entries stay, even when they no longer have spend)."""
        ticked = self.checked()
        wanted = sorted(set(choices) | ticked)
        if wanted == list(self._actions):
            return
        for action in self._actions.values():
            self._menu.removeAction(action)
            action.deleteLater()
        self._actions = {}
        for name in wanted:
            action = self._menu.addAction(name)
            action.setCheckable(True)
            action.setChecked(name in ticked)
            action.toggled.connect(self._on_action_toggled)
            self._actions[name] = action
        self._update_text()

    def checked(self) -> frozenset[str]:
        """The ticked names (empty: no filter)."""
        return frozenset(name for name, action in self._actions.items() if action.isChecked())

    def set_checked(self, names: frozenset[str]) -> None:
        """Tick exactly ``names`` (added to the menu if missing), without emitting ``changed``."""
        self.set_choices(sorted(set(self._actions) | names))
        for name, action in self._actions.items():
            action.blockSignals(True)
            action.setChecked(name in names)
            action.blockSignals(False)
        self._update_text()

    def _update_text(self) -> None:
        ticked = sorted(self.checked())
        if not ticked:
            text = f"All {self._plural}"
        elif len(ticked) == 1:
            text = ticked[0]
        else:
            text = f"{len(ticked)} {self._plural}"
        self.setText(text)
        self.setToolTip(", ".join(ticked) if ticked else f"Showing all {self._plural}")

    def _on_action_toggled(self, _checked: bool) -> None:
        self._update_text()
        self.changed.emit()

    def _on_all_action_triggered(self) -> None:
        if self.checked():
            self.set_checked(frozenset())
            self.changed.emit()


class RangeControls(QWidget):
    """The range presets, the custom dates, the bucket and the filters, in one row.

    Signals:
        changed(): the selection or the bucket changed by the user's hand.
    """

    changed = Signal()

    def __init__(
        self, today: Callable[[], date] = utc_today, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._today = today
        self._custom: tuple[date | None, date | None] = (None, None)
        self.preset_box = QComboBox()
        self.preset_box.setAccessibleName("Range")
        for preset in RangePreset:
            self.preset_box.addItem(preset.value, preset)
        self.since_edit = self._date_edit("From")
        self.since_edit.setSpecialValueText("Beginning")
        self.until_edit = self._date_edit("To")
        self.bucket_box = QComboBox()
        self.bucket_box.setAccessibleName("Group by")
        for bucket in Bucket:
            self.bucket_box.addItem(f"By {bucket.value}", bucket)
        self.provider_button = FilterButton("providers")
        self.model_button = FilterButton("models")
        self.source_combo = ChoiceCombo("All sources", "Source")
        self.source_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.source_combo.setToolTip(
            "Where the requests came from: the chat window, or a tool on the local endpoint"
        )

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.preset_box)
        layout.addWidget(self.since_edit)
        layout.addWidget(QLabel("to"))
        layout.addWidget(self.until_edit)
        layout.addSpacing(12)
        layout.addWidget(self.bucket_box)
        layout.addSpacing(12)
        layout.addWidget(self.provider_button)
        layout.addWidget(self.model_button)
        layout.addWidget(self.source_combo)
        layout.addStretch(1)

        self.set_preset(RangePreset.LAST_30_DAYS)
        self.preset_box.currentIndexChanged.connect(self._on_preset_box_current_index_changed)
        self.since_edit.dateChanged.connect(self._on_since_edit_date_changed)
        self.until_edit.dateChanged.connect(self._on_until_edit_date_changed)
        self.bucket_box.currentIndexChanged.connect(self._on_bucket_box_current_index_changed)
        self.provider_button.changed.connect(self._on_provider_button_changed)
        self.model_button.changed.connect(self._on_model_button_changed)
        self.source_combo.currentIndexChanged.connect(self._on_source_combo_current_index_changed)

    def preset(self) -> RangePreset:
        """The preset chosen."""
        return RangePreset(self.preset_box.currentData())  # Qt hands a StrEnum back as str

    def set_preset(self, preset: RangePreset) -> None:
        """Choose a preset and show its days in the date edits, without emitting ``changed``."""
        self.preset_box.blockSignals(True)
        self.preset_box.setCurrentIndex(self.preset_box.findData(preset))
        self.preset_box.blockSignals(False)
        if preset is not RangePreset.CUSTOM:
            self._show_dates(*preset_days(preset, self._today()))

    def selection(self) -> Selection:
        """The days and filters chosen (a preset's days are counted from today, each call)."""
        preset = self.preset()
        since, until = (
            self._custom if preset is RangePreset.CUSTOM else preset_days(preset, self._today())
        )
        return Selection(
            since=since,
            until=until,
            providers=self.provider_button.checked(),
            models=self.model_button.checked(),
            sources=self.source_combo.value() or frozenset(),
        )

    def set_selection(self, selection: Selection) -> None:
        """Show ``selection`` (as a preset when it is one today), without emitting ``changed``."""
        wanted = (selection.since, selection.until)
        preset = preset_matching(*wanted, self._today())
        self._custom = wanted
        self.set_preset(preset)
        if preset is RangePreset.CUSTOM:
            self._show_dates(*wanted)
        self.provider_button.set_checked(selection.providers)
        self.model_button.set_checked(selection.models)
        self.source_combo.set_value(
            selection.sources or None, ", ".join(sorted(map(source_label, selection.sources)))
        )

    def bucket(self) -> Bucket:
        """How the time charts group days."""
        return Bucket(self.bucket_box.currentData())

    def set_bucket(self, bucket: Bucket) -> None:
        """Group by ``bucket``, emitting ``changed`` if it is a change."""
        self.bucket_box.setCurrentIndex(self.bucket_box.findData(bucket))

    def set_choices(
        self, providers: Sequence[str], models: Sequence[str], sources: Sequence[str] = ()
    ) -> None:
        """The providers, models and sources (``chat`` first) the filters offer."""
        self.provider_button.set_choices(providers)
        self.model_button.set_choices(models)
        self.source_combo.set_choices((source_label(s), frozenset({s})) for s in sources)

    def _date_edit(self, name: str) -> QDateEdit:
        edit = QDateEdit()
        edit.setAccessibleName(name)
        edit.setCalendarPopup(True)
        edit.setDisplayFormat("d MMM yyyy")
        edit.setMinimumDate(EARLIEST)
        return edit

    def _show_dates(self, since: date | None, until: date | None) -> None:
        for edit, day in ((self.since_edit, since), (self.until_edit, until)):
            edit.blockSignals(True)
            edit.setDate(_qdate(day) if day is not None else EARLIEST)
            edit.blockSignals(False)
        if until is None:
            self.until_edit.blockSignals(True)
            self.until_edit.setDate(_qdate(self._today()))
            self.until_edit.blockSignals(False)

    def _dates_from_edits(self) -> None:
        """The user edited a date: the range becomes Custom, with the days as shown."""
        since, until = self._shown_dates()
        assert until is not None
        if since is not None and since > until:
            since, until = until, since
        self._custom = (since, until)
        self.set_preset(RangePreset.CUSTOM)
        self.changed.emit()

    def _on_preset_box_current_index_changed(self, _index: int) -> None:
        preset = self.preset()
        if preset is RangePreset.CUSTOM:
            self._custom = self._shown_dates()
        else:
            self._show_dates(*preset_days(preset, self._today()))
        self.changed.emit()

    def _shown_dates(self) -> tuple[date | None, date]:
        since = None if self.since_edit.date() == EARLIEST else _pydate(self.since_edit.date())
        return since, _pydate(self.until_edit.date())

    def _on_since_edit_date_changed(self, _day: QDate) -> None:
        self._dates_from_edits()

    def _on_until_edit_date_changed(self, _day: QDate) -> None:
        self._dates_from_edits()

    def _on_bucket_box_current_index_changed(self, _index: int) -> None:
        self.changed.emit()

    def _on_provider_button_changed(self) -> None:
        self.changed.emit()

    def _on_model_button_changed(self) -> None:
        self.changed.emit()

    def _on_source_combo_current_index_changed(self, _index: int) -> None:
        self.changed.emit()
