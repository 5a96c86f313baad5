"""The day ranges offered in one click, in UTC days as the ledger keeps them: one set for the
dashboard and the transactions view, so that "Last 30 days" means the same days in both."""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum

from app.core.clock import utcnow


class RangePreset(StrEnum):
    """The presets, in the order the range menus offer them; Custom takes two dates."""

    TODAY = "Today"
    LAST_7_DAYS = "Last 7 days"
    LAST_30_DAYS = "Last 30 days"
    THIS_MONTH = "This month"
    LAST_MONTH = "Last month"
    THIS_YEAR = "This year"
    ALL = "All time"
    CUSTOM = "Custom dates"


def utc_today() -> date:
    """Today's UTC date: the ledger's days are UTC."""
    return utcnow().date()


def preset_days(preset: RangePreset, today: date) -> tuple[date | None, date | None]:
    """The first and last day (inclusive) a preset covers on ``today``; ``None`` where it has
    no bound (All time, and Custom, whose days are the user's)."""
    match preset:
        case RangePreset.TODAY:
            return today, today
        case RangePreset.LAST_7_DAYS:
            return today - timedelta(days=6), today
        case RangePreset.LAST_30_DAYS:
            return today - timedelta(days=29), today
        case RangePreset.THIS_MONTH:
            return today.replace(day=1), today
        case RangePreset.LAST_MONTH:
            last_day = today.replace(day=1) - timedelta(days=1)
            return last_day.replace(day=1), last_day
        case RangePreset.THIS_YEAR:
            return today.replace(month=1, day=1), today
        case _:
            return None, None


def preset_matching(since: date | None, until: date | None, today: date) -> RangePreset:
    """The preset that covers exactly these days on ``today``, else Custom.

    A range with a first day and no last one runs through today (the transactions view keeps
    ranges that end today open, so rows recorded after midnight still show).
    """
    if since is not None and until is None:
        until = today
    for preset in RangePreset:
        if preset is not RangePreset.CUSTOM and preset_days(preset, today) == (since, until):
            return preset
    return RangePreset.CUSTOM
