"""A network that renames every state and trigger of its referral workflow loses nothing.

Issue 11, item 1: no state or trigger name is hard-coded in Python or templates. The
shipped referral workflow is copied with each of its names prefixed, and the policy's
state conditions follow; a case then goes from submission through screening, the panel,
consent and support to withdrawal and erasure, each step found the way a person finds
it (the button or outcome with that label on the case page, the panel's outcome word),
never by a trigger's name.
"""

import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from referral.config import PROJECT_ROOT
from referral.db.tables import Case, Destruction, Intervention, Notification
from referral.demo import PROVIDER_CONSENT_SCOPE, DemoWorld
from referral.domain import states
from referral.domain.errors import ConfigurationError, InvalidInput
from referral.domain.vocabulary import OrgKind
from referral.services import actions, consent, information, lifecycle, panel, screening, support
from referral.services.linked_states import configure_states, missing_states
from referral.services.uow import Runtime, UnitOfWork
from referral.workflow.loader import load_workflows
from tests.factories import hold, make_world, reference_of, schedule, submit
from tests.renaming import PREFIX, renamed_name, use_renamed_workflows


@pytest.fixture
def renamed(runtime: Runtime, tmp_path: Path) -> Runtime:
    return use_renamed_workflows(runtime, tmp_path)


def page(world: DemoWorld, who: str, case_id: int) -> actions.CasePage:
    with UnitOfWork(world.runtime) as uow:
        return actions.case_page(uow, world.actors[who], case_id)


def press(world: DemoWorld, who: str, case_id: int, label: str) -> str:
    """Press the button with this label on the case page; the state the case moved to."""
    offered = {m.label: m.trigger for m in page(world, who, case_id).moves}
    assert label in offered, f"{label!r} is not offered to {who}; offered: {sorted(offered)}"
    moved = world.run(who, lifecycle.move_case, lifecycle.MoveCase(case_id, offered[label]))
    return str(moved.to_state)


def state_of(runtime: Runtime, case_id: int) -> str:
    with runtime.session_factory() as session:
        return str(session.scalar(select(Case.state).where(Case.id == case_id)))


def test_the_shipped_names_are_gone(renamed: Runtime) -> None:
    referral = renamed.workflows["referral"]
    assert all(name.startswith(PREFIX) for name in referral.state_names)
    for workflow in renamed.workflows.values():
        assert all(trigger.startswith(PREFIX) for trigger in workflow.triggers)


