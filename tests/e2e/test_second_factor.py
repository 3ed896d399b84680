"""The second factor over HTTP: enrolment at sign-in for a role that must have one, the
code after the password, recovery codes that work once, wrong codes throttled like wrong
passwords, and the fresh code that break-glass and the erase button want."""

import re
from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from referral.config import Settings
from referral.db.tables import BreakGlassGrant, Case
from referral.demo import DemoWorld
from referral.services.uow import Runtime
from referral.web.app import create_app
from tests.conftest import TestClock
from tests.e2e.conftest import PASSWORD, Api, Browser
from tests.factories import closed_no_action, enrol_second_factor, to_awaiting_panel, totp_code

WHY = "Imminent risk reported this morning; the health context decides who acts."
Browse = Callable[..., Browser]
MANUAL_KEY = re.compile(r'id="manual-key">([A-Z2-7 ]+)<')


@pytest.fixture
def dpo_must(runtime: Runtime, world: DemoWorld) -> Browser:
    """A visitor on an app whose dpo role must have a second factor."""
    app = create_app(Settings(cookie_secure=True, second_factor_roles=("dpo",)), runtime)
    client = TestClient(app, base_url="https://testserver.local", raise_server_exceptions=False)
    return Browser(client)


def _password(b: Browser, username: str = "dpo") -> str:
    b.get("/login")
    response = b.post("/login", {"username": username, "password": PASSWORD})
    assert response.status_code in (303, 400), response.text
    return str(response.headers.get("location", ""))


def _code_step(b: Browser, code: str) -> Any:
    b.get("/login/code")
    return b.post("/login/code", {"code": code})


def test_a_role_that_must_have_a_second_factor_is_led_to_enrol_before_any_case_data(
    dpo_must: Browser, world: DemoWorld, runtime: Runtime, clock: TestClock
) -> None:
    b = dpo_must
    case_id = to_awaiting_panel(world)
    assert _password(b) == "/login/code"
    for page in ("/audit", f"/cases/{case_id}", "/account"):
        refused = b.get(page, follow_redirects=False)
        assert refused.status_code in (302, 303, 401), page
        assert "Testy" not in refused.text
    assert b.get("/login/code", follow_redirects=False).headers["location"] == "/login/enrol"

    enrol = b.get("/login/enrol")
    assert enrol.status_code == 200
    assert (
        'src="data:image/svg+xml' in enrol.text and "<script" not in enrol.text.split("</head>")[1]
    )
    key = MANUAL_KEY.search(enrol.text)
    assert key, "the enrolment page shows no key to type"
    assert f"type this key: {key.group(1)}" in enrol.text  # the QR code's text alternative
    secret = key.group(1).replace(" ", "")

    wrong = b.post("/login/enrol", {"code": "12345"})
    assert wrong.status_code == 400 and "did not work" in wrong.text
    done = b.post("/login/enrol", {"code": pyotp.TOTP(secret).at(clock.now)})
    assert done.status_code == 200, done.text
    codes = re.findall(r'<code class="token">([a-z2-9]{5}-[a-z2-9]{5})</code>', done.text)
    assert len(codes) == 10
    assert b.get("/audit").status_code == 200
    assert b.get(f"/cases/{case_id}").status_code == 200


def test_sign_in_asks_for_the_code_after_the_password(
    browser: Browse, world: DemoWorld, runtime: Runtime, clock: TestClock
) -> None:
    secret, _ = enrol_second_factor(runtime, world.actors["dpo"].user_id)
    clock.advance(seconds=30)
    b = browser()
    assert _password(b) == "/login/code"
    assert b.get("/audit", follow_redirects=False).status_code != 200
    page = b.get("/login/code")
    assert page.status_code == 200 and "Enter your code" in page.text
    wrong = _code_step(b, "000000" if totp_code(secret, clock.now) != "000000" else "111111")
    assert wrong.status_code == 400 and "did not work" in wrong.text
    right = _code_step(b, totp_code(secret, clock.now))
    assert right.status_code == 303 and right.headers["location"] == "/"
    assert b.get("/audit").status_code == 200
    # The user without a second factor, in a role nobody obliged, signs in as before.
    assert browser("referrer").get("/referrals").status_code == 200


def test_a_recovery_code_signs_in_once(browser: Browse, world: DemoWorld, runtime: Runtime) -> None:
    _, codes = enrol_second_factor(runtime, world.actors["dpo"].user_id)
    first = browser()
    _password(first)
    assert _code_step(first, codes[0]).status_code == 303
    assert first.get("/audit").status_code == 200
    again = browser()
    _password(again)
    assert _code_step(again, codes[0]).status_code == 400


