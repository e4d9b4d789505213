"""The catalog: dossiers, documents, pages, jobs, signatures and audit events (SQLAlchemy 2)."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import re
import threading
import weakref
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, cast
from zoneinfo import ZoneInfo

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    inspect,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker
from sqlalchemy.sql import Executable
from sqlalchemy.types import TypeDecorator

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK = 0x50484F41  # PostgreSQL advisory lock key held while migrating ("SOHA")


def changed(session: Session, statement: Executable) -> int:
    """Rows an UPDATE or DELETE changed: the test that a conditional write won its race."""
    return cast("CursorResult[Any]", session.execute(statement)).rowcount


def insert_new(session: Session, model: type[Base], **values: Any) -> bool:
    """Insert a row unless one with the same key exists: True when this call inserted it.

    The database decides (INSERT … ON CONFLICT DO NOTHING on SQLite and PostgreSQL): looking
    first lets two writers both see nothing, and the second INSERT then fails. On PostgreSQL an
    uncommitted insert of the same key makes this one wait for that transaction's end."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    key = inspect(model).primary_key  # RETURNING tells: psycopg gives no rowcount here
    return session.execute(insert(model).values(**values).on_conflict_do_nothing().returning(*key)).first() is not None


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A moment with its time zone on every engine: SQLite keeps none and hands back naive
    datetimes, which are UTC here, so every reader gets the same aware value."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


OFFICE_ZONE: list[ZoneInfo] = [ZoneInfo("Asia/Ho_Chi_Minh")]  # SOHOA_TIMEZONE, set by the service's context


def iso(value: dt.date | dt.datetime | None) -> str | None:
    """A date as it is; a moment (stored in UTC) in the office's time zone, ISO 8601 with its
    offset (+07:00): what every answer, history entry and manifest shows to people."""
    if isinstance(value, dt.datetime):
        return value.astimezone(OFFICE_ZONE[0]).isoformat()
    return value.isoformat() if value is not None else None


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UtcDateTime(), dict[str, Any]: JSON}


class Dossier(Base):
    __tablename__ = "dossiers"
    # What service.statistics groups and counts by, in one index it reads instead of the rows (0014).
    __table_args__ = (
        Index(
            "ix_dossiers_statistics", "received_on", "agency", "procedure_code", "procedure", "components",
            "components_digitized", "components_sealed", "returned_on", "due_on",
        ),
    )  # fmt: skip
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency: Mapped[str] = mapped_column(String(32), index=True)
    received_on: Mapped[dt.date | None] = mapped_column(Date, index=True)
    title: Mapped[str] = mapped_column(String(500), default="")
    procedure: Mapped[str] = mapped_column(String(200), default="", index=True)  # thủ tục hành chính
    procedure_code: Mapped[str] = mapped_column(String(64), default="", server_default="", index=True)
    applicant: Mapped[str] = mapped_column(String(200), default="")
    retention: Mapped[str] = mapped_column(String(8), default="")  # 01 = permanent, else years: 70 50 30 20 10
    due_on: Mapped[dt.date | None] = mapped_column(Date)
    # The other fields of circular 05/2025/TT-BNV (records.DOSSIER_FIELDS), by key.
    record: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(32), default="RECEIVED", index=True)
    returned_on: Mapped[dt.date | None] = mapped_column(Date)  # the office's day it moved to RETURNED
    # Its live components, how many are digitized, how many of those sealed on their current
    # version: recounted by database triggers when a document or signature of it is written
    # (migration 0013), so the statistics read the dossiers alone.
    components: Mapped[int] = mapped_column(Integer, server_default="0")
    components_digitized: Mapped[int] = mapped_column(Integer, server_default="0")
    components_sealed: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(default=now)
    updated_at: Mapped[dt.datetime] = mapped_column(default=now, onupdate=now)
    documents: Mapped[list[Document]] = relationship(back_populates="dossier", order_by="Document.id")


