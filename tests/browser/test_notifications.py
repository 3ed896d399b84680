"""The bell and the notifications page in a real browser, checked with axe-core: the
referrer follows the outcome of their referral and marks the notices read."""

import re

import pytest
from playwright.sync_api import Browser, expect

from referral.demo import DemoWorld
from referral.services import screening
from tests.browser.conftest import Visit, new_page, sign_in
from tests.factories import reference_of, submit

pytestmark = pytest.mark.browser


def test_the_referrer_reads_the_outcome_behind_the_bell_and_marks_it_read(
    chromium: Browser, live_world: tuple[str, DemoWorld], visit: Visit
) -> None:
    base_url, world = live_world
    case_id = submit(world)
    world.run("screener", screening.start_screening, screening.StartScreening(case_id))
    world.run(
        "coordinator",
        screening.record_screening_outcome,
        screening.RecordScreeningOutcome(case_id, "signpost"),
    )
    page = new_page(chromium, base_url)
    sign_in(page, "referrer")
    page.goto("/referrals")
    bell = page.get_by_role("link", name=re.compile(r"^Notifications \(\d+ unread\)$"))
    expect(bell).to_be_visible()
    unread = int(re.findall(r"\d+", bell.inner_text())[0])
    assert unread >= 3
    bell.click()
    page.wait_for_load_state()
    expect(page.get_by_role("heading", name="Notifications", exact=True)).to_be_visible()
    expect(
        page.get_by_text(
            f"Referral {reference_of(world.runtime, case_id)}: "
            "screened: signposted to another service"
        )
    ).to_be_visible()
    visit.check(page, "notifications")
    page.get_by_role("button", name="Mark all read").click()
    page.wait_for_load_state()
    expect(page.get_by_role("link", name="Notifications (0 unread)")).to_be_visible()
    visit.check(page)
    assert page.console_errors == []  # type: ignore[attr-defined]
