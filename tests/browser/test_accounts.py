"""Accounts at scale in a real browser, checked with axe-core: the administrator imports
users from a CSV file (a preview with its problems, then a clean file applied), sets an
imported account's first password, and revokes a token; a person revokes their own."""

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from referral.demo import DemoWorld
from tests.browser.conftest import Visit, new_page, sign_in

pytestmark = pytest.mark.browser

HEADER = "network,organisation,organisation_kind,username,display_name,email,roles\n"


def test_an_administrator_imports_users_and_manages_tokens(
    chromium: Browser, live_world: tuple[str, DemoWorld], visit: Visit, tmp_path: Path
) -> None:
    base_url, _ = live_world
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "demo-city,Demo youth,youth,admin,Ad Min,,overlord\n")
    good = tmp_path / "good.csv"
    good.write_text(
        HEADER + "demo-city,Northside Boxing,civil_society,bo.boxer,Bo Boxer,,provider\n"
    )

    person = new_page(chromium, base_url)
    sign_in(person, "coordinator")
    person.goto("/account")
    person.get_by_label("What the token is for").fill("nightly export")
    person.get_by_role("button", name="Create a token").click()
    expect(person.get_by_role("row", name="nightly export")).to_contain_text("Active")
    visit.check(person)

    page = new_page(chromium, base_url)
    sign_in(page, "admin")
    page.goto("/admin/import")
    page.get_by_label("CSV file (UTF-8)").set_input_files(str(bad))
    page.get_by_role("button", name="Check the file").click()
    expect(page.get_by_role("alert")).to_contain_text("nothing was imported")
    expect(page.get_by_text("'overlord' is not a role", exact=False)).to_be_visible()
    visit.check(page)

    page.get_by_label("CSV file (UTF-8)").set_input_files(str(good))
    page.get_by_role("button", name="Check the file").click()
    expect(page.get_by_text("The file is ready to import")).to_be_visible()
    visit.check(page)
    page.get_by_role("button", name="Import 1 user").click()
    expect(page.get_by_text("The users were imported.")).to_be_visible()
    row = page.get_by_role("row", name="Bo Boxer")
    expect(row).to_contain_text("No password yet")
    row.get_by_label("New password for Bo Boxer").fill("a-first-password")
    row.get_by_role("button", name="Set password for Bo Boxer").click()
    expect(page.get_by_text("The password was set.")).to_be_visible()
    visit.check(page)

    page.goto("/admin/tokens")
    token = page.get_by_role("row", name="nightly export")
    expect(token).to_contain_text("Casey Coordinator")
    visit.check(page)
    token.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("The token was revoked")).to_be_visible()
    expect(page.get_by_role("row", name="nightly export")).to_contain_text("Revoked")
    visit.check(page)

    person.goto("/account")
    expect(person.get_by_role("row", name="nightly export")).to_contain_text("Revoked")
    assert page.console_errors == [] and person.console_errors == []  # type: ignore[attr-defined]
