"""Retention: erase closed cases once their state's retention period has run out.

The rules come from the case workflow files (`retain_months` on a closed state: months
after closing) and, overriding them per state, configuration (`REFERRAL_RETENTION_MONTHS`).
`referral retention run` applies them; running it again erases nothing twice, because an
erased case is no longer in a retained state. Each case is erased in a transaction of its
own as the network's `system` actor, so one failure stops nothing else; the subject's
data key is destroyed with the last of their cases, and the database's files are then
cleared of old copies of destroyed keys (reclaim_erased).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, and_, or_, select

from referral.db.engine import reclaim_erased
from referral.db.tables import Case, Network
from referral.domain.actors import system_actor
from referral.domain.calendar import add_months
from referral.domain.errors import ReferralError
from referral.services.erasure import erase_with_key
from referral.services.uow import Runtime, UnitOfWork
from referral.workflow.schema import Workflow, WorkflowObject

REASON = "retention period over"


def retention_rules(workflows: Iterable[Workflow], overrides: Mapping[str, int]) -> dict[str, int]:
    """Months after closing before erasure, per case state: the case workflows' own
    `retain_months`, then the operator's overrides (REFERRAL_RETENTION_MONTHS). Where
    two versions of a workflow give one state different periods, the first given (the
    newest, from `WorkflowSet.every`) holds."""
    rules: dict[str, int] = {}
    for workflow in workflows:
        if workflow.object is WorkflowObject.CASE:
            for state, months in workflow.retention_months.items():
                rules.setdefault(state, months)
    return {**rules, **overrides}


@dataclass
class RetentionReport:
    erased_cases: list[int] = field(default_factory=list)
    erased_subjects: list[int] = field(default_factory=list)
    failures: dict[int, str] = field(default_factory=dict)


def due_cases(uow: UnitOfWork, rules: Mapping[str, int], now: datetime) -> list[int]:
    """Ids of the cases whose retention ran out by `now`, oldest closing first."""
    if not rules:
        return []
    past_retention = or_(
        *(
            and_(Case.state == state, Case.closed_at <= add_months(now, -months))
            for state, months in sorted(rules.items())
        )
    )
    session = uow.unscoped("retention runs over every network's closed cases")
    return list(
        session.scalars(select(Case.id).where(past_retention).order_by(Case.closed_at, Case.id))
    )


def run_retention(
    runtime: Runtime, rules: Mapping[str, int], *, dry_run: bool = False
) -> RetentionReport:
    report = RetentionReport()
    with UnitOfWork(runtime) as uow:
        due = due_cases(uow, rules, uow.now)
    if dry_run:
        report.erased_cases = due
        return report
    for case_id in due:
        try:
            subject_id = _erase_one(runtime, case_id, rules)
        except ReferralError as exc:
            report.failures[case_id] = exc.message
            continue
        report.erased_cases.append(case_id)
        if subject_id is not None:
            report.erased_subjects.append(subject_id)
    bind = runtime.session_factory.kw.get("bind")
    if report.erased_subjects and isinstance(bind, Engine):  # tests bind one connection
        reclaim_erased(bind)
    return report


def _erase_one(runtime: Runtime, case_id: int, rules: Mapping[str, int]) -> int | None:
    """Erase one case; the subject's id when this was their last case."""
    with UnitOfWork(runtime, request_id="retention") as uow:
        # The case was listed across networks; it names its own, and the system of that
        # network erases it.
        case = uow.repo.case(case_id)
        if case is None or case.state not in rules:
            return None  # moved on since the list was read: nothing to do
        network = uow.unscoped("the listed case names its network").get(Network, case.network_id)
        assert network is not None
        actor = system_actor(network.id, network.slug)
        rule = f"{case.state} + {rules[case.state]} months"
        facts = uow.repo.case_facts(case, actor)
        _, key_destroyed = erase_with_key(
            uow,
            actor,
            case,
            facts,
            basis="retention",
            rule=rule,
            reason=REASON,
            change={"retention_rule": rule},
        )
        uow.commit()
        return case.subject_id if key_destroyed else None
