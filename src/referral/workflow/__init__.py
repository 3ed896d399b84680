"""Workflows as data: load and validate `workflows/*.yaml`, fire transitions, verify, draw."""

from referral.workflow.guards import GUARD_FAILURES, GUARDS, Guard, failure_sentence, guard
from referral.workflow.loader import load_workflow, load_workflows
from referral.workflow.machine import WorkflowEngine, build_machine
from referral.workflow.schema import (
    Due,
    Recipient,
    State,
    Timer,
    Transition,
    Workflow,
    WorkflowObject,
    WorkflowSpec,
)
from referral.workflow.verify import verify_workflow

__all__ = [
    "GUARDS",
    "GUARD_FAILURES",
    "Due",
    "Guard",
    "Recipient",
    "State",
    "Timer",
    "Transition",
    "Workflow",
    "WorkflowEngine",
    "WorkflowObject",
    "WorkflowSpec",
    "build_machine",
    "failure_sentence",
    "guard",
    "load_workflow",
    "load_workflows",
    "verify_workflow",
]
