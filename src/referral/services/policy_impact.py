"""Who would gain and who would lose what, were a proposed policy to replace the one in force.

Counted over the live cases and current users, in SQL, with the conditions' own SQL faces
(authz.filters.case_filter), never by asking the Authorizer about each (user, case) pair.

Users are taken in groups that every rule treats alike: one network, one set of roles,
one kind of organisation. Within a group, a rule's condition tells users apart only by
the relations the "relational" conditions read: the cases a user referred or coordinates,
the agendas they are invited to, the interventions and requests of their organisation.
So, for one group and one (category or permission, action) whose rules changed:

- For a (user, case) pair with no such relation, the condition is what it is for a
  user related to nothing: the SQL face with an actor whose user and organisation ids
  match no row. One query over the cases says which change, for every such user at once.
- The pairs with a relation are few (a user's own referrals, their organisation's
  interventions): they are listed from the relation tables and judged exactly, with the
  SQL faces reading the user and organisation from the pair's row instead of a constant.

A pair is counted once, in whichever part it belongs to, so the counts are exact; the
users of a group reached by the first part are counted as the whole group.
"""

import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import structlog
from sqlalchemy import Select, and_, case, func, literal, not_, select, union, union_all

from referral.authz.enforcer import Authorizer, Permission, Rule
from referral.authz.filters import case_filter
from referral.authz.report import PolicyReport, build_report, subject_words
from referral.db.tables import (
    AgendaItem,
    Case,
    InformationRequest,
    Intervention,
    MeetingAttendee,
    Network,
    Organisation,
    RoleAssignment,
    User,
)
from referral.domain.actors import Actor
from referral.domain.errors import Conflict
from referral.domain.vocabulary import OrgKind, Role
from referral.services.access import authorise, record
from referral.services.uow import UnitOfWork
from referral.workflow.schema import WorkflowObject

log = structlog.get_logger(__name__)

GAINS, LOSES = "gains", "loses"
SAMPLE = 5  # case numbers shown per line
NOBODY = -1  # a user and organisation id no row has: relational conditions all fail


@dataclass(frozen=True)
class ImpactLine:
    """One group's change on one subject in one state: numbers only."""

    direction: str  # GAINS or LOSES
    network: str
    roles: str  # "provider", "coordinator + screener"
    org_kind: str
    subject: str  # "support read", "case:screen"
    state: str
    pairs: int  # (user, case) pairs whose answer changes
    users: int
    cases: int
    sample: tuple[int, ...]

    @property
    def words(self) -> str:
        """The subject in the agreement's words ("see support data", "screen a referral"),
        a Phrase that reads in the reader's language."""
        if " (" in self.subject:  # "support (read)"
            obj, act = self.subject.removesuffix(")").split(" (", 1)
        else:  # "case:screen"
            obj, _, act = self.subject.partition(":")
        return subject_words(obj, act)


@dataclass
class PolicyImpact:
    current_hash: str
    proposed_hash: str
    added_rules: list[str] = field(default_factory=list)
    removed_rules: list[str] = field(default_factory=list)
    lines: list[ImpactLine] = field(default_factory=list)
    groups_checked: int = 0
    users_checked: int = 0
    cases_checked: int = 0

    def totals(self) -> dict[str, dict[str, int]]:
        """Pairs gained and lost per subject: the summary an approval records."""
        totals: dict[str, dict[str, int]] = defaultdict(lambda: {GAINS: 0, LOSES: 0})
        for line in self.lines:
            totals[line.subject][line.direction] += line.pairs
        return {subject: dict(counts) for subject, counts in sorted(totals.items())}


@dataclass(frozen=True)
class _Group:
    network_id: int
    network: str
    roles: frozenset[Role]
    org_kind: OrgKind
    user_ids: tuple[int, ...]

    @property
    def roles_text(self) -> str:
        return " + ".join(sorted(str(r) for r in self.roles))

    def actor(self, user_id: Any = NOBODY, organisation_id: Any = NOBODY) -> Actor:
        return Actor(
            user_id, organisation_id, self.org_kind, self.network_id, self.network, self.roles
        )


@dataclass
class _Class:
    """Users whose rules for one subject are the same under both policies, and who the
    rules cannot tell apart but by their relations: one network or several."""

    old: tuple[Rule, ...]
    new: tuple[Rule, ...]
    org_kind: OrgKind | None  # None: no rule reads the organisation's kind
    groups: list[_Group] = field(default_factory=list)

    @property
    def who(self) -> tuple[str, str]:
        roles = "; ".join(sorted({g.roles_text for g in self.groups}))
        return roles, str(self.org_kind) if self.org_kind is not None else "any"

    def members(self, network_id: int) -> tuple[int, ...]:
        return tuple(u for g in self.groups if g.network_id == network_id for u in g.user_ids)

    def actor(self, network_id: Any, user_id: Any = NOBODY, organisation_id: Any = NOBODY) -> Actor:
        first = self.groups[0]
        kind = self.org_kind or first.org_kind
        return Actor(user_id, organisation_id, kind, network_id, first.network, first.roles)


