"""Bad input to the JSON API: a clear 4xx that names the problem, never a 500, nothing written.

Found by hand and by schemathesis: ids past the 32-bit columns, deep JSON, control
characters and bad UTF-8 in text, JSON sent as text/plain, dates past the calendar.
"""

from typing import Any

import pytest
from sqlalchemy import func, select

from referral.db.tables import Case, InformationRequest, PanelMeeting
from referral.demo import DemoWorld
from referral.services.uow import Runtime, UnitOfWork
from tests.e2e.conftest import Api
from tests.factories import audit_count, submit

TOO_BIG = [2**31, 2**63, 10**20]
NOT_FOUND = "There is nothing at this address, or you may not see it."


def audit_entries(runtime: Runtime) -> int:
    with runtime.session_factory() as session:
        return audit_count(session)


def rows(runtime: Runtime, table: Any) -> int:
    with UnitOfWork(runtime) as uow:
        return int(uow.session.scalar(select(func.count()).select_from(table)) or 0)


def error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def referral(**subject: Any) -> dict[str, Any]:
    return {
        "subject": {"given_name": "Bad", "family_name": "Input", **subject},
        "concern_summary": "Synthetic concern for the bad-input tests.",
        "concern_types": ["hate_targeting_a_group"],
    }


# -- ids -------------------------------------------------------------------------------


@pytest.mark.parametrize("case_id", [*TOO_BIG, 0])
def test_a_case_id_no_row_can_have_is_404(api: Api, case_id: int) -> None:
    body = error(api.get("coordinator", f"/api/cases/{case_id}"), 404)
    assert body["message"] == NOT_FOUND


def test_a_move_on_an_impossible_id_is_404_and_writes_nothing(
    api: Api, runtime: Runtime, world: DemoWorld
) -> None:
    api.get("coordinator", "/api/me")  # the token is issued before counting
    before = rows(runtime, Case), audit_entries(runtime)
    for path in ("/api/cases/{}/consent/request", "/api/meetings/{}/transitions"):
        response = api.post("coordinator", path.format(2**63), {"trigger": "hold"})
        assert error(response, 404)["message"] == NOT_FOUND
    assert (rows(runtime, Case), audit_entries(runtime)) == before


def test_an_offset_past_the_bound_is_400_naming_it(api: Api) -> None:
    body = error(api.get("coordinator", "/api/cases", params={"offset": 2**63}), 400)
    assert "offset" in body["errors"]


def test_an_organisation_id_past_the_bound_is_400_and_asks_nobody(
    api: Api, runtime: Runtime, world: DemoWorld
) -> None:
    case_id = submit(world)
    api.post("coordinator", f"/api/cases/{case_id}/transitions", {"trigger": "start_screening"})
    body = {"organisation_ids": [2**31], "question": "Anything known?"}
    url = f"/api/cases/{case_id}/information-requests"
    answer = error(api.post("coordinator", url, body), 400)
    assert "organisation_ids" in str(answer["errors"])
    assert rows(runtime, InformationRequest) == 0


def test_an_expected_version_past_the_bound_is_400(api: Api, world: DemoWorld) -> None:
    case_id = submit(world)
    body = {"trigger": "start_screening", "expected_version": 2**63}
    answer = error(api.post("coordinator", f"/api/cases/{case_id}/transitions", body), 400)
    assert "expected_version" in str(answer["errors"])
    assert api.get("coordinator", f"/api/cases/{case_id}").json()["state"] == "submitted"


# -- the body ----------------------------------------------------------------------------


def test_json_nested_20000_levels_deep_is_400_before_parsing(api: Api, runtime: Runtime) -> None:
    before = rows(runtime, Case)
    deep = b"[" * 20_000 + b"]" * 20_000
    body = error(api.raw("referrer", "/api/cases", deep, "application/json"), 400)
    assert body["message"] == "the JSON is nested more than 32 levels deep"
    assert rows(runtime, Case) == before


