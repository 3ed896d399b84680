"""The JSON API under /api/: tokens, bearer and session auth, cases, errors, the schema.

Each test uses one HTTP client: tokens for other users are issued through the service,
and the client's cookies are dropped before bearer requests, so only the token speaks.
"""

from collections.abc import Callable
from typing import Any

from referral.demo import DemoWorld
from referral.domain.facts import ConsentScope
from referral.domain.vocabulary import Category, OrgKind, Purpose
from referral.services.uow import Runtime
from tests.e2e.conftest import Api, Browser
from tests.factories import (
    hold,
    schedule,
    submit,
    to_awaiting_panel,
    to_information_gathering,
    to_support,
)

HIDDEN_FROM_PROVIDER = (
    "MARK-CRIMINAL",
    "MARK-DELIBERATION",
    "MARK-ASSESSMENT",
    "MARK-NARRATIVE",
    "MARK-SPECIAL",
)


def referral_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject": {
            "given_name": "Api",
            "family_name": "Fixture",
            "date_of_birth": "2009-05-17",
            "health": "MARK-SPECIAL",
        },
        "concern_summary": "Synthetic concern sent through the API.",
        "concern_types": ["hate_targeting_a_group"],
        "narrative": "MARK-NARRATIVE",
    }
    body.update(overrides)
    return body


def assert_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["message"]
    return body


# -- authentication ---------------------------------------------------------------


def test_token_issued_through_the_session_works_as_bearer(
    browser: Callable[..., Browser],
) -> None:
    b = browser("referrer")
    issued = b.client.post("/api/tokens", json={"label": "cli"}, headers={"X-CSRF-Token": b.csrf})
    assert issued.status_code == 201, issued.text
    token = issued.json()["token"]
    b.client.cookies.clear()
    me = b.client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json() | {"user_id": 0, "organisation_id": 0, "network_id": 0} == {
        "user_id": 0,
        "organisation_id": 0,
        "network_id": 0,
        "network": "demo-city",
        "org_kind": "education",
        "roles": ["referrer"],
    }


def test_session_post_without_csrf_header_is_refused(browser: Callable[..., Browser]) -> None:
    b = browser("referrer")
    assert_error(b.client.post("/api/tokens", json={"label": "cli"}), 403)
    assert_error(b.client.post("/api/cases", json=referral_body()), 403)
    forged = b.client.post("/api/cases", json=referral_body(), headers={"X-CSRF-Token": "forged"})
    assert_error(forged, 403)


def test_session_with_csrf_header_may_use_the_api(browser: Callable[..., Browser]) -> None:
    b = browser("referrer")
    response = b.client.post("/api/cases", json=referral_body(), headers={"X-CSRF-Token": b.csrf})
    assert response.status_code == 201, response.text
    assert b.client.get("/api/me").json()["roles"] == ["referrer"]


def test_unknown_token_is_refused_with_json_401(browser: Callable[..., Browser]) -> None:
    client = browser().client
    response = client.get("/api/me", headers={"Authorization": "Bearer not-a-real-token"})
    assert "unknown" in assert_error(response, 401)["message"]
    assert_error(client.get("/api/cases"), 401)


def test_a_token_cannot_mint_more_tokens(api: Api) -> None:
    assert_error(api.post("referrer", "/api/tokens", {"label": "again"}), 403)


def test_token_needs_a_label(browser: Callable[..., Browser]) -> None:
    b = browser("referrer")
    response = b.client.post("/api/tokens", json={"label": " "}, headers={"X-CSRF-Token": b.csrf})
    assert "label" in assert_error(response, 422)["errors"]


# -- cases ------------------------------------------------------------------------


def test_referrer_submits_and_reads_only_own_categories(api: Api) -> None:
    created = api.post("referrer", "/api/cases", referral_body())
    assert created.status_code == 201, created.text
    case_id = created.json()["case_id"]

    response = api.get("referrer", f"/api/cases/{case_id}")
    assert response.status_code == 200
    case = response.json()
    assert case["state"] == "submitted"
    assert case["fields"]["given_name"] == {
        "category": "identity",
        "value": "Api",
        "reason": "Shared with you as referrer, for screening a referral;"
        " legal basis: public task.",
    }
    assert case["fields"]["narrative"]["value"] == "MARK-NARRATIVE"
    health = case["fields"]["health"]
    assert health["hidden"] is True and health["reason"] and "value" not in health
    assert {"special", "criminal", "assessment"} <= set(case["hidden"])
    assert "MARK-SPECIAL" not in response.text


