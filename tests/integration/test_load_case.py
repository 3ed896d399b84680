"""`flow.load_case` reads in one query what the repositories read in six: the same facts.

Policy conditions and workflow guards decide on these facts, so the one-query load must
agree with the named queries (`case_facts`, `case_guard_facts`) for every actor, at every
stage of a case: meetings and invitations, providers, consent and its scope, requests.
"""

import dataclasses
from collections.abc import Callable

import pytest
from sqlalchemy import func, select, update

from referral.db.tables import AuditEntry, Case
from referral.demo import DemoWorld
from referral.domain.errors import Conflict, NotFound
from referral.services import lifecycle
from referral.services.flow import fire_case, load_case, load_case_status
from referral.services.uow import Runtime, UnitOfWork
from tests.factories import make_world, schedule, submit, to_awaiting_panel, to_support

ACTORS = ("coordinator", "screener", "panel", "chair", "provider", "referrer")


def _agree(runtime: Runtime, world: DemoWorld, case_id: int) -> int:
    """How many actors could see the case; for each, the two loads must agree."""
    seen = 0
    for name in ACTORS:
        actor = world.actors[name]
        with UnitOfWork(runtime) as uow:
            try:
                loaded = load_case(uow, actor, case_id)
            except NotFound:
                continue
            case = uow.scoped(actor).repo.case(case_id)
            assert case is loaded.case
            assert loaded.facts == uow.repo.case_facts(case, actor), name
            assert loaded.guards == uow.repo.case_guard_facts(case, uow.now), name
            status = load_case_status(uow, actor, case_id)
            assert (status.facts, status.guards) == (loaded.facts, loaded.guards), name
            assert (status.case.state, status.case.version) == (case.state, case.version)
            seen += 1
    return seen


def _submitted(world: DemoWorld, runtime: Runtime) -> int:
    return submit(world)


def _awaiting_panel(world: DemoWorld, runtime: Runtime) -> int:
    return to_awaiting_panel(world)


def _in_support(world: DemoWorld, runtime: Runtime) -> int:
    return to_support(world, schedule(world, runtime, "provider"))[0]


def _in_review(world: DemoWorld, runtime: Runtime) -> int:
    case_id = _in_support(world, runtime)
    world.run("coordinator", lifecycle.move_case, lifecycle.MoveCase(case_id, "start_review"))
    return case_id


@pytest.mark.parametrize(
    "stage", [_submitted, _awaiting_panel, _in_support, _in_review], ids=lambda f: f.__name__
)
def test_one_query_load_agrees_with_the_named_queries(
    runtime: Runtime, stage: Callable[[DemoWorld, Runtime], int]
) -> None:
    world = make_world(runtime)
    case_id = stage(world, runtime)
    assert _agree(runtime, world, case_id) >= 2


def test_a_case_of_another_network_or_none_is_not_found(runtime: Runtime) -> None:
    world = make_world(runtime)
    case_id = submit(world)
    with UnitOfWork(runtime) as uow, pytest.raises(NotFound):
        load_case(uow, world.actors["coordinator"], case_id + 1000)
    elsewhere = world.actors["coordinator"]
    stranger = dataclasses.replace(elsewhere, network_id=elsewhere.network_id + 99)
    with UnitOfWork(runtime) as uow, pytest.raises(NotFound):
        load_case(uow, stranger, case_id)


def test_a_move_on_a_case_changed_since_it_was_loaded_is_a_conflict(runtime: Runtime) -> None:
    """The version check sits in the move's UPDATE: a case another writer moved between
    the load and the write matches no row, and the move is refused whole."""
    world = make_world(runtime)
    case_id = submit(world)
    actor = world.actors["coordinator"]
    with UnitOfWork(runtime) as uow:
        entries = uow.session.scalar(select(func.count()).select_from(AuditEntry))
        loaded = load_case_status(uow, actor, case_id)
        # Another writer's move, committed after our read (here: in our transaction).
        uow.session.execute(update(Case).where(Case.id == case_id).values(version=Case.version + 1))
        with pytest.raises(Conflict, match="changed by someone else"):
            fire_case(
                uow, actor, loaded.case, loaded.facts, "start_screening", guards=loaded.guards
            )
    with UnitOfWork(runtime) as uow:
        case = uow.session.get(Case, case_id)
        assert case is not None and case.state == "submitted"
        assert uow.session.scalar(select(func.count()).select_from(AuditEntry)) == entries
