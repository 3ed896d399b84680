"""The shape of a workflow file, and the loaded workflow with its lookup helpers.

`WorkflowSpec` is exactly what a YAML file may say; `Workflow` adds where it came
from (path, content hash) and the questions the engine and services ask of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

# Triggers and states become attribute names on the transitions model, so they
# must be plain identifiers.
_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")
_PERMISSION = re.compile(r"[a-z][a-z_]*:[a-z][a-z_]*")


def _identifier(value: str) -> str:
    if not _IDENTIFIER.fullmatch(value):
        raise ValueError(f"{value!r} is not a lower-case identifier (a-z, 0-9, _)")
    return value


def _permission(value: str) -> str:
    if not _PERMISSION.fullmatch(value):
        raise ValueError(f"{value!r} is not of the form object:action, e.g. case:screen")
    return value


Name = Annotated[str, AfterValidator(_identifier)]
Permission = Annotated[str, AfterValidator(_permission)]


class WorkflowObject(StrEnum):
    """The kinds of object a workflow moves."""

    CASE = "case"
    INFORMATION_REQUEST = "information_request"
    CONSENT = "consent"
    PANEL_MEETING = "panel_meeting"
    INTERVENTION = "intervention"


class Recipient(StrEnum):
    """Who a transition may notify; the service layer resolves each to people."""

    REFERRER = "referrer"
    COORDINATOR = "coordinator"
    SCREENER = "screener"
    PANEL = "panel"
    PROVIDER = "provider"
    DPO = "dpo"
    SUBJECT = "subject"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _readable(name: str) -> str:
    """The words a name stands for when a file gives no label: `panel_review` -> `Panel review`."""
    return name.replace("_", " ").capitalize()


class State(_Strict):
    name: Name
    label: str = ""  # what people read; the name is for files
    # What the code reads this state as (domain/states.py MEANINGS), when its name is not
    # that word: a linked record's `agreed` that `means: given`.
    means: Name | None = None
    final: bool = False
    closed: bool = False
    # Months after a case closes in this state before its personal data is erased (the
    # retention job; REFERRAL_RETENTION_MONTHS may override). None: kept until erased by hand.
    retain_months: int | None = Field(default=None, ge=1)
    description: str = ""

    @property
    def shown_as(self) -> str:
        return self.label or _readable(self.name)

    @property
    def meaning(self) -> str:
        return self.means or self.name


class Due(_Strict):
    """A deadline for leaving the source state, counted from entering it."""

    days: int = Field(ge=1)
    working: bool = False

    @property
    def approximate_days(self) -> float:
        """Calendar length, for ordering deadlines of mixed kinds (5 working days ~ 7 days)."""
        return self.days * 7 / 5 if self.working else float(self.days)


class Timer(_Strict):
    """Fire automatically this long after entering the source state.

    `working` counts `days` as working days, so a timer can fire exactly when a
    working-day `due` runs out (information requests go overdue that way).
    """

    days: int = Field(default=0, ge=0)
    months: int = Field(default=0, ge=0)
    working: bool = False

    @model_validator(mode="after")
    def _has_length(self) -> Timer:
        if self.days == 0 and self.months == 0:
            raise ValueError("a timer needs days or months greater than 0")
        if self.working and self.months:
            raise ValueError("working applies to days only, not months")
        return self


class Tell(_Strict):
    """What the people a move notifies read: a fixed phrase, never anything about the person.

    `referrer` is the outcome of the stage in the referrer's words; `staff` is what everyone
    else told of the move reads. Without one, a notice says the state moved to, in words.
    """

    referrer: str = ""
    staff: str = ""


class Transition(_Strict):
    trigger: Name
    label: str = ""  # the words on the button that fires it
    source: tuple[Name, ...] = Field(min_length=1)
    dest: Name
    permission: Permission
    requires: tuple[str, ...] = ()
    conditions: tuple[str, ...] = ()
    due: Due | None = None
    timer: Timer | None = None
    notify: tuple[Recipient, ...] = ()
    description: str = ""
    # Ends or discards something: its button asks for a second look (a warning colour).
    destructive: bool = False
    # The service that fires it, when it is more than a bare button (workflow/operations.py
    # VIAS): the screening outcome's form, the panel's decision, erasure. Code asks the
    # workflow for "the transition via X from this state", never for a trigger by name.
    via: Name | None = None
    # A panel decision's outcome, the word its form and API take and the decision records.
    outcome: Name | None = None
    tell: Tell = Tell()

    @property
    def shown_as(self) -> str:
        return self.label or _readable(self.trigger)

    @field_validator("source", mode="before")
    @classmethod
    def _flatten_source(cls, value: Any) -> Any:
        return _flatten(value)


def _flatten(value: Any) -> Any:
    """One name, a list, or a list mixing names and anchored lists (`[*closed, other]`):
    YAML has no way to splice a sequence."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(n for item in value for n in (item if isinstance(item, list) else [item]))
    return value


