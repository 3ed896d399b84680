"""Transfers: a case handed over from one city network to another, which accepts it.

The sending coordinator proposes (`propose_transfer`); the receiving network's
coordinators see it among their incoming transfers and preview it (`preview_transfer`),
which shows exactly what would move: each category judged by the policy's
`handover:<category>` rules for the receiving coordinator, as if the case were already in
their network, so that consent-bound categories move only as far as the current consent
covers them. The preview is a disclosure, ledgered per category like any read.

Accepting (`accept_transfer`), in one transaction: the receiving network gets a new
subject and case holding the categories that move (sealed under the new subject's own data
key), starting at the state its workflow's `handover.continues_at` maps; the sending
case moves by its `via: handover` transition to a closed skeleton (states and dates),
which ends what hangs open off it and tells its referrer, in words, that it moved to
another network's care; and the sending network's data key of the subject is destroyed,
so nothing it held of the person can be read there again. Both networks' audit chains
record the handover. Declined, withdrawn or expired proposals leave the case where it was.

A proposal belongs to two networks, so it has no `network_id`: the actor's scope hands
out the proposals of the side its network is on (`Scope.transfer(s)`), and nothing of the
sending network but the preview is ever shown to the receiving one. The sending case is
reached through the proposal only, and the national list and the clock, which are no one
network's, say why they work unscoped.
"""

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from referral.audit.chain import AuditRecord
from referral.authz.enforcer import Decision, Permission
from referral.db.fields import categorised_columns
from referral.db.sealing import sealed_columns
from referral.db.tables import (
    Case,
    Consent,
    ConsentScopeRow,
    Network,
    Subject,
    TransferProposal,
)
from referral.domain.actors import Actor, system_actor
from referral.domain.errors import Conflict, InvalidInput, NotFound
from referral.domain.vocabulary import Category, LegalBasis, Purpose, Role
from referral.i18n import N_
from referral.logging import get_logger
from referral.services import linkage, notifications, schedule, search, webhooks
from referral.services.access import authorise, read_record, record
from referral.services.erasure import destroy_key
from referral.services.flow import (
    case_workflow,
    end_with_case,
    enter_state,
    load_case,
    write_case,
)
from referral.services.referrals import REFERRAL_WORKFLOW
from referral.services.uow import Runtime, UnitOfWork
from referral.workflow.operations import Via, via_refusal
from referral.workflow.schema import Transition, Workflow

log = get_logger(__name__)

PROPOSED, ACCEPTED, DECLINED, EXPIRED, WITHDRAWN = (
    "proposed",
    "accepted",
    "declined",
    "expired",
    "withdrawn",
)
CITY = "city"
RECEIVE = Permission.TRANSFER_RECEIVE
LIST = Permission.TRANSFER_LIST
# What moves with a handed-over case, category by category (policies/default.csv).
HANDOVER: dict[Category, Permission] = {
    Category.STATUS: Permission.HANDOVER_STATUS,
    Category.IDENTITY: Permission.HANDOVER_IDENTITY,
    Category.CONTACT: Permission.HANDOVER_CONTACT,
    Category.CONCERN: Permission.HANDOVER_CONCERN,
    Category.NARRATIVE: Permission.HANDOVER_NARRATIVE,
    Category.SPECIAL: Permission.HANDOVER_SPECIAL,
    Category.CRIMINAL: Permission.HANDOVER_CRIMINAL,
    Category.ASSESSMENT: Permission.HANDOVER_ASSESSMENT,
    Category.DELIBERATION: Permission.HANDOVER_DELIBERATION,
    Category.SUPPORT: Permission.HANDOVER_SUPPORT,
    Category.CONSENT: Permission.HANDOVER_CONSENT,
}
REASON_LIMIT = 2000
# Why the queries here run on the plain session: a proposal is two networks', and each
# query names the actor's own network in its clause.
TWO_NETWORKS = "the other network is reached through a proposal the scope found"
# Sealed columns of a case that are not case data moved by category (none today).
_CASE_SEALED = tuple(sealed_columns(Case))


