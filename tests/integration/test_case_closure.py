"""A case that closes ends what still hangs open off it: an intervention planned or under
way is ended, a request the agency has not answered is withdrawn, each by the system, in
the closing move's transaction, audited and told. Nobody is left delivering support on,
or being asked about, a closed case, and the access those records gave ends with them."""

import pytest
from sqlalchemy import select

from referral.db.tables import AuditEntry, InformationRequest, Intervention, Notification, Timer
from referral.demo import DemoWorld
from referral.domain.actors import SYSTEM_USER_ID
from referral.domain.errors import NotFound
from referral.domain.vocabulary import OrgKind
from referral.services import consent, information, lifecycle, referrals, support
from referral.services.uow import Runtime, UnitOfWork
from tests.factories import make_world, reference_of, schedule, to_information_gathering, to_support


@pytest.fixture
def world(runtime: Runtime) -> DemoWorld:
    return make_world(runtime)


def _state(runtime: Runtime, model: type[Intervention] | type[InformationRequest], row: int) -> str:
    with runtime.session_factory() as session:
        return str(session.scalar(select(model.state).where(model.id == row)))


def _system_entries(runtime: Runtime, target: str) -> list[AuditEntry]:
    with runtime.session_factory() as session:
        return list(
            session.scalars(
                select(AuditEntry).where(
                    AuditEntry.target == target, AuditEntry.actor_user_id == SYSTEM_USER_ID
                )
            )
        )


def test_withdrawn_consent_ends_the_interventions_still_open(
    runtime: Runtime, world: DemoWorld
) -> None:
    case_id, active = to_support(world, schedule(world, runtime))
    proposed = world.run(
        "coordinator",
        support.assign_intervention,
        support.AssignIntervention(
            case_id, "education", world.org_ids[OrgKind.CIVIL_SOCIETY], "MARK-PLAN"
        ),
    )
    completed = world.run(
        "coordinator",
        support.assign_intervention,
        support.AssignIntervention(
            case_id, "mentoring", world.org_ids[OrgKind.CIVIL_SOCIETY], "MARK-PLAN"
        ),
    )
    for trigger in ("accept", "start", "complete"):
        move = support.MoveIntervention(completed, trigger)
        world.run("provider", support.move_intervention, move)
    with UnitOfWork(runtime) as uow:  # the provider reads the case while it is theirs
        assert referrals.read_case(uow, world.actors["provider"], case_id).case_id == case_id

    world.run("coordinator", consent.withdraw_consent, consent.WithdrawConsent(case_id))

    assert _state(runtime, Intervention, active) == "withdrawn"
    assert _state(runtime, Intervention, proposed) == "withdrawn"
    assert _state(runtime, Intervention, completed) == "completed"  # done is done
    for ended in (active, proposed):
        (entry,) = _system_entries(runtime, f"intervention:{ended}")
        assert entry.action == "intervention:withdraw" and entry.allowed
        assert entry.case_id == case_id
    with runtime.session_factory() as session:
        told = session.scalars(
            select(Notification.message).where(
                Notification.user_id == world.actors["provider"].user_id,
                Notification.case_id == case_id,
                Notification.event == "intervention:end_with_case",
            )
        ).all()
    assert (
        told
        == [
            (
                f"Case {reference_of(world.runtime, case_id)}: "
                "an intervention ended because the case closed"
            )
        ]
        * 2
    )
    with UnitOfWork(runtime) as uow, pytest.raises(NotFound):
        referrals.read_case(uow, world.actors["provider"], case_id)


def test_a_closing_case_withdraws_the_requests_agencies_have_not_answered(
    runtime: Runtime, world: DemoWorld
) -> None:
    case_id = to_information_gathering(world)
    asked = (world.org_ids[OrgKind.HEALTH], world.org_ids[OrgKind.POLICE])
    command = information.SendInformationRequests(case_id, asked, "MARK-QUESTION")
    ids = world.run("coordinator", information.send_information_requests, command)
    health, police = (dict(zip(sorted(asked), ids, strict=True))[org] for org in asked)
    world.run("coordinator", information.record_answer, information.RecordAnswer(police, "No."))
    with UnitOfWork(runtime) as uow:
        assert referrals.read_case(uow, world.actors["health_contact"], case_id)

    world.run("coordinator", lifecycle.move_case, lifecycle.MoveCase(case_id, "transfer"))

    assert _state(runtime, InformationRequest, health) == "withdrawn"
    assert _state(runtime, InformationRequest, police) == "answered"
    (entry,) = _system_entries(runtime, f"information_request:{health}")
    assert entry.action == "information_request:send"
    with runtime.session_factory() as session:
        pending = session.scalars(
            select(Timer.trigger).where(Timer.object_id == health, Timer.state == "pending")
        ).all()
    assert pending == []  # nothing goes overdue on a closed case
    with UnitOfWork(runtime) as uow, pytest.raises(NotFound):
        referrals.read_case(uow, world.actors["health_contact"], case_id)
