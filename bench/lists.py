"""Case lists over a large synthetic network: flat in its size, and the policy's SQL
against hand-written SQL.

    python bench/lists.py [--cases N] [--small N] [--database-url URL] [--runs R]
                          [--explain] [--quick]

The same network is built twice in one run, at `--small` cases (2,000) and at `--cases`
(200,000), and the coordinator's lists are timed through the services, as a request
runs them (a read-only unit of work around one service call): the work queue's first
page, a page halfway down, the same filtered to one state, and the API's case list by
`after` and by `offset`. The last column is large / small: about 1 for a list that
stays flat. `--explain` prints the plan of every statement they run at the large size
(EXPLAIN ANALYZE on PostgreSQL).

Without a URL the database is SQLite in a temporary file; with a PostgreSQL URL the
bench works in a schema of its own, dropped at the end. The schema comes from the
migrations. For a coordinator, a panel member and a provider it times (median of R
runs after a warm-up) the list `list_cases` runs (the policy's WHERE clause from
`case_filter`, with the ORDER BY and LIMIT of `Repositories.cases`) and a hand-written
query for the same user, checks both return the same ids, and prints the ratio.

The rows go in by bulk INSERT, not through the ORM, so the loader seals every personal
field itself (`Sealer`), each subject with a data key of its own, as the ORM's flush
does: the rows are the size they are in production, and no field reaches the database
in clear (the column type refuses one). `--quick` (500 and 5,000 cases, 5 runs) keeps
the script from rotting in CI.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from scratch import database  # bench/scratch.py: the script's folder is on sys.path
from sqlalchemy import Connection, Engine, Select, Table, bindparam, event, insert, select, text

from referral.authz.enforcer import Authorizer
from referral.authz.filters import case_filter
from referral.config import PROJECT_ROOT, Settings
from referral.db.base import UTCDateTime
from referral.db.engine import make_session_factory
from referral.db.migrate import upgrade
from referral.db.sealing import DataKeys, sealed_columns
from referral.db.tables import (
    AgendaItem,
    Case,
    Consent,
    ConsentScopeRow,
    Intervention,
    MeetingAttendee,
    Network,
    Organisation,
    PanelMeeting,
    RoleAssignment,
    Subject,
    User,
)
from referral.domain.actors import Actor
from referral.domain.vocabulary import Category, OrgKind, Role
from referral.keyring import Keyring, new_master_key
from referral.logging import configure_logging
from referral.services import queue, referrals
from referral.services.uow import Runtime, UnitOfWork
from referral.workflow.loader import load_workflows
from referral.workflow.machine import WorkflowEngine

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
LIMIT = 50
BATCH = 5_000
STATES = (
    "draft",
    "submitted",
    "screening",
    "closed_no_action",
    "signposted",
    "police_led",
    "information_gathering",
    "awaiting_panel",
    "panel_review",
    "consent_pending",
    "support",
    "review",
    "exited",
    "follow_up_6m",
    "follow_up_12m",
    "closed",
)
AGENDA_SIZE = 30
ATTENDEES_PER_MEETING = 6
PROVIDER_CASES = 50
ORDER_BY = "ORDER BY c.due_at NULLS LAST, c.id"
ONE_STATE = "panel_review"  # the work queue filtered to one state: 1 case in 16 here


# -- the synthetic network -----------------------------------------------------------


@dataclass(frozen=True)
class People:
    coordinator: Actor
    panel_member: Actor
    provider: Actor


def _table(model: type[Any]) -> Table:
    return model.__table__  # type: ignore[no-any-return]


def _insert(connection: Connection, model: type[Any], rows: Sequence[dict[str, Any]]) -> None:
    for start in range(0, len(rows), BATCH):
        connection.execute(insert(_table(model)), list(rows[start : start + BATCH]))


class Sealer:
    """Seals the personal fields of bulk-inserted rows, as the ORM's flush would.

    Each subject gets a data key of its own; a case and its linked rows are sealed with
    their subject's key. A field the row leaves out gets the column's default, sealed.
    """

    def __init__(self, connection: Connection, keyring: Keyring) -> None:
        self.connection = connection
        self.keys = DataKeys(keyring)

    def new_key(self) -> int:
        return self.keys.create(self.connection)

    def seal(self, model: type[Any], key_id: int, row: dict[str, Any]) -> dict[str, Any]:
        columns = _table(model).c
        for name, kind in sealed_columns(model).items():
            if name not in row:
                default = columns[name].info["sealed_default"]
                row[name] = default() if callable(default) else default
            if row[name] is not None:
                row[name] = self.keys.seal(self.connection, key_id, kind, row[name])
        return row


def load(engine: Engine, cases: int, rng: random.Random, keyring: Keyring) -> People:
    """Bulk-insert one large network (and a small second one the lists must ignore)."""
    with engine.begin() as db:
        sealer = Sealer(db, keyring)
        _insert(
            db,
            Network,
            [{"id": 1, "slug": "big", "name": "Big"}, {"id": 2, "slug": "other", "name": "Other"}],
        )
        kinds = list(OrgKind)
        orgs = [
            {"id": i, "network_id": 1 if i <= 40 else 2, "name": f"Org {i}", "kind": kinds[i % 10]}
            for i in range(1, 51)
        ]
        _insert(db, Organisation, orgs)
        kind_of = {int(o["id"]): str(o["kind"]) for o in orgs}
        users = [
            {
                "id": i,
                "username": f"user{i}",
                "display_name": f"User {i}",
                "organisation_id": 1 + (i % 40),
                "password_hash": "-",
                "active": True,
                "created_at": NOW,
            }
            for i in range(1, 301)
        ]
        _insert(db, User, users)
        coordinator, panel_member, provider = 1, 2, 3
        panel_users = list(range(2, 40))
        _insert(
            db,
            RoleAssignment,
            [
                {"user_id": coordinator, "network_id": 1, "role": "coordinator"},
                *({"user_id": u, "network_id": 1, "role": "panel_member"} for u in panel_users),
                {"user_id": provider, "network_id": 1, "role": "provider"},
            ],
        )

        other = max(1, cases // 20)
        total = cases + other
        network_of = [1 if i <= cases else 2 for i in range(1, total + 1)]
        key_of = [sealer.new_key() for _ in range(total)]  # subject i holds key_of[i - 1]
        _insert(
            db,
            Subject,
            [
                sealer.seal(
                    Subject,
                    key_of[i - 1],
                    {
                        "id": i,
                        "network_id": network_of[i - 1],
                        "data_key_id": key_of[i - 1],
                        "given_name": "A",
                        "family_name": "B",
                        "created_at": NOW,
                    },
                )
                for i in range(1, total + 1)
            ],
        )
        states = [rng.choice(STATES) for _ in range(total)]
        _insert(
            db,
            Case,
            [
                sealer.seal(
                    Case,
                    key_of[i - 1],
                    {
                        "id": i,
                        "network_id": network_of[i - 1],
                        "subject_id": i,
                        "reference": f"BENCH-{i}",
                        "state": states[i - 1],
                        "workflow_name": "referral",
                        "workflow_version": 1,
                        "workflow_hash": "-",
                        "version": 1,
                        "referrer_user_id": rng.randint(40, 300),
                        "referring_org_kind": "education",
                        "coordinator_user_id": coordinator if rng.random() < 0.5 else None,
                        "created_at": NOW - timedelta(days=rng.randint(0, 900)),
                        "state_entered_at": NOW,
                        "due_at": None
                        if rng.random() < 0.2
                        else NOW + timedelta(hours=rng.randint(-2000, 2000)),
                    },
                )
                for i in range(1, total + 1)
            ],
        )

        # Meetings: one a day or so over the past years, each with a full agenda; the panel
        # member is invited to one in five, and to the one meeting three days from now.
        meeting_count = max(2, cases // 100)
        meetings, agenda, attendees = [], [], []
        item_id = 0
        for m in range(1, meeting_count + 1):
            current = m == meeting_count
            when = NOW + timedelta(days=3) if current else NOW - timedelta(days=m + 10)
            state = "cancelled" if not current and m % 17 == 0 else "scheduled"
            meetings.append(
                {
                    "id": m,
                    "network_id": 1,
                    "state": state,
                    "scheduled_for": when,
                    "location": "",
                    "chair_user_id": coordinator,
                    "minutes": "",
                }
            )
            for position, case_id in enumerate(rng.sample(range(1, cases + 1), AGENDA_SIZE), 1):
                item_id += 1
                agenda.append(
                    {"id": item_id, "meeting_id": m, "case_id": case_id, "position": position}
                )
            invited = set(rng.sample(panel_users[1:], ATTENDEES_PER_MEETING - 1))
            if current or m % 5 == 0:
                invited.add(panel_member)
            attendees += [{"meeting_id": m, "user_id": u, "attended": False} for u in invited]
        _insert(db, PanelMeeting, meetings)
        _insert(db, AgendaItem, agenda)
        _insert(db, MeetingAttendee, attendees)

        # Interventions: about one case in three, spread over the network's organisations;
        # the provider's organisation has its own handful, a few withdrawn.
        provider_org = 1 + (provider % 40)
        others = [o for o in range(1, 41) if o != provider_org]
        interventions: list[dict[str, Any]] = []
        for case_id in rng.sample(range(1, cases + 1), cases // 3):
            interventions.append(
                {
                    "case_id": case_id,
                    "provider_org_id": rng.choice(others),
                    "kind": "mentoring",
                    "plan": "",
                    "created_at": NOW,
                    "state": rng.choice(("proposed", "active", "withdrawn")),
                }
            )
        mine = rng.sample(range(1, cases + 1), PROVIDER_CASES + 20)
        for n, case_id in enumerate(mine):
            state = "withdrawn" if n >= PROVIDER_CASES + 10 else "active"
            interventions.append(
                {
                    "case_id": case_id,
                    "provider_org_id": provider_org,
                    "kind": "mentoring",
                    "plan": "",
                    "created_at": NOW,
                    "state": state,
                }
            )
        _insert(
            db,
            Intervention,
            [sealer.seal(Intervention, key_of[row["case_id"] - 1], row) for row in interventions],
        )

        # Consents: half the cases; one in five of those asked twice (the later one counts).
        # The provider's cases have consent given, bar ten refused after being given.
        consent_rows: list[dict[str, Any]] = []
        refused_later = set(mine[PROVIDER_CASES : PROVIDER_CASES + 10])
        asked = set(rng.sample(range(1, cases + 1), cases // 2)) | set(mine)
        for case_id in sorted(asked):
            first = "given" if case_id in mine else rng.choice(("given", "refused", "requested"))
            consent_rows.append({"case_id": case_id, "state": first})
            if case_id in refused_later or (case_id not in mine and rng.random() < 0.2):
                consent_rows.append(
                    {
                        "case_id": case_id,
                        "state": rng.choice(("refused", "given"))
                        if case_id not in refused_later
                        else "withdrawn",
                    }
                )
        rng.shuffle(consent_rows)  # ids are not in case order, as in life
        for cid, row in enumerate(consent_rows, 1):
            row.update(
                id=cid,
                recorded_by=coordinator,
                requested_at=NOW,
                given_by="subject",
                guardian_name="",
                method="",
                notes="",
            )
        consent_rows.sort(key=lambda r: r["id"])
        # A later consent must have a higher id than the one it supersedes, per case.
        by_case: dict[int, list[dict[str, Any]]] = {}
        for row in consent_rows:
            by_case.setdefault(row["case_id"], []).append(row)
        for case_id, rows in by_case.items():
            if case_id in refused_later:
                rows[0]["state"], rows[-1]["state"] = "given", "withdrawn"
        _insert(
            db,
            Consent,
            [sealer.seal(Consent, key_of[row["case_id"] - 1], row) for row in consent_rows],
        )
        scopes = [
            {"consent_id": row["id"], "category": category, "org_kind": kind, "purpose": "support"}
            for row in consent_rows
            if row["state"] == "given"
            for category, kind in (
                ("special", "health"),
                ("support", "civil_society"),
                ("identity", kind_of[provider_org]),
            )
        ]
        _insert(db, ConsentScopeRow, scopes)
    analyze(engine)
    return People(
        coordinator=Actor(
            coordinator,
            1 + (coordinator % 40),
            OrgKind(kind_of[2]),
            1,
            "big",
            frozenset({Role.COORDINATOR}),
        ),
        panel_member=Actor(
            panel_member,
            1 + (panel_member % 40),
            OrgKind(kind_of[3]),
            1,
            "big",
            frozenset({Role.PANEL_MEMBER}),
        ),
        provider=Actor(
            provider,
            provider_org,
            OrgKind(kind_of[provider_org]),
            1,
            "big",
            frozenset({Role.PROVIDER}),
        ),
    )


def analyze(engine: Engine) -> None:
    with engine.begin() as db:
        db.execute(text("ANALYZE"))


# -- the queries ---------------------------------------------------------------------


def policy_statement(authz: Authorizer, actor: Actor) -> Select[int]:
    """The query `list_cases` runs: the policy's WHERE clause, `Repositories.cases` order."""
    where = case_filter(authz, actor, Category.STATUS, "read", NOW)
    return (
        select(Case.id).where(where).order_by(Case.due_at.asc().nulls_last(), Case.id).limit(LIMIT)
    )


