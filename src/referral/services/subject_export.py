"""Subject access: everything held about one person, and every access to it, as one bundle.

A bundle answers a subject access request. It holds the person's own fields by data
category; each of their cases with its status skeleton, every categorised field and its
linked records (information requests, consents, panel agendas, contributions, decisions,
interventions, progress notes, reviews); break-glass grants on those cases; the
destruction register's rows about them; and every audit entry about their cases or about
them, refusals included: who (name, username), which organisation and role, when, what,
which categories, the rule, purpose and legal basis, and what each read showed and
refused, category by category, in words.

Personal fields are opened by the ORM with the subject's data key, so an erased subject
reads "erased" (dates as nothing, lists as empty) while the skeleton and the accesses
remain. Panel minutes are left out: they cover every case on an agenda, not one person.
The bundle is plain data (`bundle_json` writes it); the readable page is rendered from
the same data by `referral.web.subject_bundle`. The export itself is audited, with ids
only: action `subject:export`, target `subject:<id>`.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import and_, inspect, select, union
from sqlalchemy.orm import Session

from referral.audit import ledger
from referral.audit.chain import AuditRecord, categories_of
from referral.authz.enforcer import Permission
from referral.db.base import Base
from referral.db.fields import categorised_columns
from referral.db.sealing import WITH_SEALED
from referral.db.tables import (
    AgendaItem,
    AuditEntry,
    BreakGlassGrant,
    Case,
    Consent,
    Contribution,
    DataKey,
    Decision,
    Destruction,
    InformationRequest,
    Intervention,
    Network,
    Organisation,
    PanelMeeting,
    ProgressNote,
    Review,
    Subject,
    User,
)
from referral.domain.actors import SYSTEM_USER_ID, Actor, system_actor
from referral.domain.errors import InvalidInput, NotFound
from referral.domain.vocabulary import Category, LegalBasis, Purpose
from referral.services.access import authorise, record
from referral.services.uow import UnitOfWork

FORMAT = "referral-subject-access/1"
EXPORT = Permission.SUBJECT_EXPORT.value
OPERATOR_RULE = "subject access export by the operator (command line)"
SYSTEM_NAME = "system (timers, retention or the operator)"
# Every category: the export reads all of them.
ALL_CATEGORIES = tuple(sorted(Category))
# Linked records of a case, by the name they carry in the bundle.
CASE_RECORDS: dict[str, Any] = {
    "information_requests": InformationRequest,
    "consents": Consent,
    "contributions": Contribution,
    "decisions": Decision,
    "interventions": Intervention,
    "reviews": Review,
}

Row = dict[str, Any]


@dataclass(frozen=True)
class Access:
    """One audit entry about the subject: who, which organisation, when, what, why."""

    seq: int
    at: str  # ISO 8601, UTC
    user_id: int | None
    user_name: str
    username: str
    organisation_id: int | None
    organisation_name: str
    organisation_kind: str
    role: str
    action: str
    case_id: int | None
    target: str
    categories: list[str]
    allowed: bool
    rule: str  # as stored: a policy line, or a read's decisions per category (JSON)
    purpose: str
    legal_basis: str
    # What a read showed and refused, per category, in words (audit.ledger).
    disclosed: list[str]


@dataclass(frozen=True)
class CaseRecord:
    id: int
    state: str
    fields: dict[str, Row]  # category -> field -> value
    records: dict[str, list[Row]]  # "consents" -> rows, ...


@dataclass(frozen=True)
class SubjectBundle:
    """Everything held about one subject, as JSON-ready values (dates as ISO text)."""

    format: str
    generated_at: str
    generated_by: Row
    network: Row
    subject_id: int
    erased: bool
    erased_at: str | None
    subject: dict[str, Row]  # category -> field -> value
    subject_created_at: str
    cases: list[CaseRecord]
    break_glass_grants: list[Row]
    destructions: list[Row]
    accesses: list[Access]


# -- plain values ------------------------------------------------------------------------


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _plain(value: Any) -> Any:
    """A column's value as JSON holds it: times and dates as ISO text, lists as lists."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _columns(obj: Base) -> Row:
    """Every column of a row, opened (sealed fields read through the ORM)."""
    return {attr.key: _plain(getattr(obj, attr.key)) for attr in inspect(type(obj)).column_attrs}


