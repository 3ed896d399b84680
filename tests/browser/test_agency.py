"""A partner agency answers for itself in a real browser, every page checked with axe-core:
health's agency contact is told of the request, finds it among their organisation's
requests, answers it, and the coordinator reads the answer on the case page."""

import re

import pytest
from playwright.sync_api import Browser, expect

from referral.demo import DemoWorld
from referral.domain.vocabulary import OrgKind
from referral.services import information, screening
from tests.browser.conftest import Visit, new_page, sign_in
from tests.factories import reference_of, submit

pytestmark = pytest.mark.browser

QUESTION = "Is the person known to your service?"
ANSWER = "Seen twice by the community mental health team in 2025."


def test_the_health_agency_answers_its_request_and_the_coordinator_reads_it(
    chromium: Browser, live_world: tuple[str, DemoWorld], visit: Visit
) -> None:
    base_url, world = live_world
    case_id = submit(world)
    world.run("screener", screening.start_screening, screening.StartScreening(case_id))
    world.run(
        "coordinator",
        screening.record_screening_outcome,
        screening.RecordScreeningOutcome(case_id, "gather_information"),
    )
    asked = (world.org_ids[OrgKind.HEALTH], world.org_ids[OrgKind.POLICE])
    command = information.SendInformationRequests(case_id, asked, QUESTION)
    world.run("coordinator", information.send_information_requests, command)

    h = new_page(chromium, base_url)
    sign_in(h, "health_contact")
    # Signed in, the agency contact lands on their organisation's requests.
    expect(h.get_by_role("heading", name="Information requests")).to_be_visible()
    visit.check(h, "agency-requests")
    h.get_by_role("link", name=re.compile(r"^Notifications")).click()
    h.wait_for_load_state()
    expect(
        h.get_by_text(
            f"Case {reference_of(world.runtime, case_id)}: "
            "an information request for your organisation"
        )
    ).to_be_visible()
    h.get_by_role("link", name="Open").first.click()
    h.wait_for_load_state()
    expect(h.get_by_role("heading", name=re.compile(r"^Information request \d+$"))).to_be_visible()
    expect(h.get_by_text(QUESTION)).to_be_visible()
    visit.check(h, "agency-request")

    # An empty answer is refused beside the field; then the agency answers.
    h.get_by_role("button", name="Send answer").click()
    h.wait_for_load_state()
    expect(h.get_by_role("heading", name="There is a problem")).to_be_visible()
    visit.check(h)
    h.get_by_label("Answer").fill(ANSWER)
    h.get_by_role("button", name="Send answer").click()
    h.wait_for_load_state()
    expect(h.get_by_text(re.compile(r"Your answer to request \d+ has been sent"))).to_be_visible()
    expect(
        h.get_by_text("No information requests are waiting for your organisation.")
    ).to_be_visible()
    visit.check(h)
    assert h.console_errors == []  # type: ignore[attr-defined]

    c = new_page(chromium, base_url)
    sign_in(c, "coordinator")
    c.goto(f"/cases/{case_id}")
    expect(c.get_by_text(ANSWER)).to_be_visible()
    visit.check(c)