def policy_query(authz: Authorizer, actor: Actor) -> Callable[[Connection], list[int]]:
    """The statement built once: what the database spends on the policy's SQL."""
    stmt = policy_statement(authz, actor)
    return lambda db: list(db.scalars(stmt))


def policy_request(authz: Authorizer, actor: Actor) -> Callable[[Connection], list[int]]:
    """As a request pays it: the WHERE clause derived from the policy again, then run."""
    return lambda db: list(db.scalars(policy_statement(authz, actor)))


WINDOW = {"lo": NOW - timedelta(days=7), "hi": NOW + timedelta(days=7)}
HAND_WRITTEN = {
    "coordinator": f"""
        SELECT c.id FROM cases c
        WHERE c.network_id = :network AND c.state <> 'draft'
        {ORDER_BY} LIMIT {LIMIT}""",
    "panel member": f"""
        SELECT c.id FROM cases c
        WHERE c.network_id = :network AND c.id IN (
            SELECT a.case_id FROM meeting_attendees ma
            JOIN panel_meetings m ON m.id = ma.meeting_id
            JOIN agenda_items a ON a.meeting_id = m.id
            WHERE ma.user_id = :user AND m.state <> 'cancelled'
              AND m.scheduled_for BETWEEN :lo AND :hi)
        {ORDER_BY} LIMIT {LIMIT}""",
    "provider": f"""
        SELECT c.id FROM cases c
        WHERE c.network_id = :network AND c.id IN (
            SELECT i.case_id FROM interventions i
            WHERE i.provider_org_id = :org AND i.state <> 'withdrawn')
          AND (SELECT s.state FROM consents s WHERE s.case_id = c.id
               ORDER BY s.id DESC LIMIT 1) = 'given'
        {ORDER_BY} LIMIT {LIMIT}""",
}


