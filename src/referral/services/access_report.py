"""Access reports for the data-protection officer: who accessed what, when, under which rule.

A report covers one user, one organisation or one case of the actor's own network, over
an optional date range. It summarises the entries per data category and lists them, each
with its flags: break-glass use, a burst of denials by one user, access outside the
working week. Scope, date range and pagination run in SQL; only the flags that need the
local clock (the working week) or a sliding window (bursts) are computed in Python, over
narrow rows. Viewing or exporting a report is itself audited, with ids only in the digest.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from referral.audit import chain
from referral.config import Settings
from referral.db.tables import AuditEntry, Case, Organisation, User
from referral.domain.actors import Actor
from referral.domain.errors import InvalidInput, NotFound
from referral.i18n import N_
from referral.services.access import authorise, record
from referral.services.audit_view import (
    AuditRow,
    audit_row,
    csv_cell,
    midnight_utc,
    rows_select,
    stream_csv,
)
from referral.services.scope import in_network
from referral.services.uow import Runtime, UnitOfWork

PAGE_SIZE = 100
EXPORT_BATCH = 1000
READ = "audit:read"
BREAK_GLASS = "breakglass:"
# A transfer's preview shows the receiving network what would move: a read, entered in
# both networks' chains (services.transfers).
READ_ACTIONS = frozenset(
    {"case:read", "case:timeline", "breakglass:read", "transfer:preview", "transfer:disclosed"}
)
NO_CATEGORY = ""


class Subject(StrEnum):
    USER = "user"
    ORGANISATION = "organisation"
    CASE = "case"


@dataclass(frozen=True)
class ReportRules:
    """What counts as a burst of denials and as the working week (from Settings)."""

    burst_count: int = 5
    burst_minutes: int = 10
    working_days: tuple[int, ...] = (1, 2, 3, 4, 5)
    day_start: time = time(8, 0)
    day_end: time = time(18, 0)
    time_zone: str = "Europe/London"

    @classmethod
    def from_settings(cls, settings: Settings) -> "ReportRules":
        return cls(
            burst_count=settings.report_denial_burst_count,
            burst_minutes=settings.report_denial_burst_minutes,
            working_days=settings.working_days,
            day_start=settings.working_day_start,
            day_end=settings.working_day_end,
            time_zone=settings.working_time_zone,
        )

    def out_of_hours(self, at: datetime) -> bool:
        local = at.astimezone(ZoneInfo(self.time_zone))
        if local.isoweekday() not in self.working_days:
            return True
        return not self.day_start <= local.time() < self.day_end


@dataclass(frozen=True)
class ReportQuery:
    subject: Subject
    subject_id: int
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1
    rules: ReportRules = field(default_factory=ReportRules)

    def digest_fields(self) -> dict[str, object]:
        """Ids and dates only: what the audit entry's change digest is made of."""
        return {
            "subject": self.subject.value,
            "id": self.subject_id,
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
        }


@dataclass(frozen=True)
class Flags:
    break_glass: bool
    denial_burst: bool
    out_of_hours: bool

    def names(self) -> tuple[str, ...]:
        pairs = (
            ("break_glass", self.break_glass),
            ("denial_burst", self.denial_burst),
            ("out_of_hours", self.out_of_hours),
        )
        return tuple(name for name, on in pairs if on)


@dataclass(frozen=True)
class ReportRow:
    entry: AuditRow
    flags: Flags


@dataclass
class CategorySummary:
    category: str  # "" for entries that touched no category (sign-ins, searches)
    reads: int = 0
    changes: int = 0
    denied: int = 0
    users: set[int] = field(default_factory=set)
    first: datetime | None = None
    last: datetime | None = None


@dataclass(frozen=True)
class Burst:
    user_id: int
    user_name: str
    first: datetime
    last: datetime
    count: int


@dataclass(frozen=True)
class AccessReport:
    query: ReportQuery
    title: str  # the user's or organisation's name, or "Case 12"
    total: int
    pages: int
    summary: list[CategorySummary]
    bursts: list[Burst]
    break_glass: int
    out_of_hours: int
    rows: list[ReportRow]