# -- commands and views -------------------------------------------------------------------


@dataclass(frozen=True)
class ProposeTransfer:
    case_id: int
    to_network: str  # the receiving network's slug
    reason: str


@dataclass(frozen=True)
class DecideTransfer:
    proposal_id: int
    reason: str = ""  # required to decline


@dataclass(frozen=True)
class Incoming:
    """An incoming proposal as the receiving network's list shows it: status level."""

    id: int
    from_network: str
    state: str
    proposed_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Preview:
    """What would move with the case, field by field, and what stays behind, and why."""

    proposal_id: int
    from_network: str
    state: str
    continues_at: str
    proposed_at: datetime
    expires_at: datetime
    reason: str
    fields: dict[str, list[tuple[str, Any]]]  # category -> (field, value), in order
    withheld: dict[str, str]  # category -> why it stays behind


@dataclass(frozen=True)
class Accepted:
    proposal_id: int
    case_id: int  # the receiving network's case
    state: str
    moved: tuple[str, ...]  # the categories that moved


@dataclass(frozen=True)
class TransferRow:
    """One transfer as the national coordinator sees it: networks, states and dates."""

    from_network: str
    to_network: str
    status: str
    state: str
    proposed_at: datetime
    decided_at: datetime | None


# -- proposing ----------------------------------------------------------------------------


def propose_transfer(uow: UnitOfWork, actor: Actor, command: ProposeTransfer) -> int:
    """Propose handing the case over to another city network; the case stays meanwhile."""
    loaded = load_case(uow, actor, command.case_id)
    case = loaded.case
    workflow = case_workflow(uow, case)
    transition = _handover_from(workflow, case.state)
    decision = authorise(uow, actor, transition.permission, loaded.facts, case_id=case.id)
    reason = _reason(command.reason)
    here = _network(uow, actor.network_id)
    if here.kind != CITY:
        raise InvalidInput(
            "only a city network hands cases over; this one is {kind}", kind=here.kind
        )
    if not command.to_network.strip():
        raise InvalidInput("choose the receiving network", {"to_network": N_("Choose a network.")})
    there = _network_by_slug(uow, command.to_network)
    if there.id == actor.network_id:
        raise InvalidInput("a case is handed over to another network, not its own",
                           {"to_network": N_("same network")})  # fmt: skip
    if there.kind != CITY:
        raise InvalidInput(
            "network '{slug}' is a {kind} network: only a city network takes over a case",
            {"to_network": N_("not a city network")},
            slug=there.slug,
            kind=there.kind,
        )
    if _open_proposal(uow, actor, case.id) is not None:
        raise Conflict("case {case} already has an open transfer proposal", case=case.id)
    handover = workflow.spec.handover
    assert handover is not None  # the schema refuses a handover transition without it
    proposal = TransferProposal(
        case_id=case.id,
        from_network_id=actor.network_id,
        to_network_id=there.id,
        from_state=case.state,
        reason=reason,
        proposed_by=actor.user_id,
        proposed_at=uow.now,
        expires_at=schedule.deadline(uow, actor.network_id, handover.expires_after),
        status=PROPOSED,
        decline_reason="",
    )
    uow.scoped(actor).add(proposal)
    uow.flush()
    uow.audit(
        record(
            actor,
            "transfer:propose",
            decision,
            case_id=case.id,
            target=f"transfer:{proposal.id}",
            categories=("status",),
            change={"to_network_id": there.id, "reason": reason},
            workflow_hash=case.workflow_hash,
        )
    )
    receiving = system_actor(there.id, there.slug)
    notifications.notify_people(
        uow,
        receiving,
        network_id=there.id,
        case_id=None,
        event="transfer:propose",
        user_ids=notifications.coordinators_of(uow, there.id),
        message=f"A network proposes to hand a case over to yours (transfer #{proposal.id})",
        link=f"/transfers/{proposal.id}",
    )
    webhooks.transfer_proposed(uow, actor.network_id, actor.network, case.id, proposal)
    uow.commit()
    log.info("transfer_proposed", case_id=case.id, proposal_id=proposal.id)
    return proposal.id


