"""Province scale (issue 20, items 3 and 4): each dossier's component counts on its row, and on
PostgreSQL the search filters beside each page's index row.

Statistics: a dossier keeps how many live components it has, how many are digitized and how
many of those carry the agency's seal on their current version, recounted by triggers whenever
a document or signature of it is written (on both engines), so the statistics read the dossiers
alone. On PostgreSQL the recount first locks the dossier row and then counts with a fresh
snapshot: two transactions changing one dossier's documents count one after the other.

Search (PostgreSQL): ``page_search.tags`` holds the filter values of the page's dossier and
document as lexemes (``search_tags``: ``a:`` agency, ``p:`` procedure, ``s:`` status, ``r:`` date
received as year, month and day, ``t:`` document type, ``n:`` number key, ``i:`` date of issue),
``page_search.issuer_key`` the document's folded issuer; one GIN index over (exact, folded, tags)
intersects words and filters in one scan. Triggers rewrite them when a dossier or document
changes; storage.search writes them with each page.

SQLite rebuilds a table in a batch migration by copying it: a later migration that does so to
documents or signatures must create their triggers again (``counts_triggers`` below).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

COUNTS = ("components", "components_digitized", "components_sealed")
# The counts of the dossiers chosen by {where}: what service.statistics used to count per query.
RECOUNT = """UPDATE dossiers SET (components, components_digitized, components_sealed) = (
    SELECT count(*), count(d.pdfa_sha256), count(*) FILTER (WHERE d.pdfa_sha256 IS NOT NULL AND EXISTS (
        SELECT 1 FROM signatures s WHERE s.document_id = d.id AND s.kind = 'agency'
        AND (s.version = d.pdfa_sha256 OR s.version IS NULL)))
    FROM documents d WHERE d.dossier_code = dossiers.code AND d.kind = 'component' AND d.removed_at IS NULL)
WHERE {where}"""
_DOCUMENT_COLUMNS = "dossier_code, kind, removed_at, pdfa_sha256"
_SIGNATURE_COLUMNS = "document_id, kind, version"
_OF_DOCUMENTS = "(SELECT dossier_code FROM documents WHERE id IN ({}))"

# SQLite: one writer at a time, so a recount in the writing statement's trigger is exact.
_SQLITE_TRIGGERS = {
    "documents_counted_insert": ("AFTER INSERT ON documents", "code = NEW.dossier_code"),
    "documents_counted_update": (
        f"AFTER UPDATE OF {_DOCUMENT_COLUMNS} ON documents",
        "code IN (OLD.dossier_code, NEW.dossier_code)",
    ),
    "documents_counted_delete": ("AFTER DELETE ON documents", "code = OLD.dossier_code"),
    "signatures_counted_insert": ("AFTER INSERT ON signatures", f"code IN {_OF_DOCUMENTS.format('NEW.document_id')}"),
    "signatures_counted_update": (
        f"AFTER UPDATE OF {_SIGNATURE_COLUMNS} ON signatures",
        f"code IN {_OF_DOCUMENTS.format('OLD.document_id, NEW.document_id')}",
    ),
    "signatures_counted_delete": ("AFTER DELETE ON signatures", f"code IN {_OF_DOCUMENTS.format('OLD.document_id')}"),
}

_PG_COUNTS = [
    f"""CREATE FUNCTION count_components(dossier varchar) RETURNS void LANGUAGE plpgsql AS $$ BEGIN
    -- Wait for another writer of this dossier's documents to end; the next statement's snapshot sees its work.
    PERFORM 1 FROM dossiers WHERE code = dossier FOR NO KEY UPDATE;
    {RECOUNT.format(where="code = dossier")};
END $$""",
    """CREATE FUNCTION documents_counted() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    IF TG_OP <> 'INSERT' THEN PERFORM count_components(OLD.dossier_code); END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.dossier_code IS DISTINCT FROM OLD.dossier_code) THEN
        PERFORM count_components(NEW.dossier_code);
    END IF;
    RETURN NULL;
END $$""",
    """CREATE FUNCTION signatures_counted() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    IF TG_OP <> 'INSERT' THEN PERFORM count_components(dossier_code) FROM documents WHERE id = OLD.document_id; END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.document_id IS DISTINCT FROM OLD.document_id) THEN
        PERFORM count_components(dossier_code) FROM documents WHERE id = NEW.document_id;
    END IF;
    RETURN NULL;
END $$""",
    f"""CREATE TRIGGER documents_counted AFTER INSERT OR DELETE OR UPDATE OF {_DOCUMENT_COLUMNS} ON documents
    FOR EACH ROW EXECUTE FUNCTION documents_counted()""",
    f"""CREATE TRIGGER signatures_counted AFTER INSERT OR DELETE OR UPDATE OF {_SIGNATURE_COLUMNS} ON signatures
    FOR EACH ROW EXECUTE FUNCTION signatures_counted()""",
]

# The lexemes of a page's filter values; storage.search builds its queries of the same forms.
_TAGS = """CREATE FUNCTION search_tags(agency text, procedure text, status text, received date, doc_type text,
    number_key text, issued date) RETURNS tsvector LANGUAGE sql STABLE AS $$
