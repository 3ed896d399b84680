"""National statistics: counts and times across networks, small cells suppressed.

What is published (docs/statistics.md): one two-way table per dimension, networks down
the side - referrals by quarter of submission, by referring organisation kind, by outcome
(the case's state now), by age band at referral, and mentions of each concern type - each
with its totals; and, per network and quarter, how long cases took to reach screening,
panel and support (quartiles, in days). Counts come from SQL aggregates over the cases'
clear skeleton and `case_statistics` (age band and concern types taken at submission,
since both are sealed with the subject's key), so no row of a case ever reaches Python.
Training networks are left out. Suppression is domain.disclosure's; a filter only picks
rows and tables out of the one suppressed publication, never a recomputed one, so that
two filtered views cannot be differenced into a hidden cell.
"""

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    bindparam,
    cast,
    delete,
    func,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.orm import Session

from referral.audit.chain import AuditRecord
from referral.authz.enforcer import Permission
from referral.db.tables import Case, CaseStatistics, Network, StatisticsPublication
from referral.domain import disclosure
from referral.domain.actors import Actor, system_actor
from referral.domain.errors import InvalidInput, PermissionDenied
from referral.domain.statistics import AGE_BAND_LABELS, CONCERN_BITS, concern_mask, quarter_of
from referral.domain.statistics import age_band as band_of
from referral.domain.vocabulary import LegalBasis, OrgKind, Purpose
from referral.i18n import N_
from referral.services.access import authorise, record
from referral.services.uow import UnitOfWork
from referral.workflow.schema import Workflow

PERMISSION = Permission.STATISTICS_READ
WHY = "national statistics: aggregates across networks, never a case's row"
REFERRAL_WORKFLOW = "referral"

# The stages timed, by what their state means to the workflow (a network may rename them).
STAGES: dict[str, str] = {"screening": "screening", "panel_review": "panel", "support": "support"}
_STAGE_COLUMNS = {
    "screening": CaseStatistics.screening_at,
    "panel": CaseStatistics.panel_at,
    "support": CaseStatistics.support_at,
}

# The published tables, in page order: key -> title.
DIMENSIONS: dict[str, str] = {
    "quarter": N_("Referrals by quarter of submission"),
    "org_kind": N_("Referrals by kind of referring organisation"),
    "outcome": N_("Referrals by outcome (state now)"),
    "age_band": N_("Referrals by age band at referral"),
    "concern": N_("Concern types named (a referral may name several)"),
}


# -- facts taken as the case goes ---------------------------------------------------------


def record_referral_facts(
    uow: UnitOfWork, actor: Actor, case: Case, date_of_birth: Any, concern_types: Iterable[str]
) -> None:
    """At submission: the age band and concern types, in clear, for statistics only, with
    the case's network, time and referring organisation kind beside them."""
    uow.scoped(actor).add(
        CaseStatistics(
            case_id=case.id,
            network_id=case.network_id,
            submitted_at=uow.now,
            quarter=quarter_of(uow.now.year, uow.now.month),
            org_kind=case.referring_org_kind,
            state=case.state,
            age_band=band_of(date_of_birth, uow.now.date()),
            concern_mask=concern_mask(list(concern_types)),
        )
    )


def follow_case(uow: UnitOfWork, case_id: int, workflow: Workflow, state: str) -> None:
    """As a case enters `state`: its state here too, and, for a state meaning screening,
    panel review or support, the first time it got there (kept: a case back in support
    keeps when it first got there). One UPDATE by primary key."""
    meaning = next((m for m, name in workflow.meanings.items() if name == state), None)
    stage = STAGES.get(meaning or "")
    values: dict[str, Any] = {"state": state}
    if stage is not None:
        column = _STAGE_COLUMNS[stage]
        values[column.key] = func.coalesce(column, uow.now)
    uow.unscoped("the statistics row of the case in hand, by its id").execute(
        update(CaseStatistics).where(CaseStatistics.case_id == case_id).values(values)
    )


# A migration's move of a case's state, built once (it runs for every case migrated).
FOLLOW_MIGRATION = (
    update(CaseStatistics)
    .where(CaseStatistics.case_id == bindparam("moving"))
    .values(state=bindparam("state"))
)


# -- the publication ------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    network: str  # the network's name
    slug: str
    cells: tuple[int | None, ...]  # None: suppressed
    total: int | None


@dataclass(frozen=True)
class PublishedTable:
    key: str
    title: str
    columns: tuple[tuple[str, str], ...]  # (key, label)
    rows: tuple[Row, ...]
    totals: tuple[int | None, ...]
    grand_total: int | None


