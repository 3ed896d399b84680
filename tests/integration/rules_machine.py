"""A stateful fuzz of the rules: random actors of every role try random operations on
random cases through the services, and after every step the invariants of DESIGN.md §7
are checked against the database itself.

`RulesMachine` is a Hypothesis `RuleBasedStateMachine`. Two kinds of step move it:

- `advance` carries a case one step along the reference path with the actor the step
  needs, so that a run reaches the panel, consent and support instead of knocking on a
  draft's door forever;
- `poke` has a random actor (every role, plus people of other organisations) try a
  random operation on a random case, which the rules usually refuse;
- `read_a_case` has a random actor read a random case; it also follows every `advance`
  and `poke`, with a read by every actor whose reads hang on the consent, so that every
  step's effect on what people see is checked.

After every step it checks:

1. nothing disclosed outside the agreement: every field a read showed is of a category
   the policy allows that actor on facts the check loads itself, and for a role whose
   reads depend on consent, a category the current consent covers for that actor's kind
   of organisation;
2. every read and every refused read has its ledger entry; a read's ledgers each category
   shown with the purpose and legal basis of the rule that allowed it;
3. a refused operation changed nothing (the case's state and version stand), and one
   done on a record hanging off the case was done in a state the workflow file allows
   it in (read from the file itself);
4. the audit chain verifies.

tests/integration/test_rules_fuzz.py runs it briefly in the suite; bench/fuzz.py runs
1,000 steps or more and prints what it checked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from sqlalchemy import func, select

from referral.audit.ledger import disclosures
from referral.audit.sequencer import sequence_pending
from referral.audit.verify import verify
from referral.authz.enforcer import Decision
from referral.db.tables import AuditEntry, Case, Consent, ConsentScopeRow
from referral.demo import DemoWorld
from referral.domain.actors import Actor
from referral.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from referral.domain.facts import ConsentScope
from referral.domain.vocabulary import PERSONAL_CATEGORIES, Category, OrgKind, Purpose, Role
from referral.services import (
    consent,
    information,
    lifecycle,
    panel,
    referrals,
    screening,
    support,
)
from referral.services.uow import Runtime, UnitOfWork
from tests.factories import add_user, hold, referral_command, schedule

PROVIDERS = ["provider", "other_provider"]  # the demo's (civil society) and a youth service's
MOST_CASES = 4  # a few cases, each taken further, rather than many drafts
REFUSALS = (NotFound, PermissionDenied, Conflict, InvalidInput)
# Roles whose reads of a case hang on the person's consent (policies/default.csv).
CONSENT_DEPENDENT = frozenset({Role.PROVIDER})
SCOPES = [
    ConsentScope(category, kind, purpose)
    for category in (
        Category.IDENTITY,
        Category.CONTACT,
        Category.CONCERN,
        Category.SPECIAL,
        Category.SUPPORT,
        Category.CONSENT,
    )
    for kind in (OrgKind.CIVIL_SOCIETY, OrgKind.HEALTH)
    for purpose in (Purpose.SUPPORT, Purpose.PANEL)
]


@dataclass
class CaseRun:
    """What the machine knows of one case it made: the ids its operations need."""

    case_id: int
    step: int = 0  # the next step of the reference path `advance` takes
    requests: list[int] = field(default_factory=list)
    interventions: list[int] = field(default_factory=list)
    # The demo provider's own interventions, which `advance` carries on.
    providers: list[int] = field(default_factory=list)


Operation = Callable[["RulesMachine", str, CaseRun], Any]


def _move(trigger: str) -> Operation:
    return lambda m, who, run: m.world.run(
        who, lifecycle.move_case, lifecycle.MoveCase(run.case_id, trigger)
    )


def _send_requests(m: RulesMachine, who: str, run: CaseRun) -> Any:
    command = information.SendInformationRequests(
        run.case_id, (m.world.org_ids[OrgKind.HEALTH],), "Known to you?"
    )
    run.requests.extend(m.world.run(who, information.send_information_requests, command))


def _answer(m: RulesMachine, who: str, run: CaseRun) -> Any:
    if not run.requests:
        raise InvalidInput("no request to answer")
    command = information.RecordAnswer(run.requests[-1], "Not known to us.")
    return m.world.run(who, information.record_answer, command)


# What the support plan needs the consent to cover, which `advance` always grants: the
# provider reads nothing, and cannot reach the case, without some grant for support.
SUPPORT_PLAN = ConsentScope(Category.SUPPORT, OrgKind.CIVIL_SOCIETY, Purpose.SUPPORT)


def _record_consent(m: RulesMachine, who: str, run: CaseRun) -> Any:
    drawn = m.data.draw(st.lists(st.sampled_from(SCOPES), unique=True, min_size=1, max_size=4))
    scope = tuple(dict.fromkeys([*drawn, SUPPORT_PLAN] if m.advancing else drawn))
    command = consent.RecordConsent(
        run.case_id, True, "in_person", scope, given_by="guardian", guardian_name="G"
    )
    return m.world.run(who, consent.record_consent, command)


def _assign(m: RulesMachine, who: str, run: CaseRun) -> Any:
    provider = "provider" if m.advancing else m.data.draw(st.sampled_from(PROVIDERS))
    command = support.AssignIntervention(
        run.case_id, "mentoring", m.world.actors[provider].organisation_id, "Plan"
    )
    made = m.world.run(who, support.assign_intervention, command)
    run.interventions.append(made)
    if provider == "provider":
        run.providers.append(made)


def _target(m: RulesMachine, run: CaseRun) -> int:
    """The intervention an operation touches: the demo provider's latest when advancing,
    else any of the case's."""
    if m.advancing and run.providers:
        return run.providers[-1]
    if not run.interventions:
        raise InvalidInput("no intervention yet")
    return int(m.data.draw(st.sampled_from(run.interventions)))