def _by_category(obj: Base) -> dict[str, Row]:
    grouped: dict[str, Row] = {}
    for name, category in categorised_columns(type(obj)).items():
        grouped.setdefault(str(category), {})[name] = _plain(getattr(obj, name))
    order = {str(c): i for i, c in enumerate(Category)}
    return dict(sorted(grouped.items(), key=lambda item: order[item[0]]))


# -- finding the subject -----------------------------------------------------------------


def _subject(uow: UnitOfWork, actor: Actor | None, subject_id: int) -> Subject:
    """The subject, if it exists in the actor's network (any network for the operator)."""
    subject = (
        uow.scoped(actor).get(Subject, subject_id)
        if actor is not None
        else uow.unscoped("the operator's `referral subjects export` reaches every network").get(
            Subject, subject_id
        )
    )
    if subject is None:
        raise NotFound("subject {subject} not found", subject=subject_id)
    return subject


def _cases(session: Session, subject_id: int) -> list[Case]:
    return list(
        session.scalars(
            select(Case).where(Case.subject_id == subject_id).order_by(Case.id).options(WITH_SEALED)
        )
    )


@dataclass(frozen=True)
class CaseLine:
    id: int
    state: str


@dataclass(frozen=True)
class SubjectOverview:
    """What the dpo's page shows before the download: ids and states, nothing personal."""

    subject_id: int
    cases: list[CaseLine]
    erased: bool


def locate_subject(uow: UnitOfWork, actor: Actor, params: Mapping[str, str]) -> int | None:
    """The subject a form names, by subject number or by one of their case numbers.

    None when the form names none yet; unknown numbers are form errors, so the officer
    can correct a typing slip (they say no more than "not in this network").
    """
    authorise(uow, actor, EXPORT, None)
    subject_text = params.get("subject", "").strip()
    case_text = params.get("case", "").strip()
    if not subject_text and not case_text:
        return None
    name, text = ("subject", subject_text) if subject_text else ("case", case_text)
    if not text.isdigit() or len(text) > 18:
        raise InvalidInput(
            "the {name} number is not valid",
            {name: f"A {name} number is a whole number."},
            name=name,
        )
    number = int(text)
    scope = uow.scoped(actor)
    if name == "subject":
        found = scope.scalar(scope.select(Subject.id).where(Subject.id == number))
    else:
        found = scope.scalar(scope.select(Case.subject_id).where(Case.id == number))
    if found is None:
        raise InvalidInput(
            "no {name} {number} in this network",
            {name: f"There is no {name} {number} in your network."},
            name=name,
            number=number,
        )
    return int(found)


def subject_overview(uow: UnitOfWork, actor: Actor, subject_id: int) -> SubjectOverview:
    """The subject's case numbers and states (status only), for the download page; audited."""
    decision = authorise(uow, actor, EXPORT, None, target=f"subject:{subject_id}")
    subject = _subject(uow, actor, subject_id)
    scope = uow.scoped(actor)
    rows = scope.execute(
        scope.select(Case.id, Case.state).where(Case.subject_id == subject.id).order_by(Case.id)
    )
    overview = SubjectOverview(
        subject.id,
        [CaseLine(*row) for row in rows],
        _erased_at(uow.unscoped("a data key has no network"), subject)[0],
    )
    uow.audit(
        record(
            actor,
            "subject:overview",
            decision,
            target=f"subject:{subject.id}",
            categories=(Category.STATUS,),
        )
    )
    uow.commit()
    return overview


# -- the bundle ---------------------------------------------------------------------------


def _erased_at(session: Session, subject: Subject) -> tuple[bool, str | None]:
    if subject.data_key_id is None:
        return False, None
    key = session.get(DataKey, subject.data_key_id)
    if key is None or key.wrapped is not None:
        return False, None
    return True, iso(key.destroyed_at) if key.destroyed_at else None


