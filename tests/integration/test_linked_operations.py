"""Everything that hangs off a case follows the case's state (DESIGN.md §3, invariant 7).

The issue's case: on a case still gathering information, the services accepted an agenda
item, a contribution, a consent request and its record, an intervention and a review. Each
is now refused with a conflict naming the state in the words of the workflow file, and
nothing is written.
"""

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from referral.db.base import Base
from referral.db.tables import (
    AgendaItem,
    Case,
    Consent,
    Contribution,
    Decision,
    InformationRequest,
    Intervention,
    ProgressNote,
    Review,
)
from referral.demo import DemoWorld
from referral.domain.errors import Conflict
from referral.domain.facts import ConsentScope
from referral.domain.vocabulary import Category, OrgKind, Purpose
from referral.services import (
    actions,
    breakglass,
    case_operations,
    consent,
    information,
    lifecycle,
    panel,
    support,
)
from referral.services.uow import Runtime, UnitOfWork
from referral.workflow import load_workflows
from tests.factories import (
    closed_no_action,
    make_world,
    schedule,
    to_awaiting_panel,
    to_information_gathering,
    to_support,
)

GATHERING = "a case in Gathering information cannot"
SCOPE = (ConsentScope(Category.IDENTITY, OrgKind.CIVIL_SOCIETY, Purpose.SUPPORT),)

# (who, the service call on the case, the table that must stay empty, why it is refused)
Attempt = Callable[[DemoWorld, int, int], Any]
REFUSED_BEFORE_THE_PANEL: dict[str, tuple[Attempt, type[Base], str]] = {
    "agenda": (
        lambda w, case_id, meeting_id: w.run(
            "coordinator", panel.set_agenda, panel.SetAgenda(meeting_id, (case_id,))
        ),
        AgendaItem,
        "be put on a panel agenda",
    ),
    "contribution": (
        lambda w, case_id, meeting_id: w.run(
            "panel", panel.add_contribution, panel.AddContribution(case_id, meeting_id, "Known.")
        ),
        Contribution,
        "take a panel contribution",
    ),
    "decision": (
        lambda w, case_id, meeting_id: w.run(
            "chair",
            panel.record_panel_decision,
            panel.RecordDecision(case_id, meeting_id, "support", "Consensus."),
        ),
        Decision,
        "have a panel decision recorded",
    ),
    "consent request": (
        lambda w, case_id, _: w.run(
            "coordinator", consent.request_consent, consent.RequestConsent(case_id)
        ),
        Consent,
        "have consent requested",
    ),
    "consent record": (
        lambda w, case_id, _: w.run(
            "coordinator",
            consent.record_consent,
            consent.RecordConsent(
                case_id, True, "in_person", SCOPE, given_by="guardian", guardian_name="G"
            ),
        ),
        Consent,
        "have consent recorded",
    ),
    "intervention": (
        lambda w, case_id, _: w.run(
            "coordinator",
            support.assign_intervention,
            support.AssignIntervention(
                case_id, "mentoring", w.org_ids[OrgKind.CIVIL_SOCIETY], "Weekly."
            ),
        ),
        Intervention,
        "have an intervention assigned",
    ),
    "review": (
        lambda w, case_id, _: w.run(
            "coordinator", lifecycle.record_review, lifecycle.RecordReview(case_id, "review", "Ok.")
        ),
        Review,
        "have a review recorded",
    ),
}


def rows_of(runtime: Runtime, model: type[Base], case_id: int) -> int:
    table: Any = model
    with runtime.session_factory() as session:
        return int(
            session.scalar(select(func.count()).select_from(model).where(table.case_id == case_id))
            or 0
        )


def state_of(runtime: Runtime, case_id: int) -> str:
    with runtime.session_factory() as session:
        return str(session.scalar(select(Case.state).where(Case.id == case_id)))


@pytest.mark.parametrize("attempt", sorted(REFUSED_BEFORE_THE_PANEL))
def test_a_case_gathering_information_refuses_what_only_a_panel_may_start(
    runtime: Runtime, attempt: str
) -> None:
    world = make_world(runtime)
    meeting_id = schedule(world, runtime)
    case_id = to_information_gathering(world)
    if attempt != "agenda":
        # As the demo left it: on an agenda before its time, so the panel sees it.
        with runtime.session_factory() as session, session.begin():
            session.add(AgendaItem(meeting_id=meeting_id, case_id=case_id, position=1))
    call, model, refusal = REFUSED_BEFORE_THE_PANEL[attempt]
    with pytest.raises(Conflict) as caught:
        call(world, case_id, meeting_id)
    assert caught.value.message == f"{GATHERING} {refusal}"
    assert rows_of(runtime, model, case_id) == 0
    assert state_of(runtime, case_id) == "information_gathering"