def test_json_sent_as_text_plain_is_415(api: Api, runtime: Runtime) -> None:
    before = rows(runtime, Case)
    content = str(referral()).replace("'", '"').encode()
    body = error(api.raw("referrer", "/api/cases", content, "text/plain"), 415)
    assert "Content-Type: application/json" in body["message"]
    assert rows(runtime, Case) == before


@pytest.mark.parametrize(("text", "code"), [("A\x00nn", "U+0000"), ("A\x1b[31m", "U+001B")])
def test_a_control_character_in_a_name_is_400_naming_the_field(
    api: Api, runtime: Runtime, text: str, code: str
) -> None:
    before = rows(runtime, Case)
    body = error(api.post("referrer", "/api/cases", referral(given_name=text)), 400)
    assert body["message"].startswith('the field "subject.given_name" holds')
    assert code in body["message"] and "subject.given_name" in body["errors"]
    assert rows(runtime, Case) == before


def test_tabs_and_line_breaks_are_text(api: Api) -> None:
    body = referral(guardian_details="Mother:\tA.\r\nFather:\tB.")
    assert api.post("referrer", "/api/cases", body).status_code == 201


def test_a_control_character_in_any_text_field_is_refused(api: Api, runtime: Runtime) -> None:
    before = rows(runtime, Case)
    body = {**referral(), "concern_summary": "Seen\x07 twice"}
    answer = error(api.post("referrer", "/api/cases", body), 400)
    assert answer["errors"] == {
        "concern_summary": "Holds the control character U+0007, which text may not hold."
    }
    assert rows(runtime, Case) == before


def test_a_lone_surrogate_is_not_utf8_text(api: Api, runtime: Runtime) -> None:
    before = rows(runtime, Case)
    content = b'{"subject": {"given_name": "\\ud800", "family_name": "F"}}'
    body = error(api.raw("referrer", "/api/cases", content, "application/json"), 400)
    assert body["message"] == 'the field "subject.given_name" is not valid UTF-8 text'
    assert rows(runtime, Case) == before


def test_a_body_of_invalid_utf8_is_400(api: Api, runtime: Runtime) -> None:
    content = b'{"subject": {"given_name": "\xff\xfe", "family_name": "F"}}'
    body = error(api.raw("referrer", "/api/cases", content, "application/json"), 400)
    assert body["message"] == "the body is not valid UTF-8 text"


# -- dates -------------------------------------------------------------------------------


def test_a_birth_date_past_the_calendar_is_400(api: Api, runtime: Runtime) -> None:
    before = rows(runtime, Case)
    body = error(api.post("referrer", "/api/cases", referral(date_of_birth="9999-12-31")), 400)
    assert body["errors"] == {"subject": "date_of_birth: is not between 1900-01-01 and 2999-12-31"}
    assert rows(runtime, Case) == before


def test_a_meeting_time_past_the_calendar_is_400(
    api: Api, runtime: Runtime, world: DemoWorld
) -> None:
    before = rows(runtime, PanelMeeting)
    body = {
        "scheduled_for": "9999-12-31T23:00:00-05:00",
        "chair_user_id": world.actors["chair"].user_id,
        "attendee_user_ids": [world.actors["panel"].user_id],
    }
    answer = error(api.post("coordinator", "/api/meetings", body), 400)
    assert answer["errors"] == {"data": "scheduled_for: is not between 1900-01-01 and 2999-12-31"}
    assert rows(runtime, PanelMeeting) == before


# -- the query string ----------------------------------------------------------------------


def test_a_nul_in_a_query_parameter_is_400_naming_it(api: Api) -> None:
    body = error(api.get("coordinator", "/api/cases?state=%00"), 400)
    assert body["message"] == (
        'the query parameter "state" holds the control character U+0000, which text may not hold'
    )
    assert "state" in body["errors"]