def withdraw_transfer(uow: UnitOfWork, actor: Actor, command: DecideTransfer) -> None:
    """The sending coordinator takes an open proposal back; the case stays where it was."""
    proposal = _outgoing(uow, actor, command.proposal_id)
    loaded = load_case(uow, actor, proposal.case_id)
    decision = authorise(uow, actor, "case:transfer", loaded.facts, case_id=proposal.case_id)
    _settle(uow, proposal, WITHDRAWN, actor.user_id)
    uow.audit(
        record(
            actor,
            "transfer:withdraw",
            decision,
            case_id=proposal.case_id,
            target=f"transfer:{proposal.id}",
            categories=("status",),
        )
    )
    uow.commit()


def receiving_networks(uow: UnitOfWork, actor: Actor) -> list[tuple[str, str]]:
    """The networks a case may be handed over to, as (slug, name): every other city."""
    rows = uow.unscoped("the names of the other city networks, offered as destinations").execute(
        select(Network.slug, Network.name)
        .where(Network.kind == CITY, Network.id != actor.network_id)
        .order_by(Network.name)
    )
    return [(slug, name) for slug, name in rows]


# -- the receiving network ----------------------------------------------------------------


def incoming_transfers(uow: UnitOfWork, actor: Actor) -> list[Incoming]:
    """Open proposals to the actor's network, oldest first: networks, states and dates."""
    authorise(uow, actor, RECEIVE, None)
    scope = uow.scoped(actor)
    rows = scope.execute(
        scope.transfers("receiving", TransferProposal, Network.name)
        .join(Network, Network.id == TransferProposal.from_network_id)
        .where(TransferProposal.status == PROPOSED, TransferProposal.expires_at > uow.now)
        .order_by(TransferProposal.id)
    ).all()
    labels = uow.workflow(REFERRAL_WORKFLOW)
    return [
        Incoming(p.id, name, labels.state_label(p.from_state), p.proposed_at, p.expires_at)
        for p, name in rows
    ]


def preview_transfer(uow: UnitOfWork, actor: Actor, proposal_id: int) -> Preview:
    """What would move to the actor's network with this case: a disclosure, ledgered."""
    proposal = _incoming(uow, actor, proposal_id)
    authorise(uow, actor, RECEIVE, None, target=f"transfer:{proposal.id}")
    case = _sending_case(uow, proposal)
    workflow = case_workflow(uow, case)
    decisions = _handover_decisions(uow, actor, case)
    fields: dict[str, list[tuple[str, Any]]] = {}
    for category, decision in decisions.items():
        if decision.allowed:
            fields[category] = _values_of(case, category)
    withheld = {str(c): d.reason for c, d in decisions.items() if not d.allowed}
    # Ledgered in the reader's chain, and told to the sending network's own chain too.
    uow.audit(
        read_record(
            actor, "transfer:preview", decisions, case_id=case.id, target=f"transfer:{proposal.id}"
        )
    )
    uow.audit(
        read_record(
            _as_in(actor, case.network_id, _network(uow, case.network_id).slug),
            "transfer:disclosed",
            decisions,
            case_id=case.id,
            target=f"transfer:{proposal.id}",
        )
    )
    preview = Preview(
        proposal_id=proposal.id,
        from_network=_network(uow, proposal.from_network_id).name,
        state=workflow.state_label(case.state),
        continues_at=workflow.state_label(workflow.continues_at(case.state) or case.state),
        proposed_at=proposal.proposed_at,
        expires_at=proposal.expires_at,
        reason=proposal.reason,
        fields=fields,
        withheld=withheld,
    )
    uow.commit()
    return preview


