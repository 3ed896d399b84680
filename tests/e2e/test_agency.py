"""A partner agency's pages and API over HTTP: its contact sees and answers only the
requests addressed to their organisation; anything else answers 404. The screener's case
page offers only the police's request."""

from collections.abc import Callable

import pytest

from referral.demo import DemoWorld
from referral.domain.vocabulary import OrgKind
from referral.services import information
from tests.e2e.conftest import Api, Browser
from tests.factories import to_information_gathering

Browse = Callable[..., Browser]
QUESTION = "MARK-QUESTION: what support does the person receive?"
NEVER_FOR_AGENCY = ("MARK-NARRATIVE", "MARK-ASSESSMENT", "MARK-CRIMINAL", "Testy", "Fixture")


@pytest.fixture
def asked(world: DemoWorld) -> tuple[int, dict[OrgKind, int]]:
    """A case in information gathering, with a request to health and one to the police."""
    case_id = to_information_gathering(world)
    kinds = (OrgKind.HEALTH, OrgKind.POLICE)
    orgs = tuple(world.org_ids[k] for k in kinds)
    command = information.SendInformationRequests(case_id, orgs, QUESTION)
    ids = world.run("coordinator", information.send_information_requests, command)
    by_org = dict(zip(sorted(orgs), ids, strict=True))
    return case_id, {k: by_org[world.org_ids[k]] for k in kinds}


def test_the_agency_contact_starts_on_their_requests_and_sees_only_their_own(
    browser: Browse, asked: tuple[int, dict[OrgKind, int]]
) -> None:
    _, requests = asked
    b = browser("health_contact")
    assert b.client.get("/", follow_redirects=False).headers["location"] == (
        "/information-requests"
    )
    page = b.get("/information-requests")
    assert page.status_code == 200
    assert QUESTION in page.text
    assert f'href="/information-requests/{requests[OrgKind.HEALTH]}"' in page.text
    assert f"/information-requests/{requests[OrgKind.POLICE]}" not in page.text
    shown = b.get(f"/information-requests/{requests[OrgKind.HEALTH]}")
    assert shown.status_code == 200
    assert QUESTION in shown.text
    for marker in NEVER_FOR_AGENCY:
        assert marker not in page.text + shown.text


def test_another_organisations_request_answers_404_to_read_and_to_answer(
    browser: Browse, asked: tuple[int, dict[OrgKind, int]]
) -> None:
    case_id, requests = asked
    b = browser("health_contact")
    police = requests[OrgKind.POLICE]
    assert b.get(f"/information-requests/{police}").status_code == 404
    refused = b.post(f"/information-requests/{police}/answer", {"answer": "MARK-WRONG"})
    assert refused.status_code == 404
    assert b.get("/information-requests/999999").status_code == 404
    # The coordinator's case page shows the police request still waiting, unanswered.
    coordinator = browser("coordinator").get(f"/cases/{case_id}")
    assert "MARK-WRONG" not in coordinator.text


def test_the_agency_answers_in_the_system_and_the_coordinator_reads_it(
    browser: Browse, asked: tuple[int, dict[OrgKind, int]]
) -> None:
    case_id, requests = asked
    health = requests[OrgKind.HEALTH]
    b = browser("health_contact")
    b.get(f"/information-requests/{health}")
    empty = b.post(f"/information-requests/{health}/answer", {"answer": "  "})
    assert empty.status_code == 422
    assert "There is a problem" in empty.text
    assert 'aria-invalid="true"' in empty.text
    sent = b.post(f"/information-requests/{health}/answer", {"answer": "Seen by CAMHS in 2025."})
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/information-requests?answered={health}"
    after = b.get(sent.headers["location"])
    assert f"Your answer to request {health} has been sent" in after.text
    assert QUESTION not in after.text  # answered: no longer waiting for the agency
    assert "Seen by CAMHS in 2025." in browser("coordinator").get(f"/cases/{case_id}").text


def test_the_agency_contact_reads_only_the_cases_status(
    browser: Browse, asked: tuple[int, dict[OrgKind, int]]
) -> None:
    case_id, _ = asked
    page = browser("health_contact").get(f"/cases/{case_id}")
    assert page.status_code == 200
    for marker in (*NEVER_FOR_AGENCY, QUESTION):
        assert marker not in page.text
    assert 'action="/cases/' not in page.text  # no form of the case's work is offered


def test_the_screener_is_offered_only_the_police_request(
    browser: Browse, asked: tuple[int, dict[OrgKind, int]]
) -> None:
    case_id, requests = asked
    page = browser("screener").get(f"/cases/{case_id}")
    assert f"/information-requests/{requests[OrgKind.POLICE]}/answer" in page.text
    assert f"/information-requests/{requests[OrgKind.HEALTH]}/answer" not in page.text


def test_the_api_lists_and_answers_only_the_organisations_own_requests(
    api: Api, asked: tuple[int, dict[OrgKind, int]]
) -> None:
    case_id, requests = asked
    listed = api.get("health_contact", "/api/information-requests")
    assert listed.status_code == 200
    assert [(r["id"], r["case_id"], r["question"]) for r in listed.json()] == [
        (requests[OrgKind.HEALTH], case_id, QUESTION)
    ]
    police = requests[OrgKind.POLICE]
    assert api.get("health_contact", f"/api/information-requests/{police}").status_code == 404
    wrong = api.post(
        "health_contact", f"/api/information-requests/{police}/answer", {"answer": "x"}
    )
    assert wrong.status_code == 404
    answered = api.post(
        "health_contact",
        f"/api/information-requests/{requests[OrgKind.HEALTH]}/answer",
        {"answer": "Not known to us."},
    )
    assert answered.status_code == 200
    assert answered.json() == {"id": requests[OrgKind.HEALTH], "state": "answered"}
    assert api.get("health_contact", "/api/information-requests").json() == []
