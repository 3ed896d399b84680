"""National statistics on the real database: counts from the cases' skeleton and their
statistics facts, small cells suppressed, training networks left out, analysts only."""

import pytest
from sqlalchemy import select

from referral.db.tables import CaseStatistics
from referral.domain.actors import Actor
from referral.domain.disclosure import Table
from referral.domain.errors import NotFound, PermissionDenied
from referral.domain.vocabulary import OrgKind, Role
from referral.services import referrals, screening, statistics
from referral.services.statistics import Publication, StatisticsQuery
from referral.services.uow import Runtime, UnitOfWork
from tests.conftest import TestClock
from tests.factories import make_world
from tests.national import add_member, add_network, submit_as
from tests.unit.test_disclosure import _recoverable as recoverable

THRESHOLD = 5


@pytest.fixture
def country(runtime: Runtime) -> dict[str, Actor]:
    """The demo city, a second city (harbour), a training network and the national tier."""
    world = make_world(runtime)
    harbour = add_network(runtime, "harbour")
    training = add_network(runtime, "training", kind="training")
    national = add_network(runtime, "national", kind="national")
    return {
        "demo": world.actors["referrer"],
        "coordinator": world.actors["coordinator"],
        "screener": world.actors["screener"],
        "harbour": add_member(runtime, world, harbour, "h-ref", OrgKind.POLICE, Role.REFERRER),
        "training": add_member(runtime, world, training, "t-ref", OrgKind.HEALTH, Role.REFERRER),
        "analyst": add_member(runtime, world, national, "analyst", OrgKind.NATIONAL, Role.ANALYST),
    }


def published(runtime: Runtime, actor: Actor, **filters: object) -> Publication:
    with UnitOfWork(runtime, request_id="test") as uow:
        query = StatisticsQuery(threshold=THRESHOLD, **filters)  # type: ignore[arg-type]
        result = statistics.national_statistics(uow, actor, query)
        uow.commit()
    return result


def every_count(publication: Publication) -> list[int | None]:
    out: list[int | None] = []
    for table in publication.tables:
        for row in table.rows:
            out += [*row.cells, row.total]
        out += [*table.totals, table.grand_total]
    return out


def test_every_published_count_reaches_the_threshold_or_is_suppressed(
    runtime: Runtime, country: dict[str, Actor]
) -> None:
    submit_as(runtime, country["demo"], 12)
    submit_as(runtime, country["harbour"], 2)
    result = published(runtime, country["analyst"])
    counts = every_count(result)
    assert None in counts  # harbour's two referrals are hidden...
    assert all(c is None or c >= THRESHOLD for c in counts)  # ...and nothing small is shown
    quarter = next(t for t in result.tables if t.key == "quarter")
    harbour = next(r for r in quarter.rows if r.slug == "harbour")
    assert harbour.total is None and harbour.cells == (None,)
    # 14 = 12 + 2: were the total and demo's 12 both shown, harbour's 2 would follow.
    demo = next(r for r in quarter.rows if r.slug == "demo-city")
    assert demo.total is None or quarter.grand_total is None


def test_training_networks_never_reach_the_statistics(
    runtime: Runtime, country: dict[str, Actor]
) -> None:
    submit_as(runtime, country["demo"], 12)
    submit_as(runtime, country["harbour"], 7)
    submit_as(runtime, country["training"], 30)
    result = published(runtime, country["analyst"])
    assert "training" not in {slug for slug, _ in result.networks}
    quarter = next(t for t in result.tables if t.key == "quarter")
    assert quarter.grand_total == 19  # not 49
    assert [r.total for r in quarter.rows] == [12, 7]


def test_the_facts_are_taken_at_submission_without_the_date_of_birth(
    runtime: Runtime, country: dict[str, Actor], db_session: object
) -> None:
    (case_id,) = submit_as(runtime, country["demo"], 1)
    with runtime.session_factory() as session:
        row = session.scalars(select(CaseStatistics).where(CaseStatistics.case_id == case_id)).one()
    # Born 2009-05-17, referred 2026-03-02: 16, in the 15-17 band; concern: hate.
    assert row.age_band == "15-17"
    assert row.concern_mask == statistics.CONCERN_BITS["hate_targeting_a_group"]
    assert row.screening_at is None


