"""Officials summoned to one meeting (issue 12, deliverable 6), through the services on the
real database: what a summons opens (one meeting's agenda, the categories of the
official's organisation kind, within the window), what it never opens, how it ends, and
its audit trail."""

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from referral.db.migrate import upgrade
from referral.db.tables import AuditEntry, MeetingSummons, RoleAssignment
from referral.demo import DemoWorld
from referral.domain.actors import Actor
from referral.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from referral.domain.vocabulary import Category, OrgKind, Role
from referral.services import meetings, panel, queue, referrals, summons, timers
from referral.services.uow import Runtime, UnitOfWork
from tests.conftest import TestClock, database_at, downgrade
from tests.factories import (
    add_network_user,
    add_user,
    make_world,
    schedule,
    to_awaiting_panel,
)

WHY = "Harbour police hold the earlier referral; their view helps the panel decide."


@pytest.fixture
def world(runtime: Runtime) -> DemoWorld:
    return make_world(runtime)


@pytest.fixture
def agenda(world: DemoWorld, runtime: Runtime) -> tuple[int, int, int, int]:
    """(meeting, case, other meeting, other case): a meeting tomorrow with one case on its
    agenda, and a second meeting with another case on its own."""
    meeting_id = schedule(world, runtime)
    case_id = to_awaiting_panel(world)
    world.run("coordinator", panel.set_agenda, panel.SetAgenda(meeting_id, (case_id,)))
    other_meeting = schedule(world, runtime, days=2)
    other_case = to_awaiting_panel(world)
    world.run("coordinator", panel.set_agenda, panel.SetAgenda(other_meeting, (other_case,)))
    return meeting_id, case_id, other_meeting, other_case


def _summon(world: DemoWorld, who: str, meeting_id: int, username: str, **window: object) -> int:
    command = summons.Summon(meeting_id, username, WHY, **window)  # type: ignore[arg-type]
    return int(world.run(who, summons.summon, command))


def _in_meeting_network(runtime: Runtime, world: DemoWorld, official: Actor) -> Actor:
    """The official as they act in the meeting's network (after `enter`)."""
    network_id = world.actors["coordinator"].network_id
    with UnitOfWork(runtime) as uow:
        actor = uow.repo.actor_in(official.user_id, network_id)
    assert actor is not None
    return actor


def _show(runtime: Runtime, actor: Actor, meeting_id: int) -> meetings.MeetingPage:
    with UnitOfWork(runtime) as uow:
        return meetings.show_meeting(uow, actor, meetings.ShowMeeting(meeting_id))


def _entries(runtime: Runtime, action: str) -> list[AuditEntry]:
    with runtime.session_factory() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


@pytest.fixture
def harbour_police(runtime: Runtime) -> Actor:
    return add_network_user(runtime, "harbour", "harbour_police", OrgKind.POLICE, Role.PANEL_MEMBER)


def test_a_summoned_police_official_reads_the_agenda_case_with_criminal_but_not_special(
    runtime: Runtime, world: DemoWorld, agenda: tuple[int, int, int, int], harbour_police: Actor
) -> None:
    meeting_id, case_id, _, _ = agenda
    _summon(world, "chair", meeting_id, "harbour_police")
    official = _in_meeting_network(runtime, world, harbour_police)
    assert official.roles == frozenset({Role.INVITED_OFFICIAL})
    page = _show(runtime, official, meeting_id)
    (item,) = page.agenda
    assert item.case_id == case_id and item.view is not None
    assert item.view.value("criminal_information") == "MARK-CRIMINAL"
    assert Category.SPECIAL in item.view.hidden
    assert item.view.value("health") is None
    assert not item.may_contribute and not item.may_decide and not page.triggers


