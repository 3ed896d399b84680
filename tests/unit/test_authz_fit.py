"""How a policy fits the workflows and the services (referral.authz.fit)."""

import ast
from pathlib import Path

from referral.authz.enforcer import Authorizer, Permission
from referral.authz.fit import case_workflow_of, unsatisfiable_conditions, unused_permissions
from referral.services.permissions import ASKED_BY_SERVICES
from referral.workflow.loader import load_workflows
from tests.unit.test_authz_enforcer import SHIPPED, write_policy

ROOT = SHIPPED.parent
WORKFLOWS = load_workflows(ROOT / "workflows")
CASE_WORKFLOW = case_workflow_of(WORKFLOWS)
ALLOW = "p, coordinator, *, status, read, {cond}, screening, public_task, allow\n"


def rules(tmp_path: Path, csv: str) -> tuple:
    return Authorizer(write_policy(tmp_path, csv)).rules


def test_the_shipped_policy_grants_nothing_nobody_asks_for_and_no_dead_rule() -> None:
    shipped = Authorizer(SHIPPED).rules
    assert CASE_WORKFLOW is not None
    assert unused_permissions(shipped, WORKFLOWS.values(), ASKED_BY_SERVICES) == []
    assert unsatisfiable_conditions(shipped, CASE_WORKFLOW) == []


def test_a_permission_nobody_asks_for_is_named_with_its_line_and_roles(tmp_path: Path) -> None:
    csv = (
        ALLOW.format(cond="true")
        + "p, analyst, *, statistics, read, true, statistics, public_task, allow\n"
        + "p, coordinator, *, case, screen, true, screening, public_task, allow\n"
    )
    # As if no service read statistics (before the analyst's pages came).
    asked = ASKED_BY_SERVICES - {"statistics:read"}
    problems = unused_permissions(rules(tmp_path, csv), WORKFLOWS.values(), asked)
    assert len(problems) == 1  # case:screen is asked by a transition
    assert problems[0].endswith(
        "default.csv: line 2: permission 'statistics:read' is granted (to analyst) but no"
        " workflow transition or service asks for it"
    )


def test_a_deny_rule_grants_nothing_so_it_is_never_unused(tmp_path: Path) -> None:
    csv = ALLOW.format(cond="true") + "p, analyst, *, statistics, read, true, -, -, deny\n"
    assert unused_permissions(rules(tmp_path, csv), WORKFLOWS.values(), ASKED_BY_SERVICES) == []


def test_conditions_no_state_satisfies_are_dead_rules(tmp_path: Path) -> None:
    assert CASE_WORKFLOW is not None
    csv = "".join(
        ALLOW.format(cond=cond)
        for cond in (
            "in_state(support) & in_state(review)",  # line 1: two states at once
            "in_state(support) & !in_state(support)",  # line 2: never
            "in_state(supprot)",  # line 3: a misspelt state
            "on_agenda & in_state(panel_review)",  # line 4: fine, depends on the agenda
            "!in_state(draft) | in_state(draft)",  # line 5: always
            "(on_agenda | true) & !in_state(closed)",  # line 6: fine
        )
    )
    problems = unsatisfiable_conditions(rules(tmp_path, csv), CASE_WORKFLOW)
    assert [p.split(": ", 2)[1] for p in problems] == ["line 1", "line 2", "line 3"]
    assert "holds in no state" in problems[0]
    assert "names 'supprot', not a state of" in problems[2]


def _permissions_in_services() -> set[str]:
    """Every permission named in the services' code: as a string or a `Permission` member."""
    values = {p.value for p in Permission}
    found: set[str] = set()
    for path in (ROOT / "src" / "referral" / "services").rglob("*.py"):
        if path.name == "permissions.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in values:
                found.add(node.value)
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "Permission"
            ):
                found.add(Permission[node.attr].value)
    return found


def test_the_services_list_names_exactly_what_services_ask_beyond_transitions() -> None:
    in_code = _permissions_in_services()
    by_transitions = set().union(*(w.permissions for w in WORKFLOWS.values()))
    # Nothing asked in code is missing from the list unless a transition asks it too...
    assert in_code - by_transitions <= ASKED_BY_SERVICES
    # ...and nothing on the list is a permission the services no longer name.
    assert in_code >= ASKED_BY_SERVICES