def accept_transfer(uow: UnitOfWork, actor: Actor, command: DecideTransfer) -> Accepted:
    """Take the case over, in one transaction (see the module's docstring)."""
    proposal = _incoming(uow, actor, command.proposal_id, for_update=True)
    decision = authorise(uow, actor, RECEIVE, None, target=f"transfer:{proposal.id}")
    # Not locked: the case's move below checks its version, so a concurrent move in the
    # sending network makes this a conflict (409), and the proposal row is locked.
    case = _sending_case(uow, proposal)
    workflow = case_workflow(uow, case)
    transition = _handover_from(workflow, case.state)
    continues_at = workflow.continues_at(case.state)
    assert continues_at is not None  # the schema maps every state a handover leaves
    session = uow.unscoped(TWO_NETWORKS)
    others = session.scalar(
        select(func.count())
        .select_from(Case)
        .where(Case.subject_id == case.subject_id, Case.id != case.id)
    )
    if others:
        raise Conflict(
            "the person of case {case} has other cases in the sending network: their data key "
            "cannot move while those cases hold it",
            case=case.id,
        )
    decisions = _handover_decisions(uow, actor, case)
    moved = tuple(str(c) for c, d in decisions.items() if d.allowed)
    received = _receive(uow, actor, case, workflow, continues_at, moved)
    # Repeat-referral tokens follow the person's identity to the receiving network.
    linkage.carry(uow, case.id, received, moved)
    sender = _network(uow, case.network_id)
    in_sender = _as_in(actor, sender.id, sender.slug)
    from_state = _close_as_skeleton(uow, in_sender, case, workflow, transition)
    _settle(uow, proposal, ACCEPTED, actor.user_id)
    proposal.received_case_id = received.id
    uow.flush()
    # The sending network's copy of the person is destroyed: its rows (the case, what
    # hangs off it, the proposal's reason) read as erased there from now on.
    destroy_key(
        uow,
        in_sender,
        case.subject,
        basis="transfer",
        rule=decision.rule_text[:200],
        reason=f"handed over to another network (transfer #{proposal.id})",
    )
    change = {"transfer": proposal.id, "from": from_state, "to": continues_at}
    uow.audit(
        record(
            in_sender,
            "transfer:hand_over",
            decision,
            case_id=case.id,
            target=f"transfer:{proposal.id}",
            categories=("status", *moved),
            change={**change, "received_case_id": received.id},
            workflow_hash=case.workflow_hash,
        )
    )
    uow.audit(
        record(
            actor,
            "transfer:accept",
            decision,
            case_id=received.id,
            target=f"transfer:{proposal.id}",
            categories=("status", *moved),
            change={**change, "from_case_id": case.id},
            workflow_hash=received.workflow_hash,
        )
    )
    _tell_proposer(uow, actor, proposal, "accepted")
    uow.commit()
    log.info("transfer_accepted", proposal_id=proposal.id, case_id=received.id)
    return Accepted(proposal.id, received.id, continues_at, moved)


def decline_transfer(uow: UnitOfWork, actor: Actor, command: DecideTransfer) -> None:
    """Say no, with a reason: the case stays in the sending network where it was."""
    reason = _reason(command.reason)
    proposal = _incoming(uow, actor, command.proposal_id, for_update=True)
    decision = authorise(uow, actor, RECEIVE, None, target=f"transfer:{proposal.id}")
    proposal.decline_reason = reason
    _settle(uow, proposal, DECLINED, actor.user_id)
    sender = _network(uow, proposal.from_network_id)
    for who in (actor, _as_in(actor, sender.id, sender.slug)):
        uow.audit(
            record(
                who,
                "transfer:decline",
                decision,
                case_id=proposal.case_id,
                target=f"transfer:{proposal.id}",
                change={"reason": reason},
            )
        )
    _tell_proposer(uow, actor, proposal, "declined")
    uow.commit()


