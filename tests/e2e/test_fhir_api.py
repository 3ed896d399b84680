"""GET /api/cases/{id}/fhir: a FHIR R4 Bundle by the reader's policy, 404 out of scope,
documented in the OpenAPI schema."""

from collections.abc import Callable

from fhir.resources.R4B.bundle import Bundle

from referral.demo import DemoWorld
from tests.e2e.conftest import Api, Browser
from tests.factories import submit
from tests.fhir_r4 import r4_valid


def test_the_fhir_export_answers_fhir_json_by_the_readers_policy(
    api: Api, world: DemoWorld
) -> None:
    case_id = submit(world)
    response = api.get("coordinator", f"/api/cases/{case_id}/fhir")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle = Bundle.model_validate_json(response.text)
    r4_valid(response.json())
    kinds = [entry.resource.get_resource_type() for entry in bundle.entry or []]
    assert kinds[:2] == ["ServiceRequest", "Patient"]
    assert "MARK-NARRATIVE" in response.text

    # The referrer reads their own referral's status and what they wrote, no history.
    mine = api.get("referrer", f"/api/cases/{case_id}/fhir")
    assert mine.status_code == 200
    assert "AuditEvent" not in mine.text and "MARK-SPECIAL" not in mine.text

    assert api.get("provider", f"/api/cases/{case_id}/fhir").status_code == 404
    assert api.get("coordinator", "/api/cases/999999/fhir").status_code == 404


def test_the_schema_documents_the_fhir_export(browser: Callable[..., Browser]) -> None:
    schema = browser().get("/schema/openapi.json").json()
    operation = schema["paths"]["/api/cases/{case_id}/fhir"]["get"]
    assert "application/fhir+json" in operation["responses"]["200"]["content"]
    assert "404" in operation["responses"]
