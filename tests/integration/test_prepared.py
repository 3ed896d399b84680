"""The fixed reads run on the driver's cursor (db.prepared) answer exactly what SQLAlchemy's
own execution of the same statement answers: same rows, same values, same types."""

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import column, select, table
from sqlalchemy.exc import DBAPIError, IntegrityError

from referral.db import prepared
from referral.db.repositories import (
    _case_to_show_query,
    _facts_queries,
    _facts_query,
    _guard_facts_queries,
)
from referral.db.sealing import _case_key_query, _wrapped_key_query
from referral.db.side_by_side import apart
from referral.db.tables import (
    Case,
    InformationRequest,
    Subject,
    Timer,
)
from referral.domain.vocabulary import OrgKind
from referral.services import linked, people, timeline
from referral.services import schedule as schedule_service
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
            (_facts_query(), case_values),
            (_case_to_show_query()[0], {"case_id": case_id}),
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


def _timer_row(world_network: int, due: datetime) -> dict[str, Any]:
    return {
        "network_id": world_network, "case_id": None, "object_kind": "case", "object_id": 1,
        "workflow": "referral", "source_state": "support", "trigger": "start_review",
        "kind": "transition", "due_at": due, "run_after": due, "state": "pending",
        "attempts": 0, "last_error": "", "note": "é \"quoted\"", "created_at": due,
        "fired_at": None,
    }  # fmt: skip


def test_a_write_on_the_cursor_stores_what_sqlalchemy_stores(runtime: Runtime) -> None:
    world = make_world(runtime)
    due = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)
    network = world.actors["coordinator"].network_id
    with UnitOfWork(runtime) as uow:
        connection = uow.session.connection()
        ours, theirs = _timer_row(network, due), {**_timer_row(network, due), "object_id": 2}
        assert prepared.write(connection, schedule_service._SCHEDULE, [ours, ours]) == 2
        connection.execute(schedule_service._SCHEDULE, theirs)
        stored = [
            row._asdict()
            for row in connection.execute(
                select(Timer).where(Timer.object_id.in_((1, 2))).order_by(Timer.id)
            )
        ]
        # Both of ours and the one SQLAlchemy wrote read back the same, but for id and object.
        assert len(stored) == 3
        for row in stored:
            row.pop("id"), row.pop("object_id")
        assert stored[0] == stored[1] == stored[2]
        assert stored[0]["due_at"] == due
        assert stored[0]["note"] == 'é "quoted"'
        # An UPDATE reports the rows it matched: none when the version moved on.
        cancel = {"kind_of": "case", "id_of": 1, "why": "left"}
        assert prepared.write(connection, schedule_service._CANCEL, [cancel]) == 2
        assert prepared.write(connection, schedule_service._CANCEL, [cancel]) == 0


def test_a_driver_error_is_raised_as_sqlalchemy_raises_it(runtime: Runtime) -> None:
    world = make_world(runtime)
    network = world.actors["coordinator"].network_id
    with UnitOfWork(runtime) as uow:
        connection = uow.session.connection()
        row = {**_timer_row(network, datetime.now(UTC)), "kind": None}
        with pytest.raises(IntegrityError):  # NOT NULL: a timer must name its kind
            prepared.write(connection, schedule_service._SCHEDULE, [row])
        uow.rollback()
    with UnitOfWork(runtime) as uow:
        missing = select(column("x")).select_from(table("no_such_table"))
        with pytest.raises(DBAPIError):
            prepared.run(uow.session.connection(), missing, {})


def test_parts_side_by_side_come_apart_as_each_part_alone(runtime: Runtime) -> None:
    world = make_world(runtime)
    meeting_id = schedule(world, runtime, "coordinator")
    case_id, _ = to_support(world, meeting_id)  # a meeting, a provider, a consent's grants
    values = {"case_id": case_id, "user_id": world.actors["coordinator"].user_id}
    with UnitOfWork(runtime) as uow:
        # A request still open to an agency (the factory's was answered): the fourth part.
        uow.session.add(
            InformationRequest(
                case_id=case_id,
                organisation_id=world.org_ids[OrgKind.HEALTH],
                state="requested",
                question="Known?",
                requested_by=world.actors["coordinator"].user_id,
                due_at=runtime.clock(),
            )
        )
        uow.flush()
        connection = uow.session.connection()
        together = apart(prepared.run(connection, _facts_query(), values), _facts_queries())
        alone = [prepared.run(connection, query, values) for query in _facts_queries()]
    assert [sorted(rows) for rows in together] == [sorted(rows) for rows in alone]
    assert all(together)  # every part had rows: the comparison compared something