@dataclass(frozen=True)
class TransfersPage:
    """The transfers page: a network's incoming proposals, or the national list."""

    incoming: list[Incoming] | None = None
    national: list[TransferRow] | None = None


def transfers_page(uow: UnitOfWork, actor: Actor) -> TransfersPage:
    """What the transfers page shows this actor: decided here, not in the template."""
    if actor.holds(Role.NATIONAL_COORDINATOR):
        return TransfersPage(national=national_transfers(uow, actor))
    return TransfersPage(incoming=incoming_transfers(uow, actor))


# -- the clock and the national view ------------------------------------------------------


def expire_transfers(runtime: Runtime, *, request_id: str = "clock") -> int:
    """Expire the proposals nobody answered in time (the worker's tick): the cases stay."""
    with UnitOfWork(runtime, request_id=request_id) as uow:
        session = uow.unscoped("the clock expires proposals of every network")
        due = session.scalars(
            select(TransferProposal)
            .where(TransferProposal.status == PROPOSED, TransferProposal.expires_at <= uow.now)
            .order_by(TransferProposal.id)
            .with_for_update(skip_locked=True)
        ).all()
        for proposal in due:
            sender = _network(uow, proposal.from_network_id)
            system = system_actor(sender.id, sender.slug)
            _settle(uow, proposal, EXPIRED, None)
            uow.audit(
                AuditRecord(
                    action="transfer:expire",
                    allowed=True,
                    actor=system,
                    case_id=proposal.case_id,
                    target=f"transfer:{proposal.id}",
                    categories=("status",),
                    rule="the proposal was not answered before it expired",
                    purpose=Purpose.SCREENING,
                    legal_basis=LegalBasis.PUBLIC_TASK,
                )
            )
            _tell_proposer(uow, system, proposal, "expired")
        uow.commit()
    if due:
        log.info("transfers_expired", count=len(due))
    return len(due)


def national_transfers(uow: UnitOfWork, actor: Actor, limit: int = 200) -> list[TransferRow]:
    """Every transfer across networks, newest first, at status level only."""
    authorise(uow, actor, LIST, None)
    if _network(uow, actor.network_id).kind != "national":
        raise NotFound("the transfers across networks are seen from the national network only")
    sending, receiving = aliased(Network), aliased(Network)
    rows = (
        uow.unscoped("the national view lists transfers of every network")
        .execute(
            select(
                sending.name,
                receiving.name,
                TransferProposal.status,
                TransferProposal.from_state,
                TransferProposal.proposed_at,
                TransferProposal.decided_at,
            )
            .join(sending, sending.id == TransferProposal.from_network_id)
            .join(receiving, receiving.id == TransferProposal.to_network_id)
            .order_by(TransferProposal.id.desc())
            .limit(limit)
        )
        .all()
    )
    labels = uow.workflow(REFERRAL_WORKFLOW)
    return [
        TransferRow(a, b, status, labels.state_label(state), at, decided)
        for a, b, status, state, at, decided in rows
    ]


# -- the pieces ---------------------------------------------------------------------------


def _handover_from(workflow: Workflow, state: str) -> Transition:
    transition = workflow.one_via(Via.HANDOVER, state)
    if transition is None:
        raise via_refusal(workflow, Via.HANDOVER, state)
    return transition


def _reason(text: str) -> str:
    reason = text.strip()
    if not reason:
        raise InvalidInput("say why, in a few words", {"reason": "required"})
    if len(reason) > REASON_LIMIT:
        raise InvalidInput(
            "keep the reason under {limit} characters",
            {"reason": N_("too long")},
            limit=REASON_LIMIT,
        )
    return reason


def _network(uow: UnitOfWork, network_id: int) -> Network:
    found = uow.unscoped(TWO_NETWORKS).get(Network, network_id)
    if found is None:
        raise NotFound("network {network} not found", network=network_id)
    return found


