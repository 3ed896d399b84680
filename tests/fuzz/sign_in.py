"""Print an API bearer token for a demo user of a served app, as a person gets one.

Signs in through the login form, then asks POST /api/tokens with the session cookie and
its CSRF token: the way the account page issues tokens, so the fuzzer's token is real.
Usage: python tests/fuzz/sign_in.py BASE_URL USERNAME [PASSWORD]
"""

import re
import sys

import httpx

CSRF_INPUT = re.compile(r'name="_csrf" value="([^"]+)"')


def issue_token(base_url: str, username: str, password: str) -> str:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        csrf = _csrf(client.get("/login").text)
        signed_in = client.post(
            "/login", data={"_csrf": csrf, "username": username, "password": password}
        )
        if signed_in.status_code != 303:
            raise SystemExit(f"sign-in as {username} answered {signed_in.status_code}")
        csrf = _csrf(client.get("/account").text)
        issued = client.post(
            "/api/tokens", json={"label": "schemathesis"}, headers={"X-CSRF-Token": csrf}
        )
        issued.raise_for_status()
        token: str = issued.json()["token"]
        return token


def _csrf(html: str) -> str:
    match = CSRF_INPUT.search(html)
    if not match:
        raise SystemExit("the page has no CSRF field")
    return match.group(1)


if __name__ == "__main__":
    base, user = sys.argv[1], sys.argv[2]
    print(issue_token(base, user, sys.argv[3] if len(sys.argv) > 3 else "demo-password"))
