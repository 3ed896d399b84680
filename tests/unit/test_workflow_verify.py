"""verify_workflow: graph, permission and guard problems the schema cannot see."""

from pathlib import Path
from typing import Any

import yaml

from referral.workflow import Workflow, load_workflow, verify_workflow

TINY = Path(__file__).parent / "workflow_files" / "tiny.yaml"
HOLDERS = {"case:submit": {"referrer"}, "case:manage": {"coordinator"}}


def tiny() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(TINY.read_text())
    return data


def load(tmp_path: Path, data: dict[str, Any]) -> Workflow:
    path = tmp_path / "wf.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_workflow(path)


def test_tiny_workflow_is_fine() -> None:
    assert verify_workflow(load_workflow(TINY), HOLDERS) == []


def test_unreachable_state(tmp_path: Path) -> None:
    data = tiny()
    data["states"].append({"name": "orphan"})
    data["transitions"].append(
        {"trigger": "adopt", "source": "orphan", "dest": "done", "permission": "case:manage"}
    )
    wf = load(tmp_path, data)
    assert verify_workflow(wf, HOLDERS) == [
        f"{wf.path}: state 'orphan' is unreachable from 'draft'"
    ]


def test_dead_end_state(tmp_path: Path) -> None:
    data = tiny()
    data["states"].append({"name": "stuck"})
    data["transitions"].append(
        {"trigger": "wander", "source": "open", "dest": "stuck", "permission": "case:manage"}
    )
    wf = load(tmp_path, data)
    assert verify_workflow(wf, HOLDERS) == [
        f"{wf.path}: state 'stuck' has no way out and is not marked final"
    ]


def test_loop_without_exit_never_reaches_a_final_state(tmp_path: Path) -> None:
    data = tiny()
    data["states"] += [{"name": "ping"}, {"name": "pong"}]
    data["transitions"] += [
        {"trigger": "serve", "source": "open", "dest": "ping", "permission": "case:manage"},
        {"trigger": "hit", "source": "ping", "dest": "pong", "permission": "case:manage"},
        {"trigger": "hit", "source": "pong", "dest": "ping", "permission": "case:manage"},
    ]
    wf = load(tmp_path, data)
    assert verify_workflow(wf, HOLDERS) == [
        f"{wf.path}: state 'ping' can never reach a final state",
        f"{wf.path}: state 'pong' can never reach a final state",
    ]


def test_unknown_permission(tmp_path: Path) -> None:
    data = tiny()
    data["transitions"][1]["permission"] = "case:finish"
    wf = load(tmp_path, data)
    assert verify_workflow(wf, HOLDERS) == [
        f"{wf.path}: transitions[1].permission: unknown permission 'case:finish'"
    ]


def test_permission_nobody_holds() -> None:
    wf = load_workflow(TINY)
    assert verify_workflow(wf, {**HOLDERS, "case:manage": set()}) == [
        f"{wf.path}: transitions[1].permission: no role holds 'case:manage'"
    ]


def test_unregistered_guard() -> None:
    wf = load_workflow(TINY)
    assert verify_workflow(wf, HOLDERS, registered_guards={}) == [
        f"{wf.path}: transitions[1].conditions[0]: guard 'consent_given' is not registered"
    ]


def test_unknown_operation_names_the_file_and_the_operation(tmp_path: Path) -> None:
    data = tiny()
    data["operations"] = {"record_review": ["open"], "record_reveiw": ["open"]}
    wf = load(tmp_path, data)
    (problem,) = verify_workflow(wf, HOLDERS)
    assert problem.startswith(
        f"{wf.path}: operations.record_reveiw: unknown operation 'record_reveiw' (known: "
    )
    assert "record_review" in problem


def test_operation_allowed_in_no_state_can_never_happen(tmp_path: Path) -> None:
    data = tiny()
    data["operations"] = {"record_review": []}
    wf = load(tmp_path, data)
    assert verify_workflow(wf, HOLDERS) == [
        f"{wf.path}: operations.record_review: allowed in no state a case can reach from "
        "'draft', so it can never happen"
    ]


