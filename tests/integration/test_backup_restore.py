"""The restore drill, on the suite's database (SQLite, or PostgreSQL with pg_dump): a
backup older than the newest checkpoint is reported as a rollback, a current one
verifies, a tampered one fails naming the entry; no backup holds a key; a restore never
writes over a database that holds anything."""

import base64
import json
import os
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.engine import make_url

from referral.audit import checkpoint as checkpoints
from referral.db.engine import make_engine, make_session_factory
from referral.db.migrate import upgrade
from referral.db.tables import DataKey
from referral.services.uow import Runtime
from referral.workflow.machine import WorkflowEngine
from tests.conftest import PG_URL, TEST_KEYRING
from tests.factories import make_world, schedule, to_awaiting_panel, to_support
from tests.integration.conftest import referral
from tests.integration.test_audit_chain import drop_protection

PRIVATE, PUBLIC = checkpoints.new_key_pair()
NewDatabase = Callable[[], str]


@pytest.fixture
def new_database(tmp_path: Path) -> Iterator[NewDatabase]:
    """Empty databases of their own: PostgreSQL databases (a backup is of a whole
    database), or SQLite files that do not exist yet."""
    made: list[str] = []

    def make() -> str:
        if not PG_URL:
            return f"sqlite:///{tmp_path / f'{uuid.uuid4().hex[:8]}.sqlite3'}"
        name = f"referral_bk_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        admin = make_engine(PG_URL)
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
        made.append(name)
        return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)

    yield make
    if made:
        admin = make_engine(str(PG_URL))
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for name in made:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def live(
    new_database: NewDatabase, authz: object, workflows: object, clock: object
) -> Iterator[tuple[str, Runtime, Engine]]:
    """The deployment's database, migrated, with a runtime that commits for real."""
    url = new_database()
    engine = make_engine(url)
    upgrade(engine)
    factory = make_session_factory(engine, TEST_KEYRING)
    yield url, Runtime(factory, authz, workflows, WorkflowEngine(), clock), engine  # type: ignore[arg-type]
    engine.dispose()


def env_for(url: str, **more: str) -> dict[str, str]:
    return {
        "REFERRAL_DATABASE_URL": url,
        "REFERRAL_LOG_LEVEL": "WARNING",
        "REFERRAL_AUDIT_SIGNING_KEY": PRIVATE,
        "REFERRAL_AUDIT_VERIFY_KEY": "",
        **more,
    }


def back_up(url: str, out: Path) -> None:
    result = referral("backup", "--out", str(out), env=env_for(url))
    assert result.returncode == 0, result.stderr
    assert "keys are not in the backup" in result.stdout


def restore(
    live_url: str, file: Path, into: str | None, *more: str
) -> subprocess.CompletedProcess[str]:
    target = ["--into", into] if into else []
    return referral("restore", str(file), *target, *more, env=env_for(live_url))


def checkpoint(url: str, out: Path) -> None:
    taken = referral("audit", "checkpoint", "--out", str(out), env=env_for(url))
    assert taken.returncode == 0, taken.stderr


def target_for(new_database: NewDatabase) -> str | None:
    """Where to restore: a new PostgreSQL database; SQLite's default, beside the file."""
    return new_database() if PG_URL else None


def test_restore_drill_finds_the_rollback_and_passes_a_current_backup(
    live: tuple[str, Runtime, Engine], new_database: NewDatabase, tmp_path: Path
) -> None:
    url, runtime, _ = live
    world = make_world(runtime)
    meeting = schedule(world, runtime)
    to_awaiting_panel(world)
    kept = tmp_path / "checkpoints"
    kept.mkdir()
    checkpoint(url, kept / "0.json")  # older than the backup: not the one to compare with
    old = tmp_path / "old.backup"
    back_up(url, old)

    to_support(world, meeting)  # more data, then the newest checkpoint the deployment keeps
    checkpoint(url, kept / "1.json")
    current = tmp_path / "current.backup"
    back_up(url, current)

    rolled_back = restore(url, old, target_for(new_database), "--verify", "--checkpoint", str(kept))
    assert rolled_back.returncode == 1
    assert "ROLLBACK: this backup is older than the checkpoint of" in rolled_back.stderr
    assert "entries the deployment had already recorded" in rolled_back.stderr

    verified = restore(
        url, current, target_for(new_database), "--verify", "--checkpoint", str(kept)
    )
    assert verified.returncode == 0, verified.stderr
    assert "audit chain verified" in verified.stdout
    assert "holds the checkpoint of" in verified.stdout


def tamper(url: str, engine: Engine, backup: Path) -> None:
    """Alter audit entry 5 of the world's chain in the backup: in the SQLite file itself;
    for PostgreSQL, in the database the archive is then dumped from (as someone would
    restore, edit and dump again)."""
    edit = "UPDATE audit_log SET categories = 'identity' WHERE chain = 'network:1' AND seq = 5"
    if not PG_URL:
        back_up(url, backup)
        with sqlite3.connect(backup) as connection:
            connection.execute("DROP TRIGGER audit_log_no_update")
            connection.execute(edit)
        connection.close()
        return
    drop_protection(engine, "postgresql")
    with engine.begin() as connection:
        connection.execute(text(edit))
    back_up(url, backup)


