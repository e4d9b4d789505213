"""Phrases at province scale (issue 20, item 4), PostgreSQL: an index of each page's adjacent
word pairs.

Vietnamese words are syllables, so most searches are phrases of common syllables ("đăng ký
khai sinh", a person's name). The GIN index knows which pages hold each syllable, not where:
a rare phrase of common syllables had its index intersect lists of hundreds of thousands of
pages, then every page holding all its syllables (12,700 in one agency for 1,700 matches) read
to check their order. ``search_pairs`` makes the adjacent pairs of a page's folded words
(``'dang ky' 'ky khai' 'khai sinh'``) from the positions its ``folded`` column already holds;
an index over it gives the pages holding every pair of a phrase: nearly only its matches. It is
an index over an expression, so nothing is stored in the rows and nothing has to be written
again: building it computes the pairs of every page (about 0.2 ms a page).

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# Positions a GAP filled are absent from the column, so no pair spans a gap, as no phrase does.
PAIRS = """CREATE OR REPLACE FUNCTION search_pairs(words tsvector) RETURNS tsvector
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT coalesce(array_to_tsvector(array_agg(DISTINCT a.lexeme || ' ' || b.lexeme)), ''::tsvector)
  FROM (SELECT lexeme, unnest(positions) AS p FROM unnest(words)) AS a
  JOIN (SELECT lexeme, unnest(positions) AS p FROM unnest(words)) AS b ON b.p = a.p + 1
$$"""
INDEX = "CREATE INDEX IF NOT EXISTS ix_page_search_pairs ON page_search USING gin (search_pairs(folded))"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # FTS5 keeps each word's positions in its index: it checks a phrase without reading the rows
    op.execute(PAIRS)
    op.execute("SET LOCAL maintenance_work_mem = '256MB'")  # the build sorts in memory, not in passes
    op.execute(INDEX)
    op.execute("ANALYZE page_search")  # the planner's statistics of the new index's pairs


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_page_search_pairs")
    op.execute("DROP FUNCTION IF EXISTS search_pairs(tsvector)")
