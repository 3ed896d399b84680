"""A proposed policy's impact before it ships (issue 14, item 3): counted in SQL, checked
here against the Authorizer's own answer for every (user, case) pair, then applied with
the dpo's approval on record."""

import shutil
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from referral.audit.sequencer import sequence_pending
from referral.authz.enforcer import Authorizer
from referral.config import PROJECT_ROOT
from referral.db.engine import make_session_factory
from referral.db.tables import AuditEntry, Case, Network, RoleAssignment, User
from referral.demo import seed_demo
from referral.domain.actors import Actor
from referral.domain.errors import Conflict, PermissionDenied
from referral.domain.vocabulary import OrgKind, Role
from referral.services.policy_impact import (
    GAINS,
    LOSES,
    ApplyPolicy,
    ImpactLine,
    PolicyImpact,
    apply_policy,
    policy_impact,
)
from referral.services.uow import Runtime, UnitOfWork
from referral.workflow.machine import WorkflowEngine
from tests.conftest import TEST_KEYRING, TestClock

NO_SUPPORT = "p, provider, *, support, {act}, true, -, -, deny"


def copy_policies(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    shutil.copytree(PROJECT_ROOT / "policies", folder, ignore=shutil.ignore_patterns("tests"))
    return folder


def deny_providers_support(folder: Path) -> None:
    path = folder / "default.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines if not line.startswith("p, provider, *, support,")]
    kept += [NO_SUPPORT.format(act="read"), NO_SUPPORT.format(act="write")]
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")


@pytest.fixture
def deployment(fresh_database: Any, workflows: Any, tmp_path: Path) -> tuple[Runtime, Path, Path]:
    engine: Engine = fresh_database()
    live, proposed = copy_policies(tmp_path, "live"), copy_policies(tmp_path, "proposed")
    deny_providers_support(proposed)
    clock = TestClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    runtime = Runtime(
        make_session_factory(engine, TEST_KEYRING), Authorizer(live), workflows,
        WorkflowEngine(), clock,
    )  # fmt: skip
    seed_demo(runtime)
    return runtime, live, proposed


def actors(runtime: Runtime) -> list[Actor]:
    with runtime.session_factory() as session:
        rows = session.execute(
            select(User, RoleAssignment.role, Network)
            .join(RoleAssignment, RoleAssignment.user_id == User.id)
            .join(Network, Network.id == RoleAssignment.network_id)
        ).all()
        held: dict[tuple[int, int], set[Role]] = defaultdict(set)
        about: dict[tuple[int, int], tuple[Any, ...]] = {}
        for user, role, network in rows:
            held[(user.id, network.id)].add(Role(role))
            about[(user.id, network.id)] = (
                user.organisation_id,
                OrgKind(user.organisation.kind),
                network.slug,
            )
    return [
        Actor(user_id, org, kind, net_id, slug, frozenset(held[(user_id, net_id)]))
        for (user_id, net_id), (org, kind, slug) in about.items()
    ]


def changes_pair_by_pair(
    runtime: Runtime, before: Authorizer, after: Authorizer
) -> dict[tuple[str, str, str], set[tuple[int, int]]]:
    """The naive answer: ask both Authorizers about every (user, case, subject) there is."""
    found: dict[tuple[str, str, str], set[tuple[int, int]]] = defaultdict(set)
    now = runtime.clock()
    everyone = actors(runtime)
    rules = (*before.rules, *after.rules)
    subjects = {
        (r.obj, r.act, f"{r.obj}:{r.act}" if r.is_permission else f"{r.obj} ({r.act})")
        for r in rules
    }
    with UnitOfWork(runtime) as uow:
        cases = list(uow.unscoped("the test reads every case").scalars(select(Case)))
        for actor in everyone:
            for case in cases:
                facts = uow.repo.case_facts(case, actor)
                for obj, act, subject in subjects:
                    was = before.decide(actor, obj, act, facts, now).allowed
                    now_allowed = after.decide(actor, obj, act, facts, now).allowed
                    if was != now_allowed:
                        direction = LOSES if was else GAINS
                        found[(direction, subject, case.state)].add((actor.user_id, case.id))
    return dict(found)


def assert_reported_exactly(
    impact: PolicyImpact, expected: dict[tuple[str, str, str], set[tuple[int, int]]]
) -> None:
    reported: dict[tuple[str, str, str], list[ImpactLine]] = defaultdict(list)
    for line in impact.lines:
        reported[(line.direction, line.subject, line.state)].append(line)
    assert set(reported) == set(expected)
    for key, pairs in expected.items():
        lines = reported[key]  # one line a group of users; together, the pairs found
        assert sum(x.pairs for x in lines) == len(pairs), key
        assert sum(x.users for x in lines) == len({user for user, _ in pairs}), key
        assert max(x.cases for x in lines) <= len({case for _, case in pairs}), key
        assert {c for x in lines for c in x.sample} <= {case for _, case in pairs}, key


def test_denying_providers_support_is_a_loss_for_exactly_the_providers_and_cases_it_affects(
    deployment: tuple[Runtime, Path, Path],
) -> None:
    runtime, live, proposed = deployment
    with UnitOfWork(runtime) as uow:
        impact = policy_impact(uow, runtime.authz, Authorizer(proposed))
    expected = changes_pair_by_pair(runtime, runtime.authz, Authorizer(proposed))
    assert expected, "the demo has providers assigned to cases whose consent covers support"
    assert_reported_exactly(impact, expected)
    assert {(x.direction, x.roles, x.org_kind) for x in impact.lines} == {
        (LOSES, "provider", "civil_society")
    }
    for line in impact.lines:  # one group: its cases are the pairs' cases
        assert line.cases == len({case for _, case in expected[(LOSES, line.subject, line.state)]})
    assert impact.removed_rules and impact.added_rules == sorted(
        NO_SUPPORT.format(act=act) for act in ("read", "write")
    )

    # Applied, the live policy decides as the report said, and the approval is on record.
    dpo = next(a for a in actors(runtime) if Role.DPO in a.roles)
    with UnitOfWork(runtime) as uow:
        applied = apply_policy(
            uow, runtime.authz, ApplyPolicy(proposed, dpo, Authorizer(proposed).policy_hash)
        )
    assert applied == runtime.authz.policy_hash == Authorizer(proposed).policy_hash
    assert (live / "default.csv").read_bytes() == (proposed / "default.csv").read_bytes()
    assert changes_pair_by_pair(runtime, Authorizer(proposed), runtime.authz) == {}
    sequence_pending(runtime.session_factory)
    with runtime.session_factory() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "policy:apply")).one()
    assert entry.actor_role == "dpo" and entry.actor_user_id == dpo.user_id
    assert entry.change_digest and entry.target.startswith("policy:")


