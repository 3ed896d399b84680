"""Running cases moved to a new version of their workflow (issue 14): the demo's cases, one
in every state of the reference workflow, migrated from the shipped version to the next
one, which renames one state (screening becomes triage, with a shorter deadline) and splits
another (support is preceded by a new support_planned, which a timer leaves). Real commits,
so each case's own transaction, its timers and its audit entry are what the database
holds."""

import re
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, select

from referral.audit.sequencer import sequence_pending
from referral.audit.verify import verify
from referral.authz.enforcer import Authorizer
from referral.config import PROJECT_ROOT
from referral.db.engine import make_session_factory
from referral.db.tables import AuditEntry, Case, CaseStatistics, Timer
from referral.demo import TARGETS, seed_demo
from referral.domain.calendar import add_days, add_period
from referral.domain.errors import InvalidInput, NotFound
from referral.services import screening
from referral.services.migration import OPERATOR_RULE, MigrateCases, migrate
from referral.services.uow import Runtime
from referral.workflow.loader import load_workflows
from referral.workflow.machine import WorkflowEngine
from tests.conftest import TEST_KEYRING, TestClock
from tests.factories import make_world, submit
from tests.integration.conftest import referral

RENAMED, SPLIT, BEFORE_SPLIT = ("screening", "triage"), "support", "support_planned"
MAPPING = {RENAMED[0]: RENAMED[1], SPLIT: BEFORE_SPLIT}
PLANNING_DAYS = 14
TRIAGE_DAYS = 3
# The shipped referral version, which the demo's cases start on, and the one derived here.
CURRENT = yaml.safe_load((PROJECT_ROOT / "workflows" / "referral.yaml").read_text())["version"]
NEXT = CURRENT + 1


def next_version(folder: Path) -> None:
    """Keep the current version under earlier/ and write the next one as referral.yaml."""
    current = folder / "referral.yaml"
    (folder / "earlier").mkdir(exist_ok=True)
    shutil.copy(current, folder / "earlier" / f"referral-v{CURRENT}.yaml")
    spec = yaml.safe_load(current.read_text(encoding="utf-8"))
    spec["version"] = NEXT

    def rename(name: str) -> str:
        return RENAMED[1] if name == RENAMED[0] else name

    def with_split(names: list[str]) -> list[str]:
        return [n for name in names for n in ((BEFORE_SPLIT, name) if name == SPLIT else (name,))]

    for state in spec["states"]:
        state["name"] = rename(state["name"])
        state.pop("label", None) if state["name"] == RENAMED[1] else None
    at = next(i for i, s in enumerate(spec["states"]) if s["name"] == SPLIT)
    spec["states"].insert(at, {"name": BEFORE_SPLIT, "label": "Support being planned"})
    for transition in spec["transitions"]:
        source = transition["source"]
        if isinstance(source, list):
            transition["source"] = with_split([rename(s) for s in source])
        else:
            transition["source"] = rename(source)
        transition["dest"] = rename(transition["dest"])
        if transition["source"] == RENAMED[1] and transition.get("due"):
            transition["due"] = {"days": TRIAGE_DAYS, "working": True}
        if transition["trigger"] == "start_support":
            transition["dest"] = BEFORE_SPLIT
    spec["transitions"].append(
        {
            "trigger": "begin_support",
            "label": "Begin support",
            "source": BEFORE_SPLIT,
            "dest": SPLIT,
            "permission": "case:manage",
            "timer": {"days": PLANNING_DAYS},
        }
    )
    spec["operations"] = {
        op: with_split([rename(s) for s in states]) for op, states in spec["operations"].items()
    }
    if "handover" in spec:  # a case handed over from the new state continues as from support
        continues_at = spec["handover"]["continues_at"]
        continues_at = {rename(left): rename(entered) for left, entered in continues_at.items()}
        if SPLIT in continues_at:
            continues_at[BEFORE_SPLIT] = continues_at[SPLIT]
        spec["handover"]["continues_at"] = continues_at
    current.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")


def policy_for_next_version(folder: Path) -> None:
    """The policy's states of both versions: cases on the current one run on beside the next."""

    def follow(match: re.Match[str]) -> str:
        names = match.group(1).split(";")
        names += [RENAMED[1]] if RENAMED[0] in names else []
        names += [BEFORE_SPLIT] if SPLIT in names else []
        return "in_state(" + ";".join(names) + ")"

    for path in folder.glob("*.csv"):
        text = path.read_text(encoding="utf-8")
        path.write_text(re.sub(r"in_state\(([^)]*)\)", follow, text), encoding="utf-8")


