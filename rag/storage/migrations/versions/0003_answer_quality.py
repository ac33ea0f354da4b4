"""What the quality report reads from the answer log: the collection asked, why an answer
was refused, its support score and sentence counts, its time to first token; indexes for
reading the log by time and feedback by answer.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = (
    sa.Column("collection", sa.String(200), nullable=False, server_default=""),
    sa.Column("refusal_reason", sa.String(32), nullable=True),
    sa.Column("support_score", sa.Float(), nullable=False, server_default="0"),
    sa.Column("sentences", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("unsupported_sentences", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("time_to_first_token_ms", sa.Float(), nullable=True),
)


def upgrade() -> None:
    for column in COLUMNS:
        op.add_column("answer_log", column)
    op.create_index("ix_answer_log_created_at", "answer_log", ["created_at"])
    op.create_index("ix_feedback_answer_id", "feedback", ["answer_id"])


def downgrade() -> None:
    op.drop_index("ix_feedback_answer_id", table_name="feedback")
    op.drop_index("ix_answer_log_created_at", table_name="answer_log")
    with op.batch_alter_table("answer_log") as batch:
        for column in reversed(COLUMNS):
            batch.drop_column(column.name)
