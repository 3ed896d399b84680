"""The second factor: TOTP codes (RFC 6238), single-use recovery codes, who must use them,
and the fresh code that break-glass and erasure ask for.

A user's TOTP secret is sealed with the current master key (AES-GCM, bound to the user's
id, the master key's id kept so that `referral keys rotate` re-wraps it), never stored or
logged in clear. Recovery codes are kept as argon2 hashes, like passwords, and shown once.
Each code counts once: the time step of the last TOTP code is remembered, and a recovery
code is marked used. A wrong code is a sign-in failure like a wrong password, so the same
throttle (per username, per client) stops anyone guessing codes.
"""

import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NoReturn

import pyotp
from sqlalchemy import delete, select, update

from referral.audit.chain import AuditRecord
from referral.authz.enforcer import Authorizer
from referral.config import Settings
from referral.db.sealing import data_keys
from referral.db.tables import RecoveryCode, RoleAssignment, SecondFactor, User, WebSession
from referral.domain.actors import Actor
from referral.domain.errors import InvalidInput
from referral.domain.vocabulary import Category, Role
from referral.i18n import N_
from referral.keyring import Keyring, second_factor_context
from referral.logging import get_logger
from referral.security import hash_password, verify_password
from referral.services import throttle
from referral.services.uow import UnitOfWork

log = get_logger(__name__)

ISSUER = "referral"
STEP_SECONDS = 30
# A code from the step before or after still counts: phone clocks drift, typing takes time.
DRIFT_STEPS = 1
RECOVERY_CODES = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread
# Why these reads are not scoped: a user's second factor belongs to no network.
USERS = "a user's second factor belongs to the user, in every network"
CODE_FIELD = "second_factor_code"
NO_FACTOR = N_(
    "this needs a second factor, and your account has none yet: sign out and in again to set one up"
)
WRONG_CODE = N_("the code is wrong, expired or used already; wait for the next one and try again")
APP_CODE_ONLY = N_(
    "enter the 6-digit code your authenticator app shows now: a recovery code will not do here"
)
STALE = N_(
    "confirm with a code from your authenticator app: this needs a second factor given "
    "within the last {minutes} minutes"
)


def required_roles(settings: Settings, authz: Authorizer) -> frozenset[Role]:
    """The roles that must use a second factor: the setting, or else every role the policy
    lets read special-category or criminal data (under any condition), plus dpo and admin."""
    if settings.second_factor_roles is not None:
        return frozenset(Role(role) for role in settings.second_factor_roles)
    sensitive = {str(Category.SPECIAL), str(Category.CRIMINAL)}
    readers = {
        rule.role
        for rule in authz.rules
        if rule.allows and rule.act == "read" and rule.obj in sensitive
    }
    return frozenset(readers | {Role.DPO, Role.ADMIN})


def roles_of(uow: UnitOfWork, user_id: int) -> frozenset[Role]:
    """A user's roles in every network: a duty in one is reason enough for the factor."""
    session = uow.unscoped(USERS)
    rows = session.scalars(select(RoleAssignment.role).where(RoleAssignment.user_id == user_id))
    return frozenset(Role(role) for role in rows)


def factor_of(uow: UnitOfWork, user_id: int) -> SecondFactor | None:
    session = uow.unscoped(USERS)
    return session.scalars(select(SecondFactor).where(SecondFactor.user_id == user_id)).first()


def enrolled(uow: UnitOfWork, user_id: int) -> bool:
    factor = factor_of(uow, user_id)
    return factor is not None and factor.confirmed_at is not None


def enrolled_among(uow: UnitOfWork, user_ids: list[int]) -> set[int]:
    """Which of these users have a confirmed second factor (the administrator's list)."""
    if not user_ids:
        return set()
    query = select(SecondFactor.user_id).where(
        SecondFactor.user_id.in_(user_ids), SecondFactor.confirmed_at.is_not(None)
    )
    return set(uow.unscoped(USERS).scalars(query))


# -- the secret ----------------------------------------------------------------------------


def _keyring(uow: UnitOfWork) -> Keyring:
    return data_keys(uow.unscoped(USERS)).keyring


def _secret(uow: UnitOfWork, factor: SecondFactor) -> str:
    raw = _keyring(uow).unwrap(
        factor.sealed_secret, factor.master_key_id, second_factor_context(factor.user_id)
    )
    return raw.decode()


def start_enrolment(uow: UnitOfWork, user_id: int) -> None:
    """A new, unconfirmed secret for a user who has none yet (kept if one waits already),
    in the caller's transaction."""
    if factor_of(uow, user_id) is not None:
        return
    keyring = _keyring(uow)
    secret = pyotp.random_base32()  # 160 bits, as RFC 4226 recommends
    sealed = keyring.wrap(secret.encode(), context=second_factor_context(user_id))
    uow.unscoped(USERS).add(
        SecondFactor(
            user_id=user_id,
            sealed_secret=sealed,
            master_key_id=keyring.current_id,
            created_at=uow.now,
        )
    )


