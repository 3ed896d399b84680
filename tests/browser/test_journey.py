"""A referral's whole journey in a real browser, each role in its own session, every
page checked with axe-core; the referrer follows each status change and the dpo finds
every step in the audit explorer and a verified chain."""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from referral.demo import DemoWorld
from referral.domain.vocabulary import OrgKind
from tests.browser.conftest import Visit, new_page, sign_in

pytestmark = pytest.mark.browser

# Every step of the journey, as the audit log names it.
JOURNEY_ACTIONS = [
    "case:submit",
    "case:start_screening",
    "case:record_deconfliction",
    "case:gather_information",
    "information_request:send",
    "information_request:answer",
    "case:ready_for_panel",
    "case:take_to_panel",
    "case:decide_support",
    "consent:request",
    "consent:record",
    "case:start_support",
    "intervention:assign",
    "intervention:accept",
    "intervention:start",
    "intervention:record",
    "case:exit_support",
    "case:follow_up_6m",
    "case:follow_up_12m",
    "case:close",
]


def submit_referral(page: Page, visit: Visit) -> tuple[int, str]:
    page.goto("/referrals/new")
    page.get_by_role("button", name="Submit referral").click()
    expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
    visit.check(page, "new-referral-errors")
    page.get_by_label("Given name").fill("Robin")
    page.get_by_label("Family name").fill("Example")
    page.get_by_label("Date of birth").fill("2009-05-17")
    page.get_by_label("Summary of the concern").fill("Shares hateful memes in class.")
    page.get_by_label("Hate targeting a group").check()
    page.get_by_label("What you have seen or heard").fill("Synthetic account for the test.")
    page.get_by_label("Health").fill("Synthetic health note")
    visit.check(page, "new-referral")
    page.get_by_role("button", name="Submit referral").click()
    notice = page.get_by_text(re.compile(r"Referral [A-Z]+-\d{4}-\d{4} received"))
    expect(notice).to_be_visible()
    match = re.search(r"Referral ([A-Z]+-\d{4}-\d{4}) received", notice.inner_text())
    assert match
    reference = match.group(1)
    href = page.get_by_role("link", name=f"Referral {reference}").get_attribute("href")
    assert href
    return int(href.rsplit("/", 1)[1]), reference


class Referrer:
    """The referrer's own view, reloaded after each stage."""

    def __init__(self, page: Page, reference: str, visit: Visit) -> None:
        self.page, self.reference, self.visit = page, reference, visit

    def sees(self, status: str, screenshot: str | None = None) -> None:
        self.page.goto("/referrals")
        row = self.page.get_by_role("row", name=re.compile(rf"Referral {self.reference}\b"))
        expect(row).to_contain_text(status)
        self.visit.check(self.page, screenshot)


def press(page: Page, name: str) -> None:
    page.get_by_role("button", name=name, exact=True).click()
    page.wait_for_load_state()


def confirm(page: Page, name: str) -> None:
    """A destructive move asks twice: open its confirmation, then press "Yes, ..."."""
    page.locator("summary", has_text=name).click()
    press(page, f"Yes, {name.lower()}")


