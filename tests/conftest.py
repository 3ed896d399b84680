"""Shared fixtures: a database built by the migrations (SQLite by default, PostgreSQL when
REFERRAL_TEST_DATABASE_URL is set, each run in its own schema), one rolled-back
transaction per test, a test clock, and factories."""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text
from sqlalchemy.orm import sessionmaker

from referral.authz.enforcer import Authorizer
from referral.config import PROJECT_ROOT, get_settings
from referral.db.engine import make_engine
from referral.db.migrate import alembic_config, upgrade
from referral.db.sealing import KEYRING_INFO
from referral.keyring import Keyring
from referral.security import configure_hashing
from referral.services.uow import Runtime
from referral.workflow.loader import load_workflows
from referral.workflow.machine import WorkflowEngine

# The suite's demo people sign in with their password alone, as `make run`'s do; the
# second factor's own tests name the roles that must have one.
os.environ.setdefault("REFERRAL_SECOND_FACTOR_ROLES", "[]")
PG_URL = get_settings().test_database_url
# A fixed master key for tests (synthetic data only); production keys come from settings.
TEST_MASTER_KEYS = "test-1:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
# And a fixed linkage key (services.linkage), held beside the master keys.
TEST_LINKAGE_KEY = "test-link:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
TEST_KEYRING = Keyring.from_config(TEST_MASTER_KEYS, None, linkage_key=TEST_LINKAGE_KEY)
POSTGRES_SKIP_REASON = "needs PostgreSQL: set REFERRAL_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test"


def pytest_configure(config: pytest.Config) -> None:
    # Sign-ins happen in many tests: cheap argon2 parameters keep them fast. Production
    # cost comes from settings (see referral.bootstrap); the algorithm is the same.
    configure_hashing(time_cost=1, memory_kib=1024, parallelism=1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if PG_URL:
        return
    skip = pytest.mark.skip(reason=POSTGRES_SKIP_REASON)
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # In CI a skipped test is a failure: it would hide an untested backend or browser.
    if os.environ.get("REFERRAL_TEST_FORBID_SKIPS") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(f"FAILED: {len(skipped)} test(s) skipped while skips are forbidden")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


class TestClock:
    """A clock tests move by hand. Starts on a Monday morning, UTC."""

    __test__ = False

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def create_schema(url: str, revision: str = "head") -> tuple[Engine, str]:
    """A schema of its own on PostgreSQL, migrated to `revision`."""
    schema = f"test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    engine = make_engine(url, schema=schema)
    upgrade(engine, revision)
    return engine, schema


def drop_schema(url: str, schema: str) -> None:
    admin = make_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@contextmanager
def database_at(tmp_path: Path, revision: str) -> Iterator[Engine]:
    """A database of its own migrated to `revision`: a PostgreSQL schema when the suite
    runs on PostgreSQL, a SQLite file otherwise (to test a migration from there)."""
    if PG_URL:
        engine, schema = create_schema(PG_URL, revision=revision)
        yield engine
        engine.dispose()
        drop_schema(PG_URL, schema)
        return
    engine = make_engine(f"sqlite:///{tmp_path / f'at-{revision}.sqlite3'}")
    upgrade(engine, revision)
    yield engine
    engine.dispose()


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate `engine`'s database down to `revision` (a migration's down path)."""
    config = alembic_config()
    with engine.connect() as connection, connection.begin():
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def index_columns(engine: Engine, table: str) -> dict[str, list[str]]:
    """Each index of `table`, by name: its columns, in order."""
    return {
        str(index["name"]): [str(column) for column in index["column_names"]]
        for index in inspect(engine).get_indexes(table)
    }


@pytest.fixture(scope="session")
def backend() -> str:
    return "postgresql" if PG_URL else "sqlite"


@pytest.fixture(scope="session")
def fresh_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A factory of empty, migrated databases that tests may commit to for real."""
    made: list[tuple[Engine, str | None]] = []

    def make() -> Engine:
        # The databases made before belong to tests that are done (or to the session's
        # migrated engine, which reconnects on demand): close their idle pooled
        # connections, so that a worker's pools do not add up to PostgreSQL's limit.
        for earlier, _ in made:
            earlier.dispose()
        if PG_URL:
            engine, schema = create_schema(PG_URL)
            made.append((engine, schema))
            return engine
        path = tmp_path_factory.mktemp("db") / "referral.sqlite3"
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        made.append((engine, None))
        return engine

    yield make
    for engine, schema in made:
        engine.dispose()
        if schema and PG_URL:
            drop_schema(PG_URL, schema)


@pytest.fixture(scope="session")
def migrated_engine(fresh_database: object) -> Engine:
    make = fresh_database
    return make()  # type: ignore[operator, no-any-return]


@pytest.fixture(scope="session")
def authz() -> Authorizer:
    return Authorizer(PROJECT_ROOT / "policies")


@pytest.fixture(scope="session")
def workflows() -> dict[str, object]:
    return load_workflows(PROJECT_ROOT / "workflows")  # type: ignore[return-value]


@pytest.fixture
def clock() -> TestClock:
    return TestClock()


@pytest.fixture
def runtime(
    migrated_engine: Engine, authz: Authorizer, workflows: dict[str, object], clock: TestClock
) -> Iterator[Runtime]:
    """A runtime whose every commit lands in one outer transaction, rolled back after the test."""
    connection = migrated_engine.connect()
    outer = connection.begin()
    factory = sessionmaker(
        bind=connection,
        join_transaction_mode="create_savepoint",
        expire_on_commit=False,
        info={KEYRING_INFO: TEST_KEYRING},
    )
    yield Runtime(factory, authz, workflows, WorkflowEngine(), clock)  # type: ignore[arg-type]
    outer.rollback()
    connection.close()


@pytest.fixture
def db_session(runtime: Runtime) -> Iterator[object]:
    with runtime.session_factory() as session:
        yield session


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT
