"""The request path's budget on real databases: a read holds no write lock while it
works, records its disclosure in a short write at the end, and concurrent reads share
their commits (group commit)."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from referral.authz.enforcer import Authorizer
from referral.db.engine import (
    checkpoint,
    in_driver_transaction,
    make_engine,
    make_session_factory,
)
from referral.db.tables import AuditEntry
from referral.demo import DemoWorld
from referral.domain.errors import NotFound
from referral.services.auth import actor_for_api_token
from referral.services.committer import GroupCommitter
from referral.services.referrals import read_case
from referral.services.uow import Runtime, UnitOfWork
from referral.workflow.machine import WorkflowEngine
from tests.conftest import PG_URL, TEST_KEYRING, TestClock
from tests.factories import make_world, submit


def _world(
    database: object, authz: Authorizer, workflows: dict[str, object], clock: TestClock
) -> tuple[Engine, Runtime, DemoWorld, int]:
    """A database of its own with real commits, the demo network and one case in it."""
    engine: Engine = database()  # type: ignore[operator]
    sessions = make_session_factory(engine, TEST_KEYRING)
    runtime = Runtime(sessions, authz, workflows, WorkflowEngine(), clock)  # type: ignore[arg-type]
    world = make_world(runtime)
    return engine, runtime, world, submit(world)


def _reads_of(engine: Engine, case_id: int) -> int:
    with engine.connect() as connection:
        return (
            connection.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.case_id == case_id, AuditEntry.action == "case:read")
            )
            or 0
        )


def test_a_read_holds_no_write_lock_while_it_works(
    fresh_database: object, authz: Authorizer, workflows: dict[str, object], clock: TestClock
) -> None:
    engine, runtime, world, case_id = _world(fresh_database, authz, workflows, clock)
    # Another process's writer, that would give up after 100 ms of waiting for the lock.
    other = engine if PG_URL else make_engine(str(engine.url), busy_timeout_ms=100)
    before = _reads_of(engine, case_id)
    with UnitOfWork(runtime, read_only=True) as uow:
        assert uow.session.scalar(select(func.count()).select_from(AuditEntry))  # reading
        with other.begin() as connection:  # while the read is open: no wait, no failure
            connection.execute(text("UPDATE networks SET name = name"))
        view = read_case(uow, world.actors["coordinator"], case_id)  # commits its record
    assert view.case_id == case_id
    assert _reads_of(engine, case_id) == before + 1


def test_concurrent_reads_share_their_commits(
    fresh_database: object, authz: Authorizer, workflows: dict[str, object], clock: TestClock
) -> None:
    engine, runtime, world, case_id = _world(fresh_database, authz, workflows, clock)
    runtime.committer = GroupCommitter(runtime.session_factory)
    coordinator = world.actors["coordinator"]
    before = _reads_of(engine, case_id)

    def read(_: int) -> None:
        with UnitOfWork(runtime, read_only=True) as uow:
            read_case(uow, coordinator, case_id)
            uow.commit()

    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(read, range(200)))
    finally:
        runtime.committer.close()
    assert _reads_of(engine, case_id) == before + 200  # every read recorded, none lost
    assert runtime.committer.writes == 200
    assert runtime.committer.commits < 200  # and fewer commits than reads


def _marks(engine: Engine) -> GroupCommitter:
    """A committer writing rows of a table of its own, its window (a minute) far longer
    than any wait below: a batch ends only when no announced write is outstanding."""
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE commit_marks (mark INTEGER)"))
    return GroupCommitter(make_session_factory(engine, TEST_KEYRING), window_ms=60_000)


def _mark(value: int) -> Callable[[Session], None]:
    return lambda session: session.execute(
        text("INSERT INTO commit_marks VALUES (:mark)"), {"mark": value}
    )


def test_a_batch_waits_for_the_writes_announced_to_it(fresh_database: object) -> None:
    engine: Engine = fresh_database()  # type: ignore[operator]
    committer = _marks(engine)
    try:
        with committer.expect() as first, committer.expect() as second:
            with committer.expect() as third:
                done = [first.submit(_mark(1)), second.submit(_mark(2))]
                assert not done[0].done()  # waiting for the third announced write
                done.append(third.submit(_mark(3)))
            for future in done:
                future.result(timeout=30)
    finally:
        committer.close()
    assert (committer.commits, committer.writes) == (1, 3)
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM commit_marks")) == 3


def test_a_batch_waits_for_no_write_that_was_not_announced_or_was_withdrawn(
    fresh_database: object,
) -> None:
    engine: Engine = fresh_database()  # type: ignore[operator]
    committer = _marks(engine)
    try:
        committer.submit(_mark(1)).result(timeout=30)  # a lone write: committed at once
        with committer.expect() as reader:
            with committer.expect():  # a read that will record nothing
                pending = reader.submit(_mark(2))
            # Leaving the block withdrew its announcement: the batch stops waiting.
            pending.result(timeout=30)
    finally:
        committer.close()
    assert (committer.commits, committer.writes) == (2, 2)


def test_a_server_engine_leaves_checkpoints_to_its_background_thread(tmp_path: Path) -> None:
    """No commit of a server's engine copies the SQLite log into the database file (every
    request waiting on that commit would wait for the copy); `checkpoint`, which the
    sequencer thread runs between rounds, does, outside any transaction."""
    path = tmp_path / "db.sqlite3"
    engine = make_engine(f"sqlite:///{path}", sqlite_background_checkpoints=True)
    try:
        with engine.begin() as connection:
            assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
            connection.execute(text("CREATE TABLE pages (body TEXT)"))
        for _ in range(3):  # 1,500 pages: past the 1,000 at which a commit would copy them
            with engine.begin() as connection:
                rows = [{"body": "x" * 4000}] * 500
                connection.execute(text("INSERT INTO pages VALUES (:body)"), rows)
        assert path.stat().st_size < 100_000  # all of it still in the log
        checkpoint(engine)
        assert path.stat().st_size > 5_000_000  # copied into the database file
    finally:
        engine.dispose()


def test_each_unit_on_the_loop_reader_reads_the_latest_commits(
    fresh_database: object, authz: Authorizer, workflows: dict[str, object], clock: TestClock
) -> None:
    """The loop's reads share one connection (SQLite): each unit is a snapshot of its
    own, begun when it starts and ended when it finishes, whatever it met."""
    engine, runtime, world, case_id = _world(fresh_database, authz, workflows, clock)
    reader = runtime.loop_reader()
    if PG_URL:
        assert reader is None  # PostgreSQL's reads take pooled connections in threads
        return
    assert reader is not None
    assert runtime.loop_reader() is reader
    coordinator = world.actors["coordinator"]
    outcomes = []
    for outcome in ("first", "second"):
        with engine.begin() as other:  # another connection commits meanwhile
            other.execute(
                text("UPDATE cases SET outcome_for_referrer = :o WHERE id = :c"),
                {"o": outcome, "c": case_id},
            )
        with UnitOfWork(runtime, read_only=True, reader=reader) as uow:
            assert uow.repo.case(case_id) is not None
            outcomes.append(read_case(uow, coordinator, case_id).fields)
        assert not in_driver_transaction(reader)
    assert [fields["outcome_for_referrer"].value for fields in outcomes] == ["first", "second"]
    with UnitOfWork(runtime, read_only=True, reader=reader) as uow:  # no ORM query at all
        assert actor_for_api_token(uow, "no such token") is None
        assert in_driver_transaction(reader)
    assert not in_driver_transaction(reader)
    with ThreadPoolExecutor(max_workers=1) as pool:  # not the thread that took it first
        assert pool.submit(runtime.loop_reader).result() is None


def test_a_unit_that_fails_leaves_the_loop_reader_outside_any_transaction(
    fresh_database: object, authz: Authorizer, workflows: dict[str, object], clock: TestClock
) -> None:
    engine, runtime, world, case_id = _world(fresh_database, authz, workflows, clock)
    reader = runtime.loop_reader()
    if PG_URL:
        assert reader is None  # PostgreSQL's reads take pooled connections in threads
        return
    assert reader is not None
    coordinator = world.actors["coordinator"]
    before = _reads_of(engine, case_id)
    try:
        with UnitOfWork(runtime, read_only=True, reader=reader) as uow:
            read_case(uow, coordinator, case_id)  # opens a snapshot, queues its record
            read_case(uow, coordinator, case_id + 1000)  # no such case
    except NotFound:
        pass
    else:
        raise AssertionError("an unknown case is not found")
    assert not in_driver_transaction(reader)
    assert _reads_of(engine, case_id) == before + 1  # what it read before failing is recorded
    with engine.begin() as other:
        other.execute(
            text("UPDATE cases SET outcome_for_referrer = 'later' WHERE id = :c"), {"c": case_id}
        )
    with UnitOfWork(runtime, read_only=True, reader=reader) as uow:
        view = read_case(uow, coordinator, case_id)
    assert view.fields["outcome_for_referrer"].value == "later"