# Conditions that read the actor's kind of organisation: users of different kinds differ.
_KIND_DEPENDENT = frozenset({"org_kind_in", "consent_covers", "consent_covers_any"})


def policy_impact(
    uow: UnitOfWork,
    current: Authorizer,
    proposed: Authorizer,
    *,
    network_id: int | None = None,
) -> PolicyImpact:
    """Every change of answer between the two policies, over live cases and current users
    (of one network, or all)."""
    impact = PolicyImpact(current.policy_hash, proposed.policy_hash)
    before = {_line(r) for r in current.rules}
    after = {_line(r) for r in proposed.rules}
    impact.added_rules = sorted(after - before)
    impact.removed_rules = sorted(before - after)
    every = (*current.rules, *proposed.rules)
    subjects = sorted({(r.obj, r.act) for r in every})
    permissions = {(r.obj, r.act) for r in every if r.is_permission}
    session = uow.unscoped("the dpo's impact report counts across the networks it names")
    groups = _groups(session, network_id)
    impact.groups_checked = len(groups)
    impact.users_checked = len({(g.network_id, u) for g in groups for u in g.user_ids})
    cases = select(func.count()).select_from(Case)
    if network_id is not None:
        cases = cases.where(Case.network_id == network_id)
    impact.cases_checked = int(session.scalar(cases) or 0)
    names = {g.network_id: g.network for g in groups}
    for obj, act in subjects:
        subject = f"{obj}:{act}" if (obj, act) in permissions else f"{obj} ({act})"
        for found in _classes(groups, current, proposed, obj, act):
            roles, kind = found.who
            for direction, was, becomes, allows in (
                (LOSES, current, proposed, found.old),
                (GAINS, proposed, current, found.new),
            ):
                if not any(rule.allows for rule in allows):
                    continue  # a policy that allows this nobody in the class takes nothing
                changes = _changes(session, found, (obj, act), uow.now, (was, becomes))
                impact.lines += [
                    ImpactLine(direction, names[net], roles, kind, subject, state, *numbers)
                    for (net, state), numbers in changes
                ]
    impact.lines.sort(
        key=lambda line: (line.direction, line.subject, line.network, line.roles, line.state)
    )
    return impact


def _classes(
    groups: Iterable[_Group], current: Authorizer, proposed: Authorizer, obj: str, act: str
) -> list[_Class]:
    """The groups whose rules for (obj, act) change, merged where the rules are alike."""
    classes: dict[tuple[Any, ...], _Class] = {}
    for group in groups:
        somebody = group.actor()
        old = current.rules_for(somebody, obj, act)
        new = proposed.rules_for(somebody, obj, act)
        old_fields, new_fields = tuple(r.fields for r in old), tuple(r.fields for r in new)
        if old_fields == new_fields:
            continue
        read = {call.condition.name for r in (*old, *new) for call in r.expr.calls()}
        kind = group.org_kind if read & _KIND_DEPENDENT else None
        key = (old_fields, new_fields, kind)
        classes.setdefault(key, _Class(old, new, kind)).groups.append(group)
    return list(classes.values())


def _line(rule: Rule) -> str:
    return ", ".join(("p", *rule.fields))


def _groups(session: Any, network_id: int | None) -> list[_Group]:
    """Active users by (network, the set of roles held there, organisation kind)."""
    query = (
        select(
            RoleAssignment.network_id,
            Network.slug,
            RoleAssignment.user_id,
            RoleAssignment.role,
            Organisation.kind,
        )
        .join(Network, Network.id == RoleAssignment.network_id)
        .join(User, User.id == RoleAssignment.user_id)
        .join(Organisation, Organisation.id == User.organisation_id)
        .where(User.active.is_(True))
    )
    if network_id is not None:
        query = query.where(RoleAssignment.network_id == network_id)
    held: dict[tuple[int, str, int, str], set[Role]] = defaultdict(set)
    for net_id, slug, user_id, role, kind in session.execute(query):
        held[(net_id, slug, user_id, kind)].add(Role(role))
    members: dict[tuple[int, str, frozenset[Role], str], list[int]] = defaultdict(list)
    for (net_id, slug, user_id, kind), roles in held.items():
        members[(net_id, slug, frozenset(roles), kind)].append(user_id)
    return [
        _Group(net_id, slug, roles, OrgKind(kind), tuple(sorted(users)))
        for (net_id, slug, roles, kind), users in sorted(
            members.items(), key=lambda kv: (kv[0][0], sorted(kv[0][2]), kv[0][3])
        )
    ]


