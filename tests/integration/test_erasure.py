"""Sealed personal data, erasure by key destruction, and retention.

After erasure the person's fields read as "erased", the case keeps its skeleton, the
destruction register says what went and why, and the audit chain still verifies.
"""

from datetime import date

import pytest
from sqlalchemy import select, text

from referral.audit.verify import verify
from referral.db.tables import Case, DataKey, Destruction, Subject
from referral.domain.errors import Conflict, InvalidInput, NotFound
from referral.services import lifecycle
from referral.services.erasure import EraseSubject, erase_subject
from referral.services.referrals import read_case
from referral.services.retention import retention_rules, run_retention
from referral.services.uow import Runtime, UnitOfWork
from referral.workflow.schema import Workflow
from tests.conftest import TestClock
from tests.factories import closed_no_action, make_world, subject_of, submit

NAME = "Quillon"
FAMILY = "Vantablack"
BORN = date(2008, 2, 29)


def named(**extra: object) -> dict[str, object]:
    from tests.factories import referral_command

    subject = referral_command().subject
    return {
        "subject": type(subject)(
            **{**vars(subject), "given_name": NAME, "family_name": FAMILY, "date_of_birth": BORN}
        ),
        **extra,
    }


def test_personal_fields_are_stored_sealed_and_read_back_plain(runtime: Runtime) -> None:
    world = make_world(runtime)
    case_id = submit(world, **named())
    with UnitOfWork(runtime) as uow:
        raw = uow.session.execute(
            text("SELECT given_name, family_name, date_of_birth FROM subjects")
        ).one()
        narrative = uow.session.execute(
            text("SELECT narrative FROM cases WHERE id = :id"), {"id": case_id}
        ).scalar_one()
    for stored in (*raw, narrative):
        assert stored.startswith("s1.")
    assert NAME not in "".join(raw) and BORN.isoformat() not in "".join(raw)
    assert "MARK-NARRATIVE" not in narrative
    view = world.run("coordinator", read_case, case_id)
    assert view.fields["given_name"].value == NAME
    assert view.fields["date_of_birth"].value == BORN
    assert view.fields["narrative"].value == "MARK-NARRATIVE"


def test_erasing_a_subject_keeps_the_skeleton_the_register_and_the_chain(
    runtime: Runtime,
) -> None:
    world = make_world(runtime)
    case_id = closed_no_action(world, **named())
    subject_id = subject_of(runtime, case_id)
    with UnitOfWork(runtime) as uow:
        erased = erase_subject(uow, None, EraseSubject(subject_id, "Request of 2026-03-01"))
    assert erased.case_ids == (case_id,)

    view = world.run("coordinator", read_case, case_id)
    assert view.state == "erased"
    assert view.fields["given_name"].value == "erased"
    assert view.fields["date_of_birth"].value is None
    assert view.fields["narrative"].value == "erased"
    assert view.fields["referring_org_kind"].value == "education"
    assert view.fields["closed_at"].value is not None
    with UnitOfWork(runtime) as uow:
        subject = uow.session.get(Subject, subject_id)
        assert subject is not None and subject.data_key_id is not None
        key = uow.session.get(DataKey, subject.data_key_id)
        assert key is not None and key.wrapped is None and key.destroyed_at == uow.now
        register = uow.session.scalars(select(Destruction)).one()
        assert register.subject_id == subject_id and register.basis == "request"
        assert register.reason == "Request of 2026-03-01"
        assert register.cases == [
            {
                "case_id": case_id,
                "state": "closed_no_action",
                "closed_at": register.cases[0]["closed_at"],
            }
        ]
        assert verify(uow.session).ok


def test_erasure_refuses_open_cases_unknown_subjects_blank_reasons_and_repeats(
    runtime: Runtime,
) -> None:
    world = make_world(runtime)
    open_case = submit(world)
    open_subject = subject_of(runtime, open_case)
    with UnitOfWork(runtime) as uow, pytest.raises(Conflict, match="still open"):
        erase_subject(uow, None, EraseSubject(open_subject, "asked"))
    with UnitOfWork(runtime) as uow:
        subject = uow.session.get(Subject, open_subject)
        assert subject is not None and subject.given_name == "Testy"  # nothing half-done
    with UnitOfWork(runtime) as uow, pytest.raises(NotFound, match="subject 99999"):
        erase_subject(uow, None, EraseSubject(99999, "asked"))
    with UnitOfWork(runtime) as uow, pytest.raises(InvalidInput, match="reason"):
        erase_subject(uow, None, EraseSubject(open_subject, "  "))

    closed = subject_of(runtime, closed_no_action(world))
    with UnitOfWork(runtime) as uow:
        erase_subject(uow, None, EraseSubject(closed, "asked"))
    with UnitOfWork(runtime) as uow, pytest.raises(Conflict, match="already erased"):
        erase_subject(uow, None, EraseSubject(closed, "asked again"))


