"""The second factor on the services: enrolment, codes that count once, secrets sealed,
and the fresh code break-glass and erasure want (SQLite and PostgreSQL)."""

from pathlib import Path

import pytest
from sqlalchemy import func, select

from referral.db.rotation import master_key_use, rotate_second_factors
from referral.db.tables import BreakGlassGrant, LoginFailure, RecoveryCode, SecondFactor
from referral.demo import DemoWorld
from referral.domain.errors import ConfigurationError, InvalidInput
from referral.domain.vocabulary import Category, Role
from referral.keyring import Keyring, second_factor_context
from referral.services import breakglass, second_factor
from referral.services.erasure import EraseCase, erase_case
from referral.services.second_factor import CODE_FIELD, Confirmation
from referral.services.uow import Runtime, UnitOfWork
from tests.conftest import TEST_MASTER_KEYS, TestClock
from tests.factories import (
    closed_no_action,
    enrol_second_factor,
    hide_from_coordinator,
    make_world,
    submit,
    totp_code,
)

WHY = "Imminent risk reported by the school this morning; need health context now."


@pytest.fixture
def world(runtime: Runtime) -> DemoWorld:
    return make_world(runtime)


def _use(runtime: Runtime, user_id: int, code: str) -> str | None:
    with UnitOfWork(runtime) as uow:
        used = second_factor.use_code(uow, user_id, code)
        uow.commit()
        return used


def test_enrolment_keeps_the_secret_sealed_and_the_recovery_codes_hashed(
    runtime: Runtime, world: DemoWorld
) -> None:
    user_id = world.actors["dpo"].user_id
    secret, codes = enrol_second_factor(runtime, user_id)
    assert len(codes) == 10 and len(set(codes)) == 10
    with runtime.session_factory() as session:
        factor = session.scalars(select(SecondFactor).where(SecondFactor.user_id == user_id)).one()
        hashes = session.scalars(
            select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user_id)
        ).all()
    assert factor.confirmed_at is not None
    assert secret.encode() not in factor.sealed_secret
    assert all(h.startswith("$argon2") for h in hashes)
    assert not set(codes) & set(hashes)


def test_a_totp_code_counts_once_and_a_wrong_one_never(
    runtime: Runtime, world: DemoWorld, clock: TestClock
) -> None:
    user_id = world.actors["dpo"].user_id
    secret, _ = enrol_second_factor(runtime, user_id)
    # The enrolment's own code was this step's: it cannot sign in again.
    assert _use(runtime, user_id, totp_code(secret, clock.now)) is None
    clock.advance(seconds=30)
    code = totp_code(secret, clock.now)
    assert _use(runtime, user_id, "000000" if code != "000000" else "111111") is None
    assert _use(runtime, user_id, code) == "totp"
    assert _use(runtime, user_id, code) is None  # replayed
    clock.advance(minutes=5)
    assert _use(runtime, user_id, code) is None  # and long expired


def test_a_recovery_code_signs_in_once(runtime: Runtime, world: DemoWorld) -> None:
    user_id = world.actors["coordinator"].user_id
    _, codes = enrol_second_factor(runtime, user_id)
    assert _use(runtime, user_id, f"  {codes[3].upper()} ") == "recovery"
    assert _use(runtime, user_id, codes[3]) is None
    assert _use(runtime, user_id, codes[4]) == "recovery"


def _break_glass(world: DemoWorld, case_id: int, offered: Confirmation | None) -> int:
    command = breakglass.OpenBreakGlass(case_id, Category.IDENTITY, WHY, 60, offered)
    return world.run("dpo", breakglass.open_break_glass, command)


