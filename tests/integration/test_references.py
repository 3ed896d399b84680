"""Case references and the blind search index, on real databases: references are unique
and gap-free per network and year under concurrent submissions; the index holds keyed
tokens only, is written at submission and goes with the subject's erasure; a search
never opens a subject."""

import base64
import threading
from datetime import date

import pytest
from sqlalchemy import Engine, delete, func, select

from referral.db.engine import make_session_factory
from referral.db.sealing import KEYRING_INFO, DataKeys
from referral.db.tables import Case, CaseReference, SearchToken
from referral.demo import DemoWorld
from referral.domain.references import name_tokens, normal_reference
from referral.keyring import Keyring
from referral.services import queue, referrals, search
from referral.services.erasure import EraseSubject, erase_subject
from referral.services.uow import Runtime, UnitOfWork
from referral.workflow.machine import WorkflowEngine
from tests.conftest import TEST_KEYRING, TEST_MASTER_KEYS
from tests.factories import (
    closed_no_action,
    make_world,
    reference_of,
    referral_command,
    subject_of,
    submit,
)

SUBMITTERS = 4
EACH = 3


@pytest.fixture
def committed_runtime(
    fresh_database: object, authz: object, workflows: object, clock: object
) -> Runtime:
    """A runtime on its own database whose commits are real, so threads see each other."""
    engine: Engine = fresh_database()  # type: ignore[operator]
    return Runtime(
        make_session_factory(engine, TEST_KEYRING), authz, workflows, WorkflowEngine(), clock
    )  # type: ignore[arg-type]


def named(given: str, family: str, born: date | None = None) -> dict[str, object]:
    subject = referrals.SubjectDetails(given_name=given, family_name=family, date_of_birth=born)
    return {"subject": subject}


def find(world: DemoWorld, who: str, text: str, born: date | None = None) -> search.SearchResult:
    return world.run(who, search.search_cases, search.SearchCases(text, born))


