"""The analyst's statistics page in a real browser, checked with axe-core: charts drawn
as SVG under the strict CSP (no console error), their data tables, and the filters."""

import pytest
from playwright.sync_api import Browser, expect

from referral.demo import DemoWorld
from referral.domain.vocabulary import OrgKind, Role
from referral.security import hash_password
from tests.browser.conftest import Visit, new_page, sign_in
from tests.national import add_member, add_network, submit_as

pytestmark = pytest.mark.browser


def test_the_analyst_reads_charts_and_tables_of_national_statistics(
    chromium: Browser, live_world: tuple[str, DemoWorld], visit: Visit
) -> None:
    base_url, world = live_world
    runtime = world.runtime
    harbour = add_network(runtime, "harbour")
    national = add_network(runtime, "national", kind="national")
    add_member(
        runtime, world, national, "analyst", OrgKind.NATIONAL, Role.ANALYST,
        password_hash=hash_password("demo-password"),
    )  # fmt: skip
    submit_as(runtime, world.actors["referrer"], 8)
    submit_as(runtime, add_member(runtime, world, harbour, "h", OrgKind.POLICE, Role.REFERRER), 3)

    page = new_page(chromium, base_url)
    sign_in(page, "analyst")
    expect(page.get_by_role("heading", name="National statistics")).to_be_visible()
    chart = page.get_by_role("img", name="Referrals by quarter of submission, all networks")
    expect(chart).to_be_visible()
    table = page.get_by_role("table", name="Referrals by quarter of submission, per network")
    expect(table.get_by_role("rowheader", name="Harbour Network")).to_be_visible()
    expect(table.get_by_text("suppressed").first).to_be_visible()
    visit.check(page, "statistics")

    page.get_by_label("Table", exact=True).select_option("age_band")
    page.get_by_role("button", name="Show statistics").click()
    page.wait_for_load_state()
    expect(page.get_by_role("img")).to_have_count(1)
    visit.check(page)

    page.goto("/statistics?since=spring")
    expect(page.get_by_role("alert")).to_contain_text("Give a quarter as YYYY-Qn")
    visit.check(page)
    assert page.console_errors == []  # type: ignore[attr-defined]
