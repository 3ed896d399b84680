"""The unit of work: one database transaction, its repositories and its audit entries.

Service functions own the transaction through it: they call `commit()` once the change
and its audit entries are in the session. Anything raised before that rolls the whole
change back. Denials are the exception to "all or nothing": they are recorded after the
rollback, in a transaction of their own, so a refused attempt still leaves its trace.

A unit of work that only reads (`read_only=True`: a page or an API read) takes no write
lock while it works. Its disclosures are recorded at `commit()` in a short write of their
own, which the runtime's group committer makes durable together with other requests'; the
read answers only once its entries are committed, so nothing is disclosed unrecorded.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, NoReturn, Self

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from referral.audit import chain
from referral.audit.chain import AuditRecord
from referral.db.base import READER_INFO, utcnow
from referral.db.engine import (
    REQUESTS_AT_ONCE,
    LoopReader,
    begin_snapshot,
    end_snapshot,
    read_only,
)
from referral.db.repositories import Repositories
from referral.db.sealing import data_keys
from referral.domain.errors import Conflict, ReferralError
from referral.i18n import N_
from referral.services.committer import GroupCommitter
from referral.services.scope import Scope
from referral.workflow.versions import WorkflowSet

if TYPE_CHECKING:
    from referral.authz.enforcer import Authorizer
    from referral.domain.actors import Actor
    from referral.workflow.machine import WorkflowEngine
    from referral.workflow.schema import Workflow

STALE_MESSAGE = N_(
    "this record was changed by someone else while you were working on it; reload it and try again"
)


# PostgreSQL's deadlock and serialisation failures: the other writer won, try again.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
BUSY_MESSAGE = N_("the database was busy with other changes; try again in a moment")


def database_busy(exc: BaseException) -> bool:
    """True when every pooled connection stayed busy for the pool's whole timeout."""
    return isinstance(exc, PoolTimeout)


def _sqlite_busy(exc: OperationalError) -> bool:
    """SQLite's "database is locked": a writer in another process outlasted the busy
    timeout, or a reader's snapshot went stale before it could write."""
    return "database is locked" in str(exc.orig) or "database is busy" in str(exc.orig)


def as_conflict(exc: BaseException | None) -> Conflict | None:
    """The database errors that mean "someone else changed this first", as a Conflict."""
    if isinstance(exc, StaleDataError):
        return Conflict(STALE_MESSAGE)
    if isinstance(exc, IntegrityError):
        return Conflict("the change clashes with a record that already exists")
    if isinstance(exc, OperationalError):
        if getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES:
            return Conflict(STALE_MESSAGE)
        if _sqlite_busy(exc):
            return Conflict(BUSY_MESSAGE)
    return None


@contextmanager
def _races_as_conflicts() -> Iterator[None]:
    """Raise the database errors that mean "someone else changed this first" as a Conflict."""
    try:
        yield
    except (StaleDataError, IntegrityError, OperationalError) as exc:
        conflict = as_conflict(exc)
        if conflict is None:
            raise
        raise conflict from exc


@dataclass
class Runtime:
    """What every unit of work shares: the database, the policies and the workflows."""

    session_factory: sessionmaker[Session]
    authz: "Authorizer"
    workflows: "WorkflowSet"  # a plain {name: workflow} is taken as one version of each
    engine: "WorkflowEngine"
    clock: Callable[[], datetime] = field(default=utcnow)
    # Short writes of concurrent requests, committed together. None: each unit of work
    # writes its own (tests on one rolled-back connection, the CLI).
    committer: GroupCommitter | None = None
    _read_sessions: sessionmaker[Session] | None = field(default=None, repr=False)
    _loop_reader: "LoopReader | None" = field(default=None, repr=False)

    # How many requests a process lets work on the database at once (see db.engine).
    requests_at_once: int = REQUESTS_AT_ONCE
    # network id -> (has an active webhook endpoint, when seen): services.webhooks.
    webhook_networks: dict[int, tuple[bool, float]] = field(default_factory=dict, repr=False)

    def __setattr__(self, name: str, value: object) -> None:
        # Built or swapped with a plain {name: workflow} (tests, scripts): one version each.
        if name == "workflows" and not isinstance(value, WorkflowSet):
            value = WorkflowSet.of(value)  # type: ignore[arg-type]
        super().__setattr__(name, value)

    @property
    def single_writer(self) -> bool:
        """True on SQLite: one writer at a time for the whole database."""
        bind = self.session_factory.kw.get("bind")
        return bind is not None and bind.dialect.name == "sqlite"

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """A connection for one look-up outside any unit of work (a request's session,
        found before its unit opens), in a transaction that only reads, rolled back
        after: about half the cost of a read-only unit, which builds an ORM session."""
        bind = self.session_factory.kw.get("bind")
        if isinstance(bind, Connection):  # one connection shared by a test's units
            yield bind
            return
        if not isinstance(bind, Engine):
            raise TypeError("the runtime's sessions are bound to no database")
        with read_only(bind).connect() as connection:
            try:
                yield connection
            finally:
                connection.rollback()

    def loop_reader(self) -> Connection | None:
        """SQLite: the connection the event loop's reading units take turns on (see
        `LoopReader`); None elsewhere, and for any thread but the first that asked."""
        bind = self.session_factory.kw.get("bind")
        if not self.single_writer or not isinstance(bind, Engine):
            return None
        if self._loop_reader is None:
            self._loop_reader = LoopReader(bind)
        return self._loop_reader.take()

    @property
    def read_session_factory(self) -> sessionmaker[Session]:
        """Sessions whose transactions only read: on SQLite they take no write lock."""
        if self._read_sessions is None:
            bind = self.session_factory.kw.get("bind")
            if isinstance(bind, Engine):
                factory = sessionmaker(**{**self.session_factory.kw, "bind": read_only(bind)})
            else:  # bound to one connection (a test's transaction): nothing to choose
                factory = self.session_factory
            self._read_sessions = factory
        return self._read_sessions

    def write_now(self, write: Callable[[Session], None]) -> None:
        """Run a short write in a transaction of its own, durable when this returns."""
        if self.committer is not None:
            self.committer.write(write)
            return
        with self.session_factory() as session, session.begin():
            write(session)