def _records(session: Session, case_ids: list[int]) -> dict[int, dict[str, list[Row]]]:
    """Every linked record of the cases, one query per kind of record (not per case)."""
    found: dict[int, dict[str, list[Row]]] = {i: {} for i in case_ids}
    for name, model in CASE_RECORDS.items():
        rows = session.scalars(
            select(model).where(model.case_id.in_(case_ids)).order_by(model.id).options(WITH_SEALED)
        )
        for obj in rows:
            row = _columns(obj)
            if isinstance(obj, Consent):
                row["scopes"] = [
                    {"category": s.category, "org_kind": s.org_kind, "purpose": s.purpose}
                    for s in sorted(obj.scopes, key=lambda s: s.id)
                ]
            found[row["case_id"]].setdefault(name, []).append(row)
    notes = session.execute(
        select(ProgressNote, Intervention.case_id)
        .join(Intervention, Intervention.id == ProgressNote.intervention_id)
        .where(Intervention.case_id.in_(case_ids))
        .order_by(ProgressNote.id)
        .options(WITH_SEALED)
    )
    for note, case_id in notes:
        found[case_id].setdefault("progress_notes", []).append(_columns(note))
    agendas = session.execute(
        select(AgendaItem, PanelMeeting.scheduled_for, PanelMeeting.state)
        .join(PanelMeeting, PanelMeeting.id == AgendaItem.meeting_id)
        .where(AgendaItem.case_id.in_(case_ids))
        .order_by(PanelMeeting.scheduled_for, AgendaItem.id)
    )
    for item, scheduled_for, state in agendas:
        found[item.case_id].setdefault("panel_agendas", []).append(
            {
                "meeting_id": item.meeting_id,
                "scheduled_for": iso(scheduled_for),
                "meeting_state": state,
                "position": item.position,
            }
        )
    return found


def _case_record(case: Case, records: dict[str, list[Row]]) -> CaseRecord:
    return CaseRecord(id=case.id, state=case.state, fields=_by_category(case), records=records)


def _accesses(session: Session, subject_id: int, case_ids: list[int]) -> list[Access]:
    """Every audit entry about the cases or naming the subject, oldest first, in one query.

    The entries of the cases come through the case_id index; those naming the subject
    (exports, erasure) through the index of entries that name a target (partial: the
    query says `target <> ''` so that SQLite uses it). The actor's name and organisation
    are joined; plain columns, not ORM objects, as there is nothing to open.
    """
    names_subject = and_(AuditEntry.target != "", AuditEntry.target == f"subject:{subject_id}")
    about = union(
        select(AuditEntry.id).where(AuditEntry.case_id.in_(case_ids)),
        select(AuditEntry.id).where(names_subject),
    ).subquery()
    stmt = (
        select(
            AuditEntry.id,
            AuditEntry.at,
            AuditEntry.actor_user_id,
            User.display_name,
            User.username,
            AuditEntry.actor_org_id,
            Organisation.name,
            Organisation.kind,
            AuditEntry.actor_role,
            AuditEntry.action,
            AuditEntry.case_id,
            AuditEntry.target,
            AuditEntry.categories,
            AuditEntry.allowed,
            AuditEntry.rule,
            AuditEntry.purpose,
            AuditEntry.legal_basis,
        )
        .join(about, about.c.id == AuditEntry.id)
        .outerjoin(User, User.id == AuditEntry.actor_user_id)
        .outerjoin(Organisation, Organisation.id == AuditEntry.actor_org_id)
        .order_by(AuditEntry.id)
    )
    return [_access(row) for row in session.execute(stmt)]


def _access(row: Any) -> Access:
    (seq, at, user_id, user_name, username, org_id, org_name, org_kind, role, action) = row[:10]
    case_id, target, categories, allowed, rule, purpose, basis = row[10:]
    names = categories_of(categories)
    return Access(
        seq=seq,
        at=iso(at),
        user_id=user_id,
        user_name=SYSTEM_NAME if user_id == SYSTEM_USER_ID else user_name or "",
        username=username or "",
        organisation_id=org_id,
        organisation_name=org_name or "",
        organisation_kind=org_kind or "",
        role=role,
        action=action,
        case_id=case_id,
        target=target,
        categories=list(names),
        allowed=bool(allowed),
        rule=rule,
        purpose=purpose,
        legal_basis=basis,
        disclosed=list(ledger.sentences(action, names, bool(allowed), rule, purpose, basis)),
    )


