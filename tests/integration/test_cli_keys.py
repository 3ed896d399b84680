"""`referral keys rotate`, `referral subjects erase` and `referral retention run`, as an
operator runs them against a SQLite file."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from referral.authz.enforcer import Authorizer
from referral.db.engine import make_engine, make_session_factory
from referral.db.migrate import upgrade
from referral.db.tables import AuditEntry, Case, DataKey, SecondFactor, Subject, User
from referral.domain.errors import ConfigurationError
from referral.keyring import Keyring, new_master_key
from referral.services.uow import Runtime, UnitOfWork
from referral.workflow.machine import WorkflowEngine
from tests.conftest import TEST_KEYRING, TEST_MASTER_KEYS, TestClock
from tests.factories import (
    closed_no_action,
    enrol_second_factor,
    make_world,
    subject_of,
    submit,
    totp_code,
)
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


def _admin_with_second_factor(runtime: Runtime) -> str:
    """The demo network's administrator enrols; the TOTP secret."""
    with UnitOfWork(runtime) as uow:
        user_id = uow.session.scalar(select(User.id).where(User.username == "admin"))
    assert user_id is not None
    return enrol_second_factor(runtime, user_id)[0]


def _now_code(secret: str, steps_later: int = 0) -> str:
    """The app's code on the real clock, which the command runs on."""
    return totp_code(secret, datetime.now(UTC), steps_later)


def test_rotation_rewraps_every_key_so_the_old_master_key_can_go(
    database: tuple[dict[str, str], Runtime, dict[str, int]],
) -> None:
    env, runtime, _ = database
    secret = _admin_with_second_factor(runtime)
    both = {**env, "REFERRAL_MASTER_KEYS": f"{TEST_MASTER_KEYS},{NEW_KEY}"}
    code = ["--as", "admin", "--code", _now_code(secret)]
    result = referral("keys", "rotate", *code, env={**both, "REFERRAL_MASTER_KEY_ID": "k2"})
    assert result.returncode == 0, result.stderr
    assert "2 data keys re-wrapped with master key k2" in result.stdout
    assert "1 second-factor secrets re-wrapped" in result.stdout
    assert "test-1" in result.stdout and "may be retired" in result.stdout
    assert "rotated by admin" in result.stdout
    with runtime.session_factory() as session:
        entry = session.execute(
            select(AuditEntry.actor_user_id, AuditEntry.target, AuditEntry.allowed).where(
                AuditEntry.action == "keys:rotate"
            )
        ).one()
        admin_id = session.scalar(select(User.id).where(User.username == "admin"))
    assert tuple(entry) == (admin_id, "master_key:k2", True)

    only_new = Keyring.from_config(NEW_KEY, None)
    assert given_names(env["REFERRAL_DATABASE_URL"], only_new) == ["Testy", "Testy"]
    with pytest.raises(ConfigurationError, match="k2"):
        given_names(env["REFERRAL_DATABASE_URL"], TEST_KEYRING)
    # The code comes from the environment too (scripts); the same code twice is a replay.
    replay = {**both, "REFERRAL_MASTER_KEY_ID": "k2", "REFERRAL_SECOND_FACTOR_CODE": code[3]}
    replayed = referral("keys", "rotate", "--as", "admin", env=replay)
    assert replayed.returncode == 1 and "the code is wrong" in replayed.stderr
    fresh = {**replay, "REFERRAL_SECOND_FACTOR_CODE": _now_code(secret, 1)}
    again = referral("keys", "rotate", "--as", "admin", env=fresh)
    assert again.returncode == 0, again.stderr
    assert "0 data keys re-wrapped" in again.stdout


def test_rotation_wants_an_administrator_with_a_current_code(
    database: tuple[dict[str, str], Runtime, dict[str, int]],
) -> None:
    env, runtime, _ = database
    both = {**env, "REFERRAL_MASTER_KEYS": f"{TEST_MASTER_KEYS},{NEW_KEY}"}
    rotate_env = {**both, "REFERRAL_MASTER_KEY_ID": "k2"}
    nobody = referral("keys", "rotate", env=rotate_env)
    assert nobody.returncode == 2 and "--as" in nobody.stderr
    for who, message in (
        ("coordinator", "is no administrator of network 'demo-city'"),
        ("admin", "has no second factor"),
        ("ghost", "no active user 'ghost'"),
    ):
        refused = referral("keys", "rotate", "--as", who, "--code", "123456", env=rotate_env)
        assert refused.returncode == 1 and message in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
    secret = _admin_with_second_factor(runtime)
    recovery = referral("keys", "rotate", "--as", "admin", "--code", "abcde-fghij", env=rotate_env)
    assert recovery.returncode == 1 and "recovery code will not do" in recovery.stderr
    # Without --code the command asks for it (input hidden), as a person at a terminal.
    asked = referral("keys", "rotate", "--as", "admin", env=rotate_env, input="000000\n")
    if _now_code(secret) != "000000":
        assert asked.returncode == 1 and "the code is wrong" in asked.stderr
    with runtime.session_factory() as session:
        keys = session.scalars(select(DataKey.master_key_id)).all()
        refusals = session.scalars(
            select(AuditEntry.action).where(AuditEntry.action == "auth:second_factor")
        ).all()
    assert set(keys) == {"test-1"}  # nothing was rotated
    assert len(refusals) >= 2  # a wrong code is audited as a refusal


def test_rotation_refuses_a_current_key_that_is_not_configured(
    database: tuple[dict[str, str], Runtime, dict[str, int]],
) -> None:
    env, _, _ = database
    k9 = {**env, "REFERRAL_MASTER_KEY_ID": "k9"}
    result = referral("keys", "rotate", "--as", "admin", "--code", "123456", env=k9)
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


def test_the_operator_resets_a_lost_second_factor_from_the_command_line(
    database: tuple[dict[str, str], Runtime, dict[str, int]],
) -> None:
    env, runtime, _ = database
    _admin_with_second_factor(runtime)
    args = ("users", "reset-second-factor", "admin")
    elsewhere = referral(*args, "--network", "nowhere", env=env)
    assert elsewhere.returncode == 1 and "no network 'nowhere'" in elsewhere.stderr
    done = referral(*args, "--network", "demo-city", env=env)
    assert done.returncode == 0, done.stderr
    assert "the second factor of admin (demo-city) was reset" in done.stdout
    again = referral(*args, "--network", "demo-city", env=env)
    assert again.returncode == 1 and "has no second factor to reset" in again.stderr
    with runtime.session_factory() as session:
        factors = session.scalars(select(SecondFactor.id)).all()
        entries = session.execute(
            select(AuditEntry.actor_user_id, AuditEntry.actor_role).where(
                AuditEntry.action == "admin:second_factor_reset"
            )
        ).all()
    assert factors == []
    assert [tuple(e) for e in entries] == [(0, "system")]
