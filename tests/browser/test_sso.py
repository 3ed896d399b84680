"""Single sign-on in a real browser, every page of ours checked with axe-core: a first
sign-in through the network's provider waits for approval, the administrator approves
it, the next sign-in lands on the person's start page, and signing out signs out at the
provider too (its end-session endpoint), back on our sign-in page."""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect
from pydantic import SecretStr

from referral.config import OidcProvider, Settings
from referral.demo import DemoWorld
from referral.oidc import forget_providers
from tests.browser.conftest import Visit, new_page, serve_live, sign_in
from tests.oidc_provider import TestProvider

pytestmark = pytest.mark.browser
NETWORK = "demo-city"


@pytest.fixture(scope="module")
def idp() -> Iterator[TestProvider]:
    forget_providers()
    provider = TestProvider()
    provider.add_person("olly", organisation="Demo police")
    provider.start()
    yield provider
    provider.stop()
    forget_providers()


@pytest.fixture(scope="module")
def sso_world(
    fresh_database: object, authz: object, workflows: object, idp: TestProvider
) -> Iterator[tuple[str, DemoWorld]]:
    def settings_for(base_url: str) -> Settings:
        idp.add_client(
            "referral", "referral-secret", f"{base_url}/sso/{NETWORK}/callback", f"{base_url}/login"
        )
        provider = OidcProvider(
            label="Demo City ID",
            issuer=idp.issuer,
            client_id="referral",
            client_secret=SecretStr("referral-secret"),
        )
        return Settings(
            cookie_secure=True, public_base_url=base_url, oidc_providers={NETWORK: provider}
        )

    with serve_live(fresh_database, authz, workflows, settings_for) as live:
        yield live


def test_a_person_signs_in_through_the_provider_once_an_admin_approved_them(
    chromium: Browser, sso_world: tuple[str, DemoWorld], visit: Visit, idp: TestProvider
) -> None:
    base_url, _ = sso_world
    person = new_page(chromium, base_url)
    person.goto("/login")
    visit.check(person, "login-sso")
    person.get_by_role("link", name="Sign in with Demo City ID").click()
    person.get_by_label("Username").fill("olly")
    person.get_by_role("button", name="Continue").click()
    person.wait_for_load_state()
    expect(person.get_by_role("heading", name="Waiting for approval")).to_be_visible()
    visit.check(person, "sso-waiting")
    person.goto("/queue")
    assert person.url.endswith("/login"), "a pending identity has no session"

    admin = new_page(chromium, base_url)
    sign_in(admin, "admin")
    admin.goto("/admin/sign-ins")
    expect(admin.get_by_text("Waiting for approval")).to_be_visible()
    visit.check(admin, "admin-sign-ins")
    admin.get_by_role("link", name="Review Olly Example").click()
    admin.wait_for_load_state()
    visit.check(admin, "admin-sign-in")
    admin.get_by_role("button", name="Approve").click()
    admin.wait_for_load_state()
    expect(admin.get_by_text("There is a problem")).to_be_visible()
    visit.check(admin)  # the form with its errors
    admin.get_by_label("Username").fill("olly.officer")
    admin.get_by_label("Organisation").select_option(label="Demo police (Police)")
    admin.get_by_label("Screener").check()
    admin.get_by_role("button", name="Approve").click()
    admin.wait_for_load_state()
    expect(admin.get_by_text("The sign-in was approved")).to_be_visible()
    expect(admin.get_by_text("Signs in as Olly Example (olly.officer)")).to_be_visible()

    person.goto("/login")
    person.get_by_role("link", name="Sign in with Demo City ID").click()
    person.get_by_label("Username").fill("olly")
    person.get_by_role("button", name="Continue").click()
    person.wait_for_load_state()
    assert person.url.endswith("/queue"), person.url
    expect(person.get_by_role("link", name="Olly Example")).to_be_visible()

    # Single sign-out: our page sends the browser (a Refresh header, no script) to the
    # provider's end-session endpoint, which sends it back to our sign-in page.
    person.get_by_role("button", name="Sign out").click()
    person.wait_for_url("**/login?state=*")
    expect(person.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
    assert [client for _, client in idp.signed_out] == ["referral"]
    person.goto("/queue")
    assert person.url.endswith("/login"), "the session ended"
    assert person.console_errors == []  # type: ignore[attr-defined]
    assert admin.console_errors == []  # type: ignore[attr-defined]
