"""The clock: fire due timers through the same services, policy and audit as a person.

`tick` takes due timers one at a time, each in a transaction of its own: claim the row
(FOR UPDATE SKIP LOCKED on PostgreSQL, so concurrent workers never take the same one),
fire its transition as the network's `system` actor through services.flow (policy
decision, workflow, audit entry, the next state's timers) and mark it fired, then
commit. A worker killed mid-batch loses at most the timer in flight: its transaction
rolls back, the row is pending again and the next tick fires it. Nothing fires twice: a
fired row is never claimed again, and a fired row and its move commit together.

A timer whose object has moved on is cancelled, with the reason. One that fails is
retried later (back-off doubling from RETRY_AFTER) and given up after MAX_ATTEMPTS; a
failure never stops the tick. Erasure is the retention service's (`referral retention
run`, each closed state's `retain_months`), never a timer row.

Drift: a drift timer waits in an open case or intervention that no timer leaves. When it
comes due (`drift_days` after the last activity it knows of) it looks at the object's
latest audited change: if there was one since, it waits for a quiet spell from there;
if not, it records an audited `case:drift` (or `intervention:drift`) alert, which the
work queue shows, and waits for another quiet spell before alerting again.
"""

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from referral.db.tables import (
    Case,
    Consent,
    InformationRequest,
    Intervention,
    Network,
    PanelMeeting,
    Timer,
)
from referral.domain import states
from referral.domain.actors import Actor, system_actor
from referral.domain.errors import ReferralError
from referral.domain.facts import GuardFacts
from referral.logging import get_logger
from referral.services import summons
from referral.services.access import authorise, record
from referral.services.flow import case_workflow, fire_case, fire_linked
from referral.services.outbox import Mailroom
from referral.services.protocols import remind_due_reviews
from referral.services.retention import retention_rules, run_retention
from referral.services.schedule import CANCELLED, DRIFT, FAILED, FIRED, PENDING
from referral.services.transfers import expire_transfers
from referral.services.uow import Runtime, UnitOfWork
from referral.services.webhook_delivery import HookRules
from referral.workflow.schema import Workflow, WorkflowObject

if TYPE_CHECKING:
    from referral.config import Settings

log = get_logger(__name__)

MAX_ATTEMPTS = 5
RETRY_AFTER = timedelta(minutes=1)  # then 2, 4, 8 minutes
DRIFT_PERMISSION = "case:manage"

MODELS: dict[str, type[Any]] = {
    WorkflowObject.CASE: Case,
    WorkflowObject.INFORMATION_REQUEST: InformationRequest,
    WorkflowObject.CONSENT: Consent,
    WorkflowObject.INTERVENTION: Intervention,
    WorkflowObject.PANEL_MEETING: PanelMeeting,
}
# What a move of each linked object touches, as its own service records it.
CATEGORIES: dict[str, tuple[str, ...]] = {
    WorkflowObject.INFORMATION_REQUEST: ("assessment",),
    WorkflowObject.CONSENT: ("consent",),
    WorkflowObject.INTERVENTION: ("support",),
}
TARGET_PREFIX: dict[str, str] = {WorkflowObject.PANEL_MEETING: "meeting"}


@dataclass(frozen=True)
class ClockRules:
    """How the clock runs: from settings, or smaller in tests."""

    drift_days: int = 30
    batch: int = 500
    mail: Mailroom | None = None  # notices' e-mails, sent after the timers (None: e-mail off)
    hooks: HookRules | None = None  # partners' webhooks, after the e-mails (None: not here)
    # Months after closing per closed state (services.retention.retention_rules), run by
    # services.retention after the timers (empty: retention is left to the operator).
    retention_months: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: "Settings", workflows: Iterable[Workflow]) -> "ClockRules":
        mail = Mailroom.from_settings(settings)
        return cls(
            drift_days=settings.drift_days,
            batch=settings.timer_batch,
            mail=mail,
            hooks=HookRules.from_settings(settings),
            retention_months=retention_rules(workflows, settings.retention_months),
        )

    def drift_before(self, now: datetime) -> datetime | None:
        """Drift checks whose quiet spell began before this are due (None: drift is off)."""
        return now - timedelta(days=self.drift_days) if self.drift_days > 0 else None


