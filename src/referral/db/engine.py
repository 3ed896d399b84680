"""Engines and session factories for SQLite (embedded) and PostgreSQL (production)."""

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from referral.db.sealing import KEYRING_INFO
from referral.keyring import Keyring


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str, *, schema: str | None = None, busy_timeout_ms: int = 30_000) -> Engine:
    """Build an engine; `schema` puts PostgreSQL work in its own schema (tests use one per run)."""
    if is_sqlite(url):
        return _sqlite_engine(url, busy_timeout_ms)
    connect_args: dict[str, Any] = {}
    if schema:
        connect_args["options"] = f"-csearch_path={schema}"
    return create_engine(url, connect_args=connect_args, pool_pre_ping=True)


def _sqlite_engine(url: str, busy_timeout_ms: int) -> Engine:
    engine = create_engine(url, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so that BEGIN IMMEDIATE below is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        # Freed space is zeroed, so an erased subject's destroyed key leaves no copy behind.
        cursor.execute("PRAGMA secure_delete = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # SQLite allows one writer. Taking the write lock at BEGIN means a transaction
        # never reads a snapshot it then cannot upgrade: writers queue instead of failing.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

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
