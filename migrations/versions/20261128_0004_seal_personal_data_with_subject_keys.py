"""Seal personal data with per-subject keys; destruction register; break-glass grants.

- data_keys: each subject's AES-GCM data key, wrapped by a master key (its id recorded);
- subjects.data_key_id: the subject's key;
- every sealed column becomes TEXT (a sealed token). Values already in the database stay
  as they were until `referral db upgrade` seals them with the configured master key,
  which it does right after this migration (referral.db.legacy);
- destructions: the destruction register;
- break_glass_grants: emergency access to a hidden category, reviewed by the dpo;
- an index on audit_log.target: a subject access export finds `subject:<id>` entries.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 16:58:53.680580
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> columns whose type changes to TEXT (the others are TEXT already).
RETYPED = {
    "subjects": {"date_of_birth": sa.Date()},
    "cases": {
        "concern_types": sa.JSON(),
        "consent_discussed": sa.Boolean(),
        "risk_rating": sa.String(16),
    },
    "consents": {"given_by": sa.String(16), "method": sa.String(32)},
    "decisions": {"outcome": sa.String(32), "attendee_user_ids": sa.JSON()},
    "interventions": {"kind": sa.String(32)},
}
NULLABLE = {("subjects", "date_of_birth")}


def upgrade() -> None:
    op.create_table(
        "data_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=True),
        sa.Column("master_key_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_keys")),
    )
    for table, columns in RETYPED.items():
        with op.batch_alter_table(table) as batch_op:
            if table == "subjects":
                batch_op.add_column(sa.Column("data_key_id", sa.Integer(), nullable=True))
                batch_op.create_unique_constraint(
                    batch_op.f("uq_subjects_data_key_id"), ["data_key_id"]
                )
                batch_op.create_foreign_key(
                    batch_op.f("fk_subjects_data_key_id_data_keys"),
                    "data_keys",
                    ["data_key_id"],
                    ["id"],
                )
            for column, old_type in columns.items():
                batch_op.alter_column(
                    column,
                    existing_type=old_type,
                    type_=sa.Text(),
                    existing_nullable=(table, column) in NULLABLE,
                    postgresql_using=f"{column}::text",
                )

    op.create_table(
        "destructions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("data_key_id", sa.Integer(), nullable=False),
        sa.Column("network_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("basis", sa.String(length=24), nullable=False),
        sa.Column("rule", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("cases", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_user_id"], ["users.id"], name=op.f("fk_destructions_actor_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["data_key_id"], ["data_keys.id"], name=op.f("fk_destructions_data_key_id_data_keys")
        ),
        sa.ForeignKeyConstraint(
            ["network_id"], ["networks.id"], name=op.f("fk_destructions_network_id_networks")
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_destructions_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_destructions")),
    )
    op.create_index(op.f("ix_destructions_network_id"), "destructions", ["network_id"])
    op.create_index(op.f("ix_destructions_subject_id"), "destructions", ["subject_id"])

    op.create_table(
        "break_glass_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("network_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=24), nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        sa.Column("outcome_notes", sa.Text(), nullable=False),
        sa.Column("reviewed_by", sa.Integer(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_break_glass_grants_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["network_id"], ["networks.id"], name=op.f("fk_break_glass_grants_network_id_networks")
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by"], ["users.id"], name=op.f("fk_break_glass_grants_reviewed_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_break_glass_grants_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_break_glass_grants")),
    )
    op.create_index(op.f("ix_break_glass_grants_case_id"), "break_glass_grants", ["case_id"])
    op.create_index("ix_audit_log_target", "audit_log", ["target"])
    op.create_index(
        "ix_break_glass_grants_review", "break_glass_grants", ["network_id", "reviewed_at"]
    )
    op.create_index(
        "ix_break_glass_grants_user_case",
        "break_glass_grants",
        ["user_id", "case_id", "expires_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_audit_log_target", table_name="audit_log")
    op.drop_table("break_glass_grants")
    op.drop_table("destructions")
    # Sealed values cannot go back to their old types: downgrading needs an empty database.
    for table, columns in RETYPED.items():
        with op.batch_alter_table(table) as batch_op:
            for column, old_type in columns.items():
                batch_op.alter_column(
                    column,
                    existing_type=sa.Text(),
                    type_=old_type,
                    existing_nullable=(table, column) in NULLABLE,
                    postgresql_using=f"{column}::{old_type.compile(dialect=op.get_bind().dialect)}",
                )
            if table == "subjects":
                batch_op.drop_constraint("fk_subjects_data_key_id_data_keys", type_="foreignkey")
                batch_op.drop_constraint("uq_subjects_data_key_id", type_="unique")
                batch_op.drop_column("data_key_id")
    op.drop_table("data_keys")
