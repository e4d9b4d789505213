"""The circular's metadata (issue 19, items 1 and 2): a document's type, number, date of issue
and issuer as columns search filters on (with folded keys), its other fields and what was read
from its page as JSON; a dossier's other fields as JSON. Existing rows get none: their fields
are filled by a clerk, or by the next digitization.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch_op:
        batch_op.add_column(sa.Column("doc_type", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("doc_number", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("number_key", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("issued_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("issuer", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("issuer_key", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("record", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("read", sa.JSON(), nullable=True))
    op.create_index("ix_documents_doc_type", "documents", ["doc_type"])
    op.create_index("ix_documents_number_key", "documents", ["number_key"])
    op.create_index("ix_documents_issued_on", "documents", ["issued_on"])
    with op.batch_alter_table("dossiers") as batch_op:
        batch_op.add_column(sa.Column("record", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dossiers") as batch_op:
        batch_op.drop_column("record")
    for name in ("issued_on", "number_key", "doc_type"):
        op.drop_index(f"ix_documents_{name}", "documents")
    with op.batch_alter_table("documents") as batch_op:
        for column in ("read", "record", "issuer_key", "issuer", "issued_on", "number_key", "doc_number", "doc_type"):
            batch_op.drop_column(column)
