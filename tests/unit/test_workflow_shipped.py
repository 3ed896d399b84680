"""The workflow files shipped in workflows/: they load, verify and say what DESIGN.md §3 says."""

from pathlib import Path

import pytest

from referral.authz.enforcer import Authorizer
from referral.workflow import (
    Due,
    Timer,
    Transition,
    Workflow,
    load_workflow,
    load_workflows,
    verify_workflow,
)
from referral.workflow.operations import OPERATIONS

WORKFLOWS = Path(__file__).parents[2] / "workflows"
SHIPPED = ["consent", "information_request", "intervention", "panel_meeting", "referral"]

REFERENCE_STATES = [
    "draft",
    "submitted",
    "screening",
    "closed_no_action",
    "signposted",
    "police_led",
    "information_gathering",
    "awaiting_panel",
    "panel_review",
    "consent_pending",
    "support",
    "review",
    "exited",
    "follow_up_6m",
    "follow_up_12m",
    "closed",
    "closed_consent_refused",
    "closed_consent_withdrawn",
    "transferred",
    "erased",
]
CLOSED = {
    "closed_no_action",
    "signposted",
    "police_led",
    "closed",
    "closed_consent_refused",
    "closed_consent_withdrawn",
    "transferred",
}
OPEN = {
    "submitted",
    "screening",
    "information_gathering",
    "awaiting_panel",
    "panel_review",
    "consent_pending",
    "support",
    "review",
    "exited",
    "follow_up_6m",
    "follow_up_12m",
}


def edge(wf: Workflow, trigger: str, source: str) -> Transition:
    transition = wf.transition(trigger, source)
    assert transition is not None, (trigger, source)
    return transition


@pytest.fixture(scope="module")
def shipped() -> dict[str, Workflow]:
    return load_workflows(WORKFLOWS)


@pytest.fixture(scope="module")
def referral(shipped: dict[str, Workflow]) -> Workflow:
    return shipped["referral"]


def test_every_shipped_file_loads(shipped: dict[str, Workflow]) -> None:
    assert sorted(shipped) == SHIPPED
    assert {wf.object.value for wf in shipped.values()} == {
        "case",
        "information_request",
        "consent",
        "panel_meeting",
        "intervention",
    }


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_file_verifies_clean(
    shipped: dict[str, Workflow], name: str, authz: Authorizer
) -> None:
    # Against the shipped policy: its timers are the system role's, its notices reach roles.
    assert verify_workflow(shipped[name], authz.permission_holders()) == []


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_file_starts_with_a_comment_header(name: str) -> None:
    assert (WORKFLOWS / f"{name}.yaml").read_text().startswith("# ")


def test_reference_workflow_has_exactly_the_designed_states(referral: Workflow) -> None:
    assert list(referral.state_names) == REFERENCE_STATES
    assert referral.initial == "draft"
    assert referral.final_states == {"erased"}
    assert referral.closed_states == CLOSED
    assert referral.open_states == OPEN


def test_open_and_closed_anchors_list_every_open_and_closed_state(referral: Workflow) -> None:
    assert set(edge(referral, "withdraw_consent", "support").source) == OPEN
    assert set(edge(referral, "transfer", "screening").source) == OPEN
    assert set(edge(referral, "erase", "closed").source) == CLOSED


def test_reference_workflow_reaches_every_state(referral: Workflow) -> None:
    reached, frontier = {referral.initial}, [referral.initial]
    while frontier:
        for t in referral.transitions_from(frontier.pop()):
            if t.dest not in reached:
                reached.add(t.dest)
                frontier.append(t.dest)
    assert reached == set(REFERENCE_STATES)


def test_every_non_final_reference_state_has_a_way_out(referral: Workflow) -> None:
    for state in REFERENCE_STATES:
        if state not in referral.final_states:
            assert referral.transitions_from(state), state


