"""Notices: written in the move's own transaction, to the people the workflow's `notify`
names, saying the outcome and never the content; read and marked read by their owner only."""

import pytest
from sqlalchemy import func, select, update

from referral.db.tables import Case, Notification, User
from referral.demo import DemoWorld
from referral.domain.errors import NotFound
from referral.domain.vocabulary import OrgKind, Role
from referral.services import (
    information,
    lifecycle,
    notifications,
    panel,
    referrals,
    screening,
    support,
)
from referral.services.flow import fire_case
from referral.services.timers import ClockRules, tick
from referral.services.uow import Runtime, UnitOfWork
from referral.workflow.schema import Recipient, Workflow
from tests.conftest import TestClock
from tests.factories import (
    add_user,
    hold,
    make_world,
    reference_of,
    referral_command,
    schedule,
    submit,
    to_awaiting_panel,
    to_support,
)

# Who each kind of recipient is in the demo network, for a case whose meeting invites the
# panel member and the chair (tests.factories.schedule) and whose intervention is the
# civil-society provider's (tests.factories.to_support).
DEMO_RECIPIENTS = {
    Recipient.REFERRER: {"referrer"},
    Recipient.COORDINATOR: {"coordinator"},
    Recipient.SCREENER: {"screener"},
    Recipient.PANEL: {"panel", "chair"},
    Recipient.PROVIDER: {"provider"},
    Recipient.DPO: {"dpo"},
    Recipient.SUBJECT: set(),
}
# What a test case holds about its subject (tests.factories.referral_command): none of it
# may reach a notice or an e-mail.
PERSONAL = (
    "Testy",
    "Fixture",
    "2009-05-17",
    "17/05/2009",
    "2009",
    "Fixture Lane",
    "111111",
    "MARK-",
    "Synthetic concern",
    "hate_targeting",
)


@pytest.fixture
def world(runtime: Runtime) -> DemoWorld:
    return make_world(runtime)


def expected(workflows: dict[str, Workflow], workflow: str, trigger: str, actor: str) -> set[str]:
    """The usernames the YAML says are told of `trigger`: the actor only as the referrer."""
    notify = next(t.notify for t in workflows[workflow].transitions if t.trigger == trigger)
    names = set().union(*(DEMO_RECIPIENTS[r] for r in notify))
    if actor != "referrer" or Recipient.REFERRER not in notify:
        names.discard(actor)
    return names


def told(runtime: Runtime, event: str, case_id: int | None = None) -> set[str]:
    with runtime.session_factory() as session:
        query = (
            select(User.username)
            .join(Notification, Notification.user_id == User.id)
            .where(Notification.event == event)
        )
        if case_id is not None:
            query = query.where(Notification.case_id == case_id)
        return set(session.scalars(query))


def all_notices(runtime: Runtime) -> list[Notification]:
    with runtime.session_factory() as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


def notice_count(runtime: Runtime) -> int:
    with runtime.session_factory() as session:
        return session.scalar(select(func.count()).select_from(Notification)) or 0


def screen(world: DemoWorld, case_id: int, outcome: str, who: str = "coordinator") -> None:
    world.run("screener", screening.start_screening, screening.StartScreening(case_id))
    command = screening.RecordScreeningOutcome(case_id, outcome)
    if who == "coordinator":  # the screener may write neither
        command = screening.RecordScreeningOutcome(
            case_id, outcome, screening_notes="MARK-ASSESSMENT", outcome_for_referrer="MARK-NOTE"
        )
    world.run(who, screening.record_screening_outcome, command)


# -- the outbox: one transaction with the move ----------------------------------------------


def test_a_move_and_its_notices_commit_together_or_not_at_all(
    runtime: Runtime, world: DemoWorld
) -> None:
    case_id = submit(world)
    before = notice_count(runtime)
    actor = world.actors["screener"]

    def move_then_fail() -> None:
        with UnitOfWork(runtime) as uow:
            case = uow.repo.case(case_id)
            assert case is not None
            fire_case(uow, actor, case, uow.repo.case_facts(case, actor), "start_screening")
            # Flushed with the move, in its transaction...
            written = uow.session.scalar(
                select(func.count())
                .select_from(Notification)
                .where(Notification.case_id == case_id)
            )
            assert written == before + 1
            raise RuntimeError("the rest of the change failed")

    with pytest.raises(RuntimeError):
        move_then_fail()
    # ...and gone with it.
    assert notice_count(runtime) == before
    with runtime.session_factory() as session:
        assert session.scalar(select(Case.state).where(Case.id == case_id)) == "submitted"


