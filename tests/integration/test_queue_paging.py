"""The work queue pages by position (keyset) and caps its count: a page costs the same
whatever the size of the network."""

import pytest

from referral.demo import DemoWorld
from referral.domain.errors import InvalidInput
from referral.services import queue
from referral.services.uow import Runtime, UnitOfWork
from tests.factories import make_world, submit


@pytest.fixture
def world(runtime: Runtime) -> DemoWorld:
    return make_world(runtime)


def _page(runtime: Runtime, world: DemoWorld, **query: object) -> queue.WorkQueue:
    with UnitOfWork(runtime, read_only=True) as uow:
        return queue.work_queue(uow, world.actors["coordinator"], queue.ListQueue(**query))  # type: ignore[arg-type]


def test_pages_follow_each_other_without_gaps_or_repeats(
    runtime: Runtime, world: DemoWorld
) -> None:
    for _ in range(5):
        submit(world)
    everything = [row.case_id for row in _page(runtime, world, limit=500).rows]
    seen: list[int] = []
    after = ""
    for _ in range(len(everything)):
        page = _page(runtime, world, limit=2, after=after)
        seen += [row.case_id for row in page.rows]
        after = page.next_after
        if not after:
            break
    assert len(everything) >= 5
    assert seen == everything  # same order, every case once


def test_the_count_stops_past_its_cap(runtime: Runtime, world: DemoWorld) -> None:
    for _ in range(4):
        submit(world)
    with UnitOfWork(runtime, read_only=True) as uow:
        from referral.authz.filters import case_filter
        from referral.domain.vocabulary import Category

        where = case_filter(
            uow.authz, world.actors["coordinator"], Category.STATUS, "read", uow.now
        )
        exact = uow.repo.count_cases(where)
        capped = uow.repo.count_cases(where, cap=2)
    assert exact >= 4
    assert capped == 3  # "more than 2", without counting the rest


@pytest.mark.parametrize(
    "after",
    [
        "nonsense",
        "2026-13-45T00:00:00~3",
        "~",
        "~99999999999",
        "2026-12-01T09:00:00~3",
        "~2147483648",
    ],
)
def test_a_damaged_page_link_is_refused_with_a_plain_message(
    runtime: Runtime, world: DemoWorld, after: str
) -> None:
    with pytest.raises(InvalidInput, match="out of date or damaged"):
        _page(runtime, world, after=after)
