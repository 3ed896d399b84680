"""The second factor in a real browser, checked with axe-core: a dpo, whose role must have
one, is led to enrol at sign-in (the code computed from the page's key, as an app would),
keeps the recovery codes, signs out, and signs in again with a code; a coordinator gets
new recovery codes, and an administrator resets the coordinator's lost second factor."""

import threading
import time
from collections.abc import Iterator

import pyotp
import pytest
import uvicorn
from playwright.sync_api import Browser, expect
from sqlalchemy import Engine

from referral.config import Settings
from referral.db.engine import make_session_factory
from referral.services.uow import Runtime
from referral.web.app import create_app
from referral.workflow.machine import WorkflowEngine
from tests.browser.conftest import Visit, free_port, new_page
from tests.conftest import TEST_KEYRING
from tests.factories import make_world

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def obliging_server(fresh_database: object, authz: object, workflows: object) -> Iterator[str]:
    """The app on a fresh database with the demo people, its dpo, coordinator and admin
    obliged to a second factor."""
    engine: Engine = fresh_database()  # type: ignore[operator]
    runtime = Runtime(
        make_session_factory(engine, TEST_KEYRING), authz, workflows, WorkflowEngine()
    )  # type: ignore[arg-type]
    make_world(runtime)
    port = free_port()
    app = create_app(
        Settings(cookie_secure=True, second_factor_roles=("dpo", "coordinator", "admin")), runtime
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _password(page: object, username: str = "dpo") -> None:
    page.goto("/login")  # type: ignore[attr-defined]
    page.get_by_label("Username").fill(username)  # type: ignore[attr-defined]
    page.get_by_label("Password").fill("demo-password")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]
    page.wait_for_load_state()  # type: ignore[attr-defined]


def test_a_dpo_enrols_at_sign_in_and_signs_in_again_with_a_code(
    chromium: Browser, obliging_server: str, visit: Visit
) -> None:
    page = new_page(chromium, obliging_server)
    _password(page)
    expect(page.get_by_role("heading", name="Set up your second factor")).to_be_visible()
    qr = page.get_by_role("img", name="QR code for your authenticator app", exact=False)
    expect(qr).to_be_visible()
    alt = qr.get_attribute("alt") or ""
    key = page.locator("#manual-key").inner_text()
    assert key in alt  # the QR code's text alternative carries the key
    visit.check(page, "second-factor-enrol")

    totp = pyotp.TOTP(key.replace(" ", ""))
    page.get_by_label("Code from your authenticator app").fill(totp.now())
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_load_state()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    assert page.locator(".recovery-codes li").count() == 10
    visit.check(page)
    page.get_by_role("link", name="I have kept them: continue").click()
    page.wait_for_load_state()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()
    _password(page)
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    visit.check(page)
    # The enrolment spent this 30-second step's code: an app's next one counts.
    page.get_by_label("Code from your authenticator app").fill(totp.at(time.time() + 30))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_load_state()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    assert page.console_errors == []  # type: ignore[attr-defined]


def _enrol(page: object) -> pyotp.TOTP:
    """Enrol at sign-in, as an app would from the page's key; on to the first page."""
    expect(page.get_by_role("heading", name="Set up your second factor")).to_be_visible()  # type: ignore[attr-defined]
    totp = pyotp.TOTP(page.locator("#manual-key").inner_text().replace(" ", ""))  # type: ignore[attr-defined]
    page.get_by_label("Code from your authenticator app").fill(totp.now())  # type: ignore[attr-defined]
    page.get_by_role("button", name="Confirm").click()  # type: ignore[attr-defined]
    page.get_by_role("link", name="I have kept them: continue").click()  # type: ignore[attr-defined]
    page.wait_for_load_state()  # type: ignore[attr-defined]
    return totp


def test_new_recovery_codes_and_an_administrators_reset(
    chromium: Browser, obliging_server: str, visit: Visit
) -> None:
    page = new_page(chromium, obliging_server)
    _password(page, "coordinator")
    totp = _enrol(page)
    page.goto("/account")
    expect(page.get_by_role("heading", name="New recovery codes")).to_be_visible()
    visit.check(page, "second-factor-account")
    page.get_by_label("Code from your authenticator app").fill("000000")
    page.get_by_role("button", name="Get new recovery codes").click()
    page.wait_for_load_state()
    if totp.now() != "000000":
        expect(page.locator("#second_factor_code-error")).to_contain_text("The code is wrong")
        visit.check(page)
    # The enrolment spent this 30-second step's code: the app's next one counts.
    page.get_by_label("Code from your authenticator app").fill(totp.at(time.time() + 30))
    page.get_by_role("button", name="Get new recovery codes").click()
    page.wait_for_load_state()
    expect(page.get_by_text("the old ones no longer work")).to_be_visible()
    assert page.locator(".recovery-codes li").count() == 10
    page.get_by_role("link", name="I have kept them: continue").click()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()

    _password(page, "admin")
    _enrol(page)
    page.goto("/admin/users")
    page.get_by_role("link", name="Reset second factor of Casey Coordinator").click()
    page.wait_for_load_state()
    expect(
        page.get_by_role("heading", name="Reset Casey Coordinator's second factor?")
    ).to_be_visible()
    visit.check(page, "second-factor-reset")
    page.get_by_role("button", name="Reset the second factor").click()
    page.wait_for_load_state()
    expect(page.get_by_text("The second factor was reset")).to_be_visible()
    visit.check(page)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()

    _password(page, "coordinator")
    expect(page.get_by_role("heading", name="Set up your second factor")).to_be_visible()
    assert page.console_errors == []  # type: ignore[attr-defined]
