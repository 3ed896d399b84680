"""Deadline arithmetic: plain and working days (Monday to Friday).

A per-network holiday calendar is a later addition; it will pass the holidays in.
"""

from collections.abc import Container
from datetime import date, datetime, timedelta


def add_days(
    start: datetime, days: int, *, working: bool, holidays: Container[date] = ()
) -> datetime:
    if not working:
        return start + timedelta(days=days)
    moment, remaining = start, days
    while remaining > 0:
        moment += timedelta(days=1)
        if moment.weekday() < 5 and moment.date() not in holidays:
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