# The conditions that tell users of one group apart, and the (user, case) pairs each may
# hold for: a superset (the condition's own SQL face then judges each pair exactly).
def _own_referrals(users: Any) -> Select[Any]:
    return select(users, Case.id.label("case_id")).join(
        Case, Case.referrer_user_id == users.c.user_id
    )


def _coordinated(users: Any) -> Select[Any]:
    return select(users, Case.id.label("case_id")).join(
        Case, Case.coordinator_user_id == users.c.user_id
    )


def _agendas(users: Any) -> Select[Any]:
    return (
        select(users, AgendaItem.case_id)
        .join(MeetingAttendee, MeetingAttendee.user_id == users.c.user_id)
        .join(AgendaItem, AgendaItem.meeting_id == MeetingAttendee.meeting_id)
    )


def _interventions(users: Any) -> Select[Any]:
    return select(users, Intervention.case_id).join(
        Intervention, Intervention.provider_org_id == users.c.org_id
    )


def _requests(users: Any) -> Select[Any]:
    return select(users, InformationRequest.case_id).join(
        InformationRequest, InformationRequest.organisation_id == users.c.org_id
    )


RELATIONAL = {
    "own_referral": _own_referrals,
    "coordinates": _coordinated,
    "on_agenda": _agendas,
    "assigned": _interventions,
    "asked": _requests,
}


def _relations_read(rules: Iterable[Rule]) -> list[str]:
    names = {call.condition.name for rule in rules for call in rule.expr.calls()}
    return sorted(names & RELATIONAL.keys())


def _changes(
    session: Any,
    found: _Class,
    subject: tuple[str, str],
    now: datetime,
    policies: tuple[Authorizer, Authorizer],
) -> list[tuple[tuple[int, str], tuple[int, int, int, tuple[int, ...]]]]:
    """By (network, case state): the (user, case) pairs the first policy allows and the
    second refuses, the users and cases among them, and a sample of case numbers."""
    obj, act = subject
    was, becomes = policies
    networks = sorted({g.network_id for g in found.groups})
    counts: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    samples: dict[tuple[int, str], set[int]] = defaultdict(set)

    def changed(actor: Actor) -> Any:
        return and_(
            case_filter(was, actor, obj, act, now), not_(case_filter(becomes, actor, obj, act, now))
        )

    # Every network of the class at once: the actor's network is each case's own.
    unrelated = changed(found.actor(Case.network_id))
    by_state = select(
        Case.network_id, Case.state, func.count(), func.min(Case.id), func.max(Case.id)
    ).where(Case.network_id.in_(networks), unrelated)
    for net, state, n, low, high in session.execute(by_state.group_by(Case.network_id, Case.state)):
        size = len(found.members(net))
        counts[(net, state)] = [n * size, size, n]
        samples[(net, state)].update((low, high))
    relations = _relations_read((*found.old, *found.new))
    for net in networks if relations else ():
        # A network at a time: its cases by their network's index, its users' pairs.
        pairs = _pairs({net: found.members(net)}, relations)
        related = changed(found.actor(net, pairs.c.user_id, pairs.c.org_id))
        joined = (
            select(Case.network_id, Case.state)
            .join(pairs, pairs.c.case_id == Case.id)
            .where(Case.network_id == net)
        )
        by_network_state = (Case.network_id, Case.state)
        everybody = any(key[0] == net for key in counts)  # cases changing for the whole class
        if everybody:
            # Pairs whose case changes for everybody were counted with the unrelated; they
            # are judged again here, exactly, so they come out of the first count.
            for _, state, n in session.execute(
                joined.add_columns(func.count()).where(unrelated).group_by(*by_network_state)
            ):
                counts[(net, state)][0] -= n
            only_here = func.count(case((not_(unrelated), Case.id)).distinct())
        else:
            only_here = func.count(Case.id.distinct())
        query = joined.add_columns(
            func.count(),
            func.count(pairs.c.user_id.distinct()),
            only_here,
            func.min(Case.id),
            func.max(Case.id),
        )
        for _, state, n, users, cases, low, high in session.execute(
            query.where(related).group_by(*by_network_state)
        ):
            pairs_n, users_n, cases_n = counts[(net, state)]
            counts[(net, state)] = [pairs_n + n, max(users_n, users), cases_n + cases]
            samples[(net, state)].update((low, high))
    return [
        (key, (pairs_n, users_n, cases_n, tuple(sorted(samples[key]))[:SAMPLE]))
        for key, (pairs_n, users_n, cases_n) in sorted(counts.items())
        if pairs_n > 0
    ]


