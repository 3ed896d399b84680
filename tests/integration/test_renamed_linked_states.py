"""Every state of the linked records' workflows renamed (issue 11, item 1): the operator's
commands set up, seed and check a deployment whose consents, requests, interventions and
meetings have names of its own, each state saying what it `means`.

Run as the `referral` command in a process of its own: the process learns its linked
state names once, at start (domain.states), as a deployment does.
"""

import shutil
import sqlite3
from pathlib import Path

from referral.config import PROJECT_ROOT
from tests.integration.conftest import referral
from tests.renaming import (
    PREFIX,
    rename_linked_states,
    rename_policy_states,
    rename_referral_workflow,
)


def _deployment(tmp_path: Path, *, say_what_they_mean: bool) -> dict[str, str]:
    folder = tmp_path / "workflows"
    shutil.copytree(PROJECT_ROOT / "workflows", folder)
    rename_linked_states(folder, say_what_they_mean=say_what_they_mean)
    database = tmp_path / "renamed.sqlite3"
    return {
        "REFERRAL_DATABASE_URL": f"sqlite:///{database}",
        "REFERRAL_WORKFLOWS_DIR": str(folder),
        "REFERRAL_LOG_LEVEL": "WARNING",
        "path": str(database),
    }


def test_the_demo_runs_whole_on_renamed_linked_states(tmp_path: Path) -> None:
    env = _deployment(tmp_path, say_what_they_mean=True)
    for command in (["db", "upgrade"], ["demo"], ["workflows", "check"], ["audit", "verify"]):
        result = referral(*command, env=env)
        assert result.returncode == 0, f"referral {' '.join(command)}: {result.stderr}"
    with sqlite3.connect(env["path"]) as db:
        linked = {
            table: {row[0] for row in db.execute(f"SELECT DISTINCT state FROM {table}")}
            for table in ("consents", "information_requests", "interventions", "panel_meetings")
        }
        case_states = {row[0] for row in db.execute("SELECT DISTINCT state FROM cases")}
    # Every record the demo made is in a renamed state, and the demo reached every case
    # state, its consents given, its interventions under way, its requests answered.
    assert all(s.startswith(PREFIX) for found in linked.values() for s in found), linked
    assert {f"{PREFIX}given", f"{PREFIX}withdrawn"} <= linked["consents"]
    assert f"{PREFIX}active" in linked["interventions"]
    assert f"{PREFIX}answered" in linked["information_requests"]
    assert {"closed", "support", "erased", "closed_consent_withdrawn"} <= case_states


def test_renamed_linked_states_that_do_not_say_what_they_mean_are_refused(
    tmp_path: Path,
) -> None:
    env = _deployment(tmp_path, say_what_they_mean=False)
    checked = referral("workflows", "check", env=env)
    assert checked.returncode == 1
    assert "consent.yaml: states: the code reads a consent in state 'given'" in checked.stderr
    started = referral("db", "upgrade", env=env)
    demo = referral("demo", env=env)
    assert started.returncode == 0  # migrations need no workflow
    assert demo.returncode != 0 and "means: given" in demo.stderr


def test_the_demo_script_refuses_a_renamed_referral_workflow_and_writes_nothing(
    tmp_path: Path,
) -> None:
    # The product runs on a renamed referral workflow (test_renamed_workflow.py); the demo's
    # script of synthetic cases is written for the shipped one, and says so.
    env = _deployment(tmp_path, say_what_they_mean=True)
    rename_referral_workflow(Path(env["REFERRAL_WORKFLOWS_DIR"]))
    policies = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", policies, ignore=shutil.ignore_patterns("tests"))
    rename_policy_states(policies)
    env["REFERRAL_POLICIES_DIR"] = str(policies)
    assert referral("db", "upgrade", env=env).returncode == 0
    assert referral("workflows", "check", env=env).returncode == 0
    demo = referral("demo", env=env)
    assert demo.returncode != 0
    assert "referral.yaml: the demo scripts the shipped referral workflow" in demo.stderr
    with sqlite3.connect(env["path"]) as db:
        assert db.execute("SELECT count(*) FROM users").fetchone() == (0,)
