"""The request path's budget (DESIGN.md §6): an anonymous request writes nothing."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

from tests.e2e.conftest import Browser


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