def test_screening_deadline_is_five_working_days(referral: Workflow) -> None:
    gateway = Due(days=5, working=True)
    assert referral.due_for("submitted") == gateway
    assert referral.due_for("screening") == gateway
    for trigger in ["close_no_action", "signpost", "refer_to_police", "gather_information"]:
        assert edge(referral, trigger, "screening").due == gateway
    assert referral.due_for("support") is None


def test_follow_up_and_retention_timers(referral: Workflow) -> None:
    timers = {(state, t.trigger): t.timer for state, t in referral.timers()}
    assert timers[("exited", "follow_up_6m")] == Timer(months=6)
    assert timers[("follow_up_6m", "follow_up_12m")] == Timer(months=6)
    assert [trigger for _, trigger in timers if trigger == "erase"] == []  # retention's
    assert set(referral.retention_months) == CLOSED
    assert referral.retention_months["closed"] == 36


def test_submit_requires_identity_and_concern(referral: Workflow) -> None:
    submit = edge(referral, "submit", "draft")
    assert submit.requires == ("identity", "concern")
    assert [r.value for r in submit.notify] == ["coordinator", "referrer"]


def test_reference_permissions(referral: Workflow) -> None:
    assert referral.permissions == {
        "case:submit",
        "case:screen",
        "case:deconflict",
        "case:manage",
        "case:schedule",
        "case:decide",
        "case:consent",
        "case:erase",
        "case:transfer",
    }


def test_information_request_goes_overdue_after_ten_working_days() -> None:
    wf = load_workflow(WORKFLOWS / "information_request.yaml")
    [(state, overdue)] = wf.timers()
    assert (state, overdue.trigger, overdue.dest) == ("requested", "mark_overdue", "overdue")
    assert overdue.timer == Timer(days=10, working=True)
    assert wf.due_for("requested") == Due(days=10, working=True)


def test_consent_expires_after_twelve_months() -> None:
    wf = load_workflow(WORKFLOWS / "consent.yaml")
    assert [(s, t.trigger, t.timer) for s, t in wf.timers()] == [
        ("given", "expire", Timer(months=12))
    ]


@pytest.mark.parametrize(
    ("name", "prefix"),
    [
        ("information_request", "information_request:"),
        ("consent", "consent:"),
        ("panel_meeting", "meeting:"),
        ("intervention", "intervention:"),
    ],
)
def test_linked_workflow_permissions_use_their_object(
    shipped: dict[str, Workflow], name: str, prefix: str
) -> None:
    assert all(p.startswith(prefix) for p in shipped[name].permissions)


def test_every_reference_state_and_transition_has_a_label(referral: Workflow) -> None:
    assert [s.name for s in referral.states if not s.label] == []
    assert [t.trigger for t in referral.transitions if not t.label] == []


def test_reference_workflow_declares_every_operation_on_linked_records(
    referral: Workflow,
) -> None:
    assert sorted(referral.spec.operations) == sorted(OPERATIONS)


def test_nothing_linked_happens_before_the_panel_decides(referral: Workflow) -> None:
    before_panel = {"draft", "submitted", "screening", "information_gathering"}
    # Asking agencies and hearing back are what information gathering is; break-glass
    # is for any live case.
    gathering = {"send_information_requests", "answer_information_request", "break_glass"}
    for operation in set(OPERATIONS) - gathering:
        assert not before_panel & set(referral.states_allowing(operation)), operation
    assert referral.states_allowing("set_agenda") == ("awaiting_panel", "panel_review", "review")
    assert referral.states_allowing("decide") == ("panel_review",)
    assert referral.states_allowing("send_information_requests") == ("information_gathering",)
    assert set(referral.states_allowing("break_glass")) == OPEN


def test_the_buttons_that_end_or_discard_something_are_marked_destructive(
    shipped: dict[str, Workflow],
) -> None:
    assert shipped["referral"].destructive_triggers == {
        "discard", "transfer", "hand_over", "close", "erase"
    }  # fmt: skip
    # Completing or withdrawing an intervention is final too: the pages ask twice.
    assert shipped["intervention"].destructive_triggers == {"decline", "complete", "withdraw"}
    assert shipped["panel_meeting"].destructive_triggers == {"cancel"}