def hand_written(name: str, actor: Actor) -> Callable[[Connection], list[int]]:
    stmt = text(HAND_WRITTEN[name])
    params: dict[str, Any] = {
        "network": actor.network_id,
        "user": actor.user_id,
        "org": actor.organisation_id,
    }
    used = {key: value for key, value in params.items() if f":{key}" in HAND_WRITTEN[name]}
    if ":lo" in HAND_WRITTEN[name]:
        stmt = stmt.bindparams(
            bindparam("lo", type_=UTCDateTime), bindparam("hi", type_=UTCDateTime)
        )
        used |= WINDOW

    def run(db: Connection) -> list[int]:
        return list(db.scalars(stmt, used))

    return run


def median_ms(engine: Engine, query: Callable[[Connection], list[int]], runs: int) -> float:
    timings = []
    with engine.connect() as db:
        query(db)  # warm-up: caches, statement cache, pages
        for _ in range(runs):
            start = time.perf_counter()
            query(db)
            timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)


# -- the lists as their users see them: through the services ----------------------


def service_runtime(engine: Engine, keyring: Keyring) -> Runtime:
    return Runtime(
        make_session_factory(engine, keyring),
        Authorizer(PROJECT_ROOT / "policies"),
        load_workflows(PROJECT_ROOT / "workflows"),
        WorkflowEngine(),
        clock=lambda: NOW,
    )


