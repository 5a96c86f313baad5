"""The one-click day ranges the dashboard and the transactions view share."""

from __future__ import annotations

from datetime import date

import pytest

from app.core.day_ranges import RangePreset, preset_days, preset_matching

TODAY = date(2026, 11, 24)


@pytest.mark.parametrize(
    ("preset", "days"),
    [
        (RangePreset.TODAY, (TODAY, TODAY)),
        (RangePreset.LAST_7_DAYS, (date(2026, 11, 18), TODAY)),
        (RangePreset.LAST_30_DAYS, (date(2026, 10, 26), TODAY)),
        (RangePreset.THIS_MONTH, (date(2026, 11, 1), TODAY)),
        (RangePreset.LAST_MONTH, (date(2026, 10, 1), date(2026, 10, 31))),
        (RangePreset.THIS_YEAR, (date(2026, 1, 1), TODAY)),
        (RangePreset.ALL, (None, None)),
        (RangePreset.CUSTOM, (None, None)),
    ],
)
def test_each_preset_covers_its_days(preset: RangePreset, days: tuple[date, date]) -> None:
    assert preset_days(preset, TODAY) == days


def test_last_month_in_january_is_last_december() -> None:
    assert preset_days(RangePreset.LAST_MONTH, date(2027, 1, 15)) == (
        date(2026, 12, 1),
        date(2026, 12, 31),
    )


@pytest.mark.parametrize("preset", [p for p in RangePreset if p is not RangePreset.CUSTOM])
def test_every_preset_is_recognised_from_its_days(preset: RangePreset) -> None:
    assert preset_matching(*preset_days(preset, TODAY), TODAY) is preset


def test_an_open_end_runs_through_today_and_other_days_are_custom() -> None:
    assert preset_matching(date(2026, 11, 18), None, TODAY) is RangePreset.LAST_7_DAYS
    assert preset_matching(date(2026, 11, 17), None, TODAY) is RangePreset.CUSTOM
    assert preset_matching(date(2026, 11, 18), date(2026, 11, 23), TODAY) is RangePreset.CUSTOM
    assert preset_matching(None, TODAY, TODAY) is RangePreset.CUSTOM


def test_on_the_first_of_the_month_today_wins_over_this_month() -> None:
    first = date(2026, 12, 1)
    assert preset_matching(first, first, first) is RangePreset.TODAY