def test_concurrent_submissions_get_distinct_consecutive_references(
    committed_runtime: Runtime,
) -> None:
    world = make_world(committed_runtime)
    barrier = threading.Barrier(SUBMITTERS)
    made: list[int] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def submitter() -> None:
        barrier.wait()
        try:
            for _ in range(EACH):
                case_id = world.run("referrer", referrals.submit_referral, referral_command())
                with lock:
                    made.append(case_id)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=submitter) for _ in range(SUBMITTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    with committed_runtime.session_factory() as session:
        references = session.scalars(select(Case.reference)).all()
        counter = session.scalars(select(CaseReference.last)).one()
    year = committed_runtime.clock().year
    expected = {f"DEMO-{year}-{n:04d}" for n in range(1, SUBMITTERS * EACH + 1)}
    assert len(made) == SUBMITTERS * EACH
    assert sorted(references) == sorted(expected)  # unique, and no number skipped
    assert counter == SUBMITTERS * EACH


def test_a_reference_is_per_network_and_year(runtime: Runtime) -> None:
    world = make_world(runtime)
    first, second = submit(world), submit(world)
    year = runtime.clock().year
    assert reference_of(runtime, first) == f"DEMO-{year}-0001"
    assert reference_of(runtime, second) == f"DEMO-{year}-0002"
    assert normal_reference(f" demo-{year}-2 ") == f"DEMO-{year}-0002"


def test_the_index_holds_keyed_tokens_never_the_name(runtime: Runtime) -> None:
    world = make_world(runtime)
    case_id = submit(world, **named("Zoë", "O'Neil-Hart", date(2010, 3, 4)))
    with runtime.session_factory() as session:
        tokens = session.scalars(select(SearchToken.token).where(SearchToken.case_id == case_id))
        stored = " ".join(tokens)
    assert len(stored.split()) == 5  # zoe, oneil, hart, the birth date and the concern type
    for word in ("zoe", "Zoë", "oneil", "hart", "2010-03-04", "hate"):
        assert word.lower() not in stored.lower()
    assert name_tokens("Zoë O'Neil-Hart") == {"zoe", "oneil", "hart"}


def test_a_name_and_birth_date_find_the_case_without_opening_any_subject(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(runtime)
    wanted = submit(world, **named("Robin", "Example", date(2009, 5, 17)))
    namesake = submit(world, **named("Robin", "Example", date(2011, 1, 2)))
    for _ in range(5):
        submit(world, **named("Someone", "Else", date(2009, 5, 17)))
    opened: list[str] = []
    real_open = DataKeys.open

    def counting(self: DataKeys, *args: object, **kwargs: object) -> object:
        opened.append("open")
        return real_open(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(DataKeys, "open", counting)
    by_name = find(world, "coordinator", "robin EXAMPLE")
    exact = find(world, "coordinator", "Robin Example", date(2009, 5, 17))
    assert opened == []  # not one sealed value was opened to search
    assert {r.case_id for r in by_name.rows} == {wanted, namesake}
    assert [r.case_id for r in exact.rows] == [wanted]
    assert exact.by == "name" and exact.rows[0].reference == reference_of(runtime, wanted)


def test_a_name_finds_nothing_for_a_role_that_may_not_read_identity(runtime: Runtime) -> None:
    world = make_world(runtime)
    case_id = submit(world, **named("Robin", "Example", date(2009, 5, 17)))
    # The dpo sees the case's status (a reference finds it) but never who it is about.
    assert [r.case_id for r in find(world, "dpo", reference_of(runtime, case_id)).rows] == [case_id]
    known = find(world, "dpo", "Robin Example", date(2009, 5, 17))
    unknown = find(world, "dpo", "Nobody Atall", date(2001, 1, 1))
    assert known == unknown == search.SearchResult([], "name")


def test_erasure_removes_the_subjects_index_rows(runtime: Runtime) -> None:
    world = make_world(runtime)
    case_id = closed_no_action(world, **named("Robin", "Example", date(2009, 5, 17)))
    kept = submit(world, **named("Robin", "Example", date(2009, 5, 17)))
    subject_id = subject_of(runtime, case_id)
    with UnitOfWork(runtime) as uow:
        erase_subject(uow, None, EraseSubject(subject_id, "Request of 2026-03-01"))
    with runtime.session_factory() as session:
        left = session.scalar(select(func.count()).where(SearchToken.subject_id == subject_id))
    assert left == 0
    found = find(world, "coordinator", "Robin Example")
    assert [r.case_id for r in found.rows] == [kept]  # the other person's case still found
    # The reference stays: it is status data, kept with the skeleton.
    assert reference_of(runtime, case_id).startswith("DEMO-")


def test_reindex_indexes_the_cases_from_before_the_index_and_skips_the_erased(
    runtime: Runtime,
) -> None:
    world = make_world(runtime)
    old = submit(world, **named("Robin", "Example", date(2009, 5, 17)))
    erased = closed_no_action(world, **named("Robin", "Example", date(2009, 5, 17)))
    with UnitOfWork(runtime) as uow:
        erase_subject(uow, None, EraseSubject(subject_of(runtime, erased), "asked"))
    with runtime.session_factory() as session, session.begin():  # as before migration 0024
        session.execute(delete(SearchToken))
    assert find(world, "coordinator", "Robin Example").rows == []
    with UnitOfWork(runtime) as uow:
        assert search.reindex(uow) == 1
        uow.commit()
    assert [r.case_id for r in find(world, "coordinator", "Robin Example").rows] == [old]
    with UnitOfWork(runtime) as uow:
        assert search.reindex(uow) == 0  # nothing left to do


def test_the_queue_pages_through_a_concern_filter_without_gaps(runtime: Runtime) -> None:
    world = make_world(runtime)
    wanted = [submit(world, concern_types=("islamist",)) for _ in range(3)]
    submit(world)  # a case of another type of concern
    seen: list[int] = []
    after = ""
    for _ in range(10):
        asked = queue.ListQueue(concern="islamist", limit=1, after=after)
        page = world.run("coordinator", queue.work_queue, asked)
        assert page.base == "/queue?concern=islamist&"  # the next page's link keeps it
        assert page.total == 3
        seen += [row.case_id for row in page.rows]
        after = page.next_after
        if not after:
            break
    assert seen == wanted  # same deadline order as submitted, each once


def test_a_rebuild_after_a_new_search_key_finds_people_again(runtime: Runtime) -> None:
    world = make_world(runtime)
    case_id = submit(world, **named("Robin", "Example", date(2009, 5, 17)))
    new_key = Keyring.from_config(TEST_MASTER_KEYS, None, base64.b64encode(b"k" * 32).decode())
    assert new_key.search_key != TEST_KEYRING.search_key
    with runtime.session_factory() as session:
        before = set(session.scalars(select(SearchToken.token)))
    runtime.session_factory.kw["info"][KEYRING_INFO] = new_key
    try:
        assert find(world, "coordinator", "Robin Example").rows == []  # old tokens, new key
        with UnitOfWork(runtime) as uow:
            assert search.reindex(uow, rebuild=True) == 1
            uow.commit()
        assert [r.case_id for r in find(world, "coordinator", "Robin Example").rows] == [case_id]
        with runtime.session_factory() as session:
            assert not set(session.scalars(select(SearchToken.token))) & before
    finally:
        runtime.session_factory.kw["info"][KEYRING_INFO] = TEST_KEYRING
