"""What every dashboard chart shares: a themed plot, stable series colours, a legend, tooltips.

Backgrounds, axes and text follow the widget's palette (and follow it again when the system
switches between light and dark). Only data series use fixed hues: a qualitative list that
stays distinguishable on both light and dark backgrounds (Tableau 10).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal

from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, QRect, QSize, Qt
from PySide6.QtGui import QColor, QCursor, QFont, QFontMetrics, QHelpEvent, QPalette
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

# isort: split
import pyqtgraph as pg  # after PySide6, so pyqtgraph binds to it and not another Qt

from app.core import money
from app.core.ledger.analysis import Bucket, bucket_start

SERIES_HUES = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
"""Data series only; everything else comes from the palette."""
DAY_SECONDS = 86_400
TICK_LABEL_PIXELS = 64
"""Room each date label needs on an axis, so labels never run into each other."""
ELLIPSIS = "\u2026"
TIP_MILLISECONDS = 60_000
"""How long a tip stays while the mouse rests (Qt's default is about ten seconds)."""
TICK_STEPS = {
    Bucket.DAY: (1, 2, 3, 7, 14, 28, 56, 91, 182, 364),
    Bucket.WEEK: (1, 2, 4, 8, 13, 26, 52),
    Bucket.MONTH: (1, 2, 3, 6, 12, 24),
}


class ModelColours:
    """One hue per model, the same on every chart and across refreshes and filters.

    Models get hues in the order they are first seen (sorted within one batch), so a filter
    that hides some models never repaints the others.
    """

    def __init__(self) -> None:
        self._assigned: dict[str, QColor] = {}

    def learn(self, models: Iterable[str]) -> None:
        """Give each new model the next hue (the list repeats past ten models)."""
        for model in sorted(set(models) - self._assigned.keys()):
            self._assigned[model] = QColor(SERIES_HUES[len(self._assigned) % len(SERIES_HUES)])

    def colour(self, model: str) -> QColor:
        """The model's hue (a new model is learnt on the spot)."""
        if model not in self._assigned:
            self.learn([model])
        return QColor(self._assigned[model])


def series_colour(index: int) -> QColor:
    """The ``index``-th series hue, for charts whose series are not models."""
    return QColor(SERIES_HUES[index % len(SERIES_HUES)])


def bucket_end(start: date, bucket: Bucket) -> date:
    """The first day after the bucket that starts on ``start``."""
    if bucket is Bucket.WEEK:
        return start + timedelta(days=7)
    if bucket is Bucket.MONTH:
        return start + timedelta(days=calendar.monthrange(start.year, start.month)[1])
    return start + timedelta(days=1)


def date_ticks(first: date, last: date, bucket: Bucket, room: int) -> list[tuple[float, str]]:
    """Labels under the middle of every n-th bucket from ``first`` to ``last``.

    pyqtgraph's automatic date ticks mix month names and day numbers ("Nov 03" reads as one
    date); these say "3 Nov" (or "Nov 2026" for months) and take at most ``room`` labels.
    """
    starts, day = [], bucket_start(first, bucket)
    while day <= last:
        starts.append(day)
        day = bucket_end(day, bucket)
    steps = TICK_STEPS[bucket]
    step = next((n for n in steps if len(starts) / n <= max(room, 1)), steps[-1])
    ticks = []
    for start in starts[::step]:
        middle = (day_seconds(start) + day_seconds(bucket_end(start, bucket))) / 2
        label = f"{start:%b %Y}" if bucket is Bucket.MONTH else f"{start.day} {start:%b}"
        ticks.append((middle, label))
    return ticks


def day_seconds(day: date) -> float:
    """Seconds since the epoch at the start of a UTC day: the x of the date axes."""
    return float(calendar.timegm(day.timetuple()))


def usd(credits: Decimal) -> float:
    """Credits as dollars, for plotting (text uses :func:`app.core.money.format_usd`)."""
    return float(money.credits_to_usd(credits))


def elide_words(text: str, metrics: QFontMetrics, width: int) -> str:
    """``text`` cut after its last whole word that fits in ``width`` pixels, with "…".

    A label cut mid-word ("Explain Ru…") reads as another word; a single word too long for
    the room is cut at its end all the same.
    """
    if metrics.horizontalAdvance(text) <= width:
        return text
    words = text.split(" ")
    while len(words) > 1:
        words.pop()
        shorter = " ".join(words).rstrip(" ,;:-") + ELLIPSIS
        if metrics.horizontalAdvance(shorter) <= width:
            return shorter
    return metrics.elidedText(text, Qt.TextElideMode.ElideRight, width)


def legend_html(entries: Iterable[tuple[str, QColor]], *, vertical: bool) -> str:
    """A legend as rich text: a square in each series' hue, then its name in the text colour."""
    separator = "<br>" if vertical else "&nbsp;&nbsp;&nbsp; "
    parts = (
        f'<span style="color:{colour.name()}">&#9632;</span>&nbsp;{_escape(name)}'
        for name, colour in entries
    )
    return separator.join(parts)


class ChartFrame(QWidget):
    """A titled pyqtgraph plot that follows the palette and shows a tooltip under the mouse.

    Subclasses override :meth:`tooltip_at` (what to say at a point, in data coordinates) and
    :meth:`_apply_item_palette` (re-colour their own items when the theme changes), and call
    :meth:`apply_palette` once those items exist.

    The tooltip follows the mouse while it moves and stays while it rests: Qt's own ToolTip
    event, which comes when the mouse stops, would make the graphics view hide it (no item has
    a tooltip of its own), so the frame answers that event itself.
    """

    def __init__(
        self,
        title: str,
        *,
        dates: bool,
        legend_right: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.title_label = QLabel(title)
        font = QFont(self.title_label.font())
        font.setBold(True)
        self.title_label.setFont(font)
        self.legend = QLabel()
        """The series' names in their hues (rich text); empty for single-series charts."""
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(legend_right)
        self.legend.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        # Days are UTC everywhere in the ledger, so the date axis shows UTC, not local time.
        axes = {"bottom": pg.DateAxisItem(utcOffset=0)} if dates else {}
        # No right-click menu: the dashboard has nothing to offer in it, and pyqtgraph's
        # (built unless refused here) is a third of the time a chart takes to build.
        self.plot = pg.PlotWidget(axisItems=axes, enableMenu=False)
        self.plot.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.plot.setMinimumHeight(120)
        self.plot_item = self.plot.getPlotItem()
        self.plot_item.hideButtons()
        self.view_box = self.plot_item.getViewBox()
        # A dashboard shows the chosen range: no accidental drag or wheel zoom (the wheel then
        # scrolls the page, as the user expects).
        self.view_box.setMouseEnabled(x=False, y=False)
        self.plot.scene().sigMouseMoved.connect(self._on_scene_mouse_moved)
        self.plot.viewport().installEventFilter(self)
        self.empty_text = pg.TextItem("", anchor=(0.5, 0.5))
        """Says so when the selection has nothing to draw."""
        self.empty_text.setParentItem(self.view_box)
        self.view_box.sigResized.connect(self._on_view_box_resized)

        header = self._header = QHBoxLayout()
        header.addWidget(self.title_label)
        header.addStretch(1)
        body = QHBoxLayout()
        body.addWidget(self.plot, 1)
        if legend_right:
            self.legend.setMaximumWidth(170)
            body.addWidget(self.legend)
        else:
            header.addWidget(self.legend)
        layout = self._column = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(header)
        layout.addLayout(body, 1)
        self._last_tip = ""
        self._dates: tuple[date, date, Bucket] | None = None
        self._ticks: list[tuple[float, str]] = []

    def show_dates(self, first: date | None, last: date | None, bucket: Bucket) -> None:
        """Span the x axis over the buckets holding ``first`` to ``last``, labelled.

        ``None`` (nothing to show): let the axis fit whatever is drawn, without labels.
        """
        self._dates = None if first is None or last is None else (first, last, bucket)
        if self._dates is None:
            self.plot_item.enableAutoRange(axis="x")
        self._fit_dates()

    def date_labels(self) -> list[tuple[float, str]]:
        """The date axis's labels and the x each is centred on (none without dates)."""
        return list(self._ticks)

    def add_to_header(self, widget: QWidget) -> None:
        """Show ``widget`` at the right of the title line."""
        self._header.addWidget(widget)

    def add_to_footer(self, widget: QWidget) -> None:
        """Show ``widget`` under the plot."""
        self._column.addWidget(widget)

    def _fit_dates(self) -> None:
        """As many date labels as the width has room for, the first and last ones whole.

        The axis hides a label that would stick out past either end, so the range gets a
        margin of the pixels that half the outermost labels need beyond their buckets.
        """
        axis = self.plot_item.getAxis("bottom")
        if self._dates is None:
            self._ticks = []
            axis.setTicks(None)
            return
        first, last, bucket = self._dates
        left = day_seconds(bucket_start(first, bucket))
        right = day_seconds(bucket_end(bucket_start(last, bucket), bucket))
        width = self.view_box.width() or self.plot.width() or TICK_LABEL_PIXELS * 4
        ticks = date_ticks(first, last, bucket, room=int(width) // TICK_LABEL_PIXELS)
        metrics = QFontMetrics(self.plot.font())
        half = max((metrics.horizontalAdvance(label) for _, label in ticks), default=0) / 2 + 2
        scale = width / (right - left)
        before = max(0.0, half - (ticks[0][0] - left) * scale) if ticks else 0.0
        after = max(0.0, half - (right - ticks[-1][0]) * scale) if ticks else 0.0
        scale = max(width - before - after, 1.0) / (right - left)
        self.plot_item.setXRange(left - before / scale, right + after / scale, padding=0)
        self._ticks = ticks
        axis.setTicks([ticks, []])

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        """Modest, so the dashboard's grid shares the room instead of asking 600x500 a chart."""
        return QSize(360, 220)

    def show_empty(self, text: str | None) -> None:
        """Say ``text`` in the middle of the plot (``None``: there is data, say nothing)."""
        self.empty_text.setText(
            text or "", self.palette().color(QPalette.ColorRole.PlaceholderText)
        )
        self.empty_text.setVisible(bool(text))
        self._on_view_box_resized()

    def tooltip_at(self, x: float, y: float) -> str | None:
        """The tooltip for a point in data coordinates (``None``: nothing there)."""
        return None

    def to_data(self, scene_pos: QPointF) -> QPointF | None:
        """A scene point in data coordinates, or ``None`` outside the plotting area."""
        if not self.view_box.sceneBoundingRect().contains(scene_pos):
            return None
        mapped: QPointF = self.view_box.mapSceneToView(scene_pos)
        return mapped

    def apply_palette(self) -> None:
        """Paint the plot in the palette's colours (called again when the theme changes)."""
        palette = self.palette()
        self.plot.setBackground(palette.color(QPalette.ColorRole.Base))
        text = palette.color(QPalette.ColorRole.Text)
        for name in ("left", "bottom"):
            axis = self.plot_item.getAxis(name)
            axis.setPen(pg.mkPen(text))
            axis.setTextPen(pg.mkPen(text))
        self.empty_text.setColor(palette.color(QPalette.ColorRole.PlaceholderText))
        self._apply_item_palette()

    def _apply_item_palette(self) -> None:
        """Re-colour the subclass's own palette-coloured items."""

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's name)
        """Follow a switch between light and dark."""
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self.apply_palette()
        super().changeEvent(event)

    def _on_view_box_resized(self, *_: object) -> None:
        rect = self.view_box.boundingRect()
        self.empty_text.setPos(rect.center())
        self._fit_dates()

    def clickable_at(self, x: float, y: float) -> bool:
        """Whether a click at the point (data coordinates) does something (hand cursor)."""
        return False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        """Answer the viewport's ToolTip event with the chart's own tip (see the class)."""
        if (
            isinstance(event, QHelpEvent)
            and event.type() == QEvent.Type.ToolTip
            and watched is self.plot.viewport()
        ):
            self._show_tip(self.plot.mapToScene(event.pos()), event.globalPos())
            return True
        return super().eventFilter(watched, event)

    def _on_scene_mouse_moved(self, scene_pos: QPointF) -> None:
        point = self.to_data(scene_pos)
        if point is not None and self.clickable_at(point.x(), point.y()):
            self.plot.viewport().setCursor(Qt.CursorShape.PointingHandCursor)
        else:
            self.plot.viewport().unsetCursor()
        self._show_tip(scene_pos, QCursor.pos())

    def _show_tip(self, scene_pos: QPointF, screen_pos: QPoint) -> None:
        """Show the tip for a scene point (hide the last one when there is none)."""
        point = self.to_data(scene_pos)
        tip = self.tooltip_at(point.x(), point.y()) if point is not None else None
        if tip:
            if tip != self._last_tip or not QToolTip.isVisible():
                QToolTip.showText(screen_pos, tip, self.plot, QRect(), TIP_MILLISECONDS)
        elif self._last_tip:
            QToolTip.hideText()
        self._last_tip = tip or ""


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
