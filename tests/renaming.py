"""The shipped workflows renamed (issue 11, item 1): every state and trigger of the
referral workflow, and every trigger of the linked records' workflows (their states are
still named in code: the policy's conditions read them)."""

import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from referral.authz.enforcer import Authorizer
from referral.config import PROJECT_ROOT
from referral.demo import DemoWorld
from referral.domain.vocabulary import OrgKind
from referral.services import information, lifecycle, screening
from referral.services.uow import Runtime
from referral.workflow.loader import load_workflows
from referral.workflow.machine import WorkflowEngine
from tests.factories import submit

PREFIX = "renamed_"


def renamed_name(name: str) -> str:
    return PREFIX + name


def _names(value: Any) -> list[str]:
    """A source or an operation's states: one name or a list (anchors already spliced)."""
    if isinstance(value, str):
        return [value]
    return [n for item in value for n in _names(item)]


def rename_referral_workflow(folder: Path) -> None:
    path = folder / "referral.yaml"
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    spec["initial"] = renamed_name(spec["initial"])
    for state in spec["states"]:
        state["name"] = renamed_name(state["name"])
    for transition in spec["transitions"]:
        transition["trigger"] = renamed_name(transition["trigger"])
        transition["dest"] = renamed_name(transition["dest"])
        transition["source"] = [renamed_name(s) for s in _names(transition["source"])]
    spec["operations"] = {
        op: [renamed_name(s) for s in _names(states)] for op, states in spec["operations"].items()
    }
    if "handover" in spec:  # where a handed-over case continues, state for state
        continues_at = spec["handover"]["continues_at"].items()
        spec["handover"]["continues_at"] = {
            renamed_name(left): renamed_name(entered) for left, entered in continues_at
        }
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")


LINKED = ("consent", "information_request", "intervention", "panel_meeting")


def rename_linked_states(folder: Path, *, say_what_they_mean: bool = True) -> None:
    """Prefix every state of the linked records' workflows; each says what it `means`
    (its old name), unless told not to."""
    for name in LINKED:
        path = folder / f"{name}.yaml"
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        spec["initial"] = renamed_name(spec["initial"])
        for state in spec["states"]:
            if say_what_they_mean:
                state["means"] = state["name"]
            state["name"] = renamed_name(state["name"])
        for transition in spec["transitions"]:
            transition["dest"] = renamed_name(transition["dest"])
            transition["source"] = [renamed_name(s) for s in _names(transition["source"])]
        path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")


def rename_linked_triggers(folder: Path) -> None:
    for name in LINKED:
        path = folder / f"{name}.yaml"
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        for transition in spec["transitions"]:
            transition["trigger"] = renamed_name(transition["trigger"])
        path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")


def rename_policy_states(folder: Path) -> None:
    """The policy names case states in its conditions (`in_state(draft)`): they follow."""
    for path in folder.glob("*.csv"):
        text = path.read_text(encoding="utf-8")
        renamed = re.sub(
            r"in_state\(([^)]*)\)",
            lambda m: "in_state(" + ";".join(renamed_name(s) for s in m.group(1).split(";")) + ")",
            text,
        )
        path.write_text(renamed, encoding="utf-8")


def use_renamed_workflows(runtime: Runtime, tmp_path: Path) -> Runtime:
    """Run `runtime` on copies of the shipped workflows and policies with the referral
    workflow's names prefixed."""
    workflows = tmp_path / "workflows"
    shutil.copytree(PROJECT_ROOT / "workflows", workflows)
    rename_referral_workflow(workflows)
    rename_linked_triggers(workflows)
    policies = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", policies, ignore=shutil.ignore_patterns("tests"))
    rename_policy_states(policies)
    runtime.workflows = load_workflows(workflows)
    runtime.authz = Authorizer(policies)
    runtime.engine = WorkflowEngine()  # machines are built per workflow: none from before
    return runtime


def renamed_awaiting_panel(world: DemoWorld) -> int:
    """A case waiting for a panel, moved there by the renamed triggers."""
    case_id = submit(world)
    world.run("screener", screening.start_screening, screening.StartScreening(case_id))
    outcome = screening.RecordScreeningOutcome(case_id, renamed_name("gather_information"))
    world.run("coordinator", screening.record_screening_outcome, outcome)
    asked = (world.org_ids[OrgKind.HEALTH],)
    request = information.SendInformationRequests(case_id, asked, "Known?")
    ids = world.run("coordinator", information.send_information_requests, request)
    world.run("coordinator", information.record_answer, information.RecordAnswer(ids[0], "No."))
    ready = lifecycle.MoveCase(case_id, renamed_name("ready_for_panel"))
    world.run("coordinator", lifecycle.move_case, ready)
    return case_id
