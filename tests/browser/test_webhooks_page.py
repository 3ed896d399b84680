"""The administrator's webhooks page in a real browser, checked with axe-core: empty,
with an error, with the secret shown once, and with a delivery in the log."""

import pytest
from playwright.sync_api import Browser, expect

from referral.demo import DemoWorld
from tests.browser.conftest import Visit, new_page, sign_in
from tests.factories import submit

pytestmark = pytest.mark.browser


def test_an_admin_registers_a_webhook_and_reads_the_delivery_log(
    chromium: Browser, live_world: tuple[str, DemoWorld], visit: Visit
) -> None:
    base_url, world = live_world
    page = new_page(chromium, base_url)
    sign_in(page, "admin")
    page.goto("/admin/webhooks")
    expect(page.get_by_role("heading", name="Register an endpoint")).to_be_visible()
    visit.check(page)

    page.get_by_label("Address").fill("http://partner.example.org/hooks")
    page.get_by_role("button", name="Register endpoint").click()
    page.wait_for_load_state()
    expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
    visit.check(page)

    page.get_by_label("Address").fill("https://partner.example.org/hooks")
    page.get_by_label("case.moved", exact=False).check()
    page.get_by_role("button", name="Register endpoint").click()
    page.wait_for_load_state()
    expect(page.locator("#webhook-secret")).to_contain_text("whsec_")
    visit.check(page)

    submit(world)
    page.goto("/admin/webhooks")
    expect(page.locator("#webhook-secret")).to_have_count(0)
    log = page.get_by_role("table", name="deliveries", exact=False)
    expect(log.get_by_text("case.moved")).to_be_visible()
    visit.check(page, "admin-webhooks")
    assert page.console_errors == []  # type: ignore[attr-defined]
