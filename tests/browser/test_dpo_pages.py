"""The data-protection officer's pages in a real browser, checked with axe-core: break
glass on a case, the review queue, subject access and the destruction register."""

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from referral.db.tables import Case
from referral.demo import DemoWorld
from referral.services.erasure import EraseSubject, erase_subject
from referral.services.uow import UnitOfWork
from tests.browser.conftest import Visit, new_page, sign_in
from tests.factories import closed_no_action, submit

pytestmark = pytest.mark.browser


def test_the_dpo_breaks_glass_reviews_it_and_answers_for_a_person(
    chromium: Browser, live_world: tuple[str, DemoWorld], visit: Visit
) -> None:
    base_url, world = live_world
    case_id = submit(world)
    erased_case = closed_no_action(world)
    with UnitOfWork(world.runtime) as uow:
        subjects = dict(uow.session.execute(select(Case.id, Case.subject_id)).all())
        erase_subject(uow, None, EraseSubject(subjects[erased_case], "Request R-7"))

    page = new_page(chromium, base_url)
    sign_in(page, "dpo")
    page.goto(f"/cases/{case_id}")
    page.get_by_label("Information to open").select_option("identity")
    page.get_by_label("Justification").fill("Checking a complaint about this case, today.")
    page.get_by_role("button", name="Break glass for 60 minutes").click()
    page.wait_for_load_state()
    expect(page.get_by_text("Testy", exact=False).first).to_be_visible()
    visit.check(page)

    page.goto("/audit/break-glass")
    expect(page.get_by_role("heading", name="Break-glass reviews")).to_be_visible()
    visit.check(page, "break-glass-reviews")

    page.goto(f"/subjects/{subjects[case_id]}")
    expect(page.get_by_role("link", name="Data file (JSON)", exact=False)).to_be_visible()
    visit.check(page, "subject-access")

    page.goto("/audit/destructions")
    expect(page.get_by_text("Request R-7")).to_be_visible()
    visit.check(page, "destruction-register")
    assert page.console_errors == []  # type: ignore[attr-defined]
