"""Invariants 1 and 5: no state change without a permitted actor, satisfied guards and its
audit entry in the same transaction; bad input gets a clear error and writes nothing."""

from datetime import date

import pytest
from sqlalchemy import func, select

from referral.db.tables import AuditEntry, Case, Subject
from referral.domain.errors import Conflict, InvalidInput, PermissionDenied
from referral.services import lifecycle, referrals, screening
from referral.services.uow import Runtime, UnitOfWork
from tests.factories import audit_count, closed_no_action, make_world, referral_command, submit


def counts(runtime: Runtime) -> tuple[int, int, int]:
    with runtime.session_factory() as session:
        return (
            session.scalar(select(func.count()).select_from(Case)) or 0,
            session.scalar(select(func.count()).select_from(Subject)) or 0,
            audit_count(session),
        )


def test_every_transition_has_its_audit_entry(runtime: Runtime) -> None:
    world = make_world(runtime)
    case_id = submit(world)
    world.run("screener", screening.start_screening, screening.StartScreening(case_id))
    with runtime.session_factory() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.case_id == case_id).order_by(AuditEntry.id)
        ).all()
    assert actions == ["case:create", "case:submit", "case:start_screening"]


def test_refused_action_changes_nothing_but_leaves_a_denial(runtime: Runtime) -> None:
    world = make_world(runtime)
    case_id = submit(world)
    before = counts(runtime)
    with pytest.raises(PermissionDenied):
        world.run("dpo", screening.start_screening, screening.StartScreening(case_id))
    cases, subjects, entries = counts(runtime)
    assert (cases, subjects) == before[:2]
    assert entries == before[2] + 1
    with runtime.session_factory() as session:
        denial = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert denial is not None
        assert denial.allowed is False
        assert denial.action == "case:screen"
        assert denial.actor_user_id == world.actors["dpo"].user_id
        assert session.scalar(select(Case.state).where(Case.id == case_id)) == "submitted"


def test_failed_guard_rolls_back_the_fields_written_before_it(runtime: Runtime) -> None:
    world = make_world(runtime)
    case_id = submit(world)
    with pytest.raises(Conflict):
        # Outcome notes are written first, then the trigger fails: submitted is not screening.
        world.run(
            "coordinator",
            screening.record_screening_outcome,
            screening.RecordScreeningOutcome(
                case_id, "close_no_action", screening_notes="should not persist"
            ),
        )
    with runtime.session_factory() as session:
        case = session.get(Case, case_id)
        assert case is not None
        assert case.screening_notes == ""
        assert case.state == "submitted"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"concern_types": ()}, "concern_types"),
        ({"concern_types": ("not-a-type",)}, "concern_types"),
        ({"concern_summary": "  "}, "concern_summary"),
        ({"subject": referrals.SubjectDetails("", "Person")}, "given_name"),
        ({"subject": referrals.SubjectDetails("A", "B", date(2999, 1, 1))}, "date_of_birth"),
        ({"narrative": "x" * 20_001}, "narrative"),
    ],
)
def test_malformed_referral_names_the_field_and_writes_nothing(
    runtime: Runtime, overrides: dict[str, object], field: str
) -> None:
    world = make_world(runtime)
    before = counts(runtime)
    with pytest.raises(InvalidInput) as caught:
        world.run("referrer", referrals.submit_referral, referral_command(**overrides))
    assert field in caught.value.errors
    assert counts(runtime) == before


def test_unknown_trigger_is_a_clear_error(runtime: Runtime) -> None:
    world = make_world(runtime)
    case_id = submit(world)
    with pytest.raises(InvalidInput, match="unknown action 'launch'"):
        world.run("coordinator", lifecycle.move_case, lifecycle.MoveCase(case_id, "launch"))


def test_decision_triggers_cannot_bypass_their_forms(runtime: Runtime) -> None:
    world = make_world(runtime)
    case_id = submit(world)
    with pytest.raises(InvalidInput, match="records a decision"):
        world.run("coordinator", lifecycle.move_case, lifecycle.MoveCase(case_id, "decide_support"))


def test_stale_version_is_a_conflict_and_changes_nothing(runtime: Runtime) -> None:
    world = make_world(runtime)
    case_id = submit(world)
    with UnitOfWork(runtime) as uow:
        version = uow.repo.case(case_id).version  # type: ignore[union-attr]
    world.run("screener", screening.start_screening, screening.StartScreening(case_id, version))
    with pytest.raises(Conflict, match="changed since you loaded it"):
        world.run(
            "coordinator", lifecycle.move_case, lifecycle.MoveCase(case_id, "transfer", version)
        )
    with runtime.session_factory() as session:
        assert session.scalar(select(Case.state).where(Case.id == case_id)) == "screening"


def test_meeting_invitees_must_belong_to_the_network(runtime: Runtime) -> None:
    from datetime import timedelta

    from referral.services import panel

    world = make_world(runtime)
    command = panel.ScheduleMeeting(
        scheduled_for=runtime.clock() + timedelta(days=1),
        chair_user_id=world.actors["chair"].user_id,
        attendee_user_ids=(999_999,),
    )
    with pytest.raises(InvalidInput, match="in this network"):
        world.run("coordinator", panel.schedule_meeting, command)


def test_the_erase_button_on_a_stale_version_is_a_conflict_and_erases_nothing(
    runtime: Runtime,
) -> None:
    world = make_world(runtime)
    case_id = closed_no_action(world)
    with UnitOfWork(runtime) as uow:
        version = uow.repo.case(case_id).version  # type: ignore[union-attr]
    stale = lifecycle.MoveCase(case_id, "erase", expected_version=version - 1)
    with pytest.raises(Conflict, match="changed since you loaded it"):
        world.run("dpo", lifecycle.move_case, stale)
    with runtime.session_factory() as session:
        assert session.scalar(select(Case.state).where(Case.id == case_id)) == "closed_no_action"
    erased = world.run("dpo", lifecycle.move_case, lifecycle.MoveCase(case_id, "erase", version))
    assert erased.to_state == "erased"
