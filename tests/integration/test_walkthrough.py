"""One case walked through the reference workflow: at each step the expected actor
succeeds and every other actor is refused, leaving the case untouched."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from referral.audit.verify import verify
from referral.db.tables import Case
from referral.demo import PROVIDER_CONSENT_SCOPE, DemoWorld
from referral.domain.errors import NotFound, PermissionDenied
from referral.domain.vocabulary import OrgKind, Role
from referral.services import consent, information, lifecycle, panel, referrals, screening, support
from referral.services.erasure import EraseCase, erase_case
from referral.services.uow import Runtime
from tests.factories import add_user, hold, make_world, referral_command, schedule

Ids = dict[str, Any]


@dataclass(frozen=True)
class Step:
    name: str
    allowed: frozenset[str]
    action: Callable[[DemoWorld, str, Ids], Any]
    expect_state: str | None = None


def step(name: str, allowed: str, state: str | None = None) -> Callable[..., Step]:
    def wrap(action: Callable[[DemoWorld, str, Ids], Any]) -> Step:
        return Step(name, frozenset(allowed.split()), action, state)

    return wrap


def move(trigger: str) -> Callable[[DemoWorld, str, Ids], Any]:
    return lambda w, who, ids: w.run(
        who, lifecycle.move_case, lifecycle.MoveCase(ids["case"], trigger)
    )


SCOPE = PROVIDER_CONSENT_SCOPE

STEPS = [
    step("submit_draft", "referrer", "submitted")(
        lambda w, who, ids: w.run(who, referrals.submit_draft, referrals.SubmitDraft(ids["case"]))
    ),
    step("start_screening", "screener coordinator", "screening")(
        lambda w, who, ids: w.run(
            who, screening.start_screening, screening.StartScreening(ids["case"])
        )
    ),
    step("record_deconfliction", "screener")(
        lambda w, who, ids: w.run(
            who,
            screening.record_deconfliction,
            screening.RecordDeconfliction(ids["case"], "none known", "no match"),
        )
    ),
    step("gather_information", "coordinator", "information_gathering")(
        lambda w, who, ids: w.run(
            who,
            screening.record_screening_outcome,
            screening.RecordScreeningOutcome(
                ids["case"], "gather_information", screening_notes="notes"
            ),
        )
    ),
    step("send_information_requests", "coordinator")(
        lambda w, who, ids: ids.__setitem__(
            "requests",
            w.run(
                who,
                information.send_information_requests,
                information.SendInformationRequests(
                    ids["case"], (w.org_ids[OrgKind.HEALTH],), "Known?"
                ),
            ),
        )
    ),
    # The asked agency answers for itself; the police screener may not answer for health.
    step("record_answer", "coordinator health_contact")(
        lambda w, who, ids: w.run(
            who,
            information.record_answer,
            information.RecordAnswer(ids["requests"][0], "Not known to us."),
        )
    ),
    step("ready_for_panel", "coordinator", "awaiting_panel")(move("ready_for_panel")),
    step("set_agenda", "chair coordinator", "panel_review")(
        lambda w, who, ids: w.run(
            who, panel.set_agenda, panel.SetAgenda(ids["meeting"], (ids["case"],))
        )
    ),
    step("add_contribution", "panel chair coordinator")(
        lambda w, who, ids: w.run(
            who,
            panel.add_contribution,
            panel.AddContribution(ids["case"], ids["meeting"], "Our view."),
        )
    ),
    step("decide_support", "chair", "consent_pending")(
        # Decisions are recorded once the meeting is held (the chair marks it so).
        lambda w, who, ids: (
            hold(w, ids["meeting"]),
            w.run(
                who,
                panel.record_panel_decision,
                panel.RecordDecision(ids["case"], ids["meeting"], "support", "Consensus."),
            ),
        )[1]
    ),
    step("request_consent", "coordinator")(
        lambda w, who, ids: w.run(who, consent.request_consent, consent.RequestConsent(ids["case"]))
    ),
    step("record_consent", "coordinator")(
        lambda w, who, ids: w.run(
            who,
            consent.record_consent,
            consent.RecordConsent(
                ids["case"], True, "in_person", SCOPE, given_by="guardian", guardian_name="G"
            ),
        )
    ),
    step("start_support", "coordinator", "support")(move("start_support")),
    step("assign_intervention", "coordinator")(
        lambda w, who, ids: ids.__setitem__(
            "intervention",
            w.run(
                who,
                support.assign_intervention,
                support.AssignIntervention(
                    ids["case"], "mentoring", w.org_ids[OrgKind.CIVIL_SOCIETY], "Plan"
                ),
            ),
        )
    ),
    step("accept_intervention", "provider")(
        lambda w, who, ids: w.run(
            who, support.move_intervention, support.MoveIntervention(ids["intervention"], "accept")
        )
    ),
    step("start_intervention", "provider")(
        lambda w, who, ids: w.run(
            who, support.move_intervention, support.MoveIntervention(ids["intervention"], "start")
        )
    ),
    step("record_progress", "provider")(
        lambda w, who, ids: w.run(
            who,
            support.record_progress,
            support.RecordProgress(ids["intervention"], "Session went well."),
        )
    ),
    step("start_review", "coordinator", "review")(move("start_review")),
    step("record_review", "coordinator")(
        lambda w, who, ids: w.run(
            who, lifecycle.record_review, lifecycle.RecordReview(ids["case"], "review", "On track.")
        )
    ),
    step("continue_support", "coordinator", "support")(move("continue_support")),
    step("exit_support", "chair", "exited")(move("exit_support")),
    step("follow_up_6m", "coordinator", "follow_up_6m")(move("follow_up_6m")),
    step("reopen", "coordinator", "support")(move("reopen")),
    step("exit_again", "chair", "exited")(move("exit_support")),
    step("follow_up_6m_again", "coordinator", "follow_up_6m")(move("follow_up_6m")),
    step("follow_up_12m", "coordinator", "follow_up_12m")(move("follow_up_12m")),
    step("close", "coordinator", "closed")(move("close")),
    step("erase", "dpo", "erased")(
        lambda w, who, ids: w.run(
            who, erase_case, EraseCase(ids["case"], "Retention period reached.")
        )
    ),
]


def case_state(runtime: Runtime, case_id: int) -> tuple[str, int]:
    with runtime.session_factory() as session:
        row = session.execute(select(Case.state, Case.version).where(Case.id == case_id)).one()
    return row.state, row.version


@pytest.fixture
def world(runtime: Runtime) -> DemoWorld:
    world = make_world(runtime)
    add_user(runtime, world, "other_referrer", OrgKind.EDUCATION, Role.REFERRER, new_org=True)
    add_user(runtime, world, "other_provider", OrgKind.YOUTH, Role.PROVIDER, new_org=True)
    add_user(runtime, world, "uninvited_panel", OrgKind.POLICE, Role.PANEL_MEMBER)
    add_user(runtime, world, "analyst", OrgKind.NATIONAL, Role.ANALYST)
    return world


def test_case_walks_every_state_with_the_right_actor_and_refuses_the_wrong_ones(
    runtime: Runtime, world: DemoWorld
) -> None:
    case_id = world.run("referrer", referrals.submit_referral, referral_command(as_draft=True))
    ids: Ids = {"case": case_id, "meeting": schedule(world, runtime)}
    assert case_state(runtime, case_id)[0] == "draft"
    visited = {"draft"}
    for current in STEPS:
        before = case_state(runtime, case_id)
        for who in sorted(set(world.actors) - current.allowed):
            try:
                current.action(world, who, ids)
            except (NotFound, PermissionDenied):
                pass
            else:
                pytest.fail(f"{who} was allowed to {current.name}")
            assert case_state(runtime, case_id) == before, (
                f"{who} changed the case at {current.name}"
            )
        expected_actor = sorted(current.allowed)[0]
        current.action(world, expected_actor, ids)
        state, _ = case_state(runtime, case_id)
        if current.expect_state:
            assert state == current.expect_state, current.name
        visited.add(state)
    main_path = {s.expect_state for s in STEPS if s.expect_state} | {"draft"}
    assert visited == main_path
    with runtime.session_factory() as session:
        assert verify(session).ok


def test_referrer_cannot_submit_for_another_and_nobody_else_may_submit(
    runtime: Runtime, world: DemoWorld
) -> None:
    for who in ("coordinator", "screener", "panel", "chair", "provider", "dpo", "admin", "analyst"):
        with pytest.raises(PermissionDenied):
            world.run(who, referrals.submit_referral, referral_command())
