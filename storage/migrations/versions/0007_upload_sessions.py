"""Upload sessions: a file sent in pieces that resume after a dropped connection (service.resumable).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upload_sessions",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("dossier_code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("options", sa.JSON(), nullable=True),
        sa.Column("creates_dossier", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("completing_by", sa.String(length=100), nullable=True),
        sa.Column("job_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_upload_sessions_actor", "upload_sessions", ["actor"])
    op.create_index("ix_upload_sessions_updated_at", "upload_sessions", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_upload_sessions_updated_at", "upload_sessions")
    op.drop_index("ix_upload_sessions_actor", "upload_sessions")
    op.drop_table("upload_sessions")
