"""`referral keys rotate`, `referral subjects erase` and `referral retention run`, as an
operator runs them against a SQLite file."""

from pathlib import Path

import pytest
from sqlalchemy import select

from referral.authz.enforcer import Authorizer
from referral.db.engine import make_engine, make_session_factory
from referral.db.migrate import upgrade
from referral.db.tables import Case, DataKey, Subject
from referral.domain.errors import ConfigurationError
from referral.keyring import Keyring, new_master_key
from referral.services.uow import Runtime, UnitOfWork
from referral.workflow.machine import WorkflowEngine
from tests.conftest import TEST_KEYRING, TEST_MASTER_KEYS, TestClock
from tests.factories import closed_no_action, make_world, subject_of, submit
from tests.integration.test_cli import referral

NEW_KEY = f"k2:{new_master_key()}"


@pytest.fixture
def database(
    tmp_path: Path, authz: Authorizer, workflows: dict[str, object], clock: TestClock
) -> tuple[dict[str, str], Runtime, dict[str, int]]:
    """A SQLite file with one open case and one closed one, sealed under test-1."""
    url = f"sqlite:///{tmp_path / 'keys.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    runtime = Runtime(
        make_session_factory(engine, TEST_KEYRING),
        authz,
        workflows,  # type: ignore[arg-type]
        WorkflowEngine(),
        clock,
    )
    world = make_world(runtime)
    ids = {"open": submit(world), "closed": closed_no_action(world)}
    return {"REFERRAL_DATABASE_URL": url, "REFERRAL_LOG_LEVEL": "WARNING"}, runtime, ids


def given_names(engine_url: str, keyring: Keyring) -> list[str]:
    factory = make_session_factory(make_engine(engine_url), keyring)
    with factory() as session:
        return [s.given_name for s in session.scalars(select(Subject).order_by(Subject.id))]


def test_rotation_rewraps_every_key_so_the_old_master_key_can_go(
    database: tuple[dict[str, str], Runtime, dict[str, int]],
) -> None:
    env, _, _ = database
    both = {**env, "REFERRAL_MASTER_KEYS": f"{TEST_MASTER_KEYS},{NEW_KEY}"}
    result = referral("keys", "rotate", env={**both, "REFERRAL_MASTER_KEY_ID": "k2"})
    assert result.returncode == 0, result.stderr
    assert "2 data keys re-wrapped with master key k2" in result.stdout
    assert "test-1" in result.stdout and "may be retired" in result.stdout

    only_new = Keyring.from_config(NEW_KEY, None)
    assert given_names(env["REFERRAL_DATABASE_URL"], only_new) == ["Testy", "Testy"]
    with pytest.raises(ConfigurationError, match="k2"):
        given_names(env["REFERRAL_DATABASE_URL"], TEST_KEYRING)
    again = referral("keys", "rotate", env={**both, "REFERRAL_MASTER_KEY_ID": "k2"})
    assert "0 data keys re-wrapped" in again.stdout


def test_rotation_refuses_a_current_key_that_is_not_configured(
    database: tuple[dict[str, str], Runtime, dict[str, int]],
) -> None:
    env, _, _ = database
    result = referral("keys", "rotate", env={**env, "REFERRAL_MASTER_KEY_ID": "k9"})
    assert result.returncode == 1
    assert "REFERRAL_MASTER_KEY_ID is 'k9'" in result.stderr
    assert "Traceback" not in result.stderr


def test_subjects_erase_erases_once_and_refuses_open_cases_and_unknown_people(
    database: tuple[dict[str, str], Runtime, dict[str, int]],
) -> None:
    env, runtime, ids = database
    closed, still_open = subject_of(runtime, ids["closed"]), subject_of(runtime, ids["open"])
    result = referral("subjects", "erase", str(closed), "--reason", "Request R-17", env=env)
    assert result.returncode == 0, result.stderr
    assert f"subject {closed} erased (cases: {ids['closed']})" in result.stdout
    assert given_names(env["REFERRAL_DATABASE_URL"], TEST_KEYRING) == ["Testy", "erased"]

    for args, message in (
        ([str(closed)], "already erased"),
        ([str(still_open)], "still open"),
        (["999"], "subject 999 not found"),
    ):
        refused = referral("subjects", "erase", *args, "--reason", "R-18", env=env)
        assert refused.returncode == 1 and message in refused.stderr, refused.stderr
    missing_reason = referral("subjects", "erase", str(still_open), env=env)
    assert missing_reason.returncode == 2 and "--reason" in missing_reason.stderr


def test_retention_run_lists_then_erases_then_has_nothing_left(
    database: tuple[dict[str, str], Runtime, dict[str, int]],
) -> None:
    env, runtime, ids = database
    # The case closed on the test clock (March 2026); the CLI runs on the real clock, which
    # is later, so a one-month rule has run out. A rule for another state erases nothing.
    other = referral("retention", "run", env={**env, "REFERRAL_RETENTION_MONTHS": '{"closed": 1}'})
    assert other.returncode == 0 and "erased 0 cases" in other.stdout
    rules = {**env, "REFERRAL_RETENTION_MONTHS": '{"closed_no_action": 1}'}
    with UnitOfWork(runtime) as uow:
        key_id = uow.session.scalar(
            select(Subject.data_key_id).join(Case).where(Case.id == ids["closed"])
        )
    dry = referral("retention", "run", "--dry-run", env=rules)
    assert dry.returncode == 0 and f"would erase 1 cases: {ids['closed']}" in dry.stdout
    run = referral("retention", "run", env=rules)
    assert run.returncode == 0, run.stderr
    assert f"erased 1 cases: {ids['closed']}" in run.stdout
    assert "destroyed the data keys of 1 subjects" in run.stdout
    again = referral("retention", "run", env=rules)
    assert "erased 0 cases: none" in again.stdout
    with UnitOfWork(runtime) as uow:
        key = uow.session.get(DataKey, key_id)
        assert key is not None and key.wrapped is None
