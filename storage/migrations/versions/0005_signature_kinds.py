"""Who signed what: a signature's kind (officer, signer, agency), the content version it covers
and who asked for it; a document's kind (component or result); a person's server-held key and
signature image.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=False, server_default="component"))
    with op.batch_alter_table("signatures") as batch_op:
        # Before, the job signed every copy as the agency; a clerk's two-step signature made
        # since cannot be told apart from the catalog alone and counts as the agency's too.
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=False, server_default="agency"))
        batch_op.add_column(sa.Column("version", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("actor", sa.String(length=100), nullable=False, server_default=""))
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.add_column(sa.Column("signing_key", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("signature_image", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.drop_column("signature_image")
        batch_op.drop_column("signing_key")
    with op.batch_alter_table("signatures") as batch_op:
        batch_op.drop_column("actor")
        batch_op.drop_column("version")
        batch_op.drop_column("kind")
    with op.batch_alter_table("documents") as batch_op:
        batch_op.drop_column("kind")