def test_a_summoned_national_official_sees_neither_special_nor_criminal(
    runtime: Runtime, world: DemoWorld, agenda: tuple[int, int, int, int]
) -> None:
    national = add_network_user(
        runtime, "national", "nat_lead", OrgKind.NATIONAL, Role.ANALYST, network_kind="national"
    )
    meeting_id, _, _, _ = agenda
    _summon(world, "coordinator", meeting_id, "nat_lead")
    (item,) = _show(runtime, _in_meeting_network(runtime, world, national), meeting_id).agenda
    assert item.view is not None
    assert {Category.SPECIAL, Category.CRIMINAL} <= set(item.view.hidden)
    assert item.view.value("concern_summary") == "Synthetic concern for a test."


def test_a_health_official_of_the_same_network_sees_special(
    runtime: Runtime, world: DemoWorld, agenda: tuple[int, int, int, int]
) -> None:
    add_user(runtime, world, "gp", OrgKind.HEALTH, Role.REFERRER, new_org=True)
    meeting_id, _, _, _ = agenda
    _summon(world, "chair", meeting_id, "gp")
    with UnitOfWork(runtime) as uow:
        gp = uow.repo.actor_in(world.actors["gp"].user_id, world.actors["gp"].network_id)
    assert gp is not None and gp.roles == {Role.REFERRER, Role.INVITED_OFFICIAL}
    (item,) = _show(runtime, gp, meeting_id).agenda
    assert item.view is not None and item.view.value("health") == "MARK-SPECIAL"
    assert Category.CRIMINAL in item.view.hidden


def test_a_summons_opens_nothing_but_that_meetings_page(
    runtime: Runtime, world: DemoWorld, agenda: tuple[int, int, int, int], harbour_police: Actor
) -> None:
    meeting_id, case_id, other_meeting, other_case = agenda
    _summon(world, "chair", meeting_id, "harbour_police")
    official = _in_meeting_network(runtime, world, harbour_police)
    with UnitOfWork(runtime) as uow, pytest.raises(NotFound):
        referrals.read_case(uow, official, case_id)  # the case page, the API
    with UnitOfWork(runtime) as uow, pytest.raises(NotFound):
        referrals.read_case(uow, official, other_case, at_meeting=meeting_id)
    with UnitOfWork(runtime) as uow, pytest.raises(NotFound):
        meetings.show_meeting(uow, official, meetings.ShowMeeting(other_meeting))
    with UnitOfWork(runtime) as uow, pytest.raises(NotFound):
        queue.work_queue(uow, official, queue.ListQueue())
    with UnitOfWork(runtime) as uow:
        listed = meetings.meetings_overview(uow, official, meetings.ListMeetings())
    assert [m.meeting_id for m in listed.meetings] == [meeting_id]
    # At home, in their own network, the meeting is another network's: not found.
    with UnitOfWork(runtime) as uow, pytest.raises(NotFound):
        meetings.show_meeting(uow, harbour_police, meetings.ShowMeeting(meeting_id))


def test_access_ends_when_the_minutes_are_approved(
    runtime: Runtime, world: DemoWorld, agenda: tuple[int, int, int, int], harbour_police: Actor
) -> None:
    meeting_id, case_id, _, _ = agenda
    summons_id = _summon(world, "chair", meeting_id, "harbour_police")
    official = _in_meeting_network(runtime, world, harbour_police)
    assert _show(runtime, official, meeting_id).agenda[0].view is not None
    runtime.clock.advance(days=1)  # type: ignore[attr-defined]  # the meeting's day
    world.run("coordinator", panel.move_meeting, panel.MoveMeeting(meeting_id, "hold"))
    world.run(
        "chair",
        panel.record_panel_decision,
        panel.RecordDecision(case_id, meeting_id, "support", "Agreed."),
    )
    assert _show(runtime, official, meeting_id).agenda[0].view is not None  # held: still open
    world.run(
        "coordinator",
        panel.move_meeting,
        panel.MoveMeeting(meeting_id, "approve_minutes", minutes="Case supported."),
    )
    with UnitOfWork(runtime) as uow, pytest.raises(NotFound):
        meetings.show_meeting(uow, official, meetings.ShowMeeting(meeting_id))
    with runtime.session_factory() as session:
        row = session.get(MeetingSummons, summons_id)
        assert row is not None and row.end_reason == "minutes_approved"
        assert row.ended_at is not None
        roles = session.scalars(
            select(RoleAssignment.role).where(RoleAssignment.user_id == harbour_police.user_id)
        ).all()
    assert roles == [Role.PANEL_MEMBER]  # the home role stays; the granted one is gone
    (ended,) = _entries(runtime, "meeting:summons_ended")
    assert ended.target == f"meeting:{meeting_id}" and ended.actor_user_id == (
        world.actors["coordinator"].user_id
    )
    with UnitOfWork(runtime) as uow:
        (own,) = summons.own_summons(uow, harbour_police.user_id)
    assert own.ended == summons.ENDINGS["minutes_approved"]


