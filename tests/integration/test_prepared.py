"""The fixed reads run on the driver's cursor (db.prepared) answer exactly what SQLAlchemy's
own execution of the same statement answers: same rows, same values, same types."""

from typing import Any

from referral.db import prepared
from referral.db.repositories import _facts_queries, _guard_facts_queries
from referral.db.sealing import _case_key_query, _wrapped_key_query
from referral.db.tables import (
    Case,
    Subject,
)
from referral.services import linked, people, timeline
from referral.services.auth import _SESSION_BY_TOKEN
from referral.services.uow import Runtime, UnitOfWork
from tests.factories import make_world, schedule, to_support
from tests.integration.test_sealing import statements


def _both(
    uow: UnitOfWork, query: prepared.Statement, values: dict[str, Any]
) -> tuple[list[Any], list[Any]]:
    connection = uow.session.connection()
    ours = prepared.run(connection, query, values)
    theirs = [tuple(row) for row in connection.execute(query, values)]
    return ours, theirs


def test_the_cursor_path_answers_what_sqlalchemy_answers(runtime: Runtime) -> None:
    world = make_world(runtime)
    meeting_id = schedule(world, runtime, "coordinator")
    case_id, _ = to_support(world, meeting_id)
    coordinator = world.actors["coordinator"]
    with UnitOfWork(runtime) as uow:
        case = uow.session.get(Case, case_id)
        assert case is not None
        subject = uow.session.get(Subject, case.subject_id)
        assert subject is not None
        key_id = subject.data_key_id
        case_values = {"case_id": case_id, "user_id": coordinator.user_id}
        queries: list[tuple[prepared.Statement, dict[str, Any]]] = [
            *((query, case_values) for query in _facts_queries()),
            *((query, case_values) for query in _guard_facts_queries()),
            (_case_key_query(), {"case_id": case_id}),
            (_wrapped_key_query(), {"key_id": key_id}),
            (_SESSION_BY_TOKEN, {"digest": "no such session"}),
            (
                people._viewer_query(),
                {"user_id": coordinator.user_id, "network_id": coordinator.network_id},
            ),
            (linked.linked_query(tuple(linked.PARTS)), {"case_id": case_id}),
        ]
        history = {
            "case_id": case_id,
            "network_id": coordinator.network_id,
            "viewer": coordinator.user_id,
        }
        for everything in (False, True):
            history_query = timeline._history_query(paged=False, everything=everything)
            page = {**history, "window": 200, "limit": 50, "before": None}
            queries.append((history_query, page))
        found_rows = 0
        for query, values in queries:
            ours, theirs = _both(uow, query, values)
            assert ours == theirs, query
            assert [tuple(map(type, row)) for row in ours] == [
                tuple(map(type, row)) for row in theirs
            ]
            found_rows += len(ours)
    assert found_rows > 20  # the comparisons compared something


def test_the_statement_counters_still_hear_every_statement(runtime: Runtime) -> None:
    with statements(runtime) as seen, UnitOfWork(runtime) as uow:
        prepared.run(uow.session.connection(), _SESSION_BY_TOKEN, {"digest": "x"})
    assert any("web_sessions" in statement for statement in seen)
