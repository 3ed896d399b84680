"""The data-protection officer's view of the audit log: explore, export, verify the chain.

Only entries of the actor's own network are shown. Entries without a network (failed
sign-ins and sign-outs, which the log cannot tie to one network) are left out, so one
network's officer never sees another network's traffic. Every filter runs in SQL;
pages and exports walk the log by sequence number (keyset), never loading it whole.
Looking at the log is itself recorded, with the filters as a digest only.
"""

import csv
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.orm import Session

from referral.audit import chain, ledger
from referral.audit.sequencer import queued_count
from referral.audit.verify import VerifyResult, verify
from referral.authz.enforcer import Permission
from referral.db.tables import AuditEntry, AuditHead, Organisation, User
from referral.domain.actors import Actor
from referral.domain.errors import InvalidInput
from referral.services.access import authorise, record
from referral.services.scope import in_network
from referral.services.uow import Runtime, UnitOfWork

PAGE_SIZE = 50
EXPORT_BATCH = 1000
T = TypeVar("T")
MAX_LIMIT = 500
DECISIONS = ("allowed", "denied")
MAX_ACTION = 64
READ = Permission.AUDIT_READ.value
VERIFY = Permission.AUDIT_VERIFY.value


@dataclass(frozen=True)
class AuditQuery:
    """Filters (all optional) and a keyset cursor: `before` pages older, `after` newer."""

    user_id: int | None = None
    organisation_id: int | None = None
    case_id: int | None = None
    action: str = ""
    decision: str = ""
    date_from: date | None = None
    date_to: date | None = None
    before: int | None = None
    after: int | None = None
    limit: int = PAGE_SIZE

    def filters(self) -> dict[str, Any]:
        """The filters alone, as plain values: for the audit digest and for links."""
        values = asdict(self)
        for key in ("before", "after", "limit"):
            values.pop(key)
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in values.items()}


@dataclass(frozen=True)
class AuditRow:
    seq: int
    at: datetime
    user_id: int | None
    user_name: str
    organisation_id: int | None
    organisation_name: str
    role: str
    action: str
    case_id: int | None
    target: str
    categories: tuple[str, ...]
    allowed: bool
    rule: str  # as stored: a policy line, or a read's decisions per category (JSON)
    purpose: str
    legal_basis: str
    # What a read showed and refused, per category, in words (audit.ledger).
    disclosed: tuple[str, ...] = ()

    @property
    def rule_shown(self) -> str:
        """The rule as a page shows it: per category by file and line, not as JSON."""
        return ledger.rules_named(self.rule)


@dataclass(frozen=True)
class Option:
    id: int
    name: str


@dataclass(frozen=True)
class FilterOptions:
    """What the filter form offers: the network's users and organisations, by name."""

    users: list[Option]
    organisations: list[Option]


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    options: FilterOptions
    newer_than: int | None  # cursor for the previous (newer) page, if there is one
    older_than: int | None  # cursor for the next (older) page, if there is one


def validate(query: AuditQuery) -> None:
    errors: dict[str, str] = {}
    if query.decision and query.decision not in DECISIONS:
        errors["decision"] = "Choose allowed, denied or any decision."
    if len(query.action) > MAX_ACTION:
        errors["action"] = f"An action has at most {MAX_ACTION} characters."
    if query.date_from and query.date_to and query.date_from > query.date_to:
        errors["date_to"] = "The end date must be on or after the start date."
    if not 1 <= query.limit <= MAX_LIMIT:
        errors["limit"] = f"Ask for between 1 and {MAX_LIMIT} entries."
    if errors:
        raise InvalidInput("the filters have errors", errors)


def _int(params: Mapping[str, str], name: str, errors: dict[str, str], message: str) -> int | None:
    text = params.get(name, "").strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 18:
        errors[name] = message
        return None
    return int(text)


