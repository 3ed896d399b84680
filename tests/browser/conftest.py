"""A live server on a fresh database and Debian's Chromium driven by Playwright.

These tests skip, saying why, on a machine without /usr/bin/chromium; CI installs it and
forbids skips.
"""

import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy import Engine

from referral import i18n
from referral.config import PROJECT_ROOT, Settings
from referral.db.engine import make_session_factory
from referral.demo import DemoWorld
from referral.services.uow import Runtime
from referral.web.app import create_app
from referral.workflow.machine import WorkflowEngine
from tests.conftest import TEST_KEYRING
from tests.factories import make_world

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = PROJECT_ROOT / "docs" / "screenshots"
BLOCKING_IMPACTS = ("serious", "critical")


def settings_for_screenshots() -> bool:
    """Screenshots for the README are taken only when asked (`make screenshots`)."""
    return os.environ.get("REFERRAL_TEST_SCREENSHOTS") == "1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def live_world(
    fresh_database: object, authz: object, workflows: object
) -> Iterator[tuple[str, DemoWorld]]:
    """The app served over HTTP on 127.0.0.1, on its own database with the demo people."""
    with serve_live(
        fresh_database, authz, workflows, lambda _: Settings(cookie_secure=True)
    ) as live:
        yield live


@contextmanager
def serve_live(
    fresh_database: object,
    authz: object,
    workflows: object,
    settings_for: Callable[[str], Settings],
) -> Iterator[tuple[str, DemoWorld]]:
    """`live_world` with the settings `settings_for(base_url)` gives."""
    engine: Engine = fresh_database()  # type: ignore[operator]
    runtime = Runtime(
        make_session_factory(engine, TEST_KEYRING), authz, workflows, WorkflowEngine()
    )  # type: ignore[arg-type]
    world = make_world(runtime)
    port = free_port()
    app = create_app(settings_for(f"http://127.0.0.1:{port}"), runtime)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", world
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        yield browser
        browser.close()


class Visit:
    """Checks every page a test visits: no serious or critical axe violation, no console error."""

    def __init__(self) -> None:
        self.axe = Axe()
        self.checked: list[str] = []

    def check(self, page: Page, screenshot: str | None = None) -> None:
        results = self.axe.run(page)
        blocking = [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"]
            if v.get("impact") in BLOCKING_IMPACTS
        ]
        assert not blocking, f"{page.url}: " + "; ".join(blocking)
        self.checked.append(page.url)
        if screenshot and settings_for_screenshots():
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"{screenshot}.png"), full_page=True)


@pytest.fixture(scope="module")
def visit() -> Visit:
    return Visit()


class Words:
    """The words a page shows in one language, from the shipped catalogue: a test written
    once in English runs in any language. Outside English a string the catalogue leaves
    untranslated fails at once, naming it."""

    def __init__(self, language: str = "en") -> None:
        self.language = language

    def __call__(self, text: str, **params: object) -> str:
        found = i18n.gettext(self.language, text)
        assert self.language == "en" or found != text, f"no {self.language} words: {text!r}"
        return found % params if params else found

    def screenshot(self, name: str | None) -> str | None:
        """The README's English screenshot, or its `-<language>` twin."""
        return name if name is None or self.language == "en" else f"{name}-{self.language}"


def new_page(chromium: Browser, base_url: str, language: str = "en") -> Page:
    """A fresh browser session whose `Accept-Language` asks for `language`."""
    context = chromium.new_context(
        base_url=base_url, viewport={"width": 1280, "height": 900}, locale=language
    )
    page = context.new_page()
    # Script errors and Content-Security-Policy refusals; a 4xx answer the test provokes
    # on purpose also logs "Failed to load resource", which is not a fault of the page.
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and "Failed to load resource" not in message.text
            else None
        ),
    )
    page.console_errors = errors  # type: ignore[attr-defined]
    return page


def sign_in(
    page: Page, username: str, password: str = "demo-password", words: Words | None = None
) -> None:
    t = words or Words()
    page.goto("/login")
    page.get_by_label(t("Username")).fill(username)
    page.get_by_label(t("Password")).fill(password)
    page.get_by_role("button", name=t("Sign in")).click()
    page.wait_for_load_state()
    assert "/login" not in page.url, f"{username} could not sign in"