@dataclass(frozen=True)
class Enrolment:
    """What an authenticator app needs: the otpauth:// address (the QR code) and the key to
    type by hand. Shown to the person enrolling only, never logged."""

    secret: str = field(repr=False)
    uri: str = field(repr=False)

    @property
    def grouped_secret(self) -> str:
        """The key in groups of four, easier to type."""
        return " ".join(self.secret[i : i + 4] for i in range(0, len(self.secret), 4))


def enrolment(uow: UnitOfWork, user_id: int) -> Enrolment | None:
    """The unconfirmed secret of a user enrolling; None if there is none (or it is in use)."""
    factor = factor_of(uow, user_id)
    if factor is None or factor.confirmed_at is not None:
        return None
    user = uow.unscoped(USERS).get(User, user_id)
    assert user is not None
    secret = _secret(uow, factor)
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)
    return Enrolment(secret, uri)


# -- codes ---------------------------------------------------------------------------------


def _step(now: datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def _totp_step(secret: str, code: str, now: datetime, after: int | None) -> int | None:
    """The time step `code` belongs to, near now and later than `after`; None if none."""
    totp = pyotp.TOTP(secret)
    current = _step(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if after is not None and step <= after:
            continue  # that code was used already: a replay
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def _normal(code: str) -> str:
    return "".join(code.split()).lower()


def _use_recovery_code(uow: UnitOfWork, user_id: int, code: str) -> bool:
    session = uow.unscoped(USERS)
    unused = session.scalars(
        select(RecoveryCode).where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    ).all()
    for row in unused:
        if verify_password(row.code_hash, code):
            row.used_at = uow.now
            return True
    return False


def use_code(uow: UnitOfWork, user_id: int, code: str) -> str | None:
    """Check a code of a confirmed factor and spend it, in the caller's transaction:
    'totp' or 'recovery' for the kind that matched, None if it matched nothing."""
    factor = factor_of(uow, user_id)
    code = _normal(code)
    if factor is None or factor.confirmed_at is None or not code:
        return None
    if code.isdigit() and len(code) == 6:
        step = _totp_step(_secret(uow, factor), code, uow.now, factor.last_step)
        if step is None:
            return None
        factor.last_step = step
        return "totp"
    return "recovery" if _use_recovery_code(uow, user_id, code) else None


def _recovery_code() -> str:
    chars = [secrets.choice(RECOVERY_ALPHABET) for _ in range(10)]
    return "".join(chars[:5]) + "-" + "".join(chars[5:])


def new_recovery_codes(uow: UnitOfWork, user_id: int) -> list[str]:
    """Replace a user's recovery codes: returns the new ones, to be shown once."""
    session = uow.unscoped(USERS)
    session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
        .values(used_at=uow.now)
    )
    codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
    session.add_all(
        RecoveryCode(user_id=user_id, code_hash=hash_password(_normal(c)), created_at=uow.now)
        for c in codes
    )
    return codes


def confirm(uow: UnitOfWork, user_id: int, code: str) -> list[str] | None:
    """Confirm an enrolment with its first code, in the caller's transaction: the recovery
    codes to show once, or None if the code does not match the waiting secret."""
    factor = factor_of(uow, user_id)
    if factor is None or factor.confirmed_at is not None:
        return None
    step = _totp_step(_secret(uow, factor), _normal(code), uow.now, None)
    if step is None:
        return None
    factor.confirmed_at = uow.now
    factor.last_step = step
    log.info("second_factor_enrolled", user_id=user_id)
    return new_recovery_codes(uow, user_id)


def begin(uow: UnitOfWork, actor: Actor) -> None:
    """Set a second factor up from the account page: a secret waits for its first code
    (nothing changes if one waits already or is in use)."""
    start_enrolment(uow, actor.user_id)
    uow.commit()


def confirm_for(uow: UnitOfWork, actor: Actor, code: str, session_token: str) -> list[str] | None:
    """Confirm the account page's enrolment with its first code: the recovery codes to
    show once, or None (nothing written) if the code does not match."""
    codes = confirm(uow, actor.user_id, code)
    if codes is None:
        return None
    _mark_fresh(uow, actor, session_token)
    uow.audit(
        AuditRecord(
            action="auth:second_factor_enrolled",
            allowed=True,
            actor=actor,
            target=f"user:{actor.user_id}",
        )
    )
    uow.commit()
    return codes


# -- a lost device: new recovery codes, and a reset -------------------------------------------


def renew_recovery_codes(uow: UnitOfWork, actor: Actor, offered: "Confirmation") -> list[str]:
    """A fresh set of recovery codes for a signed-in user, who re-authenticates with a
    current code from their app (a recovery code will not do: the old set may be what
    leaked). The old codes stop working in the same transaction; the new ones are shown
    once. Audited."""
    check_app_code(uow, actor, offered)
    codes = new_recovery_codes(uow, actor.user_id)
    uow.audit(
        AuditRecord(
            action="auth:recovery_codes_renewed",
            allowed=True,
            actor=actor,
            target=f"user:{actor.user_id}",
        )
    )
    uow.commit()
    log.info("recovery_codes_renewed", user_id=actor.user_id)
    return codes


def check_app_code(uow: UnitOfWork, actor: Actor, offered: "Confirmation") -> None:
    """Pass only on a current code from the actor's authenticator app, spent now (in the
    caller's transaction); refuse otherwise, as `require_fresh` does. A recovery code is
    refused: re-authenticating for new codes or a key rotation wants the device."""
    if not enrolled(uow, actor.user_id):
        _refuse(uow, actor, NO_FACTOR)
    code = _normal(offered.code)
    if not (code.isdigit() and len(code) == 6):
        _refuse(uow, actor, APP_CODE_ONLY)
    _spend_or_refuse(uow, actor, offered)


def remove(uow: UnitOfWork, user_id: int) -> bool:
    """Forget a user's second factor, its recovery codes and their web sessions, in the
    caller's transaction: their next sign-in enrols anew (when a role obliges them) or
    asks for the password only. False if they had none."""
    session = uow.unscoped(USERS)
    factor = factor_of(uow, user_id)
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    session.execute(delete(WebSession).where(WebSession.user_id == user_id))
    if factor is None:
        return False
    session.delete(factor)
    return True


# -- a fresh code for break-glass and erasure ------------------------------------------------


@dataclass(frozen=True)
class Confirmation:
    """What a person offers with an action that wants a fresh second factor: a code with
    the form (or the API's X-Second-Factor-Code header), or their web session, which
    remembers when it last gave one; with the settings that judge it."""

    code: str = field(default="", repr=False)
    session_token: str = field(default="", repr=False)
    client: str = ""
    fresh_minutes: int = 5
    required_roles: frozenset[Role] = frozenset()
    limits: throttle.Limits = field(default_factory=lambda: throttle.Limits(5, 20, 15))

    @classmethod
    def offered(
        cls, settings: Settings, authz: Authorizer, *, code: str, session_token: str, client: str
    ) -> "Confirmation":
        return cls(
            code=code,
            session_token=session_token,
            client=client,
            fresh_minutes=settings.second_factor_fresh_minutes,
            required_roles=required_roles(settings, authz),
            limits=throttle.Limits.of(settings),
        )


def require_fresh(uow: UnitOfWork, actor: Actor, offered: Confirmation | None) -> None:
    """Pass if the actor gave a second-factor code lately or gives one now; otherwise
    refuse, asking for a code. A user without a second factor passes only if no role of
    theirs must have one. In the caller's transaction, before its change: a wrong code
    counts toward the sign-in throttle, and once that is full no code is even checked."""
    offered = offered or Confirmation()
    if not enrolled(uow, actor.user_id):
        if actor.roles & offered.required_roles:
            _refuse(uow, actor, NO_FACTOR)
        return
    if offered.code.strip():
        _spend_or_refuse(uow, actor, offered)
        return
    if not _fresh(uow, actor, offered):
        _refuse(uow, actor, STALE, minutes=offered.fresh_minutes)


def _spend_or_refuse(uow: UnitOfWork, actor: Actor, offered: Confirmation) -> None:
    """Spend the offered code, or refuse it (counted toward the sign-in throttle; once
    that is full no code is even checked); a code that counts marks the session fresh."""
    user = uow.unscoped(USERS).get(User, actor.user_id)
    assert user is not None
    counted = throttle.keys(user.username, offered.client, offered.limits)
    limited = throttle.too_many_failures(uow, counted, offered.limits)
    if limited or use_code(uow, actor.user_id, offered.code) is None:
        throttle.record_failure(uow, counted)
        log.info("second_factor_refused", user_id=actor.user_id, rate_limited=limited)
        _refuse(uow, actor, WRONG_CODE)
    _mark_fresh(uow, actor, offered.session_token)


def sentence(error: InvalidInput) -> dict[str, str]:
    """A refusal's message as the code field's error: it says what to do."""
    return {CODE_FIELD: error.message[:1].upper() + error.message[1:] + "."}


def _refuse(uow: UnitOfWork, actor: Actor, message: str, **params: object) -> NoReturn:
    record = AuditRecord(
        action="auth:second_factor", allowed=False, actor=actor, target=f"user:{actor.user_id}"
    )
    field_error = N_("Enter the current code from your authenticator app.")
    uow.refuse(record, InvalidInput(message, {CODE_FIELD: field_error}, **params))


def _session_row(uow: UnitOfWork, actor: Actor, token: str) -> WebSession | None:
    if not token:
        return None
    query = select(WebSession).where(
        WebSession.token_hash == throttle.digest(token), WebSession.user_id == actor.user_id
    )
    return uow.unscoped(USERS).scalars(query).first()


def _fresh(uow: UnitOfWork, actor: Actor, offered: Confirmation) -> bool:
    row = _session_row(uow, actor, offered.session_token)
    if row is None or row.second_factor_at is None:
        return False
    return uow.now - row.second_factor_at <= timedelta(minutes=offered.fresh_minutes)


def _mark_fresh(uow: UnitOfWork, actor: Actor, token: str) -> None:
    row = _session_row(uow, actor, token)
    if row is not None:
        row.second_factor_at = uow.now
