"""`referral subjects export` on the demo database, as an operator would run it."""

import json
import sqlite3
from pathlib import Path

from tests.integration.test_cli import referral


def subject_in_support(path: str) -> int:
    with sqlite3.connect(path) as connection:
        row = connection.execute(
            "SELECT subject_id FROM cases WHERE state = 'support' ORDER BY id LIMIT 1"
        ).fetchone()
    return int(row[0])


def test_export_writes_the_json_and_the_page_and_is_audited(
    demo_copy: dict[str, str], tmp_path: Path
) -> None:
    subject_id = subject_in_support(demo_copy["path"])
    out = tmp_path / "bundle"
    result = referral("subjects", "export", str(subject_id), "--out", str(out), env=demo_copy)
    assert result.returncode == 0, result.stderr
    json_path, html_path = out / f"subject-{subject_id}.json", out / f"subject-{subject_id}.html"
    assert result.stdout.split() == [str(json_path), str(html_path)]
    bundle = json.loads(json_path.read_text(encoding="utf-8"))
    assert bundle["subject_id"] == subject_id and not bundle["erased"]
    assert bundle["subject"]["identity"]["given_name"] not in ("", "erased")
    assert bundle["cases"][0]["records"]["interventions"]
    assert {a["case_id"] for a in bundle["accesses"]} == {c["id"] for c in bundle["cases"]}
    page = html_path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert bundle["subject"]["identity"]["given_name"] in page
    with sqlite3.connect(demo_copy["path"]) as connection:
        last = connection.execute(
            "SELECT action, target, case_id, actor_role FROM audit_log ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert last == ("subject:export", f"subject:{subject_id}", None, "system")
    assert referral("audit", "verify", env=demo_copy).returncode == 0


def test_export_refuses_an_unknown_subject_writing_nothing(
    demo_copy: dict[str, str], tmp_path: Path
) -> None:
    result = referral("subjects", "export", "999999", "--out", str(tmp_path), env=demo_copy)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: subject 999999 not found"
    assert list(tmp_path.iterdir()) == []
