"""Many agencies in one deployment: the agency registry, the agencies each user or station
belongs to, and the agencies whose events a webhook subscriber gets.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agencies",
        sa.Column("code", sa.String(length=32), primary_key=True),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("name_en", sa.String(length=300), nullable=False, server_default=""),
        sa.Column("parent", sa.String(length=32), nullable=True, index=True),
        sa.Column("signing_key", sa.JSON(), nullable=True),
        sa.Column("seal_image", sa.String(length=500), nullable=True),
        sa.Column("tsa_url", sa.String(length=500), nullable=False, server_default=""),
        sa.Column("ocsp_url", sa.String(length=500), nullable=False, server_default=""),
        sa.Column("retention", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "token_agencies",
        sa.Column("token_id", sa.Integer(), sa.ForeignKey("api_tokens.id"), primary_key=True),
        sa.Column("agency", sa.String(length=32), sa.ForeignKey("agencies.code"), primary_key=True),
    )
    with op.batch_alter_table("webhook_subscribers") as batch_op:
        batch_op.add_column(sa.Column("agencies", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_subscribers") as batch_op:
        batch_op.drop_column("agencies")
    op.drop_table("token_agencies")
    op.drop_table("agencies")
