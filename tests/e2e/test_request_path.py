"""The request path's budget (DESIGN.md §6): an anonymous request writes nothing."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

from referral.demo import DemoWorld
from tests.conftest import TestClock
from tests.e2e.conftest import Browser
from tests.factories import submit


@contextmanager
def statements_on(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement.strip().split(None, 1)[0].upper())

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_a_visitors_sign_in_page_touches_no_table(
    browser: Callable[..., Browser], migrated_engine: Engine
) -> None:
    visitor = browser()
    with statements_on(migrated_engine) as seen:
        for _ in range(3):
            assert visitor.get("/login").status_code == 200
    assert seen == []


# The busiest reads look their session up in the one step that does all their reading
# (web.deps.read_as_viewer): the session's rules hold there as on every other page.
ONE_STEP_PAGES = ("/queue", "/cases/{case_id}", "/search?q=Testy+Fixture", "/referrals")


def test_a_one_step_page_keeps_a_busy_session_and_ends_an_idle_one(
    browser: Callable[..., Browser], world: DemoWorld, clock: TestClock
) -> None:
    case_id = submit(world)
    for path in ONE_STEP_PAGES:
        url = path.format(case_id=case_id)
        coordinator = browser("coordinator")
        for _ in range(3):  # 60 minutes of use: each visit moves last_seen_at on
            clock.advance(minutes=20)
            assert coordinator.get(url, follow_redirects=False).status_code == 200, url
        clock.advance(minutes=31)
        ended = coordinator.get(url, follow_redirects=False)
        assert ended.status_code in (302, 303, 307), url
        assert coordinator.get(url, follow_redirects=False).status_code in (302, 303, 307)


def test_a_one_step_page_sends_a_visitor_to_sign_in_with_a_form_token(
    browser: Callable[..., Browser], world: DemoWorld, migrated_engine: Engine
) -> None:
    case_id = submit(world)
    for path in ONE_STEP_PAGES:
        visitor = browser()
        with statements_on(migrated_engine) as seen:
            answer = visitor.get(path.format(case_id=case_id), follow_redirects=False)
        assert answer.status_code in (302, 303, 307)
        assert "referral_csrf=" in answer.headers.get("set-cookie", "")
        assert seen == []  # no cookie: nothing looked up, nothing written
