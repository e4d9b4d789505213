"""Wiring: the settings, object store, catalog and agency signer one process works with."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

import storage.auditlog
import storage.catalog
from service import scratch
from service.options import SigningProfile, agency_signer, default_trust_roots, signing_profile
from service.settings import Settings, get_settings
from storage import ObjectStore, open_catalog, open_store

if TYPE_CHECKING:
    from signing.signers import AgencySigner


@dataclass
class Context:
    settings: Settings
    store: ObjectStore
    sessions: sessionmaker[Session]

    @property
    def pending(self) -> Path:
        """Prepared two-step signatures waiting for the clerk's signature value."""
        return self.settings.data_dir / "pending-signatures"

    @property
    def tmp(self) -> Path:
        """This process's scratch folder (swept by ``scratch.sweep`` once the process has ended)."""
        return scratch.folder(self.settings.data_dir)

    def signer(self) -> AgencySigner:
        return agency_signer(self.settings)

    def trust_roots(self) -> list[Path]:
        return default_trust_roots(self.settings)

    def signing(self) -> SigningProfile:
        """How the agency signs, by the settings."""
        return signing_profile(self.settings, trust_roots=self.trust_roots())


@lru_cache(maxsize=4)
def _context(settings: Settings) -> Context:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    storage.catalog.OFFICE_ZONE[0] = ZoneInfo(settings.timezone)
    return Context(
        settings,
        open_store(settings.objects_url, retention_days=settings.retention_days),
        open_catalog(settings.db_url),
    )


def context(settings: Settings | None = None) -> Context:
    return _context(settings or get_settings())


def audit(session: Session, actor: str, action: str, code: str | None, **detail: Any) -> None:
    """One entry of the hash-chained audit log, in the caller's transaction."""
    storage.auditlog.append(session, actor, action, code, **detail)


def audit_read(ctx: Context, actor: str, action: str, code: str | None, **detail: Any) -> None:
    """A read (a dossier viewed, a file downloaded, a search, a verification) in the audit log,
    in a transaction of its own: who looked at what is part of the record."""
    with ctx.sessions.begin() as session:
        storage.auditlog.append(session, actor, action, code, **detail)