def test_case_list_shows_status_summaries_in_utc(api: Api, world: DemoWorld) -> None:
    case_id = submit(world)
    response = api.get("referrer", "/api/cases", params={"state": ["submitted", "draft"]})
    assert response.status_code == 200
    rows = response.json()["cases"]
    assert [row["case_id"] for row in rows] == [case_id]
    assert rows[0]["created_at"].endswith(("Z", "+00:00"))
    assert "MARK-" not in response.text and "Testy" not in response.text
    closed = api.get("referrer", "/api/cases", params={"state": "closed"})
    assert closed.json()["cases"] == []


def test_case_list_limit_out_of_range_is_400(api: Api) -> None:
    body = assert_error(api.get("coordinator", "/api/cases", params={"limit": 0}), 400)
    assert "limit" in body["errors"]
    assert_error(api.get("coordinator", "/api/cases", params={"limit": "many"}), 400)


def test_invalid_referral_gets_422_with_field_errors(api: Api) -> None:
    body = referral_body(concern_summary=" ", concern_types=["not_a_type"])
    errors = assert_error(api.post("referrer", "/api/cases", body), 422)["errors"]
    assert set(errors) == {"concern_summary", "concern_types"}


def test_malformed_json_is_400_json(api: Api) -> None:
    response = api.client.post(
        "/api/cases",
        content=b'{"subject": ',
        headers={**api.auth("referrer"), "content-type": "application/json"},
    )
    assert_error(response, 400)


def test_wrong_types_and_unknown_fields_are_400_with_field_names(api: Api) -> None:
    body = referral_body(subject={"given_name": 5, "family_name": "F"})
    errors = assert_error(api.post("referrer", "/api/cases", body), 400)["errors"]
    assert "subject.given_name" in errors
    unknown = assert_error(api.post("referrer", "/api/cases", referral_body(colour="red")), 400)
    assert "colour" in unknown["message"] + str(unknown.get("errors"))


def test_provider_not_assigned_gets_404(api: Api, world: DemoWorld) -> None:
    case_id = submit(world)
    assert_error(api.get("provider", f"/api/cases/{case_id}"), 404)
    assert_error(api.get("provider", "/api/cases/999999"), 404)


def test_transition_by_the_wrong_role_is_403_with_message(api: Api, world: DemoWorld) -> None:
    case_id = submit(world)
    response = api.post(
        "referrer", f"/api/cases/{case_id}/transitions", {"trigger": "start_screening"}
    )
    assert "case:screen" in assert_error(response, 403)["message"]


def test_stale_expected_version_is_409(api: Api, world: DemoWorld) -> None:
    case_id = submit(world)
    version = api.get("coordinator", f"/api/cases/{case_id}").json()["version"]
    body = {"trigger": "start_screening", "expected_version": version - 1}
    assert_error(api.post("coordinator", f"/api/cases/{case_id}/transitions", body), 409)
    body["expected_version"] = version
    moved = api.post("coordinator", f"/api/cases/{case_id}/transitions", body)
    assert moved.status_code == 200, moved.text
    assert moved.json()["to_state"] == "screening"


def test_unknown_trigger_is_422(api: Api, world: DemoWorld) -> None:
    case_id = submit(world)
    body = {"trigger": "teleport"}
    response = api.post("coordinator", f"/api/cases/{case_id}/transitions", body)
    assert "teleport" in assert_error(response, 422)["message"]


def test_provider_reading_a_supported_case_never_gets_hidden_markers(
    api: Api, world: DemoWorld, runtime: Runtime
) -> None:
    case_id, _ = to_support(world, schedule(world, runtime))
    response = api.get("provider", f"/api/cases/{case_id}")
    assert response.status_code == 200
    assert "MARK-SUPPORT" in response.text
    for marker in HIDDEN_FROM_PROVIDER:
        assert marker not in response.text, marker
    listed = api.get("provider", "/api/cases")
    assert [row["case_id"] for row in listed.json()["cases"]] == [case_id]