def test_wrong_codes_lock_the_username_like_wrong_passwords(
    browser: Browse, world: DemoWorld, runtime: Runtime, clock: TestClock
) -> None:
    secret, _ = enrol_second_factor(runtime, world.actors["dpo"].user_id)
    clock.advance(seconds=30)
    b = browser()
    _password(b)
    for _ in range(5):
        assert _code_step(b, "abcde-fghij").status_code == 400
    # The right code, and then the right password, meet the full throttle.
    assert _code_step(b, totp_code(secret, clock.now)).status_code == 400
    assert _password(browser()) == ""


def _signed_in_with_code(
    browser: Browse, runtime: Runtime, world: DemoWorld, clock: TestClock
) -> tuple[Browser, str]:
    secret, _ = enrol_second_factor(runtime, world.actors["dpo"].user_id)
    clock.advance(seconds=30)
    b = browser()
    _password(b)
    assert _code_step(b, totp_code(secret, clock.now)).status_code == 303
    return b, secret


def test_break_glass_wants_a_code_given_within_the_last_minutes(
    browser: Browse, world: DemoWorld, runtime: Runtime, clock: TestClock
) -> None:
    case_id = to_awaiting_panel(world)
    b, secret = _signed_in_with_code(browser, runtime, world, clock)
    page = b.get(f"/cases/{case_id}")
    assert 'name="second_factor_code"' in page.text
    fresh = b.post(f"/cases/{case_id}/break-glass", {"category": "special", "justification": WHY})
    assert fresh.status_code == 303, fresh.text  # the sign-in's code is 0 minutes old

    clock.advance(minutes=10)
    b.get(f"/cases/{case_id}")
    stale = b.post(f"/cases/{case_id}/break-glass", {"category": "criminal", "justification": WHY})
    assert stale.status_code == 422 and "confirm with a code" in stale.text
    confirmed = b.post(
        f"/cases/{case_id}/break-glass",
        {
            "category": "criminal",
            "justification": WHY,
            "second_factor_code": totp_code(secret, clock.now),
        },
    )
    assert confirmed.status_code == 303, confirmed.text
    with runtime.session_factory() as session:
        opened = session.scalars(select(BreakGlassGrant.category)).all()
    assert sorted(opened) == ["criminal", "special"]


def test_the_erase_button_wants_a_fresh_code(
    browser: Browse, world: DemoWorld, runtime: Runtime, clock: TestClock
) -> None:
    case_id = closed_no_action(world)
    b, secret = _signed_in_with_code(browser, runtime, world, clock)
    clock.advance(minutes=10)
    page = b.get(f"/cases/{case_id}")
    assert 'id="move-erase-code"' in page.text
    refused = b.post(f"/cases/{case_id}/move", {"trigger": "erase"})
    assert refused.status_code == 422 and "confirm with a code" in refused.text
    erased = b.post(
        f"/cases/{case_id}/move",
        {"trigger": "erase", "second_factor_code": totp_code(secret, clock.now)},
    )
    assert erased.status_code == 303, erased.text
    with runtime.session_factory() as session:
        assert session.scalar(select(Case.state).where(Case.id == case_id)) == "erased"


def test_the_api_takes_the_code_in_a_header(
    api: Api, world: DemoWorld, runtime: Runtime, clock: TestClock
) -> None:
    case_id = to_awaiting_panel(world)
    secret, _ = enrol_second_factor(runtime, world.actors["dpo"].user_id)
    clock.advance(seconds=30)
    url = f"/api/cases/{case_id}/break-glass"
    body = {"category": "special", "justification": WHY}
    refused = api.post("dpo", url, body)
    assert refused.status_code == 422 and "second factor" in refused.text
    headers = {**api.auth("dpo"), "X-Second-Factor-Code": totp_code(secret, clock.now)}
    assert api.client.post(url, json=body, headers=headers).status_code == 201


def test_anyone_may_set_one_up_from_the_account_page_and_is_asked_for_it_next_time(
    browser: Browse, world: DemoWorld, clock: TestClock
) -> None:
    b = browser("referrer")
    assert "Set up a second factor" in b.get("/account").text
    assert b.post("/account/second-factor").headers["location"] == "/account/second-factor"
    page = b.get("/account/second-factor")
    key = MANUAL_KEY.search(page.text)
    assert key and 'action="/account/second-factor/confirm"' in page.text
    totp = pyotp.TOTP(key.group(1).replace(" ", ""))
    assert b.post("/account/second-factor/confirm", {"code": "123"}).status_code == 400
    done = b.post("/account/second-factor/confirm", {"code": totp.at(clock.now)})
    assert done.status_code == 200 and "Your recovery codes" in done.text
    assert "Set up a second factor" not in b.get("/account").text

    clock.advance(seconds=30)
    again = browser()
    assert _password(again, "referrer") == "/login/code"
    assert _code_step(again, totp.at(clock.now)).status_code == 303
    assert again.get("/referrals").status_code == 200
