"""The sign-in throttle: failures per username and per client address within a window.

Wrong passwords and wrong second-factor codes both count, so guessing either stops at
the same limits. Keys are digests: no username or address is stored in clear.
"""

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

from referral.config import Settings
from referral.db.tables import LoginFailure
from referral.services.uow import UnitOfWork

# Why the throttle is not scoped: it counts before anyone is signed in to a network.
BEFORE_SIGN_IN = "sign-in failures are counted before a network is chosen"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Limits:
    per_user: int
    per_client: int
    window_minutes: int

    @classmethod
    def of(cls, settings: Settings) -> "Limits":
        return cls(
            settings.login_max_failures,
            settings.login_max_failures_per_client,
            settings.login_window_minutes,
        )


def keys(username: str, client: str, limits: Limits) -> dict[str, int]:
    """Each throttle key with its limit."""
    return {
        f"user:{digest(username.strip().lower())}": limits.per_user,
        f"client:{digest(client)}": limits.per_client,
    }


def too_many_failures(uow: UnitOfWork, counted: dict[str, int], limits: Limits) -> bool:
    since = uow.now - timedelta(minutes=limits.window_minutes)
    for key, limit in counted.items():
        count = uow.unscoped(BEFORE_SIGN_IN).scalar(
            select(func.count())
            .select_from(LoginFailure)
            .where(LoginFailure.key == key, LoginFailure.at >= since)
        )
        if (count or 0) >= limit:
            return True
    return False


def record_failure(uow: UnitOfWork, counted: dict[str, int]) -> None:
    """Count one failure under each key, committed now: the refusal that follows rolls
    back everything else."""
    uow.rollback()
    session = uow.unscoped(BEFORE_SIGN_IN)
    session.add_all(LoginFailure(key=key, at=uow.now) for key in counted)
    session.commit()
