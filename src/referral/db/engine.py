"""Engines and session factories for SQLite (embedded) and PostgreSQL (production)."""

import threading
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from referral.db import prepared
from referral.db.sealing import KEYRING_INFO
from referral.keyring import Keyring

# Every engine's pool: 20 connections at most. A request holds two at a time at most
# (its own unit and a short read beside it), so a process admits REQUESTS_AT_ONCE
# requests to the database together and the rest wait their turn on the event loop, not
# for a pooled connection with a timeout (see web.deps). The two left over serve the
# group committer and the audit sequencer.
POOL_SIZE = 10
POOL_OVERFLOW = 10
REQUESTS_AT_ONCE = 9


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(
    url: str,
    *,
    schema: str | None = None,
    busy_timeout_ms: int = 30_000,
    sqlite_synchronous: str = "FULL",
    sqlite_background_checkpoints: bool = False,
) -> Engine:
    """Build an engine; `schema` puts PostgreSQL work in its own schema (tests use one per run).

    `sqlite_background_checkpoints`: no commit copies the log into the database file
    itself; the caller promises to call `checkpoint` regularly from a thread of its own.
    """
    if is_sqlite(url):
        return _sqlite_engine(
            url, busy_timeout_ms, sqlite_synchronous, sqlite_background_checkpoints
        )
    connect_args: dict[str, Any] = {}
    if schema:
        connect_args["options"] = f"-csearch_path={schema}"
    return create_engine(
        url,
        connect_args=connect_args,
        pool_pre_ping=True,
        pool_size=POOL_SIZE,
        max_overflow=POOL_OVERFLOW,
    )


# Execution option naming a connection that only reads: its transactions begin DEFERRED
# and take no write lock (SQLite). Everything else begins IMMEDIATE, as writers must.
READ_ONLY = "referral_read_only"


def read_only(engine: Engine) -> Engine:
    """The same engine and pool, for work that only reads (see READ_ONLY)."""
    return engine.execution_options(**{READ_ONLY: True})


def in_driver_transaction(connection: Connection) -> bool:
    """Whether the driver's connection is in a transaction, whoever began it."""
    return bool(getattr(connection.connection.dbapi_connection, "in_transaction", False))


def begin_snapshot(connection: Connection) -> None:
    """SQLite: a reading transaction, on a WAL snapshot, with one plain statement."""
    prepared.send(connection, "BEGIN DEFERRED")


def end_snapshot(connection: Connection) -> None:
    """End a loop reader's unit's snapshot, unless its session's commit or rollback did."""
    if in_driver_transaction(connection):
        prepared.send(connection, "ROLLBACK")


