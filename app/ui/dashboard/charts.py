"""The dashboard's charts, one class each; they draw figures and never read the ledger.

Each chart keeps its pyqtgraph items and updates them with ``setOpts``/``setData`` on every
refresh (creating an item only for a model it has not drawn before), so a live refresh does not
rebuild the scene.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QPalette
from PySide6.QtWidgets import QLabel, QWidget

# isort: split
import pyqtgraph as pg  # after PySide6, so pyqtgraph binds to it and not another Qt

from app.core.conversations import CHAT_SOURCE
from app.core.ledger.analysis import BalancePoint, Bucket, CostPoint, Forecast, Share, TokenPoint
from app.core.money import format_usd, format_usd_exact
from app.ui.dashboard.plotting import (
    DAY_SECONDS,
    ChartFrame,
    ModelColours,
    bucket_end,
    day_seconds,
    elide_words,
    legend_html,
    series_colour,
    usd,
)

BAR_GAP = 0.12
"""Share of a bucket's width left empty on each side of its bar."""
SHARE_BAR_HEIGHT = 0.7
SHARE_LABEL_SHARE = 0.5
"""At most this share of a breakdown's width goes to its row labels."""
SHARE_LABEL_MIN = 80
SHARE_LABEL_MARGIN = 12
"""Pixels between a row label and its bar."""
SHARE_VALUE_MARGIN = 8
"""Pixels kept free right of the widest value label."""
NOTHING = "No spend in this range"


def bucket_name(start: date, bucket: Bucket) -> str:
    """``Mon 2 Nov 2026``, ``Week of 2 Nov 2026`` or ``November 2026``."""
    if bucket is Bucket.WEEK:
        return f"Week of {start.day} {start:%b %Y}"
    if bucket is Bucket.MONTH:
        return f"{start:%B %Y}"
    return f"{start:%a} {start.day} {start:%b %Y}"


def tip_usd(credits: Decimal) -> str:
    """An amount for a tooltip: readable, then every digit when rounding hid some."""
    readable, exact = format_usd(credits), format_usd_exact(credits)
    return readable if exact == readable else f"{readable} (exactly {exact})"


def _reference_line(*, at_left: bool = False) -> Any:
    """A horizontal dashed line with a label (budgets, thresholds).

    The label sits above the line at its right end, or with ``at_left`` below it at the left
    end (where a running total is still low and the top of a short chart would clip it).
    """
    position, anchor = (0.02, (0, 0)) if at_left else (0.98, (1, 1))
    line = pg.InfiniteLine(
        angle=0,
        movable=False,
        label="",
        labelOpts={"position": position, "anchors": [anchor, anchor]},
    )
    line.setZValue(10)
    line.hide()
    return line


def _place_reference_line(line: Any, value: Decimal | None, text: str) -> None:
    """Show ``line`` at ``value`` credits, labelled ``text`` (hide it for ``None``)."""
    if value is None:
        line.hide()
        return
    line.show()  # first: the label ignores a new text while the line is hidden
    line.setValue(usd(value))
    line.label.setFormat(f"{text} {format_usd(value)}".replace("{", "{{"))


def _style_reference_line(line: Any, colour: QColor, style: Qt.PenStyle) -> None:
    line.setPen(pg.mkPen(colour, width=1.5, style=style))
    line.label.setColor(colour)


@dataclass(frozen=True)
class _Segment:
    """One model's part of one bucket's bar, where it is drawn."""

    left: float
    right: float
    bottom: float
    top: float
    point: CostPoint
    bucket_total: Decimal


