"""Dossier record fields, stored objects, hash-chained append-only audit log, PostgreSQL page search.

Revision ID: 0002
Revises: 0001
"""

from types import SimpleNamespace

import sqlalchemy as sa
from alembic import op

from storage.auditlog import GENESIS, _hash_of
from storage.catalog import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_REFUSE = "audit log is append-only / nhật ký kiểm tra chỉ được ghi thêm"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("dossiers") as batch_op:
        batch_op.add_column(sa.Column("procedure", sa.String(length=200), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("applicant", sa.String(length=200), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("retention", sa.String(length=8), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("due_on", sa.Date(), nullable=True))
        batch_op.create_index("ix_dossiers_procedure", ["procedure"])
        batch_op.create_index("ix_dossiers_status", ["status"])
    with op.batch_alter_table("documents") as batch_op:
        batch_op.alter_column("original_size", type_=sa.BigInteger(), existing_type=sa.Integer())

    op.create_table(
        "stored_objects",
        sa.Column("key", sa.String(length=300), primary_key=True),
        sa.Column("dossier_code", sa.String(length=64), nullable=True, index=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )

    with op.batch_alter_table("audit_events") as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    _chain_existing_entries()
    if dialect == "sqlite":
        op.execute(
            "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
            f"BEGIN SELECT RAISE(ABORT, '{_REFUSE}'); END"
        )
        op.execute(
            "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events WHEN OLD.hash IS NOT NULL "
            f"BEGIN SELECT RAISE(ABORT, '{_REFUSE}'); END"
        )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF TG_OP = 'DELETE' OR OLD.hash IS NOT NULL THEN "
            f"RAISE EXCEPTION '{_REFUSE}'; END IF; RETURN NEW; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )
        # Page text as written and folded, as lexemes that storage.search makes itself, so
        # both engines tokenize alike whatever the database's locale.
        op.create_table(
            "page_search",
            sa.Column("page_id", sa.Integer(), sa.ForeignKey("pages.id", ondelete="CASCADE"), primary_key=True),
            sa.Column("exact", sa.dialects.postgresql.TSVECTOR(), nullable=False),
            sa.Column("folded", sa.dialects.postgresql.TSVECTOR(), nullable=False),
        )
        op.execute("CREATE INDEX ix_page_search_exact ON page_search USING gin (exact)")
        op.execute("CREATE INDEX ix_page_search_folded ON page_search USING gin (folded)")


def _chain_existing_entries() -> None:
    bind = op.get_bind()
    events = sa.table(
        "audit_events",
        *(sa.column(c) for c in ("id", "actor", "action", "dossier_code", "prev_hash", "hash")),
        sa.column("at", UtcDateTime()),  # aware on SQLite too, as the chain hashes it
        sa.column("detail", sa.JSON()),
    )
    prev = GENESIS
    for row in bind.execute(sa.select(events).order_by(events.c.id)).mappings().all():
        digest = _hash_of(SimpleNamespace(**row), prev)  # type: ignore[arg-type]
        bind.execute(sa.update(events).where(events.c.id == row["id"]).values(prev_hash=prev, hash=digest))
        prev = digest


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.drop_table("page_search")
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION audit_events_append_only()")
    elif dialect == "sqlite":
        op.execute("DROP TRIGGER audit_events_no_delete")
        op.execute("DROP TRIGGER audit_events_no_update")
    with op.batch_alter_table("audit_events") as batch_op:
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
    op.drop_table("stored_objects")
    with op.batch_alter_table("documents") as batch_op:
        batch_op.alter_column("original_size", type_=sa.Integer(), existing_type=sa.BigInteger())
    with op.batch_alter_table("dossiers") as batch_op:
        batch_op.drop_index("ix_dossiers_status")
        batch_op.drop_index("ix_dossiers_procedure")
        for column in ("due_on", "retention", "applicant", "procedure"):
            batch_op.drop_column(column)
