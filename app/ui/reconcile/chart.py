"""The ledger's dollars beside the provider's, day by day, as pairs of bars."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from PySide6.QtWidgets import QWidget

# isort: split
import pyqtgraph as pg  # after PySide6, so pyqtgraph binds to it and not another Qt

from app.core import money
from app.core.ledger.analysis import Bucket
from app.ui.dashboard.plotting import (
    DAY_SECONDS,
    ChartFrame,
    day_seconds,
    legend_html,
    series_colour,
)

BAR_WIDTH = DAY_SECONDS * 0.4
"""Each of a day's two bars takes 40% of the day, side by side, so a gap parts the days."""


@dataclass(frozen=True)
class DayFigures:
    """One UTC day's dollars on both sides.

    Attributes:
        ledger_usd: what the ledger holds for the day, imported outside spend included (so
            importing closes the gap on the chart).
        provider_usd: what the provider billed; ``None`` where it gives only tokens.
    """

    day: date
    ledger_usd: Decimal
    provider_usd: Decimal | None


class DailyComparisonChart(ChartFrame):
    """Ledger and provider USD per day, the ledger's bar left of the provider's."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Ledger and provider per day (USD)", dates=True, parent=parent)
        self._days: dict[date, DayFigures] = {}
        self.ledger_bars = pg.BarGraphItem(x0=[], y0=[], width=[], height=[])
        self.provider_bars = pg.BarGraphItem(x0=[], y0=[], width=[], height=[])
        for item in (self.ledger_bars, self.provider_bars):
            self.plot_item.addItem(item)
        self.legend.setText(
            legend_html(
                [("Ledger", series_colour(0)), ("Provider", series_colour(1))], vertical=False
            )
        )
        self.apply_palette()

    def set_days(self, days: Sequence[DayFigures], since: date, until: date) -> None:
        """Draw ``days`` over the range ``since`` to ``until`` (days not given drew nothing)."""
        self._days = {figures.day: figures for figures in days}
        starts = [day_seconds(figures.day) for figures in days]
        ledger = [float(figures.ledger_usd) for figures in days]
        provider = [float(figures.provider_usd or 0) for figures in days]
        gap = (DAY_SECONDS - 2 * BAR_WIDTH) / 2
        self.ledger_bars.setOpts(x0=[x + gap for x in starts], y0=0, width=BAR_WIDTH, height=ledger)
        self.provider_bars.setOpts(
            x0=[x + gap + BAR_WIDTH for x in starts], y0=0, width=BAR_WIDTH, height=provider
        )
        top = max([*ledger, *provider, 0.0])
        self.plot_item.setYRange(0, top * 1.1 if top else 1.0, padding=0)
        self.show_dates(since, until, Bucket.DAY)
        self.show_empty(None if top else "No spend on either side in this range")

    def tooltip_at(self, x: float, y: float) -> str | None:
        """The day under the mouse, both figures."""
        day = date(1970, 1, 1) + timedelta(days=int(x // DAY_SECONDS))
        figures = self._days.get(day)
        if figures is None:
            return None
        provider = "tokens only" if figures.provider_usd is None else _dollars(figures.provider_usd)
        return (
            f"{day.day} {day:%b %Y}\nLedger: {_dollars(figures.ledger_usd)}\nProvider: {provider}"
        )

    def _apply_item_palette(self) -> None:
        for item, index in ((self.ledger_bars, 0), (self.provider_bars, 1)):
            item.setOpts(brush=pg.mkBrush(series_colour(index)), pen=pg.mkPen(None))


def _dollars(usd: Decimal) -> str:
    return money.format_usd(usd * money.CREDITS_PER_USD)
