"""Fed by the one-stop software: a dossier's procedure code and the day it was returned (for the
statistics), webhook subscribers, the events recorded for them in the transaction of the change
(the outbox) and one delivery row per event and subscriber (the delivery log).

Dossiers returned before this revision take their return day from the audit log's transition.

Revision ID: 0010
Revises: 0009
"""

import datetime as dt
import json
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

dossiers = sa.table("dossiers", sa.column("code", sa.String()), sa.column("returned_on", sa.Date()))
events = sa.table(
    "audit_events",
    sa.column("at", sa.DateTime()),
    sa.column("action", sa.String()),
    sa.column("dossier_code", sa.String()),
    sa.column("detail", sa.JSON()),
)


def upgrade() -> None:
    with op.batch_alter_table("dossiers") as batch_op:
        batch_op.add_column(sa.Column("procedure_code", sa.String(length=64), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("returned_on", sa.Date(), nullable=True))
    op.create_index("ix_dossiers_procedure_code", "dossiers", ["procedure_code"])
    op.create_index("ix_dossiers_received_on", "dossiers", ["received_on"])
    # The statistics read each component's state and whether its version is sealed from these alone.
    op.create_index("ix_documents_components", "documents", ["dossier_code", "kind", "removed_at", "pdfa_sha256"])
    op.create_index("ix_signatures_seals", "signatures", ["document_id", "kind", "version"])
    op.create_table(
        "webhook_subscribers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("dossier_code", sa.String(length=64), nullable=True, index=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("event_id", sa.String(length=32), sa.ForeignKey("webhook_events.id"), nullable=False, index=True),
        sa.Column("subscriber_id", sa.Integer(), sa.ForeignKey("webhook_subscribers.id"), nullable=False, index=True),
        sa.Column("status", sa.String(length=16), nullable=False, index=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
    )
    _returned_days()


def _returned_days() -> None:
    """The day (office time, +07:00) each dossier already returned was moved to RETURNED."""
    bind = op.get_bind()
    zone = ZoneInfo("Asia/Ho_Chi_Minh")
    moves = bind.execute(
        sa.select(events.c.at, events.c.dossier_code, events.c.detail).where(events.c.action == "dossier.transition")
    )
    returned: dict[str, dt.date] = {}
    for at, code, detail in moves:
        detail = json.loads(detail) if isinstance(detail, str) else detail or {}
        if detail.get("to") == "RETURNED":
            at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
            returned[code] = at.astimezone(zone).date()
    for code, day in returned.items():
        bind.execute(sa.update(dossiers).where(dossiers.c.code == code).values(returned_on=day))


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_events")
    op.drop_table("webhook_subscribers")
    op.drop_index("ix_signatures_seals", "signatures")
    op.drop_index("ix_documents_components", "documents")
    op.drop_index("ix_dossiers_received_on", "dossiers")
    op.drop_index("ix_dossiers_procedure_code", "dossiers")
    with op.batch_alter_table("dossiers") as batch_op:
        batch_op.drop_column("returned_on")
        batch_op.drop_column("procedure_code")
