"""A referral's whole journey in a real browser, each role in its own session, every
page checked with axe-core; the referrer follows each status change and the dpo finds
every step in the audit explorer and a verified chain.

The journey runs twice: in English, and in Arabic, right to left, asked for by the
browser's `Accept-Language`. Every word it looks for comes from the shipped catalogue
(`Words`), so a page left in English fails the Arabic run."""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from referral.demo import DemoWorld
from referral.domain.vocabulary import OrgKind
from tests.browser.conftest import Visit, Words, new_page, sign_in

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


REFERENCE = re.compile(r"[A-Z]+-\d{4}-\d{4}")


def submit_referral(page: Page, visit: Visit, t: Words) -> tuple[int, str]:
    page.goto("/referrals/new")
    page.get_by_role("button", name=t("Submit referral")).click()
    expect(page.get_by_role("heading", name=t("There is a problem"))).to_be_visible()
    visit.check(page, t.screenshot("new-referral-errors"))
    page.get_by_label(t("Given name")).fill("Robin")
    page.get_by_label(t("Family name")).fill("Example")
    page.get_by_label(t("Date of birth")).fill("2009-05-17")
    page.get_by_label(t("Summary of the concern")).fill("Shares hateful memes in class.")
    page.get_by_label(t("Hate targeting a group")).check()
    page.get_by_label(t("What you have seen or heard")).fill("Synthetic account for the test.")
    page.get_by_label(re.compile("^" + re.escape(t("Health")))).fill("Synthetic health note")
    visit.check(page, t.screenshot("new-referral"))
    page.get_by_role("button", name=t("Submit referral")).click()
    notice = page.locator("#flash .notice-success")
    expect(notice).to_be_visible()
    match = REFERENCE.search(notice.inner_text())
    assert match
    reference = match.group(0)
    expect(notice).to_contain_text(t("Referral %(ref)s received.", ref=reference))
    link = page.get_by_role("link", name=t("Referral %(ref)s", ref=reference), exact=True)
    href = link.get_attribute("href")
    assert href
    return int(href.rsplit("/", 1)[1]), reference


class Referrer:
    """The referrer's own view, reloaded after each stage."""

    def __init__(self, page: Page, reference: str, visit: Visit, t: Words) -> None:
        self.page, self.reference, self.visit, self.t = page, reference, visit, t

    def sees(self, status: str, screenshot: str | None = None) -> None:
        self.page.goto("/referrals")
        row = self.page.get_by_role("row").filter(has_text=self.reference)
        expect(row).to_contain_text(self.t(status))
        self.visit.check(self.page, self.t.screenshot(screenshot))


def press(page: Page, name: str) -> None:
    page.get_by_role("button", name=name, exact=True).click()
    page.wait_for_load_state()


def confirm(page: Page, name: str, t: Words) -> None:
    """A destructive move asks twice: open its confirmation, then press "Yes, ..."."""
    page.locator("summary", has_text=t(name)).click()
    press(page, t("Yes, %(action)s", action=t(name).lower()))