SELECT array_to_tsvector(array_remove(ARRAY[
    'a:' || agency, 'p:' || procedure, 's:' || status,
    'r:' || to_char(received, 'YYYY'), 'r:' || to_char(received, 'YYYY-MM'), 'r:' || to_char(received, 'YYYY-MM-DD'),
    't:' || doc_type, 'n:' || number_key,
    'i:' || to_char(issued, 'YYYY'), 'i:' || to_char(issued, 'YYYY-MM'), 'i:' || to_char(issued, 'YYYY-MM-DD')
], NULL))
$$"""
_DOSSIER_FIELDS = ("agency", "procedure", "status", "received_on")
_DOCUMENT_FIELDS = ("doc_type", "number_key", "issued_on", "issuer_key")


def _changed(fields: tuple[str, ...]) -> str:
    return " OR ".join(f"OLD.{f} IS DISTINCT FROM NEW.{f}" for f in fields)


_PG_TAGS = [
    _TAGS,
    """CREATE FUNCTION dossier_search_tags() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    UPDATE page_search SET tags = search_tags(NEW.agency, NEW.procedure, NEW.status, NEW.received_on,
        documents.doc_type, documents.number_key, documents.issued_on)
    FROM pages JOIN documents ON documents.id = pages.document_id
    WHERE documents.dossier_code = NEW.code AND page_search.page_id = pages.id;
    RETURN NULL;
END $$""",
    """CREATE FUNCTION document_search_tags() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    UPDATE page_search SET issuer_key = NEW.issuer_key, tags = search_tags(dossiers.agency, dossiers.procedure,
        dossiers.status, dossiers.received_on, NEW.doc_type, NEW.number_key, NEW.issued_on)
    FROM pages JOIN dossiers ON dossiers.code = NEW.dossier_code
    WHERE pages.document_id = NEW.id AND page_search.page_id = pages.id;
    RETURN NULL;
END $$""",
    f"""CREATE TRIGGER dossiers_search_tags AFTER UPDATE ON dossiers FOR EACH ROW
    WHEN ({_changed(_DOSSIER_FIELDS)}) EXECUTE FUNCTION dossier_search_tags()""",
    f"""CREATE TRIGGER documents_search_tags AFTER UPDATE ON documents FOR EACH ROW
    WHEN ({_changed(_DOCUMENT_FIELDS)}) EXECUTE FUNCTION document_search_tags()""",
]


def counts_triggers() -> None:
    """The triggers that keep each dossier's counts (again, after SQLite rebuilt a table)."""
    if op.get_bind().dialect.name == "postgresql":
        for statement in _PG_COUNTS:
            op.execute(statement)
        return
    for name, (when, where) in _SQLITE_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {when} BEGIN {RECOUNT.format(where=where)}; END")


def upgrade() -> None:
    with op.batch_alter_table("dossiers") as batch_op:
        for name in COUNTS:
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
    op.execute(RECOUNT.format(where="1 = 1"))
    counts_triggers()
    op.drop_index("ix_documents_components", "documents")  # the statistics no longer read the documents
    if op.get_bind().dialect.name == "postgresql":
        _search_tags()


def _search_tags() -> None:
    """Filter values beside each index row: the table is written again with them (one pass, no
    dead rows left behind, as an UPDATE of every row would), then the two GIN indexes give way to
    one over words and filters, built once."""
    for statement in _PG_TAGS:
        op.execute(statement)
    # Rows of up to a page (8 KB) keep their tsvectors inline: a sample or a walk of the index
    # rows tests each one's words where it lies, where the default (2 KB) moved most pages' words
    # to the TOAST table, one more look-up each (a sample took twice as long); the size is the same.
    op.execute(
        "CREATE TABLE page_search_new (page_id integer NOT NULL, exact tsvector NOT NULL, folded tsvector NOT NULL,"
        " tags tsvector NOT NULL, issuer_key varchar(500)) WITH (toast_tuple_target = 8160)"
    )
    op.execute(
        "INSERT INTO page_search_new SELECT page_search.page_id, page_search.exact, page_search.folded,"
        " search_tags(dossiers.agency, dossiers.procedure, dossiers.status, dossiers.received_on, documents.doc_type,"
        " documents.number_key, documents.issued_on), documents.issuer_key FROM page_search"
        " JOIN pages ON pages.id = page_search.page_id JOIN documents ON documents.id = pages.document_id"
        " JOIN dossiers ON dossiers.code = documents.dossier_code ORDER BY page_search.page_id"
    )
    op.execute("DROP TABLE page_search")
    op.execute("ALTER TABLE page_search_new RENAME TO page_search")
    op.execute("ALTER TABLE page_search ADD CONSTRAINT page_search_pkey PRIMARY KEY (page_id)")
    op.execute(
        "ALTER TABLE page_search ADD CONSTRAINT page_search_page_id_fkey FOREIGN KEY (page_id)"
        " REFERENCES pages (id) ON DELETE CASCADE"
    )
    op.execute("SET LOCAL maintenance_work_mem = '256MB'")  # the index builds in memory, not in sorted runs
    op.execute("CREATE INDEX ix_page_search ON page_search USING gin (exact, folded, tags)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_page_search")
        op.execute("DROP TRIGGER documents_search_tags ON documents")
        op.execute("DROP TRIGGER dossiers_search_tags ON dossiers")
        op.execute("DROP TRIGGER signatures_counted ON signatures")
        op.execute("DROP TRIGGER documents_counted ON documents")
        for function in ("document_search_tags", "dossier_search_tags", "signatures_counted", "documents_counted"):
            op.execute(f"DROP FUNCTION {function}()")
        op.execute("DROP FUNCTION count_components(varchar)")
        op.execute("DROP FUNCTION search_tags(text, text, text, date, text, text, date)")
        op.execute("ALTER TABLE page_search DROP COLUMN tags, DROP COLUMN issuer_key")  # (their space stays)
        op.execute("CREATE INDEX ix_page_search_exact ON page_search USING gin (exact)")
        op.execute("CREATE INDEX ix_page_search_folded ON page_search USING gin (folded)")
    else:
        for name in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    op.create_index("ix_documents_components", "documents", ["dossier_code", "kind", "removed_at", "pdfa_sha256"])
    with op.batch_alter_table("dossiers") as batch_op:
        for name in COUNTS:
            batch_op.drop_column(name)
