"""Every list comes a page at a time, each page starting where the last ended (keyset):
notifications, interventions, meetings and the administrator's users."""

from collections.abc import Callable
from typing import Any

from referral.domain.vocabulary import OrgKind
from referral.services import admin, caseload, meetings, notifications, support
from referral.services.uow import Runtime, UnitOfWork
from tests.conftest import TestClock
from tests.factories import make_world, schedule, submit, to_support


def walk(fetch: Callable[[Any], tuple[list[Any], Any]], first: Any) -> list[Any]:
    """Every row, following each page's start of the next, until a page says none."""
    rows: list[Any] = []
    position = first
    for _ in range(50):
        page, position = fetch(position)
        rows += page
        if not position:
            return rows
    raise AssertionError("the pages never ended")


def test_notifications_page_through_every_notice_once_newest_first(runtime: Runtime) -> None:
    world = make_world(runtime)
    for _ in range(4):
        submit(world)
    coordinator = world.actors["coordinator"]

    def fetch(before: int | None) -> tuple[list[int], int | None]:
        with UnitOfWork(runtime) as uow:
            page = notifications.notice_page(uow, coordinator, before=before, limit=3)
        assert len(page.notices) <= 3
        return [n.id for n in page.notices], page.older

    with UnitOfWork(runtime) as uow:
        everything = [n.id for n in notifications.list_notifications(uow, coordinator)]
    assert len(everything) >= 4
    assert walk(fetch, None) == everything == sorted(everything, reverse=True)


def test_interventions_page_through_once_each(runtime: Runtime) -> None:
    world = make_world(runtime)
    case_id, first = to_support(world, schedule(world, runtime))
    others = [
        world.run(
            "coordinator",
            support.assign_intervention,
            support.AssignIntervention(
                case_id, "mentoring", world.org_ids[OrgKind.CIVIL_SOCIETY], f"plan {n}"
            ),
        )
        for n in range(2)
    ]

    def fetch(before: int | None) -> tuple[list[int], int | None]:
        asked = caseload.ListInterventions(limit=1, before=before)
        page = world.run("provider", caseload.intervention_page, asked)
        return [row.intervention_id for row in page.rows], page.older

    assert walk(fetch, None) == sorted([first, *others], reverse=True)


def test_past_meetings_page_latest_first_after_the_upcoming_ones(
    runtime: Runtime, clock: TestClock
) -> None:
    world = make_world(runtime)
    past = [schedule(world, runtime, days=d) for d in (1, 2, 3)]
    clock.advance(days=5)
    upcoming = schedule(world, runtime, days=1)

    def fetch(after: str) -> tuple[list[int], str]:
        asked = meetings.ListMeetings(past_limit=1, past_after=after)
        page = world.run("coordinator", meetings.meetings_overview, asked)
        return [m.meeting_id for m in page.meetings], page.next_past

    assert walk(fetch, "") == [upcoming, *reversed(past)]


def test_the_administrators_users_page_by_name(runtime: Runtime) -> None:
    world = make_world(runtime)

    def fetch(after: str) -> tuple[list[str], str]:
        with UnitOfWork(runtime) as uow:
            page = admin.directory(uow, world.actors["admin"], after=after, limit=2)
        assert len(page.users) <= 2
        return [u.display_name for u in page.users], page.next_after

    with UnitOfWork(runtime) as uow:
        everyone = [u.display_name for u in admin.directory(uow, world.actors["admin"]).users]
    assert len(everyone) > 4
    assert walk(fetch, "") == everyone  # the same order as one long page, each once