class Document(Base):
    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("dossier_code", "original_sha256", "part"),
        Index("uq_documents_dossier_number", "dossier_code", "number", unique=True),
    )
    id: Mapped[int] = mapped_column(primary_key=True)  # the catalog's own; people and URLs use ``number``
    dossier_code: Mapped[str] = mapped_column(ForeignKey("dossiers.code"), index=True)
    number: Mapped[int] = mapped_column(Integer, server_default="0")  # 1, 2, 3 within its dossier (document_for)
    part: Mapped[str] = mapped_column(String(16), default="")  # "2" for the 2nd document of a batch scan
    # A component of the dossier (digitized from the paper handed in), or an issued result
    # (kết quả giải quyết): they are signed by different people, in a different order.
    kind: Mapped[str] = mapped_column(String(16), default="component", server_default="component")
    original_name: Mapped[str] = mapped_column(String(255))
    original_key: Mapped[str] = mapped_column(String(300))
    original_sha256: Mapped[str] = mapped_column(String(64))
    original_size: Mapped[int] = mapped_column(BigInteger)
    pdfa_key: Mapped[str | None] = mapped_column(String(300))
    pdfa_sha256: Mapped[str | None] = mapped_column(String(64))
    signed_key: Mapped[str | None] = mapped_column(String(300))
    signed_sha256: Mapped[str | None] = mapped_column(String(64))
    # When the certificate of the last time stamp in the signed version expires (None: it has
    # none, B-B), as read from the version whose SHA-256 is ``stamp_sha256``: the daily renewal
    # selects by it and reads only a file whose version it has not read (service.renewal).
    stamp_expires: Mapped[dt.datetime | None] = mapped_column(index=True)
    stamp_sha256: Mapped[str | None] = mapped_column(String(64))
    alto_key: Mapped[str | None] = mapped_column(String(300))  # words with boxes (ALTO v4)
    page_count: Mapped[int] = mapped_column(Integer, default=0)
    # What a person should know about its pages (low resolution, a drawing under 300 dpi…), from
    # the digitization that made its current version.
    notices: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # The circular's document fields (records.DOCUMENT_FIELDS): those search filters on are
    # columns (with folded keys: "125/QD-UBND" finds "125/QĐ-UBND"), the rest in ``record``.
    doc_type: Mapped[str | None] = mapped_column(String(64), index=True)
    doc_number: Mapped[str | None] = mapped_column(String(100))
    number_key: Mapped[str | None] = mapped_column(String(100), index=True)
    issued_on: Mapped[dt.date | None] = mapped_column(Date, index=True)
    issuer: Mapped[str | None] = mapped_column(String(500))
    issuer_key: Mapped[str | None] = mapped_column(String(500))
    record: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # What digitize.metadata read from the page: each field's value, confidence and boxes.
    read: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=now)
    # Removed by the desk (a wrong or unreadable scan, never a signed one): the row stays for the
    # record and keeps its number; its pages and versions are gone.
    removed_at: Mapped[dt.datetime | None] = mapped_column()
    dossier: Mapped[Dossier] = relationship(back_populates="documents")
    pages: Mapped[list[Page]] = relationship(order_by="Page.number", cascade="all, delete-orphan")


def document_for(session: Session, code: str, sha256: str, part: str = "", **values: Any) -> Document:
    """The document of these bytes (``part`` of a batch) in dossier ``code``, inserted with
    ``values`` and the dossier's next number if there is none; locked until the transaction ends
    on PostgreSQL (SQLite's single writer holds it already), so a second upload of the same bytes
    waits for the first.

    The unique number decides a race: an insert that finds its number taken (by a transaction
    that committed meanwhile; PostgreSQL waits for one still open) inserts nothing, and the next
    round sees that row, the same bytes or the next number. A removed document's number is
    never given again."""
    same = select(Document).where(
        Document.dossier_code == code, Document.original_sha256 == sha256, Document.part == part
    )
    # The next number is counted in the INSERT itself: one statement, as an upload had before.
    following = select(func.coalesce(func.max(Document.number), 0) + 1).where(Document.dossier_code == code)
    while True:
        insert_new(session, Document, dossier_code=code, original_sha256=sha256, part=part,
                   number=following.scalar_subquery(), **values)  # fmt: skip
        if (found := session.scalars(same.with_for_update()).first()) is not None:
            return found


def find_document(session: Session, code: str, number: int, *, lock: bool = False) -> Document | None:
    """Document ``number`` of dossier ``code``, unless it was removed."""
    query = select(Document).where(
        Document.dossier_code == code, Document.number == number, Document.removed_at.is_(None)
    )
    return session.scalars(query.with_for_update() if lock else query).first()


class Page(Base):
    __tablename__ = "pages"
    __table_args__ = (UniqueConstraint("document_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text, default="")
    words: Mapped[int] = mapped_column(Integer, default=0)
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    dpi: Mapped[float] = mapped_column(Float, default=0.0)


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"  # a worker holds its lease
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"  # by a person; a running job stops at its next page


class Job(Base):
    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), default="digitize")  # or "batch"
    dossier_code: Mapped[str | None] = mapped_column(ForeignKey("dossiers.code"), index=True)
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    pages_done: Mapped[int] = mapped_column(Integer, default=0)
    pages_total: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[dt.datetime | None] = mapped_column()  # renewed by the worker running it
    options: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # per-request digitization choices
    posted_by: Mapped[str | None] = mapped_column(String(100), index=True)  # the station or person: whose jobs
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=now)
    started_at: Mapped[dt.datetime | None] = mapped_column()
    finished_at: Mapped[dt.datetime | None] = mapped_column()
    # Its document (a batch's documents have none), loaded with it: a job's answer shows the
    # document's number in its dossier.
    document: Mapped[Document | None] = relationship(lazy="joined")