def _network_by_slug(uow: UnitOfWork, slug: str) -> Network:
    found = (
        uow.unscoped(TWO_NETWORKS)
        .scalars(select(Network).where(Network.slug == slug.strip()))
        .first()
    )
    if found is None:
        raise NotFound("network '{network}' not found", network=slug.strip())
    return found


def _open_proposal(uow: UnitOfWork, actor: Actor, case_id: int) -> TransferProposal | None:
    scope = uow.scoped(actor)
    statement = scope.transfers("sending", TransferProposal).where(
        TransferProposal.case_id == case_id, TransferProposal.status == PROPOSED
    )
    found: TransferProposal | None = scope.scalars(statement).first()
    return found


def _incoming(
    uow: UnitOfWork, actor: Actor, proposal_id: int, *, for_update: bool = False
) -> TransferProposal:
    """An open proposal to the actor's network; any other is "not found"."""
    proposal = uow.scoped(actor).transfer(proposal_id, "receiving", for_update=for_update)
    if proposal is None:
        raise NotFound("transfer {proposal} not found", proposal=proposal_id)
    _require_open(uow, proposal)
    return proposal


def _outgoing(uow: UnitOfWork, actor: Actor, proposal_id: int) -> TransferProposal:
    proposal = uow.scoped(actor).transfer(proposal_id, "sending", for_update=True)
    if proposal is None:
        raise NotFound("transfer {proposal} not found", proposal=proposal_id)
    _require_open(uow, proposal)
    return proposal


def _require_open(uow: UnitOfWork, proposal: TransferProposal) -> None:
    if proposal.status != PROPOSED:
        raise Conflict(
            "transfer {proposal} was already {status}", proposal=proposal.id, status=proposal.status
        )
    if proposal.expires_at <= uow.now:
        raise Conflict(
            "transfer {proposal} expired on {expires_at:%Y-%m-%d}",
            proposal=proposal.id,
            expires_at=proposal.expires_at,
        )


def _sending_case(uow: UnitOfWork, proposal: TransferProposal, *, for_update: bool = False) -> Case:
    """The proposal's case, in the sending network: reached through the proposal only."""
    case = uow.unscoped(TWO_NETWORKS).get(
        Case, proposal.case_id, with_for_update=for_update or None
    )
    if case is None or case.network_id != proposal.from_network_id:
        raise NotFound("transfer {proposal} not found", proposal=proposal.id)
    return case


def _as_in(actor: Actor, network_id: int, network: str) -> Actor:
    """The actor as entered in another network's audit chain (the chain is the network's:
    a handover is recorded in both)."""
    return dataclasses.replace(actor, network_id=network_id, network=network)


def _handover_decisions(uow: UnitOfWork, actor: Actor, case: Case) -> dict[Category, Decision]:
    """Each category's `handover:<category>` decision for the receiving coordinator, on the
    case as it is now (its state, its current consent), judged as if it were theirs."""
    facts = dataclasses.replace(uow.repo.case_facts(case, actor), network_id=actor.network_id)
    return {c: uow.authz.permission(actor, p, facts, uow.now) for c, p in HANDOVER.items()}


def _values_of(case: Case, category: str) -> list[tuple[str, Any]]:
    """The fields of one category, the subject's first, in declaration order."""
    found = []
    for row in (case.subject, case):
        for name, of in categorised_columns(type(row)).items():
            if of == category and (category != Category.STATUS or name in _STATUS_SHOWN):
                found.append((name, getattr(row, name)))
    return found


# The status fields a preview shows: no ids of the sending network's people.
_STATUS_SHOWN = frozenset({"state", "referring_org_kind", "submitted_at", "state_entered_at"})


