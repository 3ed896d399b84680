"""Tables of expected decisions (`policies/tests/*.yaml`), checked against the policy.

A table names the organisation kinds to try (and, optionally, the roles: every role
unless `roles` lists some), defines situations as high-level facts, and lists the
cells that must be allowed. Every other cell of role x organisation kind x situation
x action must be denied: the runner asks the Authorizer about all of them and
reports each mismatch as a sentence.

    org_kinds: [police, health]
    situations:
      own_referral: {referrer: actor}
      in_window: {meeting: {invited: true, days_after: 3}}
    expect:
      - {role: referrer, org_kind: "*", situation: own_referral,
         action: read, categories: [status, concern], expect: allow}
      - {role: coordinator, org_kind: "*", situation: [own_referral, in_window],
         action: [case:screen, case:manage], expect: allow}

A table may give a `default_state`: the case state of a situation that names none (every
situation about a case names its own otherwise).

Situation facts (all optional): `case` (false: a question about no case),
`network` (same | other), `state`, `referrer` (actor | other), `coordinator`
(actor | other | none), `meeting` ({invited, days_after}: now is that many days
after the meeting), `assigned` (an intervention for the actor's organisation),
`consent` (its state), `consent_covers` (categories the consent lets go to the
actor's kind of organisation, for support), `consent_grants` (further grants, each
`{category, to: actor | other, purpose}`: to the actor's kind of organisation or to
another kind), `intervention` (the question is about one intervention of the case,
the one the operation touches: `mine`, `another_org`'s or `mine_withdrawn`), `asked`
(an open information request to the actor's organisation), `summons` ({at_meeting,
window, as}: the actor holds a live summons to the case's meeting; asked on that
meeting's page or not, its window `open` or `past`, summoned `as` their own kind of
organisation or another). Keys starting with `x-` are ignored, for YAML anchors.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import yaml

from referral.authz.enforcer import CATEGORY_ACTIONS, Authorizer, Decision, Permission
from referral.domain import states
from referral.domain.actors import Actor
from referral.domain.errors import ConfigurationError
from referral.domain.facts import CaseFacts, ConsentScope, MeetingSlot, RecordFacts, Summons
from referral.domain.vocabulary import Category, OrgKind, Purpose, Role

NOW = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
ACTOR_USER, OTHER_USER = 101, 102
ACTOR_ORG, OTHER_ORG = 201, 202
NETWORK_ID, OTHER_NETWORK_ID = 1, 2
NETWORK = "policy-tests"

# (role, org kind, situation, action) where action is "read criminal" or "case:screen"
Cell = tuple[Role, OrgKind, str, str]
_E = TypeVar("_E", Role, OrgKind, Category, Purpose)

ACTIONS: tuple[str, ...] = (
    *(f"{act} {category}" for act in CATEGORY_ACTIONS for category in Category),
    *Permission,
)


@dataclass(frozen=True, slots=True)
class Situation:
    """A case as seen from the actor, described by what matters to the policy."""

    name: str
    about_case: bool = True
    other_network: bool = False
    state: str = ""
    referrer: str = "other"
    coordinator: str = "none"
    meeting: tuple[bool, float] | None = None  # (actor invited, days now is after it)
    assigned: bool = False
    consent: str = states.NO_CONSENT
    consent_covers: tuple[Category, ...] = ()
    consent_grants: tuple[tuple[Category, bool, Purpose], ...] = ()  # (category, to actor, why)
    intervention: str | None = None  # mine | another_org | mine_withdrawn
    asked: bool = False
    summons: tuple[bool, str, str] | None = None  # (at the meeting's page, window, as)

    def record(self) -> RecordFacts | None:
        """The intervention the question is about, if the situation names one."""
        if self.intervention is None:
            return None
        provider = OTHER_ORG if self.intervention == "another_org" else ACTOR_ORG
        return RecordFacts("intervention", 1, provider, self.intervention != "mine_withdrawn")

    def facts(self, org_kind: OrgKind) -> CaseFacts | None:
        if not self.about_case:
            return None
        meetings: tuple[MeetingSlot, ...] = ()
        if self.meeting is not None:
            invited, days_after = self.meeting
            meetings = (MeetingSlot(1, NOW - timedelta(days=days_after), invited),)
        at_meeting = None
        if self.summons is not None:
            at_page, window, summoned_as = self.summons
            ends = NOW + timedelta(hours=1) if window == "open" else NOW - timedelta(hours=1)
            kind = org_kind if summoned_as == "actor" else _another(org_kind)
            slot = meetings[0] if meetings else MeetingSlot(1, NOW, False)
            summons = Summons(ends - timedelta(days=2), ends, kind)
            meetings = (replace(slot, summons=summons),)
            at_meeting = 1 if at_page else None
        users = {"actor": ACTOR_USER, "other": OTHER_USER, "none": None}
        return CaseFacts(
            case_id=1,
            network_id=OTHER_NETWORK_ID if self.other_network else NETWORK_ID,
            state=self.state,
            referrer_user_id=ACTOR_USER if self.referrer == "actor" else OTHER_USER,
            coordinator_user_id=users[self.coordinator],
            meetings=meetings,
            provider_org_ids=frozenset({ACTOR_ORG if self.assigned else OTHER_ORG}),
            consent_state=self.consent,
            consent_scope=frozenset(
                ConsentScope(c, org_kind, Purpose.SUPPORT) for c in self.consent_covers
            )
            | frozenset(
                ConsentScope(c, org_kind if to_actor else _another(org_kind), purpose)
                for c, to_actor, purpose in self.consent_grants
            ),
            asked_org_ids=frozenset({ACTOR_ORG if self.asked else OTHER_ORG}),
            at_meeting=at_meeting,
        )


def _another(kind: OrgKind) -> OrgKind:
    """A kind of organisation that is not `kind`: a grant to someone else."""
    return OrgKind.POLICE if kind is not OrgKind.POLICE else OrgKind.HEALTH


@dataclass(frozen=True, slots=True)
class Table:
    label: str
    org_kinds: tuple[OrgKind, ...]
    situations: dict[str, Situation]
    allowed: frozenset[Cell]
    roles: tuple[Role, ...] = tuple(Role)


def run_policy_tests(policy_dir: Path | str) -> list[str]:
    """Check every table in `<policy_dir>/tests/`; return one sentence per mismatch."""
    policy_dir = Path(policy_dir)
    paths = sorted((policy_dir / "tests").glob("*.yaml"))
    if not paths:
        raise ConfigurationError(
            "{name}/tests: no *.yaml tables of decisions", name=policy_dir.name
        )
    authorizer = Authorizer(policy_dir)
    return [m for path in paths for m in run_table(authorizer, path)]


def run_table(authorizer: Authorizer, path: Path) -> list[str]:
    table = load_table(path)
    mismatches = []
    for cell, decision in _decide_all(authorizer, table):
        expected = cell in table.allowed
        if decision.allowed != expected:
            role, kind, situation, action = cell
            why = f"rule {decision.rule_text}" if decision.rule else decision.reason
            mismatches.append(
                f"{table.label}: {role} ({kind}) in {situation}: {action}:"
                f" expected {_word(expected)}, got {_word(decision.allowed)} ({why})"
            )
    return mismatches


def _decide_all(authorizer: Authorizer, table: Table) -> Iterator[tuple[Cell, Decision]]:
    for role in table.roles:
        for kind in table.org_kinds:
            actor = Actor(ACTOR_USER, ACTOR_ORG, kind, NETWORK_ID, NETWORK, frozenset({role}))
            for situation in table.situations.values():
                facts, record = situation.facts(kind), situation.record()
                for action in ACTIONS:
                    act, _, category = action.partition(" ")
                    decision = (
                        authorizer.decide(actor, category, act, facts, NOW, record=record)
                        if category
                        else authorizer.permission(actor, action, facts, NOW, record=record)
                    )
                    yield (role, kind, situation.name, action), decision


def _word(allowed: bool) -> str:
    return "allow" if allowed else "deny"


# -- reading a table --------------------------------------------------------------


def load_table(path: Path) -> Table:
    label = f"{path.parent.parent.name}/{path.parent.name}/{path.name}"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("expected a mapping with org_kinds, situations and expect")
        unknown = {k for k in data if not str(k).startswith("x-")} - {
            "org_kinds",
            "roles",
            "default_state",
            "situations",
            "expect",
        }
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}")
        org_kinds = tuple(_enum(OrgKind, "organisation kind", k) for k in data["org_kinds"])
        roles = tuple(_enum(Role, "role", r) for r in data.get("roles", list(Role)))
        # The case state of a situation that names none: the table's, never the code's
        # (a network names its own states).
        default_state = str(data.get("default_state", ""))
        situations = {
            str(name): _situation(str(name), facts, default_state)
            for name, facts in data["situations"].items()
        }
    except (yaml.YAMLError, KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ConfigurationError(
            "{label}: {problem}", label=label, problem=_describe(exc)
        ) from None
    allowed: set[Cell] = set()
    for number, row in enumerate(data.get("expect") or [], start=1):
        try:
            allowed |= _cells(row, org_kinds, situations)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ConfigurationError(
                "{label}: expect row {number}: {problem}",
                label=label,
                number=number,
                problem=_describe(exc),
            ) from None
    return Table(label, org_kinds, situations, frozenset(allowed), roles)


_FACTS = frozenset(
    {"case", "network", "state", "referrer", "coordinator", "meeting", "assigned", "consent"}
    | {"consent_covers", "consent_grants", "intervention", "asked", "summons"}
)


def _situation(name: str, facts: dict[str, Any] | None, default_state: str) -> Situation:
    facts = dict(facts or {})
    unknown = set(facts) - _FACTS
    if unknown:
        raise ValueError(f"situation {name}: unknown facts {sorted(unknown)}")
    if "state" not in facts and not default_state and facts.get("case", True):
        raise ValueError(
            f"situation {name}: name its case's state, or give the table a default_state"
        )
    meeting = facts.pop("meeting", None)
    return Situation(
        name=name,
        about_case=bool(facts.pop("case", True)),
        other_network=_choice(facts.pop("network", "same"), ("same", "other")) == "other",
        state=str(facts.pop("state", default_state)),
        referrer=_choice(facts.pop("referrer", "other"), ("actor", "other")),
        coordinator=_choice(facts.pop("coordinator", "none"), ("actor", "other", "none")),
        meeting=None
        if meeting is None
        else (bool(meeting["invited"]), float(meeting["days_after"])),
        assigned=bool(facts.pop("assigned", False)),
        consent=str(facts.pop("consent", states.NO_CONSENT)),
        consent_covers=tuple(
            _enum(Category, "category", c) for c in facts.pop("consent_covers", [])
        ),
        consent_grants=tuple(_grant(g) for g in facts.pop("consent_grants", [])),
        intervention=None
        if "intervention" not in facts
        else _choice(facts.pop("intervention"), ("mine", "another_org", "mine_withdrawn")),
        asked=bool(facts.pop("asked", False)),
        summons=_summons(facts.pop("summons", None)),
    )


def _summons(summons: dict[str, Any] | None) -> tuple[bool, str, str] | None:
    if summons is None:
        return None
    unknown = set(summons) - {"at_meeting", "window", "as"}
    if unknown:
        raise ValueError(f"a summons has unknown keys {sorted(unknown)}")
    return (
        bool(summons["at_meeting"]),
        _choice(summons["window"], ("open", "past")),
        _choice(summons["as"], ("actor", "other")),
    )


def _grant(grant: dict[str, Any]) -> tuple[Category, bool, Purpose]:
    unknown = set(grant) - {"category", "to", "purpose"}
    if unknown:
        raise ValueError(f"a consent grant has unknown keys {sorted(unknown)}")
    category = _enum(Category, "category", grant["category"])
    to_actor = _choice(grant["to"], ("actor", "other")) == "actor"
    return category, to_actor, _enum(Purpose, "purpose", grant["purpose"])


def _cells(
    row: dict[str, Any], org_kinds: tuple[OrgKind, ...], situations: dict[str, Situation]
) -> set[Cell]:
    unknown = set(row) - {"role", "org_kind", "situation", "action", "categories", "expect"}
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    if row["expect"] != "allow":
        raise ValueError("list only what must be allowed (expect: allow); the rest is deny")
    roles = [_enum(Role, "role", r) for r in _many(row["role"])]
    kinds = list(org_kinds) if row["org_kind"] == "*" else _many(row["org_kind"])
    for kind in kinds:
        if kind not in org_kinds:
            raise ValueError(f"organisation kind {kind!r} is not in the table's org_kinds")
    names = list(situations) if row["situation"] == "*" else _many(row["situation"])
    for name in names:
        if name not in situations:
            raise ValueError(f"unknown situation {name!r}")
    actions = []
    for action in _many(row["action"]):
        if action in CATEGORY_ACTIONS:
            categories = row["categories"]
            chosen = list(Category) if categories == "*" else _many(categories)
            actions += [f"{action} {_enum(Category, 'category', c)}" for c in chosen]
        elif action in ACTIONS:
            actions.append(action)
        else:
            raise ValueError(f"unknown action {action!r} (read, write or a permission)")
    if "categories" in row and not any(a in CATEGORY_ACTIONS for a in _many(row["action"])):
        raise ValueError("categories go with read or write, not with a permission")
    return {
        (role, OrgKind(kind), name, action)
        for role in roles
        for kind in kinds
        for name in names
        for action in actions
    }


def _many(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _enum(enum: type[_E], what: str, value: Any) -> _E:
    try:
        return enum(value)
    except ValueError:
        raise ValueError(f"unknown {what} {value!r}") from None


def _choice(value: Any, options: tuple[str, ...]) -> str:
    if value not in options:
        raise ValueError(f"{value!r} is not one of {', '.join(options)}")
    return str(value)


def _describe(exc: Exception) -> str:
    return f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