def test_access_ends_when_the_window_passes_and_the_clock_records_it(
    runtime: Runtime,
    world: DemoWorld,
    agenda: tuple[int, int, int, int],
    harbour_police: Actor,
    clock: TestClock,
) -> None:
    meeting_id, _, _, _ = agenda
    _summon(world, "chair", meeting_id, "harbour_police", window_end=clock() + timedelta(hours=2))
    official = _in_meeting_network(runtime, world, harbour_police)
    assert _show(runtime, official, meeting_id).agenda[0].view is not None
    clock.advance(hours=2, minutes=1)
    with UnitOfWork(runtime) as uow, pytest.raises(NotFound):
        meetings.show_meeting(uow, official, meetings.ShowMeeting(meeting_id))
    assert timers.tick(runtime).summons_ended == 1  # the clock's tick ends it
    assert summons.end_lapsed(runtime) == 0  # once only
    (ended,) = _entries(runtime, "meeting:summons_ended")
    assert ended.actor_role == "system"
    assert _in_meeting_network(runtime, world, harbour_police).roles == frozenset()


def test_the_invitation_each_read_and_the_end_are_audited(
    runtime: Runtime, world: DemoWorld, agenda: tuple[int, int, int, int], harbour_police: Actor
) -> None:
    meeting_id, case_id, _, _ = agenda
    _summon(world, "chair", meeting_id, "harbour_police")
    (invited,) = _entries(runtime, "meeting:summon")
    assert invited.allowed and invited.actor_user_id == world.actors["chair"].user_id
    assert invited.target == f"meeting:{meeting_id}" and invited.purpose == "panel"
    official = _in_meeting_network(runtime, world, harbour_police)
    _show(runtime, official, meeting_id)
    reads = [
        e
        for e in _entries(runtime, "case:read")
        if e.actor_user_id == harbour_police.user_id and e.case_id == case_id
    ]
    assert len(reads) == 1 and reads[0].target == f"meeting:{meeting_id}"
    assert "criminal" in reads[0].categories and "special" not in reads[0].categories
    world.run("coordinator", panel.move_meeting, panel.MoveMeeting(meeting_id, "cancel"))
    (ended,) = _entries(runtime, "meeting:summons_ended")
    assert ended.target == f"meeting:{meeting_id}"


def test_summoning_to_a_held_meeting_is_a_conflict(
    runtime: Runtime, world: DemoWorld, agenda: tuple[int, int, int, int], harbour_police: Actor
) -> None:
    meeting_id, _, _, _ = agenda
    runtime.clock.advance(days=1)  # type: ignore[attr-defined]  # the meeting's day
    world.run("coordinator", panel.move_meeting, panel.MoveMeeting(meeting_id, "hold"))
    with pytest.raises(Conflict, match="before it is held"):
        _summon(world, "chair", meeting_id, "harbour_police")
    assert _entries(runtime, "meeting:summon") == []


def test_summoning_an_unknown_user_or_without_a_reason_says_why(
    world: DemoWorld, agenda: tuple[int, int, int, int]
) -> None:
    meeting_id = agenda[0]
    with pytest.raises(InvalidInput) as raised:
        world.run("chair", summons.summon, summons.Summon(meeting_id, "nobody-by-that-name", "  "))
    assert raised.value.errors == {
        "reason": "Say why the official is summoned.",
        "username": "No active user has that username.",
    }


