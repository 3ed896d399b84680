"""HTTP fixtures: the real app on the test database, and signed-in clients per demo user."""

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import Engine

from referral.authz.enforcer import Authorizer
from referral.config import PROJECT_ROOT, Settings
from referral.db.engine import make_session_factory
from referral.demo import DemoWorld
from referral.security import hash_password
from referral.services import auth
from referral.services.uow import Runtime, UnitOfWork
from referral.web.app import create_app
from referral.workflow.machine import WorkflowEngine
from referral.workflow.schema import Workflow
from tests.conftest import TEST_KEYRING
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


@pytest.fixture(scope="session")
def app_settings() -> Settings:
    return Settings(cookie_secure=True)


@pytest.fixture(scope="session")
def shared_app(
    migrated_engine: Engine,
    authz: Authorizer,
    workflows: dict[str, Workflow],
    app_settings: Settings,
) -> Litestar:
    """One app for the session (building it takes most of a second); each test hands it
    the runtime of its own rolled-back transaction."""
    placeholder = Runtime(
        make_session_factory(migrated_engine, TEST_KEYRING), authz, workflows, WorkflowEngine()
    )
    return create_app(app_settings, placeholder)


@pytest.fixture
def browser(runtime: Runtime, world: DemoWorld, shared_app: Litestar) -> Callable[..., Browser]:
    app = shared_app
    app.state.runtime = runtime

    def make(username: str | None = None) -> Browser:
        # No lifespan context: several clients on one app would wait on each other's
        # shutdown. The app has no startup or shutdown hooks to run.
        client = TestClient(app, base_url="https://testserver.local", raise_server_exceptions=False)
        browser = Browser(client)
        if username:
            response = browser.login(username)
            assert response.status_code == 303, response.text
        return browser

    return make


def _hash() -> str:
    """The demo password's hash, for users a test adds with a password it signs in with."""
    return hash_password(PASSWORD)


class Api:
    """An HTTP client that speaks to /api/ with one bearer token per user."""

    def __init__(self, browser: Browser, tokens: Callable[[str], str]) -> None:
        self.client = browser.client
        self.tokens = tokens

    def get(self, who: str, url: str, **kwargs: Any) -> Any:
        return self.client.get(url, headers=self.auth(who), **kwargs)

    def post(self, who: str, url: str, body: Any = None, **kwargs: Any) -> Any:
        body = {} if body is None else body
        return self.client.post(url, json=body, headers=self.auth(who), **kwargs)

    def raw(self, who: str, url: str, content: bytes, media_type: str) -> Any:
        """A body sent as it is, with the media type named."""
        headers = {**self.auth(who), "content-type": media_type}
        return self.client.post(url, content=content, headers=headers)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens(who)}"}


@pytest.fixture
def api(
    browser: Callable[..., Browser], runtime: Runtime, world: DemoWorld, app_settings: Settings
) -> Api:
    """Tokens for other users are issued through the service, once each."""
    issued: dict[str, str] = {}

    def token(who: str) -> str:
        if who not in issued:
            with UnitOfWork(runtime) as uow:
                command = auth.IssueToken(f"test {who}")
                issued[who] = auth.issue_api_token(uow, world.actors[who], command, app_settings)
        return issued[who]

    return Api(browser(), token)


@pytest.fixture
def live(runtime: Runtime, tmp_path: Path) -> Path:
    """A copy of the shipped policy folder the app runs on, for tests that change the
    agreement (a dpo's edit, its preview and approval) without touching the real one."""
    folder = tmp_path / "live"
    shutil.copytree(PROJECT_ROOT / "policies", folder, ignore=shutil.ignore_patterns("tests"))
    runtime.authz = Authorizer(folder)
    return folder
