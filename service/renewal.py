"""Signatures kept verifiable over the years (PAdES B-LTA): once a day the worker finds signed
files whose last time stamp's certificate expires within SOHOA_RENEWAL_WINDOW_DAYS and adds a
new document time stamp to each, after fetching fresh revocation data for the old one. The new
file is a new version (write-once); the previous one stays stored. ``sohoa renew --dry-run``
lists what it would do."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, or_, select, update

import storage.manifest
from checksums import sha256_file
from errors import SohoaError
from service import agencies
from service.context import Context, audit
from service.dossiers import write_manifest
from service.packages import RENEWED
from service.views import RenewalItem, RenewalReport
from storage import Document
from storage.catalog import changed, iso
from storage.objects import dossier_prefix

log = logging.getLogger("sohoa.renewal")
ACTOR = "renewal"


@dataclass(frozen=True)
class _Due:
    code: str
    document: int  # the catalog's id
    number: int
    key: str
    expires: dt.datetime


def _candidates(ctx: Context, limit: dt.datetime) -> tuple[list[_Due], list[int]]:
    """One query: the signed versions whose last time stamp expires before ``limit``, and the
    documents whose signed version's expiry is not known yet (signed before it was kept)."""
    unknown = Document.stamp_sha256.is_distinct_from(Document.signed_sha256)
    query = select(Document.id, Document.dossier_code, Document.number, Document.signed_key,
                   Document.stamp_expires, unknown.label("unknown")).where(
        Document.signed_key.is_not(None), Document.removed_at.is_(None), or_(unknown, Document.stamp_expires <= limit)
    )  # fmt: skip
    known, unread = [], []
    with ctx.sessions() as session:
        for document, code, number, key, expires, not_read in session.execute(query.order_by(Document.id)):
            if not_read:
                unread.append(document)
            elif expires is not None:
                known.append(_Due(code, document, number, key or "", expires))
    return known, unread


def _read(ctx: Context, document: int, work: Path) -> _Due | None:
    """A signed version's last time stamp expiry, read from its file once and kept (unless the
    version changed meanwhile)."""
    from signing.renew import last_timestamp_expiry

    with ctx.sessions() as session:
        row = session.get(Document, document)
        if row is None or not row.signed_key:
            return None
        code, number, key, sha = row.dossier_code, row.number, row.signed_key, row.signed_sha256
    local = work / "current.pdf"
    ctx.store.get_file(key, local)
    expires = last_timestamp_expiry(local)
    with ctx.sessions.begin() as session:
        session.execute(
            update(Document)
            .where(Document.id == document, Document.signed_sha256 == sha)
            .values(stamp_expires=expires, stamp_sha256=sha)
        )
    return None if expires is None else _Due(code, document, number, key, expires)


def due(ctx: Context, window: dt.timedelta, work: Path) -> list[_Due]:
    """Signed files whose last time stamp's certificate expires before now + ``window`` (files
    without a time stamp, B-B, have nothing to renew), from the catalog: a file is read only
    when its version's expiry is not known yet."""
    limit = dt.datetime.now(dt.UTC) + window
    known, unread = _candidates(ctx, limit)
    found = known + [item for document in unread if (item := _read(ctx, document, work)) is not None]
    return sorted((item for item in found if item.expires <= limit), key=lambda item: item.document)


def _keep(ctx: Context, item: _Due, renewed: Path, expires: dt.datetime | None) -> str:
    """Store the renewed file as the document's new signed version, unless the document changed
    meanwhile (signed again, replaced): then the renewal is dropped, the next run looks again."""
    sha = sha256_file(renewed)
    key = f"{dossier_prefix(item.code)}/documents/{item.document}/signed-{sha[:16]}.pdf"
    stored = ctx.store.put_file(key, renewed, write_once=True, retain=True)
    with ctx.sessions.begin() as session:
        moved = changed(
            session,
            update(Document)
            .where(Document.id == item.document, func.coalesce(Document.signed_key, "") == item.key)
            .values(
                signed_key=stored.key, signed_sha256=stored.sha256, stamp_expires=expires, stamp_sha256=stored.sha256
            ),
        )
        if not moved:
            raise SohoaError(
                f"Tài liệu {item.number} của hồ sơ {item.code} vừa thay đổi; lần gia hạn sau sẽ xét lại.",
                f"Document {item.number} of dossier {item.code} changed meanwhile; the next renewal looks again.",
                field="document_id",
            )
        storage.manifest.record(session, stored, kind="signed", code=item.code, actor=ACTOR)
        detail = {"document": item.document, "number": item.number, "previous": item.key, "key": stored.key}
        audit(session, ACTOR, RENEWED, item.code, expired=iso(item.expires), **detail)
    write_manifest(ctx, item.code)
    return stored.key


def _renew_one(ctx: Context, item: _Due, work: Path, window: dt.timedelta) -> str:
    from signing.renew import last_timestamp_expiry, renew_timestamp

    profile = agencies.signing(ctx, item.code)  # the TSA of the dossier's agency, else the deployment's
    timestamper = profile.timestamper()
    if timestamper is None:
        raise SohoaError(
            "Không có máy chủ dấu thời gian (SOHOA_TSA_URL): không gia hạn được.",
            "No time-stamping authority (SOHOA_TSA_URL): nothing can be renewed.",
            field="SOHOA_TSA_URL",
        )
    source, renewed = work / "current.pdf", work / "renewed.pdf"
    ctx.store.get_file(item.key, source)
    renew_timestamp(source, renewed, timestamper, profile.trust_roots, profile.sign_kwargs()["crls"])
    new_expiry = last_timestamp_expiry(renewed)
    if new_expiry is not None and new_expiry <= dt.datetime.now(dt.UTC) + window:
        raise SohoaError(
            "Chứng thư của máy chủ dấu thời gian hiện tại cũng sắp hết hạn: cần máy chủ khác (SOHOA_TSA_URL).",
            "The current time-stamping authority's certificate expires within the window too: configure "
            "another one (SOHOA_TSA_URL).",
            field="SOHOA_TSA_URL",
        )
    return _keep(ctx, item, renewed, new_expiry)


def renew(ctx: Context, *, dry_run: bool = False, window_days: int | None = None) -> RenewalReport:
    """Renew every signed file whose last time stamp expires within the window (dry run: only
    list them). A file that fails is reported and left as it was; the others go on."""
    days = window_days or ctx.settings.renewal_window_days
    window = dt.timedelta(days=days)
    work = ctx.tmp / "renewal"
    work.mkdir(parents=True, exist_ok=True)
    items: list[RenewalItem] = []
    try:
        for item in due(ctx, window, work):
            view = RenewalItem(
                dossier=item.code, document_id=item.number, key=item.key, expires=iso(item.expires) or ""
            )
            if not dry_run:
                try:
                    view.renewed = _renew_one(ctx, item, work, window)
                except SohoaError as e:
                    view.error_vi, view.error_en = e.vi, e.en
                    log.warning("renewal of %s failed: %s", item.key, e.en)
            items.append(view)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.info("renewal: %d due, %d renewed", len(items), sum(1 for i in items if i.renewed))
    return RenewalReport(window_days=days, dry_run=dry_run, documents=items)