def test_nothing_more_can_be_recorded_about_an_erased_person(runtime: Runtime) -> None:
    world = make_world(runtime)
    subject_id = subject_of(runtime, closed_no_action(world))
    with UnitOfWork(runtime) as uow:
        erase_subject(uow, None, EraseSubject(subject_id, "asked"))
    with UnitOfWork(runtime) as uow:
        subject = uow.session.get(Subject, subject_id)
        assert subject is not None and subject.address == "erased"
        subject.address = "somewhere new"
        with pytest.raises(Conflict, match="has been erased"):
            uow.commit()


def test_retention_erases_once_when_the_period_runs_out(runtime: Runtime, clock: TestClock) -> None:
    world = make_world(runtime)
    case_id = closed_no_action(world)
    rules = {"closed_no_action": 12, "closed": 36}

    clock.advance(days=364)
    assert run_retention(runtime, rules).erased_cases == []
    clock.advance(days=2)
    first = run_retention(runtime, rules)
    assert first.erased_cases == [case_id] and first.failures == {}
    assert first.erased_subjects == [subject_of(runtime, case_id)]
    again = run_retention(runtime, rules)
    assert again.erased_cases == [] and again.erased_subjects == []

    with UnitOfWork(runtime) as uow:
        assert uow.session.scalars(select(Destruction.rule)).all() == [
            "closed_no_action + 12 months"
        ]
        actions = uow.session.execute(
            text("SELECT action, actor_role FROM audit_log WHERE case_id = :c OR target = :t"),
            {"c": case_id, "t": f"subject:{subject_of(runtime, case_id)}"},
        ).all()
        assert ("case:erase", "system") in actions and ("subject:erase", "system") in actions
        assert verify(uow.session).ok


def test_retention_leaves_open_and_unlisted_states_alone(
    runtime: Runtime, clock: TestClock
) -> None:
    world = make_world(runtime)
    open_case = submit(world)
    closed = closed_no_action(world)
    clock.advance(days=3650)
    report = run_retention(runtime, {"closed": 36})
    assert report.erased_cases == []
    with UnitOfWork(runtime) as uow:
        states = dict(uow.session.execute(select(Case.id, Case.state)).all())
    assert states[open_case] == "submitted" and states[closed] == "closed_no_action"


def test_reviews_cannot_be_written_for_an_erased_case(runtime: Runtime) -> None:
    world = make_world(runtime)
    case_id = closed_no_action(world)
    with UnitOfWork(runtime) as uow:
        erase_subject(uow, None, EraseSubject(subject_of(runtime, case_id), "asked"))
    # The erased case's state refuses first: its workflow allows no review there.
    with pytest.raises(Conflict, match="a case in Erased cannot have a review recorded"):
        world.run(
            "coordinator",
            lifecycle.record_review,
            lifecycle.RecordReview(case_id, "review", "notes"),
        )


def test_the_clock_applies_the_retention_rules(runtime: Runtime, clock: TestClock) -> None:
    from referral.services.timers import ClockRules, tick

    world = make_world(runtime)
    case_id = closed_no_action(world)
    rules = ClockRules(drift_days=0, retention_months={"closed_no_action": 12})
    clock.advance(days=300)
    assert tick(runtime, rules).erased == 0
    clock.advance(days=70)
    report = tick(runtime, rules)
    assert report.erased == 1 and "1 case(s) erased" in str(report)
    with UnitOfWork(runtime) as uow:
        assert uow.session.scalar(select(Case.state).where(Case.id == case_id)) == "erased"
    assert tick(runtime, rules).erased == 0


def test_retention_comes_from_the_workflow_file_and_configuration_overrides_it(
    workflows: dict[str, Workflow],
) -> None:
    shipped = retention_rules(workflows.values(), {})
    referral = workflows["referral"]
    # Every closed state of the shipped workflow says how long it is kept, nothing else does.
    assert set(shipped) == set(referral.closed_states)
    assert (shipped["closed"], shipped["closed_no_action"]) == (36, 12)
    overridden = retention_rules(workflows.values(), {"closed": 60})
    assert overridden == {**shipped, "closed": 60}
