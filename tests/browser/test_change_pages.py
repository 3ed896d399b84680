"""The pages for changing the agreement and the process, in a real browser with axe-core:
the dpo's preview of a proposed policy, and the coordinator's migration dry run. (Nothing
is applied here: the live app reads the project's own policy files.)"""

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from referral.demo import DemoWorld
from tests.browser.conftest import Visit, new_page, sign_in
from tests.factories import submit
from tests.integration.test_workflow_migration import CURRENT, NEXT, load_current_and_next

pytestmark = pytest.mark.browser

CRIMINAL = "p, coordinator, *, criminal, read, !in_state(draft), screening, crime_prevention, allow"


def test_the_dpo_previews_a_policy_and_the_coordinator_a_migration(
    chromium: Browser, live_world: tuple[str, DemoWorld], visit: Visit, tmp_path: Path
) -> None:
    base_url, world = live_world
    case_id = submit(world)

    page = new_page(chromium, base_url)
    sign_in(page, "dpo")
    page.get_by_role("link", name="Policy changes").click()
    proposal = page.get_by_label("Proposed policy (default.csv)")
    proposal.fill(proposal.input_value().replace(CRIMINAL + "\n", ""))
    page.get_by_role("button", name="Preview the impact").click()
    page.wait_for_load_state()
    losses = page.get_by_role("table", name="Who would lose access", exact=False)
    expect(losses.get_by_role("link", name=str(case_id))).to_be_visible()
    expect(page.get_by_role("button", name="Approve and apply")).to_be_visible()
    visit.check(page, "policy-impact")

    load_current_and_next(world.runtime, tmp_path)
    page = new_page(chromium, base_url)
    sign_in(page, "coordinator")
    page.goto("/workflows/migrate")
    page.get_by_label("From version").fill(str(CURRENT))
    page.get_by_label("To version").fill(str(NEXT))
    page.get_by_label("Where states go").fill("support=support_planned")
    page.get_by_role("button", name="Show the dry run").click()
    page.wait_for_load_state()
    expect(page.get_by_role("heading", name="1 case(s) would move, 0 would stay")).to_be_visible()
    visit.check(page, "workflow-migration")
    assert page.console_errors == []  # type: ignore[attr-defined]