def in_unit(runtime: Runtime, call: Callable[[UnitOfWork], object]) -> Callable[[], object]:
    """One request's worth: a read-only unit of work around one service call."""

    def run() -> object:
        with UnitOfWork(runtime, read_only=True) as uow:
            return call(uow)

    return run


def service_lists(runtime: Runtime, actor: Actor) -> dict[str, Callable[[], object]]:
    """The coordinator's work queue and API case list: the first page and a page halfway
    down (among the cases with a deadline: those without come last)."""
    with UnitOfWork(runtime, read_only=True) as uow:
        states = queue.open_case_states(uow)
        where = case_filter(uow.authz, actor, Category.STATUS, "read", uow.now)
        open_where = where & Case.state.in_(states)
        open_count = uow.repo.count_cases(open_where)
        listed = uow.repo.count_cases(where)
        deep_open = open_count // 2
        deep = listed // 2
        one_where = where & Case.state.in_([ONE_STATE])
        deep_one = uow.repo.count_cases(one_where) // 2
        at_one = uow.repo.cases(one_where, limit=1, offset=deep_one)[0]
        one_after = queue.position_of(at_one.due_at, at_one.id)
        at_queue = uow.repo.cases(open_where, limit=1, offset=deep_open)[0]
        at_list = uow.repo.cases(where, limit=1, offset=deep)[0]
        queue_after = queue.position_of(at_queue.due_at, at_queue.id)
        list_after = queue.position_of(at_list.due_at, at_list.id)
    return {
        "work queue, page 1": in_unit(
            runtime, lambda uow: queue.work_queue(uow, actor, queue.ListQueue())
        ),
        "work queue, 50 % deep (after)": in_unit(
            runtime, lambda uow: queue.work_queue(uow, actor, queue.ListQueue(after=queue_after))
        ),
        # The query the queue ran for that page before, alone: its position as one OR.
        "  its old query alone (one OR)": in_unit(
            runtime,
            lambda uow: uow.repo.cases(
                open_where, limit=queue.QUEUE_LIMIT + 1, after=queue.parse_position(queue_after)
            ),
        ),
        f"work queue, {ONE_STATE} only, page 1": in_unit(
            runtime, lambda uow: queue.work_queue(uow, actor, queue.ListQueue(state=ONE_STATE))
        ),
        f"work queue, {ONE_STATE}, 50 % deep": in_unit(
            runtime,
            lambda uow: queue.work_queue(
                uow, actor, queue.ListQueue(state=ONE_STATE, after=one_after)
            ),
        ),
        "API list, page 1": in_unit(
            runtime, lambda uow: referrals.list_cases(uow, actor, referrals.ListCases())
        ),
        "API list, 50 % deep (offset)": in_unit(
            runtime, lambda uow: referrals.list_cases(uow, actor, referrals.ListCases(offset=deep))
        ),
        "API list, 50 % deep (after)": in_unit(
            runtime,
            lambda uow: referrals.list_cases(uow, actor, referrals.ListCases(after=list_after)),
        ),
    }