def test_the_case_work_endpoints_walk_a_case_to_support(
    api: Api, world: DemoWorld, runtime: Runtime
) -> None:
    case_id = submit(world)
    base = f"/api/cases/{case_id}"

    def ok(who: str, url: str, body: Any = None, status: int = 200) -> Any:
        response = api.post(who, url, body)
        assert response.status_code == status, (url, response.text)
        return response.json() if response.content else None

    ok("screener", f"{base}/transitions", {"trigger": "start_screening"})
    deconflict = {"deconfliction_result": "no match", "criminal_information": "MARK-CRIMINAL"}
    ok("screener", f"{base}/deconfliction", deconflict, status=204)
    outcome = {"outcome": "gather_information", "screening_notes": "MARK-ASSESSMENT"}
    assert ok("coordinator", f"{base}/screening-outcome", outcome)["to_state"] == (
        "information_gathering"
    )
    asked = {"organisation_ids": [world.org_ids[OrgKind.HEALTH]], "question": "Known?"}
    (request_id,) = ok("coordinator", f"{base}/information-requests", asked, 201)["request_ids"]
    answered = ok(
        "coordinator", f"/api/information-requests/{request_id}/answer", {"answer": "No."}
    )
    assert answered == {"id": request_id, "state": "answered"}
    ok("coordinator", f"{base}/transitions", {"trigger": "ready_for_panel"})

    people = {name: world.actors[name].user_id for name in ("chair", "panel", "coordinator")}
    meeting = {
        "scheduled_for": "2026-03-02T10:00:00+01:00",  # today: it may be held
        "chair_user_id": people["chair"],
        "attendee_user_ids": [people["panel"], people["coordinator"]],
    }
    meeting_id = ok("coordinator", "/api/meetings", meeting, 201)["id"]
    agenda = ok("coordinator", f"/api/meetings/{meeting_id}/agenda", {"case_ids": [case_id]})
    assert agenda["moved"][0]["to_state"] == "panel_review"
    on_case = f"/api/meetings/{meeting_id}/cases/{case_id}"
    ok("panel", f"{on_case}/contributions", {"body": "MARK-DELIBERATION"}, 201)
    decision = {"outcome": "support", "rationale": "MARK-DELIBERATION"}
    not_yet = api.post("chair", f"{on_case}/decision", decision)
    assert not_yet.status_code == 409
    assert "The meeting has not been held yet" in not_yet.json()["message"]
    hold(world, meeting_id)
    assert ok("chair", f"{on_case}/decision", decision)["to_state"] == "consent_pending"

    ok("coordinator", f"{base}/consent/request", status=201)
    # The provider reads, and works on, only what the consent lets go to them for support.
    scope = [
        {"category": category, "org_kind": "civil_society", "purpose": "support"}
        for category in ("identity", "support")
    ]
    consent = {"given": True, "method": "in_person", "scope": scope, "given_by": "guardian"}
    consent["guardian_name"] = "G"
    assert ok("coordinator", f"{base}/consent/record", consent) == {"moved": None}
    ok("coordinator", f"{base}/transitions", {"trigger": "start_support"})
    plan = {
        "kind": "mentoring",
        "provider_org_id": world.org_ids[OrgKind.CIVIL_SOCIETY],
        "plan": "MARK-SUPPORT",
    }
    intervention_id = ok("coordinator", f"{base}/interventions", plan, 201)["id"]
    for trigger in ("accept", "start"):
        ok("provider", f"/api/interventions/{intervention_id}/transitions", {"trigger": trigger})
    ok("provider", f"/api/interventions/{intervention_id}/progress", {"body": "Met."}, 201)
    ok("coordinator", f"{base}/reviews", {"kind": "review", "notes": "Going well."}, 201)

    case = api.get("coordinator", base).json()
    assert case["state"] == "support"
    assert [n["body"] for n in case["linked"]["progress_notes"]] == ["Met."]
    withdrawn = ok("coordinator", f"{base}/consent/withdraw", {"notes": "Changed mind."})
    assert withdrawn["to_state"] == "closed_consent_withdrawn"


def test_meeting_time_without_time_zone_is_400(api: Api, world: DemoWorld) -> None:
    body = {
        "scheduled_for": "2026-03-03T10:00:00",
        "chair_user_id": world.actors["chair"].user_id,
        "attendee_user_ids": [world.actors["panel"].user_id],
    }
    assert_error(api.post("coordinator", "/api/meetings", body), 400)


def test_consent_scope_with_unknown_category_is_400(api: Api, world: DemoWorld) -> None:
    case_id = to_awaiting_panel(world)
    scope = [{"category": "shoe_size", "org_kind": "health", "purpose": "support"}]
    body = {"given": True, "method": "phone", "scope": scope}
    assert_error(api.post("coordinator", f"/api/cases/{case_id}/consent/record", body), 400)


# -- the schema -------------------------------------------------------------------


