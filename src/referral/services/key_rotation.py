"""Master key rotation as an operator's act: `referral keys rotate --as USERNAME`.

Rotation re-wraps every data key and sealed secret the current master key does not wrap
yet (referral.db.rotation). It changes no one's data, but it is the moment the keys that
open everyone's data are handled, so the issue asks for the second factor there as for
break-glass and erasure: the operator names themselves, an administrator of a network
who has a second factor, and gives a current code from their app. The rotation is
recorded in the audit log with them as actor, in the transaction that re-wraps the keys.
"""

from dataclasses import dataclass

from referral.audit.chain import AuditRecord
from referral.db.rotation import (
    master_key_use,
    rotate_data_keys,
    rotate_second_factors,
    rotate_webhook_secrets,
)
from referral.db.sealing import data_keys
from referral.domain.actors import Actor
from referral.domain.errors import InvalidInput
from referral.domain.vocabulary import Role
from referral.i18n import N_
from referral.services import second_factor
from referral.services.auth import actor_by_username
from referral.services.uow import UnitOfWork

# Why the rotation's statements are not scoped: the keys serve every network.
EVERY_NETWORK = "master keys wrap the data keys of every network"
NOT_ADMIN = N_(
    "user '{username}' is no administrator of network '{network}': key rotation is run "
    "by an administrator (--as USERNAME, --network SLUG if they hold roles in several)"
)
NO_FACTOR = N_(
    "user '{username}' has no second factor: key rotation asks for one; they set it up "
    "on their account page first"
)


@dataclass(frozen=True)
class Rotated:
    data_keys: int
    second_factors: int
    webhook_secrets: int
    master_key_id: str
    use: dict[str, int]  # master key id -> what it still wraps


def operator(uow: UnitOfWork, username: str, network: str | None) -> Actor:
    """The administrator who runs the rotation; InvalidInput saying why not otherwise."""
    actor = actor_by_username(uow, username, network)
    if Role.ADMIN not in actor.roles:
        raise InvalidInput(NOT_ADMIN, username=username, network=actor.network)
    if not second_factor.enrolled(uow, actor.user_id):
        raise InvalidInput(NO_FACTOR, username=username)
    return actor


def rotate(uow: UnitOfWork, actor: Actor, offered: second_factor.Confirmation) -> Rotated:
    """Check the operator's current app code (a wrong one is refused, counted and audited
    like any other), then re-wrap everything with the current master key and record who
    did it, in one transaction."""
    second_factor.check_app_code(uow, actor, offered)
    session = uow.unscoped(EVERY_NETWORK)
    keyring = data_keys(session).keyring
    rotated = (
        rotate_data_keys(session, keyring),
        rotate_second_factors(session, keyring),
        rotate_webhook_secrets(session, keyring),
    )
    change = dict(zip(("data_keys", "second_factors", "webhook_secrets"), rotated, strict=True))
    uow.audit(
        AuditRecord(
            action="keys:rotate",
            allowed=True,
            actor=actor,
            target=f"master_key:{keyring.current_id}",
            change=change,
        )
    )
    uow.commit()
    return Rotated(*rotated, master_key_id=keyring.current_id, use=master_key_use(session))