class Handover(_Strict):
    """How a case handed over to another network continues there (services.transfers).

    `continues_at` maps each state a handover may leave (the sources of the transition
    `via: handover`) to the state the receiving network's case starts in; a proposal not
    accepted within `expires_after` expires and the case stays where it was.
    """

    continues_at: dict[Name, Name] = Field(min_length=1)
    expires_after: Due = Due(days=14)


class WorkflowSpec(_Strict):
    """The contents of one workflow file."""

    name: Name
    version: int = Field(ge=1)
    object: WorkflowObject
    initial: Name
    states: tuple[State, ...] = Field(min_length=1)
    transitions: tuple[Transition, ...] = ()
    # Operation on a record hanging off the case (workflow/operations.py) -> the case
    # states it may happen in. Only a case workflow has them; an operation not listed
    # is allowed in no state.
    operations: dict[Name, tuple[Name, ...]] = {}
    # Only a case workflow with a transition `via: handover` has one.
    handover: Handover | None = None

    @field_validator("operations", mode="before")
    @classmethod
    def _flatten_operation_states(cls, value: Any) -> Any:
        # As `source`: a list may splice anchored lists (`[*open]` has no YAML spelling).
        if isinstance(value, dict):
            return {op: _flatten(states) for op, states in value.items()}
        return value

    @model_validator(mode="after")
    def _check_references(self) -> WorkflowSpec:
        problems = reference_problems(self)
        if problems:
            # One line per problem; the loader prefixes each with the file name.
            raise ValueError("\n".join(problems))
        return self


def reference_problems(spec: WorkflowSpec) -> list[str]:
    """Cross-field mistakes, each as `path: what is wrong`."""
    problems: list[str] = []
    declared: dict[str, int] = {}
    for i, state in enumerate(spec.states):
        if state.name in declared:
            problems.append(f"states[{i}].name: duplicate state '{state.name}'")
        declared.setdefault(state.name, i)
    for i, state in enumerate(spec.states):
        if state.retain_months is not None and not state.closed:
            problems.append(f"states[{i}].retain_months: only a closed state is retained")
    meanings: dict[str, int] = {}
    for i, state in enumerate(spec.states):
        earlier = spec.states[meanings[state.meaning]] if state.meaning in meanings else None
        if earlier is not None and earlier.name != state.name:  # a duplicate name is above
            problems.append(f"states[{i}].means: '{earlier.name}' already means '{state.meaning}'")
        meanings.setdefault(state.meaning, i)
    if spec.initial not in declared:
        problems.append(f"initial: unknown state '{spec.initial}'")
    final = {s.name for s in spec.states if s.final}
    seen: dict[tuple[str, str], int] = {}
    for i, t in enumerate(spec.transitions):
        for j, source in enumerate(t.source):
            where = f"transitions[{i}].source" + (f"[{j}]" if len(t.source) > 1 else "")
            if source not in declared:
                problems.append(f"{where}: unknown state '{source}'")
            elif source in final:
                problems.append(f"{where}: final state '{source}' cannot have a way out")
            if (t.trigger, source) in seen:
                first = seen[(t.trigger, source)]
                problems.append(
                    f"{where}: '{t.trigger}' from '{source}' is already declared "
                    f"in transitions[{first}]"
                )
            seen.setdefault((t.trigger, source), i)
        if t.dest not in declared:
            problems.append(f"transitions[{i}].dest: unknown state '{t.dest}'")
        if t.outcome is not None and t.via is None:
            problems.append(f"transitions[{i}].outcome: only a transition with `via` has one")
    if spec.operations and spec.object != WorkflowObject.CASE:
        problems.append("operations: only a case workflow declares operations on linked records")
    for operation, allowed_in in spec.operations.items():
        for j, name in enumerate(allowed_in):
            if name not in declared:
                problems.append(f"operations.{operation}[{j}]: unknown state '{name}'")
    problems.extend(_handover_problems(spec, declared))
    return problems


def _handover_problems(spec: WorkflowSpec, declared: dict[str, int]) -> list[str]:
    """A handover maps exactly the states it may leave, each to an open state."""
    leaving = {s for t in spec.transitions if t.via == "handover" for s in t.source}
    if spec.handover is None:
        if leaving:
            return ["handover: a transition `via: handover` needs `handover.continues_at`"]
        return []
    ended = {s.name for s in spec.states if s.closed or s.final} | {spec.initial}
    problems = []
    for left, entered in spec.handover.continues_at.items():
        where = f"handover.continues_at.{left}"
        if left not in declared:
            problems.append(f"{where}: unknown state '{left}'")
        elif left not in leaving:
            problems.append(f"{where}: no transition `via: handover` leaves '{left}'")
        if entered not in declared:
            problems.append(f"{where}: unknown state '{entered}'")
        elif entered in ended:
            problems.append(f"{where}: '{entered}' is not an open state a case can continue in")
    for state in sorted(leaving - set(spec.handover.continues_at)):
        problems.append(
            f"handover.continues_at: says nothing for '{state}', which a handover leaves"
        )
    return problems