class Signature(Base):
    __tablename__ = "signatures"
    # Whether a version is sealed, as the triggers counting each dossier's components look it up.
    __table_args__ = (Index("ix_signatures_seals", "document_id", "kind", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    # officer: the one-stop officer vouches the copy matches the paper; signer: the person who
    # signs a result; agency: the organization's seal (service.signing_rules says who and when).
    kind: Mapped[str] = mapped_column(String(16), default="agency", server_default="agency")
    version: Mapped[str | None] = mapped_column(String(64))  # the PDF/A's SHA-256: the content signed
    actor: Mapped[str] = mapped_column(String(100), default="", server_default="")
    field: Mapped[str] = mapped_column(String(64))
    signer: Mapped[str] = mapped_column(String(500))
    signed_at: Mapped[str] = mapped_column(String(40))
    level: Mapped[str] = mapped_column(String(32))
    object_key: Mapped[str] = mapped_column(String(300))


class AuditEvent(Base):
    """Append-only (database triggers) and hash-chained: see storage.auditlog."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=now)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    dossier_code: Mapped[str | None] = mapped_column(String(64), index=True)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


class StoredObject(Base):
    """Every object the service wrote: what the dossier manifest lists and the audit re-hashes."""

    __tablename__ = "stored_objects"
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    dossier_code: Mapped[str | None] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # original, pdfa, signed, alto, package
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(default=now)


class ApiToken(Base):
    """A person's or a scanner station's access token; only its SHA-256 is kept."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=now)
    revoked_at: Mapped[dt.datetime | None] = mapped_column()
    # The person's own signing certificate (SHA-256 of its DER), when bound: two-step signing
    # then accepts that certificate only, and no one else may sign with it.
    certificate_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    # A personal key the server holds for the person (they unlock it with their PIN each time):
    # {"pkcs12": object key} or {"pkcs11": {"module", "token", "key"}}; and their signature image.
    signing_key: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    signature_image: Mapped[str | None] = mapped_column(String(300))  # object key of a PNG
    # The web pages' login (service.people): an argon2 hash, failed attempts in a row, lock-out.
    password_hash: Mapped[str | None] = mapped_column(String(200))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[dt.datetime | None] = mapped_column()


class WebSession(Base):
    """A person logged in to the web pages; ``id`` is the SHA-256 of the cookie's value."""

    __tablename__ = "web_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=now)
    expires_at: Mapped[dt.datetime] = mapped_column()


class UploadSession(Base):
    """A file arriving in pieces (``service.resumable``): its bytes wait in the data folder's
    ``uploads/``, and this row says how many of them are in (``received``), for any server
    process to take the next piece or to complete it."""

    __tablename__ = "upload_sessions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    actor: Mapped[str] = mapped_column(String(100), index=True)  # only its creator writes or completes it
    dossier_code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    kind: Mapped[str] = mapped_column(String(16), default="component")  # component, result or batch
    options: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    creates_dossier: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(String(16), default="open")  # open, completing, done
    completing_by: Mapped[str | None] = mapped_column(String(100))  # the process completing it (scratch.me)
    job_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(default=now)
    updated_at: Mapped[dt.datetime] = mapped_column(default=now, index=True)


class Agency(Base):
    """An agency of the deployment (service.agencies): its code is the first part of the codes of
    the dossiers it receives; its key signs them and its name is on their stamps."""

    __tablename__ = "agencies"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))  # Vietnamese, as on its stamp
    name_en: Mapped[str] = mapped_column(String(300), default="", server_default="")
    parent: Mapped[str | None] = mapped_column(String(32), index=True)
    # {"pkcs12": path, "password_file": path} or {"pkcs11": {"module", "token", "key", "pin_file"}};
    # None: the deployment's key (SOHOA_SIGNING_*), or a demo certificate of its own under the demo PKI.
    signing_key: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    seal_image: Mapped[str | None] = mapped_column(String(500))
    tsa_url: Mapped[str] = mapped_column(String(500), default="", server_default="")
    ocsp_url: Mapped[str] = mapped_column(String(500), default="", server_default="")
    # Retention code by procedure code ("*": any other), given to its dossiers that have none.
    retention: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=now)
    updated_at: Mapped[dt.datetime] = mapped_column(default=now, onupdate=now)