def test_a_tampered_backup_fails_verification_naming_the_entry(
    live: tuple[str, Runtime, Engine], new_database: NewDatabase, tmp_path: Path
) -> None:
    url, runtime, engine = live
    world = make_world(runtime)
    to_awaiting_panel(world)
    assert referral("audit", "sequence", env=env_for(url)).returncode == 0
    backup = tmp_path / "tampered.backup"
    tamper(url, engine, backup)
    result = restore(url, backup, target_for(new_database), "--verify")
    assert result.returncode == 1
    assert "chain network:1, entry 5: entry 5 was altered" in result.stderr
    assert "do not serve it" in result.stderr


def test_an_altered_checkpoint_is_refused_before_anything_is_restored(
    live: tuple[str, Runtime, Engine], new_database: NewDatabase, tmp_path: Path
) -> None:
    url, runtime, _ = live
    make_world(runtime)
    backup = tmp_path / "fine.backup"
    back_up(url, backup)
    kept = tmp_path / "checkpoints"
    kept.mkdir()
    checkpoint(url, kept / "1.json")
    altered = kept / "2.json"
    document = json.loads((kept / "1.json").read_text())
    document["heads"][0]["seq"] += 1000  # a later-looking head nobody signed
    altered.write_text(json.dumps(document))
    into = target_for(new_database)
    result = restore(url, backup, into, "--verify", "--checkpoint", str(kept))
    assert result.returncode == 1
    assert f"{altered}: checkpoint refused: its signature does not match" in result.stderr
    if into is None:
        assert not (tmp_path / "fine.restored.sqlite3").exists()
    else:
        engine = make_engine(into)
        assert inspect(engine).get_table_names() == []
        engine.dispose()


def restorable_bytes(backup: Path) -> bytes:
    """What the backup holds: the SQLite file as it lies, or what pg_restore would load."""
    if not PG_URL:
        return backup.read_bytes()
    pg_restore = shutil.which("pg_restore")
    assert pg_restore is not None, "PostgreSQL's client tools are needed (postgresql-client)"
    return subprocess.run(
        [pg_restore, "--file=-", str(backup)], capture_output=True, check=True, timeout=120
    ).stdout


def test_a_backup_holds_no_key_material(live: tuple[str, Runtime, Engine], tmp_path: Path) -> None:
    url, runtime, _ = live
    to_awaiting_panel(make_world(runtime))
    with runtime.session_factory() as session:
        wrapped = session.scalars(select(DataKey.wrapped).where(DataKey.wrapped.is_not(None)))
        stored = next(iter(wrapped))
    assert stored is not None
    backup = tmp_path / "keys.backup"
    back_up(url, backup)
    held = restorable_bytes(backup)
    assert (stored if not PG_URL else stored.hex().encode()) in held, "the scan sees the data"
    signing = checkpoints.private_key(PRIVATE).private_bytes_raw()
    for raw in [*TEST_KEYRING.master_keys.values(), signing]:
        secret_forms = [raw, raw.hex().encode(), base64.b64encode(raw)]
        assert not [form for form in secret_forms if form in held]


def test_backup_refuses_a_database_that_holds_a_master_key(
    live: tuple[str, Runtime, Engine], tmp_path: Path
) -> None:
    url, runtime, engine = live
    make_world(runtime)
    planted = TEST_KEYRING.master_keys["test-1"]
    with engine.begin() as connection:  # pasted into a free-text field by mistake
        connection.execute(
            text("INSERT INTO network_holidays (network_id, day, label) VALUES (1, :d, :k)"),
            {"d": "2026-12-25", "k": base64.b64encode(planted).decode()},
        )
    folder = tmp_path / "backups"
    result = referral("backup", "--out", str(folder / "refused.backup"), env=env_for(url))
    assert result.returncode == 1
    assert "backup refused: the database holds key material (master key test-1)" in result.stderr
    assert list(folder.iterdir()) == [], "nothing is left behind"


def test_restore_never_writes_over_a_database_that_holds_anything(
    live: tuple[str, Runtime, Engine], new_database: NewDatabase, tmp_path: Path
) -> None:
    url, runtime, _ = live
    make_world(runtime)
    backup = tmp_path / "one.backup"
    back_up(url, backup)
    over_live = restore(url, backup, url)
    assert over_live.returncode == 1
    assert "--into names the live database" in over_live.stderr

    other = new_database()
    other_engine = make_engine(other)
    upgrade(other_engine)
    other_engine.dispose()
    over_other = restore(url, backup, other)
    assert over_other.returncode == 1
    assert "a backup is restored into a new database only" in over_other.stderr


@pytest.mark.postgres
def test_backup_without_pg_dump_names_what_is_missing(
    live: tuple[str, Runtime, Engine], tmp_path: Path
) -> None:
    url, _, _ = live
    out = tmp_path / "none.backup"
    result = referral("backup", "--out", str(out), env=env_for(url, PATH=str(tmp_path)))
    assert result.returncode == 1
    assert "pg_dump is not on PATH" in result.stderr
    assert "apt-get install postgresql-client-" in result.stderr
    assert "docs/operations.md#backup-and-restore" in result.stderr
    assert not out.exists()
