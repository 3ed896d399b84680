"""Master key rotation: re-wrap every live data key with the current master key.

Only the small wrapped keys change; no sealed field is touched, so rotation takes
seconds even for a large database. Destroyed keys stay destroyed. The users' sealed TOTP
secrets and the webhooks' sealed signing secrets are re-wrapped the same way.
"""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from referral.db.tables import DataKey, SecondFactor, WebhookEndpoint
from referral.keyring import Keyring, second_factor_context, webhook_secret_context

BATCH = 1000


def rotate_data_keys(session: Session, keyring: Keyring) -> int:
    """Re-wrap, in the caller's transaction, the keys not wrapped by the current master key."""
    keyring.require()
    stale = (
        select(DataKey)
        .where(DataKey.wrapped.is_not(None), DataKey.master_key_id != keyring.current_id)
        .order_by(DataKey.id)
        .execution_options(yield_per=BATCH)
    )
    count = 0
    for key in session.scalars(stale):
        assert key.wrapped is not None
        key.wrapped = keyring.wrap(keyring.unwrap(key.wrapped, key.master_key_id))
        key.master_key_id = keyring.current_id
        count += 1
    return count


def rotate_second_factors(session: Session, keyring: Keyring) -> int:
    """Re-wrap, in the caller's transaction, the TOTP secrets not sealed by the current key."""
    keyring.require()
    stale = select(SecondFactor).where(SecondFactor.master_key_id != keyring.current_id)
    count = 0
    for factor in session.scalars(stale):
        context = second_factor_context(factor.user_id)
        secret = keyring.unwrap(factor.sealed_secret, factor.master_key_id, context)
        factor.sealed_secret = keyring.wrap(secret, context=context)
        factor.master_key_id = keyring.current_id
        count += 1
    return count


def rotate_webhook_secrets(session: Session, keyring: Keyring) -> int:
    """Re-wrap, in the caller's transaction, the webhook secrets not sealed by the current
    key."""
    keyring.require()
    stale = select(WebhookEndpoint).where(
        WebhookEndpoint.sealed_secret.is_not(None),
        WebhookEndpoint.master_key_id != keyring.current_id,
    )
    count = 0
    for endpoint in session.scalars(stale):
        assert endpoint.sealed_secret is not None and endpoint.master_key_id is not None
        context = webhook_secret_context(endpoint.id)
        secret = keyring.unwrap(endpoint.sealed_secret, endpoint.master_key_id, context)
        endpoint.sealed_secret = keyring.wrap(secret, context=context)
        endpoint.master_key_id = keyring.current_id
        count += 1
    return count


def master_key_use(session: Session) -> dict[str, int]:
    """How many live data keys, TOTP and webhook secrets each master key wraps (what may
    be retired)."""
    rows = session.execute(
        select(DataKey.master_key_id, func.count())
        .where(DataKey.wrapped.is_not(None))
        .group_by(DataKey.master_key_id)
    ).all()
    use = {str(master_id): int(count) for master_id, count in rows}
    secrets = session.execute(
        select(SecondFactor.master_key_id, func.count()).group_by(SecondFactor.master_key_id)
    ).all()
    hooks = session.execute(
        select(WebhookEndpoint.master_key_id, func.count())
        .where(WebhookEndpoint.sealed_secret.is_not(None))
        .group_by(WebhookEndpoint.master_key_id)
    ).all()
    for master_id, count in [*secrets, *hooks]:
        use[str(master_id)] = use.get(str(master_id), 0) + int(count)
    return use
