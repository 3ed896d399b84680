"""What an operator watches: is this process ready to serve, and what is waiting.

Both read a handful of counters from the database and nothing about any person: no
actor, no scope and no audit entry (they disclose nothing), and every query is answered
from an index, so a load balancer or Prometheus may ask as often as it likes.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from alembic.script import ScriptDirectory
from sqlalchemy import Connection, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from referral.db.migrate import alembic_config
from referral.db.sealing import KEYRING_INFO
from referral.db.tables import AuditEntry, AuditHead, Notification, Timer
from referral.keyring import Keyring
from referral.services.notifications import PENDING as EMAIL_PENDING
from referral.services.schedule import PENDING as TIMER_PENDING
from referral.services.uow import Runtime


@cache
def migration_heads() -> frozenset[str]:
    """The head revision(s) of migrations/: read once per process, as they ship with it."""
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


def readiness_problems(runtime: Runtime) -> list[str]:
    """What stops this process from serving, in words; empty when it is ready.

    The database answers and is at the migrations' head; a master key is there to open
    and seal personal data; the policies and workflows are loaded.
    """
    problems: list[str] = []
    try:
        with runtime.read_connection() as connection:
            problems += _schema_problems(connection)
    except SQLAlchemyError as exc:
        problems.append(f"database: unreachable ({type(exc).__name__})")
    keyring = runtime.session_factory.kw.get("info", {}).get(KEYRING_INFO)
    if not isinstance(keyring, Keyring) or not keyring.configured:
        problems.append("master key: none configured (REFERRAL_MASTER_KEYS)")
    if not runtime.authz.rules:
        problems.append("policies: no rule loaded")
    if not runtime.workflows:
        problems.append("workflows: none loaded")
    return problems


def _schema_problems(connection: Connection) -> list[str]:
    try:
        found = set(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())
    except SQLAlchemyError:  # no version table: never migrated
        return ["migrations: the database was never migrated (run `referral db upgrade`)"]
    if found != migration_heads():
        at = ", ".join(sorted(found)) or "none"
        head = ", ".join(sorted(migration_heads()))
        return [f"migrations: the database is at {at}, the code expects {head}"]
    return []


@dataclass(frozen=True)
class Backlog:
    """What is waiting, across every network of the deployment."""

    timers_due: int  # pending timers whose time has come
    timers_overdue: int  # ... and came longer ago than a worker should take to fire them
    outbox_pending: int  # e-mails of notices still to send
    audit_queued: int  # entries written but not yet placed in their chain
    audit_oldest_queued_seconds: float  # 0 when none waits
    audit_head_age_seconds: float | None  # since the newest sequenced entry; None: no chain


def backlog(runtime: Runtime, overdue_after: timedelta) -> Backlog:
    now = runtime.clock()
    with runtime.read_connection() as connection:
        due = _count(connection, Timer, Timer.state == TIMER_PENDING, Timer.run_after <= now)
        overdue = _count(
            connection,
            Timer,
            Timer.state == TIMER_PENDING,
            Timer.run_after <= now - overdue_after,
        )
        outbox = _count(connection, Notification, Notification.email_state == EMAIL_PENDING)
        queued, oldest = connection.execute(
            select(func.count(), func.min(AuditEntry.at)).where(AuditEntry.seq.is_(None))
        ).one()
        head = connection.execute(
            select(func.max(AuditEntry.at)).join(
                AuditHead, (AuditHead.chain == AuditEntry.chain) & (AuditHead.seq == AuditEntry.seq)
            )
        ).scalar()
    return Backlog(
        timers_due=due,
        timers_overdue=overdue,
        outbox_pending=outbox,
        audit_queued=queued,
        audit_oldest_queued_seconds=_age(now, oldest) or 0.0,
        audit_head_age_seconds=_age(now, head),
    )


def _count(connection: Connection, table: type, *where: object) -> int:
    return connection.execute(select(func.count()).select_from(table).where(*where)).scalar_one()  # type: ignore[arg-type]


def _age(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else max((now - then).total_seconds(), 0.0)