def test_a_move_refused_by_its_guard_leaves_no_notice(runtime: Runtime, world: DemoWorld) -> None:
    case_id = to_awaiting_panel(world)
    before = notice_count(runtime)
    with pytest.raises(Exception, match="take_to_panel"):
        # Not on any open agenda: the guard refuses the move.
        world.run("coordinator", lifecycle.move_case, lifecycle.MoveCase(case_id, "take_to_panel"))
    assert notice_count(runtime) == before


# -- who is told: the workflow's `notify` -------------------------------------------------


def test_submitting_tells_the_coordinators_and_gives_the_referrer_a_receipt(
    runtime: Runtime, world: DemoWorld, workflows: dict[str, Workflow]
) -> None:
    case_id = submit(world)
    assert told(runtime, "case:submit", case_id) == expected(
        workflows, "referral", "submit", "referrer"
    )
    assert told(runtime, "case:submit", case_id) == {"coordinator", "referrer"}


@pytest.mark.parametrize(
    ("outcome", "who"),
    [
        ("close_no_action", "coordinator"),
        ("signpost", "coordinator"),
        ("refer_to_police", "screener"),
        ("gather_information", "coordinator"),
    ],
)
def test_each_screening_outcome_tells_whom_the_workflow_names(
    runtime: Runtime, world: DemoWorld, workflows: dict[str, Workflow], outcome: str, who: str
) -> None:
    case_id = submit(world)
    screen(world, case_id, outcome, who)
    assert told(runtime, "case:start_screening", case_id) == expected(
        workflows, "referral", "start_screening", "screener"
    )
    assert told(runtime, f"case:{outcome}", case_id) == expected(
        workflows, "referral", outcome, who
    )
    assert "referrer" in told(runtime, f"case:{outcome}", case_id)


def test_taking_a_case_to_panel_tells_the_invited_and_the_referrer_not_other_members(
    runtime: Runtime, world: DemoWorld, workflows: dict[str, Workflow]
) -> None:
    add_user(runtime, world, "uninvited", OrgKind.POLICE, Role.PANEL_MEMBER)
    meeting_id = schedule(world, runtime)
    case_id = to_awaiting_panel(world)
    world.run("coordinator", panel.set_agenda, panel.SetAgenda(meeting_id, (case_id,)))
    assert told(runtime, "case:take_to_panel", case_id) == expected(
        workflows, "referral", "take_to_panel", "coordinator"
    )
    assert told(runtime, "case:take_to_panel", case_id) == {"panel", "chair", "referrer"}
    # The meeting's own move tells its invitees too, with a link to the meeting.
    assert told(runtime, "panel_meeting:set_agenda") == {"panel", "chair"}
    meeting_notice = next(n for n in all_notices(runtime) if n.event == "panel_meeting:set_agenda")
    assert meeting_notice.link == f"/meetings/{meeting_id}"
    assert meeting_notice.case_id is None


def test_panel_decisions_tell_whom_the_workflow_names(
    runtime: Runtime, world: DemoWorld, workflows: dict[str, Workflow]
) -> None:
    meeting_id = schedule(world, runtime)
    decided = {}
    outcomes = panel.decision_outcomes(workflows["referral"])
    assert set(outcomes) == {"support", "signpost", "no_action"}
    for outcome, transition in outcomes.items():
        trigger = transition.trigger
        case_id = to_awaiting_panel(world)
        world.run("coordinator", panel.set_agenda, panel.SetAgenda(meeting_id, (case_id,)))
        hold(world, meeting_id)
        command = panel.RecordDecision(case_id, meeting_id, outcome, "MARK-DELIBERATION")
        world.run("chair", panel.record_panel_decision, command)
        decided[trigger] = case_id
    for trigger, case_id in decided.items():
        assert told(runtime, f"case:{trigger}", case_id) == expected(
            workflows, "referral", trigger, "chair"
        )


def test_linked_moves_tell_whom_the_workflow_names(
    runtime: Runtime, world: DemoWorld, workflows: dict[str, Workflow]
) -> None:
    meeting_id = schedule(world, runtime)
    case_id, intervention_id = to_support(world, meeting_id)
    # start_support names the providers of the case's interventions: it had none yet.
    assert told(runtime, "case:start_support", case_id) == set()
    for trigger in ("accept", "start"):
        assert told(runtime, f"intervention:{trigger}", case_id) == expected(
            workflows, "intervention", trigger, "provider"
        )
    world.run(
        "coordinator",
        support.move_intervention,
        support.MoveIntervention(intervention_id, "withdraw"),
    )
    assert told(runtime, "intervention:withdraw", case_id) == {"provider"}
    provider_notice = next(n for n in all_notices(runtime) if n.event == "intervention:withdraw")
    assert provider_notice.link == f"/interventions/{intervention_id}"