class UnitOfWork:
    def __init__(
        self,
        runtime: Runtime,
        request_id: str = "",
        *,
        read_only: bool = False,
        refresh_policies: bool = True,
        reader: Connection | None = None,
    ) -> None:
        """`refresh_policies=False` for a unit beside another of the same request, which
        already looked for edited policy files: one look per request is enough.
        `reader`: a reading unit's connection of its own (`Runtime.loop_reader`)."""
        if reader is not None and not read_only:
            raise ValueError("only a reading unit works on a loop reader")
        self.runtime = runtime
        self.request_id = request_id
        self.read_only = read_only
        self.refresh_policies = refresh_policies
        self._reader = reader
        self._denials: list[AuditRecord] = []
        self._disclosures: list[AuditRecord] = []

    def __enter__(self) -> Self:
        if self.refresh_policies:
            self.runtime.authz.refresh_if_changed()
        factory = self.runtime.read_session_factory if self.read_only else None
        if self._reader is not None:
            begin_snapshot(self._reader)
            self.session = self.runtime.read_session_factory(
                bind=self._reader, info={READER_INFO: self._reader}
            )
        else:
            self.session = (factory or self.runtime.session_factory)()
        self.repo = Repositories(self.session)
        self.now = self.runtime.clock()
        self._denials = []
        self._disclosures = []
        self._entries: list[AuditRecord] = []
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pending = self.finish()
        if pending is not None:
            self.runtime.write_now(pending)
        conflict = as_conflict(exc)
        if conflict is not None:
            raise conflict from exc

    def finish(self) -> Callable[[Session], None] | None:
        """End the transaction (rolled back unless committed) and close the session.

        Returns the write that records what a read disclosed and the refusals met, if any,
        for the caller to run before the response leaves:
        the web layer hands it to the group committer without holding a thread.
        """
        try:
            self.session.rollback()
            self._entries = []
        finally:
            self.session.close()
            if self._reader is not None:
                end_snapshot(self._reader)
        records = [*self._disclosures, *self._denials]
        self._disclosures, self._denials = [], []
        if not records:
            return None
        return lambda session: self._append(records, session)

    @property
    def authz(self) -> "Authorizer":
        return self.runtime.authz

    @property
    def engine(self) -> "WorkflowEngine":
        return self.runtime.engine

    def workflow(self, name: str) -> "Workflow":
        """The newest loaded version of `name`: what new and linked records run on."""
        return self.runtime.workflows[name]

    def workflow_at(self, name: str, version: int) -> "Workflow | None":
        """The loaded `version` of `name` (the one a case is pinned to), if loaded."""
        return self.runtime.workflows.at(name, version)

    def workflow_read(self, name: str, version: int) -> "Workflow":
        """The version a case runs on, for reading it (its labels, what it allows now); the
        newest when that version is no longer loaded, since a page must still show the case.
        Moves ask `flow.case_workflow`, which refuses instead."""
        return self.workflow_at(name, version) or self.workflow(name)

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
        with _races_as_conflicts():
            self.session.flush()

    def commit(self) -> None:
        if self.read_only:
            self._commit_read()
            return
        with _races_as_conflicts():
            self.session.flush()
            self._append(self._entries)
            self._entries = []
            self.session.commit()

    def _commit_read(self) -> None:
        """End the read; its disclosures are recorded in a short write of their own when
        the unit finishes (`finish`), before anything of the read leaves the process."""
        entries, self._entries = self._entries, []
        if self.session.in_transaction():  # a unit that only ran prepared reads has none
            with _races_as_conflicts():
                self.session.commit()  # nothing to write, unless a read path changed a row
        self._disclosures.extend(entries)

    def _append(self, records: list[AuditRecord], session: Session | None = None) -> None:
        session = session or self.session
        rows = [
            chain.queued_row(
                record,
                now=self.now,
                request_id=self.request_id,
                policy_hash=self.authz.policy_hash,
                digest_key=self._digest_key(record, session),
            )
            for record in records
        ]
        chain.queue(session, rows)

    def _digest_key(self, record: AuditRecord, session: Session) -> bytes | None:
        if record.change is None or record.case_id is None:
            return None
        return data_keys(session).digest_key(session.connection(), record.case_id)
