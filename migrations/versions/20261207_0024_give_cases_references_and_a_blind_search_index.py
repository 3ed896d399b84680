"""Give every case a human reference and keep a keyed blind index for finding people.

A reference reads `PREFIX-YEAR-NNNN` (the network's prefix, the year the case was
created, a sequence per network and year); `case_references` holds each network's last
number per year, so allocation is one upsert that serialises on that row only.
`search_tokens` holds HMACs of name tokens, the date of birth and concern types (see
services/search.py): never the values themselves, so finding a person opens no subject.
Existing cases get their references here, in creation order; their search tokens are
written by `referral search reindex`, which holds the deployment's key.

Revision ID: 0024
Revises: 0018
Create Date: 2026-12-07 16:40:00.000000
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _prefix(slug: str) -> str:
    # The same rule as referral.domain.references.network_prefix (a migration keeps its
    # own copy: it must not change when the code does).
    letters = re.sub(r"[^A-Za-z0-9]", "", slug).upper()
    return letters[:4] or "NET"


def upgrade() -> None:
    op.create_table(
        "case_references",
        sa.Column("network_id", sa.Integer, sa.ForeignKey("networks.id"), primary_key=True),
        sa.Column("year", sa.Integer, primary_key=True),
        sa.Column("last", sa.Integer, nullable=False),
    )
    op.create_table(
        "search_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("network_id", sa.Integer, sa.ForeignKey("networks.id"), nullable=False),
        sa.Column("subject_id", sa.Integer, sa.ForeignKey("subjects.id"), nullable=False),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
    )
    op.create_index("ix_search_tokens_network_token", "search_tokens", ["network_id", "token"])
    op.create_index("ix_search_tokens_subject_id", "search_tokens", ["subject_id"])
    op.create_index("ix_search_tokens_case_id", "search_tokens", ["case_id"])
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("reference", sa.String(32), nullable=True))
    _backfill()
    with op.batch_alter_table("cases") as batch:
        batch.alter_column("reference", existing_type=sa.String(32), nullable=False)
        batch.create_unique_constraint("uq_cases_network_reference", ["network_id", "reference"])


def _backfill() -> None:
    bind = op.get_bind()
    networks = dict(bind.execute(sa.text("SELECT id, slug FROM networks")).all())
    rows = bind.execute(
        sa.text("SELECT id, network_id, created_at FROM cases ORDER BY network_id, created_at, id")
    ).all()
    last: dict[tuple[int, int], int] = {}
    for case_id, network_id, created_at in rows:
        year = int(str(created_at)[:4])
        number = last.get((network_id, year), 0) + 1
        last[(network_id, year)] = number
        reference = f"{_prefix(networks[network_id])}-{year}-{number:04d}"
        bind.execute(
            sa.text("UPDATE cases SET reference = :r WHERE id = :i"), {"r": reference, "i": case_id}
        )
    for (network_id, year), number in last.items():
        bind.execute(
            sa.text("INSERT INTO case_references (network_id, year, last) VALUES (:n, :y, :l)"),
            {"n": network_id, "y": year, "l": number},
        )


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_constraint("uq_cases_network_reference", type_="unique")
        batch.drop_column("reference")
    op.drop_index("ix_search_tokens_case_id", "search_tokens")
    op.drop_index("ix_search_tokens_subject_id", "search_tokens")
    op.drop_index("ix_search_tokens_network_token", "search_tokens")
    op.drop_table("search_tokens")
    op.drop_table("case_references")