def _int(text: str, name: str, errors: dict[str, str], message: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 18:
        errors[name] = message
        return None
    return int(text)


def _date(text: str, name: str, errors: dict[str, str]) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors[name] = "Enter a date like 2026-03-02."
        return None


def query_from_params(
    subject: str, subject_id: str, params: Mapping[str, str], settings: Settings
) -> ReportQuery:
    """The report a path and its GET parameters describe; every problem at once, if any.

    An unknown kind of report or a malformed id is "not found", like an unknown id.
    """
    if subject not in set(Subject) or not subject_id.isdigit() or len(subject_id) > 18:
        raise NotFound("no report {subject}/{number}", subject=subject, number=subject_id)
    errors: dict[str, str] = {}
    date_from = _date(params.get("from", ""), "from", errors)
    date_to = _date(params.get("to", ""), "to", errors)
    page = _int(params.get("page", ""), "page", errors, "The page link is broken.") or 1
    if date_from and date_to and date_from > date_to:
        errors["to"] = "The end date must be on or after the start date."
    if errors:
        raise InvalidInput("the report parameters have errors", errors)
    rules = ReportRules.from_settings(settings)
    return ReportQuery(Subject(subject), int(subject_id), date_from, date_to, page, rules)


@dataclass(frozen=True)
class Choice:
    """The chooser form's answer: which report to show, as a path and query string."""

    path: str
    dates: dict[str, str]


def choice_from_params(params: Mapping[str, str]) -> Choice | None:
    """The report the chooser's GET form asks for; None when it asks for none yet."""
    kind = params.get("report", "").strip()
    if not kind:
        return None
    errors: dict[str, str] = {}
    if kind not in set(Subject):
        raise InvalidInput(
            "choose a report", {"report": N_("Choose a user, organisation or case.")}
        )
    subject_id = _int(
        params.get(kind, ""), kind, errors, "A case number is a whole number, like 12."
    )
    if subject_id is None and kind not in errors:
        errors[kind] = f"Choose the {kind} to report on."
    prefix = f"{kind}-"
    dates = {k: params.get(prefix + k, "").strip() for k in ("from", "to")}
    parsed = {k: _date(v, prefix + k, errors) for k, v in dates.items()}
    if parsed["from"] and parsed["to"] and parsed["from"] > parsed["to"]:
        errors[prefix + "to"] = "The end date must be on or after the start date."
    if errors:
        raise InvalidInput("the report choice has errors", errors)
    return Choice(f"/audit/reports/{kind}/{subject_id}", {k: v for k, v in dates.items() if v})


def _scope(uow: UnitOfWork, actor: Actor, query: ReportQuery) -> tuple[str, ColumnElement[bool]]:
    """The subject's title and the SQL condition selecting its entries; 404 if out of scope."""
    scope = uow.scoped(actor)
    if query.subject is Subject.USER:
        name = scope.scalar(
            scope.select(User.display_name)
            .join(Organisation, Organisation.id == User.organisation_id)
            .where(User.id == query.subject_id, scope.where(Organisation))
        )
        condition = AuditEntry.actor_user_id == query.subject_id
    elif query.subject is Subject.ORGANISATION:
        name = scope.scalar(
            scope.select(Organisation.name).where(Organisation.id == query.subject_id)
        )
        condition = AuditEntry.actor_org_id == query.subject_id
    else:
        found = scope.scalar(scope.select(Case.id).where(Case.id == query.subject_id))
        name = f"Case {found}" if found is not None else None
        condition = AuditEntry.case_id == query.subject_id
    if name is None:
        raise NotFound(
            "{subject} {number} not found", subject=query.subject, number=query.subject_id
        )
    return name, condition


def _where(
    actor: Actor, query: ReportQuery, condition: ColumnElement[bool]
) -> list[ColumnElement[bool]]:
    where = [in_network(AuditEntry, actor), condition]
    if query.date_from:
        where.append(AuditEntry.at >= midnight_utc(query.date_from))
    if query.date_to:
        where.append(AuditEntry.at < midnight_utc(query.date_to + timedelta(days=1)))
    return where


def _summary(session: Session, where: list[ColumnElement[bool]]) -> list[CategorySummary]:
    """Counts per category: grouped in SQL, the comma-joined categories split here."""
    stmt = (
        select(
            AuditEntry.categories,
            AuditEntry.action,
            AuditEntry.allowed,
            AuditEntry.actor_user_id,
            func.count(),
            func.min(AuditEntry.at),
            func.max(AuditEntry.at),
        )
        .where(and_(*where))
        .group_by(
            AuditEntry.categories,
            AuditEntry.action,
            AuditEntry.allowed,
            AuditEntry.actor_user_id,
        )
    )
    summaries: dict[str, CategorySummary] = {}
    for categories, action, allowed, user_id, count, first, last in session.execute(stmt):
        for category in chain.categories_of(categories) or (NO_CATEGORY,):
            item = summaries.setdefault(category, CategorySummary(category))
            if not allowed:
                item.denied += count
            elif action in READ_ACTIONS:
                item.reads += count
            else:
                item.changes += count
            if user_id is not None:
                item.users.add(user_id)
            item.first = first if item.first is None else min(item.first, first)
            item.last = last if item.last is None else max(item.last, last)
    return sorted(summaries.values(), key=lambda s: (s.category == NO_CATEGORY, s.category))


def _bursts(
    session: Session, actor: Actor, where: list[ColumnElement[bool]], rules: ReportRules
) -> tuple[list[Burst], set[int]]:
    """Bursts of denials by the users denied within the report, across the whole network.

    A burst is `burst_count` or more denials by one user within `burst_minutes`; runs
    of overlapping bursts merge into one. Only denials are read, in time order per user.
    """
    window = timedelta(minutes=rules.burst_minutes)
    denied_users = select(AuditEntry.actor_user_id).where(
        and_(*where), AuditEntry.allowed.is_(False), AuditEntry.actor_user_id.is_not(None)
    )
    span = select(func.min(AuditEntry.at), func.max(AuditEntry.at)).where(and_(*where))
    first, last = session.execute(span).one()
    if first is None:
        return [], set()
    stmt = (
        select(AuditEntry.id, AuditEntry.actor_user_id, AuditEntry.at, User.display_name)
        .outerjoin(User, User.id == AuditEntry.actor_user_id)
        .where(
            in_network(AuditEntry, actor),
            AuditEntry.allowed.is_(False),
            AuditEntry.actor_user_id.in_(denied_users),
            AuditEntry.at >= first - window,
            AuditEntry.at <= last + window,
        )
        .order_by(AuditEntry.actor_user_id, AuditEntry.at, AuditEntry.id)
    )
    by_user: dict[int, list[tuple[int, datetime]]] = {}
    names: dict[int, str] = {}
    for seq, user_id, at, name in session.execute(stmt):
        if user_id is None:  # excluded in SQL; narrows the type
            continue
        by_user.setdefault(user_id, []).append((seq, at))
        names[user_id] = name or ""
    bursts: list[Burst] = []
    flagged: set[int] = set()
    for user_id, denials in by_user.items():
        for run in _runs(denials, rules.burst_count, window):
            bursts.append(Burst(user_id, names[user_id], run[0][1], run[-1][1], len(run)))
            flagged.update(seq for seq, _ in run)
    bursts.sort(key=lambda b: b.first)
    return bursts, flagged


def _runs(
    denials: list[tuple[int, datetime]], count: int, window: timedelta
) -> list[list[tuple[int, datetime]]]:
    """Maximal runs of one user's denials (in time order) where every `count` consecutive
    ones fall within `window`: each window that qualifies joins or starts a run."""
    runs: list[list[tuple[int, datetime]]] = []
    end = -1  # index of the last denial in the open run
    for i in range(len(denials) - count + 1):
        j = i + count - 1
        if denials[j][1] - denials[i][1] > window:
            continue
        if runs and i <= end:
            runs[-1].extend(denials[end + 1 : j + 1])
        else:
            runs.append(list(denials[i : j + 1]))
        end = j
    return runs


def _flag(row: AuditRow, rules: ReportRules, burst_seqs: set[int]) -> ReportRow:
    return ReportRow(
        row,
        Flags(
            break_glass=row.action.startswith(BREAK_GLASS),
            denial_burst=row.seq in burst_seqs,
            out_of_hours=rules.out_of_hours(row.at),
        ),
    )


def _out_of_hours(session: Session, where: list[ColumnElement[bool]], rules: ReportRules) -> int:
    times = session.scalars(
        select(AuditEntry.at).where(and_(*where)).execution_options(yield_per=EXPORT_BATCH)
    )
    return sum(1 for at in times if rules.out_of_hours(at))


def access_report(uow: UnitOfWork, actor: Actor, query: ReportQuery) -> AccessReport:
    """One page (100 entries, newest first) of a user's, organisation's or case's report."""
    decision = authorise(uow, actor, READ, None)
    title, condition = _scope(uow, actor, query)
    where = _where(actor, query, condition)
    session = uow.session
    total = int(
        session.scalar(select(func.count()).select_from(AuditEntry).where(and_(*where))) or 0
    )
    pages = max(1, -(-total // PAGE_SIZE))
    if not 1 <= query.page <= pages:
        raise NotFound("page {page} not found", page=query.page)
    bursts, burst_seqs = _bursts(session, actor, where, query.rules)
    stmt = (
        rows_select(where)
        .order_by(AuditEntry.id.desc())
        .offset((query.page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    rows = [_flag(audit_row(*r), query.rules, burst_seqs) for r in session.execute(stmt)]
    break_glass = int(
        session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(*where, AuditEntry.action.startswith(BREAK_GLASS, autoescape=True))
        )
        or 0
    )
    report = AccessReport(
        query=query,
        title=title,
        total=total,
        pages=pages,
        summary=_summary(session, where),
        bursts=bursts,
        break_glass=break_glass,
        out_of_hours=_out_of_hours(session, where, query.rules),
        rows=rows,
    )
    change = {**query.digest_fields(), "page": query.page, "format": "html"}
    uow.audit(record(actor, "audit:report", decision, target=query.subject.value, change=change))
    uow.commit()
    return report


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
    "categories",
    "decision",
    "rule",
    "purpose",
    "legal_basis",
    "in_words",
    "break_glass",
    "denial_burst",
    "out_of_hours",
)


def _csv_line(row: ReportRow) -> list[str]:
    entry, flags = row.entry, row.flags
    values: list[object] = [
        entry.seq,
        chain.format_time(entry.at),
        entry.user_id,
        entry.user_name,
        entry.organisation_id,
        entry.organisation_name,
        entry.role,
        entry.action,
        entry.case_id,
        " ".join(entry.categories),
        "allowed" if entry.allowed else "denied",
        entry.rule,
        entry.purpose,
        entry.legal_basis,
        "; ".join(entry.disclosed),
        "yes" if flags.break_glass else "",
        "yes" if flags.denial_burst else "",
        "yes" if flags.out_of_hours else "",
    ]
    return [csv_cell(v) for v in values]


def export_report(uow: UnitOfWork, actor: Actor, query: ReportQuery) -> Iterator[str]:
    """The whole report's entries as CSV, streamed batch by batch; the export is audited.

    Scope and bursts are settled, and the audit entry committed, before streaming starts;
    the rows are then read in short sessions of their own, up to the entries that
    existed when the export was asked for.
    """
    decision = authorise(uow, actor, READ, None)
    _, condition = _scope(uow, actor, query)
    where = _where(actor, query, condition)
    upto = uow.session.scalar(select(func.max(AuditEntry.id))) or 0
    _, burst_seqs = _bursts(uow.session, actor, where, query.rules)
    change = {**query.digest_fields(), "format": "csv"}
    uow.audit(record(actor, "audit:report", decision, target=query.subject.value, change=change))
    uow.commit()
    return _stream(uow.runtime, where, upto, query.rules, burst_seqs)


def _stream(
    runtime: Runtime,
    where: list[ColumnElement[bool]],
    upto: int,
    rules: ReportRules,
    burst_seqs: set[int],
) -> Iterator[str]:
    def fetch(session: Session, before: int, limit: int) -> list[ReportRow]:
        stmt = (
            rows_select([*where, AuditEntry.id < before])
            .order_by(AuditEntry.id.desc())
            .limit(limit)
        )
        return [_flag(audit_row(*r), rules, burst_seqs) for r in session.execute(stmt)]

    return stream_csv(
        runtime, CSV_HEADER, upto, fetch, _csv_line, lambda row: row.entry.seq, batch=EXPORT_BATCH
    )
