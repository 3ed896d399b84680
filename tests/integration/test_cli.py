"""The `referral` command on a fresh SQLite file, as an operator would run it."""

import shutil
import sqlite3
from pathlib import Path

from referral.config import PROJECT_ROOT
from referral.workflow.loader import load_workflow
from tests.integration.conftest import referral

__all__ = ["referral"]  # other modules run the command through this name too


def test_fresh_database_demo_checks_and_verifies(demo_database: dict[str, str]) -> None:
    with sqlite3.connect(demo_database["path"]) as connection:
        states = {row[0] for row in connection.execute("SELECT DISTINCT state FROM cases")}
        cases = connection.execute("SELECT count(*) FROM cases").fetchone()[0]
        users = {row[0] for row in connection.execute("SELECT username FROM users")}
        # The health agency's contact has requests to health waiting for its answer.
        open_to_health = connection.execute(
            "SELECT count(*) FROM information_requests r"
            " JOIN organisations o ON o.id = r.organisation_id"
            " WHERE o.kind = 'health' AND r.state = 'requested'"
        ).fetchone()[0]
        contacts = connection.execute(
            "SELECT u.username, o.kind FROM users u"
            " JOIN organisations o ON o.id = u.organisation_id"
            " JOIN role_assignments a ON a.user_id = u.id WHERE a.role = 'agency_contact'"
        ).fetchall()
    assert cases >= 20
    assert users >= {
        "referrer",
        "coordinator",
        "screener",
        "panel",
        "chair",
        "provider",
        "health_contact",
        "dpo",
        "admin",
    }
    # Each city's health agency has its contact (demo-city's and harbour's).
    assert sorted(contacts) == [("harbour-health-contact", "health"), ("health_contact", "health")]
    # The second city, the national tier and the person who works in both cities.
    assert users >= {
        "harbour-coordinator",
        "harbour-referrer",
        "national-admin",
        "national-coordinator",
        "analyst",
        "two-cities",
    }
    assert open_to_health >= 1
    workflow_states = {
        "draft", "submitted", "screening", "closed_no_action", "signposted", "police_led",
        "information_gathering", "awaiting_panel", "panel_review", "consent_pending", "support",
        "review", "exited", "follow_up_6m", "follow_up_12m", "closed", "closed_consent_refused",
        "closed_consent_withdrawn", "transferred", "erased",
    }  # fmt: skip
    assert states == workflow_states


def test_demo_refuses_a_populated_database_unless_told_to_skip(
    demo_database: dict[str, str],
) -> None:
    again = referral("demo", "--if-empty", env=demo_database)
    assert again.returncode == 0
    assert "skipped" in again.stdout


def test_verify_names_an_entry_altered_behind_the_applications_back(
    demo_database: dict[str, str], tmp_path: Path
) -> None:
    copy = tmp_path / "tampered.sqlite3"
    shutil.copy(demo_database["path"], copy)
    with sqlite3.connect(copy) as connection:
        connection.execute("DROP TRIGGER audit_log_no_update")
        connection.execute("UPDATE audit_log SET actor_user_id = 1 WHERE seq = 7")
    result = referral(
        "audit", "verify", env={**demo_database, "REFERRAL_DATABASE_URL": f"sqlite:///{copy}"}
    )
    assert result.returncode == 1
    assert "entry 7" in result.stderr


def test_workflows_check_names_file_and_place_of_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    text = (PROJECT_ROOT / "workflows" / "consent.yaml").read_text()
    broken.write_text(text.replace("dest: given", "dest: gvien", 1))
    result = referral("workflows", "check", str(broken), env={})
    assert result.returncode == 1
    assert "broken.yaml" in result.stderr
    assert "gvien" in result.stderr


def test_workflows_check_names_an_unknown_operation_and_an_unknown_state_in_it(
    tmp_path: Path,
) -> None:
    text = (PROJECT_ROOT / "workflows" / "referral.yaml").read_text()
    unknown_operation = tmp_path / "operation.yaml"
    unknown_operation.write_text(text.replace("  contribute: [", "  contribut: [", 1))
    unknown_state = tmp_path / "state.yaml"
    unknown_state.write_text(text.replace("decide: [panel_review]", "decide: [panel_reveiw]", 1))
    result = referral("workflows", "check", str(unknown_operation), str(unknown_state), env={})
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert any(
        line.startswith(f"{unknown_operation}: operations.contribut: unknown operation")
        for line in lines
    ), result.stderr
    assert f"{unknown_state}: operations.decide[0]: unknown state 'panel_reveiw'" in lines