@dataclass(frozen=True, eq=False)
class Workflow:
    """A validated workflow file: its spec, where it came from and lookups over it."""

    spec: WorkflowSpec
    path: Path
    content_hash: str

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> int:
        return self.spec.version

    @property
    def object(self) -> WorkflowObject:
        return self.spec.object

    @property
    def initial(self) -> str:
        return self.spec.initial

    @property
    def states(self) -> tuple[State, ...]:
        return self.spec.states

    @property
    def transitions(self) -> tuple[Transition, ...]:
        return self.spec.transitions

    @cached_property
    def state_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.spec.states)

    @cached_property
    def triggers(self) -> frozenset[str]:
        return frozenset(t.trigger for t in self.spec.transitions)

    @cached_property
    def final_states(self) -> frozenset[str]:
        return frozenset(s.name for s in self.spec.states if s.final)

    @cached_property
    def closed_states(self) -> frozenset[str]:
        return frozenset(s.name for s in self.spec.states if s.closed)

    @cached_property
    def open_states(self) -> frozenset[str]:
        """States a live object can be in: neither final, closed nor initial."""
        ended = self.final_states | self.closed_states | {self.initial}
        return frozenset(self.state_names) - ended

    @cached_property
    def permissions(self) -> frozenset[str]:
        return frozenset(t.permission for t in self.spec.transitions)

    @cached_property
    def _by_key(self) -> dict[tuple[str, str], Transition]:
        return {(t.trigger, s): t for t in self.spec.transitions for s in t.source}

    def transitions_from(self, state: str) -> list[Transition]:
        """Transitions leaving `state`, in file order."""
        return [t for t in self.spec.transitions if state in t.source]

    def transition(self, trigger: str, source: str) -> Transition | None:
        return self._by_key.get((trigger, source))

    def via(self, service: str, state: str | None = None) -> list[Transition]:
        """The transitions fired by `service` (their `via`), from `state` when one is given,
        in file order; a trigger declared once per source counts once."""
        found: dict[str, Transition] = {}
        for t in self.spec.transitions:
            if t.via == service and (state is None or state in t.source):
                found.setdefault(t.trigger, t)
        return list(found.values())

    @cached_property
    def vias(self) -> dict[str, str]:
        """Each trigger a service of its own fires -> that service (its `via`)."""
        return {t.trigger: t.via for t in self.spec.transitions if t.via is not None}

    def one_via(self, service: str, state: str) -> Transition | None:
        """The transition `service` fires from `state`, if the file gives it one there."""
        found = self.via(service, state)
        return found[0] if found else None

    def due_for(self, state: str) -> Due | None:
        """The tightest deadline for leaving `state`, or None when there is none."""
        dues = [t.due for t in self.transitions_from(state) if t.due is not None]
        return min(dues, key=lambda d: (d.approximate_days, d.days), default=None)

    @cached_property
    def _states_by_name(self) -> dict[str, State]:
        return {s.name: s for s in self.spec.states}

    def state_label(self, state: str) -> str:
        """The state in words, as the file labels it (a state it lacks: its name in words)."""
        found = self._states_by_name.get(state)
        return found.shown_as if found is not None else _readable(state)

    @cached_property
    def retention_months(self) -> dict[str, int]:
        """Months after closing before erasure, for each state that says."""
        return {s.name: s.retain_months for s in self.spec.states if s.retain_months}

    @cached_property
    def meanings(self) -> dict[str, str]:
        """What each state means to the code (its `means`, else its name) -> its name."""
        return {s.meaning: s.name for s in self.spec.states}

    @cached_property
    def state_labels(self) -> dict[str, str]:
        return {s.name: s.shown_as for s in self.spec.states}

    @cached_property
    def trigger_labels(self) -> dict[str, str]:
        """Each trigger in words: the first label given to it (a trigger may be declared
        once per source), else its name in words."""
        labelled = [t for t in self.spec.transitions if t.label]
        labels: dict[str, str] = {}
        for t in (*labelled, *self.spec.transitions):
            labels.setdefault(t.trigger, t.shown_as)
        return labels

    @cached_property
    def destructive_triggers(self) -> frozenset[str]:
        return frozenset(t.trigger for t in self.spec.transitions if t.destructive)

    def continues_at(self, state: str) -> str | None:
        """The state a case handed over from `state` starts in at the receiving network."""
        handover = self.spec.handover
        return handover.continues_at.get(state) if handover is not None else None

    def allows(self, operation: str, state: str) -> bool:
        """Whether the operation on a linked record may happen while the case is in `state`."""
        return state in self.spec.operations.get(operation, ())

    def states_allowing(self, operation: str) -> tuple[str, ...]:
        return self.spec.operations.get(operation, ())

    def timers(self) -> list[tuple[str, Transition]]:
        """(source state, transition) for every transition that fires on a timer."""
        return [(s, t) for t in self.spec.transitions if t.timer is not None for s in t.source]
