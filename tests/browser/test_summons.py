"""An official summoned to one meeting, in a real browser, every page checked with
axe-core: the chair summons a police officer of another city's network; the officer
signs in, lands on their invitations, opens the meeting and reads its agenda case with
the criminal information police may see at a panel, and without the special category."""

import re

import pytest
from playwright.sync_api import Browser, expect

from referral.demo import DemoWorld
from referral.domain.vocabulary import OrgKind, Role
from referral.security import hash_password
from referral.services import panel
from tests.browser.conftest import Visit, new_page, sign_in
from tests.factories import add_network_user, schedule, to_awaiting_panel

pytestmark = pytest.mark.browser


def test_the_chair_summons_an_official_who_sees_only_what_police_may_at_panel(
    chromium: Browser, live_world: tuple[str, DemoWorld], visit: Visit
) -> None:
    base_url, world = live_world
    runtime = world.runtime
    meeting_id = schedule(world, runtime)
    case_id = to_awaiting_panel(world)
    world.run("coordinator", panel.set_agenda, panel.SetAgenda(meeting_id, (case_id,)))
    add_network_user(
        runtime, "harbour", "harbour_officer", OrgKind.POLICE, Role.PANEL_MEMBER,
        password_hash=hash_password("demo-password"),
    )  # fmt: skip

    c = new_page(chromium, base_url)
    sign_in(c, "chair")
    c.goto(f"/meetings/{meeting_id}")
    expect(c.get_by_role("heading", name="Officials summoned to this meeting")).to_be_visible()
    visit.check(c)
    # Nothing filled in: the form says what is missing, beside each field.
    c.get_by_role("button", name="Summon").click()
    c.wait_for_load_state()
    expect(c.get_by_text("No active user has that username.").first).to_be_visible()
    visit.check(c)
    c.get_by_label("Their username").fill("harbour_officer")
    c.get_by_label("Why they are summoned").fill("Harbour police hold an earlier referral.")
    c.get_by_role("button", name="Summon").click()
    c.wait_for_load_state()
    expect(c.get_by_text("harbour_officer (Harbour police)")).to_be_visible()
    visit.check(c, "meeting-summons")
    assert c.console_errors == []  # type: ignore[attr-defined]

    o = new_page(chromium, base_url)
    sign_in(o, "harbour_officer")
    expect(o.get_by_role("heading", name="Meetings you are summoned to")).to_be_visible()
    visit.check(o, "summons-landing")
    o.get_by_role("button", name=f"Open meeting {meeting_id}").click()
    o.wait_for_load_state()
    expect(o.get_by_role("heading", name=f"Panel meeting {meeting_id}")).to_be_visible()
    expect(o.get_by_role("heading", name=re.compile(rf"Case {case_id}"))).to_be_visible()
    expect(o.get_by_text("MARK-CRIMINAL")).to_be_visible()
    assert "MARK-SPECIAL" not in o.content()
    visit.check(o, "meeting-summoned-official")
    # The case's own page is not theirs: not found.
    response = o.goto(f"/cases/{case_id}")
    assert response is not None and response.status == 404
    assert o.console_errors == []  # type: ignore[attr-defined]
