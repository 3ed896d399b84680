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
from sqlalchemy import Select, and_, case, func, not_, select, union

from referral.audit.chain import AuditRecord
from referral.authz.enforcer import Authorizer, Rule
from referral.authz.filters import case_filter
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
from referral.domain.errors import Conflict, PermissionDenied
from referral.domain.vocabulary import OrgKind, Role
from referral.services.uow import UnitOfWork

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
    impact.users_checked = sum(len(g.user_ids) for g in groups)
    cases = select(func.count()).select_from(Case)
    if network_id is not None:
        cases = cases.where(Case.network_id == network_id)
    impact.cases_checked = int(session.scalar(cases) or 0)
    now = uow.now
    for group in groups:
        somebody = group.actor()
        for obj, act in subjects:
            old = current.rules_for(somebody, obj, act)
            new = proposed.rules_for(somebody, obj, act)
            if [r.fields for r in old] == [r.fields for r in new]:
                continue
            relations = _relations_read((*old, *new))
            subject = f"{obj}:{act}" if (obj, act) in permissions else f"{obj} ({act})"
            for direction, was, becomes in ((LOSES, current, proposed), (GAINS, proposed, current)):
                found = _changes(session, group, (obj, act), now, (was, becomes), relations)
                impact.lines += [
                    ImpactLine(
                        direction,
                        group.network,
                        group.roles_text,
                        str(group.org_kind),
                        subject,
                        state,
                        *numbers,
                    )
                    for state, numbers in found
                ]
    impact.lines.sort(
        key=lambda line: (line.direction, line.subject, line.network, line.roles, line.state)
    )
    return impact


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
    return select(users.c.user_id, users.c.org_id, Case.id.label("case_id")).join(
        Case, Case.referrer_user_id == users.c.user_id
    )


def _coordinated(users: Any) -> Select[Any]:
    return select(users.c.user_id, users.c.org_id, Case.id.label("case_id")).join(
        Case, Case.coordinator_user_id == users.c.user_id
    )


def _agendas(users: Any) -> Select[Any]:
    return (
        select(users.c.user_id, users.c.org_id, AgendaItem.case_id)
        .join(MeetingAttendee, MeetingAttendee.user_id == users.c.user_id)
        .join(AgendaItem, AgendaItem.meeting_id == MeetingAttendee.meeting_id)
    )


def _interventions(users: Any) -> Select[Any]:
    return select(users.c.user_id, users.c.org_id, Intervention.case_id).join(
        Intervention, Intervention.provider_org_id == users.c.org_id
    )


def _requests(users: Any) -> Select[Any]:
    return select(users.c.user_id, users.c.org_id, InformationRequest.case_id).join(
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
    group: _Group,
    subject: tuple[str, str],
    now: datetime,
    policies: tuple[Authorizer, Authorizer],
    relations: Sequence[str],
) -> list[tuple[str, tuple[int, int, int, tuple[int, ...]]]]:
    """By case state: the (user, case) pairs the first policy allows and the second
    refuses, the users and cases among them, and a sample of case numbers."""
    obj, act = subject
    was, becomes = policies
    nobody = group.actor()
    unrelated = and_(
        Case.network_id == group.network_id,
        case_filter(was, nobody, obj, act, now),
        not_(case_filter(becomes, nobody, obj, act, now)),
    )
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # pairs, users, cases
    samples: dict[str, set[int]] = defaultdict(set)
    size = len(group.user_ids)
    by_state = select(Case.state, func.count(), func.min(Case.id), func.max(Case.id))
    for state, n, low, high in session.execute(by_state.where(unrelated).group_by(Case.state)):
        counts[state] = [n * size, size, n]
        samples[state].update((low, high))
    if relations:
        pairs = _pairs(group, relations)
        who = group.actor(pairs.c.user_id, pairs.c.org_id)
        related = and_(
            Case.network_id == group.network_id,
            case_filter(was, who, obj, act, now),
            not_(case_filter(becomes, who, obj, act, now)),
        )
        joined = select(Case.state).join(pairs, pairs.c.case_id == Case.id)
        # Pairs whose case changes for everybody were counted with the unrelated; they
        # are judged again here, exactly, so they come out of the first count.
        for state, n in session.execute(
            joined.add_columns(func.count()).where(unrelated).group_by(Case.state)
        ):
            counts[state][0] -= n
        only_here = func.count(case((not_(unrelated), Case.id)).distinct())
        query = joined.add_columns(
            func.count(),
            func.count(pairs.c.user_id.distinct()),
            only_here,
            func.min(Case.id),
            func.max(Case.id),
        )
        for state, n, users, cases, low, high in session.execute(
            query.where(related).group_by(Case.state)
        ):
            pairs_n, users_n, cases_n = counts[state]
            counts[state] = [pairs_n + n, max(users_n, users), cases_n + cases]
            samples[state].update((low, high))
    return [
        (state, (pairs_n, users_n, cases_n, tuple(sorted(samples[state]))[:SAMPLE]))
        for state, (pairs_n, users_n, cases_n) in sorted(counts.items())
        if pairs_n > 0
    ]


def _pairs(group: _Group, relations: Sequence[str]) -> Any:
    """(user_id, org_id, case_id) for the group's users and every case a relation the
    rules read ties them to."""
    users = (
        select(User.id.label("user_id"), User.organisation_id.label("org_id"))
        .where(User.id.in_(group.user_ids))
        .subquery("group_users")
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
    if Role.DPO not in command.approver.roles:
        raise PermissionDenied("only a data-protection officer may approve a policy change")
    proposed = Authorizer(command.proposed_dir)  # a broken file raises, naming file and line
    if proposed.policy_hash != command.expected_hash:
        raise Conflict(
            "the proposed policy changed since its impact was reported: read the new report"
        )
    impact = policy_impact(uow, live, proposed)
    uow.audit(
        AuditRecord(
            action="policy:apply",
            allowed=True,
            actor=command.approver,
            target=f"policy:{proposed.policy_hash[:16]}",
            rule="dpo approval of the proposed policy's impact",
            change={
                "from": impact.current_hash,
                "to": impact.proposed_hash,
                "added_rules": len(impact.added_rules),
                "removed_rules": len(impact.removed_rules),
                "pairs": impact.totals(),
                "users_checked": impact.users_checked,
                "cases_checked": impact.cases_checked,
            },
        )
    )
    uow.commit()  # the approval is on record before the files change
    _replace_files(command.proposed_dir, live.policy_dir)
    live.reload()
    log.info("policy_applied", policy_hash=live.policy_hash)
    return live.policy_hash


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