def test_the_coordinator_who_took_the_case_is_told_not_every_coordinator(
    runtime: Runtime, world: DemoWorld
) -> None:
    add_user(runtime, world, "coordinator2", OrgKind.LOCAL_AUTHORITY, Role.COORDINATOR)
    first = submit(world)
    assert told(runtime, "case:submit", first) == {"coordinator", "coordinator2", "referrer"}
    second = submit(world)
    world.run("coordinator2", screening.start_screening, screening.StartScreening(second))
    world.run(
        "screener",
        screening.record_screening_outcome,
        screening.RecordScreeningOutcome(second, "refer_to_police"),
    )
    assert told(runtime, "case:refer_to_police", second) == {"coordinator2", "referrer"}


def test_a_referrer_who_is_also_a_coordinator_gets_the_referrers_words(
    runtime: Runtime, world: DemoWorld
) -> None:
    add_user(runtime, world, "both", OrgKind.LOCAL_AUTHORITY, Role.REFERRER, Role.COORDINATOR)
    case_id = int(world.run("both", referrals.submit_referral, referral_command()))
    with UnitOfWork(runtime) as uow:
        notices = notifications.list_notifications(uow, world.actors["both"])
    assert [n.message for n in notices] == [
        f"Referral {reference_of(world.runtime, case_id)}: received"
    ]
    assert told(runtime, "case:submit", case_id) == {"both", "coordinator"}


def test_nobody_is_told_of_their_own_move(runtime: Runtime, world: DemoWorld) -> None:
    meeting_id = schedule(world, runtime, "coordinator")  # the coordinator is invited too
    case_id = to_awaiting_panel(world)
    world.run("coordinator", panel.set_agenda, panel.SetAgenda(meeting_id, (case_id,)))
    assert "coordinator" not in told(runtime, "case:take_to_panel", case_id)
    # The coordinator records the agencies' answers: the move names the coordinator alone.
    assert told(runtime, "information_request:answer", case_id) == set()


def test_a_timer_tells_people_as_a_persons_move_does(
    runtime: Runtime, world: DemoWorld, clock: TestClock
) -> None:
    case_id = submit(world)
    screen(world, case_id, "gather_information")
    command = information.SendInformationRequests(case_id, (world.org_ids[OrgKind.HEALTH],), "Q?")
    world.run("coordinator", information.send_information_requests, command)
    clock.advance(days=30)
    assert tick(runtime, ClockRules(drift_days=0)).fired == 1
    assert told(runtime, "information_request:mark_overdue", case_id) == {"coordinator"}


def test_inactive_users_are_not_told_and_those_without_address_get_no_email(
    runtime: Runtime, world: DemoWorld
) -> None:
    add_user(runtime, world, "gone", OrgKind.LOCAL_AUTHORITY, Role.COORDINATOR)
    add_user(runtime, world, "no-address", OrgKind.LOCAL_AUTHORITY, Role.COORDINATOR)
    with runtime.session_factory() as session, session.begin():
        session.execute(update(User).where(User.username == "gone").values(active=False))
    case_id = submit(world)
    assert told(runtime, "case:submit", case_id) == {"coordinator", "no-address", "referrer"}
    states = {
        n.user_id: (n.email_state, n.next_attempt_at is not None) for n in all_notices(runtime)
    }
    assert states[world.actors["no-address"].user_id] == ("skipped", False)
    assert states[world.actors["coordinator"].user_id] == ("pending", True)


# -- what they are told -------------------------------------------------------------------


def test_the_referrer_is_told_each_outcome_in_words_and_nothing_else(
    runtime: Runtime, world: DemoWorld
) -> None:
    closed = submit(world)
    screen(world, closed, "close_no_action")
    signposted = submit(world)
    screen(world, signposted, "signpost")
    meeting_id = schedule(world, runtime)
    supported, _ = to_support(world, meeting_id)
    referrer = world.actors["referrer"]
    with UnitOfWork(runtime) as uow:
        messages = [n.message for n in notifications.list_notifications(uow, referrer)][::-1]
    assert messages == [
        f"Referral {reference_of(world.runtime, closed)}: received",
        f"Referral {reference_of(world.runtime, closed)}: being screened",
        f"Referral {reference_of(world.runtime, closed)}: screened: closed with no further action",
        f"Referral {reference_of(world.runtime, signposted)}: received",
        f"Referral {reference_of(world.runtime, signposted)}: being screened",
        (
            f"Referral {reference_of(world.runtime, signposted)}: "
            "screened: signposted to another service"
        ),
        f"Referral {reference_of(world.runtime, supported)}: received",
        f"Referral {reference_of(world.runtime, supported)}: being screened",
        (
            f"Referral {reference_of(world.runtime, supported)}: "
            "screened: accepted; partner agencies are being consulted"
        ),
        f"Referral {reference_of(world.runtime, supported)}: taken to panel",
        (
            f"Referral {reference_of(world.runtime, supported)}: "
            "panel: support offered; the person will be asked to consent"
        ),
    ]