class DailyCostChart(ChartFrame):
    """Spend per day, week or month as bars stacked by model, with the overall budget's line.

    The largest model of the range sits at the bottom of every stack, in the same hue as on
    every other chart. Hovering a part of a bar tells its bucket, model, tokens and cost.
    """

    def __init__(self, colours: ModelColours, parent: QWidget | None = None) -> None:
        super().__init__("Cost per day (USD)", dates=True, legend_right=True, parent=parent)
        self._colours = colours
        self._bars: dict[str, Any] = {}
        self._order: list[str] = []
        self._segments: list[_Segment] = []
        self.bucket = Bucket.DAY
        self.budget_line = _reference_line()
        self.plot_item.addItem(self.budget_line, ignoreBounds=True)
        self.plot_item.showGrid(y=True, alpha=0.15)
        self.apply_palette()

    def set_points(
        self,
        points: Sequence[CostPoint],
        bucket: Bucket,
        span: tuple[date, date] | None,
        budget: tuple[str, Decimal] | None = None,
    ) -> None:
        """Draw ``points`` as stacked bars.

        Args:
            span: the first and last day of the selection, so empty days at either end still
                show (``None``: fit the data).
            budget: a label and a limit in credits to draw across the chart (a daily budget on
                daily bars, a monthly one on monthly bars).
        """
        self.bucket = bucket
        self.title_label.setText(f"Cost per {bucket.value} (USD)")
        per_model: dict[str, list[CostPoint]] = defaultdict(list)
        totals: dict[date, Decimal] = defaultdict(Decimal)
        for point in points:
            per_model[point.model].append(point)
            totals[point.start] += point.cost
        order = sorted(per_model, key=lambda m: (-sum(p.cost for p in per_model[m]), m))
        self._order = order
        self._colours.learn(order)
        stacks: dict[date, float] = defaultdict(float)
        self._segments = []
        for model in order:
            segments = [self._segment(p, stacks, totals[p.start]) for p in per_model[model]]
            self._segments.extend(segments)
            self._draw_model(model, segments)
        for model in set(self._bars) - set(order):
            self.plot_item.removeItem(self._bars.pop(model))
        self.legend.setText(
            legend_html(((m, self._colours.colour(m)) for m in order), vertical=True)
        )
        self._show_budget(budget)
        self._set_ranges(max(stacks.values(), default=0.0), span, budget)
        self.show_empty(None if points else NOTHING)

    def models(self) -> list[str]:
        """The models drawn, bottom of the stack first (the legend's order)."""
        return list(self._order)

    def bucket_count(self) -> int:
        """How many bars (buckets with spend) are drawn."""
        return len({segment.point.start for segment in self._segments})

    def stack_tops(self) -> dict[date, float]:
        """The height of each drawn bar in USD: the top of its stack, from the drawn items."""
        tops: dict[date, float] = {}
        for model, item in self._bars.items():
            starts = [s.point.start for s in self._segments if s.point.model == model]
            drawn = zip(item.opts["y0"], item.opts["height"], strict=True)
            heights = [float(y0 + height) for y0, height in drawn]
            for start, top in zip(starts, heights, strict=True):
                tops[start] = max(tops.get(start, 0.0), top)
        return tops

    def tooltip_at(self, x: float, y: float) -> str | None:
        """Bucket, model, tokens and cost of the bar part under the point."""
        for segment in self._segments:
            if segment.left <= x <= segment.right and segment.bottom <= y <= segment.top:
                point = segment.point
                return (
                    f"{bucket_name(point.start, self.bucket)}\n"
                    f"{point.model}: {tip_usd(point.cost)}\n"
                    f"{point.input_tokens:,} tokens in, {point.output_tokens:,} out\n"
                    f"All models: {format_usd(segment.bucket_total)}"
                )
        return None

    def segment_centre(self, start: date, model: str) -> QPointF | None:
        """The middle of one model's part of one bar, in data coordinates (for tooltips)."""
        for segment in self._segments:
            if segment.point.start == start and segment.point.model == model:
                return QPointF(
                    (segment.left + segment.right) / 2, (segment.bottom + segment.top) / 2
                )
        return None

    def _segment(self, point: CostPoint, stacks: dict[date, float], total: Decimal) -> _Segment:
        left, right = day_seconds(point.start), day_seconds(bucket_end(point.start, self.bucket))
        gap = (right - left) * BAR_GAP
        bottom = stacks[point.start]
        stacks[point.start] = top = bottom + usd(point.cost)
        return _Segment(left + gap, right - gap, bottom, top, point, total)

    def _draw_model(self, model: str, segments: list[_Segment]) -> None:
        data = {
            "x0": [s.left for s in segments],
            "x1": [s.right for s in segments],
            "y0": [s.bottom for s in segments],
            "height": [s.top - s.bottom for s in segments],
            "brush": self._colours.colour(model),
            "name": model,
        }
        item = self._bars.get(model)
        if item is None:
            item = pg.BarGraphItem(pen=self._outline(), **data)
            self._bars[model] = item
            self.plot_item.addItem(item)
        else:
            item.setOpts(**data)

    def _show_budget(self, budget: tuple[str, Decimal] | None) -> None:
        label, limit = budget if budget is not None else ("", None)
        _place_reference_line(self.budget_line, limit, label)

    def _set_ranges(
        self, top: float, span: tuple[date, date] | None, budget: tuple[str, Decimal] | None
    ) -> None:
        if budget is not None:
            top = max(top, usd(budget[1]))
        self.plot_item.setYRange(0, top * 1.12 or 1.0, padding=0)
        starts = [segment.point.start for segment in self._segments]
        first, last = span or (min(starts, default=None), max(starts, default=None))
        self.show_dates(first, last, self.bucket)

    def _outline(self) -> Any:
        """A thin line in the background colour, so stacked parts stay apart."""
        return pg.mkPen(self.palette().color(QPalette.ColorRole.Base), width=1)

    def _apply_item_palette(self) -> None:
        for item in self._bars.values():
            item.setOpts(pen=self._outline())
        text = self.palette().color(QPalette.ColorRole.Text)
        _style_reference_line(self.budget_line, text, Qt.PenStyle.DashLine)


