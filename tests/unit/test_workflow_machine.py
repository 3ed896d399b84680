"""Firing transitions through the shared machines: moves, refusals and their messages."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from referral.domain.errors import ConfigurationError, Conflict, InvalidInput
from referral.domain.facts import GuardFacts
from referral.workflow import GUARDS, Workflow, WorkflowEngine, load_workflow, load_workflows

WORKFLOWS = Path(__file__).parents[2] / "workflows"
TINY = Path(__file__).parent / "workflow_files" / "tiny.yaml"

NO_FACTS = GuardFacts()
SETTLED = GuardFacts(information_request_states=("answered", "overdue"))
AGENDA = GuardFacts(on_open_agenda=True)
CONSENT = GuardFacts(consent_state="given")

HAPPY_PATH = [
    ("submit", NO_FACTS, "submitted"),
    ("start_screening", NO_FACTS, "screening"),
    ("gather_information", NO_FACTS, "information_gathering"),
    ("ready_for_panel", SETTLED, "awaiting_panel"),
    ("take_to_panel", AGENDA, "panel_review"),
    ("decide_support", NO_FACTS, "consent_pending"),
    ("start_support", CONSENT, "support"),
    ("start_review", NO_FACTS, "review"),
    ("continue_support", NO_FACTS, "support"),
    ("exit_support", NO_FACTS, "exited"),
    ("follow_up_6m", NO_FACTS, "follow_up_6m"),
    ("follow_up_12m", NO_FACTS, "follow_up_12m"),
    ("close", NO_FACTS, "closed"),
    ("erase", NO_FACTS, "erased"),
]


@pytest.fixture(scope="module")
def workflows() -> dict[str, Workflow]:
    return load_workflows(WORKFLOWS)


@pytest.fixture(scope="module")
def referral(workflows: dict[str, Workflow]) -> Workflow:
    return workflows["referral"]


@pytest.fixture
def engine() -> WorkflowEngine:
    return WorkflowEngine()


def test_happy_path_walks_from_draft_to_erased(engine: WorkflowEngine, referral: Workflow) -> None:
    state = referral.initial
    for trigger, facts, expected in HAPPY_PATH:
        state = engine.fire(referral, state, trigger, facts)
        assert state == expected, trigger


def test_failed_guard_is_a_conflict_in_plain_words(
    engine: WorkflowEngine, referral: Workflow
) -> None:
    with pytest.raises(Conflict) as caught:
        engine.fire(
            referral, "consent_pending", "start_support", GuardFacts(consent_state="requested")
        )
    assert caught.value.message == (
        "cannot start_support a case in state “Awaiting consent”: consent has not been given"
    )


def test_outstanding_information_blocks_the_panel(
    engine: WorkflowEngine, referral: Workflow
) -> None:
    pending = GuardFacts(information_request_states=("answered", "requested"))
    with pytest.raises(Conflict, match="information requests are still awaiting answers"):
        engine.fire(referral, "information_gathering", "ready_for_panel", pending)


def test_trigger_from_wrong_state_lists_the_allowed_ones(
    engine: WorkflowEngine, referral: Workflow
) -> None:
    with pytest.raises(Conflict) as caught:
        engine.fire(referral, "awaiting_panel", "submit", NO_FACTS)
    assert caught.value.message == (
        "cannot submit a case in state “Awaiting panel”; "
        "allowed: hand_over, take_to_panel, transfer, withdraw_consent"
    )


def test_trigger_from_final_state_says_nothing_is_allowed(
    engine: WorkflowEngine, referral: Workflow
) -> None:
    with pytest.raises(Conflict, match="no action is allowed there"):
        engine.fire(referral, "erased", "submit", NO_FACTS)


def test_unknown_trigger_is_invalid_input(engine: WorkflowEngine, referral: Workflow) -> None:
    with pytest.raises(InvalidInput) as caught:
        engine.fire(referral, "draft", "launch", NO_FACTS)
    assert caught.value.message == "unknown action 'launch' for workflow referral"


def test_state_outside_the_workflow_is_a_configuration_error(
    engine: WorkflowEngine, referral: Workflow
) -> None:
    with pytest.raises(ConfigurationError, match="has no state 'limbo'"):
        engine.fire(referral, "limbo", "submit", NO_FACTS)


def test_linked_workflow_messages_name_their_object(
    engine: WorkflowEngine, workflows: dict[str, Workflow]
) -> None:
    meeting = workflows["panel_meeting"]
    with pytest.raises(Conflict) as caught:
        engine.fire(meeting, "scheduled", "set_agenda", GuardFacts(agenda_size=0))
    assert caught.value.message == (
        "cannot set_agenda a panel meeting in state “Scheduled”: "
        "the meeting has no cases on its agenda"
    )


def test_linked_workflows_walk_their_paths(
    engine: WorkflowEngine, workflows: dict[str, Workflow]
) -> None:
    def walk(name: str, steps: list[tuple[str, GuardFacts]]) -> str:
        wf = workflows[name]
        state = wf.initial
        for trigger, facts in steps:
            state = engine.fire(wf, state, trigger, facts)
        return state

    agenda, minutes = GuardFacts(agenda_size=2), GuardFacts(minutes_recorded=True)
    assert walk("information_request", [("mark_overdue", NO_FACTS), ("answer", NO_FACTS)]) == (
        "answered"
    )
    assert walk("consent", [("request", NO_FACTS), ("give", NO_FACTS)]) == "given"
    assert walk(
        "panel_meeting",
        [("set_agenda", agenda), ("hold", NO_FACTS), ("approve_minutes", minutes)],
    ) == ("minutes_approved")
    assert walk(
        "intervention", [("accept", NO_FACTS), ("start", CONSENT), ("complete", NO_FACTS)]
    ) == ("completed")


def test_available_leaves_out_transitions_whose_guards_fail(
    engine: WorkflowEngine, referral: Workflow
) -> None:
    refused = GuardFacts(consent_state="refused")
    triggers = [t.trigger for t in engine.available(referral, "consent_pending", refused)]
    assert triggers == ["consent_refused", "withdraw_consent", "transfer", "hand_over"]


def test_one_machine_is_shared_and_left_without_models(
    engine: WorkflowEngine, referral: Workflow
) -> None:
    engine.fire(referral, "draft", "submit", NO_FACTS)
    engine.fire(referral, "submitted", "start_screening", NO_FACTS)
    machine = engine.machine(referral)
    assert engine.machine(referral) is machine
    assert machine.models == []


def test_concurrent_fires_do_not_interfere(engine: WorkflowEngine, referral: Workflow) -> None:
    starts = [referral.initial] + [dest for *_, dest in HAPPY_PATH[:-1]]
    calls = list(zip(starts, HAPPY_PATH, strict=True)) * 20
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda c: engine.fire(referral, c[0], c[1][0], c[1][1]), calls))
    assert results == [dest for _, (*_, dest) in calls]


def test_unregistered_guard_fails_when_the_machine_is_built(tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(TINY.read_text().replace("consent_given", "moon_is_full"))
    wf = load_workflow(path)
    with pytest.raises(ConfigurationError) as caught:
        WorkflowEngine().fire(wf, "draft", "submit", NO_FACTS)
    assert caught.value.message == (
        f"{path}: transitions[1].conditions[0]: guard 'moon_is_full' is not registered"
    )


def test_engine_can_run_on_its_own_guards() -> None:
    wf = load_workflow(TINY)
    engine = WorkflowEngine(guards={**GUARDS, "consent_given": lambda facts: True})
    assert engine.fire(wf, "open", "finish", NO_FACTS) == "done"
