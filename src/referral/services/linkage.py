"""Repeat referrals: possible earlier referrals of a case's subject, found without names.

At submission the subject's name and date of birth become keyed tokens (domain.linkage)
in `linkage_tokens`, and the tokens of earlier cases, in any network but a training one,
that resemble them become alerts. Nothing personal crosses a network: the coordinator of
the new case sees the other case's network, year, state and the similarity, and may ask
that network's coordinator to confirm; they confirm or reject. Both networks' audit chains
record the question and the answer.

Every read or write of the other network's case is here, on the plain session with its
reason said, and audited: the actor's scope is never widened. Erasure deletes a subject's
tokens and the alerts not yet confirmed (`forget`).
"""

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy import delete, func, or_, select, update

from referral.audit.chain import AuditRecord
from referral.authz.enforcer import Decision, Permission
from referral.db.sealing import KEYRING_INFO
from referral.db.tables import Case, DataKey, LinkageAlert, LinkageToken, Network, Subject
from referral.domain import linkage
from referral.domain.actors import Actor
from referral.domain.errors import ConfigurationError, Conflict, NotFound
from referral.domain.facts import CaseFacts
from referral.domain.vocabulary import Category
from referral.keyring import Keyring
from referral.logging import get_logger
from referral.services import notifications
from referral.services.access import authorise, record, visible_case
from referral.services.uow import UnitOfWork

log = get_logger(__name__)

TRAINING = "training"
# How many possible earlier referrals a new case keeps: the most similar.
MOST_ALERTS = 5
POSSIBLE, ASKED, CONFIRMED, REJECTED = "possible", "asked", "confirmed", "rejected"
# A side of a link: this case is the later referral, or the earlier one asked about.
LATER, EARLIER = "later", "earlier"
# Why linkage reads the plain session: matching and answering reach other networks' tokens
# and alerts by design, and only here.
ACROSS = "linkage matches tokens and answers alerts across networks, status level only"


_warned: list[bool] = []


def _warn_once() -> None:
    """Say once per process that linkage is off, not once per referral."""
    if not _warned:
        _warned.append(True)
        log.warning("linkage_off_no_key", setting="REFERRAL_LINKAGE_KEY")


def _secret(uow: UnitOfWork) -> bytes | None:
    keyring: Keyring | None = uow.unscoped("the keyring rides on the session").info.get(
        KEYRING_INFO
    )
    return keyring.linkage[1] if keyring is not None and keyring.linkage else None


def subject_tokens(
    secret: bytes,
    given_name: str,
    family_name: str,
    date_of_birth: date | None,
    identifiers: str = "",
) -> set[str]:
    return linkage.tokens(secret, given_name, family_name, date_of_birth, identifiers)


def _case_tokens(secret: bytes, case: Case) -> set[str]:
    """The linkage tokens of a case's subject, from its (unsealed) identity."""
    subject = case.subject
    return subject_tokens(
        secret, subject.given_name, subject.family_name, subject.date_of_birth, subject.identifiers
    )


def _token_rows(case: Case, tokens: set[str], now: datetime) -> list[LinkageToken]:
    """One row per token, dated by the referral's year (at submission and at a rebuild
    alike, so a rebuild keeps what the alerts show)."""
    year = (case.submitted_at or now).year
    return [
        LinkageToken(
            network_id=case.network_id, case_id=case.id, token=t, year=year, created_at=now
        )
        for t in sorted(tokens)
    ]


def record_submission(uow: UnitOfWork, actor: Actor, case: Case) -> int:
    """Store the tokens of a case just submitted and raise alerts for the earlier cases they
    resemble; in the caller's transaction. Returns how many alerts were raised.

    A training network's cases are never tokenised; with no linkage key configured,
    nothing is (logged once per process)."""
    network = uow.unscoped(ACROSS).get(Network, case.network_id)
    if network is None or network.kind == TRAINING:
        return 0
    secret = _secret(uow)
    if secret is None:
        _warn_once()
        return 0
    tokens = _case_tokens(secret, case)
    scope = uow.scoped(actor)
    scope.add_all(_token_rows(case, tokens, uow.now))
    found = match(uow, tokens, exclude_case=case.id)
    for earlier_case, (earlier_network, score) in found.items():
        scope.add(
            LinkageAlert(
                network_id=case.network_id,
                case_id=case.id,
                side=LATER,
                other_network_id=earlier_network,
                other_case_id=earlier_case,
                similarity=round(score, 3),
                status=POSSIBLE,
                created_at=uow.now,
            )
        )
    if found:
        uow.audit(
            AuditRecord(
                action="linkage:found",
                allowed=True,
                actor=actor,
                case_id=case.id,
                categories=(Category.STATUS,),
                rule="repeat-referral linkage at submission",
                change={"earlier_cases": sorted(found)},
            )
        )
    return len(found)