@pytest.mark.parametrize("language", ["en", "ar"])
def test_a_referral_from_submission_to_closure(
    chromium: Browser, live_world: tuple[str, DemoWorld], visit: Visit, language: str
) -> None:
    base_url, world = live_world
    t = Words(language)
    pages = {name: new_page(chromium, base_url, language) for name in
             ("referrer", "screener", "coordinator", "chair", "provider", "dpo")}  # fmt: skip
    pages["referrer"].goto("/login")
    visit.check(pages["referrer"], t.screenshot("login"))
    html = pages["referrer"].locator("html")
    expect(html).to_have_attribute("lang", language)
    expect(html).to_have_attribute("dir", "rtl" if language == "ar" else "ltr")
    for name, page in pages.items():
        sign_in(page, name, words=t)

    case_id, reference = submit_referral(pages["referrer"], visit, t)
    referrer = Referrer(pages["referrer"], reference, visit, t)
    referrer.sees("Submitted", "my-referrals")
    case_url = f"/cases/{case_id}"

    # The police gateway picks it up and checks police systems.
    s = pages["screener"]
    s.goto("/queue")
    visit.check(s, t.screenshot("work-queue"))
    s.goto(case_url)
    press(s, t("Start screening"))
    s.get_by_label(t("Deconfliction result")).fill("No match on police systems.")
    press(s, t("Record deconfliction"))
    s.locator("#section-criminal summary").click()  # the page opens on its summary
    expect(s.get_by_text("No match on police systems.")).to_be_visible()
    visit.check(s)
    referrer.sees("Screening")

    # The coordinator screens it and asks the health service what it knows.
    c = pages["coordinator"]
    c.goto(case_url)
    c.get_by_label(t("Gather information from partner agencies")).check()
    c.get_by_label(t("Screening notes")).fill("Vulnerability indicators present.")
    press(c, t("Record outcome"))
    c.get_by_label("Demo health").check()
    c.get_by_label(t("Question")).fill("Is the person known to your service?")
    press(c, t("Send requests"))
    c.get_by_label(t("The agency's answer")).fill("Not known to us.")
    press(c, t("Record answer"))
    press(c, t("Ready for panel"))
    expect(c.get_by_text(t("Awaiting panel")).first).to_be_visible()
    visit.check(c, t.screenshot("case-coordinator"))
    referrer.sees("Awaiting panel")

    # The coordinator schedules a panel; the chair puts the case on it and decides.
    c.goto("/meetings")
    # Today, in the network's time zone: the chair marks it as held, then decides.
    when = datetime.now(ZoneInfo("Europe/London")).strftime("%Y-%m-%dT%H:%M")
    location = f"Town hall, room {language}"
    c.get_by_label(t("Date and time"), exact=True).fill(when)
    c.get_by_label(t("Location")).fill(location)
    c.get_by_label(t("Chair"), exact=True).select_option(index=1)
    c.get_by_label(re.compile(r"^Pat Panel")).check()
    press(c, t("Schedule the meeting"))
    c.goto("/meetings")
    visit.check(c, t.screenshot("meetings"))
    meeting_row = c.get_by_role("row").filter(has_text=location)
    meeting_href = meeting_row.locator("a[href^='/meetings/']").first.get_attribute("href")
    assert meeting_href

    h = pages["chair"]
    h.goto(meeting_href)
    h.get_by_role("checkbox", name=re.compile(re.escape(reference))).check()
    press(h, t("Add to the agenda"))
    press(h, t("Mark the meeting as held"))  # decisions are recorded once it is
    h.locator(f"#case-{case_id} summary").click()  # each agenda item opens on demand
    h.locator(f"#decision-{case_id} input[name=outcome][value=support]").check()
    h.get_by_label(t("Rationale")).fill("Consensus: mentoring is proportionate.")
    h.get_by_label(t("Message to the referrer (optional)")).fill("The panel offers support.")
    visit.check(h, t.screenshot("meeting"))
    press(h, t("Record the decision"))
    referrer.sees("Awaiting consent")

    # Consent from the person's guardian, then support with a mentoring provider.
    c.goto(case_url)
    press(c, t("Request consent"))
    c.get_by_label(t("Consent given")).check()
    c.get_by_label(t("How consent was asked")).select_option(index=1)
    c.get_by_label(t("A parent or guardian")).check()
    c.get_by_label(t("Name of the parent or guardian")).fill("A. Guardian")
    for category in ("identity", "support"):
        c.locator(f"input[name=scope][value='{category}:civil_society']").check()
    press(c, t("Record answer"))
    press(c, t("Start support"))
    c.get_by_label(t("Kind of intervention")).select_option("mentoring")
    c.get_by_label(t("Provider")).select_option(str(world.org_ids[OrgKind.CIVIL_SOCIETY]))
    c.get_by_label(t("Plan")).fill("Weekly mentoring for three months.")
    press(c, t("Assign"))
    visit.check(c)
    referrer.sees("In support")

    # The provider accepts, starts and records a session.
    p = pages["provider"]
    p.goto("/interventions")
    intervention = p.get_by_role("row").filter(has_text=reference)
    intervention.get_by_role("button", name=t("Accept"), exact=True).click()
    p.wait_for_load_state()
    intervention.get_by_role("button", name=t("Start"), exact=True).click()
    p.wait_for_load_state()
    visit.check(p, t.screenshot("interventions"))
    intervention.locator("a[href^='/interventions/']").first.click()
    p.get_by_label(t("Session or progress note")).fill("Session 1: engaged well.")
    press(p, t("Record progress"))
    expect(p.get_by_text("Session 1: engaged well.")).to_be_visible()
    visit.check(p, t.screenshot("intervention"))

    # The chair ends support at panel; follow-ups; the coordinator closes the case.
    h.goto(case_url)
    press(h, t("Exit support"))
    referrer.sees("Support ended")
    c.goto(case_url)
    for button in ("Record 6-month follow-up", "Record 12-month follow-up"):
        press(c, t(button))
    confirm(c, "Close case", t)
    referrer.sees("Closed")

    # The data-protection officer finds every step and a verified chain.
    d = pages["dpo"]
    d.goto(f"/audit?case={case_id}")
    expect(d.get_by_text(t("Read the case"), exact=True).first).to_be_visible()
    visit.check(d, t.screenshot("audit-explorer"))
    # The explorer pages 50 entries at a time, most of them reads; the export holds all.
    export = d.request.get(f"/audit/export.csv?case={case_id}")
    assert export.ok
    results = export.text()
    for action in JOURNEY_ACTIONS:
        assert action in results, f"{action} missing from the audit log"
    d.goto("/audit/chain")
    press(d, t("Verify now"))
    verified = d.locator(".notice-success").first
    expect(verified).to_be_visible()
    assert re.search(r"\d", verified.inner_text()), "the verified chain counts its entries"
    visit.check(d, t.screenshot("audit-chain"))

    for name, page in pages.items():
        assert page.console_errors == [], f"{name}: {page.console_errors}"  # type: ignore[attr-defined]
    assert len(visit.checked) >= 15