def test_no_notice_holds_anything_written_about_the_person(
    runtime: Runtime, world: DemoWorld
) -> None:
    meeting_id = schedule(world, runtime)
    case_id, intervention_id = to_support(world, meeting_id)
    world.run(
        "provider", support.move_intervention, support.MoveIntervention(intervention_id, "complete")
    )
    world.run("chair", lifecycle.move_case, lifecycle.MoveCase(case_id, "exit_support"))
    for outcome, who in (("close_no_action", "coordinator"), ("refer_to_police", "screener")):
        screen(world, submit(world), outcome, who)
    notices = all_notices(runtime)
    assert len({n.event for n in notices}) >= 12
    for notice in notices:
        text = f"{notice.message} {notice.link} {notice.event} {notice.last_error}"
        for marker in PERSONAL:
            assert marker not in text, (marker, text)
        links = ("/cases/", "/meetings/", "/interventions", "/information-requests/")
        assert notice.link.startswith(links)


# -- in the app ---------------------------------------------------------------------------


def test_unread_count_list_and_mark_read_are_the_owners_alone(
    runtime: Runtime, world: DemoWorld, clock: TestClock
) -> None:
    first, second = submit(world), submit(world)
    coordinator, referrer = world.actors["coordinator"], world.actors["referrer"]
    with UnitOfWork(runtime) as uow:
        assert notifications.unread_count(uow, coordinator) == 2
        listed = notifications.list_notifications(uow, coordinator)
    assert [n.link for n in listed] == [f"/cases/{second}", f"/cases/{first}"]
    assert all(n.unread for n in listed)
    clock.advance(minutes=5)
    with UnitOfWork(runtime) as uow, pytest.raises(NotFound):
        notifications.mark_read(uow, referrer, notifications.MarkRead(listed[0].id))
    with UnitOfWork(runtime) as uow:
        assert notifications.mark_read(uow, coordinator, notifications.MarkRead(listed[0].id)) == 1
    with UnitOfWork(runtime) as uow:
        assert notifications.unread_count(uow, coordinator) == 1
        assert notifications.unread_count(uow, referrer) == 2
        read = notifications.list_notifications(uow, coordinator)[0]
    assert read.read_at == clock.now
    with UnitOfWork(runtime) as uow:
        assert notifications.mark_read(uow, coordinator, notifications.MarkRead()) == 1
    with UnitOfWork(runtime) as uow:
        assert notifications.unread_count(uow, coordinator) == 0
        assert notifications.unread_count(uow, referrer) == 2


def test_notices_of_another_network_are_neither_counted_nor_listed(
    runtime: Runtime, world: DemoWorld
) -> None:
    submit(world)
    coordinator = world.actors["coordinator"]
    elsewhere = type(coordinator)(
        coordinator.user_id,
        coordinator.organisation_id,
        coordinator.org_kind,
        coordinator.network_id + 1000,
        "elsewhere",
        coordinator.roles,
    )
    with UnitOfWork(runtime) as uow:
        assert notifications.unread_count(uow, elsewhere) == 0
        assert notifications.list_notifications(uow, elsewhere) == []
        mine = notifications.list_notifications(uow, coordinator)[0]
    with UnitOfWork(runtime) as uow, pytest.raises(NotFound):
        notifications.mark_read(uow, elsewhere, notifications.MarkRead(mine.id))


def test_the_list_stops_at_its_limit_newest_first(runtime: Runtime, world: DemoWorld) -> None:
    ids = [submit(world) for _ in range(3)]
    with UnitOfWork(runtime) as uow:
        listed = notifications.list_notifications(uow, world.actors["coordinator"], limit=2)
    assert [n.link for n in listed] == [f"/cases/{ids[2]}", f"/cases/{ids[1]}"]


def test_every_closure_tells_the_referrer_its_outcome(workflows: dict[str, Workflow]) -> None:
    referral = workflows["referral"]
    closing = [t for t in referral.spec.transitions if t.dest in referral.closed_states]
    assert len(closing) >= 8
    silent = [t.trigger for t in closing if Recipient.REFERRER not in t.notify]
    assert silent == []
    # In words of its own, from the file, not "moved to ..."
    assert [t.trigger for t in closing if not t.tell.referrer] == []