def _intervention(trigger: str) -> Operation:
    def act(m: RulesMachine, who: str, run: CaseRun) -> Any:
        target = _target(m, run)
        return m.world.run(
            who, support.move_intervention, support.MoveIntervention(target, trigger)
        )

    return act


def _progress(m: RulesMachine, who: str, run: CaseRun) -> Any:
    target = _target(m, run)
    return m.world.run(who, support.record_progress, support.RecordProgress(target, "Went well."))


OPERATIONS: dict[str, Operation] = {
    "submit_draft": lambda m, who, run: m.world.run(
        who, referrals.submit_draft, referrals.SubmitDraft(run.case_id)
    ),
    "start_screening": lambda m, who, run: m.world.run(
        who, screening.start_screening, screening.StartScreening(run.case_id)
    ),
    "record_deconfliction": lambda m, who, run: m.world.run(
        who,
        screening.record_deconfliction,
        screening.RecordDeconfliction(run.case_id, "none known", "no match"),
    ),
    "gather_information": lambda m, who, run: m.world.run(
        who,
        screening.record_screening_outcome,
        screening.RecordScreeningOutcome(run.case_id, "gather_information", screening_notes="n"),
    ),
    "send_information_requests": _send_requests,
    "record_answer": _answer,
    "ready_for_panel": _move("ready_for_panel"),
    "set_agenda": lambda m, who, run: m.world.run(
        who, panel.set_agenda, panel.SetAgenda(m.meeting_id, (run.case_id,))
    ),
    "add_contribution": lambda m, who, run: m.world.run(
        who, panel.add_contribution, panel.AddContribution(run.case_id, m.meeting_id, "View.")
    ),
    # Decisions are recorded once the meeting is held (the chair marks it so).
    "decide_support": lambda m, who, run: (
        hold(m.world, m.meeting_id),
        m.world.run(
            who,
            panel.record_panel_decision,
            panel.RecordDecision(run.case_id, m.meeting_id, "support", "Consensus."),
        ),
    )[1],
    "request_consent": lambda m, who, run: m.world.run(
        who, consent.request_consent, consent.RequestConsent(run.case_id)
    ),
    "record_consent": _record_consent,
    "start_support": _move("start_support"),
    "assign_intervention": _assign,
    "accept_intervention": _intervention("accept"),
    "start_intervention": _intervention("start"),
    "record_progress": _progress,
    "start_review": _move("start_review"),
    "record_review": lambda m, who, run: m.world.run(
        who, lifecycle.record_review, lifecycle.RecordReview(run.case_id, "review", "On track.")
    ),
    "continue_support": _move("continue_support"),
    "exit_support": _move("exit_support"),
    "withdraw_consent": lambda m, who, run: m.world.run(
        who, consent.withdraw_consent, consent.WithdrawConsent(run.case_id)
    ),
}

