"""`referral policy diff` over a country-sized deployment, beside the naive answer.

    python bench/policy_diff.py [--networks N] [--cases N] [--users N] [--sample N]
                                [--database-url URL] [--quick]

Builds `--networks` (10) networks holding `--cases` (100,000) cases and `--users`
(10,000) users in all: referrers, coordinators (some also screeners), panel members and
chairs invited to meetings with full agendas, providers whose organisations hold
interventions, agency contacts asked for information, dpos. Consents given with scopes,
some withdrawn. Then it times `policy_impact` (the services' diff, in SQL) for a proposed
policy that denies providers the support category, takes criminal information from
coordinators once a case is closed, and gives referrers the assessment of their own
referrals and screeners the support plan: gains and losses, pair by pair and group-wide.

Beside it, in the same run, the naive way: both Authorizers asked about `--sample`
random (user, case) pairs of one network for every subject, each with the case's facts
loaded, timed per pair and projected to every (user, case) pair of every network. Every
change the sample finds must be a line of the diff (same direction, subject, state and
group of users), or the run fails. `--quick` (2 networks, 2,000 cases, 200 users, 300
pairs) keeps the script from rotting in CI.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lists import Sealer, _insert  # bench/lists.py: the bulk loader's sealing
from scratch import database
from sqlalchemy import Engine, select, text

from referral.authz.enforcer import Authorizer
from referral.config import PROJECT_ROOT, Settings
from referral.db.engine import make_session_factory
from referral.db.migrate import upgrade
from referral.db.tables import (
    AgendaItem,
    Case,
    Consent,
    ConsentScopeRow,
    InformationRequest,
    Intervention,
    MeetingAttendee,
    Network,
    Organisation,
    PanelMeeting,
    RoleAssignment,
    Subject,
    User,
)
from referral.domain.actors import Actor
from referral.domain.vocabulary import OrgKind, Role
from referral.keyring import Keyring, new_master_key
from referral.logging import configure_logging
from referral.services.policy_impact import GAINS, LOSES, policy_impact
from referral.services.uow import Runtime, UnitOfWork
from referral.workflow.loader import load_workflows
from referral.workflow.machine import WorkflowEngine

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
STATES = (
    "submitted",
    "screening",
    "information_gathering",
    "awaiting_panel",
    "panel_review",
    "consent_pending",
    "support",
    "review",
    "exited",
    "follow_up_6m",
    "closed",
    "closed_no_action",
    "signposted",
)
# Per 1,000 users of a network: how many hold each set of roles.
ROLE_MIX: tuple[tuple[tuple[str, ...], int], ...] = (
    (("referrer",), 700),
    (("coordinator",), 8),
    (("coordinator", "screener"), 4),
    (("screener",), 8),
    (("panel_member",), 100),
    (("panel_chair",), 10),
    (("provider",), 150),
    (("agency_contact",), 12),
    (("dpo",), 4),
    (("admin",), 4),
)
ORGS = 40  # per network


def proposed_policy(folder: Path) -> Path:
    lines = (PROJECT_ROOT / "policies" / "default.csv").read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines if not line.startswith("p, provider, *, support,")]
    kept = [
        line.replace(
            "p, coordinator, *, criminal, read, !in_state(draft),",
            "p, coordinator, *, criminal, read, !in_state(draft) & !in_state(closed),",
        )
        for line in kept
    ]
    kept += [
        "p, provider, *, support, read, true, -, -, deny",
        "p, referrer, *, assessment, read, own_referral, screening, public_task, allow",
        "p, screener, *, support, read, !in_state(draft), screening, public_task, allow",
    ]
    (folder / "default.csv").write_text("\n".join(kept) + "\n", encoding="utf-8")
    (folder / "model.conf").write_bytes((PROJECT_ROOT / "policies" / "model.conf").read_bytes())
    return folder


def load(
    engine: Engine, networks: int, cases: int, users: int, rng: random.Random, keyring: Keyring
) -> None:
    per_net_cases, per_net_users = cases // networks, users // networks
    kinds = list(OrgKind)
    with engine.begin() as db:
        sealer = Sealer(db, keyring)
        _insert(
            db,
            Network,
            [{"id": n, "slug": f"city-{n}", "name": f"City {n}"} for n in range(1, networks + 1)],
        )
        orgs = [
            {"id": (n - 1) * ORGS + i, "network_id": n, "name": f"Org {i}", "kind": kinds[i % 10]}
            for n in range(1, networks + 1)
            for i in range(1, ORGS + 1)
        ]
        _insert(db, Organisation, orgs)
        user_rows, roles, by_role = [], [], {}
        uid = 0
        for n in range(1, networks + 1):
            scale = per_net_users / 1000
            for role_set, count in ROLE_MIX:
                for _ in range(max(1, round(count * scale))):
                    uid += 1
                    org = (n - 1) * ORGS + rng.randint(1, ORGS)
                    user_rows.append(
                        {
                            "id": uid,
                            "username": f"u{uid}",
                            "display_name": "U",
                            "organisation_id": org,
                            "password_hash": "-",
                            "active": True,
                            "created_at": NOW,
                        }
                    )
                    for role in role_set:
                        roles.append({"user_id": uid, "network_id": n, "role": role})
                        by_role.setdefault((n, role), []).append((uid, org))
        _insert(db, User, user_rows)
        _insert(db, RoleAssignment, roles)
        subjects, case_rows = [], []
        cid = 0
        for n in range(1, networks + 1):
            for _ in range(per_net_cases):
                cid += 1
                key = sealer.new_key()  # a data key a subject, as in a deployment
                subjects.append(
                    sealer.seal(
                        Subject,
                        key,
                        {"id": cid, "network_id": n, "data_key_id": key, "created_at": NOW},
                    )
                )
                coordinators = by_role[(n, "coordinator")]
                case_rows.append(
                    sealer.seal(
                        Case,
                        key,
                        {
                            "id": cid,
                            "network_id": n,
                            "subject_id": cid,
                            "reference": f"BENCH-{cid}",
                            "state": rng.choice(STATES),
                            "workflow_name": "referral",
                            "workflow_version": 3,
                            "workflow_hash": "-",
                            "version": 1,
                            "referrer_user_id": rng.choice(by_role[(n, "referrer")])[0],
                            "referring_org_kind": "education",
                            "coordinator_user_id": rng.choice(coordinators)[0]
                            if rng.random() < 0.6
                            else None,
                            "created_at": NOW,
                            "state_entered_at": NOW,
                            "due_at": None,
                        },
                    )
                )
        _insert(db, Subject, subjects)
        _insert(db, Case, case_rows)
        interventions, consents, scopes, requests = [], [], [], []
        meetings, agenda, attendees = [], [], []
        consent_id = meeting_id = 0
        for n in range(1, networks + 1):
            first = (n - 1) * per_net_cases + 1
            ids = range(first, first + per_net_cases)
            providers = by_role[(n, "provider")]
            contacts = by_role[(n, "agency_contact")]
            for case_id in rng.sample(ids, per_net_cases // 3):
                interventions.append(
                    sealer.seal(
                        Intervention,
                        case_id,
                        {
                            "case_id": case_id,
                            "provider_org_id": rng.choice(providers)[1],
                            "kind": "mentoring",
                            "plan": "",
                            "created_at": NOW,
                            "state": rng.choice(("proposed", "active", "active", "withdrawn")),
                        },
                    )
                )
            for case_id in rng.sample(ids, per_net_cases // 2):
                consent_id += 1
                state = rng.choice(("given", "given", "refused", "requested", "withdrawn"))
                consents.append(
                    sealer.seal(
                        Consent,
                        case_id,
                        {
                            "id": consent_id,
                            "case_id": case_id,
                            "state": state,
                            "recorded_by": 1,
                            "requested_at": NOW,
                            "given_by": "subject",
                            "guardian_name": "",
                            "method": "",
                            "notes": "",
                        },
                    )
                )
                if state == "given":
                    for category, kind in (
                        ("support", "civil_society"),
                        ("identity", "civil_society"),
                        ("special", "health"),
                        ("support", "youth"),
                    ):
                        scopes.append(
                            {
                                "consent_id": consent_id,
                                "category": category,
                                "org_kind": kind,
                                "purpose": "support",
                            }
                        )
            for case_id in rng.sample(ids, per_net_cases // 10):
                requests.append(
                    sealer.seal(
                        InformationRequest,
                        case_id,
                        {
                            "case_id": case_id,
                            "organisation_id": rng.choice(contacts)[1],
                            "question": "",
                            "state": rng.choice(("requested", "answered", "overdue")),
                            "requested_by": 1,
                            "created_at": NOW,
                            "due_at": NOW,
                        },
                    )
                )
            panel = by_role[(n, "panel_member")] + by_role[(n, "panel_chair")]
            for _ in range(max(2, per_net_cases // 100)):
                meeting_id += 1
                when = NOW + timedelta(days=rng.randint(-30, 10))
                meetings.append(
                    {
                        "id": meeting_id,
                        "network_id": n,
                        "state": "scheduled",
                        "scheduled_for": when,
                        "location": "",
                        "minutes": "",
                        "chair_user_id": by_role[(n, "panel_chair")][0][0],
                    }
                )
                for position, case_id in enumerate(rng.sample(ids, 10), 1):
                    agenda.append(
                        {"meeting_id": meeting_id, "case_id": case_id, "position": position}
                    )
                for user_id, _ in rng.sample(panel, min(8, len(panel))):
                    attendees.append(
                        {"meeting_id": meeting_id, "user_id": user_id, "attended": False}
                    )
        _insert(db, Intervention, interventions)
        _insert(db, Consent, consents)
        _insert(db, ConsentScopeRow, scopes)
        _insert(db, InformationRequest, requests)
        _insert(db, PanelMeeting, meetings)
        _insert(db, AgendaItem, agenda)
        _insert(db, MeetingAttendee, attendees)
    if engine.dialect.name == "postgresql":
        with engine.begin() as db:
            db.execute(text("ANALYZE"))


def naive_sample(
    runtime: Runtime, current: Authorizer, proposed: Authorizer, sample: int, rng: random.Random
) -> tuple[float, int, set[tuple[str, str, str, str]]]:
    """Seconds per (user, case) pair asked naively, pairs asked, and the changes found as
    (direction, subject, state, roles)."""
    rules = (*current.rules, *proposed.rules)
    subjects = {
        (r.obj, r.act, f"{r.obj}:{r.act}" if r.is_permission else f"{r.obj} ({r.act})")
        for r in rules
    }
    found: set[tuple[str, str, str, str]] = set()
    with UnitOfWork(runtime) as uow:
        session = uow.unscoped("the benchmark samples every network")
        network = session.get(Network, 1)
        assert network is not None
        held: dict[int, set[Role]] = {}
        for user_id, role in session.execute(
            select(RoleAssignment.user_id, RoleAssignment.role).where(
                RoleAssignment.network_id == 1
            )
        ):
            held.setdefault(user_id, set()).add(Role(role))
        people = {u.id: u for u in session.scalars(select(User).where(User.id.in_(held)))}
        case_ids = list(session.scalars(select(Case.id).where(Case.network_id == 1)))
        start = time.perf_counter()
        for _ in range(sample):
            user = people[rng.choice(list(held))]
            actor = Actor(
                user.id,
                user.organisation_id,
                OrgKind(user.organisation.kind),
                1,
                network.slug,
                frozenset(held[user.id]),
            )
            case = session.get(Case, rng.choice(case_ids))
            assert case is not None
            facts = uow.repo.case_facts(case, actor)
            for obj, act, subject in subjects:
                was = current.decide(actor, obj, act, facts, NOW).allowed
                becomes = proposed.decide(actor, obj, act, facts, NOW).allowed
                if was != becomes:
                    roles = " + ".join(sorted(str(r) for r in actor.roles))
                    found.add((LOSES if was else GAINS, subject, case.state, roles))
        seconds = time.perf_counter() - start
    return seconds / sample, sample, found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=10)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=2_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.networks, args.cases, args.users, args.sample = 2, 2_000, 400, 300
    configure_logging(Settings(log_level="WARNING"))
    rng = random.Random(args.seed)
    keyring = Keyring.from_config(f"bench:{new_master_key()}", None)
    with database(args.database_url) as (engine, kind), tempfile.TemporaryDirectory() as tmp:
        upgrade(engine)
        start = time.perf_counter()
        load(engine, args.networks, args.cases, args.users, rng, keyring)
        print(
            f"{kind}: {args.networks} networks, {args.cases:,} cases, {args.users:,} users"
            f" loaded in {time.perf_counter() - start:.1f} s"
        )
        current = Authorizer(PROJECT_ROOT / "policies")
        proposed = Authorizer(proposed_policy(Path(tmp)))
        runtime = Runtime(
            make_session_factory(engine, keyring),
            current,
            load_workflows(PROJECT_ROOT / "workflows"),
            WorkflowEngine(),
            lambda: NOW,
        )
        start = time.perf_counter()
        with UnitOfWork(runtime) as uow:
            impact = policy_impact(uow, current, proposed)
        diff_seconds = time.perf_counter() - start
        per_pair, asked, found = naive_sample(runtime, current, proposed, args.sample, rng)
    pairs_in_all = (args.users // args.networks) * (args.cases // args.networks) * args.networks
    naive_seconds = per_pair * pairs_in_all
    lines = {
        (x.direction, x.subject, x.state, x.roles) for x in impact.lines if x.network == "city-1"
    }
    missing = found - lines
    gained = sum(x.pairs for x in impact.lines if x.direction == GAINS)
    lost = sum(x.pairs for x in impact.lines if x.direction == LOSES)
    print(
        f"policy diff: {diff_seconds:.2f} s for {impact.users_checked:,} users in"
        f" {impact.groups_checked} groups and {impact.cases_checked:,} cases;"
        f" {len(impact.lines)} lines, {gained:,} pairs gained, {lost:,} lost"
    )
    print(
        f"naive, per pair: {per_pair * 1000:.3f} ms over {asked:,} sampled pairs"
        f" ({len(found)} kinds of change seen); all {pairs_in_all:,} pairs would take"
        f" {naive_seconds:,.0f} s = {naive_seconds / diff_seconds:,.0f}x the diff"
    )
    target = "met" if diff_seconds <= 10 else "NOT met"
    print(
        f"target: diff <= 10 s at 100,000 cases and 10,000 users: {target}"
        + ("" if not args.quick else " (quick mode: a smaller deployment)")
    )
    if missing:
        print(f"!!! the sample found changes the diff does not report: {sorted(missing)[:5]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