def test_openapi_schema_documents_the_api(browser: Callable[..., Browser]) -> None:
    client = browser().client
    assert client.get("/schema").status_code == 200
    response = client.get("/schema/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    cases = schema["paths"]["/api/cases"]
    assert {"get", "post"} <= set(cases)
    assert cases["post"]["tags"] == ["cases"] and cases["post"]["summary"]
    assert "/api/cases/{case_id}/transitions" in schema["paths"]
    assert {"SubmitReferralIn", "CaseOut", "ErrorOut"} <= set(schema["components"]["schemas"])
    read = schema["paths"]["/api/cases/{case_id}"]["get"]["responses"]
    assert read["404"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")


def test_nothing_hangs_off_a_case_before_its_panel_409_naming_the_state(
    api: Api, runtime: Runtime, world: DemoWorld
) -> None:
    case_id = to_information_gathering(world)
    meeting_id = schedule(world, runtime)
    base = f"/api/cases/{case_id}"
    plan = {
        "kind": "mentoring",
        "provider_org_id": world.org_ids[OrgKind.CIVIL_SOCIETY],
        "plan": "MARK-SUPPORT",
    }
    attempts = {
        f"/api/meetings/{meeting_id}/agenda": ({"case_ids": [case_id]}, "be put on a panel agenda"),
        f"{base}/consent/request": (None, "have consent requested"),
        f"{base}/interventions": (plan, "have an intervention assigned"),
        f"{base}/reviews": ({"kind": "review", "notes": "Early."}, "have a review recorded"),
    }
    for url, (body, refusal) in attempts.items():
        error = assert_error(api.post("coordinator", url, body), 409)
        assert error["message"] == f"a case in Gathering information cannot {refusal}", url
    case = api.get("coordinator", base).json()
    assert case["state"] == "information_gathering"
    assert not case["linked"].get("interventions") and not case["linked"].get("consents")


def test_another_organisations_intervention_is_not_found_through_the_api(
    api: Api, world: DemoWorld, runtime: Runtime
) -> None:
    """The provider is assigned to the case; the private-sector organisation's intervention on
    it is not theirs to read, move or annotate: 404, before the body is looked at."""
    case_id, mine = to_support(world, schedule(world, runtime))
    plan = {
        "kind": "mentoring",
        "provider_org_id": world.org_ids[OrgKind.PRIVATE_SECTOR],
        "plan": "MARK-OTHER-PLAN",
    }
    created = api.post("coordinator", f"/api/cases/{case_id}/interventions", plan)
    assert created.status_code == 201, created.text
    theirs = created.json()["id"]
    for trigger in ("accept", "start", "complete"):
        moved = api.post(
            "provider", f"/api/interventions/{theirs}/transitions", {"trigger": trigger}
        )
        assert_error(moved, 404)
    for body in ({"body": "A note."}, {"body": ""}):
        assert_error(api.post("provider", f"/api/interventions/{theirs}/progress", body), 404)
    case = api.get("provider", f"/api/cases/{case_id}")
    assert case.status_code == 200
    assert [i["id"] for i in case.json()["linked"]["interventions"]] == [mine]
    assert "MARK-OTHER-PLAN" not in case.text
    everyone = api.get("coordinator", f"/api/cases/{case_id}").json()
    assert {i["id"] for i in everyone["linked"]["interventions"]} == {mine, theirs}


def test_a_provider_with_a_support_only_consent_reads_only_the_support_plan_through_the_api(
    api: Api, world: DemoWorld, runtime: Runtime
) -> None:
    support_only = (ConsentScope(Category.SUPPORT, OrgKind.CIVIL_SOCIETY, Purpose.SUPPORT),)
    case_id, _ = to_support(world, schedule(world, runtime), support_only)
    case = api.get("provider", f"/api/cases/{case_id}")
    assert case.status_code == 200
    fields = case.json()["fields"]
    shown = {f["category"] for f in fields.values() if not f.get("hidden")}
    assert shown == {"status", "support"}
    assert "hidden" not in fields["support_plan"]
    assert [i["plan"] for i in case.json()["linked"]["interventions"]] == ["MARK-SUPPORT"]
    assert fields["given_name"]["hidden"] is True
    # The reason says, in words, what the consent would have to cover.
    assert fields["given_name"]["reason"].startswith("Not shown now: a support provider")
    assert "consent covers that data" in fields["given_name"]["reason"]
    assert sorted(case.json()["hidden"]) == sorted(
        str(c) for c in Category if c not in (Category.STATUS, Category.SUPPORT)
    )