@dataclass
class TickReport:
    fired: int = 0
    cancelled: int = 0
    failed: int = 0
    alerts: int = 0
    rechecked: int = 0
    erased: int = 0  # cases past their retention period
    transfers_expired: int = 0  # transfer proposals nobody answered in time
    summons_ended: int = 0  # summoned officials whose window has passed
    reminders: int = 0  # protocols and sharing agreements past their review date

    @property
    def handled(self) -> int:
        return self.fired + self.cancelled + self.failed + self.alerts + self.rechecked

    def add(self, other: "TickReport") -> None:
        names = ("fired", "cancelled", "failed", "alerts", "rechecked", "erased",
                 "transfers_expired", "summons_ended", "reminders")  # fmt: skip
        for name in names:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def __str__(self) -> str:
        return (
            f"{self.fired} fired, {self.cancelled} cancelled, {self.failed} failed, "
            f"{self.alerts} drift alert(s), {self.rechecked} drift check(s) deferred, "
            f"{self.erased} case(s) erased, {self.transfers_expired} transfer(s) expired"
            + (f", {self.summons_ended} summons ended" if self.summons_ended else "")
            + (f", {self.reminders} review reminder(s)" if self.reminders else "")
        )


def tick(
    runtime: Runtime,
    rules: ClockRules = ClockRules(),
    *,
    request_id: str = "clock",
    should_stop: Callable[[], bool] = lambda: False,
) -> TickReport:
    """Handle up to `rules.batch` due timers, one transaction each; stop early when asked."""
    report = TickReport()
    for _ in range(rules.batch):
        if should_stop():
            break
        outcome = run_next(runtime, rules, request_id)
        if outcome is None:
            break
        setattr(report, outcome, getattr(report, outcome) + 1)
    if not should_stop():
        report.transfers_expired = expire_transfers(runtime, request_id=request_id)
    if rules.retention_months and not should_stop():
        retained = run_retention(runtime, rules.retention_months)
        report.erased = len(retained.erased_cases)
        report.failed += len(retained.failures)
    if not should_stop():
        report.summons_ended = summons.end_lapsed(runtime)  # windows passed: access ends
    if not should_stop():  # before the mail goes: the dpo's e-mail leaves in this tick
        report.reminders = remind_due_reviews(runtime, request_id=request_id)
    if rules.mail is not None and not should_stop():
        rules.mail.deliver(runtime)  # docs/notifications.md
    if rules.hooks is not None and not should_stop():
        rules.hooks.deliver(runtime)  # docs/operations.md, FHIR export and webhooks
    if report.handled:
        log.info("clock_ticked", **{k: getattr(report, k) for k in vars(report)})
    return report


def run_worker(
    runtime: Runtime,
    rules: ClockRules,
    interval_seconds: float,
    stop: threading.Event,
    *,
    request_id: str = "worker",
) -> TickReport:
    """Tick every `interval_seconds` until `stop` is set; a full batch ticks again at once."""
    total = TickReport()
    while not stop.is_set():
        try:
            report = tick(runtime, rules, request_id=request_id, should_stop=stop.is_set)
        except Exception as exc:  # the database went away: wait, then try again
            log.error("clock_tick_failed", error=type(exc).__name__)
            report = TickReport()
        total.add(report)
        if report.handled < rules.batch:
            stop.wait(interval_seconds)
    return total


def run_next(runtime: Runtime, rules: ClockRules, request_id: str) -> str | None:
    """Claim and handle the next due timer; its outcome, or None when nothing is due."""
    timer_id: int | None = None
    try:
        with UnitOfWork(runtime, request_id=request_id) as uow:
            timer = uow.repo.claim_due_timer(uow.now, rules.drift_before(uow.now))
            if timer is None:
                return None
            timer_id = timer.id
            outcome = _handle(uow, timer, rules)
            uow.commit()
            return outcome
    except Exception as exc:  # one timer's failure never stops the others
        if timer_id is None:
            raise
        _record_failure(runtime, timer_id, exc, request_id)
        return "failed"


def _handle(uow: UnitOfWork, timer: Timer, rules: ClockRules) -> str:
    # The worker claims timers of every network; the claimed one names its network, and
    # from there on the work is that network's, through its scope.
    network = uow.unscoped("a claimed timer names its own network").get(Network, timer.network_id)
    assert network is not None  # a foreign key
    actor = system_actor(network.id, network.slug)
    obj = uow.scoped(actor).get(MODELS[timer.object_kind], timer.object_id)
    if obj is None:
        return _cancel(timer, "the object no longer exists")
    if obj.state != timer.source_state:
        return _cancel(timer, f"moved on to {obj.state}")
    if timer.kind == DRIFT:
        return _check_drift(uow, actor, timer, obj, rules)
    return _fire(uow, actor, timer, obj)


def _cancel(timer: Timer, note: str) -> str:
    timer.state, timer.note = CANCELLED, note[:200]
    log.info("timer_cancelled", timer_id=timer.id, trigger=timer.trigger)
    return "cancelled"


