"""The second factor's pieces without a database: codes and their time steps, the sealing
context, who must have one, the setting, and the QR code the enrolment page shows."""

from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pyotp
import pytest
from pydantic import ValidationError

from referral.authz.enforcer import Authorizer
from referral.config import Settings
from referral.domain.errors import ConfigurationError
from referral.domain.vocabulary import Role
from referral.keyring import Keyring, second_factor_context
from referral.services.second_factor import _totp_step, required_roles
from referral.web.controllers.second_factor import qr_image

SECRET = pyotp.random_base32()
NOW = datetime(2026, 3, 2, 9, 0, 10, tzinfo=UTC)
STEP = int(NOW.timestamp()) // 30


def _code(at: datetime) -> str:
    return str(pyotp.TOTP(SECRET).at(at))


def test_a_code_of_the_step_before_or_after_counts_and_nothing_further() -> None:
    assert _totp_step(SECRET, _code(NOW), NOW, None) == STEP
    assert _totp_step(SECRET, _code(NOW - timedelta(seconds=30)), NOW, None) == STEP - 1
    assert _totp_step(SECRET, _code(NOW + timedelta(seconds=30)), NOW, None) == STEP + 1
    assert _totp_step(SECRET, _code(NOW - timedelta(seconds=90)), NOW, None) is None


def test_a_code_of_a_step_already_used_is_a_replay() -> None:
    assert _totp_step(SECRET, _code(NOW), NOW, STEP) is None
    assert _totp_step(SECRET, _code(NOW + timedelta(seconds=30)), NOW, STEP) == STEP + 1


def test_a_sealed_secret_opens_only_for_its_own_user() -> None:
    keyring = Keyring.from_config(f"k1:{'A' * 43}=", None)
    sealed = keyring.wrap(SECRET.encode(), context=second_factor_context(7))
    assert SECRET.encode() not in sealed
    assert keyring.unwrap(sealed, "k1", second_factor_context(7)).decode() == SECRET
    with pytest.raises(ConfigurationError):
        keyring.unwrap(sealed, "k1", second_factor_context(8))
    with pytest.raises(ConfigurationError):
        keyring.unwrap(sealed, "k1")  # nor as a subject's data key


def test_the_policy_names_the_roles_that_read_special_or_criminal_data(
    authz: Authorizer,
) -> None:
    roles = required_roles(Settings(second_factor_roles=None), authz)
    expected = {"coordinator", "screener", "panel_member", "panel_chair", "provider"}
    expected |= {"invited_official"}  # a summoned police or health official reads them too
    assert roles == {Role(r) for r in expected} | {Role.DPO, Role.ADMIN}
    assert required_roles(Settings(second_factor_roles=()), authz) == frozenset()


def test_the_setting_takes_known_roles_and_reads_blank_as_the_policys() -> None:
    assert Settings(second_factor_roles=("dpo",)).second_factor_roles == ("dpo",)
    assert Settings(second_factor_roles=" ").second_factor_roles is None  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="unknown role"):
        Settings(second_factor_roles=("dpo", "superuser"))


def test_the_qr_code_is_an_svg_image_with_no_script_or_inline_style() -> None:
    uri = pyotp.TOTP(SECRET).provisioning_uri(name="dpo", issuer_name="referral")
    image = qr_image(uri)
    assert image.startswith("data:image/svg+xml")
    svg = unquote(image.split(",", 1)[1])
    assert svg.startswith("<svg") and "<path" in svg
    assert "<script" not in svg and "style=" not in svg
