"""The pages that make cases findable, in Chromium with axe-core: the case page's summary
with its folded sections, the work queue's filters, and the search page, for a role that
reads identity and for one that does not."""

import re
from datetime import date

import pytest
from playwright.sync_api import Browser, expect

from referral.demo import DemoWorld
from referral.services import referrals
from tests.browser.conftest import Visit, new_page, sign_in
from tests.factories import reference_of, submit

pytestmark = pytest.mark.browser


def _person(given: str, family: str, born: date, *types: str) -> dict[str, object]:
    subject = referrals.SubjectDetails(given_name=given, family_name=family, date_of_birth=born)
    return {"subject": subject, "concern_types": types or ("hate_targeting_a_group",)}


def test_the_case_page_opens_on_a_summary_and_unfolds_a_category(
    chromium: Browser, live_world: tuple[str, DemoWorld], visit: Visit
) -> None:
    base_url, world = live_world
    case_id = submit(world, **_person("Robin", "Example", date(2009, 5, 17)))
    reference = reference_of(world.runtime, case_id)
    page = new_page(chromium, base_url)
    sign_in(page, "coordinator")
    page.goto(f"/cases/{case_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{reference} R. E.")
    summary = page.locator(".case-summary")
    for words in ("State", "Deadline", "Next step", "Coordinator"):
        expect(summary.get_by_text(words, exact=True)).to_be_visible()
    narrative = page.get_by_text("MARK-NARRATIVE")
    expect(narrative).to_be_hidden()  # folded until asked for
    visit.check(page, "case-summary")
    page.locator("#section-narrative summary").click()
    expect(narrative).to_be_visible()
    visit.check(page)
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_the_queue_filters_by_concern_and_deadline_in_place(
    chromium: Browser, live_world: tuple[str, DemoWorld], visit: Visit
) -> None:
    base_url, world = live_world
    islamist = submit(world, **_person("Ali", "Sample", date(2008, 1, 2), "islamist"))
    other = submit(world, **_person("Bo", "Sample", date(2008, 1, 3), "conspiracy_driven"))
    page = new_page(chromium, base_url)
    sign_in(page, "coordinator")
    page.goto("/queue")
    table = page.locator("#queue-table")
    expect(table.get_by_role("link", name=reference_of(world.runtime, other))).to_be_visible()
    page.get_by_label("Type of concern").select_option("islamist")  # htmx swaps the table
    expect(table.get_by_role("link", name=reference_of(world.runtime, other))).to_have_count(0)
    expect(table.get_by_role("link", name=reference_of(world.runtime, islamist))).to_be_visible()
    expect(page).to_have_url(re.compile(r"concern=islamist"))
    visit.check(page, "work-queue-filtered")
    page.get_by_label("Deadline").select_option("overdue")
    expect(page.get_by_text("No open cases match the filters")).to_be_visible()
    visit.check(page)
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_search_finds_by_name_for_the_coordinator_and_nothing_for_the_dpo(
    chromium: Browser, live_world: tuple[str, DemoWorld], visit: Visit
) -> None:
    base_url, world = live_world
    case_id = submit(world, **_person("Morgan", "Findley", date(2010, 6, 1)))
    reference = reference_of(world.runtime, case_id)
    page = new_page(chromium, base_url)
    sign_in(page, "coordinator")
    page.get_by_role("link", name="Find a case").click()
    page.get_by_label("Reference or name").fill("morgan findley")
    page.get_by_label(re.compile(r"^Date of birth")).fill("2010-06-01")
    page.get_by_role("button", name="Find").click()
    expect(page.get_by_role("heading", name="1 case found")).to_be_visible()
    visit.check(page, "search")
    page.get_by_role("link", name=reference).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(reference)

    dpo = new_page(chromium, base_url)
    sign_in(dpo, "dpo")
    dpo.goto("/search?q=morgan+findley&born=2010-06-01")
    expect(dpo.get_by_role("heading", name="No case found")).to_be_visible()
    visit.check(dpo)
    dpo.goto(f"/search?q={reference}")  # the dpo reads status: a reference finds it
    expect(dpo.get_by_role("heading", name="1 case found")).to_be_visible()