def test_time_to_screening_is_published_in_days_once_enough_cases_have_it(
    runtime: Runtime, country: dict[str, Actor], clock: TestClock
) -> None:
    ids = submit_as(runtime, country["demo"], 6)
    clock.advance(days=3, hours=1)
    for case_id in ids[:5]:
        with UnitOfWork(runtime, request_id="test") as uow:
            screening.start_screening(uow, country["screener"], screening.StartScreening(case_id))
    result = published(runtime, country["analyst"])
    (times,) = [t for t in result.times if t.stage == "screening"]
    assert (times.slug, times.quartiles) == ("demo-city", (3, 3, 3))
    assert not [t for t in result.times if t.stage != "screening"]  # none reached panel
    with runtime.session_factory() as session:  # the outcome counted: the state followed
        states = session.execute(select(CaseStatistics.case_id, CaseStatistics.state)).all()
    assert sorted(states) == [(i, "screening") for i in ids[:5]] + [(ids[5], "submitted")]


def test_too_few_cases_at_a_stage_publish_no_times(
    runtime: Runtime, country: dict[str, Actor], clock: TestClock
) -> None:
    ids = submit_as(runtime, country["demo"], 4)
    clock.advance(days=2)
    for case_id in ids:
        with UnitOfWork(runtime, request_id="test") as uow:
            screening.start_screening(uow, country["screener"], screening.StartScreening(case_id))
    (times,) = published(runtime, country["analyst"]).times
    assert times.quartiles is None


def test_only_an_analyst_in_the_national_network_reads_statistics(
    runtime: Runtime, country: dict[str, Actor]
) -> None:
    with pytest.raises(PermissionDenied):
        published(runtime, country["coordinator"])


def test_an_analyst_reads_no_case(runtime: Runtime, country: dict[str, Actor]) -> None:
    (case_id,) = submit_as(runtime, country["demo"], 1)
    with UnitOfWork(runtime, request_id="test") as uow, pytest.raises(NotFound):
        referrals.read_case(uow, country["analyst"], case_id)


def test_a_filter_picks_rows_out_of_the_one_suppressed_publication(
    runtime: Runtime, country: dict[str, Actor]
) -> None:
    submit_as(runtime, country["demo"], 12)
    submit_as(runtime, country["harbour"], 2)
    whole = published(runtime, country["analyst"])
    only = published(runtime, country["analyst"], networks=("harbour",), tables=("quarter",))
    (table,) = only.tables
    assert table.rows == tuple(r for r in whole.tables[0].rows if r.slug == "harbour")
    assert table.grand_total == whole.tables[0].grand_total  # the same margins, not recomputed


def test_a_refreshed_publication_is_what_the_analyst_reads_until_the_next(
    runtime: Runtime, country: dict[str, Actor], clock: TestClock
) -> None:
    submit_as(runtime, country["demo"], 12)
    with UnitOfWork(runtime, request_id="test") as uow:
        made = statistics.refresh(uow, THRESHOLD)
    submit_as(runtime, country["demo"], 3)  # after the refresh: not in what is read
    read = published(runtime, country["analyst"])
    assert read.as_of == clock.now and read.tables == made.tables
    quarter = next(t for t in read.tables if t.key == "quarter")
    assert quarter.grand_total == 12
    with UnitOfWork(runtime, request_id="test") as uow:
        statistics.refresh(uow, THRESHOLD)
    assert next(t for t in published(runtime, country["analyst"]).tables).grand_total == 15


def test_no_hidden_count_of_the_real_publication_follows_from_what_it_shows(
    runtime: Runtime, country: dict[str, Actor], clock: TestClock
) -> None:
    demo, harbour = country["demo"], country["harbour"]
    submit_as(runtime, demo, 9)
    no_birth_date = referrals.SubjectDetails(given_name="A", family_name="B")
    submit_as(runtime, harbour, 6, subject=no_birth_date)  # the age band: unknown
    clock.advance(days=95)  # the next quarter
    submit_as(runtime, demo, 2, concern_types=("islamist", "other"))
    submit_as(runtime, harbour, 7)
    result = published(runtime, country["analyst"])
    tables, hidden = [], set()
    for t in result.tables:
        shared = t.key != "concern"  # a referral's totals, shared; concern counts mentions
        table = Table(
            t.key,
            tuple(r.slug for r in t.rows),
            tuple(c for c, _ in t.columns),
            "referrals_by_network" if shared else "concern_by_network",
            t.key,
            "referrals" if shared else "concern_mentions",
        )
        tables.append(table)
        for r in t.rows:
            cells = zip(t.columns, r.cells, strict=True)
            hidden |= {table.cell(r.slug, c) for (c, _), v in cells if v is None}
            if r.total is None:
                hidden.add(table.row_total(r.slug))
        totals = zip(t.columns, t.totals, strict=True)
        hidden |= {table.column_total(c) for (c, _), v in totals if v is None}
        if t.grand_total is None:
            hidden.add(table.total)
    assert hidden  # there is something to protect...
    assert not recoverable(tables, hidden)  # ...and no equation of the tables gives it away
