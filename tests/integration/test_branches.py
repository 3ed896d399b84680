"""Every exit of the reference workflow that the main walk does not take."""

from collections.abc import Callable

import pytest
from sqlalchemy import select

from referral.db.tables import Case
from referral.demo import DemoWorld
from referral.domain.errors import Conflict
from referral.services import consent, lifecycle, panel, screening
from referral.services.erasure import EraseCase, erase_case
from referral.services.uow import Runtime
from tests.factories import hold, make_world, schedule, submit, to_awaiting_panel, to_support


def state_of(runtime: Runtime, case_id: int) -> str:
    with runtime.session_factory() as session:
        return str(session.scalar(select(Case.state).where(Case.id == case_id)))


def screened(world: DemoWorld) -> int:
    case_id = submit(world)
    world.run("screener", screening.start_screening, screening.StartScreening(case_id))
    return case_id


def outcome(who: str, name: str) -> Callable[[DemoWorld, Runtime], int]:
    def run(world: DemoWorld, runtime: Runtime) -> int:
        case_id = screened(world)
        world.run(
            who, screening.record_screening_outcome, screening.RecordScreeningOutcome(case_id, name)
        )
        return case_id

    return run


def panel_decision(decision: str) -> Callable[[DemoWorld, Runtime], int]:
    def run(world: DemoWorld, runtime: Runtime) -> int:
        meeting_id = schedule(world, runtime)
        case_id = to_awaiting_panel(world)
        world.run("coordinator", panel.set_agenda, panel.SetAgenda(meeting_id, (case_id,)))
        hold(world, meeting_id)
        world.run(
            "chair",
            panel.record_panel_decision,
            panel.RecordDecision(case_id, meeting_id, decision, "Consensus."),
        )
        return case_id

    return run


def refused(world: DemoWorld, runtime: Runtime) -> int:
    case_id = panel_decision("support")(world, runtime)
    world.run("coordinator", consent.request_consent, consent.RequestConsent(case_id))
    world.run(
        "coordinator",
        consent.record_consent,
        consent.RecordConsent(case_id, False, "phone", given_by="guardian", guardian_name="G"),
    )
    return case_id


def withdrawn(world: DemoWorld, runtime: Runtime) -> int:
    case_id, _ = to_support(world, schedule(world, runtime))
    world.run("coordinator", consent.withdraw_consent, consent.WithdrawConsent(case_id))
    return case_id


def transferred(world: DemoWorld, runtime: Runtime) -> int:
    case_id = screened(world)
    world.run("coordinator", lifecycle.move_case, lifecycle.MoveCase(case_id, "transfer"))
    return case_id


BRANCHES = {
    "closed_no_action": outcome("coordinator", "close_no_action"),
    "signposted": outcome("coordinator", "signpost"),
    "police_led": outcome("screener", "refer_to_police"),
    "transferred": transferred,
    "closed_consent_refused": refused,
    "closed_consent_withdrawn": withdrawn,
}


@pytest.mark.parametrize("target", sorted(BRANCHES))
def test_branch_reaches_its_state(runtime: Runtime, target: str) -> None:
    world = make_world(runtime)
    case_id = BRANCHES[target](world, runtime)
    assert state_of(runtime, case_id) == target


@pytest.mark.parametrize(
    ("decision", "target"), [("signpost", "signposted"), ("no_action", "closed_no_action")]
)
def test_panel_can_signpost_or_close(runtime: Runtime, decision: str, target: str) -> None:
    world = make_world(runtime)
    assert state_of(runtime, panel_decision(decision)(world, runtime)) == target


def test_closed_branch_can_be_erased_but_not_reopened(runtime: Runtime) -> None:
    world = make_world(runtime)
    case_id = outcome("coordinator", "close_no_action")(world, runtime)
    with pytest.raises(Conflict, match="cannot start_review"):
        world.run("coordinator", lifecycle.move_case, lifecycle.MoveCase(case_id, "start_review"))
    world.run("dpo", erase_case, EraseCase(case_id, "Retention period reached."))
    assert state_of(runtime, case_id) == "erased"


def test_start_support_waits_for_consent(runtime: Runtime) -> None:
    world = make_world(runtime)
    case_id = panel_decision("support")(world, runtime)
    with pytest.raises(Conflict, match="consent has not been given"):
        world.run("coordinator", lifecycle.move_case, lifecycle.MoveCase(case_id, "start_support"))
    assert state_of(runtime, case_id) == "consent_pending"
