"""The audit log is append-only and hash-chained, on SQLite and on PostgreSQL."""

from __future__ import annotations

import itertools
import threading

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from storage.auditlog import GENESIS, append, verify_chain
from storage.catalog import MIGRATIONS, AuditEvent, make_engine, now, open_catalog

CODE = "000.00.12.H12-250527-0001"


def _fill(sessions: sessionmaker[Session], n: int = 5) -> None:
    with sessions.begin() as s:
        for i in range(n):
            append(s, "cán bộ một cửa", "scan.accepted", CODE, file=f"trang {i}.pdf", size=i)


def _tamper(s: Session, sql: str) -> None:
    """What a database owner can still do: switch the triggers off and edit the table."""
    if s.get_bind().dialect.name == "sqlite":
        s.execute(text("DROP TRIGGER audit_events_no_update"))
        s.execute(text("DROP TRIGGER audit_events_no_delete"))
    else:
        s.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
    s.execute(text(sql))


def test_entries_chain_from_genesis(catalog_url: str) -> None:
    sessions = open_catalog(catalog_url)
    _fill(sessions)
    with sessions() as s:
        report = verify_chain(s)
        events = s.query(AuditEvent).order_by(AuditEvent.id).all()
    assert report.ok and report.entries == 5
    assert events[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
    assert report.head == events[-1].hash
    assert events[0].detail == {"file": "trang 0.pdf", "size": 0}


@pytest.mark.parametrize("sql", ["UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events"])
def test_the_database_refuses_edits_and_deletions(catalog_url: str, sql: str) -> None:
    sessions = open_catalog(catalog_url)
    _fill(sessions, 2)
    with pytest.raises(DBAPIError, match="append-only"), sessions.begin() as s:
        s.execute(text(sql))
    with sessions() as s:
        assert verify_chain(s).entries == 2


def test_an_edited_entry_breaks_the_chain_where_it_was_edited(catalog_url: str) -> None:
    sessions = open_catalog(catalog_url)
    _fill(sessions)
    with sessions.begin() as s:
        third = s.query(AuditEvent).order_by(AuditEvent.id).all()[2].id
        _tamper(s, f"UPDATE audit_events SET actor = 'kẻ gian' WHERE id = {third}")
    with sessions() as s:
        report = verify_chain(s)
    assert not report.ok and report.broken_at == third and report.reason == "entry changed"


def test_a_deleted_entry_breaks_the_chain_at_the_next_one(catalog_url: str) -> None:
    sessions = open_catalog(catalog_url)
    _fill(sessions)
    with sessions.begin() as s:
        ids = [e.id for e in s.query(AuditEvent).order_by(AuditEvent.id)]
        _tamper(s, f"DELETE FROM audit_events WHERE id = {ids[1]}")
    with sessions() as s:
        report = verify_chain(s)
    assert report.broken_at == ids[2] and report.reason == "previous entry missing or changed"


def test_concurrent_writers_keep_one_chain(catalog_url: str) -> None:
    sessions = open_catalog(catalog_url)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(10):
                with sessions.begin() as s:
                    append(s, f"trạm quét {n}", "scan.accepted", CODE, n=i)
        except BaseException as e:  # reported below, with the chain
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with sessions() as s:
        report = verify_chain(s)
    assert report.ok and report.entries == 40


def test_upgrading_a_0001_catalog_chains_its_existing_entries(catalog_url: str) -> None:
    engine = make_engine(catalog_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        for i in range(3):
            connection.execute(
                insert(AuditEvent.__table__).values(  # the 0001 columns only
                    at=now(), actor="worker", action="scan.digitized", dossier_code=CODE, detail={"pages": i}
                )
            )
    engine.dispose()
    sessions = open_catalog(catalog_url)
    _fill(sessions, 1)  # new entries continue the migrated chain
    with sessions() as s:
        report = verify_chain(s)
    assert report.ok and report.entries == 4
