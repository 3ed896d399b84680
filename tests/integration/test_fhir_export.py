"""The FHIR export: a valid R4 Bundle holding only what the reader may see, itself a
ledgered read; out of scope is 404. Validated with fhir.resources (its R4B models) and
with fhirclient's R4 (4.0.1) models (tests/fhir_r4.py)."""

import json
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select

from referral.db.tables import AuditEntry
from referral.domain.errors import NotFound
from referral.services.fhir import export_case
from referral.services.uow import Runtime
from tests.factories import make_world, schedule, submit, to_support
from tests.fhir_r4 import r4_valid


def _validated(bundle: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The bundle, parsed by the R4B models and by fhirclient's R4 (4.0.1) models (each
    raises on any structural error), by type."""
    Bundle.model_validate_json(json.dumps(bundle))
    r4_valid(bundle)
    found: dict[str, list[dict[str, Any]]] = {}
    for entry in bundle["entry"]:
        found.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    return found


def test_coordinator_and_provider_get_valid_bundles_with_different_content(
    runtime: Runtime,
) -> None:
    world = make_world(runtime)
    case_id, _ = to_support(world, schedule(world, runtime))

    provider = _validated(world.run("provider", export_case, case_id))
    coordinator = _validated(world.run("coordinator", export_case, case_id))

    text = json.dumps(coordinator)
    for mark in ("MARK-NARRATIVE", "MARK-CRIMINAL", "MARK-ASSESSMENT", "MARK-SUPPORT"):
        assert mark in text
    assert coordinator["Patient"][0]["name"][0]["family"] == "Fixture"
    codes = {t["code"]["text"] for t in coordinator["Task"]}
    assert {"Information request", "Intervention", "Panel decision"} <= codes
    assert coordinator["Consent"][0]["status"] == "active"
    assert coordinator["Consent"][0]["provision"]["provision"]  # the scope's grants
    # The history as BALP audit events: the submission a Create, the moves Updates, the
    # provider's export a Read.
    profiles = {e["meta"]["profile"][0].rsplit(".", 1)[1] for e in coordinator["AuditEvent"]}
    assert {"PatientCreate", "PatientUpdate", "PatientRead"} <= profiles

    # The provider: the support plan and the consent, never criminal or assessment data,
    # no panel deliberation, no history.
    text = json.dumps(provider)
    assert "MARK-SUPPORT" in text
    for mark in ("MARK-CRIMINAL", "MARK-ASSESSMENT", "MARK-DELIBERATION", "MARK-NARRATIVE"):
        assert mark not in text
    assert "AuditEvent" not in provider
    assert {t["code"]["text"] for t in provider["Task"]} == {"Intervention"}
    assert provider["Consent"]


def test_a_dpo_sees_the_history_but_no_person(runtime: Runtime) -> None:
    world = make_world(runtime)
    case_id = submit(world)
    dpo = _validated(world.run("dpo", export_case, case_id))
    assert "Patient" not in dpo
    request = dpo["ServiceRequest"][0]
    assert request["subject"]["extension"][0]["valueCode"] == "masked"
    assert "reasonCode" not in request and "note" not in request
    # Without the Patient, the events follow the profiles without a patient.
    assert {e["meta"]["profile"][0].rsplit(".", 1)[1] for e in dpo["AuditEvent"]} >= {"Create"}


def test_the_export_is_a_ledgered_read(runtime: Runtime) -> None:
    world = make_world(runtime)
    case_id = submit(world)
    world.run("coordinator", export_case, case_id)
    with runtime.session_factory() as session:
        targets = session.scalars(
            select(AuditEntry.target).where(
                AuditEntry.case_id == case_id, AuditEntry.action == "case:read"
            )
        ).all()
    assert targets == ["fhir"]


def test_out_of_scope_is_not_found(runtime: Runtime) -> None:
    world = make_world(runtime)
    case_id = submit(world)
    with pytest.raises(NotFound):
        world.run("provider", export_case, case_id)
