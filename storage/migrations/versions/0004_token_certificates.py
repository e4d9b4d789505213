"""A person's own signing certificate bound to their token (its SHA-256), for two-step signing.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.add_column(sa.Column("certificate_sha256", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_api_tokens_certificate_sha256", ["certificate_sha256"])


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.drop_index("ix_api_tokens_certificate_sha256")
        batch_op.drop_column("certificate_sha256")
