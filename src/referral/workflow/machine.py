"""Fire transitions: one shared `transitions.Machine` per workflow definition.

Objects are rows in the database, not Python models, so each call fires the
event on a throwaway token carrying the current state and reads the new state
off it; the machine, built once per workflow, never holds the token. It is
pure: no callback touches the database; the service layer persists, audits
and notifies in one transaction.
"""

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from transitions import Machine, MachineError

from referral.domain.errors import ConfigurationError, Conflict, InvalidInput
from referral.domain.facts import GuardFacts
from referral.workflow.guards import GUARDS, Guard, failure_sentence
from referral.workflow.schema import Transition, Workflow, WorkflowObject

_NOUNS = {
    WorkflowObject.CASE: "a case",
    WorkflowObject.INFORMATION_REQUEST: "an information request",
    WorkflowObject.CONSENT: "a consent",
    WorkflowObject.PANEL_MEETING: "a panel meeting",
    WorkflowObject.INTERVENTION: "an intervention",
}


class _Token:
    """The model `transitions` moves for one call; it also learns which guard said no."""

    __slots__ = ("failed_guard", "state")

    def __init__(self, state: str) -> None:
        self.state = state  # the machine reads and sets it (its `model_attribute`)
        self.failed_guard: str | None = None


@dataclass
class _Shared:
    machine: Any


def _condition(name: str, check: Guard) -> Callable[[Any], bool]:
    def condition(event: Any) -> bool:
        passed = check(event.kwargs["facts"])
        if not passed:
            event.model.failed_guard = name
        return passed

    condition.__name__ = name
    return condition


def build_machine(workflow: Workflow, guards: Mapping[str, Guard] = GUARDS) -> Any:
    """A `transitions.Machine` with no model, built from the workflow's own keys."""
    specs = []
    for i, t in enumerate(workflow.transitions):
        for j, name in enumerate(t.conditions):
            if name not in guards:
                raise ConfigurationError(
                    "{path}: transitions[{i}].conditions[{j}]: guard '{name}' is not registered",
                    path=workflow.path,
                    i=i,
                    j=j,
                    name=name,
                )
        specs.append(
            {
                "trigger": t.trigger,
                "source": list(t.source),
                "dest": t.dest,
                "conditions": [_condition(n, guards[n]) for n in t.conditions],
            }
        )
    return Machine(
        model=None,
        states=list(workflow.state_names),
        initial=workflow.initial,
        transitions=specs,
        auto_transitions=False,
        send_event=True,
        name=f"{workflow.name} v{workflow.version}",
    )


class WorkflowEngine:
    """Fires transitions for any number of workflows; create one per process and share it."""

    def __init__(self, guards: Mapping[str, Guard] = GUARDS) -> None:
        self._guards = guards
        self._machines: dict[str, _Shared] = {}
        self._build_lock = threading.Lock()

    def fire(self, workflow: Workflow, state: str, trigger: str, facts: GuardFacts) -> str:
        """Move an object in `state` by `trigger`; return the new state or raise why not."""
        self._check_move(workflow, state, trigger)
        machine = self._shared(workflow).machine
        token = _Token(state)
        try:
            # The event fires on the token directly: the token is never added to the
            # machine's model list, so calls need no lock and add no bookkeeping.
            moved = machine.events[trigger].trigger(token, facts=facts)
        except MachineError as exc:  # _check_move makes this unreachable; belt and braces
            raise Conflict(str(exc.value)) from None
        if not moved:
            reason = failure_sentence(token.failed_guard or "")
            raise Conflict(
                "cannot {trigger} {object} in state “{state}”: {reason}",
                **self._cannot(workflow, state, trigger),
                reason=reason,
            )
        return token.state

    def available(self, workflow: Workflow, state: str, facts: GuardFacts) -> list[Transition]:
        """Transitions leaving `state` whose guards all pass for these facts."""
        self._shared(workflow)  # fails early, as fire would, on an unregistered guard
        return [
            t
            for t in workflow.transitions_from(state)
            if all(self._guards[name](facts) for name in t.conditions)
        ]

    def machine(self, workflow: Workflow) -> Any:
        """The shared machine for this workflow (built on first use)."""
        return self._shared(workflow).machine

    def _shared(self, workflow: Workflow) -> _Shared:
        # Keyed by content hash: an edited file gets a new machine, and cases
        # still pinned to the old version keep theirs.
        key = workflow.content_hash
        shared = self._machines.get(key)
        if shared is None:
            with self._build_lock:
                shared = self._machines.get(key)
                if shared is None:
                    shared = _Shared(build_machine(workflow, self._guards))
                    self._machines[key] = shared
        return shared

    def _check_move(self, workflow: Workflow, state: str, trigger: str) -> None:
        if trigger not in workflow.triggers:
            raise InvalidInput(
                "unknown action '{trigger}' for workflow {name}",
                trigger=trigger,
                name=workflow.name,
            )
        if state not in workflow.state_names:
            raise ConfigurationError(
                "{path}: workflow {name} v{version} has no state '{state}'",
                path=workflow.path,
                name=workflow.name,
                version=workflow.version,
                state=state,
            )
        if workflow.transition(trigger, state) is None:
            allowed = sorted({t.trigger for t in workflow.transitions_from(state)})
            if not allowed:
                raise Conflict(
                    "cannot {trigger} {object} in state “{state}”; no action is allowed there",
                    **self._cannot(workflow, state, trigger),
                )
            raise Conflict(
                "cannot {trigger} {object} in state “{state}”; allowed: {allowed}",
                **self._cannot(workflow, state, trigger),
                allowed=", ".join(allowed),
            )

    @staticmethod
    def _cannot(workflow: Workflow, state: str, trigger: str) -> dict[str, object]:
        # The state in the file's words: the trigger stays as the caller sent it. The noun,
        # the state's label and the guard's reason stay in English words for now.
        return {
            "trigger": trigger,
            "object": _NOUNS[workflow.object],
            "state": workflow.state_label(state),
        }
