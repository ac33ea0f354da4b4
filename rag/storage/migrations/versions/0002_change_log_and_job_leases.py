"""A change log of chunk ids per generation (API processes patch their FAISS cache from it),
a chunk counter, and job leases (a job is claimed by one process, and taken over when its
owner dies).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chunk_changes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("generation", sa.Integer(), nullable=False, index=True),
        sa.Column("chunk_id", sa.Integer(), nullable=False),
        sa.Column("added", sa.Boolean(), nullable=False),
    )
    # Generations committed before the log existed are not in it: a cache older than the
    # store's current generation must be rebuilt, not patched.
    op.execute(
        "INSERT INTO store_state (key, value) SELECT 'change_log_floor', "
        "COALESCE((SELECT value FROM store_state WHERE key = 'generation'), '0')"
    )
    # The chunk count kept by every write from now on.
    op.execute(
        "INSERT INTO store_state (key, value) SELECT 'chunk_count', "
        "CAST((SELECT count(*) FROM chunks) AS VARCHAR(1024))"
    )
    op.add_column("jobs", sa.Column("owner", sa.String(128), nullable=True))
    op.add_column("jobs", sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("owner")
    op.execute("DELETE FROM store_state WHERE key IN ('change_log_floor', 'chunk_count')")
    op.drop_table("chunk_changes")