def test_the_same_operations_go_through_once_the_panel_has_decided(runtime: Runtime) -> None:
    world = make_world(runtime)
    meeting_id = schedule(world, runtime)
    case_id, _ = to_support(world, meeting_id, contribution="Known to us.")
    world.run(
        "coordinator", lifecycle.record_review, lifecycle.RecordReview(case_id, "review", "Ok.")
    )
    assert [rows_of(runtime, m, case_id) for m in (AgendaItem, Contribution, Consent)] == [1, 1, 1]
    assert [rows_of(runtime, m, case_id) for m in (Decision, Intervention, Review)] == [1, 1, 1]


def test_information_is_requested_only_while_it_is_gathered(runtime: Runtime) -> None:
    world = make_world(runtime)
    case_id = to_awaiting_panel(world)
    asked = rows_of(runtime, InformationRequest, case_id)
    with pytest.raises(Conflict) as caught:
        world.run(
            "coordinator",
            information.send_information_requests,
            information.SendInformationRequests(case_id, (world.org_ids[OrgKind.POLICE],), "?"),
        )
    assert caught.value.message == (
        "a case in Awaiting panel cannot have information requested from agencies"
    )
    assert rows_of(runtime, InformationRequest, case_id) == asked


def test_no_progress_is_recorded_once_support_has_ended(runtime: Runtime) -> None:
    world = make_world(runtime)
    case_id, intervention_id = to_support(world, schedule(world, runtime))
    world.run("chair", lifecycle.move_case, lifecycle.MoveCase(case_id, "exit_support"))
    with pytest.raises(Conflict) as caught:
        world.run(
            "provider",
            support.record_progress,
            support.RecordProgress(intervention_id, "Met again."),
        )
    assert caught.value.message == (
        "a case in Support ended cannot have progress recorded on an intervention"
    )
    with runtime.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(ProgressNote)) == 0


def test_no_intervention_moves_once_support_has_ended(runtime: Runtime) -> None:
    world = make_world(runtime)
    case_id, intervention_id = to_support(world, schedule(world, runtime))
    world.run("chair", lifecycle.move_case, lifecycle.MoveCase(case_id, "exit_support"))
    with pytest.raises(Conflict, match=r"^a case in Support ended cannot have an intervention"):
        world.run(
            "provider",
            support.move_intervention,
            support.MoveIntervention(intervention_id, "complete"),
        )
    with runtime.session_factory() as session:
        assert session.get(Intervention, intervention_id).state == "active"  # type: ignore[union-attr]


def test_break_glass_is_refused_on_a_closed_case(runtime: Runtime) -> None:
    world = make_world(runtime)
    case_id = closed_no_action(world)
    with pytest.raises(Conflict) as caught:
        world.run(
            "dpo",
            breakglass.open_break_glass,
            breakglass.OpenBreakGlass(case_id, "special", "Safeguarding emergency, checked.", 30),
        )
    assert caught.value.message == (
        "a case in Closed: no further action cannot be opened by break-glass"
    )


def test_the_refusal_names_the_state_as_the_networks_own_file_labels_it(
    runtime: Runtime, tmp_path: Path, project_root: Path
) -> None:
    folder = tmp_path / "workflows"
    shutil.copytree(project_root / "workflows", folder)
    referral = folder / "referral.yaml"
    text = referral.read_text(encoding="utf-8")
    referral.write_text(
        text.replace("label: Gathering information", "label: Asking partner agencies"),
        encoding="utf-8",
    )
    runtime.workflows = load_workflows(folder)
    world = make_world(runtime)
    case_id = to_information_gathering(world)
    with pytest.raises(Conflict) as caught:
        world.run("coordinator", consent.request_consent, consent.RequestConsent(case_id))
    assert caught.value.message == "a case in Asking partner agencies cannot have consent requested"


def forms_on(runtime: Runtime, world: DemoWorld, case_id: int) -> frozenset[str]:
    with UnitOfWork(runtime) as uow:
        return actions.case_page(uow, world.actors["coordinator"], case_id).forms


def test_the_case_page_offers_only_the_forms_the_state_allows(runtime: Runtime) -> None:
    world = make_world(runtime)
    gathering = forms_on(runtime, world, to_information_gathering(world))
    assert "send_requests" in gathering
    assert not {"request_consent", "assign_intervention", "record_review"} & gathering
    case_id, _ = to_support(world, schedule(world, runtime))
    supported = forms_on(runtime, world, case_id)
    assert {"assign_intervention", "record_review"} <= supported
    assert "send_requests" not in supported


def test_an_operation_the_code_misspells_is_an_error_not_a_refusal(runtime: Runtime) -> None:
    world = make_world(runtime)
    case_id = to_information_gathering(world)
    with UnitOfWork(runtime) as uow:
        case = uow.session.get(Case, case_id)
        assert case is not None
        with pytest.raises(ValueError, match="unknown operation 'send_information_request'"):
            case_operations.require(uow, case, "send_information_request")