def test_a_case_runs_its_whole_course_on_renamed_states_and_triggers(renamed: Runtime) -> None:
    world = make_world(renamed)
    case_id = submit(world)
    assert state_of(renamed, case_id) == renamed_name("submitted")

    assert press(world, "coordinator", case_id, "Start screening") == renamed_name("screening")
    form = page(world, "coordinator", case_id).screening
    assert form is not None
    gather = {label: trigger for trigger, label in form.labels.items()}[
        "Gather information from partner agencies"
    ]
    world.run(
        "coordinator",
        screening.record_screening_outcome,
        screening.RecordScreeningOutcome(case_id, gather, screening_notes="MARK-ASSESSMENT"),
    )
    assert state_of(renamed, case_id) == renamed_name("information_gathering")
    assert "send_requests" in page(world, "coordinator", case_id).forms

    ids = world.run(
        "coordinator",
        information.send_information_requests,
        information.SendInformationRequests(case_id, (world.org_ids[OrgKind.HEALTH],), "Known?"),
    )
    world.run("coordinator", information.record_answer, information.RecordAnswer(ids[0], "No."))
    assert press(world, "coordinator", case_id, "Ready for panel") == renamed_name("awaiting_panel")

    meeting_id = schedule(world, renamed)
    moved = world.run("coordinator", panel.set_agenda, panel.SetAgenda(meeting_id, (case_id,)))
    assert [m.to_state for m in moved] == [renamed_name("panel_review")]
    hold(world, meeting_id)
    decision = panel.RecordDecision(case_id, meeting_id, "support", "MARK-DELIBERATION")
    world.run("chair", panel.record_panel_decision, decision)
    assert state_of(renamed, case_id) == renamed_name("consent_pending")

    assert {"request_consent", "assign_intervention"} <= page(world, "coordinator", case_id).forms
    world.run("coordinator", consent.request_consent, consent.RequestConsent(case_id))
    record = consent.RecordConsent(
        case_id, True, "in_person", PROVIDER_CONSENT_SCOPE, given_by="guardian", guardian_name="G"
    )
    world.run("coordinator", consent.record_consent, record)
    assert press(world, "coordinator", case_id, "Start support") == renamed_name("support")
    assign = support.AssignIntervention(
        case_id, "mentoring", world.org_ids[OrgKind.CIVIL_SOCIETY], "MARK-SUPPORT"
    )
    intervention_id = int(world.run("coordinator", support.assign_intervention, assign))
    labels = renamed.workflows["intervention"].trigger_labels
    by_label = {text: trigger for trigger, text in labels.items()}
    for label in ("Accept", "Start"):
        move = support.MoveIntervention(intervention_id, by_label[label])
        world.run("provider", support.move_intervention, move)
    with renamed.session_factory() as session:
        state = session.scalar(select(Intervention.state).where(Intervention.id == intervention_id))
    assert state == "active"

    withdrawn = world.run(
        "coordinator", consent.withdraw_consent, consent.WithdrawConsent(case_id, "Moved on.")
    )
    assert withdrawn.to_state == renamed_name("closed_consent_withdrawn")
    with renamed.session_factory() as session:
        told = session.scalars(
            select(Notification.message).where(
                Notification.case_id == case_id,
                Notification.user_id == world.actors["referrer"].user_id,
            )
        ).all()
    # The referrer heard each stage in the file's words, never a renamed identifier.
    assert f"Referral {reference_of(world.runtime, case_id)}: closed: consent was withdrawn" in told
    assert not [m for m in told if PREFIX in m]

    # Erasure by the button is erasure: the person's key goes with their last case.
    assert press(world, "dpo", case_id, "Erase") == renamed_name("erased")
    with renamed.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Destruction)) == 1


def test_the_panel_and_screening_choices_come_from_the_file(renamed: Runtime) -> None:
    world = make_world(renamed)
    case_id = submit(world)
    world.run("screener", screening.start_screening, screening.StartScreening(case_id))
    unknown = "unknown screening outcome 'gather_information'"
    with pytest.raises(InvalidInput, match=unknown) as refused:
        world.run(
            "coordinator",
            screening.record_screening_outcome,
            screening.RecordScreeningOutcome(case_id, "gather_information"),
        )
    assert renamed_name("gather_information") in str(refused.value)
    assert set(panel.decision_outcomes(renamed.workflows["referral"])) == {
        "support",
        "signpost",
        "no_action",
    }


def test_a_linked_state_renamed_says_what_it_means(tmp_path: Path) -> None:
    # Renaming a consent's `given` without saying so would quietly stop consent from
    # counting: refused, naming the file; with `means: given` the process learns the name.
    folder = tmp_path / "workflows"
    shutil.copytree(PROJECT_ROOT / "workflows", folder)
    consent_file = folder / "consent.yaml"
    text = consent_file.read_text(encoding="utf-8")
    consent_file.write_text(re.sub(r"\bgiven\b(?=\n)", "agreed", text), encoding="utf-8")
    workflows = load_workflows(folder)
    assert missing_states(workflows.values()) == [
        f"{consent_file}: states: the code reads a consent in state 'given', which this file"
        " does not declare (name it so, or give the state that stands for it `means: given`)"
    ]
    with pytest.raises(ConfigurationError, match="state 'given'"):
        configure_states(workflows.values())
    assert states.consent_given() == "given"  # refused: nothing learnt

    consent_file.write_text(
        consent_file.read_text(encoding="utf-8").replace(
            "  - name: agreed\n", "  - name: agreed\n    means: given\n"
        ),
        encoding="utf-8",
    )
    try:
        configure_states(load_workflows(folder).values())
        assert states.consent_given() == "agreed"
        assert states.name(states.CONSENT, "requested") == "requested"
    finally:
        states.configure({})  # this process's other tests run on the shipped names
    assert missing_states(load_workflows(PROJECT_ROOT / "workflows").values()) == []