class LoopReader:
    """One SQLite connection that the reads run on a server's event loop share, one unit
    after another (a read there runs start to end without yielding the loop).

    A reading unit on it begins and ends its snapshot with two plain statements, where a
    unit on a pooled connection pays for a checkout, a SQLAlchemy connection and its
    transaction objects, and a check-in: about a sixth of an API case read. Between units
    the connection holds no transaction, so it keeps no old snapshot alive in the log.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = read_only(engine)
        self._connection: Connection | None = None
        self._thread: int | None = None

    def take(self) -> Connection | None:
        """The connection, for the thread that first asked (the loop's); None for others."""
        thread = threading.get_ident()
        if self._connection is None:
            self._connection, self._thread = self._engine.connect(), thread
        return self._connection if thread == self._thread else None


class WriteGate:
    """The one SQLite writer of this process at a time, queued in order.

    SQLite allows one writer per database. Left to itself, a writer that finds the lock
    taken sleeps and polls (its busy handler), up to 100 ms a round: under load that is
    most of the latency. Writers of one process queue here instead, and wake the moment
    the lock is free; writers in other processes still meet SQLite's busy timeout.
    """

    def __init__(self, timeout_s: float) -> None:
        self._lock = threading.Lock()
        self.timeout_s = timeout_s

    def enter(self, info: dict[str, Any]) -> None:
        if self._lock.acquire(timeout=self.timeout_s):
            info[_GATE_HELD] = True
        # Past the timeout the writer goes on without the gate: SQLite's busy timeout
        # still keeps writers apart, it only polls.

    def leave(self, info: dict[str, Any]) -> None:
        if info.pop(_GATE_HELD, False):
            self._lock.release()


_GATE_HELD = "referral_write_gate_held"


def checkpoint(engine: Engine) -> None:
    """Copy what the SQLite log holds into the database file, as far as no reader still
    needs it, without waiting for readers or writers (a PASSIVE checkpoint): the
    background work of an engine built with `sqlite_background_checkpoints`."""
    if engine.dialect.name != "sqlite":
        return
    # On the driver's connection: a checkpoint cannot run inside a transaction, and
    # SQLAlchemy's would begin one (this engine's BEGIN IMMEDIATE, even: the write lock).
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        # Busy (another process's checkpoint under way) is no error: that one does it.
        cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        cursor.close()
    finally:
        connection.close()


def _sqlite_engine(
    url: str, busy_timeout_ms: int, synchronous: str = "FULL", background_checkpoints: bool = False
) -> Engine:
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"SQLite synchronous must be FULL or NORMAL, not {synchronous!r}")
    memory = make_url(url).database in (None, "", ":memory:")
    # An in-memory database lives in one connection per thread (SingletonThreadPool).
    pooling = {} if memory else {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW}
    engine = create_engine(url, connect_args={"check_same_thread": False}, **pooling)
    gate = WriteGate(busy_timeout_ms / 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so that BEGIN below is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        # FULL (the default): a commit is durable when acknowledged, one fsync each. NORMAL
        # is an operator's explicit choice (REFERRAL_SQLITE_SYNCHRONOUS).
        cursor.execute(f"PRAGMA synchronous = {synchronous}")
        # Freed space is zeroed, so an erased subject's destroyed key leaves no copy behind.
        cursor.execute("PRAGMA secure_delete = ON")
        if background_checkpoints:
            # Left to SQLite, the commit that takes the log past 1000 pages copies them
            # into the file and syncs it, and every request waiting on that commit waits
            # for the copy too (tens of milliseconds): a thread does it instead.
            cursor.execute("PRAGMA wal_autocheckpoint = 0")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get(READ_ONLY):
            # A reader works on a snapshot (WAL) and never blocks or waits for a writer.
            # A loop reader's unit began it already: the session joins that snapshot.
            if not in_driver_transaction(connection):
                begin_snapshot(connection)
            return
        # A writer takes the write lock at BEGIN, so it never reads a snapshot it then
        # cannot upgrade: writers queue (at the gate, then on SQLite's lock) instead of
        # failing.
        gate.enter(connection.info)
        try:
            prepared.send(connection, "BEGIN IMMEDIATE")
        except BaseException:
            gate.leave(connection.info)
            raise

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _on_end(connection: Connection) -> None:
        gate.leave(connection.info)

    # A connection returned or lost mid-transaction must not keep the gate.
    @event.listens_for(engine, "reset")
    def _on_reset(_dbapi_connection: Any, record: Any, _state: Any) -> None:
        gate.leave(record.info)

    @event.listens_for(engine, "close")
    def _on_close(_dbapi_connection: Any, record: Any) -> None:
        gate.leave(record.info)

    @event.listens_for(engine, "invalidate")
    def _on_invalidate(_dbapi_connection: Any, record: Any, _exception: Any) -> None:
        gate.leave(record.info)

    return engine


def make_session_factory(engine: Engine, keyring: Keyring | None = None) -> sessionmaker[Session]:
    """Sessions that seal and open personal fields with `keyring`'s master keys."""
    return sessionmaker(engine, expire_on_commit=False, info={KEYRING_INFO: keyring or Keyring()})


def reclaim_erased(engine: Engine) -> None:
    """After erasure, leave no old copy of a destroyed key in the database's files.

    SQLite: fold the write-ahead log into the database file and empty it (secure_delete
    has zeroed the freed space). PostgreSQL: vacuum the keys table, so that the dead row
    versions holding the old wrapped keys are cleared.
    """
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()  # outside any transaction, which a checkpoint needs
        try:
            cursor = raw.cursor()
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor.close()
        finally:
            raw.close()
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM data_keys")
