"""HTTP fixtures: the real app on the test database, and signed-in clients per demo user."""

import re
from collections.abc import Callable, Iterator

import pytest
from litestar.testing import TestClient

from referral.config import Settings
from referral.db.uow import Runtime
from referral.demo import DemoWorld
from referral.security import hash_password
from referral.web.app import create_app
from tests.factories import make_world

CSRF_INPUT = re.compile(r'name="_csrf" value="([^"]+)"')
PASSWORD = "demo-password"


def csrf_of(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "page has no CSRF field"
    return match.group(1)


class Browser:
    """A TestClient that remembers the page's CSRF token, as a browser keeps the form."""

    def __init__(self, client: TestClient) -> None:  # type: ignore[type-arg]
        self.client = client
        self.csrf = ""

    def get(self, url: str, **kwargs: object):  # type: ignore[no-untyped-def]
        response = self.client.get(url, **kwargs)
        match = CSRF_INPUT.search(response.text)
        if match:
            self.csrf = match.group(1)
        return response

    def post(self, url: str, data: dict | None = None, **kwargs: object):  # type: ignore[no-untyped-def, type-arg]
        kwargs.setdefault("follow_redirects", False)
        return self.client.post(url, data={"_csrf": self.csrf, **(data or {})}, **kwargs)

    def login(self, username: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
        self.get("/login")
        response = self.post("/login", {"username": username, "password": password})
        self.get("/account")
        return response


@pytest.fixture
def world(runtime: Runtime) -> DemoWorld:
    return make_world(runtime)


@pytest.fixture
def app_settings() -> Settings:
    return Settings(cookie_secure=True)


@pytest.fixture
def browser(
    runtime: Runtime, world: DemoWorld, app_settings: Settings
) -> Iterator[Callable[..., Browser]]:
    app = create_app(app_settings, runtime)
    clients: list[TestClient] = []  # type: ignore[type-arg]

    def make(username: str | None = None) -> Browser:
        client = TestClient(app, base_url="https://testserver.local", raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        browser = Browser(client)
        if username:
            response = browser.login(username)
            assert response.status_code == 303, response.text
        return browser

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def _hash() -> str:
    return hash_password(PASSWORD)
