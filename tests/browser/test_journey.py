"""A referral's whole journey in a real browser, each page checked with axe-core."""

from playwright.sync_api import Browser, expect

from referral.demo import DemoWorld
from tests.browser.conftest import Visit, new_page, sign_in


def test_referrer_submits_and_follows_a_referral(
    chromium: Browser, live_world: tuple[str, DemoWorld], visit: Visit
) -> None:
    base_url, _ = live_world
    page = new_page(chromium, base_url)
    page.goto("/login")
    visit.check(page, "login")
    sign_in(page, "referrer")
    page.goto("/referrals/new")
    page.get_by_role("button", name="Submit referral").click()
    expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
    visit.check(page, "new-referral-errors")
    page.get_by_label("Given name").fill("Robin")
    page.get_by_label("Family name").fill("Example")
    page.get_by_label("Summary of the concern").fill("Shares hateful memes in class.")
    page.get_by_label("Hate targeting a group").check()
    page.get_by_label("What you have seen or heard").fill("Synthetic account for the browser test.")
    visit.check(page, "new-referral")
    page.get_by_role("button", name="Submit referral").click()
    expect(page.get_by_text("received")).to_be_visible()
    expect(page.get_by_role("cell", name="Submitted", exact=True)).to_be_visible()
    visit.check(page, "my-referrals")
    assert page.console_errors == []  # type: ignore[attr-defined]
