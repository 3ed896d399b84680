"""`referral export fhir CASE_ID --as USERNAME`: the export under that user's policy."""

import json
import sqlite3
from pathlib import Path

from fhir.resources.R4B.bundle import Bundle

from tests.fhir_r4 import r4_valid
from tests.integration.conftest import referral


def _case_in(path: str, state: str) -> int:
    with sqlite3.connect(path) as connection:
        row = connection.execute("SELECT min(id) FROM cases WHERE state = ?", (state,)).fetchone()
    assert row[0] is not None
    return int(row[0])


def test_export_fhir_follows_the_named_users_policy(
    demo_copy: dict[str, str], tmp_path: Path
) -> None:
    case_id = _case_in(demo_copy["path"], "support")
    out = tmp_path / "case.json"
    args = ("export", "fhir", str(case_id), "--out", str(out))
    result = referral(*args, "--as", "coordinator", env=demo_copy)
    assert result.returncode == 0, result.stderr
    coordinator = Bundle.model_validate_json(out.read_text())
    r4_valid(json.loads(out.read_text()))
    result = referral(*args, "--as", "provider", env=demo_copy)
    assert result.returncode == 0, result.stderr
    provider = Bundle.model_validate_json(out.read_text())
    kinds = {e.resource.get_resource_type() for e in coordinator.entry or []}
    assert "AuditEvent" in kinds
    assert "AuditEvent" not in {e.resource.get_resource_type() for e in provider.entry or []}
    assert len(json.dumps(coordinator.model_dump(mode="json"))) > len(out.read_text())


def test_export_fhir_of_a_case_out_of_scope_is_not_found(demo_copy: dict[str, str]) -> None:
    case_id = _case_in(demo_copy["path"], "submitted")
    result = referral("export", "fhir", str(case_id), "--as", "provider", env=demo_copy)
    assert result.returncode == 1
    assert f"case {case_id} not found" in result.stderr
    assert result.stdout == ""
    result = referral("export", "fhir", str(case_id), "--as", "nobody", env=demo_copy)
    assert result.returncode == 1 and "no active user 'nobody'" in result.stderr