def _receive(
    uow: UnitOfWork,
    actor: Actor,
    case: Case,
    workflow: Workflow,
    continues_at: str,
    moved: tuple[str, ...],
) -> Case:
    """The receiving network's subject and case, holding the categories that move."""
    subject = case.subject
    person = {
        name: getattr(subject, name)
        for name, category in categorised_columns(Subject).items()
        if category in moved
    }
    content = {
        name: getattr(case, name)
        for name, category in categorised_columns(Case).items()
        if category in moved and name in _CASE_SEALED
    }
    received = Case(
        network_id=actor.network_id,
        # A reference of the receiving network: its numbers are its own.
        reference=search.allocate_reference(uow, actor.network_id, uow.now),
        subject=Subject(network_id=actor.network_id, **person),
        state=continues_at,
        workflow_name=case.workflow_name,
        workflow_version=case.workflow_version,
        workflow_hash=case.workflow_hash,
        # The case came to this network by its coordinator's acceptance: they referred it
        # here, and coordinate it. Nobody of the sending network is named in it.
        referrer_user_id=actor.user_id,
        referring_org_kind=case.referring_org_kind,
        coordinator_user_id=actor.user_id,
        created_at=case.created_at,
        submitted_at=case.submitted_at,
        state_entered_at=uow.now,
        **content,
    )
    uow.scoped(actor).add(received)
    uow.flush()
    # Found by name in the receiving network as far as what moved lets it be.
    search.index_case(
        uow,
        received,
        given_name=str(person.get("given_name", "")),
        family_name=str(person.get("family_name", "")),
        born=person.get("date_of_birth"),
        concern_types=list(content.get("concern_types", [])),
        replace=False,
    )
    enter_state(uow, received, workflow, continues_at)
    if Category.CONSENT in moved:
        _copy_consent(uow, actor, case.id, received.id)
    uow.flush()
    return received


def _copy_consent(uow: UnitOfWork, actor: Actor, from_case: int, to_case: int) -> None:
    """The current consent goes with the case: its scope names kinds of organisation and
    purposes, which mean the same in every network."""
    current = uow.repo.current_consent(from_case)
    if current is None:
        return
    copy = Consent(
        case_id=to_case,
        state=current.state,
        given_by=current.given_by,
        guardian_name=current.guardian_name,
        method=current.method,
        notes=current.notes,
        recorded_by=actor.user_id,
        requested_at=current.requested_at,
        decided_at=current.decided_at,
        withdrawn_at=current.withdrawn_at,
        expires_at=current.expires_at,
        scopes=[
            ConsentScopeRow(category=s.category, org_kind=s.org_kind, purpose=s.purpose)
            for s in current.scopes
        ],
    )
    uow.scoped(actor).add(copy)


def _close_as_skeleton(
    uow: UnitOfWork, actor: Actor, case: Case, workflow: Workflow, transition: Transition
) -> str:
    """The sending case's move by its handover transition: the notices, the partners'
    webhooks, and the end of what hangs open off it. Returns the state it left."""
    from_state = case.state
    with uow.unscoped("reads on the way must not flush the half-moved case").no_autoflush:
        enter_state(uow, case, workflow, transition.dest)
        notifications.notify_transition(uow, actor, case, transition, from_state, transition.dest)
    write_case(uow, case)
    uow.flush()
    webhooks.case_moved(
        uow, case.id, case.network_id, actor.network, transition.trigger, from_state,
        transition.dest, transfer=True,
    )  # fmt: skip
    end_with_case(uow, actor, case)
    return from_state


def _settle(uow: UnitOfWork, proposal: TransferProposal, status: str, by: int | None) -> None:
    proposal.status = status
    proposal.decided_by = by
    proposal.decided_at = uow.now


def _tell_proposer(uow: UnitOfWork, actor: Actor, proposal: TransferProposal, what: str) -> None:
    """The proposing coordinator learns the outcome, in the sending network."""
    notifications.notify_people(
        uow,
        _as_in(actor, proposal.from_network_id, ""),
        network_id=proposal.from_network_id,
        case_id=proposal.case_id,
        event=f"transfer:{what}",
        user_ids=frozenset({proposal.proposed_by}),
        message=f"Case #{proposal.case_id}: the transfer was {what}",
        link=f"/cases/{proposal.case_id}",
    )
