"""After erasure the person is nowhere in the database's raw bytes: not in the SQLite
files (database, write-ahead log), not in a pg_dump; and no copy of their key is left."""

import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url

from referral.audit.verify import verify
from referral.authz.enforcer import Authorizer
from referral.db.engine import make_session_factory, reclaim_erased
from referral.db.tables import Case, DataKey, Subject
from referral.services.erasure import EraseSubject, erase_subject
from referral.services.uow import Runtime, UnitOfWork
from referral.workflow.machine import WorkflowEngine
from tests.conftest import PG_URL, TEST_KEYRING, TestClock
from tests.factories import closed_no_action, make_world
from tests.integration.test_erasure import BORN, FAMILY, NAME, named


def raw_bytes(engine: Engine) -> bytes:
    """Everything the database holds on disk (SQLite) or would hand over (pg_dump)."""
    if engine.dialect.name == "sqlite":
        path = Path(str(engine.url.database))
        files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
        return b"".join(f.read_bytes() for f in files if f.exists())
    with engine.connect() as connection:
        schema = connection.exec_driver_sql("SELECT current_schema()").scalar_one()
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.skip("needs pg_dump (Debian package postgresql-client)")
    url = make_url(str(PG_URL))
    server = ["-h", str(url.host or "127.0.0.1"), "-p", str(url.port or 5432)]
    who = ["-U", str(url.username), str(url.database)]
    dump = subprocess.run(
        [pg_dump, "--no-owner", f"--schema={schema}", *server, *who],
        capture_output=True,
        check=True,
        timeout=120,
    )
    return dump.stdout


def forms_of(wrapped: bytes, engine: Engine) -> bytes:
    """How the wrapped key appears in the raw bytes: itself, or hex in a dump."""
    return wrapped if engine.dialect.name == "sqlite" else wrapped.hex().encode()


def test_an_erased_person_is_nowhere_in_the_raw_database(
    fresh_database: object, authz: Authorizer, workflows: dict[str, object], clock: TestClock
) -> None:
    engine: Engine = fresh_database()  # type: ignore[operator]
    factory = make_session_factory(engine, TEST_KEYRING)
    runtime = Runtime(factory, authz, workflows, WorkflowEngine(), clock)  # type: ignore[arg-type]
    world = make_world(runtime)
    case_id = closed_no_action(world, **named())
    with UnitOfWork(runtime) as uow:
        subject = uow.session.scalars(select(Subject).order_by(Subject.id.desc())).first()
        assert subject is not None and subject.given_name == NAME
        subject_id = subject.id
        key = uow.session.get(DataKey, subject.data_key_id)
        assert key is not None and key.wrapped is not None
        wrapped = key.wrapped

    needles = [NAME.encode(), FAMILY.encode(), BORN.isoformat().encode()]
    before = raw_bytes(engine)
    assert forms_of(wrapped, engine) in before, "the scan must see the stored key"
    assert not [n for n in needles if n in before], "personal fields are sealed at rest"

    with UnitOfWork(runtime) as uow:
        erase_subject(uow, None, EraseSubject(subject_id, "Erasure request"))
    reclaim_erased(engine)

    after = raw_bytes(engine)
    assert forms_of(wrapped, engine) not in after, "no copy of the destroyed key remains"
    assert not [n for n in needles if n in after]
    with UnitOfWork(runtime) as uow:
        assert verify(uow.session).ok
        state = uow.session.execute(select(Case.state).where(Case.id == case_id)).scalar_one()
    assert state == "erased"  # the skeleton stays