def match(
    uow: UnitOfWork, tokens: set[str], *, exclude_case: int | None = None
) -> dict[int, tuple[int, float]]:
    """Earlier cases whose tokens resemble `tokens`: case id -> (network id, similarity),
    the most similar MOST_ALERTS at or above the threshold, across networks but never a
    training network's.

    Two indexed lookups, never a scan. The weak kinds (names alone, names and year) cannot
    reach the threshold by themselves and a common name holds many of them, so the first
    lookup finds candidates by the other kinds, and the second adds the weak kinds' points
    for those candidates only."""
    strong = sorted(t for t in tokens if t[0] not in linkage.WEAK)
    weak = sorted(t for t in tokens if t[0] in linkage.WEAK)
    if not strong:
        return {}
    session = uow.unscoped(ACROSS)
    statement = (
        select(LinkageToken.case_id, LinkageToken.network_id, LinkageToken.token)
        .join(Network, Network.id == LinkageToken.network_id)
        .where(LinkageToken.token.in_(strong), Network.kind != TRAINING)
    )
    if exclude_case is not None:
        statement = statement.where(LinkageToken.case_id != exclude_case)
    shared: dict[int, list[str]] = defaultdict(list)
    networks: dict[int, int] = {}
    for case_id, network_id, token in session.execute(statement):
        shared[case_id].append(token)
        networks[case_id] = network_id
    if weak and shared:
        more = select(LinkageToken.case_id, LinkageToken.token).where(
            LinkageToken.token.in_(weak), LinkageToken.case_id.in_(sorted(shared))
        )
        for case_id, token in session.execute(more):
            shared[case_id].append(token)
    scored = {case_id: linkage.similarity(found) for case_id, found in shared.items()}
    best = sorted(
        (c for c, s in scored.items() if s >= linkage.THRESHOLD), key=lambda c: -scored[c]
    )
    return {c: (networks[c], scored[c]) for c in best[:MOST_ALERTS]}


@dataclass(frozen=True)
class LinkView:
    """One possible link as a coordinator sees it: status level, nothing of the person."""

    alert_id: int
    # "earlier": the other case is a possible earlier referral of this case's subject;
    # "later": another case, referred later, asks whether this one is its earlier referral.
    direction: str
    network: str
    year: int
    state: str
    similarity: float
    status: str

    @property
    def may_ask(self) -> bool:
        return self.direction == EARLIER and self.status == POSSIBLE

    @property
    def may_answer(self) -> bool:
        return self.direction == LATER and self.status == ASKED


def links_of_case(uow: UnitOfWork, actor: Actor, case_id: int) -> list[LinkView]:
    """A case's possible earlier referrals, and the questions other cases asked about it,
    each with the other case's network, year and state; audited, the links named."""
    case, facts = visible_case(uow, actor, case_id)
    decision = authorise(uow, actor, Permission.LINKAGE_READ.value, facts, case_id=case.id)
    views = _links(uow, actor, case.id, decision)
    uow.commit()
    return views


def links_on_page(uow: UnitOfWork, actor: Actor, case: Case, facts: CaseFacts) -> list[LinkView]:
    """What the case page shows of linkage: the case's links if the policy lets the actor
    read them (nothing, and no refusal, otherwise); audited in the page's commit."""
    decision = uow.authz.decide(actor, "linkage", "read", facts, uow.now)
    return _links(uow, actor, case.id, decision) if decision.allowed else []


def _links(uow: UnitOfWork, actor: Actor, case_id: int, decision: Decision) -> list[LinkView]:
    scope = uow.scoped(actor)
    alerts = scope.scalars(
        scope.select(LinkageAlert)
        .where(LinkageAlert.case_id == case_id)
        .order_by(LinkageAlert.similarity.desc(), LinkageAlert.id)
    ).all()
    views: list[LinkView] = []
    for alert in alerts:
        state, created = _status_of(uow, alert.other_case_id)
        views.append(
            LinkView(
                alert_id=alert.id,
                # My side is "later": the other case is the earlier referral.
                direction=EARLIER if alert.side == LATER else LATER,
                network=_network_name(uow, alert.other_network_id),
                year=created.year,
                state=state,
                similarity=alert.similarity,
                status=alert.status,
            )
        )
    # Another case's state and year were read, across networks: audited, the links named.
    # A case without links read nothing beyond itself (its own read is audited already).
    if views:
        uow.audit(
            record(
                actor,
                "linkage:read",
                decision,
                case_id=case_id,
                categories=(Category.STATUS,),
                change={"alerts": [v.alert_id for v in views]},
            )
        )
    return views