def test_a_window_beyond_a_panel_members_is_refused(
    world: DemoWorld, agenda: tuple[int, int, int, int], harbour_police: Actor, clock: TestClock
) -> None:
    with pytest.raises(InvalidInput) as raised:
        _summon(
            world, "chair", agenda[0], "harbour_police", window_end=clock() + timedelta(days=30)
        )
    assert "7 days either side" in raised.value.errors["window_end"]


def test_a_panel_member_may_not_summon_and_a_stranger_finds_no_meeting(
    runtime: Runtime, world: DemoWorld, agenda: tuple[int, int, int, int], harbour_police: Actor
) -> None:
    meeting_id = agenda[0]
    with pytest.raises(PermissionDenied):
        _summon(world, "panel", meeting_id, "harbour_police")
    refused = [e for e in _entries(runtime, "meeting:summon") if not e.allowed]
    assert len(refused) == 1 and refused[0].actor_user_id == world.actors["panel"].user_id
    with pytest.raises(NotFound):
        _summon(world, "referrer", meeting_id, "harbour_police")


def test_a_chair_summons_only_to_a_meeting_they_chair(
    runtime: Runtime, world: DemoWorld, harbour_police: Actor, clock: TestClock
) -> None:
    add_user(runtime, world, "chair2", OrgKind.HEALTH, Role.PANEL_CHAIR)
    command = panel.ScheduleMeeting(
        scheduled_for=clock() + timedelta(days=1),
        chair_user_id=world.actors["chair2"].user_id,
        attendee_user_ids=(world.actors["chair"].user_id,),
    )
    meeting_id = int(world.run("coordinator", panel.schedule_meeting, command))
    with pytest.raises(PermissionDenied, match="chair"):
        _summon(world, "chair", meeting_id, "harbour_police")
    (refused,) = _entries(runtime, "meeting:summon")
    assert not refused.allowed and refused.actor_user_id == world.actors["chair"].user_id


def test_the_same_official_is_summoned_once_and_an_attendee_not_at_all(
    world: DemoWorld, agenda: tuple[int, int, int, int], harbour_police: Actor
) -> None:
    meeting_id = agenda[0]
    _summon(world, "chair", meeting_id, "harbour_police")
    with pytest.raises(Conflict, match="already been summoned"):
        _summon(world, "coordinator", meeting_id, "harbour_police")
    with pytest.raises(Conflict, match="already invited"):
        _summon(world, "chair", meeting_id, "panel")


def test_two_summons_in_one_network_keep_the_role_until_the_last_ends(
    runtime: Runtime, world: DemoWorld, agenda: tuple[int, int, int, int], harbour_police: Actor
) -> None:
    meeting_id, _, other_meeting, _ = agenda
    _summon(world, "coordinator", meeting_id, "harbour_police")
    _summon(world, "coordinator", other_meeting, "harbour_police")
    world.run("coordinator", panel.move_meeting, panel.MoveMeeting(meeting_id, "cancel"))
    official = _in_meeting_network(runtime, world, harbour_police)
    assert official.roles == frozenset({Role.INVITED_OFFICIAL})
    assert _show(runtime, official, other_meeting).agenda[0].view is not None
    world.run("coordinator", panel.move_meeting, panel.MoveMeeting(other_meeting, "cancel"))
    assert _in_meeting_network(runtime, world, harbour_police).roles == frozenset()


def test_the_migration_adds_and_removes_the_summons_table(tmp_path: Path) -> None:
    with database_at(tmp_path, "head") as engine:
        assert "meeting_summons" in inspect(engine).get_table_names()
        downgrade(engine, "0023")
        assert "meeting_summons" not in inspect(engine).get_table_names()
        upgrade(engine, "head")
        assert "meeting_summons" in inspect(engine).get_table_names()
