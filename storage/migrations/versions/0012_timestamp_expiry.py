"""The daily B-LTA renewal (issue 19, item 5) selects the signed files it has to renew with one
query: each document keeps when its signed version's last time stamp certificate expires, and
the SHA-256 of the version that was read from. Rows signed before this revision have neither:
the next renewal reads their file once and fills them (service.renewal).

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch_op:
        batch_op.add_column(sa.Column("stamp_expires", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("stamp_sha256", sa.String(length=64), nullable=True))
    op.create_index("ix_documents_stamp_expires", "documents", ["stamp_expires"])


def downgrade() -> None:
    op.drop_index("ix_documents_stamp_expires", "documents")
    with op.batch_alter_table("documents") as batch_op:
        batch_op.drop_column("stamp_sha256")
        batch_op.drop_column("stamp_expires")
