"""Wall-clock times in a network's zone (referral.domain.clock)."""

from datetime import UTC, datetime

import pytest

from referral.domain.clock import local_day, to_local, to_utc
from referral.domain.errors import InvalidInput


def test_a_local_time_is_stored_in_utc_and_read_back() -> None:
    stored = to_utc(datetime(2026, 12, 3, 18, 0), "Europe/London")
    assert stored == datetime(2026, 12, 3, 18, 0, tzinfo=UTC)
    summer = to_utc(datetime(2026, 7, 3, 18, 0), "Europe/London")
    assert summer == datetime(2026, 7, 3, 17, 0, tzinfo=UTC)
    shown = to_local(summer, "Europe/London")
    assert (shown.hour, shown.tzname()) == (18, "BST")
    assert to_utc(datetime(2026, 3, 3, 0, 30), "Asia/Kolkata") == datetime(
        2026, 3, 2, 19, 0, tzinfo=UTC
    )


def test_the_local_day_differs_from_the_utc_day() -> None:
    moment = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)
    assert local_day(moment, "Asia/Kolkata").day == 3
    assert local_day(datetime(2026, 3, 3, 4, 30, tzinfo=UTC), "America/New_York").day == 2


def test_a_time_the_clocks_skip_is_refused() -> None:
    with pytest.raises(InvalidInput, match="does not exist in Europe/London") as refused:
        to_utc(datetime(2026, 3, 29, 1, 30), "Europe/London")
    assert "scheduled_for" in refused.value.errors


def test_a_time_the_clocks_pass_twice_is_its_first_occurrence() -> None:
    # 01:30 on 25 October 2026 happens in BST (00:30 UTC) and again in GMT (01:30 UTC).
    assert to_utc(datetime(2026, 10, 25, 1, 30), "Europe/London") == datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC
    )


def test_an_aware_time_is_converted_as_it_is_and_an_unknown_zone_reads_as_utc() -> None:
    aware = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert to_utc(aware, "Asia/Kolkata") == aware
    assert to_local(aware, "Not/AZone").utcoffset().total_seconds() == 0  # type: ignore[union-attr]
