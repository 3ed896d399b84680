"""Check a loaded workflow as a whole: problems the schema cannot see.

The loader guarantees a well-formed file; this module asks whether the graph
makes sense and whether it fits the code and policy it runs with. It returns
sentences instead of raising, so `referral workflow verify` can list them all.
"""

from collections import deque
from collections.abc import Iterable, Mapping, Set

from referral.domain.vocabulary import Role
from referral.workflow.guards import GUARDS
from referral.workflow.operations import CHOICES, OPERATIONS, VIAS, Via
from referral.workflow.schema import Recipient, Workflow

# The roles each kind of recipient is found among (services/notifications.py). The
# subject is not a user: consent is sought in person, so a notice to them goes to nobody.
RECIPIENT_ROLES: dict[Recipient, frozenset[str]] = {
    Recipient.REFERRER: frozenset({Role.REFERRER}),
    Recipient.COORDINATOR: frozenset({Role.COORDINATOR}),
    Recipient.SCREENER: frozenset({Role.SCREENER}),
    Recipient.PANEL: frozenset({Role.PANEL_MEMBER, Role.PANEL_CHAIR}),
    Recipient.PROVIDER: frozenset({Role.PROVIDER}),
    Recipient.DPO: frozenset({Role.DPO}),
    Recipient.SUBJECT: frozenset(),
}


def verify_workflow(
    wf: Workflow,
    permission_holders: Mapping[str, Set[str]],
    registered_guards: Mapping[str, object] = GUARDS,
    known_operations: Mapping[str, object] = OPERATIONS,
) -> list[str]:
    """Human-readable problems with `wf`; an empty list means it is fine.

    `permission_holders` maps each policy action (`case:screen`) to the roles
    that hold it.
    """
    problems = [
        *_unreachable(wf),
        *_dead_ends(wf),
        *_never_finish(wf),
        *_unknown_permissions(wf, permission_holders),
        *_unknown_guards(wf, registered_guards),
        *_operation_problems(wf, known_operations),
        *_via_problems(wf),
        *_timers_the_clock_may_not_fire(wf, permission_holders),
        *_notices_nobody_gets(wf, permission_holders),
    ]
    return [f"{wf.path}: {p}" for p in problems]


def _reachable(start: Iterable[str], edges: Mapping[str, set[str]]) -> set[str]:
    seen = set(start)
    queue = deque(seen)
    while queue:
        for nxt in edges.get(queue.popleft(), set()) - seen:
            seen.add(nxt)
            queue.append(nxt)
    return seen


def _edges(wf: Workflow, *, reverse: bool = False) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for t in wf.transitions:
        for source in t.source:
            a, b = (t.dest, source) if reverse else (source, t.dest)
            edges.setdefault(a, set()).add(b)
    return edges


def _unreachable(wf: Workflow) -> list[str]:
    reached = _reachable([wf.initial], _edges(wf))
    return [
        f"state '{s}' is unreachable from '{wf.initial}'"
        for s in wf.state_names
        if s not in reached
    ]


def _dead_ends(wf: Workflow) -> list[str]:
    return [
        f"state '{s}' has no way out and is not marked final"
        for s in wf.state_names
        if s not in wf.final_states and not wf.transitions_from(s)
    ]


def _never_finish(wf: Workflow) -> list[str]:
    # A state with ways out that all loop back (support <-> review with no exit)
    # is a trap the dead-end check cannot see.
    finishing = _reachable(wf.final_states, _edges(wf, reverse=True))
    return [
        f"state '{s}' can never reach a final state"
        for s in wf.state_names
        if s not in finishing and wf.transitions_from(s)
    ]


def _unknown_permissions(wf: Workflow, holders: Mapping[str, Set[str]]) -> list[str]:
    problems = []
    for i, t in enumerate(wf.transitions):
        if t.permission not in holders:
            problems.append(f"transitions[{i}].permission: unknown permission '{t.permission}'")
        elif not holders[t.permission]:
            problems.append(f"transitions[{i}].permission: no role holds '{t.permission}'")
    return problems


def _unknown_guards(wf: Workflow, guards: Mapping[str, object]) -> list[str]:
    return [
        f"transitions[{i}].conditions[{j}]: guard '{name}' is not registered"
        for i, t in enumerate(wf.transitions)
        for j, name in enumerate(t.conditions)
        if name not in guards
    ]


def _operation_problems(wf: Workflow, known: Mapping[str, object]) -> list[str]:
    # The loader has checked that each named state exists; here: that the code knows the
    # operation, and that a case can ever be where it is allowed.
    reached = _reachable([wf.initial], _edges(wf))
    problems = []
    for operation, states in wf.spec.operations.items():
        if operation not in known:
            problems.append(
                f"operations.{operation}: unknown operation '{operation}'"
                f" (known: {', '.join(sorted(known))})"
            )
        elif not reached & set(states):
            problems.append(
                f"operations.{operation}: allowed in no state a case can reach from "
                f"'{wf.initial}', so it can never happen"
            )
    return problems


def _via_problems(wf: Workflow) -> list[str]:
    # A service asks for "the transition via X from this state": X must be a service the
    # code has, a single-transition service must find one, and a decision's outcome words
    # must tell the panel's choices apart.
    problems = []
    for i, t in enumerate(wf.transitions):
        if t.via is not None and t.via not in VIAS:
            problems.append(
                f"transitions[{i}].via: unknown service '{t.via}' (known: {', '.join(VIAS)})"
            )
        if t.via == Via.ERASURE and t.timer is not None:
            problems.append(
                f"transitions[{i}].timer: erasure is the retention job's (a closed state's"
                " `retain_months`), never a timer's"
            )
        if t.via == Via.PANEL_DECISION and t.outcome is None:
            problems.append(f"transitions[{i}].outcome: a panel decision needs its outcome word")
    for state in wf.state_names:
        for via in VIAS:
            found = wf.via(via, state)
            if via not in CHOICES and len(found) > 1:
                names = ", ".join(t.trigger for t in found)
                problems.append(f"state '{state}': {names} are all via {via}; give it one")
            outcomes = [t.outcome for t in found if t.outcome is not None]
            if len(set(outcomes)) < len(outcomes):
                problems.append(f"state '{state}': two {via} transitions share an outcome")
    return problems


def _timers_the_clock_may_not_fire(wf: Workflow, holders: Mapping[str, Set[str]]) -> list[str]:
    # The clock fires a timer as the network's `system` role: a permission it lacks would
    # leave every such case waiting for ever, each tick failing.
    return [
        f"transitions[{i}].timer: the clock fires '{t.trigger}' as {Role.SYSTEM}, "
        f"which the policy does not grant '{t.permission}'"
        for i, t in enumerate(wf.transitions)
        if t.timer is not None
        and holders.get(t.permission)
        and Role.SYSTEM not in holders[t.permission]
    ]


def _notices_nobody_gets(wf: Workflow, holders: Mapping[str, Set[str]]) -> list[str]:
    # A recipient whose roles the policy gives nothing is a role that does not exist here.
    roles = set().union(*holders.values()) if holders else set()
    return [
        f"transitions[{i}].notify[{j}]: no role of '{kind}' "
        f"({', '.join(sorted(RECIPIENT_ROLES[kind]))}) is in the policy"
        for i, t in enumerate(wf.transitions)
        for j, kind in enumerate(t.notify)
        if RECIPIENT_ROLES[kind] and not RECIPIENT_ROLES[kind] & roles
    ]