class TokenAgency(Base):
    """An agency a user or station belongs to (with those under it); none: every agency."""

    __tablename__ = "token_agencies"
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id"), primary_key=True)
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.code"), primary_key=True)


class WebhookSubscriber(Base):
    """A system told of events (the one-stop software): where, which events, the shared secret."""

    __tablename__ = "webhook_subscribers"
    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    events: Mapped[list[str]] = mapped_column(JSON)
    secret: Mapped[str] = mapped_column(String(200))  # the HMAC key: the subscriber must know it too
    # The agencies whose events it gets (its creator's, with those under them); None: every agency.
    agencies: Mapped[list[str] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=now)
    removed_at: Mapped[dt.datetime | None] = mapped_column()


class WebhookEvent(Base):
    """The outbox: an event written in the transaction of the change it tells of."""

    __tablename__ = "webhook_events"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    event: Mapped[str] = mapped_column(String(32))
    dossier_code: Mapped[str | None] = mapped_column(String(64), index=True)
    at: Mapped[dt.datetime] = mapped_column(default=now)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class WebhookDelivery(Base):
    """One event to one subscriber: pending → sending (a worker's lease) → delivered, or back to
    pending with the next attempt's time; failed once the retries are spent."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("webhook_events.id"), index=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscribers.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(default=now)
    lease_until: Mapped[dt.datetime | None] = mapped_column()
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(default=now)
    delivered_at: Mapped[dt.datetime | None] = mapped_column()
    event: Mapped[WebhookEvent] = relationship(lazy="joined")
    subscriber: Mapped[WebhookSubscriber] = relationship(lazy="joined")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the worker's writes
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


_WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


class _WriterLock:
    """The catalog's one writer: a thread lock for this process's threads, then an exclusive
    ``flock`` on a file beside the database for other processes (API processes, workers). Both
    wake a waiter as soon as the writer is done, where SQLite's busy handler sleeps in growing
    steps (up to 100 ms) and so wastes most of the wait when many uploads arrive at once."""

    def __init__(self, path: Path | None) -> None:
        self.threads = threading.RLock()
        self.depth = 0  # nested takes by the thread that holds it (two sessions in one thread)
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600) if path else None

    def acquire(self) -> None:
        self.threads.acquire()
        self.depth += 1
        if self.depth == 1 and self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_EX)

    def release(self) -> None:
        self.depth -= 1
        if self.depth == 0 and self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        self.threads.release()


_WRITERS: weakref.WeakKeyDictionary[Engine, _WriterLock] = weakref.WeakKeyDictionary()


def _one_writer_at_a_time(engine: Engine, lock_file: Path | None) -> None:
    """Take the writer lock before a transaction's first write and give it back at its end."""
    lock = _WRITERS[engine] = _WriterLock(lock_file)

    def take(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not conn.info.get("sohoa_writer") and _WRITE.match(statement):
            lock.acquire()
            conn.info["sohoa_writer"] = True

    def release(info: dict[str, Any]) -> None:
        if info.pop("sohoa_writer", False):
            lock.release()

    event.listen(engine, "before_cursor_execute", take)
    event.listen(engine, "commit", lambda conn: release(conn.info))
    event.listen(engine, "rollback", lambda conn: release(conn.info))

    # A connection handed back without commit or rollback (an exception, say) is reset here.
    def reset(_dbapi_connection: Any, connection_record: Any, _reset_state: Any) -> None:
        release(connection_record.info)

    event.listen(engine.pool, "reset", reset)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:"):
        path = url.split("///", 1)[-1]
        lock_file = None
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            lock_file = Path(f"{path}.writer")
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        _one_writer_at_a_time(engine, lock_file)
        return engine
    return create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision, one process at a time: two processes
    starting on a fresh catalog would both see no tables and the second's CREATE TABLE fail. The
    writer lock (SQLite) or a transaction's advisory lock (PostgreSQL) holds the second back until
    the first is done; it then finds the schema at head."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    lock = _WRITERS.get(engine)
    if lock is not None:
        lock.acquire()
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        if lock is not None:
            lock.release()


@lru_cache(maxsize=8)
def open_catalog(url: str) -> sessionmaker:
    """A session factory for the catalog at ``url``, migrated on first use."""
    engine = make_engine(url)
    migrate(engine)
    return sessionmaker(engine, expire_on_commit=False)
