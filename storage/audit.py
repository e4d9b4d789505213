"""Integrity audit: re-read every stored object the catalog knows, compare its SHA-256, list
objects the catalog does not know, and check the audit log's hash chain. An operator's tool
(``sohoa audit``), not a test."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from checksums import sha256_stream
from storage import anchors
from storage.auditlog import ChainReport, verify_chain
from storage.catalog import ApiToken, AuditEvent, Document, Signature, StoredObject
from storage.objects import ObjectStore

AREAS = ("dossiers/", "batches/")  # where the service writes objects the catalog lists (audit/ has anchors)


@dataclass
class AuditReport:
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    corrupt: list[dict[str, str]] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)  # e.g. left by a job that crashed and ran again
    log: ChainReport | None = None
    anchors: list[str] = field(default_factory=list)  # the log against its heads kept in the store
    tokens: list[str] = field(default_factory=list)  # token rows against what the log says of them
    writable: list[str] = field(default_factory=list)  # filesystem store: objects that are not read-only

    @property
    def ok(self) -> bool:
        log_ok = self.log is None or self.log.ok
        unchanged = not self.missing and not self.corrupt and not self.writable
        return unchanged and log_ok and not self.anchors and not self.tokens


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


def _hash_of(value: str | None) -> str | None:
    return hashlib.sha256(value.encode()).hexdigest() if value else None


def tokens_against_log(session: Session) -> list[str]:
    """Every token row as the log made it: issued with its name, role and hash, revoked, bound to a
    certificate, a personal key or a signature image, given a password (the web pages' login). A row
    changed in the database alone (a scanner made admin, a password hash swapped) no longer matches."""
    expected: dict[int, dict[str, Any]] = {}
    actions = (
        "token.issued",
        "token.revoked",
        "token.certificate_bound",
        "token.key_bound",
        "token.signature_image",
        "token.password_set",
    )
    for event in session.scalars(select(AuditEvent).where(AuditEvent.action.in_(actions)).order_by(AuditEvent.id)):
        detail = event.detail or {}
        row = expected.setdefault(
            int(detail["token"]),
            {
                "revoked": False,
                "certificate_sha256": None,
                "signing_key": None,
                "signature_image": None,
                "password_sha256": None,
            },
        )
        if event.action == "token.issued":
            row.update({k: detail[k] for k in ("name", "role", "token_sha256") if k in detail})
        elif event.action == "token.revoked":
            row["revoked"] = True
        elif event.action == "token.certificate_bound":
            row["certificate_sha256"] = detail.get("certificate")
        elif event.action == "token.password_set":  # a hash swapped in the catalog would let someone in
            row["password_sha256"] = detail.get("password_sha256")
        else:  # a personal key or signature image: whose key signs in a person's name
            row.update({k: detail[k] for k in ("signing_key", "signature_image") if k in detail})
    problems = []
    for token in session.scalars(select(ApiToken).order_by(ApiToken.id)):
        logged = expected.pop(token.id, None)
        if logged is None:
            problems.append(f"token {token.id} ({token.name}) is not in the audit log")
            continue
        actual = {
            "name": token.name,
            "role": token.role,
            "token_sha256": token.token_sha256,
            "revoked": token.revoked_at is not None,
            "certificate_sha256": token.certificate_sha256,
            "signing_key": token.signing_key,
            "signature_image": token.signature_image,
            "password_sha256": hashlib.sha256(token.password_hash.encode()).hexdigest()
            if token.password_hash
            else None,
        }
        for key, value in logged.items():
            if actual[key] != value:
                problems.append(f"token {token.id}: {key} is {actual[key]!r}, the log says {value!r}")
    problems += [f"token {token_id}, in the audit log, is missing" for token_id in expected]
    return problems


def audit(store: ObjectStore, sessions: sessionmaker[Session]) -> AuditReport:
    report = AuditReport()
    with sessions() as session:
        expected = _expected(session)
        report.log = verify_chain(session)
        report.anchors = anchors.check(store, session)
        report.tokens = tokens_against_log(session)
    for key, sha in sorted(expected.items()):
        report.checked += 1
        if not store.exists(key):
            report.missing.append(key)
            continue
        if sha is not None and (actual := _sha256(store, key)) != sha:
            report.corrupt.append({"key": key, "expected": sha, "actual": actual})
        if store.read_only(key) is False:  # stored objects are read-only files (S3: None, object lock)
            report.writable.append(key)
    for area in AREAS:
        report.orphans += [
            key for key in store.list(area) if key not in expected and not key.endswith("/manifest.json")
        ]
    return report
