"""Drawing a workflow as dot or Mermaid text."""

from pathlib import Path

from referral.workflow import load_workflow
from referral.workflow.draw import to_dot, to_mermaid

WORKFLOWS = Path(__file__).parents[2] / "workflows"


def test_dot_has_every_edge_with_guards_and_timers() -> None:
    dot = to_dot(load_workflow(WORKFLOWS / "referral.yaml"))
    assert dot.startswith('digraph "referral" {')
    assert '"consent_pending" -> "support" [label="start_support [consent_given]"];' in dot
    assert '"exited" -> "follow_up_6m" [label="follow_up_6m after 6mo"];' in dot
    assert '"erased" [shape=doublecircle];' in dot


def test_mermaid_marks_start_and_final_states() -> None:
    text = to_mermaid(load_workflow(WORKFLOWS / "information_request.yaml"))
    lines = text.splitlines()
    assert lines[:2] == ["stateDiagram-v2", "  [*] --> requested"]
    assert "  requested --> overdue: mark_overdue after 10wd" in lines
    assert "  answered --> [*]" in lines
