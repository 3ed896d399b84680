"""Sealed fields cost nothing where nobody reads them: a list of cases loads and opens no
personal data, so its queries do not grow with the number of cases."""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from referral.demo import DemoWorld
from referral.services.referrals import ListCases, list_cases
from referral.services.uow import Runtime
from tests.factories import make_world, submit


@contextmanager
def statements(runtime: Runtime) -> Iterator[list[str]]:
    seen: list[str] = []
    bind = runtime.session_factory.kw["bind"]

    def record(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(bind, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(bind, "before_cursor_execute", record)


def listed(runtime: Runtime, world: DemoWorld) -> list[str]:
    with statements(runtime) as seen:
        rows = world.run("coordinator", list_cases, ListCases(limit=50))
    assert rows
    return seen


def test_a_case_list_reads_no_keys_and_no_more_queries_for_more_cases(runtime: Runtime) -> None:
    world = make_world(runtime)
    for _ in range(2):
        submit(world)
    few = listed(runtime, world)
    for _ in range(10):
        submit(world)
    many = listed(runtime, world)
    assert len(many) == len(few)
    assert not [s for s in many if "data_keys" in s]
    assert not [s for s in many if "given_name" in s], "personal columns stay unloaded"
