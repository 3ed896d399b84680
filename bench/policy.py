"""Decision latency of the Authorizer against plain Casbin, over large synthetic policies.

    python bench/policy.py [--quick]

For 1,000, 10,000 and 100,000 rules (`--quick`: 1,000 and 2,000) it writes a policy
directory: the shipped `*` rules plus many synthetic networks, each with rules of its
own. It asks random questions (actors of those networks, every category and
permission, random case facts), allowed and denied alike, and times each decision:

- warm: the question was asked before, so its decision is cached;
- cold: the first question of its (network, obj, act) after `reload()`: the shard's
  enforcer is built, the plan made and Casbin asked;
- casbin: one plain `casbin.Enforcer` over every rule, no shards, no cache. It walks
  every rule (about 7 µs each), so fewer questions are sampled for large policies.

Every sampled plain-Casbin answer is checked against the Authorizer's. Targets
(reported, not asserted): warm p50 <= 20 µs and cold <= 2 ms at 10,000 rules, and
at 100,000 rules no more than 1.2x the 10,000-rule figures.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import casbin

from referral.authz.conditions import Question
from referral.authz.enforcer import (
    CATEGORY_ACTIONS,
    Authorizer,
    Permission,
    _has_role,
    _holds,
)
from referral.config import PROJECT_ROOT
from referral.domain.actors import Actor
from referral.domain.facts import CaseFacts, ConsentScope, MeetingSlot
from referral.domain.vocabulary import Category, OrgKind, Purpose, Role

SHIPPED = PROJECT_ROOT / "policies"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RULES_PER_NETWORK = 100
PAIRS = (
    *((str(c), act) for c in Category for act in CATEGORY_ACTIONS),
    *(tuple(str(p).split(":")) for p in Permission),
)
CONDITIONS = (
    "true",
    "in_state(support, review)",
    "assigned & consent_given",
    "on_agenda",
    "own_referral | coordinates",
    "org_kind_in(health, police)",
    "!in_state(draft) & assigned",
    "consent_covers",
)
STATES = ("draft", "screening", "awaiting_panel", "panel_review", "support", "review", "closed")
ME, OTHER, MY_ORG = 1, 2, 10
CATEGORIES = frozenset(str(c) for c in Category)
CASBIN_SECONDS = 4.0  # time budget for plain Casbin per size
SECONDS_PER_RULE = 7e-6  # plain Casbin's cost per rule, to size its sample


@dataclass(frozen=True, slots=True)
class Row:
    rules: int
    path: str
    micros: list[float]

    def p(self, percent: int) -> float:
        ordered = sorted(self.micros)
        return ordered[min(len(ordered) - 1, len(ordered) * percent // 100)]


# -- the synthetic policy -----------------------------------------------------------


def write_policy(root: Path, size: int, rnd: random.Random) -> int:
    """Shipped rules plus networks of their own rules, `size` rules in all; the networks."""
    directory = root / "policies"
    directory.mkdir()
    shutil.copy(SHIPPED / "model.conf", directory / "model.conf")
    shutil.copy(SHIPPED / "default.csv", directory / "default.csv")
    shared = sum(1 for line in (SHIPPED / "default.csv").open() if line.startswith("p,"))
    templates = [(r, pair, c) for r in Role for pair in PAIRS for c in CONDITIONS]
    lines: list[str] = []
    network = 0
    while shared + len(lines) < size:
        for role, (obj, act), condition in rnd.sample(templates, RULES_PER_NETWORK):
            tail = "-, -, deny" if rnd.random() < 0.1 else "screening, public_task, allow"
            if role is Role.PROVIDER and obj in CATEGORIES and tail.endswith("allow"):
                # Consent binds the provider whole: the loader refuses any other read.
                condition = f"({condition}) & consent_covers"
            lines.append(f"p, {role}, net{network}, {obj}, {act}, {condition}, {tail}")
        network += 1
    (directory / "networks.csv").write_text("\n".join(lines[: size - shared]) + "\n")
    return network


def question(rnd: random.Random, networks: int, network: int | None = None) -> Question:
    n = rnd.randrange(networks) if network is None else network
    roles = frozenset({rnd.choice(list(Role))})
    actor = Actor(ME, MY_ORG, rnd.choice(list(OrgKind)), n, f"net{n}", roles)
    meeting = MeetingSlot(1, NOW - timedelta(days=rnd.choice((-8, -2, 0, 3))), rnd.random() < 0.7)
    facts = CaseFacts(
        case_id=rnd.randrange(1, 1_000_000),
        network_id=n,
        state=rnd.choice(STATES),
        referrer_user_id=rnd.choice((ME, OTHER)),
        coordinator_user_id=rnd.choice((None, ME, OTHER)),
        meetings=(meeting,) if rnd.random() < 0.5 else (),
        provider_org_ids=frozenset({MY_ORG}) if rnd.random() < 0.5 else frozenset(),
        consent_state=rnd.choice(("not_sought", "given", "withdrawn")),
        consent_scope=frozenset(
            {ConsentScope(rnd.choice(list(Category)), actor.org_kind, Purpose.SUPPORT)}
        ),
    )
    obj, act = rnd.choice(PAIRS)
    return Question(actor, facts, obj, act, NOW)


# -- timing -------------------------------------------------------------------------


def decide(authz: Authorizer, q: Question) -> Any:
    return authz.decide(q.actor, q.obj, q.act, q.facts, q.now)


def timed(authz: Authorizer, questions: Iterable[Question]) -> list[float]:
    micros = []
    for q in questions:
        start = time.perf_counter_ns()
        decide(authz, q)
        micros.append((time.perf_counter_ns() - start) / 1000)
    return micros


def plain_casbin(authz: Authorizer) -> Any:
    model = casbin.Enforcer.new_model(text=(authz.policy_dir / "model.conf").read_text())
    enforcer = casbin.Enforcer(model)
    enforcer.add_function("has_role", _has_role)
    enforcer.add_function("holds", _holds)
    enforcer.add_named_policies("p", [list(rule.fields) for rule in authz.rules])
    return enforcer


def casbin_timed(authz: Authorizer, enforcer: Any, questions: list[Question]) -> list[float]:
    micros = []
    for q in questions:
        start = time.perf_counter_ns()
        allowed, fields = enforcer.enforce_ex(q.actor, q.actor.network, q.obj, q.act, q)
        micros.append((time.perf_counter_ns() - start) / 1000)
        ours = decide(authz, q)
        if (ours.allowed, ours.rule) != (bool(allowed), tuple(fields)):
            sys.exit(f"disagreement with plain Casbin on {q}")
    return micros


def run(size: int, pool: int, rnd: random.Random) -> tuple[list[Row], str]:
    root = Path(tempfile.mkdtemp(prefix="bench-policy-"))
    try:
        networks = write_policy(root, size, rnd)
        start = time.perf_counter()
        authz = Authorizer(root / "policies")
        loaded = time.perf_counter() - start
        questions = [question(rnd, networks) for _ in range(pool)]
        # Cold: first question of its scope after reload(), one per network and pair.
        cold = {(q.actor.network, q.obj, q.act): q for q in questions}
        authz.reload()
        cold_micros = timed(authz, cold.values())
        for q in questions:
            decide(authz, q)
        allowed = [q for q in questions if decide(authz, q).allowed]
        denied = [q for q in questions if not decide(authz, q).allowed]
        rows = [
            Row(size, "cached, warm, allow", timed(authz, allowed)),
            Row(size, "cached, warm, deny", timed(authz, denied)),
            Row(size, "cached, cold", cold_micros),
        ]
        enforcer = plain_casbin(authz)
        half = max(3, int(CASBIN_SECONDS / (SECONDS_PER_RULE * size)) // 2)
        rows.append(Row(size, "plain casbin, allow", casbin_timed(authz, enforcer, allowed[:half])))
        rows.append(Row(size, "plain casbin, deny", casbin_timed(authz, enforcer, denied[:half])))
        note = f"{size:,} rules: {networks:,} networks, loaded in {loaded:.2f} s"
        return rows, note
    finally:
        shutil.rmtree(root)


# -- report -------------------------------------------------------------------------


def report(rows: list[Row], notes: list[str]) -> None:
    casbin_micros: dict[int, list[float]] = {}
    for r in rows:
        if "casbin" in r.path:
            casbin_micros.setdefault(r.rules, []).extend(r.micros)
    baseline = {size: statistics.median(micros) for size, micros in casbin_micros.items()}
    print(f"{'rules':>8}  {'path':<22}{'n':>6}{'p50 µs':>11}{'p99 µs':>11}{'casbin p50 / p50':>18}")
    for r in rows:
        ratio = baseline[r.rules] / r.p(50)
        print(
            f"{r.rules:>8,}  {r.path:<22}{len(r.micros):>6}"
            f"{r.p(50):>11.1f}{r.p(99):>11.1f}{ratio:>17,.0f}x"
        )
    for note in notes:
        print(f"  {note}")
    targets(rows)


def targets(rows: list[Row]) -> None:
    def figure(size: int, path: str, percent: int) -> float | None:
        found = [m for r in rows if r.rules == size and r.path.startswith(path) for m in r.micros]
        return Row(size, path, found).p(percent) if found else None

    warm10, cold10 = figure(10_000, "cached, warm", 50), figure(10_000, "cached, cold", 99)
    if warm10 is None or cold10 is None:
        print("targets: need the 10,000-rule run (without --quick)")
        return
    print(f"target warm p50 <= 20 µs at 10,000 rules: {warm10:.1f} µs, {_met(warm10 <= 20)}")
    cold_ms = cold10 / 1000
    print(f"target cold p99 <= 2 ms at 10,000 rules: {cold_ms:.2f} ms, {_met(cold_ms <= 2)}")
    warm100, cold100 = figure(100_000, "cached, warm", 50), figure(100_000, "cached, cold", 99)
    if warm100 is not None and cold100 is not None:
        print(
            f"target 100,000 rules <= 1.2x 10,000: warm p50 {warm100 / warm10:.2f}x,"
            f" cold p99 {cold100 / cold10:.2f}x,"
            f" {_met(warm100 <= 1.2 * warm10 and cold100 <= 1.2 * cold10)}"
        )


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    args = parser.parse_args()
    sizes, pool = ((1_000, 2_000), 2_000) if args.quick else ((1_000, 10_000, 100_000), 20_000)
    rnd = random.Random(20260302)
    rows: list[Row] = []
    notes: list[str] = []
    for size in sizes:
        size_rows, note = run(size, pool, rnd)
        rows += size_rows
        notes.append(note)
    report(rows, notes)


if __name__ == "__main__":
    main()