def load_current_and_next(runtime: Runtime, tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    shutil.copytree(PROJECT_ROOT / "workflows", folder)
    next_version(folder)
    policies = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", policies, ignore=shutil.ignore_patterns("tests"))
    policy_for_next_version(policies)
    runtime.workflows = load_workflows(folder)
    runtime.authz = Authorizer(policies)
    runtime.engine = WorkflowEngine()


def runtime_on(engine: Engine, authz: Authorizer, workflows: Any) -> Runtime:
    clock = TestClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    return Runtime(
        make_session_factory(engine, TEST_KEYRING), authz, workflows, WorkflowEngine(), clock
    )


@pytest.fixture
def deployment(
    fresh_database: Any, authz: Authorizer, workflows: Any, tmp_path: Path
) -> tuple[Engine, Runtime]:
    """The demo's cases on the current version, then the runtime of a deployment that loads
    it and the next."""
    engine: Engine = fresh_database()
    runtime = runtime_on(engine, authz, workflows)
    seed_demo(runtime)
    load_current_and_next(runtime, tmp_path)
    runtime.clock.advance(days=2)  # type: ignore[attr-defined]  # the migration comes later
    return engine, runtime


def snapshot(runtime: Runtime) -> tuple[dict[int, tuple[Any, ...]], dict[int, dict[str, Any]]]:
    """Each case's (state, version, due, entered), and its pending timers by trigger."""
    with runtime.session_factory() as session:
        cases = {
            c.id: (c.state, c.workflow_version, c.due_at, c.state_entered_at, c.version)
            for c in session.scalars(select(Case))
        }
        timers: dict[int, dict[str, Any]] = {}
        pending = select(Timer).where(Timer.object_kind == "case", Timer.state == "pending")
        for timer in session.scalars(pending):
            timers.setdefault(timer.object_id, {})[timer.trigger] = timer.due_at
    return cases, timers


def test_every_state_of_the_reference_workflow_migrates_with_deadlines_timers_and_audit(
    deployment: tuple[Engine, Runtime],
) -> None:
    _, runtime = deployment
    before, timers_before = snapshot(runtime)
    occupied = {state for state, *_ in before.values()}
    assert occupied == set(TARGETS), "the demo puts a case in every state"
    next_hash = runtime.workflows["referral"].content_hash

    dry = migrate(runtime, MigrateCases("referral", CURRENT, NEXT, MAPPING, dry_run=True))
    assert (dry.moved, dry.refused) == (len(before), 0)
    assert snapshot(runtime) == (before, timers_before)  # a dry run writes nothing

    report = migrate(runtime, MigrateCases("referral", CURRENT, NEXT, MAPPING, dry_run=False))
    assert [line.refused for line in report.lines if line.refused] == []
    assert report.moved == len(before)
    after, timers_after = snapshot(runtime)
    for case_id, (state, _, due, entered, version) in before.items():
        new_state, new_version, new_due, new_entered, row_version = after[case_id]
        assert new_state == MAPPING.get(state, state)
        assert (new_version, new_entered, row_version) == (NEXT, entered, version + 1)
        if state == RENAMED[0]:  # the new, shorter deadline, counted from when it entered
            assert new_due == add_days(entered, TRIAGE_DAYS, working=True, holidays=frozenset())
            assert new_due != due
        else:
            assert new_due == due, state
    with runtime.session_factory() as session:
        hashes = set(session.scalars(select(Case.workflow_hash)))
        followed = {
            r[0]: r[1]
            for r in session.execute(select(CaseStatistics.case_id, CaseStatistics.state))
        }
    assert hashes == {next_hash}
    # National statistics count outcomes by the state they follow: it moved with the case.
    assert followed and {c: after[c][0] for c in followed} == followed

    by_state = {before[c][0]: c for c in before}
    split = by_state[SPLIT]
    assert set(timers_before[split]) == {"drift"}  # support waits on people: drift checks
    planned = add_period(before[split][3], days=PLANNING_DAYS, months=0, working=False)
    assert timers_after[split] == {"begin_support": planned}  # drift cancelled, timer added
    exited = by_state["exited"]  # its six-month timer moves with it, due when it was
    assert timers_after[exited] == timers_before[exited]
    assert set(timers_after[exited]) == {"follow_up_6m"}
    assert set(timers_after.get(by_state[RENAMED[0]], {})) == set(
        timers_before[by_state["screening"]]
    )

    sequence_pending(runtime.session_factory)
    with runtime.session_factory() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "case:migrate"))
        changes = {e.case_id: e for e in entries}
        assert set(changes) == set(before)
        entry = changes[by_state[RENAMED[0]]]
        assert entry.actor_role == "system" and entry.workflow_hash == next_hash
        assert entry.rule == OPERATOR_RULE and entry.change_digest  # what moved, digested
        result = verify(session)
        assert result.ok, result.problem

    again = migrate(runtime, MigrateCases("referral", CURRENT, NEXT, MAPPING, dry_run=False))
    assert again.lines == []  # nothing is left on the current version