def _fire(uow: UnitOfWork, actor: Actor, timer: Timer, obj: Any) -> str:
    kind = timer.object_kind
    is_case = kind == WorkflowObject.CASE
    workflow = case_workflow(uow, obj) if is_case else uow.workflow(timer.workflow)
    transition = workflow.transition(timer.trigger, obj.state)
    if transition is None:
        return _cancel(timer, f"{workflow.name} v{workflow.version} no longer has this move")
    # Marked first, so the move's own cancelling of the object's pending timers skips it;
    # both commit together or not at all.
    timer.state, timer.fired_at = FIRED, uow.now
    timer.note = f"{obj.state} -> {transition.dest}"
    uow.flush()
    if is_case:
        fire_case(uow, actor, obj, uow.repo.case_facts(obj, actor), timer.trigger)
    else:
        case = uow.scoped(actor).repo.case(obj.case_id) if hasattr(obj, "case_id") else None
        fire_linked(
            uow,
            actor,
            obj,
            timer.workflow,
            timer.trigger,
            uow.repo.case_facts(case, actor) if case else None,
            _guard_facts(uow, obj, case),
            case_id=case.id if case else None,
            target=_target(kind, obj.id),
            categories=CATEGORIES.get(kind, ()),
        )
    log.info("timer_fired", timer_id=timer.id, trigger=timer.trigger, object_kind=kind)
    return "fired"


def _guard_facts(uow: UnitOfWork, obj: Any, case: Case | None) -> GuardFacts:
    if isinstance(obj, PanelMeeting):
        return uow.repo.meeting_guard_facts(obj)
    consent = uow.repo.current_consent(case.id) if case else None
    return GuardFacts(consent_state=consent.state if consent else states.NO_CONSENT)


def _target(kind: str, object_id: int) -> str:
    return f"{TARGET_PREFIX.get(kind, kind)}:{object_id}"


def _check_drift(uow: UnitOfWork, actor: Actor, timer: Timer, obj: Any, rules: ClockRules) -> str:
    case: Case | None = obj
    if isinstance(obj, Case):
        last = uow.repo.last_case_activity([obj.id]).get(obj.id)
    else:
        case = uow.scoped(actor).repo.case(obj.case_id)
        last = uow.repo.last_intervention_activity(obj)
    assert case is not None  # a foreign key
    since = max(timer.run_after, last or timer.run_after)
    if since > uow.now - timedelta(days=rules.drift_days):
        timer.run_after = since  # there was activity: a new quiet spell starts there
        return "rechecked"
    facts = uow.repo.case_facts(case, actor)
    target = _target(timer.object_kind, obj.id)
    decision = authorise(uow, actor, DRIFT_PERMISSION, facts, case_id=case.id, target=target)
    timer.state, timer.fired_at = FIRED, uow.now
    timer.note = f"no activity since {since:%Y-%m-%d %H:%M} UTC"
    uow.audit(
        record(
            actor,
            f"{timer.object_kind}:drift",
            decision,
            case_id=case.id,
            target=target,
            categories=("status",),
        )
    )
    # The next alert, after another quiet spell as long as this one.
    uow.scoped(actor).add(
        Timer(
            network_id=timer.network_id,
            case_id=timer.case_id,
            object_kind=timer.object_kind,
            object_id=timer.object_id,
            workflow=timer.workflow,
            source_state=timer.source_state,
            trigger=timer.trigger,
            kind=DRIFT,
            due_at=uow.now,
            run_after=uow.now,
            state=PENDING,
            attempts=0,
            created_at=uow.now,
        )
    )
    log.info(
        "drift_alert_raised", timer_id=timer.id, case_id=case.id, object_kind=timer.object_kind
    )
    return "alerts"


def _record_failure(runtime: Runtime, timer_id: int, exc: Exception, request_id: str) -> None:
    """Count the failed attempt and push the timer back; give up after MAX_ATTEMPTS."""
    # Our own errors say what went wrong with ids only; others may quote data: name them.
    message = exc.message if isinstance(exc, ReferralError) else type(exc).__name__
    with UnitOfWork(runtime, request_id=request_id) as uow:
        timer = uow.unscoped("the worker settles timers of every network").get(
            Timer, timer_id, with_for_update=True
        )
        if timer is None or timer.state != PENDING:
            return  # another worker settled it meanwhile
        attempts = timer.attempts = timer.attempts + 1
        timer.last_error = message[:1000]
        if attempts >= MAX_ATTEMPTS:
            timer.state, timer.note = FAILED, f"gave up after {attempts} attempts"
        else:
            timer.run_after = uow.now + RETRY_AFTER * 2 ** (attempts - 1)
        uow.commit()
    log.warning("timer_failed", timer_id=timer_id, attempts=attempts, error=type(exc).__name__)