def test_policy_test_names_file_and_line_of_a_broken_policy(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", policies)
    csv = policies / "default.csv"
    lines = csv.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith("p,"))
    lines[index] = lines[index].replace("allow", "alow")
    csv.write_text("\n".join(lines) + "\n")
    result = referral("policy", "test", env={"REFERRAL_POLICIES_DIR": str(policies)})
    assert result.returncode == 1
    assert f"default.csv: line {index + 1}" in result.stderr


def test_policy_report_writes_a_standalone_html_page(tmp_path: Path) -> None:
    out = tmp_path / "agreement.html"
    result = referral("policy", "report", "--format", "html", "--out", str(out), env={})
    assert result.returncode == 0, result.stderr
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<caption>" in page and "record a panel decision" in page


def test_policy_report_refuses_an_unknown_format() -> None:
    result = referral("policy", "report", "--format", "pdf", env={})
    assert result.returncode != 0
    assert "Invalid value for '--format': 'pdf' is not one of 'markdown', 'html'" in result.stderr


def test_a_workflow_edited_without_a_new_version_stops_the_command_naming_the_file(
    demo_database: dict[str, str], tmp_path: Path
) -> None:
    copy = tmp_path / "pinned.sqlite3"
    shutil.copy(demo_database["path"], copy)
    folder = tmp_path / "workflows"
    shutil.copytree(PROJECT_ROOT / "workflows", folder)
    edited = folder / "referral.yaml"
    edited.write_text(edited.read_text().replace("Follow-up complete.", "Follow-ups done."))
    env = {
        **demo_database,
        "REFERRAL_DATABASE_URL": f"sqlite:///{copy}",
        "REFERRAL_WORKFLOWS_DIR": str(folder),
    }
    result = referral("tick", env=env)
    assert result.returncode != 0
    version = load_workflow(PROJECT_ROOT / "workflows" / "referral.yaml").version
    assert f"{edited}: the content of referral version {version} changed" in result.stderr
    assert "Traceback" not in result.stderr


def test_workflows_check_names_a_rule_no_state_can_satisfy(tmp_path: Path) -> None:
    """The fit checks run from the command. (Every permission is asked for now, the
    analyst's statistics:read included: tests/unit/test_authz_fit.py covers a permission
    nobody asks for.)"""
    policies = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", policies)
    shipped = (policies / "default.csv").read_text()
    extra = "p, coordinator, *, status, read, in_state(supprot), screening, public_task, allow\n"
    (policies / "default.csv").write_text(shipped + extra)
    lines = len((shipped + extra).splitlines())
    result = referral("workflows", "check", env={"REFERRAL_POLICIES_DIR": str(policies)})
    assert result.returncode == 1
    assert f"default.csv: line {lines}: condition 'in_state(supprot)' names 'supprot'" in (
        result.stderr
    )


def test_demo_training_adds_the_training_network_to_a_seeded_demo(
    demo_copy: dict[str, str],
) -> None:
    result = referral("demo", "--training", env=demo_copy)
    assert result.returncode == 0, result.stderr
    assert "training seeded" in result.stdout
    with sqlite3.connect(demo_copy["path"]) as connection:
        kind, cases = connection.execute(
            "SELECT n.kind, count(c.id) FROM networks n JOIN cases c ON c.network_id = n.id"
            " WHERE n.slug = 'training' GROUP BY n.kind"
        ).fetchone()
    assert kind == "training" and cases >= 3
    again = referral("demo", "--training", env=demo_copy)
    assert again.returncode != 0 and "already has users" in again.stderr


def test_networks_create_names_each_bad_option_then_creates_and_lists(
    demo_copy: dict[str, str],
) -> None:
    bad = referral(
        "networks", "create", "--name", " ", "--slug", "harbour", "--time-zone", "Mars/Base",
        env=demo_copy,
    )  # fmt: skip
    assert bad.returncode == 1
    assert "error: --name: Enter the network's name." in bad.stderr
    assert "error: --slug: The short name 'harbour' is already used" in bad.stderr
    assert "error: --time-zone: Enter a time zone by its IANA name" in bad.stderr
    made = referral(
        "networks", "create", "--name", "North Coast", "--slug", "north-coast",
        "--languages", "nl,en", "--admin", "national-admin", env=demo_copy,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    listed = referral("networks", "list", env=demo_copy)
    assert "north-coast\tcity\tEurope/London\tnl,en\tNorth Coast" in listed.stdout
    assert "national\tnational\t" in listed.stdout


def test_policy_report_ends_with_every_networks_review_dates(
    demo_database: dict[str, str],
) -> None:
    result = referral("policy", "report", env=demo_database)
    assert result.returncode == 0, result.stderr
    dates = result.stdout.split("## Review dates", 1)[1]
    assert "| harbour | protocol (version 1) |" in dates
    assert "| demo-city | sharing agreement |" in dates
    assert "| national | protocol | not set |" in dates