def test_a_referral_from_submission_to_closure(
    chromium: Browser, live_world: tuple[str, DemoWorld], visit: Visit
) -> None:
    base_url, world = live_world
    pages = {name: new_page(chromium, base_url) for name in
             ("referrer", "screener", "coordinator", "chair", "provider", "dpo")}  # fmt: skip
    pages["referrer"].goto("/login")
    visit.check(pages["referrer"], "login")
    for name, page in pages.items():
        sign_in(page, name)

    case_id, reference = submit_referral(pages["referrer"], visit)
    referrer = Referrer(pages["referrer"], reference, visit)
    referrer.sees("Submitted", "my-referrals")
    case_url = f"/cases/{case_id}"

    # The police gateway picks it up and checks police systems.
    s = pages["screener"]
    s.goto("/queue")
    visit.check(s, "work-queue")
    s.goto(case_url)
    press(s, "Start screening")
    s.get_by_label("Deconfliction result").fill("No match on police systems.")
    press(s, "Record deconfliction")
    s.locator("#section-criminal summary").click()  # the page opens on its summary
    expect(s.get_by_text("No match on police systems.")).to_be_visible()
    visit.check(s)
    referrer.sees("Screening")

    # The coordinator screens it and asks the health service what it knows.
    c = pages["coordinator"]
    c.goto(case_url)
    c.get_by_label("Gather information from partner agencies").check()
    c.get_by_label("Screening notes").fill("Vulnerability indicators present.")
    press(c, "Record outcome")
    c.get_by_label("Demo health").check()
    c.get_by_label("Question").fill("Is the person known to your service?")
    press(c, "Send requests")
    c.get_by_label("The agency's answer").fill("Not known to us.")
    press(c, "Record answer")
    press(c, "Ready for panel")
    expect(c.get_by_text("Awaiting panel").first).to_be_visible()
    visit.check(c, "case-coordinator")
    referrer.sees("Awaiting panel")

    # The coordinator schedules a panel; the chair puts the case on it and decides.
    c.goto("/meetings")
    # Today, in the network's time zone: the chair marks it as held, then decides.
    when = datetime.now(ZoneInfo("Europe/London")).strftime("%Y-%m-%dT%H:%M")
    c.get_by_label("Date and time", exact=True).fill(when)
    c.get_by_label("Location").fill("Town hall, room 2")
    c.get_by_label("Chair", exact=True).select_option(index=1)
    c.get_by_label(re.compile(r"^Pat Panel")).check()
    press(c, "Schedule the meeting")
    c.goto("/meetings")
    visit.check(c, "meetings")
    meeting_href = c.get_by_role("link", name=re.compile(r"^Meeting \d+")).first.get_attribute(
        "href"
    )
    assert meeting_href

    h = pages["chair"]
    h.goto(meeting_href)
    h.get_by_label(re.compile(rf"^{reference} ")).check()
    press(h, "Add to the agenda")
    press(h, "Mark the meeting as held")  # decisions are recorded once it is
    h.locator(f"#case-{case_id} summary").click()  # each agenda item opens on demand
    h.locator(f"#decision-{case_id} input[name=outcome][value=support]").check()
    h.get_by_label("Rationale").fill("Consensus: mentoring is proportionate.")
    h.get_by_label("Message to the referrer (optional)").fill("The panel has offered support.")
    visit.check(h, "meeting")
    press(h, "Record the decision")
    referrer.sees("Awaiting consent")

    # Consent from the person's guardian, then support with a mentoring provider.
    c.goto(case_url)
    press(c, "Request consent")
    c.get_by_label("Consent given").check()
    c.get_by_label("How consent was asked").select_option(index=1)
    c.get_by_label("A parent or guardian").check()
    c.get_by_label("Name of the parent or guardian").fill("A. Guardian")
    c.get_by_label("Identity to Civil society").check()
    c.get_by_label("Support to Civil society").check()
    press(c, "Record answer")
    press(c, "Start support")
    c.get_by_label("Kind of intervention").select_option("mentoring")
    c.get_by_label("Provider").select_option(str(world.org_ids[OrgKind.CIVIL_SOCIETY]))
    c.get_by_label("Plan").fill("Weekly mentoring for three months.")
    press(c, "Assign")
    visit.check(c)
    referrer.sees("In support")

    # The provider accepts, starts and records a session.
    p = pages["provider"]
    p.goto("/interventions")
    press(p, "Accept")
    press(p, "Start")
    visit.check(p, "interventions")
    p.get_by_role("link", name=re.compile(r"Mentoring|Intervention", re.IGNORECASE)).first.click()
    p.get_by_label("Session or progress note").fill("Session 1: engaged well.")
    press(p, "Record progress")
    expect(p.get_by_text("Session 1: engaged well.")).to_be_visible()
    visit.check(p, "intervention")

    # The chair ends support at panel; follow-ups; the coordinator closes the case.
    h.goto(case_url)
    press(h, "Exit support")
    referrer.sees("Support ended")
    c.goto(case_url)
    for button in ("Record 6-month follow-up", "Record 12-month follow-up"):
        press(c, button)
    confirm(c, "Close case")
    referrer.sees("Closed")

    # The data-protection officer finds every step and a verified chain.
    d = pages["dpo"]
    d.goto(f"/audit?case={case_id}")
    expect(d.get_by_text("Read the case", exact=True).first).to_be_visible()
    visit.check(d, "audit-explorer")
    # The explorer pages 50 entries at a time, most of them reads; the export holds all.
    export = d.request.get(f"/audit/export.csv?case={case_id}")
    assert export.ok
    results = export.text()
    for action in JOURNEY_ACTIONS:
        assert action in results, f"{action} missing from the audit log"
    d.goto("/audit/chain")
    press(d, "Verify now")
    expect(d.get_by_text(re.compile(r"Chain verified: \d+ entries"))).to_be_visible()
    visit.check(d, "audit-chain")

    for name, page in pages.items():
        assert page.console_errors == [], f"{name}: {page.console_errors}"  # type: ignore[attr-defined]
    assert len(visit.checked) >= 15
