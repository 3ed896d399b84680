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
from referral.services.scope import Scope

if TYPE_CHECKING:
    from referral.authz.enforcer import Authorizer
    from referral.domain.actors import Actor
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

    def scoped(self, actor: "Actor") -> "Scope":
        """The door services use to the data: queries and writes bound to the actor's network.

        One scope per actor and unit of work, so its named queries' caches are shared.
        """
        scope: Scope | None = getattr(self, "_scope", None)
        if scope is None or scope.actor != actor or not scope.serves(self.session):
            scope = self._scope = Scope(self, actor)
        return scope

    def unscoped(self, reason: str) -> Session:
        """The plain session, for work that is no one network's, with the reason why.

        Sign-in before a network is chosen, timers and retention run by the system across
        networks, the operator's commands, the deployment-wide audit chain. A service that
        acts for a person in a network uses `scoped(actor)` instead.
        """
        if not reason.strip():
            raise ValueError("say why this work is not scoped to one network")
        return self.session

    def audit(self, record: AuditRecord) -> None:
        """Queue an audit entry: it is appended at commit, in the change's own transaction.

        Appending last means every transaction takes its row locks first and the chain
        head's lock last, so writers on PostgreSQL cannot deadlock on the head.
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
        for record in records:
            chain.append(
                self.session,
                record,
                now=self.now,
                request_id=self.request_id,
                policy_hash=self.authz.policy_hash,
                digest_key=self._digest_key(record),
            )

    def _digest_key(self, record: AuditRecord) -> bytes | None:
        if record.change is None or record.case_id is None:
            return None
        return data_keys(self.session).digest_key(self.session.connection(), record.case_id)

    def _record_denials(self) -> None:
        self._append(self._denials)
        self.session.commit()
        self._denials = []