def median_call_ms(call: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median wall and CPU ms of this process per call. On a busy machine the wall time
    counts waiting for a core too; the CPU time (the client's part) does not."""
    call()  # warm-up
    walls, cpus = [], []
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        call()
        walls.append((time.perf_counter() - start) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return statistics.median(walls), statistics.median(cpus)


def explain(engine: Engine, call: Callable[[], object]) -> None:
    """Print the plan of every statement one call runs (PostgreSQL: EXPLAIN ANALYZE)."""
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        statements.append((statement, params))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    prefix = "EXPLAIN ANALYZE " if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    with engine.connect() as db:
        for statement, params in statements:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            print("\n" + " ".join(statement.split()))
            for row in db.exec_driver_sql(prefix + statement, params):
                print("    " + " ".join(str(v) for v in row))


# -- the run -------------------------------------------------------------------------


def policy_table(engine: Engine, authz: Authorizer, people: People, runs: int) -> bool:
    """The policy's SQL against hand-written SQL for three users; False if they disagree."""
    print("median ms; sql = statement built once; request = WHERE derived again each time")
    print(
        f"{'list of':<14}{'rows':>5}{'hand sql':>10}{'policy sql':>12}{'ratio':>7}"
        f"{'policy request':>16}{'ratio':>7}"
    )
    worst = 0.0
    for name, actor in (
        ("coordinator", people.coordinator),
        ("panel member", people.panel_member),
        ("provider", people.provider),
    ):
        manual = hand_written(name, actor)
        with engine.connect() as db:
            ids = policy_request(authz, actor)(db)
            if ids != manual(db):
                print(f"{name}: the policy and the hand-written query disagree")
                return False
        hand_ms = median_ms(engine, manual, runs)
        sql_ms = median_ms(engine, policy_query(authz, actor), runs)
        request_ms = median_ms(engine, policy_request(authz, actor), runs)
        worst = max(worst, sql_ms / hand_ms)
        print(
            f"{name:<14}{len(ids):>5}{hand_ms:>10.2f}{sql_ms:>12.2f}{sql_ms / hand_ms:>6.2f}x"
            f"{request_ms:>16.2f}{request_ms / hand_ms:>6.2f}x"
        )
    print(f"worst sql ratio {worst:.2f}x (target 1.2x)")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--small", type=int, default=2_000, help="the size to compare with")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--explain", action="store_true", help="plans of the service lists")
    parser.add_argument("--quick", action="store_true", help="500 and 5,000 cases, 5 runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.small, args.cases, args.runs = 500, 5_000, 5
    configure_logging(Settings(log_level="WARNING"))
    authz = Authorizer(PROJECT_ROOT / "policies")
    timings: dict[int, list[tuple[str, tuple[float, float]]]] = {}
    backend = ""
    for size in (args.small, args.cases):
        keyring = Keyring.from_config(f"bench:{new_master_key()}", None)
        with database(args.database_url) as (engine, kind):
            backend = kind
            upgrade(engine)
            start = time.perf_counter()
            people = load(engine, size, random.Random(args.seed), keyring)
            print(f"\n{kind}: {size:,} cases loaded in {time.perf_counter() - start:.1f} s")
            if not policy_table(engine, authz, people, args.runs):
                return 1
            runtime = service_runtime(engine, keyring)
            calls = service_lists(runtime, people.coordinator)
            timings[size] = [
                (name, median_call_ms(call, args.runs)) for name, call in calls.items()
            ]
            if args.explain and size == args.cases:
                for call in calls.values():
                    explain(engine, call)
    print(f"\n{backend}: the coordinator's lists through the services, median of {args.runs}")
    print(f"{'':<40}{'wall ms':^26}{'client CPU ms':^26}")
    sizes = f"{args.small:>9,}{args.cases:>9,}{'ratio':>8}"
    print(f"{'list':<40}{sizes}{sizes}")
    for (name, small), (_, large) in zip(timings[args.small], timings[args.cases], strict=True):
        cells = "".join(
            f"{small[i]:>9.2f}{large[i]:>9.2f}{large[i] / small[i]:>7.2f}x" for i in (0, 1)
        )
        print(f"{name:<40}{cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
