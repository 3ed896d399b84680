"""How a policy fits the workflows and the code it runs with.

`referral workflows check` checks each workflow file on its own (referral.workflow.verify)
and then these, which need the policy and every workflow together:

- a permission the policy grants that no workflow transition and no service asks for
  grants nothing anybody can use: a misspelt resource, or a rule left behind by a
  feature that went (or has not come yet);
- a condition that no state of the case's workflow can satisfy makes its rule dead:
  `in_state(support) & in_state(review)`, or a state the workflow does not have.
"""

from collections.abc import Collection, Iterable, Mapping

from referral.authz.conditions import CONDITIONS
from referral.authz.enforcer import Rule
from referral.authz.expressions import AllOf, AnyOf, Call, Expr, Not
from referral.workflow.schema import Workflow

_IN_STATE = CONDITIONS["in_state"]
_ALWAYS = CONDITIONS["true"]


def unused_permissions(
    rules: Iterable[Rule], workflows: Iterable[Workflow], asked_by_services: Collection[str]
) -> list[str]:
    """A sentence for each permission some allow rule grants that nobody asks for."""
    asked = set(asked_by_services).union(*(w.permissions for w in workflows))
    granted: dict[str, list[Rule]] = {}
    for rule in rules:
        if rule.allows and rule.is_permission:
            granted.setdefault(f"{rule.obj}:{rule.act}", []).append(rule)
    return [
        f"{found[0].where}: permission '{permission}' is granted"
        f" (to {', '.join(sorted({str(r.role) for r in found}))})"
        " but no workflow transition or service asks for it"
        for permission, found in sorted(granted.items())
        if permission not in asked
    ]


def unsatisfiable_conditions(rules: Iterable[Rule], case_workflow: Workflow) -> list[str]:
    """A sentence for each rule whose condition names a state the case's workflow does
    not have, or that holds in none of its states whatever else is true."""
    states = case_workflow.state_names
    problems = []
    for rule in rules:
        unknown = sorted(_named_states(rule.expr) - set(states))
        if unknown:
            names = ", ".join(f"'{name}'" for name in unknown)
            problems.append(
                f"{rule.where}: condition '{rule.condition}' names {names}, not a state of"
                f" {case_workflow.path}"
            )
        elif all(_value(rule.expr, state) is False for state in states):
            problems.append(
                f"{rule.where}: condition '{rule.condition}' holds in no state of"
                f" {case_workflow.path}: the rule can never apply"
            )
    return problems


def case_workflow_of(workflows: Mapping[str, Workflow]) -> Workflow | None:
    """The workflow that governs the case record itself (`object: case`)."""
    return next((w for w in workflows.values() if w.object == "case"), None)


def _named_states(expr: Expr) -> set[str]:
    return {arg for call in expr.calls() if call.condition is _IN_STATE for arg in call.args}


def _value(expr: Expr, state: str) -> bool | None:
    """The expression's value for a case in `state`: True or False where the state alone
    decides it, None where it depends on other facts (an agenda, a consent...)."""
    if isinstance(expr, Call):
        if expr.condition is _IN_STATE:
            return state in expr.args
        return True if expr.condition is _ALWAYS else None
    if isinstance(expr, Not):
        inner = _value(expr.operand, state)
        return None if inner is None else not inner
    if isinstance(expr, AllOf):
        values = [_value(operand, state) for operand in expr.operands]
        if False in values:
            return False
        return True if all(values) else None
    if isinstance(expr, AnyOf):
        values = [_value(operand, state) for operand in expr.operands]
        if True in values:
            return True
        return False if all(value is False for value in values) else None
    raise TypeError(f"unknown expression {expr!r}")
