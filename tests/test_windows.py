"""Windows (`--window 12m`, `3m`, `1q`, `1y`, `90d`, `2w`): the day a window before lands on."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import InputError
from projections.windows import parse_window


@pytest.mark.parametrize(
    ("window", "day", "start"),
    [
        ("1q", "2026-06-30", "2026-03-31"),  # a quarter end goes back to the previous one
        ("3m", "2026-06-30", "2026-03-31"),
        ("1m", "2026-04-30", "2026-03-31"),
        ("1m", "2026-03-31", "2026-02-28"),  # no Feb 31: the month's last day
        ("1m", "2026-02-28", "2026-01-31"),
        ("12m", "2028-02-29", "2027-02-28"),
        ("1y", "2026-12-31", "2025-12-31"),
        ("1q", "2026-05-15", "2026-02-15"),  # not a month end: the same day of the month
        ("1m", "2026-03-30", "2026-02-28"),
        ("90d", "2026-06-30", "2026-04-01"),
        ("2w", "2026-06-30", "2026-06-16"),
    ],
)
def test_the_day_a_window_before(window: str, day: str, start: str) -> None:
    assert parse_window(window).before(date.fromisoformat(day)) == date.fromisoformat(start)


def _month_end(d: date) -> bool:
    return d.day == calendar.monthrange(d.year, d.month)[1]


@given(
    st.dates(min_value=date(1950, 1, 1), max_value=date(2150, 12, 31)),
    st.integers(min_value=1, max_value=40),
    st.sampled_from(["m", "q", "y"]),
)
def test_month_ends_stay_month_ends_and_other_days_keep_their_day(
    day: date, count: int, unit: str
) -> None:
    start = parse_window(f"{count}{unit}").before(day)
    months = count * {"m": 1, "q": 3, "y": 12}[unit]
    assert (day.year * 12 + day.month) - (start.year * 12 + start.month) == months
    if _month_end(day):
        assert _month_end(start)
    else:
        last = calendar.monthrange(start.year, start.month)[1]
        assert start.day == min(day.day, last)


@given(st.dates(min_value=date(1950, 1, 1), max_value=date(2150, 12, 31)), st.integers(1, 400))
def test_days_and_weeks_count_days(day: date, count: int) -> None:
    assert parse_window(f"{count}d").before(day) == day - timedelta(days=count)
    assert parse_window(f"{count}w").before(day) == day - timedelta(weeks=count)


@pytest.mark.parametrize("text", ["0m", "12", "m", "1x", "-3m"])
def test_a_window_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(InputError, match="is not a window such as 12m"):
        parse_window(text)


def test_windows_of_more_than_three_digits_are_windows_up_to_the_ledgers_years() -> None:
    assert parse_window("1095d").before(date(2026, 6, 30)) == date(2023, 7, 1)
    assert parse_window("300y").before(date(2026, 6, 30)) == date(1726, 6, 30)
    for text in ("301y", "1201q", "3601m", "15901w", "109801d", "999999999d"):
        with pytest.raises(InputError, match="is longer than the 300 years"):
            parse_window(text)