def _generated_by(session: Session, actor: Actor | None) -> Row:
    if actor is None:
        return {"user_id": None, "name": "the operator (command line)", "username": "", "role": ""}
    user = session.get(User, actor.user_id)
    return {
        "user_id": actor.user_id,
        "name": user.display_name if user else "",
        "username": user.username if user else "",
        "organisation": user.organisation.name if user else "",
        "role": actor.role_label,
    }


def build_bundle(uow: UnitOfWork, actor: Actor | None, subject: Subject) -> SubjectBundle:
    """The bundle itself, with no decision and no audit entry (export_subject adds both).

    Everything in it hangs off the subject, which `_subject` found in the actor's network
    (or the operator's command found in any): the plain session serves both.
    """
    session = uow.unscoped("the bundle hangs off a subject found in the scope or by the operator")
    cases = _cases(session, subject.id)
    case_ids = [c.id for c in cases]
    records = _records(session, case_ids)
    grants = session.scalars(
        select(BreakGlassGrant)
        .where(BreakGlassGrant.case_id.in_(case_ids))
        .order_by(BreakGlassGrant.id)
        .options(WITH_SEALED)
    )
    destructions = session.scalars(
        select(Destruction).where(Destruction.subject_id == subject.id).order_by(Destruction.id)
    )
    network = session.get(Network, subject.network_id)
    erased, erased_at = _erased_at(session, subject)
    return SubjectBundle(
        format=FORMAT,
        generated_at=iso(uow.now),
        generated_by=_generated_by(session, actor),
        network={
            "id": subject.network_id,
            "slug": network.slug if network else "",
            "name": network.name if network else "",
        },
        subject_id=subject.id,
        erased=erased,
        erased_at=erased_at,
        subject=_by_category(subject),
        subject_created_at=iso(subject.created_at),
        cases=[_case_record(c, records[c.id]) for c in cases],
        break_glass_grants=[_columns(g) for g in grants],
        destructions=[_columns(d) for d in destructions],
        accesses=_accesses(session, subject.id, case_ids),
    )


def export_subject(
    uow: UnitOfWork, actor: Actor | None, subject_id: int, *, fmt: str = "json+html"
) -> SubjectBundle:
    """Everything held about the subject and every access to it; the export is audited.

    `actor` is None when the operator runs `referral subjects export`: there is no one
    signed in to decide about, so the entry is recorded as the subject's network's
    `system` actor (user 0, role `system`) with a rule naming the command line, which
    keeps it in that network's audit log for its officer to see.
    """
    target = f"subject:{subject_id}"
    if actor is None:
        subject = _subject(uow, None, subject_id)
        bundle = build_bundle(uow, None, subject)
        audit = AuditRecord(
            action="subject:export",
            allowed=True,
            actor=system_actor(subject.network_id, bundle.network["slug"]),
            target=target,
            categories=ALL_CATEGORIES,
            rule=OPERATOR_RULE,
            purpose=Purpose.AUDIT,
            legal_basis=LegalBasis.LEGAL_OBLIGATION,
            change=_digest(bundle, fmt),
        )
    else:
        decision = authorise(uow, actor, EXPORT, None, target=target)
        subject = _subject(uow, actor, subject_id)
        bundle = build_bundle(uow, actor, subject)
        audit = record(
            actor,
            "subject:export",
            decision,
            target=target,
            categories=ALL_CATEGORIES,
            change=_digest(bundle, fmt),
        )
    uow.audit(audit)
    uow.commit()
    return bundle


def _digest(bundle: SubjectBundle, fmt: str) -> Row:
    """Ids and counts only: what the audit entry's change digest is made of."""
    return {
        "subject": bundle.subject_id,
        "format": fmt,
        "cases": [c.id for c in bundle.cases],
        "accesses": len(bundle.accesses),
    }


def bundle_dict(bundle: SubjectBundle) -> Row:
    """The bundle as plain dicts and lists. Like `dataclasses.asdict`, without its deep copy
    of every value (a quarter of an export's time at 1,000 accesses): the rows are shared."""
    return {
        **vars(bundle),
        "cases": [vars(case) for case in bundle.cases],
        "accesses": [vars(access) for access in bundle.accesses],
    }


def bundle_json(bundle: SubjectBundle) -> str:
    return json.dumps(bundle_dict(bundle), ensure_ascii=False, indent=2) + "\n"