def _status_of(uow: UnitOfWork, case_id: int) -> tuple[str, datetime]:
    """The other case's state and creation date: status data, read across networks here."""
    row = (
        uow.unscoped(ACROSS)
        .execute(select(Case.state, Case.created_at).where(Case.id == case_id))
        .one()
    )
    return str(row.state), row.created_at


def _network_name(uow: UnitOfWork, network_id: int) -> str:
    network = uow.unscoped(ACROSS).get(Network, network_id)
    return network.name if network is not None else "another network"


@dataclass(frozen=True)
class AskToConfirm:
    alert_id: int


@dataclass(frozen=True)
class AnswerLink:
    alert_id: int
    confirm: bool


def ask_to_confirm(uow: UnitOfWork, actor: Actor, command: AskToConfirm) -> None:
    """The new case's coordinator asks the earlier case's network to confirm the link: the
    earlier side's row is written in that network, and both audit chains record it."""
    alert = uow.scoped(actor).get(LinkageAlert, command.alert_id)
    if alert is None or alert.side != LATER:
        raise NotFound("possible earlier referral {alert} not found", alert=command.alert_id)
    _, facts = visible_case(uow, actor, alert.case_id)
    decision = authorise(uow, actor, Permission.LINKAGE_ASK.value, facts, case_id=alert.case_id)
    if alert.status != POSSIBLE:
        raise Conflict("this possible earlier referral was already {status}", status=alert.status)
    alert.status, alert.asked_by, alert.asked_at = ASKED, actor.user_id, uow.now
    twin = LinkageAlert(
        network_id=alert.other_network_id,
        case_id=alert.other_case_id,
        side=EARLIER,
        other_network_id=alert.network_id,
        other_case_id=alert.case_id,
        similarity=alert.similarity,
        status=ASKED,
        created_at=uow.now,
        asked_by=actor.user_id,
        asked_at=uow.now,
    )
    # The other network's side, written across networks on purpose (see ACROSS).
    uow.unscoped(ACROSS).add(twin)
    uow.flush()
    _audit_both(uow, actor, decision, alert, twin, "linkage:ask")
    _notify_other_side(uow, actor, twin, "linkage:ask")
    uow.commit()


def answer_link(uow: UnitOfWork, actor: Actor, command: AnswerLink) -> str:
    """The earlier case's coordinator confirms or rejects the link another case asked about;
    the answer lands on both sides and in both networks' audit chains. Returns the status."""
    alert = uow.scoped(actor).get(LinkageAlert, command.alert_id)
    if alert is None or alert.side != EARLIER:
        raise NotFound("question about a possible link {alert} not found", alert=command.alert_id)
    _, facts = visible_case(uow, actor, alert.case_id)
    decision = authorise(uow, actor, Permission.LINKAGE_ANSWER.value, facts, case_id=alert.case_id)
    if alert.status != ASKED:
        raise Conflict("this link was already {status}", status=alert.status)
    twin = _twin(uow, alert)
    status = CONFIRMED if command.confirm else REJECTED
    for side in (alert, twin):
        side.status, side.answered_by, side.answered_at = status, actor.user_id, uow.now
    _audit_both(uow, actor, decision, alert, twin, f"linkage:{status[:-2]}")
    _notify_other_side(uow, actor, twin, f"linkage:{status[:-2]}")
    uow.commit()
    return status


def _notify_other_side(uow: UnitOfWork, actor: Actor, twin: LinkageAlert, event: str) -> None:
    """The other network's coordinator is told, on their own case (read across: ACROSS)."""
    case = uow.unscoped(ACROSS).get(Case, twin.case_id)
    assert case is not None
    notifications.notify_link(uow, actor, case, event)


def _twin(uow: UnitOfWork, alert: LinkageAlert) -> LinkageAlert:
    """The other side of a link, in the other network (read across networks: ACROSS)."""
    return (
        uow.unscoped(ACROSS)
        .scalars(
            select(LinkageAlert).where(
                LinkageAlert.case_id == alert.other_case_id,
                LinkageAlert.other_case_id == alert.case_id,
            )
        )
        .one()
    )


def _audit_both(
    uow: UnitOfWork,
    actor: Actor,
    decision: Decision,
    mine: LinkageAlert,
    twin: LinkageAlert,
    action: str,
) -> None:
    """The entry in the actor's network, on their case, and its twin in the other
    network's chain, on that network's case: the same person and act, filed where that
    network's data-protection officer audits its own cases."""
    change = {"link": [mine.id, twin.id], "status": mine.status}
    entry = record(actor, action, decision, case_id=mine.case_id, categories=(Category.STATUS,))
    uow.audit(replace(entry, change=change))
    other = uow.unscoped(ACROSS).get(Network, twin.network_id)
    assert other is not None
    there = replace(actor, network_id=other.id, network=other.slug)
    uow.audit(replace(entry, actor=there, case_id=twin.case_id, change=change))