class ShareChart(ChartFrame):
    """A breakdown as horizontal bars, largest at the top, each labelled with its cost.

    What the top rows leave out ("Other", hundreds of conversations) is one line of text under
    the bars, not a bar: on the same scale it would dwarf the rows it follows. Row labels get
    the room they need up to a share of the width; longer ones are cut at a word, the tooltip
    has them whole. The cost range leaves the value labels room to stay whole inside the plot.

    Signals:
        share_clicked(object): the :class:`Share` whose row was clicked (clickable charts only).
    """

    share_clicked = Signal(object)

    def __init__(
        self,
        title: str,
        colour_of: Callable[[Share], QColor],
        *,
        clickable: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(title, dates=False, parent=parent)
        self._colour_of = colour_of
        self._clickable = clickable
        self._shares: tuple[Share, ...] = ()
        self._rest: Share | None = None
        self._labels: list[str] = []
        self._values: list[Any] = []
        self.bars = pg.BarGraphItem(x0=[], y=[], width=[], height=SHARE_BAR_HEIGHT)
        self.plot_item.addItem(self.bars)
        self.view_box.invertY(True)
        self.plot_item.getAxis("left").setStyle(tickLength=0)
        self.plot_item.getAxis("bottom").hide()
        self.rest_label = QLabel()
        """What the rows leave out and its cost ("Other (344 conversations): $6.34")."""
        self.rest_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.rest_label.hide()
        self.add_to_footer(self.rest_label)
        self.plot.scene().sigMouseClicked.connect(self._on_scene_mouse_clicked)
        self.view_box.sigResized.connect(self._fit)
        self.apply_palette()

    def set_shares(self, shares: Sequence[Share], rest: Share | None = None) -> None:
        """Draw one bar per share, in the given order (top first), and ``rest`` as a line."""
        self._shares, self._rest = tuple(shares), rest
        self.bars.setOpts(
            x0=[0.0] * len(shares),
            y=list(range(len(shares))),
            width=[usd(share.cost) for share in shares],
            height=SHARE_BAR_HEIGHT,
            brushes=[self._colour_of(share) for share in shares],
            pen=None,
        )
        self._set_value_labels(shares)
        self.rest_label.setVisible(rest is not None)
        if rest is not None:
            percent = self._percent(rest)
            self.rest_label.setText(
                f"{rest.label}: {format_usd(rest.cost)}" + (f" ({percent})" if percent else "")
            )
        self.plot_item.setYRange(-0.5, max(len(shares), 3) - 0.5, padding=0.02)
        self._fit()
        self.show_empty(None if shares or rest else NOTHING)

    def shares(self) -> tuple[Share, ...]:
        """The shares drawn as bars, top first."""
        return self._shares

    def rest(self) -> Share | None:
        """What the bars leave out, shown as a line under them."""
        return self._rest

    def labels(self) -> list[str]:
        """The row labels as shown (cut at a word when they have no room)."""
        return list(self._labels)

    def share_at(self, x: float, y: float) -> Share | None:
        """The share whose row holds the point (data coordinates); ``None`` between rows."""
        row = round(y)
        if 0 <= row < len(self._shares) and abs(y - row) <= SHARE_BAR_HEIGHT / 2 and x >= 0:
            return self._shares[row]
        return None

    def bar_centre(self, index: int) -> QPointF:
        """The middle of the ``index``-th bar, in data coordinates."""
        return QPointF(usd(self._shares[index].cost) / 2, float(index))

    def tooltip_at(self, x: float, y: float) -> str | None:
        """The share's full label and cost, and how to open it when it can be opened."""
        share = self.share_at(x, y)
        if share is None:
            return None
        hint = f"\n{self._click_hint(share)}" if self._opens(share) else ""
        percent = self._percent(share)
        part = f"\n{percent} of the spend shown" if percent else ""
        return f"{share.label}\n{tip_usd(share.cost)}{part}{hint}"

    def clickable_at(self, x: float, y: float) -> bool:
        """Over a conversation's row of a clickable chart."""
        share = self.share_at(x, y)
        return share is not None and self._opens(share)

    def _percent(self, share: Share) -> str:
        """``12%`` of everything in the breakdown, the rest included (empty for nothing)."""
        rest = [self._rest] if self._rest is not None else []
        total = sum((s.cost for s in (*self._shares, *rest)), Decimal(0))
        return f"{share.cost / total:.0%}" if total else ""

    def _opens(self, share: Share) -> bool:
        return self._clickable and share.conversation_id is not None

    @staticmethod
    def _click_hint(share: Share) -> str:
        """A tool's conversation has no messages: its click filters by the tool instead."""
        if share.source in (None, CHAT_SOURCE):
            return "Click to open it in the chat"
        return f"Click to show only {share.source}'s spend"

    def _set_value_labels(self, shares: Sequence[Share]) -> None:
        while len(self._values) < len(shares):
            text = pg.TextItem("", anchor=(0, 0.5))
            text.setColor(self.palette().color(QPalette.ColorRole.Text))
            self.plot_item.addItem(text, ignoreBounds=True)
            self._values.append(text)
        for index, text in enumerate(self._values):
            if index < len(shares):
                text.setText(format_usd(shares[index].cost))
                text.setPos(usd(shares[index].cost), index)
                text.show()
            else:
                text.hide()

    def _fit(self, *_: object) -> None:
        """Size the label column and the cost range to the chart's width (again on resize)."""
        metrics = QFontMetrics(self.plot.font())
        labels = [share.label for share in self._shares]
        widest = max(map(metrics.horizontalAdvance, labels), default=0) + SHARE_LABEL_MARGIN
        room = min(widest, max(SHARE_LABEL_MIN, int(self.plot.width() * SHARE_LABEL_SHARE)))
        axis = self.plot_item.getAxis("left")
        if axis.width() != room:
            axis.setWidth(room)
        self._labels = [elide_words(label, metrics, room - SHARE_LABEL_MARGIN) for label in labels]
        axis.setTicks([list(enumerate(self._labels)), []])
        largest = max((usd(share.cost) for share in self._shares), default=0.0)
        values = max(
            (metrics.horizontalAdvance(format_usd(share.cost)) for share in self._shares),
            default=0,
        )
        width = self.view_box.width() or float(self.plot.width())
        bars = max(width - values - SHARE_VALUE_MARGIN, width * 0.3, 1.0)
        self.plot_item.setXRange(0, largest * width / bars or 1.0, padding=0)

    def _on_scene_mouse_clicked(self, event: Any) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        point = self.to_data(event.scenePos())
        share = self.share_at(point.x(), point.y()) if point is not None else None
        if share is not None and self._opens(share):
            event.accept()
            self.share_clicked.emit(share)

    def _apply_item_palette(self) -> None:
        for text in self._values:
            text.setColor(self.palette().color(QPalette.ColorRole.Text))
        if self._shares:  # bar colours may come from the palette too
            self.bars.setOpts(brushes=[self._colour_of(share) for share in self._shares])


class TokensChart(ChartFrame):
    """Tokens in (prompt and cache) and out per bucket, as two lines."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Tokens per day", dates=True, parent=parent)
        self._points: tuple[TokenPoint, ...] = ()
        self._bucket = Bucket.DAY
        self._scale = 1.0
        self.inputs = self.plot_item.plot([], [], name="in", symbol="o", symbolSize=5)
        self.outputs = self.plot_item.plot([], [], name="out", symbol="o", symbolSize=5)
        self.plot_item.showGrid(y=True, alpha=0.15)
        self.legend.setText(
            legend_html([("in", series_colour(0)), ("out", series_colour(1))], vertical=False)
        )
        self.apply_palette()

    def set_points(
        self, points: Sequence[TokenPoint], bucket: Bucket, span: tuple[date, date] | None
    ) -> None:
        """Draw the two series at each bucket's middle."""
        self._points, self._bucket = tuple(points), bucket
        biggest = max((max(p.input_tokens, p.output_tokens) for p in points), default=0)
        self._scale, unit = (1e6, "millions") if biggest >= 2e6 else (1e3, "thousands")
        self.title_label.setText(f"Tokens per {bucket.value} ({unit})")
        xs = [self._middle(p.start) for p in points]
        self.inputs.setData(xs, [p.input_tokens / self._scale for p in points])
        self.outputs.setData(xs, [p.output_tokens / self._scale for p in points])
        self.plot_item.setYRange(0, biggest / self._scale * 1.1 or 1.0, padding=0)
        starts = [p.start for p in points]
        first, last = span or (min(starts, default=None), max(starts, default=None))
        self.show_dates(first, last, bucket)
        self.show_empty(None if points else NOTHING)

    def tooltip_at(self, x: float, y: float) -> str | None:
        """The bucket under the mouse and its tokens."""
        for point in self._points:
            if day_seconds(point.start) <= x < day_seconds(bucket_end(point.start, self._bucket)):
                return (
                    f"{bucket_name(point.start, self._bucket)}\n"
                    f"{point.input_tokens:,} tokens in\n{point.output_tokens:,} tokens out"
                )
        return None

    def _middle(self, start: date) -> float:
        return (day_seconds(start) + day_seconds(bucket_end(start, self._bucket))) / 2

    def _apply_item_palette(self) -> None:
        base = self.palette().color(QPalette.ColorRole.Base)
        for item, colour in ((self.inputs, series_colour(0)), (self.outputs, series_colour(1))):
            item.setPen(pg.mkPen(colour, width=2))
            item.setSymbolBrush(colour)
            item.setSymbolPen(pg.mkPen(base))


class BalanceChart(ChartFrame):
    """The balance at the end of each day, with the low-balance threshold."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Balance (USD)", dates=True, parent=parent)
        self._points: tuple[BalancePoint, ...] = ()
        self.line = self.plot_item.plot([], [], symbol="o", symbolSize=4)
        self.threshold_line = _reference_line()
        self.plot_item.addItem(self.threshold_line, ignoreBounds=True)
        self.plot_item.showGrid(y=True, alpha=0.15)
        self.apply_palette()

    def set_points(
        self,
        points: Sequence[BalancePoint],
        threshold: Decimal | None,
        span: tuple[date, date] | None,
    ) -> None:
        """Draw the balance, and the threshold when one is set."""
        self._points = tuple(points)
        values = [usd(p.balance) for p in points]
        self.line.setData([day_seconds(p.day) + DAY_SECONDS / 2 for p in points], values)
        _place_reference_line(self.threshold_line, threshold, "Low balance")
        if threshold is not None:
            values.append(usd(threshold))
        # The trend and the threshold, not the distance from zero: the axis says the amounts.
        # With no history, from zero: the threshold near the top, clear of the empty note.
        low, high = min(values) if points else 0.0, max(values, default=1.0)
        margin = (high - low) * 0.15 or 1.0
        self.plot_item.setYRange(low - margin if points else 0.0, high + margin, padding=0)
        days = [p.day for p in points]
        first, last = span or (min(days, default=None), max(days, default=None))
        self.show_dates(first, last, Bucket.DAY)
        self.show_empty(None if points else "No balance history in this range")

    def tooltip_at(self, x: float, y: float) -> str | None:
        """The day under the mouse and the balance at its end."""
        for point in self._points:
            if day_seconds(point.day) <= x < day_seconds(point.day) + DAY_SECONDS:
                balance = tip_usd(point.balance)
                return f"{bucket_name(point.day, Bucket.DAY)}\nBalance at the day's end: {balance}"
        return None

    def _apply_item_palette(self) -> None:
        palette = self.palette()
        highlight = palette.color(QPalette.ColorRole.Highlight)
        self.line.setPen(pg.mkPen(highlight, width=2))
        self.line.setSymbolBrush(highlight)
        self.line.setSymbolPen(pg.mkPen(palette.color(QPalette.ColorRole.Base)))
        _style_reference_line(
            self.threshold_line, palette.color(QPalette.ColorRole.Text), Qt.PenStyle.DashLine
        )


class ForecastChart(ChartFrame):
    """This month's running spend, the straight line to the projected month end, the budget."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("This month, all spend (USD)", dates=True, parent=parent)
        self._day_ends: dict[date, tuple[str, Decimal]] = {}
        self.spent_line = self.plot_item.plot([], [])
        self.projection_line = self.plot_item.plot([], [])
        self.budget_line = _reference_line(at_left=True)
        self.plot_item.addItem(self.budget_line, ignoreBounds=True)
        self.plot_item.showGrid(y=True, alpha=0.15)
        self.apply_palette()

    def set_forecast(
        self, forecast: Forecast, month_to_date: Sequence[tuple[date, Decimal]], today: date
    ) -> None:
        """Draw the month so far (cumulative, at each day's end) and the projection."""
        per_day = dict(month_to_date)
        xs, ys, running = [day_seconds(forecast.month_start)], [0.0], Decimal(0)
        day, self._day_ends = forecast.month_start, {}
        while day <= today:
            running += per_day.get(day, Decimal(0))
            self._day_ends[day] = ("Spent by the day's end", running)
            day += timedelta(days=1)
            xs.append(day_seconds(day))
            ys.append(usd(running))
        month_end = bucket_end(forecast.month_start, Bucket.MONTH)
        while day < month_end:
            ahead = forecast.spent + forecast.daily_rate * (day - today).days
            self._day_ends[day] = ("Projected by the day's end", ahead)
            day += timedelta(days=1)
        self.spent_line.setData(xs, ys)
        self.projection_line.setData(
            [xs[-1], day_seconds(month_end)], [usd(forecast.spent), usd(forecast.projected)]
        )
        top = usd(forecast.projected)
        _place_reference_line(self.budget_line, forecast.budget, "Monthly budget")
        if forecast.budget is not None:
            top = max(top, usd(forecast.budget))
        self.plot_item.setYRange(0, top * 1.15 or 1.0, padding=0)
        self.show_dates(forecast.month_start, month_end - timedelta(days=1), Bucket.DAY)

    def tooltip_at(self, x: float, y: float) -> str | None:
        """The day under the mouse and the month's spend at its end, spent or projected."""
        for day, (words, amount) in self._day_ends.items():
            if day_seconds(day) <= x < day_seconds(day) + DAY_SECONDS:
                return f"{bucket_name(day, Bucket.DAY)}\n{words}: {tip_usd(amount)}"
        return None

    def _apply_item_palette(self) -> None:
        palette = self.palette()
        highlight = palette.color(QPalette.ColorRole.Highlight)
        self.spent_line.setPen(pg.mkPen(highlight, width=2))
        self.projection_line.setPen(pg.mkPen(highlight, width=2, style=Qt.PenStyle.DashLine))
        _style_reference_line(
            self.budget_line, palette.color(QPalette.ColorRole.Text), Qt.PenStyle.DashLine
        )
