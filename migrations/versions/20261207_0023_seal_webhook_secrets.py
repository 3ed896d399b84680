"""Seal webhook signing secrets with the master keyring.

Adds `sealed_secret` (AES-GCM under the current master key, bound to the endpoint's id)
and `master_key_id` (which master key sealed it, for `referral keys rotate`), and lets
the clear `secret` column be NULL. A migration does not see the master keys, so it cannot
encrypt: `referral db upgrade` seals every secret still in clear right after the
migrations and empties the clear column (referral.db.legacy.seal_webhook_secrets).

Revision ID: 0023
Revises: 0017
Create Date: 2026-12-07 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sealed_secret", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("master_key_id", sa.String(length=64), nullable=True))
        batch_op.alter_column("secret", existing_type=sa.String(length=100), nullable=True)


def downgrade() -> None:
    # A downgrade cannot unseal either: it refuses while any secret is sealed only, rather
    # than leave endpoints without a secret.
    bind = op.get_bind()
    sealed_only = bind.scalar(
        sa.text("SELECT count(*) FROM webhook_endpoints WHERE secret IS NULL")
    )
    if sealed_only:
        raise RuntimeError(
            f"{sealed_only} webhook secrets are sealed only; a downgrade below 0023 would "
            "lose them: register those endpoints again after downgrading instead"
        )
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.alter_column("secret", existing_type=sa.String(length=100), nullable=False)
        batch_op.drop_column("master_key_id")
        batch_op.drop_column("sealed_secret")