def _pairs(members: dict[int, tuple[int, ...]], relations: Sequence[str]) -> Any:
    """(network_id, user_id, org_id, case_id): the class's users of each network, and every
    case a relation the rules read ties them to."""
    per_network = [
        select(
            User.id.label("user_id"),
            User.organisation_id.label("org_id"),
            literal(net).label("network_id"),
        ).where(User.id.in_(user_ids))
        for net, user_ids in members.items()
    ]
    users = (per_network[0] if len(per_network) == 1 else union_all(*per_network)).subquery(
        "class_users"
    )
    parts = [RELATIONAL[name](users) for name in relations]
    combined = parts[0] if len(parts) == 1 else union(*parts)
    return cast(Any, combined).subquery("pairs")


POLICY_FILES = ("model.conf", "*.csv")


@dataclass(frozen=True)
class ApplyPolicy:
    proposed_dir: Path
    approver: Actor  # a dpo of the network whose audit log records the approval
    expected_hash: str  # the proposed files the dpo read the impact of


def apply_policy(uow: UnitOfWork, live: Authorizer, command: ApplyPolicy) -> str:
    """Put the proposed files in force, recording the impact's summary and the dpo's
    approval in the audit log; the new policy hash.

    The impact is computed again here, on the files as they are now: what is recorded
    is what was applied, and files changed since the dpo read the report are refused.
    """
    decision = authorise(uow, command.approver, Permission.POLICY_REVIEW, None)
    proposed = Authorizer(command.proposed_dir)  # a broken file raises, naming file and line
    if proposed.policy_hash != command.expected_hash:
        raise Conflict(
            "the proposed policy changed since its impact was reported: read the new report"
        )
    impact = policy_impact(uow, live, proposed)
    change = {
        "from": impact.current_hash,
        "to": impact.proposed_hash,
        "added_rules": len(impact.added_rules),
        "removed_rules": len(impact.removed_rules),
        "pairs": impact.totals(),
        "users_checked": impact.users_checked,
        "cases_checked": impact.cases_checked,
    }
    target = f"policy:{proposed.policy_hash[:16]}"
    uow.audit(record(command.approver, "policy:apply", decision, target=target, change=change))
    uow.commit()  # the approval is on record before the files change
    _replace_files(command.proposed_dir, live.policy_dir)
    live.reload()
    log.info("policy_applied", policy_hash=live.policy_hash)
    return live.policy_hash


def propose(live: Authorizer, default_csv: str, folder: Path) -> Authorizer:
    """The live policy with its `default.csv` replaced by the text a dpo proposes, in
    `folder`; a broken line is refused with its number (ConfigurationError)."""
    for path in (live.policy_dir / "model.conf", *live.policy_dir.glob("*.csv")):
        (folder / path.name).write_bytes(path.read_bytes())
    text = default_csv.replace("\r\n", "\n")
    (folder / "default.csv").write_text(text if text.endswith("\n") else text + "\n", "utf-8")
    return Authorizer(folder)


def live_policy_text(uow: UnitOfWork, actor: Actor, live: Authorizer) -> str:
    """The policy file in force, for a dpo to edit into a proposal."""
    authorise(uow, actor, Permission.POLICY_REVIEW, None)
    path = live.policy_dir / "default.csv"
    return path.read_text(encoding="utf-8") if path.exists() else ""


def agreement_in_words(uow: UnitOfWork, actor: Actor, live: Authorizer) -> PolicyReport:
    """The agreement in force in plain words, role by role (`referral policy report`), for
    the dpo's page: each cell a Phrase, so it reads in the dpo's language."""
    authorise(uow, actor, Permission.POLICY_REVIEW, None)
    labels: dict[str, str] = {}
    for workflow in uow.runtime.workflows.every():
        if workflow.object is WorkflowObject.CASE:
            for name, text in workflow.state_labels.items():
                labels.setdefault(name, text)
    return build_report(
        live.rules,
        policy_hash=live.policy_hash,
        files=[],
        state_label=lambda state: labels.get(state) or state.replace("_", " "),
    )


def review_policy(
    uow: UnitOfWork, actor: Actor, live: Authorizer, default_csv: str, folder: Path
) -> tuple[PolicyImpact, Authorizer]:
    """The impact, over the actor's network, of the proposed `default.csv` (a dpo's page)."""
    authorise(uow, actor, Permission.POLICY_REVIEW, None)
    proposed = propose(live, default_csv, folder)
    return policy_impact(uow, live, proposed, network_id=actor.network_id), proposed


def _replace_files(source: Path, target: Path) -> None:
    """Each policy file swapped in whole (a reader sees the old or the new, never half),
    and the live directory's csv files that the proposal drops removed."""
    wanted = {p.name: p for pattern in POLICY_FILES for p in source.glob(pattern)}
    for name, path in wanted.items():
        temporary = target / f".{name}.new"
        temporary.write_bytes(path.read_bytes())
        os.replace(temporary, target / name)
    for stale in target.glob("*.csv"):
        if stale.name not in wanted:
            stale.unlink()
