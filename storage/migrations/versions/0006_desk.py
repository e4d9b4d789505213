"""What the desk needs: documents numbered within their dossier (1, 2, 3 in each; existing ones
in id order), removed documents kept for the record, a document's quality notices; who posted a
job, as a column a station's list is found by.

Job results written before name a document by the catalog's id: they are rewritten to its
number, and each document takes the notices of the last job that digitized it.

Revision ID: 0006
Revises: 0005
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

documents = sa.table(
    "documents",
    sa.column("id", sa.Integer()),
    sa.column("number", sa.Integer()),
    sa.column("notices", sa.JSON()),
)
jobs = sa.table(
    "jobs",
    sa.column("id", sa.String()),
    sa.column("document_id", sa.Integer()),
    sa.column("options", sa.JSON()),
    sa.column("result", sa.JSON()),
    sa.column("posted_by", sa.String()),
    sa.column("created_at", sa.DateTime()),
)


def upgrade() -> None:
    # Added with a default rather than rebuilt: SQLite would copy the table, which the rows of
    # pages, jobs and signatures refer to.
    with op.batch_alter_table("documents") as batch_op:
        batch_op.add_column(sa.Column("number", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("notices", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.add_column(sa.Column("posted_by", sa.String(length=100), nullable=True))
    op.execute(
        "UPDATE documents SET number = (SELECT count(*) FROM documents AS earlier "
        "WHERE earlier.dossier_code = documents.dossier_code AND earlier.id <= documents.id)"
    )
    op.create_index("uq_documents_dossier_number", "documents", ["dossier_code", "number"], unique=True)
    op.create_index("ix_jobs_posted_by", "jobs", ["posted_by"])
    _rewrite_jobs()


def _rewrite_jobs() -> None:
    bind = op.get_bind()
    numbers = dict(bind.execute(sa.select(documents.c.id, documents.c.number)).all())
    notices: dict[int, Any] = {}
    rows = bind.execute(sa.select(jobs).order_by(jobs.c.created_at)).all()
    for job in rows:
        result = job.result
        for summary in result.get("documents", [result]) if isinstance(result, dict) else []:
            if summary.get("document_id") in numbers:
                notices[summary["document_id"]] = summary.get("notices") or []
                summary["document_id"] = numbers[summary["document_id"]]
        posted_by = (job.options or {}).get("posted_by")
        bind.execute(sa.update(jobs).where(jobs.c.id == job.id).values(result=result, posted_by=posted_by))
    for document_id, found in notices.items():
        bind.execute(sa.update(documents).where(documents.c.id == document_id).values(notices=found))


def downgrade() -> None:
    op.drop_index("ix_jobs_posted_by", "jobs")
    op.drop_index("uq_documents_dossier_number", "documents")
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_column("posted_by")
    with op.batch_alter_table("documents") as batch_op:
        batch_op.drop_column("removed_at")
        batch_op.drop_column("notices")
        batch_op.drop_column("number")
