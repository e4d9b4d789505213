"""Integrity audit: re-read every stored object the catalog knows, compare its SHA-256, list
objects the catalog does not know, and check the audit log's hash chain. An operator's tool
(``sohoa audit``), not a test."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from checksums import sha256_stream
from storage.auditlog import ChainReport, verify_chain
from storage.catalog import Document, Signature, StoredObject
from storage.objects import ObjectStore

AREAS = ("dossiers/", "batches/")  # where the service writes; anything else is not ours


@dataclass
class AuditReport:
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    corrupt: list[dict[str, str]] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)  # e.g. left by a job that crashed and ran again
    log: ChainReport | None = None

    @property
    def ok(self) -> bool:
        return not self.missing and not self.corrupt and (self.log is None or self.log.ok)


def _sha256(store: ObjectStore, key: str) -> str:
    with store.open(key) as f:
        return sha256_stream(f)[0]


def _expected(session: Session) -> dict[str, str | None]:
    """Every object key the catalog refers to, with its SHA-256 where the catalog keeps one."""
    keys: dict[str, str | None] = {}
    for d in session.scalars(select(Document)):
        for key, sha in (
            (d.original_key, d.original_sha256),
            (d.pdfa_key, d.pdfa_sha256),
            (d.signed_key, d.signed_sha256),
            (d.alto_key, None),
        ):
            if key:
                keys[key] = sha or keys.get(key)
    for key in session.scalars(select(Signature.object_key)):
        keys.setdefault(key, None)  # earlier signed versions: must still exist
    for key, sha in session.execute(select(StoredObject.key, StoredObject.sha256)):
        keys[key] = sha
    return keys


def audit(store: ObjectStore, sessions: sessionmaker[Session]) -> AuditReport:
    report = AuditReport()
    with sessions() as session:
        expected = _expected(session)
        report.log = verify_chain(session)
    for key, sha in sorted(expected.items()):
        report.checked += 1
        if not store.exists(key):
            report.missing.append(key)
            continue
        if sha is not None and (actual := _sha256(store, key)) != sha:
            report.corrupt.append({"key": key, "expected": sha, "actual": actual})
    for area in AREAS:
        report.orphans += [
            key for key in store.list(area) if key not in expected and not key.endswith("/manifest.json")
        ]
    return report