def test_only_a_dpo_applies_and_only_the_files_they_read(
    deployment: tuple[Runtime, Path, Path],
) -> None:
    runtime, live, proposed = deployment
    before = (live / "default.csv").read_bytes()
    people = actors(runtime)
    coordinator = next(a for a in people if a.roles == {Role.COORDINATOR})
    dpo = next(a for a in people if Role.DPO in a.roles)
    read_hash = Authorizer(proposed).policy_hash
    with UnitOfWork(runtime) as uow, pytest.raises(PermissionDenied):
        apply_policy(uow, runtime.authz, ApplyPolicy(proposed, coordinator, read_hash))
    with (proposed / "default.csv").open("a", encoding="utf-8") as extra:
        extra.write("p, referrer, *, special, read, own_referral, screening, public_task, allow\n")
    with UnitOfWork(runtime) as uow, pytest.raises(Conflict, match="changed since"):
        apply_policy(uow, runtime.authz, ApplyPolicy(proposed, dpo, read_hash))
    assert (live / "default.csv").read_bytes() == before


def test_a_mixed_change_of_gains_and_losses_is_reported_as_the_authorizer_decides(
    deployment: tuple[Runtime, Path, Path], tmp_path: Path
) -> None:
    runtime, _, _ = deployment
    mixed = copy_policies(tmp_path, "mixed")
    path = mixed / "default.csv"
    text = path.read_text(encoding="utf-8")
    # Coordinators lose criminal information once a case is closed (a change for every
    # coordinator at once); referrers gain the assessment of their own referrals (a change
    # pair by pair); screeners gain support plans (for all of them at once).
    text = text.replace(
        "p, coordinator, *, criminal, read, !in_state(draft), screening",
        "p, coordinator, *, criminal, read,"
        " !in_state(draft) & !in_state(closed) & !in_state(signposted), screening",
    )
    text += "p, referrer, *, assessment, read, own_referral, screening, public_task, allow\n"
    text += "p, screener, *, support, read, !in_state(draft), screening, public_task, allow\n"
    path.write_text(text, encoding="utf-8")
    proposed = Authorizer(mixed)
    with UnitOfWork(runtime) as uow:
        impact = policy_impact(uow, runtime.authz, proposed)
    expected = changes_pair_by_pair(runtime, runtime.authz, proposed)
    assert {direction for direction, *_ in expected} == {GAINS, LOSES}
    assert_reported_exactly(impact, expected)