def test_refused_cases_say_why_and_stay_as_they_were(deployment: tuple[Engine, Runtime]) -> None:
    _, runtime = deployment
    before = snapshot(runtime)
    mapping = {"panel_review": "closed", "information_gathering": BEFORE_SPLIT}
    report = migrate(runtime, MigrateCases("referral", CURRENT, NEXT, mapping, dry_run=False))
    refused = {line.from_state: line.refused for line in report.lines if line.refused}
    assert refused == {
        "screening": f"version {NEXT} has no state 'screening': map it with --map screening=STATE",
        "panel_review": (
            "'closed' would close the open case: a migration only changes where a case stands"
        ),
        "information_gathering": (
            "its 2 open information request(s) could no longer be acted on in"
            f" 'support_planned' of version {NEXT}"
        ),
    }
    cases_after, _ = snapshot(runtime)
    for case_id, (state, *_rest) in before[0].items():
        expected = CURRENT if state in refused else NEXT
        assert cases_after[case_id][1] == expected
        if state in refused:
            assert cases_after[case_id] == before[0][case_id]
            assert before[1].get(case_id) == snapshot(runtime)[1].get(case_id)


def test_a_mapping_naming_unknown_states_or_versions_is_refused_before_anything(
    deployment: tuple[Engine, Runtime],
) -> None:
    _, runtime = deployment
    before = snapshot(runtime)
    with pytest.raises(InvalidInput) as caught:
        migrate(
            runtime, MigrateCases("referral", CURRENT, NEXT, {"screnning": "triag"}, dry_run=False)
        )
    assert caught.value.message.splitlines() == [
        f"--map screnning=triag: version {NEXT} has no state 'triag'",
        f"--map screnning=triag: version {CURRENT} has no state 'screnning'",
    ]
    unloaded = rf"referral version {NEXT + 1} is not loaded \(loaded: (\d+, )*{CURRENT}, {NEXT}\)"
    with pytest.raises(NotFound, match=unloaded):
        migrate(runtime, MigrateCases("referral", CURRENT, NEXT + 1, dry_run=False))
    assert snapshot(runtime) == before


def test_cases_on_the_current_version_run_on_beside_new_cases_starting_on_the_next(
    fresh_database: Any, authz: Authorizer, workflows: Any, tmp_path: Path
) -> None:
    runtime = runtime_on(fresh_database(), authz, workflows)
    world = make_world(runtime)
    earlier = submit(world)
    world.run("screener", screening.start_screening, screening.StartScreening(earlier))
    load_current_and_next(runtime, tmp_path)

    outcome = screening.RecordScreeningOutcome(earlier, "gather_information")
    world.run("coordinator", screening.record_screening_outcome, outcome)
    later = submit(world)
    world.run("screener", screening.start_screening, screening.StartScreening(later))
    with runtime.session_factory() as session:
        rows = {c.id: (c.workflow_version, c.state) for c in session.scalars(select(Case))}
    assert rows == {earlier: (CURRENT, "information_gathering"), later: (NEXT, "triage")}


def test_the_command_reports_each_case_and_moves_them_for_real(
    demo_copy: dict[str, str], tmp_path: Path
) -> None:
    folder, policies = tmp_path / "workflows", tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "workflows", folder)
    next_version(folder)
    shutil.copytree(PROJECT_ROOT / "policies", policies, ignore=shutil.ignore_patterns("tests"))
    policy_for_next_version(policies)
    env = {
        **demo_copy,
        "REFERRAL_WORKFLOWS_DIR": str(folder),
        "REFERRAL_POLICIES_DIR": str(policies),
    }
    checked = referral("workflows", "check", env=env)
    assert checked.returncode == 0, checked.stderr
    shipped = len(list((PROJECT_ROOT / "workflows").rglob("*.yaml")))
    # The shipped files, and the current referral version kept beside the next one.
    assert checked.stdout.strip() == f"{shipped + 1} workflow file(s) valid and verified"
    maps = ("--map", "screening=triage", "--map", "support=support_planned")
    versions = ("--from", str(CURRENT), "--to", str(NEXT))

    unmapped = referral("workflows", "migrate", "referral", *versions, "--dry-run", env=env)
    assert unmapped.returncode == 1  # one case would be refused: the operator is told
    refused = unmapped.stdout.count(
        f": screening: refused: version {NEXT} has no state 'screening'"
    )
    assert refused >= 1 and unmapped.stdout.count(": refused: ") == refused
    assert f" {refused} refused (dry run: nothing written)" in unmapped.stdout

    real = referral("workflows", "migrate", "referral", *versions, *maps, env=env)
    assert real.returncode == 0, real.stderr
    assert "(demo-city): screening -> triage; deadline" in real.stdout
    assert (
        "(demo-city): support -> support_planned; cancelled: drift; added: begin_support"
        in real.stdout
    )
    assert real.stdout.rstrip().endswith("case(s) moved, 0 refused")
    with sqlite3.connect(env["path"]) as db:
        assert db.execute("SELECT DISTINCT workflow_version FROM cases").fetchall() == [(NEXT,)]
    assert referral("audit", "verify", env=env).returncode == 0

    bad = referral("workflows", "migrate", "referral", *versions, "--map", "x", env=env)
    assert bad.returncode == 1
    assert bad.stderr.strip() == "error: --map 'x': write it as OLD_STATE=NEW_STATE"
