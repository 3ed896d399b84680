"""Every page each demo role reaches, at a phone's 375 px in Chromium: none scrolls
sideways (`scrollWidth` <= the viewport) and axe finds nothing serious or critical.
One browser context per role, its page reused, so the whole walk stays quick.

The walk runs in English and in Arabic: right to left, every role's pages (the admin's,
the panel member's and the analyst's among them) mirror and still fit."""

import pytest
from playwright.sync_api import Browser, Page, expect

from referral.demo import DemoWorld
from referral.domain.vocabulary import OrgKind, Role
from referral.security import hash_password
from referral.services import consent
from tests.browser.conftest import (
    SCREENSHOTS,
    Visit,
    Words,
    settings_for_screenshots,
    sign_in,
)
from tests.factories import schedule, submit, to_awaiting_panel, to_consent_pending, to_support
from tests.national import add_member, add_network

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 740}
WIDTH_OF = "[document.documentElement.scrollWidth, window.innerWidth]"
# The innermost elements that reach past the viewport, to say in a failure what is too wide.
TOO_WIDE = """() => { const edge = window.innerWidth + 1;
  const past = e => e.getBoundingClientRect().right > edge;
  return [...document.querySelectorAll('body *')]
    .filter(e => past(e) && ![...e.children].some(past)).slice(0, 3)
    .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '')); }"""


def _phone(chromium: Browser, base_url: str, username: str, t: Words) -> Page:
    context = chromium.new_context(base_url=base_url, viewport=PHONE, locale=t.language)
    page = context.new_page()
    sign_in(page, username, words=t)
    return page


def _walk(page: Page, paths: list[str], visit: Visit, wide: list[str]) -> None:
    """Visit each path; note the ones wider than the phone (all reported together)."""
    for path in paths:
        answer = page.goto(path)
        assert answer is not None and answer.ok, f"{path} answered {answer and answer.status}"
        scroll, inner = page.evaluate(WIDTH_OF)
        if scroll > inner:
            culprits = page.evaluate(TOO_WIDE)
            wide.append(f"{page.url.split('/', 3)[-1]} is {scroll} px wide ({culprits})")
        visit.check(page)


@pytest.fixture(scope="module")
def cases_to_walk(live_world: tuple[str, DemoWorld]) -> dict[str, int]:
    """A case at each stage, a meeting, an intervention and the national tier, once."""
    _, world = live_world
    runtime = world.runtime
    meeting = schedule(world, runtime)
    submitted = submit(world)
    awaiting = to_awaiting_panel(world)
    pending = to_consent_pending(world, meeting)
    supported, intervention = to_support(world, meeting)
    asked = to_consent_pending(world, meeting)
    world.run("coordinator", consent.request_consent, consent.RequestConsent(asked))
    national = add_network(runtime, "national", kind="national")
    password = hash_password("demo-password")
    for username, role in (("analyst", Role.ANALYST), ("natco", Role.NATIONAL_COORDINATOR)):
        add_member(runtime, world, national, username, OrgKind.NATIONAL, role,
                   password_hash=password)  # fmt: skip
    return {
        "meeting": meeting,
        "submitted": submitted,
        "awaiting": awaiting,
        "pending": pending,
        "supported": supported,
        "intervention": intervention,
        "asked": asked,
    }


@pytest.mark.parametrize("language", ["en", "ar"])
def test_every_page_fits_a_phone(
    chromium: Browser,
    live_world: tuple[str, DemoWorld],
    cases_to_walk: dict[str, int],
    visit: Visit,
    language: str,
) -> None:
    base_url, _ = live_world
    t = Words(language)
    meeting, intervention = cases_to_walk["meeting"], cases_to_walk["intervention"]
    submitted, awaiting = cases_to_walk["submitted"], cases_to_walk["awaiting"]
    pending, supported = cases_to_walk["pending"], cases_to_walk["supported"]
    asked = cases_to_walk["asked"]
    cases = [f"/cases/{case}" for case in (submitted, awaiting, pending, supported)]
    wide: list[str] = []

    phone = _phone(chromium, base_url, "coordinator", t)
    menu = phone.locator("header details")
    assert menu.get_attribute("open") is None  # the menu starts folded on a phone
    header = phone.locator("header").bounding_box()
    assert header is not None and header["height"] < PHONE["height"] * 0.2, header
    queue_link = phone.locator("header").get_by_role("link", name=t("Work queue"))
    expect(queue_link).to_be_hidden()
    phone.get_by_text(t("Menu"), exact=True).click()
    expect(queue_link).to_be_visible()
    visit.check(phone)
    queue_link.click()
    phone.wait_for_load_state()
    visit.check(phone, t.screenshot("phone-queue"))
    # Stacked rows: each cell on its own line, headed by its column's name.
    deadline = phone.locator(f"#queue-table td[data-label='{t('Deadline')}']").first
    before = deadline.evaluate("td => getComputedStyle(td, '::before').content")
    assert before.startswith(f'"{t("Deadline")}'), before
    assert deadline.evaluate("td => getComputedStyle(td).display") == "block"
    coordinator = ["/queue", *cases, "/meetings", f"/meetings/{meeting}", "/notifications",
                   "/search?q=DC", "/account", "/transfers", "/protocol",
                   f"/cases/{supported}/history"]  # fmt: skip
    _walk(phone, coordinator, visit, wide)
    phone.goto(f"/cases/{pending}")
    visit.check(phone, t.screenshot("phone-case"))

    # The consent scope (10 kinds of organisation a category) is chosen in a form that fits:
    # each box sits inside the screen with its organisation kind written beside it.
    _walk(phone, [f"/cases/{asked}"], visit, wide)
    box = phone.locator("#form-record_consent input[name=scope][value='identity:civil_society']")
    box.scroll_into_view_if_needed()
    place = box.bounding_box()
    assert place is not None and place["x"] >= 0, place
    assert place["x"] + place["width"] <= PHONE["width"], place
    expect(phone.locator("#form-record_consent .scope-kind").first).to_be_visible()
    box.check()
    expect(box).to_be_checked()
    if settings_for_screenshots() and language == "en":
        phone.locator("#form-record_consent").screenshot(
            path=str(SCREENSHOTS / "phone-consent-scope.png")
        )

    walks = {
        "referrer": ["/", "/referrals", "/referrals/new", f"/cases/{submitted}"],
        "screener": ["/queue", f"/cases/{submitted}", "/information-requests"],
        "panel": ["/meetings", f"/meetings/{meeting}", f"/cases/{pending}"],
        "chair": [f"/meetings/{meeting}", f"/cases/{pending}"],
        "provider": ["/interventions", f"/interventions/{intervention}"],
        "health_contact": ["/information-requests"],
        "dpo": [
            "/audit",
            "/audit/break-glass",
            "/audit/chain",
            "/audit/destructions",
            "/audit/reports",
            "/subjects",
            "/policy/impact",
            f"/cases/{supported}",
        ],
        "admin": [
            "/admin/users",
            "/admin/organisations",
            "/admin/import",
            "/admin/tokens",
            "/admin/webhooks",
            "/admin/sign-ins",
            "/protocol",
        ],
        "analyst": ["/statistics", "/networks"],
        "natco": ["/transfers", "/linkage", "/networks"],
    }
    for username, paths in walks.items():
        page = _phone(chromium, base_url, username, t)
        _walk(page, ["/", *paths], visit, wide)
        page.context.close()
    assert wide == [], "pages scroll sideways at 375 px: " + "; ".join(wide)