@dataclass(frozen=True)
class StageTimes:
    network: str
    slug: str
    quarter: str
    stage: str
    quartiles: tuple[int, int, int] | None  # days: 25th, 50th, 75th percentile; None: too few


@dataclass(frozen=True)
class StatisticsQuery:
    threshold: int = 5
    networks: tuple[str, ...] = ()  # slugs; empty: all
    tables: tuple[str, ...] = ()  # DIMENSIONS keys; empty: all
    since: str = ""  # quarter "2026-Q1", inclusive
    until: str = ""


@dataclass(frozen=True)
class Publication:
    threshold: int
    tables: tuple[PublishedTable, ...]
    times: tuple[StageTimes, ...]
    suppressed: int = 0
    networks: tuple[tuple[str, str], ...] = field(default=())  # (slug, name) of every row
    # When it was published (`referral stats refresh`); None: counted for this request.
    as_of: datetime | None = None


def query_from_params(params: dict[str, str], threshold: int) -> StatisticsQuery:
    """The filters of the page and the API, checked: a clear 422 for a bad one."""
    errors: dict[str, str] = {}
    tables = tuple(t for t in params.get("tables", "").split(",") if t)
    unknown = [t for t in tables if t not in DIMENSIONS]
    if unknown:
        errors["tables"] = (
            f"Unknown table: {', '.join(unknown)}; choose from {', '.join(DIMENSIONS)}."
        )
    for end in ("since", "until"):
        value = params.get(end, "")
        if value and not _is_quarter(value):
            errors[end] = N_("Give a quarter as YYYY-Qn, for example 2026-Q1.")
    if errors:
        raise InvalidInput("the statistics filters have errors", errors)
    networks = tuple(n for n in params.get("networks", "").split(",") if n)
    return StatisticsQuery(
        threshold=threshold,
        networks=networks,
        tables=tables,
        since=params.get("since", ""),
        until=params.get("until", ""),
    )


def _is_quarter(value: str) -> bool:
    year, sep, q = value.partition("-Q")
    return bool(sep) and len(year) == 4 and year.isdigit() and q in {"1", "2", "3", "4"}


def national_statistics(uow: UnitOfWork, actor: Actor, query: StatisticsQuery) -> Publication:
    """The analyst's publication, filtered; audited as a read of aggregates (no case)."""
    decision = authorise(uow, actor, PERMISSION, None)
    session = uow.unscoped(WHY)
    kind = session.scalar(select(Network.kind).where(Network.id == actor.network_id))
    if kind != "national":
        raise PermissionDenied("national statistics are read in the national network")
    full = stored(session, query.threshold) or publish(
        session, uow.workflow(REFERRAL_WORKFLOW), query.threshold
    )
    uow.audit(
        record(
            actor,
            PERMISSION,
            decision,
            target="statistics",
            change={
                "networks": list(query.networks),
                "tables": list(query.tables),
                "since": query.since,
                "until": query.until,
            },
        )
    )
    return select_from(full, query)


def refresh(uow: UnitOfWork, threshold: int) -> Publication:
    """Publish anew (`referral stats refresh`, from cron): the page then reads this one
    row instead of aggregating every case per request. The previous one is replaced."""
    session = uow.unscoped("the operator's `referral stats refresh` counts every network")
    full = publish(session, uow.workflow(REFERRAL_WORKFLOW), threshold)
    session.execute(delete(StatisticsPublication))
    session.add(StatisticsPublication(threshold=threshold, refreshed_at=uow.now, body=asdict(full)))
    uow.commit()
    return replace(full, as_of=uow.now)


