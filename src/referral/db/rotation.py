"""Master key rotation: re-wrap every live data key with the current master key.

Only the small wrapped keys change; no sealed field is touched, so rotation takes
seconds even for a large database. Destroyed keys stay destroyed.
"""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from referral.db.tables import DataKey
from referral.keyring import Keyring

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


def master_key_use(session: Session) -> dict[str, int]:
    """How many live data keys each master key wraps (what may be retired)."""
    rows = session.execute(
        select(DataKey.master_key_id, func.count())
        .where(DataKey.wrapped.is_not(None))
        .group_by(DataKey.master_key_id)
    ).all()
    return {str(master_id): int(count) for master_id, count in rows}