# The reference path, as (operation, the actor who takes it): what `advance` follows.
PATH: list[tuple[str, str]] = [
    ("submit_draft", "referrer"),
    ("start_screening", "screener"),
    ("record_deconfliction", "screener"),
    ("gather_information", "coordinator"),
    ("send_information_requests", "coordinator"),
    ("record_answer", "coordinator"),
    ("ready_for_panel", "coordinator"),
    ("set_agenda", "chair"),
    ("add_contribution", "panel"),
    ("decide_support", "chair"),
    ("request_consent", "coordinator"),
    ("record_consent", "coordinator"),
    ("start_support", "coordinator"),
    ("assign_intervention", "coordinator"),
    ("accept_intervention", "provider"),
    ("start_intervention", "provider"),
    ("record_progress", "provider"),
    ("start_review", "coordinator"),
    ("record_review", "coordinator"),
    ("continue_support", "coordinator"),
    ("exit_support", "chair"),
]


# The fuzz's operations on records hanging off a case, by the name the workflow file
# declares them under (`operations:` in workflows/referral.yaml).
LINKED = {
    "set_agenda": "set_agenda",
    "add_contribution": "contribute",
    "decide_support": "decide",
    "send_information_requests": "send_information_requests",
    "record_answer": "answer_information_request",
    "request_consent": "request_consent",
    "record_consent": "record_consent",
    "assign_intervention": "assign_intervention",
    "accept_intervention": "move_intervention",
    "start_intervention": "move_intervention",
    "record_progress": "record_progress",
    "record_review": "record_review",
}


def declared_operations(path: Path) -> dict[str, frozenset[str]]:
    """The case states each operation is allowed in, read from the file itself (with a
    plain YAML reader, not the loader under test)."""
    declared = yaml.safe_load(path.read_text())["operations"]
    return {name: frozenset(_flat(states)) for name, states in declared.items()}


def _flat(states: Any) -> list[str]:
    """A state list as written: anchored lists (`*open`) may sit inside it."""
    if isinstance(states, str):
        return [states]
    return [state for item in states for state in _flat(item)]


@dataclass
class Tally:
    """What a run did and checked, for bench/fuzz.py."""

    steps: int = 0
    runs: int = 0  # Hypothesis examples: each a fresh machine on the same database
    outcomes: Counter[str] = field(default_factory=Counter)  # "poke:set_agenda:refused"...
    checks: Counter[str] = field(default_factory=Counter)  # invariant -> times checked
    reasons: Counter[str] = field(default_factory=Counter)  # why operations were refused


