"""Deadline arithmetic: plain days, working days (Monday to Friday, less a network's
holidays) and calendar months.

Pure functions of a start time and a holiday set; the caller loads the holidays of the
network the deadline belongs to (Repositories.holidays). Days are counted on the UTC
calendar, as every time is stored.
"""

from collections.abc import Container
from datetime import date, datetime, timedelta

SATURDAY = 5


def is_working_day(day: date, holidays: Container[date] = ()) -> bool:
    return day.weekday() < SATURDAY and day not in holidays


def add_days(
    start: datetime, days: int, *, working: bool, holidays: Container[date] = ()
) -> datetime:
    """`days` later; with `working`, skip weekends and holidays (same time of day)."""
    if not working:
        return start + timedelta(days=days)
    moment, remaining = start, days
    while remaining > 0:
        moment += timedelta(days=1)
        if is_working_day(moment.date(), holidays):
            remaining -= 1
    return moment


def add_months(start: datetime, months: int) -> datetime:
    """Same day of the month `months` later, clamped to the month's last day."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    for day in range(start.day, 27, -1):
        try:
            return start.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    return start.replace(year=year, month=month, day=min(start.day, 28))


def add_period(
    start: datetime,
    *,
    days: int = 0,
    months: int = 0,
    working: bool = False,
    holidays: Container[date] = (),
) -> datetime:
    """`months` calendar months, then `days` (working days with `working`) after `start`."""
    return add_days(add_months(start, months), days, working=working, holidays=holidays)
