"""The unit of work: one database transaction, its repositories and its audit entries.

Service functions own the transaction through it: they call `commit()` once the change
and its audit entries are in the session. Anything raised before that rolls the whole
change back. Denials are the exception to "all or nothing": they are recorded after the
rollback, in a transaction of their own, so a refused attempt still leaves its trace.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, NoReturn, Self

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from referral.audit import chain
from referral.audit.chain import AuditRecord
from referral.db.base import utcnow
from referral.db.repositories import Repositories
from referral.db.sealing import data_keys
from referral.domain.errors import Conflict, ReferralError

if TYPE_CHECKING:
    from referral.authz.enforcer import Authorizer
    from referral.workflow.machine import WorkflowEngine
    from referral.workflow.schema import Workflow

STALE_MESSAGE = (
    "this record was changed by someone else while you were working on it; reload it and try again"
)


# PostgreSQL's deadlock and serialisation failures: the other writer won, try again.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


def as_conflict(exc: BaseException | None) -> Conflict | None:
    """The database errors that mean "someone else changed this first", as a Conflict."""
    if isinstance(exc, StaleDataError):
        return Conflict(STALE_MESSAGE)
    if isinstance(exc, IntegrityError):
        return Conflict("the change clashes with a record that already exists")
    if (
        isinstance(exc, OperationalError)
        and getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES
    ):
        return Conflict(STALE_MESSAGE)
    return None


@dataclass
class Runtime:
    """What every unit of work shares: the database, the policies and the workflows."""

    session_factory: sessionmaker[Session]
    authz: "Authorizer"
    workflows: dict[str, "Workflow"]
    engine: "WorkflowEngine"
    clock: Callable[[], datetime] = field(default=utcnow)


class UnitOfWork:
    def __init__(self, runtime: Runtime, request_id: str = "") -> None:
        self.runtime = runtime
        self.request_id = request_id
        self._denials: list[AuditRecord] = []

    def __enter__(self) -> Self:
        self.runtime.authz.refresh_if_changed()
        self.session = self.runtime.session_factory()
        self.repo = Repositories(self.session)
        self.now = self.runtime.clock()
        self._denials = []
        self._entries: list[AuditRecord] = []
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.session.rollback()
            self._entries = []
            if self._denials:
                self._record_denials()
        finally:
            self.session.close()
        conflict = as_conflict(exc)
        if conflict is not None:
            raise conflict from exc

    @property
    def authz(self) -> "Authorizer":
        return self.runtime.authz

    @property
    def engine(self) -> "WorkflowEngine":
        return self.runtime.engine

    def workflow(self, name: str) -> "Workflow":
        return self.runtime.workflows[name]

    def audit(self, record: AuditRecord) -> None:
        """Queue an audit entry: it is inserted at commit, in the change's own transaction.

        The entries of a unit of work go in as one multi-row INSERT, queued: they take no
        lock on a chain head, which the sequencer moves on after the commit.
        """
        self._entries.append(record)

    def refuse(self, record: AuditRecord, error: ReferralError) -> NoReturn:
        """Abandon the change, keep a trace of the refusal, and raise `error`."""
        self._denials.append(record)
        raise error

    def rollback(self) -> None:
        """Abandon the change so far, audit entries included (refusals are kept)."""
        self.session.rollback()
        self._entries = []

    def flush(self) -> None:
        """Write pending changes now; a concurrent change to the same row is a Conflict."""
        try:
            self.session.flush()
        except (StaleDataError, IntegrityError, OperationalError) as exc:
            conflict = as_conflict(exc)
            if conflict is None:
                raise
            raise conflict from exc

    def commit(self) -> None:
        try:
            self.session.flush()
            self._append(self._entries)
            self._entries = []
            self.session.commit()
        except (StaleDataError, IntegrityError, OperationalError) as exc:
            conflict = as_conflict(exc)
            if conflict is None:
                raise
            raise conflict from exc

    def _append(self, records: list[AuditRecord]) -> None:
        rows = [
            chain.queued_row(
                record,
                now=self.now,
                request_id=self.request_id,
                policy_hash=self.authz.policy_hash,
                digest_key=self._digest_key(record),
            )
            for record in records
        ]
        chain.queue(self.session, rows)

    def _digest_key(self, record: AuditRecord) -> bytes | None:
        if record.change is None or record.case_id is None:
            return None
        return data_keys(self.session).digest_key(self.session.connection(), record.case_id)

    def _record_denials(self) -> None:
        self._append(self._denials)
        self.session.commit()
        self._denials = []
