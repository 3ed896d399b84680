"""Switching networks and acknowledging a network's protocol in a real browser, checked
with axe-core: a coordinator of two cities switches from the header, is sent to the second
city's protocol before its cases, acknowledges it, and then works in that city only."""

from datetime import timedelta

import pytest
from playwright.sync_api import Browser, expect

from referral.db.tables import Network, Organisation, RoleAssignment, User
from referral.demo import DemoWorld
from referral.domain.actors import Actor
from referral.domain.vocabulary import OrgKind, Role
from referral.security import hash_password
from referral.services import protocols, referrals
from referral.services.uow import UnitOfWork
from tests.browser.conftest import Visit, new_page, sign_in
from tests.factories import referral_command, submit

pytestmark = pytest.mark.browser

HARBOUR = "Harbour City Prevention Network"
DEMO = "Demo City Prevention Network"


def _second_city(world: DemoWorld) -> tuple[int, int]:
    """Harbour, a person coordinating in both cities, a case and a protocol in harbour."""
    runtime = world.runtime
    demo = world.actors["coordinator"].network_id
    with runtime.session_factory() as session, session.begin():
        harbour = Network(slug="harbour", name=HARBOUR)
        session.add(harbour)
        session.flush()
        org = Organisation(network_id=harbour.id, name="Harbour school", kind="education")
        session.add(org)
        session.flush()
        person = User(
            username="both-cities",
            display_name="Tam Two-Cities",
            organisation_id=world.org_ids[OrgKind.LOCAL_AUTHORITY],
            password_hash=hash_password("demo-password"),
        )
        teacher = User(
            username="harbour-teacher", display_name="T", organisation_id=org.id, password_hash="x"
        )
        session.add_all([person, teacher])
        session.flush()
        session.add_all(
            [
                RoleAssignment(user_id=person.id, network_id=demo, role="coordinator"),
                RoleAssignment(user_id=person.id, network_id=harbour.id, role="coordinator"),
                RoleAssignment(user_id=teacher.id, network_id=harbour.id, role="referrer"),
            ]
        )
        ids = harbour.id, person.id, teacher.id, org.id
    harbour_id, person_id, teacher_id, org_id = ids
    referrer = Actor(
        teacher_id, org_id, OrgKind.EDUCATION, harbour_id, "harbour", frozenset({Role.REFERRER})
    )
    coordinator = Actor(
        person_id,
        world.org_ids[OrgKind.LOCAL_AUTHORITY],
        OrgKind.LOCAL_AUTHORITY,
        harbour_id,
        "harbour",
        frozenset({Role.COORDINATOR}),
    )
    with UnitOfWork(runtime) as uow:
        there = referrals.submit_referral(uow, referrer, referral_command())
    with UnitOfWork(runtime) as uow:
        review_on = runtime.clock().date() + timedelta(days=180)
        text = "Harbour shares only what the agreement allows.\n\nRecord why you looked."
        protocols.publish(uow, coordinator, protocols.Publish(text, "Harbour IG lead", review_on))
    return harbour_id, int(there)


def test_a_coordinator_of_two_cities_switches_and_acknowledges_the_protocol(
    chromium: Browser, live_world: tuple[str, DemoWorld], visit: Visit
) -> None:
    base_url, world = live_world
    here = submit(world)
    harbour_id, there = _second_city(world)
    page = new_page(chromium, base_url)
    sign_in(page, "both-cities")
    page.goto("/queue")
    switcher = page.get_by_label("Network")
    expect(switcher).to_have_value(str(world.actors["coordinator"].network_id))
    expect(page.locator(f'a[href="/cases/{here}"]').first).to_be_visible()
    expect(page.locator(f'a[href="/cases/{there}"]')).to_have_count(0)
    visit.check(page, "network-switcher")

    switcher.select_option(label=HARBOUR)
    page.get_by_role("button", name="Switch").click()
    page.wait_for_load_state()
    # Harbour's protocol comes before its cases.
    expect(page).to_have_url(f"{base_url}/protocol")
    expect(
        page.get_by_role("heading", name=f"Information-sharing protocol of {HARBOUR}")
    ).to_be_visible()
    expect(page.get_by_text("Record why you looked.")).to_be_visible()
    expect(page.get_by_label("Network")).to_have_value(str(harbour_id))
    visit.check(page, "protocol")
    page.get_by_role("button", name="I have read and will follow version 1").click()
    page.wait_for_load_state()
    expect(page.get_by_text("Thank you: your acknowledgement is recorded.")).to_be_visible()
    visit.check(page)

    page.goto("/queue")
    expect(page.locator(f'a[href="/cases/{there}"]').first).to_be_visible()
    expect(page.locator(f'a[href="/cases/{here}"]')).to_have_count(0)
    visit.check(page)
    response = page.goto(f"/cases/{here}")
    assert response is not None and response.status == 404  # the other city's case

    page.goto("/queue")
    page.get_by_label("Network").select_option(label=DEMO)
    page.get_by_role("button", name="Switch").click()
    page.wait_for_load_state()
    expect(page.locator(f'a[href="/cases/{here}"]').first).to_be_visible()
    assert page.console_errors == []  # type: ignore[attr-defined]