def _date(params: Mapping[str, str], name: str, errors: dict[str, str]) -> date | None:
    text = params.get(name, "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors[name] = "Enter a date like 2026-03-02."
        return None


def query_from_params(params: Mapping[str, str]) -> AuditQuery:
    """The query the explorer's GET parameters describe; every problem at once, if any."""
    errors: dict[str, str] = {}
    query = AuditQuery(
        user_id=_int(params, "user", errors, "Choose a user from the list."),
        organisation_id=_int(params, "organisation", errors, "Choose an organisation."),
        case_id=_int(params, "case", errors, "A case number is a whole number, like 12."),
        action=params.get("action", "").strip(),
        decision=params.get("decision", "").strip(),
        date_from=_date(params, "from", errors),
        date_to=_date(params, "to", errors),
        before=_int(params, "before", errors, "The page link is broken."),
        after=_int(params, "after", errors, "The page link is broken."),
    )
    try:
        validate(query)
    except InvalidInput as exc:
        errors.update({("to" if k == "date_to" else k): v for k, v in exc.errors.items()})
    if errors:
        raise InvalidInput("the filters have errors", errors)
    return query


def midnight_utc(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _where(actor: Actor, query: AuditQuery) -> list[ColumnElement[bool]]:
    where = [in_network(AuditEntry, actor)]
    if query.user_id is not None:
        where.append(AuditEntry.actor_user_id == query.user_id)
    if query.organisation_id is not None:
        where.append(AuditEntry.actor_org_id == query.organisation_id)
    if query.case_id is not None:
        where.append(AuditEntry.case_id == query.case_id)
    if query.action:
        where.append(AuditEntry.action.startswith(query.action, autoescape=True))
    if query.decision:
        where.append(AuditEntry.allowed == (query.decision == "allowed"))
    if query.date_from:
        where.append(AuditEntry.at >= midnight_utc(query.date_from))
    if query.date_to:
        where.append(AuditEntry.at < midnight_utc(query.date_to + timedelta(days=1)))
    return where


def rows_select(where: list[ColumnElement[bool]]) -> Select[AuditEntry, str, str]:
    return (
        select(AuditEntry, User.display_name, Organisation.name)
        .outerjoin(User, User.id == AuditEntry.actor_user_id)
        .outerjoin(Organisation, Organisation.id == AuditEntry.actor_org_id)
        .where(and_(*where))
    )


def audit_row(entry: AuditEntry, user_name: str | None, org_name: str | None) -> AuditRow:
    categories = chain.categories_of(entry.categories)
    return AuditRow(
        seq=entry.id,
        at=entry.at,
        user_id=entry.actor_user_id,
        user_name=user_name or "",
        organisation_id=entry.actor_org_id,
        organisation_name=org_name or "",
        role=entry.actor_role,
        action=entry.action,
        case_id=entry.case_id,
        target=entry.target,
        categories=categories,
        allowed=entry.allowed,
        rule=entry.rule,
        purpose=entry.purpose,
        legal_basis=entry.legal_basis,
        disclosed=ledger.sentences(
            entry.action,
            categories,
            entry.allowed,
            entry.rule,
            entry.purpose,
            entry.legal_basis,
        ),
    )


def _fetch(
    session: Session,
    where: list[ColumnElement[bool]],
    *,
    before: int | None = None,
    after: int | None = None,
    limit: int,
) -> list[AuditRow]:
    """One page, newest first: below `before`, or (walking back) just above `after`."""
    stmt = rows_select(where)
    if after is not None:
        stmt = stmt.where(AuditEntry.id > after).order_by(AuditEntry.id.asc())
    else:
        if before is not None:
            stmt = stmt.where(AuditEntry.id < before)
        stmt = stmt.order_by(AuditEntry.id.desc())
    rows = [audit_row(*r) for r in session.execute(stmt.limit(limit))]
    return rows[::-1] if after is not None else rows


def _any(session: Session, where: list[ColumnElement[bool]]) -> bool:
    return session.scalar(select(AuditEntry.id).where(and_(*where)).limit(1)) is not None


def _options(uow: UnitOfWork, actor: Actor) -> FilterOptions:
    scope = uow.scoped(actor)
    users = scope.execute(
        scope.select(User.id, User.display_name)
        .join(Organisation, Organisation.id == User.organisation_id)
        .where(scope.where(Organisation))
        .order_by(User.display_name, User.id)
    )
    orgs = scope.execute(
        scope.select(Organisation.id, Organisation.name).order_by(
            Organisation.name, Organisation.id
        )
    )
    return FilterOptions([Option(*u) for u in users], [Option(*o) for o in orgs])


def filter_options(uow: UnitOfWork, actor: Actor) -> FilterOptions:
    """The filter form's choices alone (to show the form again beside its errors)."""
    authorise(uow, actor, READ, None)
    return _options(uow, actor)


def explore(uow: UnitOfWork, actor: Actor, query: AuditQuery) -> AuditPage:
    """One page of the network's audit log under the filters, newest first; audited."""
    decision = authorise(uow, actor, READ, None)
    validate(query)
    where = _where(actor, query)
    rows = _fetch(uow.session, where, before=query.before, after=query.after, limit=query.limit)
    newer = older = None
    if rows:
        if _any(uow.session, [*where, AuditEntry.id > rows[0].seq]):
            newer = rows[0].seq
        if _any(uow.session, [*where, AuditEntry.id < rows[-1].seq]):
            older = rows[-1].seq
    page = AuditPage(rows, _options(uow, actor), newer, older)
    uow.audit(record(actor, "audit:read", decision, change={"filters": query.filters()}))
    uow.commit()
    return page


CSV_HEADER = (
    "seq",
    "time_utc",
    "user_id",
    "user",
    "organisation_id",
    "organisation",
    "role",
    "action",
    "case_id",
    "target",
    "categories",
    "decision",
    "rule",
    "purpose",
    "legal_basis",
)


def csv_cell(value: object) -> str:
    """Text as a spreadsheet will not run it: a leading =, +, - or @ would be a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_line(row: AuditRow) -> list[str]:
    values: list[object] = [
        row.seq,
        chain.format_time(row.at),
        row.user_id,
        row.user_name,
        row.organisation_id,
        row.organisation_name,
        row.role,
        row.action,
        row.case_id,
        row.target,
        " ".join(row.categories),
        "allowed" if row.allowed else "denied",
        row.rule,
        row.purpose,
        row.legal_basis,
    ]
    return [csv_cell(v) for v in values]


def export(uow: UnitOfWork, actor: Actor, query: AuditQuery) -> Iterator[str]:
    """The filtered log as CSV text, streamed batch by batch; the export is audited.

    The decision and the audit entry commit now; the rows are read afterwards, while
    the response streams, each batch in a short session of its own. The export stops
    at the entries that existed when it was asked for.
    """
    decision = authorise(uow, actor, READ, None)
    validate(query)
    upto = uow.session.scalar(select(func.max(AuditEntry.id))) or 0
    uow.audit(record(actor, "audit:export", decision, change={"filters": query.filters()}))
    uow.commit()
    return _stream(uow.runtime, _where(actor, query), upto)


def _stream(runtime: Runtime, where: list[ColumnElement[bool]], upto: int) -> Iterator[str]:
    return stream_csv(
        runtime,
        CSV_HEADER,
        upto,
        lambda session, before, limit: _fetch(session, where, before=before, limit=limit),
        _csv_line,
        lambda row: int(row.seq),
        batch=EXPORT_BATCH,
    )


def stream_csv(
    runtime: Runtime,
    header: Sequence[str],
    upto: int,
    fetch: Callable[[Session, int, int], Sequence[T]],
    line: Callable[[T], Sequence[str]],
    seq_of: Callable[[T], int],
    *,
    batch: int,
) -> Iterator[str]:
    """CSV text in batches, newest entry first, of the entries up to `upto`.

    `fetch(session, before, batch)` returns the next rows below sequence `before`, at
    most `batch` of them. Each batch reads in a short session of its own: the request's
    unit of work is closed before a streamed answer is sent.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def take() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(header)
    yield take()
    cursor = upto + 1
    while True:
        with runtime.session_factory() as session:
            rows = fetch(session, cursor, batch)
        writer.writerows(line(row) for row in rows)
        if rows:
            yield take()
        if len(rows) < batch:
            return
        cursor = seq_of(rows[-1])


@dataclass(frozen=True)
class ChainStatus:
    entries: int
    head_hash: str


def chain_status(uow: UnitOfWork, actor: Actor) -> ChainStatus:
    """How many entries the log holds (placed in any chain, or queued) and the hash of the
    last entry of the network's chain."""
    authorise(uow, actor, VERIFY, None)
    placed = uow.session.scalar(select(func.coalesce(func.sum(AuditHead.seq), 0))) or 0
    mine = AuditHead.chain == chain.chain_of(actor.network_id)
    head_hash = uow.session.scalar(select(AuditHead.hash).where(mine))
    return ChainStatus(int(placed) + queued_count(uow.session), head_hash or chain.GENESIS_HASH)


def verify_chain(uow: UnitOfWork, actor: Actor) -> VerifyResult:
    """Sequence what is queued, recompute every chain now; the check and its result are
    audited."""
    decision = authorise(uow, actor, VERIFY, None)
    result = verify(uow.session)
    change = {"entries": result.entries, "ok": result.ok, "first_bad_seq": result.first_bad_seq}
    uow.audit(record(actor, "audit:verify", decision, change=change))
    uow.commit()
    return result
