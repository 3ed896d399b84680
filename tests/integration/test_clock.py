"""The clock on a case's whole life: deadlines set on entry (working days, the network's
holidays), timers fired once at their moment as the `system` actor, under policy and
audited, overdue work in the queue, drift alerts. The test clock moves time."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from referral.audit.verify import verify
from referral.authz.enforcer import Authorizer
from referral.config import PROJECT_ROOT
from referral.db.tables import AuditEntry, Case, InformationRequest, Network, NetworkHoliday, Timer
from referral.demo import PROVIDER_CONSENT_SCOPE, DemoWorld
from referral.domain.vocabulary import OrgKind
from referral.services import consent, information, lifecycle, panel, queue, screening, timers
from referral.services.holidays import Holiday, ImportHolidays, import_holidays
from referral.services.timers import MAX_ATTEMPTS, ClockRules, TickReport, tick
from referral.services.uow import Runtime, UnitOfWork
from tests.conftest import TestClock
from tests.factories import hold, make_world, schedule, submit, to_support

# Drift alerts have their own tests; elsewhere they would add to every count.
NO_DRIFT = ClockRules(drift_days=0)
MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # the test clock's start
SCOPE = PROVIDER_CONSENT_SCOPE


@pytest.fixture
def world(runtime: Runtime) -> DemoWorld:
    return make_world(runtime)


def add_holidays(runtime: Runtime, *days: date) -> None:
    with UnitOfWork(runtime) as uow:
        import_holidays(uow, ImportHolidays("demo-city", tuple(Holiday(d, "Test") for d in days)))


def in_information_gathering(world: DemoWorld, *kinds: OrgKind) -> tuple[int, list[int]]:
    case_id = submit(world)
    world.run("screener", screening.start_screening, screening.StartScreening(case_id))
    world.run(
        "coordinator",
        screening.record_screening_outcome,
        screening.RecordScreeningOutcome(case_id, "gather_information"),
    )
    command = information.SendInformationRequests(
        case_id, tuple(world.org_ids[k] for k in kinds or (OrgKind.HEALTH,)), "Known?"
    )
    return case_id, world.run("coordinator", information.send_information_requests, command)


def move(world: DemoWorld, who: str, case_id: int, trigger: str) -> None:
    world.run(who, lifecycle.move_case, lifecycle.MoveCase(case_id, trigger))


def timer_rows(runtime: Runtime, **where: object) -> list[Timer]:
    with runtime.session_factory() as session:
        query = select(Timer).filter_by(**where).order_by(Timer.id)
        return list(session.scalars(query))


def system_entries(runtime: Runtime) -> list[AuditEntry]:
    """What the clock did to cases, from the audit log."""
    with runtime.session_factory() as session:
        query = select(AuditEntry).where(
            AuditEntry.actor_role == "system", AuditEntry.case_id.is_not(None)
        )
        return list(session.scalars(query.order_by(AuditEntry.id)))


def case_state(runtime: Runtime, case_id: int) -> str:
    with runtime.session_factory() as session:
        return str(session.scalar(select(Case.state).where(Case.id == case_id)))


def request_states(runtime: Runtime, ids: list[int]) -> list[str]:
    with runtime.session_factory() as session:
        query = select(InformationRequest.state).where(InformationRequest.id.in_(ids))
        return list(session.scalars(query.order_by(InformationRequest.id)))


def test_screening_deadline_counts_working_days_and_skips_the_networks_holiday(
    runtime: Runtime, world: DemoWorld
) -> None:
    add_holidays(runtime, date(2026, 3, 4))  # the Wednesday
    case_id = submit(world)
    with runtime.session_factory() as session:
        due = session.scalar(select(Case.due_at).where(Case.id == case_id))
    # Monday 09:00 + 5 working days, less the Wednesday: Tuesday of the next week.
    assert due == datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def test_another_networks_holiday_does_not_move_the_deadline(
    runtime: Runtime, world: DemoWorld
) -> None:
    with UnitOfWork(runtime) as uow:
        other = Network(slug="elsewhere", name="Elsewhere")
        uow.session.add(other)
        uow.flush()
        uow.session.add(NetworkHoliday(network_id=other.id, day=date(2026, 3, 4), label="x"))
        uow.commit()
    case_id = submit(world)
    with runtime.session_factory() as session:
        due = session.scalar(select(Case.due_at).where(Case.id == case_id))
    assert due == datetime(2026, 3, 9, 9, 0, tzinfo=UTC)


def test_information_request_goes_overdue_once_at_its_deadline_and_not_before(
    runtime: Runtime, world: DemoWorld, clock: TestClock
) -> None:
    add_holidays(runtime, date(2026, 3, 6))  # a Friday inside the ten working days
    case_id, ids = in_information_gathering(world, OrgKind.HEALTH, OrgKind.EDUCATION)
    deadline = datetime(2026, 3, 17, 9, 0, tzinfo=UTC)  # 10 working days, less the Friday
    with runtime.session_factory() as session:
        dues = session.scalars(
            select(InformationRequest.due_at).where(InformationRequest.id.in_(ids))
        )
        assert set(dues) == {deadline}
    clock.now = deadline - timedelta(minutes=1)
    assert tick(runtime, NO_DRIFT).fired == 0
    assert request_states(runtime, ids) == ["requested", "requested"]
    clock.now = deadline
    assert tick(runtime, NO_DRIFT).fired == 2
    assert request_states(runtime, ids) == ["overdue", "overdue"]
    assert tick(runtime, NO_DRIFT) == TickReport()
    clock.advance(days=30)
    assert tick(runtime, NO_DRIFT) == TickReport()
    entries = system_entries(runtime)
    assert sorted(e.target for e in entries) == sorted(f"information_request:{i}" for i in ids)
    with UnitOfWork(runtime) as uow:
        [row] = queue.work_queue(uow, world.actors["coordinator"], queue.ListQueue()).rows
    assert (row.case_id, row.overdue_requests) == (case_id, 2)
    # The late case may now go to panel: the requests are settled.
    move(world, "coordinator", case_id, "ready_for_panel")


def test_a_timer_firing_is_a_policy_decision_audited_as_the_system(
    runtime: Runtime, world: DemoWorld, clock: TestClock
) -> None:
    case_id, [request_id] = in_information_gathering(world)
    clock.advance(days=20)
    tick(runtime, NO_DRIFT)
    [entry] = system_entries(runtime)
    assert entry.action == "information_request:send"
    assert (entry.case_id, entry.target) == (case_id, f"information_request:{request_id}")
    assert entry.allowed and entry.actor_user_id == 0
    assert entry.network_id == world.actors["coordinator"].network_id
    assert entry.rule.startswith("p, system, *, information_request, send")
    assert (entry.purpose, entry.legal_basis) == ("screening", "public_task")
    with runtime.session_factory() as session:
        assert verify(session).ok


def test_an_answer_before_the_deadline_cancels_the_overdue_timer(
    runtime: Runtime, world: DemoWorld, clock: TestClock
) -> None:
    _, [request_id] = in_information_gathering(world)
    world.run("coordinator", information.record_answer, information.RecordAnswer(request_id, "No"))
    [timer] = timer_rows(runtime, object_kind="information_request", object_id=request_id)
    assert (timer.state, timer.note) == ("cancelled", "left requested for answered")
    clock.advance(days=30)
    assert tick(runtime, NO_DRIFT).fired == 0
    assert request_states(runtime, [request_id]) == ["answered"]


def test_follow_ups_open_at_six_and_twelve_months_after_exit_each_once(
    runtime: Runtime, world: DemoWorld, clock: TestClock
) -> None:
    case_id, _ = to_support(world, schedule(world, runtime, "coordinator"))
    move(world, "chair", case_id, "exit_support")
    six_months = datetime(2026, 9, 2, 9, 0, tzinfo=UTC)
    clock.now = six_months - timedelta(minutes=1)
    assert tick(runtime, NO_DRIFT).fired == 0
    clock.now = six_months
    assert tick(runtime, NO_DRIFT).fired == 1
    assert case_state(runtime, case_id) == "follow_up_6m"
    assert tick(runtime, NO_DRIFT).fired == 0
    twelve_months = datetime(2027, 3, 2, 9, 0, tzinfo=UTC)
    clock.now = twelve_months - timedelta(minutes=1)
    assert tick(runtime, NO_DRIFT).fired == 0
    clock.now = twelve_months
    # The consent given a year ago expires at the same moment.
    assert tick(runtime, NO_DRIFT).fired == 2
    assert case_state(runtime, case_id) == "follow_up_12m"
    clock.advance(days=400)
    assert tick(runtime, NO_DRIFT).fired == 0
    actions = [e.action for e in system_entries(runtime)]
    assert actions.count("case:follow_up_6m") == 1
    assert actions.count("case:follow_up_12m") == 1
    assert actions.count("consent:record") == 1


def test_reopening_during_follow_up_cancels_the_next_follow_up(
    runtime: Runtime, world: DemoWorld, clock: TestClock
) -> None:
    case_id, _ = to_support(world, schedule(world, runtime, "coordinator"))
    move(world, "chair", case_id, "exit_support")
    clock.advance(days=200)
    assert tick(runtime, NO_DRIFT).fired == 1
    move(world, "coordinator", case_id, "reopen")
    [cancelled] = timer_rows(runtime, object_id=case_id, trigger="follow_up_12m")
    assert (cancelled.state, cancelled.note) == ("cancelled", "left follow_up_6m for support")
    clock.advance(days=400)
    assert tick(runtime, NO_DRIFT).fired == 1  # only the consent's expiry
    assert case_state(runtime, case_id) == "support"
    assert [e.action for e in system_entries(runtime)] == ["case:follow_up_6m", "consent:record"]


def fires_at(runtime: Runtime, clock: TestClock, moment: datetime, expected: int) -> None:
    """Nothing fires a minute before `moment`; `expected` timers fire at it; then none."""
    clock.now = moment - timedelta(minutes=1)
    assert tick(runtime, NO_DRIFT) == TickReport(), f"fired early, before {moment}"
    clock.now = moment
    assert tick(runtime, NO_DRIFT) == TickReport(fired=expected), moment
    assert tick(runtime, NO_DRIFT) == TickReport(), f"fired twice at {moment}"


def test_the_whole_life_of_a_case_fires_each_timer_once_at_its_moment(
    runtime: Runtime, world: DemoWorld, clock: TestClock
) -> None:
    add_holidays(runtime, date(2026, 3, 6))
    overdue = datetime(2026, 3, 17, 9, 0, tzinfo=UTC)  # 10 working days, less the Friday
    meeting_id = schedule(world, runtime, "coordinator", days=15)  # 17 March
    case_id, _ = in_information_gathering(world)
    fires_at(runtime, clock, overdue, 1)
    move(world, "coordinator", case_id, "ready_for_panel")
    world.run("coordinator", panel.set_agenda, panel.SetAgenda(meeting_id, (case_id,)))
    hold(world, meeting_id)  # on its day, 17 March
    world.run(
        "chair",
        panel.record_panel_decision,
        panel.RecordDecision(case_id, meeting_id, "support", "Consensus."),
    )
    world.run("coordinator", consent.request_consent, consent.RequestConsent(case_id))
    record = consent.RecordConsent(case_id, True, "in_person", SCOPE, "guardian", "G")
    world.run("coordinator", consent.record_consent, record)  # lapses 17 March 2027
    move(world, "coordinator", case_id, "start_support")
    clock.advance(days=5)
    move(world, "chair", case_id, "exit_support")  # 22 March 2026
    fires_at(runtime, clock, datetime(2026, 9, 22, 9, 0, tzinfo=UTC), 1)
    fires_at(runtime, clock, datetime(2027, 3, 17, 9, 0, tzinfo=UTC), 1)
    fires_at(runtime, clock, datetime(2027, 3, 22, 9, 0, tzinfo=UTC), 1)
    move(world, "coordinator", case_id, "close")
    clock.advance(days=365 * 4)
    assert tick(runtime, NO_DRIFT) == TickReport()  # erasure is the retention job's
    assert case_state(runtime, case_id) == "closed"
    timers_of_case = timer_rows(runtime, case_id=case_id, kind="transition")
    assert sorted((t.object_kind, t.trigger, t.state) for t in timers_of_case) == [
        ("case", "follow_up_12m", "fired"),
        ("case", "follow_up_6m", "fired"),
        ("consent", "expire", "fired"),
        ("information_request", "mark_overdue", "fired"),
    ]
    assert [(e.action, e.at) for e in system_entries(runtime)] == [
        ("information_request:send", overdue),
        ("case:follow_up_6m", datetime(2026, 9, 22, 9, 0, tzinfo=UTC)),
        ("consent:record", datetime(2027, 3, 17, 9, 0, tzinfo=UTC)),
        ("case:follow_up_12m", datetime(2027, 3, 22, 9, 0, tzinfo=UTC)),
        # Closing the case withdrew the request the agency never answered.
        ("information_request:send", datetime(2027, 3, 22, 9, 0, tzinfo=UTC)),
    ]
    with runtime.session_factory() as session:
        assert verify(session).ok


def test_a_closed_case_gets_no_erase_timer_retention_erases_it(
    runtime: Runtime, world: DemoWorld
) -> None:
    case_id = submit(world)
    world.run("screener", screening.start_screening, screening.StartScreening(case_id))
    world.run(
        "coordinator",
        screening.record_screening_outcome,
        screening.RecordScreeningOutcome(case_id, "close_no_action"),
    )
    assert timer_rows(runtime, object_id=case_id, object_kind="case", state="pending") == []


def test_overdue_and_due_soon_cases_are_marked_in_the_queue(
    runtime: Runtime, world: DemoWorld, clock: TestClock
) -> None:
    late = submit(world)
    clock.advance(days=3)
    soon = submit(world)  # Thursday: due the next Thursday
    clock.now = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)  # Tuesday
    with UnitOfWork(runtime) as uow:
        rows = {
            r.case_id: r
            for r in queue.work_queue(uow, world.actors["coordinator"], queue.ListQueue()).rows
        }
    assert list(rows) == [late, soon]  # nearest deadline first
    assert (rows[late].overdue, rows[late].due_soon) == (True, False)
    assert (rows[soon].overdue, rows[soon].due_soon) == (False, True)
    with UnitOfWork(runtime) as uow:
        command = queue.ListQueue(due_soon_days=1)
        rows = {
            r.case_id: r for r in queue.work_queue(uow, world.actors["coordinator"], command).rows
        }
    assert rows[soon].due_soon is False


def test_a_holiday_counts_in_what_is_due_soon(
    runtime: Runtime, world: DemoWorld, clock: TestClock
) -> None:
    clock.advance(days=3)
    case_id = submit(world)  # Thursday 5 March: due Thursday 12 March
    clock.now = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)  # Tuesday: 2 working days to go
    coordinator = world.actors["coordinator"]
    with UnitOfWork(runtime) as uow:
        [row] = queue.work_queue(uow, coordinator, queue.ListQueue(due_soon_days=1)).rows
    assert row.due_soon is False
    add_holidays(runtime, date(2026, 3, 11))  # the Wednesday in between
    with UnitOfWork(runtime) as uow:
        [row] = queue.work_queue(uow, coordinator, queue.ListQueue(due_soon_days=1)).rows
    assert (row.case_id, row.due_soon) == (case_id, True)


def test_drift_alert_is_raised_once_after_a_quiet_spell_and_activity_defers_it(
    runtime: Runtime, world: DemoWorld, clock: TestClock
) -> None:
    rules = ClockRules(drift_days=30)
    case_id = submit(world)
    world.run("screener", screening.start_screening, screening.StartScreening(case_id))
    clock.advance(days=20)
    world.run(
        "screener",
        screening.record_deconfliction,
        screening.RecordDeconfliction(case_id, "none", "no match"),
    )
    clock.advance(days=15)  # 35 days in screening, 15 since the last change
    assert tick(runtime, rules) == TickReport(rechecked=1)
    assert tick(runtime, rules) == TickReport()
    clock.advance(days=14)
    assert tick(runtime, rules) == TickReport()
    clock.advance(days=1)  # 30 days since the last change
    assert tick(runtime, rules) == TickReport(alerts=1)
    assert tick(runtime, rules) == TickReport()
    [alert] = system_entries(runtime)
    assert (alert.action, alert.case_id, alert.allowed) == ("case:drift", case_id, True)
    coordinator = world.actors["coordinator"]
    with UnitOfWork(runtime) as uow:
        [row] = queue.work_queue(uow, coordinator, queue.ListQueue()).rows
    assert row.idle_since == MONDAY + timedelta(days=20)
    clock.advance(days=30)
    assert tick(runtime, rules) == TickReport(alerts=1)  # still nothing: reminded again
    world.run(
        "coordinator",
        screening.record_screening_outcome,
        screening.RecordScreeningOutcome(case_id, "gather_information"),
    )
    with UnitOfWork(runtime) as uow:
        [row] = queue.work_queue(uow, coordinator, queue.ListQueue()).rows
    assert row.idle_since is None


def test_an_active_intervention_without_progress_raises_its_own_drift_alert(
    runtime: Runtime, world: DemoWorld, clock: TestClock
) -> None:
    case_id, intervention_id = to_support(world, schedule(world, runtime, "coordinator"))
    clock.advance(days=31)
    report = tick(runtime, ClockRules(drift_days=30))
    actions = {(e.action, e.target) for e in system_entries(runtime) if e.case_id == case_id}
    assert ("intervention:drift", f"intervention:{intervention_id}") in actions
    assert ("case:drift", f"case:{case_id}") in actions
    assert report.alerts >= 2


def test_a_failing_timer_is_retried_with_back_off_without_stopping_the_others(
    runtime: Runtime, world: DemoWorld, clock: TestClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, [broken] = in_information_gathering(world)
    _, [healthy] = in_information_gathering(world)
    real = timers.fire_linked

    def fire_linked(
        uow: UnitOfWork, actor: object, obj: object, *args: object, **kw: object
    ) -> str:
        if getattr(obj, "id", None) == broken:
            raise RuntimeError("synthetic failure")
        return real(uow, actor, obj, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(timers, "fire_linked", fire_linked)
    clock.advance(days=20)
    assert tick(runtime, NO_DRIFT) == TickReport(fired=1, failed=1)
    assert request_states(runtime, [broken, healthy]) == ["requested", "overdue"]
    [timer] = timer_rows(runtime, object_kind="information_request", object_id=broken)
    assert (timer.state, timer.attempts, timer.last_error) == ("pending", 1, "RuntimeError")
    assert timer.run_after == clock.now + timers.RETRY_AFTER
    assert tick(runtime, NO_DRIFT) == TickReport()  # backing off
    for attempt in range(2, MAX_ATTEMPTS + 1):
        clock.advance(seconds=timers.RETRY_AFTER.total_seconds() * 2 ** (attempt - 2))
        assert tick(runtime, NO_DRIFT) == TickReport(failed=1), attempt
    [timer] = timer_rows(runtime, object_kind="information_request", object_id=broken)
    assert (timer.state, timer.attempts) == ("failed", MAX_ATTEMPTS)
    monkeypatch.setattr(timers, "fire_linked", real)
    clock.advance(days=1)
    assert tick(runtime, NO_DRIFT) == TickReport()  # a failed timer waits for a person


def test_a_timer_the_policy_refuses_is_audited_as_a_denial_and_retried(
    runtime: Runtime, world: DemoWorld, clock: TestClock, tmp_path: Path
) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "model.conf").write_text((PROJECT_ROOT / "policies" / "model.conf").read_text())
    rules = (PROJECT_ROOT / "policies" / "default.csv").read_text().splitlines()
    kept = [r for r in rules if not r.startswith("p, system, *, information_request")]
    (policies / "default.csv").write_text("\n".join(kept) + "\n")
    strict = replace(runtime, authz=Authorizer(policies))
    _, [request_id] = in_information_gathering(world)
    clock.advance(days=20)
    assert tick(strict, NO_DRIFT) == TickReport(failed=1)
    [denial] = system_entries(runtime)
    assert (denial.action, denial.allowed) == ("information_request:send", False)
    [timer] = timer_rows(runtime, object_kind="information_request", object_id=request_id)
    assert timer.attempts == 1 and "may not do 'information_request:send'" in timer.last_error
    clock.advance(minutes=1)
    assert tick(runtime, NO_DRIFT) == TickReport(fired=1)  # the policy allows it again


def test_a_timer_whose_object_moved_on_is_cancelled_with_the_reason(
    runtime: Runtime, world: DemoWorld, clock: TestClock
) -> None:
    _, [request_id] = in_information_gathering(world)
    with runtime.session_factory() as session, session.begin():
        session.get(InformationRequest, request_id).state = "declined"  # type: ignore[union-attr]
    clock.advance(days=20)
    assert tick(runtime, NO_DRIFT) == TickReport(cancelled=1)
    [timer] = timer_rows(runtime, object_kind="information_request", object_id=request_id)
    assert (timer.state, timer.note) == ("cancelled", "moved on to declined")
    assert system_entries(runtime) == []


def test_a_tick_stops_at_its_batch_and_the_next_one_goes_on(
    runtime: Runtime, world: DemoWorld, clock: TestClock
) -> None:
    _, ids = in_information_gathering(
        world, OrgKind.HEALTH, OrgKind.EDUCATION, OrgKind.POLICE, OrgKind.YOUTH
    )
    clock.advance(days=20)
    small = ClockRules(drift_days=0, batch=3)
    assert tick(runtime, small).fired == 3
    assert tick(runtime, small).fired == 1
    assert request_states(runtime, ids) == ["overdue"] * 4