def test_break_glass_wants_a_fresh_code_from_a_user_with_a_second_factor(
    runtime: Runtime, world: DemoWorld, clock: TestClock
) -> None:
    case_id = submit(world)
    secret, _ = enrol_second_factor(runtime, world.actors["dpo"].user_id)
    clock.advance(seconds=30)
    with pytest.raises(InvalidInput, match="confirm with a code") as refused:
        _break_glass(world, case_id, None)
    assert CODE_FIELD in refused.value.errors
    with pytest.raises(InvalidInput, match="wrong, expired or used"):
        _break_glass(world, case_id, Confirmation(code="12345x"))
    with runtime.session_factory() as session:
        # The wrong code counted toward the sign-in throttle, per user and per client.
        assert session.scalar(select(func.count()).select_from(LoginFailure)) == 2
        assert session.scalar(select(func.count()).select_from(BreakGlassGrant)) == 0
    grant = _break_glass(world, case_id, Confirmation(code=totp_code(secret, clock.now)))
    assert grant > 0


def test_a_full_throttle_refuses_even_the_right_code(
    runtime: Runtime, world: DemoWorld, clock: TestClock
) -> None:
    case_id = submit(world)
    secret, _ = enrol_second_factor(runtime, world.actors["dpo"].user_id)
    clock.advance(seconds=30)
    for _ in range(5):
        with pytest.raises(InvalidInput):
            _break_glass(world, case_id, Confirmation(code="999999x"))
    with pytest.raises(InvalidInput, match="wrong, expired or used"):
        _break_glass(world, case_id, Confirmation(code=totp_code(secret, clock.now)))


def test_a_role_that_must_have_a_second_factor_cannot_break_glass_without_one(
    world: DemoWorld, runtime: Runtime, tmp_path: Path
) -> None:
    case_id = submit(world)
    hide_from_coordinator(runtime, tmp_path / "policies", Category.SPECIAL)
    obliged = Confirmation(required_roles=frozenset({Role.COORDINATOR}))
    command = breakglass.OpenBreakGlass(case_id, Category.SPECIAL, WHY, 60, obliged)
    with pytest.raises(InvalidInput, match="has none yet"):
        world.run("coordinator", breakglass.open_break_glass, command)
    # Nobody obliged (the setting's []): the user without a factor breaks glass as before.
    command = breakglass.OpenBreakGlass(case_id, Category.SPECIAL, WHY, 60, Confirmation())
    assert world.run("coordinator", breakglass.open_break_glass, command) > 0


def test_erasure_wants_a_fresh_code(runtime: Runtime, world: DemoWorld, clock: TestClock) -> None:
    case_id = closed_no_action(world)
    secret, _ = enrol_second_factor(runtime, world.actors["dpo"].user_id)
    clock.advance(seconds=30)
    with pytest.raises(InvalidInput, match="confirm with a code"):
        world.run("dpo", erase_case, EraseCase(case_id, "asked"))
    confirmed = Confirmation(code=totp_code(secret, clock.now))
    moved = world.run("dpo", erase_case, EraseCase(case_id, "asked", confirmation=confirmed))
    assert moved.to_state == "erased"


def test_rotation_rewraps_the_secrets_with_the_current_master_key(
    runtime: Runtime, world: DemoWorld
) -> None:
    user_id = world.actors["dpo"].user_id
    secret, _ = enrol_second_factor(runtime, user_id)
    rotated = Keyring.from_config(f"{TEST_MASTER_KEYS},k2:{'B' * 43}=", "k2")
    with runtime.session_factory() as session, session.begin():
        assert rotate_second_factors(session, rotated) == 1
        assert rotate_second_factors(session, rotated) == 0  # nothing left on the old key
    with runtime.session_factory() as session:
        assert master_key_use(session).get("k2") == 1
        factor = session.scalars(select(SecondFactor).where(SecondFactor.user_id == user_id)).one()
    context = second_factor_context(user_id)
    assert rotated.unwrap(factor.sealed_secret, "k2", context).decode() == secret
    # Sealed for one user, the secret does not open as another's.
    with pytest.raises(ConfigurationError):
        rotated.unwrap(factor.sealed_secret, "k2", second_factor_context(user_id + 1))
