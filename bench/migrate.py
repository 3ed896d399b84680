"""`referral workflows migrate` over many running cases, beside a bare write per case.

    python bench/migrate.py [--cases N] [--database-url URL] [--quick]

Loads `--cases` (10,000) cases of the shipped referral workflow's version in every
state, closed ones closed, open ones with their pending timers, then loads the next version,
which renames `screening` to `triage`, beside it and migrates every case: each in its own
transaction, with its deadline and timers recomputed and an audit entry queued. The audit
entries are then placed in the chain (timed apart). Beside it, in the same run, the floor:
a transaction per case that only bumps the case's version and inserts one row. Every
case must move. `--quick` (300 cases) keeps the script from rotting in CI.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from lists import Sealer, _insert  # bench/lists.py: the bulk loader's sealing
from scratch import database
from sqlalchemy import Engine, func, select, text, update

from referral.audit.sequencer import sequence_pending
from referral.authz.enforcer import Authorizer
from referral.config import PROJECT_ROOT, Settings
from referral.db.engine import make_session_factory
from referral.db.migrate import upgrade
from referral.db.tables import AuditEntry, Case, Network, Organisation, Subject, Timer, User
from referral.keyring import Keyring, new_master_key
from referral.logging import configure_logging
from referral.services.migration import MigrateCases, migrate
from referral.services.uow import Runtime
from referral.workflow.loader import load_workflows
from referral.workflow.machine import WorkflowEngine

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def next_version(folder: Path) -> int:
    """Copy the shipped workflows to `folder`, the current referral version kept under
    earlier/ and the next one (`screening` renamed) as referral.yaml; return its number."""
    shutil.copytree(PROJECT_ROOT / "workflows", folder)
    current = folder / "referral.yaml"
    spec = yaml.safe_load(current.read_text(encoding="utf-8"))
    (folder / "earlier").mkdir(exist_ok=True)
    shutil.copy(current, folder / "earlier" / f"referral-v{spec['version']}.yaml")
    spec["version"] += 1

    def rename(name: str) -> str:
        return "triage" if name == "screening" else name

    for state in spec["states"]:
        state["name"] = rename(state["name"])
    for transition in spec["transitions"]:
        source = transition["source"]
        transition["source"] = (
            [rename(s) for s in source] if isinstance(source, list) else rename(source)
        )
        transition["dest"] = rename(transition["dest"])
    spec["operations"] = {
        op: [rename(s) for s in states] for op, states in spec["operations"].items()
    }
    if "handover" in spec:
        continues_at = spec["handover"]["continues_at"].items()
        spec["handover"]["continues_at"] = {rename(k): rename(v) for k, v in continues_at}
    current.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return int(spec["version"])


def load(engine: Engine, cases: int, rng: random.Random, keyring: Keyring) -> None:
    workflow = load_workflows(PROJECT_ROOT / "workflows")["referral"]
    states = [s for s in workflow.state_names if s != "erased"]
    closed = workflow.closed_states | workflow.final_states
    with engine.begin() as db:
        sealer = Sealer(db, keyring)
        _insert(db, Network, [{"id": 1, "slug": "city", "name": "City"}])
        _insert(
            db, Organisation, [{"id": 1, "network_id": 1, "name": "School", "kind": "education"}]
        )
        _insert(
            db,
            User,
            [
                {
                    "id": 1,
                    "username": "u1",
                    "display_name": "U",
                    "organisation_id": 1,
                    "password_hash": "-",
                    "active": True,
                    "created_at": NOW,
                }
            ],
        )
        subjects, rows, timers = [], [], []
        for cid in range(1, cases + 1):
            key = sealer.new_key()
            subjects.append(
                sealer.seal(
                    Subject,
                    key,
                    {"id": cid, "network_id": 1, "data_key_id": key, "created_at": NOW},
                )
            )
            state = rng.choice(states)
            entered = NOW - timedelta(days=rng.randint(0, 60))
            rows.append(
                sealer.seal(
                    Case,
                    key,
                    {
                        "id": cid,
                        "network_id": 1,
                        "subject_id": cid,
                        "reference": f"BENCH-{cid}",
                        "state": state,
                        "workflow_name": "referral",
                        "workflow_version": workflow.version,
                        "workflow_hash": workflow.content_hash,
                        "version": 1,
                        "referrer_user_id": 1,
                        "referring_org_kind": "education",
                        "created_at": entered,
                        "state_entered_at": entered,
                        "due_at": None,
                        "closed_at": entered if state in closed else None,
                    },
                )
            )
            if state in workflow.open_states:
                timers.append(
                    {
                        "network_id": 1,
                        "case_id": cid,
                        "object_kind": "case",
                        "object_id": cid,
                        "workflow": "referral",
                        "source_state": state,
                        "trigger": "drift",
                        "kind": "drift",
                        "due_at": entered,
                        "run_after": entered,
                        "state": "pending",
                        "attempts": 0,
                        "last_error": "",
                        "note": "",
                        "created_at": entered,
                        "fired_at": None,
                    }
                )
        _insert(db, Subject, subjects)
        _insert(db, Case, rows)
        _insert(db, Timer, timers)
    if engine.dialect.name == "postgresql":
        with engine.begin() as db:
            db.execute(text("ANALYZE"))


def bare(engine: Engine, cases: int) -> float:
    """A transaction per case that only bumps its version and inserts one timer row."""
    start = time.perf_counter()
    for cid in range(1, cases + 1):
        with engine.begin() as db:
            db.execute(update(Case).where(Case.id == cid).values(version=Case.version + 1))
            db.execute(
                Timer.__table__.insert(),
                {
                    "network_id": 1,
                    "case_id": cid,
                    "object_kind": "case",
                    "object_id": cid,
                    "workflow": "referral",
                    "source_state": "x",
                    "trigger": "bare",
                    "kind": "drift",
                    "due_at": NOW,
                    "run_after": NOW,
                    "state": "cancelled",
                    "attempts": 0,
                    "last_error": "",
                    "note": "",
                    "created_at": NOW,
                    "fired_at": None,
                },
            )
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.cases = 300
    configure_logging(Settings(log_level="WARNING"))
    keyring = Keyring.from_config(f"bench:{new_master_key()}", None)
    with database(args.database_url) as (engine, kind), tempfile.TemporaryDirectory() as tmp:
        upgrade(engine)
        load(engine, args.cases, random.Random(args.seed), keyring)
        folder = Path(tmp) / "workflows"
        to = next_version(folder)
        runtime = Runtime(
            make_session_factory(engine, keyring),
            Authorizer(PROJECT_ROOT / "policies"),
            load_workflows(folder),
            WorkflowEngine(),
            lambda: NOW,
        )
        start = time.perf_counter()
        report = migrate(
            runtime, MigrateCases("referral", to - 1, to, {"screening": "triage"}, dry_run=False)
        )
        moved_in = time.perf_counter() - start
        start = time.perf_counter()
        placed = 0
        while batch := sequence_pending(runtime.session_factory):
            placed += batch
        sequenced_in = time.perf_counter() - start
        with runtime.session_factory() as session:
            moved = session.scalar(
                select(func.count()).select_from(Case).where(Case.workflow_version == to)
            )
            entries = session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "case:migrate")
            )
        floor = bare(engine, args.cases)
    per_case = moved_in / args.cases * 1000
    print(
        f"{kind}: {args.cases:,} cases migrated in {moved_in:.1f} s ({per_case:.2f} ms a case),"
        f" {report.refused} refused; {placed:,} audit entries placed in {sequenced_in:.1f} s"
    )
    print(
        f"floor (a transaction a case, UPDATE + INSERT): {floor:.1f} s"
        f" ({floor / args.cases * 1000:.2f} ms a case);"
        f" migration = {moved_in / floor:.1f}x the floor"
    )
    target = "met" if moved_in <= 60 * args.cases / 10_000 else "NOT met"
    print(
        f"target: 10,000 cases <= 60 s, each with its audit entry: {target}"
        + (" (at this size, pro rata)" if args.cases != 10_000 else "")
    )
    if report.refused or moved != args.cases or entries != args.cases:
        print(
            f"!!! expected every case moved and audited: {moved} on version {to}, {entries} entries"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