def test_operation_allowed_only_where_no_case_gets_can_never_happen(tmp_path: Path) -> None:
    data = tiny()
    data["states"].append({"name": "orphan"})
    data["transitions"].append(
        {"trigger": "adopt", "source": "orphan", "dest": "done", "permission": "case:manage"}
    )
    data["operations"] = {"record_review": ["orphan"], "set_agenda": ["open", "orphan"]}
    wf = load(tmp_path, data)
    assert verify_workflow(wf, HOLDERS) == [
        f"{wf.path}: state 'orphan' is unreachable from 'draft'",
        f"{wf.path}: operations.record_review: allowed in no state a case can reach from "
        "'draft', so it can never happen",
    ]


def test_an_unknown_service_is_named(tmp_path: Path) -> None:
    data = tiny()
    data["transitions"][0]["via"] = "submision"
    wf = load(tmp_path, data)
    (problem,) = verify_workflow(wf, HOLDERS)
    assert problem.startswith(f"{wf.path}: transitions[0].via: unknown service 'submision'")
    assert "submission" in problem


def test_a_single_move_service_may_fire_one_transition_from_a_state(tmp_path: Path) -> None:
    data = tiny()
    first = data["transitions"][0]
    twin = {**first, "trigger": "submit_again"}
    first["via"] = twin["via"] = "submission"
    data["transitions"].append(twin)
    wf = load(tmp_path, data)
    assert verify_workflow(wf, HOLDERS) == [
        f"{wf.path}: state '{first['source']}': {first['trigger']}, submit_again are all via "
        "submission; give it one"
    ]


def test_a_panel_decision_needs_an_outcome_word_of_its_own(tmp_path: Path) -> None:
    data = tiny()
    first = data["transitions"][0]
    twin = {**first, "trigger": "decide_again", "outcome": "support"}
    first.update(via="panel_decision")
    twin["via"] = "panel_decision"
    data["transitions"].append(twin)
    wf = load(tmp_path, data)
    assert verify_workflow(wf, HOLDERS) == [
        f"{wf.path}: transitions[0].outcome: a panel decision needs its outcome word"
    ]
    first["outcome"] = "support"
    wf = load(tmp_path, data)
    assert verify_workflow(wf, HOLDERS) == [
        f"{wf.path}: state '{first['source']}': two panel_decision transitions share an outcome"
    ]


def test_a_timer_the_system_role_may_not_fire_is_named(tmp_path: Path) -> None:
    data = tiny()
    data["transitions"][1].pop("conditions")
    data["transitions"][1]["timer"] = {"days": 3}
    wf = load(tmp_path, data)
    assert verify_workflow(wf, HOLDERS) == [
        f"{wf.path}: transitions[1].timer: the clock fires 'finish' as system, "
        "which the policy does not grant 'case:manage'"
    ]
    granted = {**HOLDERS, "case:manage": {"coordinator", "system"}}
    assert verify_workflow(wf, granted) == []


def test_a_notice_to_a_role_the_policy_lacks_is_named(tmp_path: Path) -> None:
    data = tiny()
    data["transitions"][0]["notify"] = ["coordinator", "panel", "subject"]
    wf = load(tmp_path, data)
    assert verify_workflow(wf, HOLDERS) == [
        f"{wf.path}: transitions[0].notify[1]: no role of 'panel' (panel_chair, panel_member) "
        "is in the policy"
    ]


def test_erasure_on_a_timer_is_refused(tmp_path: Path) -> None:
    data = tiny()
    data["transitions"][1].pop("conditions")
    data["transitions"][1].update(via="erasure", timer={"months": 36})
    wf = load(tmp_path, data)
    holders = {**HOLDERS, "case:manage": {"coordinator", "system"}}
    assert verify_workflow(wf, holders) == [
        f"{wf.path}: transitions[1].timer: erasure is the retention job's (a closed state's"
        " `retain_months`), never a timer's"
    ]
