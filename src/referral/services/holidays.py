"""A network's holiday calendar: the days working-day deadlines skip.

Operators load it from a file (`referral holidays import NETWORK FILE`), one holiday a
line: `YYYY-MM-DD,label`; blank lines and lines starting with `#` are ignored. New
deadlines and timers count with it from then on; those already set stay as they were.
"""

import csv
from dataclasses import dataclass
from datetime import date

from referral.audit.chain import AuditRecord
from referral.db.tables import NetworkHoliday
from referral.domain.actors import system_actor
from referral.domain.errors import InvalidInput, NotFound
from referral.services.uow import UnitOfWork

MAX_LABEL = 200


@dataclass(frozen=True)
class Holiday:
    day: date
    label: str = ""


def parse_holidays(text: str, source: str) -> list[Holiday]:
    """Holidays from the file's text; every bad line is named as `source: line N: ...`."""
    holidays: dict[date, Holiday] = {}
    problems: list[str] = []
    for number, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        where = f"{source}: line {number}"
        if len(row) > 2:
            problems.append(f"{where}: expected `YYYY-MM-DD,label`, found {len(row)} fields")
            continue
        try:
            day = date.fromisoformat(row[0].strip())
        except ValueError:
            problems.append(f"{where}: '{row[0].strip()}' is not a date (YYYY-MM-DD)")
            continue
        label = row[1].strip() if len(row) > 1 else ""
        if len(label) > MAX_LABEL:
            problems.append(f"{where}: the label is longer than {MAX_LABEL} characters")
        elif day in holidays:
            problems.append(f"{where}: {day} is listed twice")
        else:
            holidays[day] = Holiday(day, label)
    if problems:
        listed = "\n".join(problems)  # each problem is a sentence of its own
        raise InvalidInput(listed)
    return sorted(holidays.values(), key=lambda h: h.day)


@dataclass(frozen=True)
class ImportHolidays:
    network: str
    holidays: tuple[Holiday, ...]
    replace: bool = False


@dataclass(frozen=True)
class Imported:
    added: int
    relabelled: int
    removed: int


def import_holidays(uow: UnitOfWork, command: ImportHolidays) -> Imported:
    """Add (or relabel) the listed days; with `replace`, remove the network's others.

    An operator's command, not a person's request: audited as `network:holidays` by the
    network's `system` actor, so the network's dpo finds it in the audit log.
    """
    network = uow.repo.network_by_slug(command.network)
    if network is None:
        raise NotFound("no network '{network}'", network=command.network)
    # The operator names the network; from there on it is that network's own work.
    scope = uow.scoped(system_actor(network.id, network.slug))
    existing = {h.day: h for h in scope.scalars(scope.select(NetworkHoliday))}
    listed = {h.day: h for h in command.holidays}
    added = relabelled = removed = 0
    for day, holiday in listed.items():
        row = existing.get(day)
        if row is None:
            scope.add(NetworkHoliday(network_id=network.id, day=day, label=holiday.label))
            added += 1
        elif row.label != holiday.label:
            row.label = holiday.label
            relabelled += 1
    stale = sorted(set(existing) - set(listed)) if command.replace else []
    if stale:
        scope.execute(scope.delete_where(NetworkHoliday).where(NetworkHoliday.day.in_(stale)))
        removed = len(stale)
    uow.audit(
        AuditRecord(
            action="network:holidays",
            allowed=True,
            actor=system_actor(network.id, network.slug),
            target=f"network:{network.id}",
            rule="operator command: referral holidays import",
            change={"days": sorted(str(d) for d in listed), "removed": [str(d) for d in stale]},
        )
    )
    uow.commit()
    return Imported(added, relabelled, removed)


def list_holidays(uow: UnitOfWork, network: str) -> list[Holiday]:
    found = uow.repo.network_by_slug(network)
    if found is None:
        raise NotFound("no network '{network}'", network=network)
    scope = uow.scoped(system_actor(found.id, found.slug))
    rows = scope.scalars(scope.select(NetworkHoliday).order_by(NetworkHoliday.day))
    return [Holiday(r.day, r.label) for r in rows]
