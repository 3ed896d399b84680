"""Wall-clock time in a network's time zone: every time is stored in UTC, and people
enter and read meeting times in the network's own zone (its IANA name, networks.time_zone).

Pure functions of a time and a zone name. A local time that the zone skips (the hour lost
when the clocks go forward) does not exist: `to_utc` refuses it. A local time the zone
passes twice (the hour repeated when the clocks go back) is read as its first occurrence
(fold=0), the one before the change.
"""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from referral.domain.errors import InvalidInput


def zone(name: str) -> ZoneInfo:
    """The zone of that IANA name; an unknown name reads as UTC rather than failing a page."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def to_utc(local: datetime, zone_name: str, field: str = "scheduled_for") -> datetime:
    """A wall-clock time in the zone (naive, as a form gives it) as an aware UTC time.
    A time already aware is converted as it is. A time the zone skips is refused."""
    if local.tzinfo is not None:
        return local.astimezone(UTC)
    tz = zone(zone_name)
    placed = local.replace(tzinfo=tz, fold=0)
    back = placed.astimezone(UTC).astimezone(tz)
    if back.replace(tzinfo=None) != local:
        raise InvalidInput(
            "{when} does not exist in {zone}: the clocks go forward then. Choose a time "
            "outside the skipped hour.",
            {field: "{time} on {day} does not exist in {zone} (the clocks go forward): "
             "choose another time.".format(
                time=f"{local:%H:%M}", day=f"{local:%d %B %Y}", zone=zone_name)},
            when=f"{local:%d %B %Y %H:%M}",
            zone=zone_name,
        )  # fmt: skip
    return placed.astimezone(UTC)


def to_local(moment: datetime, zone_name: str) -> datetime:
    """A stored time (aware; naive reads as UTC) as an aware time in the zone."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(zone(zone_name))


def local_day(moment: datetime, zone_name: str) -> date:
    """The calendar day it is (or was) in the zone at that moment."""
    return to_local(moment, zone_name).date()
