"""Sign-in, sessions, CSRF and security headers over HTTP."""

from collections.abc import Callable

from tests.conftest import TestClock
from tests.e2e.conftest import Browser


def test_login_page_answers_with_security_headers(browser: Callable[..., Browser]) -> None:
    response = browser().get("/login")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["cache-control"] == "no-store"
    # A visitor gets only the sign-in form's token, in a cookie no script or other site
    # can use; the session cookie comes at sign-in.
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("referral_csrf=")
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=strict" in cookie


def test_the_session_cookie_is_secure_httponly_and_lax(browser: Callable[..., Browser]) -> None:
    b = browser()
    b.get("/login")
    response = b.post("/login", {"username": "referrer", "password": "demo-password"})
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("referral_session=")
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=lax" in cookie


def test_a_visitor_is_refused_a_sign_in_without_the_form_token(
    browser: Callable[..., Browser],
) -> None:
    b = browser()
    b.get("/login")
    b.client.cookies.delete("referral_csrf")
    response = b.post("/login", {"username": "referrer", "password": "demo-password"})
    assert response.status_code == 403
    assert "form has expired" in response.text


def test_sign_in_gives_a_new_session_id(browser: Callable[..., Browser]) -> None:
    b = browser()
    b.get("/login")
    before = b.client.cookies.get("referral_session")
    response = b.post("/login", {"username": "referrer", "password": "demo-password"})
    assert response.status_code == 303
    after = b.client.cookies.get("referral_session")
    assert after and after != before
    assert b.get("/referrals").status_code == 200


def test_wrong_password_gets_one_generic_message(browser: Callable[..., Browser]) -> None:
    b = browser()
    wrong = b.login("referrer", "not-the-password")
    unknown = b.login("nobody-by-this-name", "whatever")
    assert wrong.status_code == unknown.status_code == 400
    assert "Sign-in failed" in wrong.text and "Sign-in failed" in unknown.text


def test_repeated_failures_lock_the_username_even_with_the_right_password(
    browser: Callable[..., Browser],
) -> None:
    b = browser()
    for _ in range(5):
        b.login("coordinator", "wrong")
    assert b.login("coordinator").status_code == 400


def test_state_change_without_csrf_token_is_refused(browser: Callable[..., Browser]) -> None:
    b = browser("referrer")
    response = b.client.post("/referrals", data={"given_name": "A"})
    assert response.status_code == 403
    forged = b.client.post("/referrals", data={"_csrf": "forged", "given_name": "A"})
    assert forged.status_code == 403


def test_pages_need_a_session(browser: Callable[..., Browser]) -> None:
    response = browser().get("/referrals", follow_redirects=False)
    assert response.status_code in (302, 303, 307)
    assert response.headers["location"].endswith("/login")


def test_sign_out_ends_the_session(browser: Callable[..., Browser]) -> None:
    b = browser("referrer")
    assert b.post("/logout").status_code == 303
    assert b.get("/referrals", follow_redirects=False).status_code in (302, 303, 307)


def test_account_page_issues_an_api_token_once(browser: Callable[..., Browser]) -> None:
    b = browser("coordinator")
    assert b.get("/account").status_code == 200
    missing = b.post("/account/tokens", {"label": " "})
    assert missing.status_code == 422
    issued = b.post("/account/tokens", {"label": "export script"})
    assert issued.status_code == 200
    assert "shown only once" in issued.text
    assert "shown only once" not in b.get("/account").text


def test_an_idle_session_ends(browser: Callable[..., Browser], clock: TestClock) -> None:
    b = browser("referrer")
    clock.advance(minutes=29)
    assert b.get("/referrals").status_code == 200
    clock.advance(minutes=31)
    assert b.get("/referrals", follow_redirects=False).status_code in (302, 303, 307)


def test_a_busy_session_still_ends_after_its_absolute_lifetime(
    browser: Callable[..., Browser], clock: TestClock
) -> None:
    b = browser("referrer")
    for _ in range(35):  # a request every 20 minutes, for 11 hours 40 minutes
        clock.advance(minutes=20)
        assert b.get("/referrals").status_code == 200
    clock.advance(minutes=21)  # idle for less than 30 minutes, but 12 hours have passed
    assert b.get("/referrals", follow_redirects=False).status_code in (302, 303, 307)