def stored(session: Session, threshold: int) -> Publication | None:
    """The last publication made with this threshold, if any."""
    row = session.scalars(
        select(StatisticsPublication)
        .where(StatisticsPublication.threshold == threshold)
        .order_by(StatisticsPublication.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    body = row.body
    return Publication(
        threshold=body["threshold"],
        tables=tuple(
            PublishedTable(
                key=t["key"],
                title=t["title"],
                columns=tuple((c, label) for c, label in t["columns"]),
                rows=tuple(
                    Row(r["network"], r["slug"], tuple(r["cells"]), r["total"]) for r in t["rows"]
                ),
                totals=tuple(t["totals"]),
                grand_total=t["grand_total"],
            )
            for t in body["tables"]
        ),
        times=tuple(
            StageTimes(
                t["network"],
                t["slug"],
                t["quarter"],
                t["stage"],
                tuple(t["quartiles"]) if t["quartiles"] else None,
            )
            for t in body["times"]
        ),
        suppressed=body["suppressed"],
        networks=tuple((slug, name) for slug, name in body["networks"]),
        as_of=row.refreshed_at,
    )


def export_as_operator(uow: UnitOfWork, threshold: int) -> Publication:
    """The whole publication for `referral stats export`: no one signed in, so it is
    recorded in the national network's audit log (when there is one) as its `system`
    actor, with a rule naming the command line."""
    session = uow.unscoped("the operator's `referral stats export` counts every network")
    full = publish(session, uow.workflow(REFERRAL_WORKFLOW), threshold)
    national = session.execute(
        select(Network.id, Network.slug).where(Network.kind == "national").order_by(Network.id)
    ).first()
    if national is not None:
        uow.audit(
            AuditRecord(
                action=PERMISSION,
                allowed=True,
                actor=system_actor(national.id, national.slug),
                target="statistics",
                rule="statistics export by the operator (command line)",
                purpose=Purpose.STATISTICS,
                legal_basis=LegalBasis.PUBLIC_TASK,
                change={"format": "csv", "threshold": threshold},
            )
        )
    uow.commit()
    return full


CSV_HEADER = ("table", "network", "column", "count", "quarter", "stage", "p25_days",
              "median_days", "p75_days")  # fmt: skip


def csv_rows(publication: Publication) -> Iterable[tuple[str, ...]]:
    """The publication as CSV rows: every count (`suppressed` where hidden), each table's
    totals (network `all`, column `total`), then the stage times."""

    def shown(value: int | None) -> str:
        return "suppressed" if value is None else str(value)

    yield CSV_HEADER
    for table in publication.tables:
        columns = [c for c, _ in table.columns]
        for row in table.rows:
            for column, value in zip(columns, row.cells, strict=True):
                yield (table.key, row.slug, column, shown(value), "", "", "", "", "")
            yield (table.key, row.slug, "total", shown(row.total), "", "", "", "", "")
        for column, value in zip(columns, table.totals, strict=True):
            yield (table.key, "all", column, shown(value), "", "", "", "", "")
        yield (table.key, "all", "total", shown(table.grand_total), "", "", "", "", "")
    for t in publication.times:
        q = [str(d) for d in t.quartiles] if t.quartiles else ["suppressed"] * 3
        yield ("stage_times", t.slug, "", "", t.quarter, t.stage, *q)


def select_from(full: Publication, query: StatisticsQuery) -> Publication:
    """Rows, tables and quarters picked out of the suppressed whole: nothing recomputed."""
    wanted = set(query.networks)
    unknown = wanted - {slug for slug, _ in full.networks}
    if unknown:
        raise InvalidInput(
            "the statistics filters have errors",
            {"networks": f"No such network in the statistics: {', '.join(sorted(unknown))}."},
        )

    def in_range(quarter: str) -> bool:
        return (not query.since or quarter >= query.since) and (
            not query.until or quarter <= query.until
        )

    tables = []
    for table in full.tables:
        if query.tables and table.key not in query.tables:
            continue
        rows = tuple(r for r in table.rows if not wanted or r.slug in wanted)
        keep = [
            i for i, (key, _) in enumerate(table.columns)
            if table.key != "quarter" or in_range(key)
        ]  # fmt: skip
        tables.append(
            PublishedTable(
                key=table.key,
                title=table.title,
                columns=tuple(table.columns[i] for i in keep),
                rows=tuple(
                    Row(r.network, r.slug, tuple(r.cells[i] for i in keep), r.total) for r in rows
                ),
                totals=tuple(table.totals[i] for i in keep),
                grand_total=table.grand_total,
            )
        )
    times = tuple(t for t in full.times if (not wanted or t.slug in wanted) and in_range(t.quarter))
    return replace(full, tables=tuple(tables), times=times)


def publish(session: Session, workflow: Workflow, threshold: int) -> Publication:
    """The whole publication: every table of every non-training network, suppressed."""
    networks = {
        nid: (slug, name)
        for nid, slug, name in session.execute(
            select(Network.id, Network.slug, Network.name)
            .where(Network.kind != "training", Network.kind != "national")
            .order_by(Network.name)
        )
    }
    grouped = _grouped(session)
    counts = _counts(session, grouped)
    # A network with no referral counted is left out, as an empty column is.
    referring = {nid for nid, _ in counts["quarter"]}
    networks = {nid: names for nid, names in networks.items() if nid in referring}
    labels = _column_labels(workflow)
    tables: list[disclosure.Table] = []
    values: dict[disclosure.Entry, int] = {}
    layout: list[tuple[str, tuple[str, ...]]] = []
    for key in DIMENSIONS:
        found = counts.get(key, {})
        # A column no network has a case in is left out: it counts nobody, and hiding a
        # whole column of zeros would cost a second hidden cell in every row.
        columns = tuple(
            c
            for c in _columns(key, {c for (_, c) in found}, workflow)
            if any(found.get((nid, c)) for nid in networks)
        )
        rows = tuple(str(n) for n in networks)
        # A referral counts once per network: every table's row totals are one entry, but
        # concern mentions total differently, so theirs are their own.
        row_totals = "concern_by_network" if key == "concern" else "referrals_by_network"
        grand = "concern_mentions" if key == "concern" else "referrals"
        table = disclosure.Table(key, rows, columns, row_totals, key, grand)
        tables.append(table)
        layout.append((key, columns))
        for nid in networks:
            line = [found.get((nid, c), 0) for c in columns]
            for c, v in zip(columns, line, strict=True):
                values[table.cell(str(nid), c)] = v
            values[table.row_total(str(nid))] = sum(line)
        for c in columns:
            values[table.column_total(c)] = sum(found.get((nid, c), 0) for nid in networks)
        values[table.total] = sum(v for (nid, _), v in found.items() if nid in networks)
    if not networks:
        tables, values = [], {}
    hidden = disclosure.suppress(tables, values, threshold)

    def shown(entry: disclosure.Entry) -> int | None:
        return None if entry in hidden else values[entry]

    published = []
    for table, (key, columns) in zip(tables, layout, strict=True):
        published.append(
            PublishedTable(
                key=key,
                title=DIMENSIONS[key],
                columns=tuple((c, labels.get(c, c)) for c in columns),
                rows=tuple(
                    Row(
                        networks[nid][1],
                        networks[nid][0],
                        tuple(shown(table.cell(str(nid), c)) for c in columns),
                        shown(table.row_total(str(nid))),
                    )
                    for nid in networks
                ),
                totals=tuple(shown(table.column_total(c)) for c in columns),
                grand_total=shown(table.total),
            )
        )
    times = _stage_times(grouped, networks, threshold)
    return Publication(
        threshold,
        tuple(published),
        times,
        suppressed=len(hidden),
        networks=tuple(networks.values()),
    )


def _columns(key: str, found: set[str], workflow: Workflow) -> tuple[str, ...]:
    """A dimension's columns in their order: its fixed list where it has one."""
    if key == "org_kind":
        return tuple(str(k) for k in OrgKind)
    if key == "age_band":
        return AGE_BAND_LABELS
    if key == "concern":
        return tuple(CONCERN_BITS)
    if key == "outcome":
        states = [s for s in workflow.state_labels if s != workflow.initial]
        return (*states, *sorted(found - set(states)))
    return tuple(sorted(found))


def _column_labels(workflow: Workflow) -> dict[str, str]:
    labels = dict(workflow.state_labels)
    labels.update({str(k): str(k).replace("_", " ") for k in OrgKind})
    labels.update({k: k.replace("_", " ") for k in CONCERN_BITS})
    return labels


# -- SQL ------------------------------------------------------------------------------------
#
# One pass over `case_statistics` (narrow: one row a submitted case) gives every count and
# the stage times' histograms: on PostgreSQL as GROUPING SETS, elsewhere as one grouped
# query per set. No case row is read.

_UNCOUNTED = ("training", "national")


def _facts(*columns: Any) -> Select[Any]:
    """The statistics rows of the counted networks."""
    return (
        select(*columns)
        .select_from(CaseStatistics)
        .join(Network, Network.id == CaseStatistics.network_id)
        .where(Network.kind.not_in(_UNCOUNTED))
    )


def _days(session: Session, later: Any, earlier: Any) -> ColumnElement[int]:
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.floor(func.extract("epoch", later - earlier) / 86400), Integer)
    return cast(func.julianday(later) - func.julianday(earlier), Integer)


def _grouped(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """{set: [(network id, *keys, cases)]} for every grouping set."""
    facts = CaseStatistics
    days = {
        stage: _days(session, column, facts.submitted_at).label(f"{stage}_days")
        for stage, column in _STAGE_COLUMNS.items()
    }
    keys: dict[str, tuple[Any, ...]] = {
        "quarter": (facts.quarter,),
        "org_kind": (facts.org_kind,),
        "age_band": (facts.age_band,),
        "concern": (facts.concern_mask,),  # few distinct sets of concern types
        "outcome": (facts.state,),
        **{stage: (facts.quarter, days[stage]) for stage in _STAGE_COLUMNS},
    }
    out: dict[str, list[tuple[Any, ...]]] = {}
    if session.get_bind().dialect.name != "postgresql":
        for name, columns in keys.items():
            stmt = _facts(facts.network_id, *columns, func.count()).group_by(
                facts.network_id, *columns
            )
            out[name] = [tuple(r) for r in session.execute(stmt)]
        return out
    grouped = [
        facts.quarter, facts.org_kind, facts.age_band, facts.concern_mask, facts.state,
        *days.values(),
    ]  # fmt: skip
    width = len(grouped)

    # Columns by identity: SQL expressions overload ==, so they cannot be dict keys.
    positions = {id(c): i for i, c in enumerate(grouped)}

    def tag(columns: tuple[Any, ...]) -> int:  # GROUPING(...): a 1 bit per column left out
        kept = {positions[id(c)] for c in columns}
        return sum(1 << (width - 1 - i) for i in range(width) if i not in kept)

    tags = {tag(columns): name for name, columns in keys.items()}
    # One scan hashing eight sets: PostgreSQL's JIT compiles it for seconds at a million
    # rows (more than it saves), and the default work_mem sends its sorts to disk.
    session.execute(text("SET LOCAL jit = off"))
    session.execute(text("SET LOCAL work_mem = '64MB'"))
    stmt = _facts(func.grouping(*grouped), facts.network_id, *grouped, func.count()).group_by(
        func.grouping_sets(*(tuple_(facts.network_id, *columns) for columns in keys.values()))
    )
    for g, nid, *rest in session.execute(stmt):
        name = tags[g]
        values, count = rest[:width], rest[width]
        picked = [values[positions[id(c)]] for c in keys[name]]
        out.setdefault(name, []).append((nid, *picked, count))
    return out


def _counts(
    session: Session, grouped: dict[str, list[tuple[Any, ...]]]
) -> dict[str, dict[tuple[int, str], int]]:
    """{dimension: {(network id, column): referrals}}; a concern type's mentions are the
    cases of every set of concern types that holds it."""
    out: dict[str, dict[tuple[int, str], int]] = {}
    for key in ("quarter", "org_kind", "age_band", "outcome"):
        out[key] = {(nid, str(value)): int(n) for nid, value, n in grouped.get(key, [])}
    concern: dict[tuple[int, str], int] = defaultdict(int)
    for nid, mask, n in grouped.get("concern", []):
        for name, bit in CONCERN_BITS.items():
            if int(mask or 0) & bit:
                concern[(nid, name)] += int(n)
    out["concern"] = dict(concern)
    return out


def _stage_times(
    grouped: dict[str, list[tuple[Any, ...]]], networks: dict[int, tuple[str, str]], threshold: int
) -> tuple[StageTimes, ...]:
    """Quartiles of whole days from submission to each stage, per network and quarter,
    from the histograms of days; fewer than `threshold` cases: not shown."""
    out: list[StageTimes] = []
    for stage in _STAGE_COLUMNS:
        histograms: dict[tuple[int, str], list[tuple[int, int]]] = defaultdict(list)
        for nid, quarter, days, n in grouped.get(stage, []):
            if days is not None and nid in networks:
                histograms[(nid, str(quarter))].append((int(days), int(n)))
        for (nid, quarter), histogram in histograms.items():
            slug, name = networks[nid]
            out.append(StageTimes(name, slug, quarter, stage, _quartiles(histogram, threshold)))
    order = list(_STAGE_COLUMNS)
    return tuple(sorted(out, key=lambda t: (t.network, t.quarter, order.index(t.stage))))


def _quartiles(histogram: list[tuple[int, int]], threshold: int) -> tuple[int, int, int] | None:
    """Nearest-rank quartiles of a histogram of (days, cases)."""
    histogram.sort()
    total = sum(n for _, n in histogram)
    if total < threshold:
        return None
    running, ends = 0, []
    for _, n in histogram:
        running += n
        ends.append(running)

    def at(share: Fraction) -> int:
        rank = max(1, math.ceil(share * total))
        return histogram[bisect.bisect_left(ends, rank)][0]

    return (at(Fraction(1, 4)), at(Fraction(1, 2)), at(Fraction(3, 4)))