@dataclass(frozen=True)
class AlertSummary:
    """A match alert as the national coordinator sees it: states, dates, network names."""

    alert_id: int
    network: str
    year: int
    state: str
    earlier_network: str
    earlier_year: int
    earlier_state: str
    similarity: float
    status: str
    created_at: datetime


def national_alerts(uow: UnitOfWork, actor: Actor, limit: int = 200) -> list[AlertSummary]:
    """Match alerts across networks, newest first, at status level; audited."""
    decision = authorise(uow, actor, Permission.LINKAGE_ALERTS.value, None)
    session = uow.unscoped(ACROSS)
    # Each link once, from its later side (every link has one; the earlier side's row
    # exists only once asked).
    alerts = list(
        session.scalars(
            select(LinkageAlert)
            .where(LinkageAlert.side == LATER)
            .order_by(LinkageAlert.id.desc())
            .limit(limit)
        )
    )
    out = []
    for a in alerts:
        state, created = _status_of(uow, a.case_id)
        earlier_state, earlier_created = _status_of(uow, a.other_case_id)
        out.append(
            AlertSummary(
                a.id,
                _network_name(uow, a.network_id),
                created.year,
                state,
                _network_name(uow, a.other_network_id),
                earlier_created.year,
                earlier_state,
                a.similarity,
                a.status,
                a.created_at,
            )
        )
    uow.audit(record(actor, "linkage:alerts", decision, categories=(Category.STATUS,)))
    uow.commit()
    return out


def forget(uow: UnitOfWork, case_ids: list[int]) -> int:
    """Erasure: delete the cases' tokens, and the links not confirmed that name them; in the
    caller's transaction. Returns how many tokens went. A confirmed link stays: it holds
    two case ids and an answer, the record of a decision, nothing of the person."""
    if not case_ids:
        return 0
    session = uow.unscoped(ACROSS)
    count = session.scalar(
        select(func.count()).select_from(LinkageToken).where(LinkageToken.case_id.in_(case_ids))
    )
    session.execute(delete(LinkageToken).where(LinkageToken.case_id.in_(case_ids)))
    session.execute(
        delete(LinkageAlert).where(
            or_(LinkageAlert.case_id.in_(case_ids), LinkageAlert.other_case_id.in_(case_ids)),
            LinkageAlert.status != CONFIRMED,
        )
    )
    return int(count or 0)


def rebuild(uow: UnitOfWork) -> int:
    """Every token again under the linkage key configured now (`referral linkage rebuild`,
    after changing REFERRAL_LINKAGE_KEY): the submitted cases of live subjects, outside
    training networks. Alerts and confirmed links stay. Returns how many cases it keyed.
    The operator's command, across every network as the system: not a person's act."""
    secret = _secret(uow)
    if secret is None:
        raise ConfigurationError("set REFERRAL_LINKAGE_KEY before rebuilding linkage tokens")
    session = uow.unscoped("the operator rebuilds every network's linkage tokens")
    session.execute(delete(LinkageToken))
    cases = session.scalars(
        select(Case)
        .join(Network, Network.id == Case.network_id)
        .join(Subject, Subject.id == Case.subject_id)
        .join(DataKey, DataKey.id == Subject.data_key_id)
        .where(
            Case.submitted_at.is_not(None),
            Network.kind != TRAINING,
            DataKey.wrapped.is_not(None),
        )
        .order_by(Case.id)
    )
    count = 0
    for case in cases:
        session.add_all(_token_rows(case, _case_tokens(secret, case), uow.now))
        count += 1
    uow.audit(
        AuditRecord(
            action="linkage:rebuild",
            allowed=True,
            actor=None,
            rule="the operator's `referral linkage rebuild`",
            change={"cases": count},
        )
    )
    uow.commit()
    return count


def carry(uow: UnitOfWork, from_case: int, to_case: Case, moved: tuple[str, ...]) -> int:
    """A case handed over to another network (services.transfers) takes its tokens along
    when its identity moves, so later referrals find it where it now is; otherwise they go
    with the sending copy's key (`forget`). In the caller's transaction; how many moved."""
    if Category.IDENTITY not in moved:
        return 0
    session = uow.unscoped(ACROSS)
    result = session.execute(
        update(LinkageToken)
        .where(LinkageToken.case_id == from_case)
        .values(case_id=to_case.id, network_id=to_case.network_id)
    )
    return int(getattr(result, "rowcount", 0) or 0)
