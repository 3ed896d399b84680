"""A meeting's day is its network's: "not held before its day" counts days in the
network's time zone, not in UTC (both where the service refuses it and where the page
offers the move)."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from referral.db.tables import Network
from referral.demo import DemoWorld
from referral.domain.errors import Conflict
from referral.services import meetings, panel
from referral.services.uow import Runtime, UnitOfWork
from tests.conftest import TestClock
from tests.factories import make_world, to_awaiting_panel


@pytest.fixture
def world(runtime: Runtime) -> DemoWorld:
    return make_world(runtime)


def _meeting_at(runtime: Runtime, world: DemoWorld, zone: str, at: datetime) -> int:
    with runtime.session_factory() as session, session.begin():
        session.execute(update(Network).values(time_zone=zone))
    command = panel.ScheduleMeeting(
        scheduled_for=at,
        chair_user_id=world.actors["chair"].user_id,
        attendee_user_ids=(world.actors["panel"].user_id,),
    )
    meeting_id = int(world.run("coordinator", panel.schedule_meeting, command))
    case_id = to_awaiting_panel(world)
    world.run("coordinator", panel.set_agenda, panel.SetAgenda(meeting_id, (case_id,)))
    return meeting_id


def _offered(runtime: Runtime, world: DemoWorld, meeting_id: int) -> list[str]:
    with UnitOfWork(runtime) as uow:
        page = meetings.show_meeting(uow, world.actors["chair"], meetings.ShowMeeting(meeting_id))
        return page.triggers


def test_a_meeting_just_after_local_midnight_is_not_held_the_utc_day_before(
    runtime: Runtime, world: DemoWorld, clock: TestClock
) -> None:
    # 00:30 on 3 March in Kolkata is 19:00 UTC on 2 March; it is 14:30 on 2 March there.
    meeting_id = _meeting_at(
        runtime, world, "Asia/Kolkata", datetime(2026, 3, 2, 19, 0, tzinfo=UTC)
    )
    assert clock.now.date() == datetime(2026, 3, 2).date()  # the same UTC day
    assert "hold" not in _offered(runtime, world, meeting_id)
    with pytest.raises(Conflict, match="set for 03 March 2026"):
        world.run("chair", panel.move_meeting, panel.MoveMeeting(meeting_id, "hold"))
    clock.now = datetime(2026, 3, 2, 18, 31, tzinfo=UTC)  # 00:01 on 3 March in Kolkata
    assert "hold" in _offered(runtime, world, meeting_id)
    world.run("chair", panel.move_meeting, panel.MoveMeeting(meeting_id, "hold"))


def test_a_meeting_late_in_the_local_evening_is_held_on_its_local_day(
    runtime: Runtime, world: DemoWorld, clock: TestClock
) -> None:
    # 23:30 on 2 March in New York (EST) is 04:30 UTC on 3 March; it is 04:00 there now.
    meeting_id = _meeting_at(
        runtime, world, "America/New_York", datetime(2026, 3, 3, 4, 30, tzinfo=UTC)
    )
    assert "hold" in _offered(runtime, world, meeting_id)
    assert world.run("chair", panel.move_meeting, panel.MoveMeeting(meeting_id, "hold")) == "held"
