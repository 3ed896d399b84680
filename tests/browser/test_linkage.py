"""A repeat referral across two cities in a real browser, every page checked with axe-core:
the second city's coordinator sees the possible earlier referral (network, year, state,
similarity; no name), asks the first city to confirm, and its coordinator confirms."""

import re
from datetime import date

import pytest
from playwright.sync_api import Browser, expect

from referral.demo import DEMO_PASSWORD, DemoWorld
from referral.domain.vocabulary import Role
from referral.security import hash_password
from referral.services.referrals import SubjectDetails, SubmitReferral, submit_referral
from referral.services.uow import UnitOfWork
from tests.browser.conftest import Visit, new_page, sign_in
from tests.factories import submit
from tests.networks import add_network

pytestmark = pytest.mark.browser
BORN = date(2011, 10, 3)


def test_a_coordinator_asks_another_city_to_confirm_a_repeat_referral(
    chromium: Browser, live_world: tuple[str, DemoWorld], visit: Visit
) -> None:
    base_url, world = live_world
    runtime = world.runtime
    city = add_network(
        runtime,
        "harbour",
        password_hash=hash_password(DEMO_PASSWORD),
        coordinator=Role.COORDINATOR,
        referrer=Role.REFERRER,
    )
    earlier = submit(
        world,
        subject=SubjectDetails(given_name="Zainab", family_name="Darwish", date_of_birth=BORN),
    )
    command = SubmitReferral(
        subject=SubjectDetails(given_name="زينب", family_name="درويش", date_of_birth=BORN),
        concern_summary="Synthetic concern.",
        concern_types=("hate_targeting_a_group",),
    )
    with UnitOfWork(runtime) as uow:
        later = submit_referral(uow, city.actors["referrer"], command)

    h = new_page(chromium, base_url)
    sign_in(h, "harbour-coordinator")
    h.goto(f"/cases/{later}")
    expect(h.get_by_role("heading", name="Possible repeat referral")).to_be_visible()
    expect(h.get_by_text(re.compile(r"A possible earlier referral: Demo City"))).to_be_visible()
    expect(h.get_by_text("Zainab")).to_have_count(0)
    visit.check(h, "case-linkage")
    h.get_by_role("button", name="Ask Demo City Prevention Network to confirm").click()
    h.wait_for_load_state()
    expect(h.get_by_text("Asked to confirm", exact=True)).to_be_visible()

    d = new_page(chromium, base_url)
    sign_in(d, "coordinator")
    d.goto(f"/cases/{earlier}")
    expect(d.get_by_text(re.compile(r"Harbour Prevention Network asks whether"))).to_be_visible()
    visit.check(d)
    d.get_by_role("button", name="Confirm: the same person").click()
    d.wait_for_load_state()
    expect(d.get_by_text("Confirmed", exact=True)).to_be_visible()

    h.reload()
    expect(h.get_by_text("Confirmed", exact=True)).to_be_visible()

    # The national coordinator's page: the same link, at status level, axe-checked.
    add_network(
        runtime,
        "national",
        kind="national",
        password_hash=hash_password(DEMO_PASSWORD),
        lead=Role.NATIONAL_COORDINATOR,
    )
    n = new_page(chromium, base_url)
    sign_in(n, "national-lead")
    n.get_by_role("link", name="Repeat referrals").click()
    expect(n.get_by_role("heading", name="Repeat referrals across networks")).to_be_visible()
    expect(n.get_by_role("cell", name="Confirmed")).to_be_visible()
    expect(n.get_by_text("Zainab")).to_have_count(0)
    visit.check(n, "national-linkage")
