"""Deadline arithmetic: working days skip weekends and the network's holidays."""

from datetime import UTC, date, datetime

import pytest

from referral.domain.calendar import add_days, add_months, add_period, is_working_day
from referral.domain.errors import InvalidInput
from referral.services.holidays import Holiday, parse_holidays

MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EASTER_MONDAY = date(2026, 4, 6)


def at(day: int, month: int = 3, year: int = 2026) -> datetime:
    return datetime(year, month, day, 9, 0, tzinfo=UTC)


def test_five_working_days_from_monday_is_the_next_monday() -> None:
    assert add_days(MONDAY, 5, working=True) == at(9)


def test_a_holiday_inside_the_span_pushes_the_deadline_a_day() -> None:
    assert add_days(MONDAY, 5, working=True, holidays={date(2026, 3, 4)}) == at(10)


def test_a_holiday_on_the_weekend_changes_nothing() -> None:
    assert add_days(MONDAY, 5, working=True, holidays={date(2026, 3, 7)}) == at(9)


def test_a_deadline_never_lands_on_a_holiday() -> None:
    assert add_days(MONDAY, 5, working=True, holidays={date(2026, 3, 9)}) == at(10)


def test_working_days_from_a_friday_skip_the_weekend() -> None:
    assert add_days(at(6), 1, working=True) == at(9)


def test_plain_days_ignore_weekends_and_holidays() -> None:
    assert add_days(MONDAY, 5, working=False, holidays={date(2026, 3, 4)}) == at(7)


def test_is_working_day_knows_weekends_and_holidays() -> None:
    assert is_working_day(date(2026, 4, 7))
    assert not is_working_day(date(2026, 4, 4))  # Saturday
    assert not is_working_day(EASTER_MONDAY, {EASTER_MONDAY})


def test_months_clamp_to_the_last_day_of_a_short_month() -> None:
    assert add_months(at(31, 8), 6) == at(28, 2, 2027)
    assert add_months(at(31, 8), -6) == at(28, 2)


def test_a_period_adds_months_then_working_days() -> None:
    # 2 April + 1 month = 2 May (Saturday); 2 working days: Mon 4, Tue 5 May.
    assert add_period(at(2, 4), months=1, days=2, working=True) == at(5, 5)
    assert add_period(MONDAY, months=6) == at(2, 9)


def test_holiday_file_lines_become_holidays_in_date_order() -> None:
    text = (
        "# Demo City holidays\n2026-12-25,Christmas Day\n\n2026-04-06, Easter Monday\n2026-05-01\n"
    )
    assert parse_holidays(text, "h.csv") == [
        Holiday(EASTER_MONDAY, "Easter Monday"),
        Holiday(date(2026, 5, 1), ""),
        Holiday(date(2026, 12, 25), "Christmas Day"),
    ]


def test_holiday_file_errors_name_the_file_and_every_bad_line() -> None:
    text = "2026-12-25,Christmas\n2026-13-01,Nonsense\n2026-12-25,Again\n2026-01-01,a,b\n"
    with pytest.raises(InvalidInput) as raised:
        parse_holidays(text, "holidays.csv")
    assert raised.value.message.splitlines() == [
        "holidays.csv: line 2: '2026-13-01' is not a date (YYYY-MM-DD)",
        "holidays.csv: line 3: 2026-12-25 is listed twice",
        "holidays.csv: line 4: expected `YYYY-MM-DD,label`, found 3 fields",
    ]
