"""Key roles, the audit log, and the chunks each logged answer cites (so that deleting a
document can remove its text from the answers that quote it).

Keys made before roles existed could do everything: they get the ``admin`` role.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("roles", sa.JSON(), nullable=True))
    op.execute("""UPDATE api_keys SET roles = '["admin"]'""")
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("key_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("collection", sa.String(200), nullable=False, server_default=""),
        sa.Column("target", sa.String(200), nullable=False, server_default=""),
        sa.Column("detail", sa.JSON(), nullable=True),
    )
    op.create_table(
        "answer_citations",
        sa.Column(
            "answer_id",
            sa.String(32),
            sa.ForeignKey("answer_log.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("chunk_id", sa.Integer(), primary_key=True, index=True),
    )
    op.add_column("batch_items", sa.Column("answer_id", sa.String(32), nullable=True))
    op.create_index("ix_batch_items_answer_id", "batch_items", ["answer_id"])


def downgrade() -> None:
    op.drop_index("ix_batch_items_answer_id", table_name="batch_items")
    with op.batch_alter_table("batch_items") as batch:
        batch.drop_column("answer_id")
    op.drop_table("answer_citations")
    op.drop_table("audit_log")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("roles")