class RulesMachine(RuleBasedStateMachine):
    """Set `runtime`, `world` and `tally` on the class before running (see `machine_for`)."""

    runtime: Runtime
    world: DemoWorld
    meeting_id: int
    tally: Tally
    operations: dict[str, frozenset[str]]

    cases = Bundle("cases")

    @initialize(target=cases)
    def first_case(self) -> CaseRun:
        self.tally.runs += 1
        return self._new_case()

    @precondition(lambda self: self.made < MOST_CASES)
    @rule(target=cases)
    def another_case(self) -> CaseRun:
        return self._new_case()

    def _new_case(self) -> CaseRun:
        self.made = getattr(self, "made", 0) + 1
        case_id = self.world.run(
            "referrer", referrals.submit_referral, referral_command(as_draft=True)
        )
        return CaseRun(int(case_id))

    @rule(run=cases, data=st.data())
    def advance(self, run: CaseRun, data: st.DataObject) -> None:
        if run.step >= len(PATH):
            return
        name, who = PATH[run.step]
        if self._attempt("advance", name, who, run, data):
            run.step += 1
        self._after_step(run, data)

    @rule(run=cases, data=st.data())
    def poke(self, run: CaseRun, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(OPERATIONS)))
        who = data.draw(st.sampled_from(sorted(self.world.actors)))
        self._attempt("poke", name, who, run, data)
        self._after_step(run, data)

    def _after_step(self, run: CaseRun, data: st.DataObject) -> None:
        """What every step is followed by: a random actor reads the case (as the rule
        `read_a_case` does, which Hypothesis leaves out of some runs: swarm testing), and
        so does every actor whose reads hang on the consent, which a step may change."""
        self.read_a_case(run, data)
        for who in sorted(self.world.actors):
            if self.world.actors[who].roles & CONSENT_DEPENDENT:
                self._read_as(who, run)

    @rule(run=cases, data=st.data())
    def read_a_case(self, run: CaseRun, data: st.DataObject) -> None:
        self._read_as(data.draw(st.sampled_from(sorted(self.world.actors))), run)

    def _read_as(self, who: str, run: CaseRun) -> None:
        before = self._ledger(who, run.case_id)
        try:
            view = self.world.run(who, referrals.read_case, run.case_id)
        except (NotFound, PermissionDenied):
            self._count("read", "refused")
            self._check_refusal_ledgered(who, run.case_id, before)
            return
        self._count("read", "shown")
        allowed = self._check_disclosure(who, run.case_id, view)
        self._check_read_ledgered(who, run.case_id, before, allowed)

    # -- invariants checked after every step ----------------------------------------------

    @invariant()
    def audit_chain_verifies(self) -> None:
        if not hasattr(self, "world"):
            return
        sequence_pending(self.runtime.session_factory)
        with self.runtime.session_factory() as session:
            result = verify(session)
        assert result.ok, result
        self.tally.checks["audit chain verifies"] += 1

    # -- the steps' own checks ----------------------------------------------------------

    def _attempt(self, kind: str, name: str, who: str, run: CaseRun, data: st.DataObject) -> bool:
        self.data = data
        self.advancing = kind == "advance"
        before = self._case_row(run.case_id)
        try:
            OPERATIONS[name](self, who, run)
        except REFUSALS as refusal:
            self.tally.reasons[f"{name}: {refusal}"[:120]] += 1
            self._count(f"{kind}:{name}", "refused")
            assert self._case_row(run.case_id) == before, f"{who} refused {name} changed the case"
            self.tally.checks["a refusal changes nothing"] += 1
            return False
        self._count(f"{kind}:{name}", "done")
        if name in LINKED:
            allowed_in = self.operations[LINKED[name]]
            assert before[0] in allowed_in, f"{name} done on a case in {before[0]}"
            self.tally.checks["a linked record only where its operation is allowed"] += 1
        return True

    def _check_disclosure(
        self, who: str, case_id: int, view: referrals.CaseView
    ) -> dict[Category, Decision]:
        """Every field shown is of a category the policy allows on facts loaded here and,
        for a consent-bound role, that the current consent covers. Returns the decisions
        that allowed a category: the read discloses those (its fields and linked records)."""
        actor = self.world.actors[who]
        shown = {f.category for f in view.fields.values() if f.visible}
        with UnitOfWork(self.runtime, request_id="fuzz-check") as uow:
            facts = _facts_for(actor, uow, case_id)
            decisions = uow.authz.category_decisions(actor, facts, uow.now)
        allowed = {c for c, d in decisions.items() if d.allowed}
        assert shown <= allowed, f"{who} was shown {sorted(shown - allowed)} on case {case_id}"
        self.tally.checks["nothing shown outside the agreement"] += 1
        if actor.roles & CONSENT_DEPENDENT:
            covered = self._consent_covers(case_id, actor.org_kind)
            personal = shown & PERSONAL_CATEGORIES
            assert personal <= covered, (
                f"{who} was shown {sorted(personal - covered)} on case {case_id},"
                f" beyond the consent's scope {sorted(covered)}"
            )
            self.tally.checks["nothing shown beyond the consent"] += 1
        return {c: d for c, d in decisions.items() if d.allowed}

    def _check_read_ledgered(
        self, who: str, case_id: int, before: int, allowed: dict[Category, Decision]
    ) -> None:
        """One entry for the read, which ledgers each category it disclosed with the purpose
        and legal basis of the rule that allowed it, and no other."""
        assert self._ledger(who, case_id) == before + 1, f"{who}'s read of {case_id} unledgered"
        self.tally.checks["every read ledgered"] += 1
        with self.runtime.session_factory() as session:
            entry = session.scalars(
                select(AuditEntry)
                .where(
                    AuditEntry.actor_user_id == self.world.actors[who].user_id,
                    AuditEntry.case_id == case_id,
                    AuditEntry.action == "case:read",
                )
                .order_by(AuditEntry.id.desc())
                .limit(1)
            ).one()
        ledgered = {
            d.categories[0]: (d.rule, d.purpose, d.legal_basis)
            for d in disclosures(
                entry.categories.split(","), entry.allowed, entry.rule, entry.purpose,
                entry.legal_basis,
            )
            if d.allowed
        }  # fmt: skip
        expected = {
            str(c): (d.rule_ref, str(d.purpose), str(d.legal_basis)) for c, d in allowed.items()
        }
        assert ledgered == expected, f"{who}'s read of {case_id} ledgered {ledgered}"
        self.tally.checks["each category ledgered with its rule's purpose and basis"] += 1

    def _check_refusal_ledgered(self, who: str, case_id: int, before: int) -> None:
        assert self._ledger(who, case_id) == before + 1, f"{who}'s refusal on {case_id} unledgered"
        self.tally.checks["every refused read ledgered"] += 1

    # -- reading the database ------------------------------------------------------------

    def _case_row(self, case_id: int) -> tuple[str, int]:
        with self.runtime.session_factory() as session:
            row = session.execute(select(Case.state, Case.version).where(Case.id == case_id)).one()
        return row.state, row.version

    def _ledger(self, who: str, case_id: int) -> int:
        query = (
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.actor_user_id == self.world.actors[who].user_id,
                AuditEntry.case_id == case_id,
                AuditEntry.action == "case:read",
            )
        )
        with self.runtime.session_factory() as session:
            return int(session.scalar(query) or 0)

    def _consent_covers(self, case_id: int, kind: OrgKind) -> set[Category]:
        """The categories the case's current consent lets go to `kind`: none unless given."""
        with self.runtime.session_factory() as session:
            latest = session.scalars(
                select(Consent).where(Consent.case_id == case_id).order_by(Consent.id.desc())
            ).first()
            if latest is None or latest.state != "given":
                return set()
            rows = session.scalars(
                select(ConsentScopeRow.category).where(
                    ConsentScopeRow.consent_id == latest.id, ConsentScopeRow.org_kind == kind
                )
            )
            return {Category(row) for row in rows}

    def _count(self, what: str, outcome: str) -> None:
        self.tally.steps += 1
        self.tally.outcomes[f"{what}:{outcome}"] += 1


def _facts_for(actor: Actor, uow: UnitOfWork, case_id: int) -> Any:
    """The case's facts for `actor` (whether they are invited to its meetings), loaded
    here rather than taken from the service under test."""
    case = uow.repo.case(case_id)
    assert case is not None
    return uow.repo.case_facts(case, actor)


def machine_for(runtime: Runtime, world: DemoWorld, tally: Tally) -> type[RulesMachine]:
    """A machine class bound to one runtime and world (Hypothesis builds instances)."""
    add_user(runtime, world, "other_provider", OrgKind.YOUTH, Role.PROVIDER, new_org=True)
    add_user(runtime, world, "other_referrer", OrgKind.EDUCATION, Role.REFERRER, new_org=True)
    add_user(runtime, world, "uninvited_panel", OrgKind.POLICE, Role.PANEL_MEMBER)
    meeting_id = schedule(world, runtime)

    class Bound(RulesMachine):
        pass

    Bound.runtime, Bound.world, Bound.meeting_id, Bound.tally = runtime, world, meeting_id, tally
    Bound.operations = declared_operations(runtime.workflows["referral"].path)
    return Bound
