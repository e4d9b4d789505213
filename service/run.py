"""A job's steps: digitize the stored scan, store every version (signed as the agency only when
it signs automatically), and record pages, index and signature in the catalog in one
transaction with the job's end."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

import storage.manifest
import storage.search
from checksums import sha256_file
from digitize import Result, Source, digitize, digitize_batch
from digitize.export import to_alto
from digitize.ingest import signed_pdf
from digitize.pipeline import PageResult
from errors import SohoaError
from service import agencies, dossiers, failures, fields, lanes, lease, limits, logs, originals, signing_rules
from service.agencies import retention_for
from service.context import Context, audit
from service.dossiers import write_manifest
from service.options import job_digitize_options
from service.signatures import noted, signed_event
from storage import Document, Dossier, Page, Signature, dossier_prefix, lifecycle, parse_code
from storage.catalog import document_for, insert_new
from storage.codes import agency_of
from storage.errors import no_dossier
from storage.objects import ObjectInfo

log = logging.getLogger("sohoa")
PAGE_DETAILS = (
    "source",
    "number",
    "part",
    "paper",
    "dpi",
    "rotate",
    "skew",
    "tiles",
    "blank",
    "dropped",
    "words",
    "confidence",
)


def run_job(ctx: Context, job_id: str) -> bool:
    """Run one queued job. Safe to run again after a crash: objects are content-addressed, and
    the catalog rows and the job's "done" are written in one transaction at the end, or not at all.
    True when the worker stopped it and put it back: the caller queues it again."""
    run = lease.claim(ctx, job_id)
    if run is None:
        return False  # done already, cancelled, or another worker has it
    token = logs.request_id.set(f"job:{job_id}")
    where = {"job": job_id, "dossier": run.code}
    log.info("job started (attempt %d)", run.attempt, extra=where)
    try:
        with lease.heartbeat(ctx, run), tempfile.TemporaryDirectory(prefix="job-", dir=ctx.tmp) as tmp:
            if run.kind == "batch":
                _run_batch(ctx, run, Path(tmp))
            else:
                _run_scan(ctx, run, Path(tmp))
        log.info("job done", extra=where)
    except lanes.Interrupted:
        log.info("job stopped with its worker; queued again", extra=where)
        return lease.release(ctx, run)
    except lease.JobLost:
        log.warning("job %s was cancelled or taken over by another worker; this attempt is dropped", job_id)
    except Exception as e:
        _fail(ctx, run, e)
    finally:
        logs.request_id.reset(token)
    return False


def _progress(ctx: Context, run: lease.Run, room: int, name: str) -> Callable[[int, int | None], None]:
    """Between pages: the dossier's page limit, progress in the job row (a job cancelled or taken
    over meanwhile stops here), and a large job's giving way to small ones."""
    last = [0.0]
    large = lanes.is_large(run.pages, ctx.settings.large_job_pages)

    def report(done: int, total: int | None) -> None:
        limits.check(done, room, ctx.settings.max_pages_per_dossier, name)
        if total is not None or time.monotonic() - last[0] > 1:  # at most one write a second
            last[0] = time.monotonic()
            lease.progress(ctx, run, done, total)
        lanes.between_pages(large)

    return report


@dataclass
class Made:
    """One digitized document, stored (and signed by the agency when it signs automatically),
    waiting for its catalog rows."""

    code: str
    result: Result
    pdfa: ObjectInfo
    alto: ObjectInfo
    signed: ObjectInfo | None = None
    signature: dict[str, str] | None = None
    stamp_expires: dt.datetime | None = None  # of the signed copy's time stamp (the renewal selects by it)

    @property
    def kept(self) -> list[PageResult]:
        return [p for p in self.result.pages if not p.dropped]


def store(ctx: Context, work: Path, code: str, prefix: str, result: Result, *, sign: bool) -> Made:
    """Store PDF/A and ALTO (content-addressed); with ``sign`` (SOHOA_AUTO_AGENCY_SIGNATURE, a
    component) the agency's signed copy too. Otherwise the copy waits for the officer's vouching
    and the agency's seal (service.signing_rules)."""
    alto_path = work / f"{result.output.stem}-alto.xml"
    alto_path.write_text(to_alto(result.pages), encoding="utf-8")
    put = ctx.store.put_file
    pdfa = put(f"{prefix}/pdfa-{result.sha256[:16]}.pdf", result.output, write_once=True)
    alto = put(f"{prefix}/alto-{sha256_file(alto_path)[:16]}.xml", alto_path, write_once=True)
    made = Made(code, result, pdfa, alto)
    if sign:
        from signing.renew import last_timestamp_expiry  # pyHanko loads when a job first signs
        from signing.sign import sign_pdf

        signed_path = work / f"{result.output.stem}-signed.pdf"
        profile, signer = agencies.signing(ctx, code), agencies.signer(ctx, code)
        # No TSA, or the demo PKI's, is said after what signing said (a stamp that had to cover text).
        made.signature = noted(sign_pdf(result.output, signed_path, signer, **profile.sign_kwargs()), profile.note)
        # Signed results are kept under COMPLIANCE retention on S3 (read-only files on disk).
        key = f"{prefix}/signed-{sha256_file(signed_path)[:16]}.pdf"
        made.signed = put(key, signed_path, write_once=True, retain=True)
        made.stamp_expires = last_timestamp_expiry(signed_path)
    return made


def record(session: Session, document: Document, made: Made, run: lease.Run | None = None) -> None:
    """The catalog rows of a stored document: its versions, pages (indexed) and signature."""
    storage.search.forget_pages(session, document)  # FTS5 rows do not cascade
    document.pdfa_key, document.pdfa_sha256 = made.pdfa.key, made.pdfa.sha256
    document.signed_key = made.signed.key if made.signed else None
    document.signed_sha256 = made.signed.sha256 if made.signed else None
    document.stamp_expires, document.stamp_sha256 = made.stamp_expires, document.signed_sha256
    document.alto_key = made.alto.key
    document.page_count = len(made.kept)
    document.notices = made.result.notices  # shown on the document and its dossier
    document.removed_at = None  # a batch posted again brings back a document removed since
    fields.prefill(document, made.result.metadata or {})  # number, date, type… read from its pages
    for kind, info in (("pdfa", made.pdfa), ("alto", made.alto), ("signed", made.signed)):
        if info is not None:
            storage.manifest.record(session, info, kind=kind, code=made.code, actor="worker")
    for number, page in enumerate(made.kept, start=1):
        row = Page(
            document_id=document.id,
            number=number,
            text=page.text,
            words=page.words,
            confidence=page.confidence,
            dpi=min(page.dpi),
        )
        session.add(row)
    storage.search.index_document(session, document)  # flushes; page 1 also carries the dossier's metadata
    if made.signed is not None and made.signature is not None:
        session.add(
            Signature(
                document_id=document.id,
                kind=signing_rules.AGENCY,
                version=made.pdfa.sha256,
                actor="worker",
                field=made.signature["field"],
                signer=made.signature["signer"],
                signed_at=made.signature["time"],
                level=made.signature["level"],
                object_key=made.signed.key,
            )
        )
        signed_event(session, made.code, document.number, signing_rules.AGENCY, made.signature, made.signed.sha256)
    lease.digitized(session, made.code, run)


def _summary(made: Made, number: int) -> dict[str, Any]:
    return {
        "dossier": made.code,
        "document_id": number,  # in its dossier, as URLs name it
        "pages": len(made.kept),
        "page_details": [{k: getattr(p, k) for k in PAGE_DETAILS} for p in made.result.pages],
        "pdfa": {"flavour": made.result.flavour, "sha256": made.pdfa.sha256, "size": made.pdfa.size},
        "signed": {"sha256": made.signed.sha256, "size": made.signed.size, **made.signature}
        if made.signed and made.signature
        else None,
        "notices": made.result.notices,
    }


def _run_scan(ctx: Context, run: lease.Run, work: Path) -> None:
    code, doc_id = run.code, run.document_id
    assert code is not None and doc_id is not None
    limit = ctx.settings.max_pages_per_dossier
    with ctx.sessions() as session:
        document = session.get(Document, doc_id)
        assert document is not None
        original_key, original_name, kind = document.original_key, document.original_name, document.kind
        kept_fields = fields.record_values(session, document)  # for the new copy's XMP
        room = limits.room(session, code, limit, besides=doc_id)
    limits.check(run.pages or 0, room, limit, original_name)  # counted at upload: refused before any OCR
    original = work / ("original" + Path(original_key).suffix)
    ctx.store.get_file(original_key, original)
    signed = original.suffix == ".pdf" and signed_pdf(original)
    if signed and ctx.settings.signed_pdfs == "keep":
        originals.keep(ctx, run, original, original_name, work)
        write_manifest(ctx, code)
        return
    large = lanes.is_large(run.pages, ctx.settings.large_job_pages)
    with contextlib.nullcontext() if large else lanes.small_job():
        result = digitize(
            [Source(original, original_name)],
            work / "pdfa.pdf",
            title=f"Hồ sơ {code} - {original_name}",
            identifier=code,
            progress=_progress(ctx, run, room, original_name),
            workdir=work,
            record=kept_fields,
            **job_digitize_options(ctx.settings, run.options),
        )
    if signed and result.pages:  # digitized as images by setting: its signatures are not in the copy
        result.pages[0].notices.append(originals.STRIPPED)
    auto = ctx.settings.auto_agency_signature and kind == signing_rules.COMPONENT
    made = store(ctx, work, code, f"{dossier_prefix(code)}/documents/{doc_id}", result, sign=auto)
    with ctx.sessions.begin() as session:
        lifecycle.check_open(session, code, "ghi bản số hóa", "recording a digitized copy")  # closed meanwhile
        document = session.get(Document, doc_id)
        assert document is not None
        record(session, document, made, run)
        number, pages = document.number, len(made.kept)
        audit(session, "worker", "scan.digitized", code, document=doc_id, number=number, job=run.job_id, pages=pages)
        lease.finish(session, run, _summary(made, number), pages)
    write_manifest(ctx, code)


def _run_batch(ctx: Context, run: lease.Run, work: Path) -> None:
    """A batch scan split at its separator sheets: one document per segment, in the dossier
    its separator names. Every segment needs a dossier code, or nothing is recorded."""
    options = run.options
    original = work / ("batch" + Path(options["original_key"]).suffix)
    ctx.store.get_file(options["original_key"], original)
    segments = digitize_batch(
        [Source(original, options["original_name"])],
        work / "out",
        code_pattern=ctx.settings.dossier_code_pattern,
        default_code=options.get("default_code", ""),
        progress=_progress(ctx, run, ctx.settings.max_pages_per_dossier, options["original_name"]),
        **job_digitize_options(ctx.settings, options),
    )
    if any(not s.code for s in segments):
        raise SohoaError(
            "Lô quét có trang trước tờ phân cách đầu tiên mà không có mã hồ sơ; gửi kèm mã mặc định (?code=…).",
            "The batch has pages before its first separator sheet and no dossier code; send a default (?code=…).",
            field="code",
        )
    _check_agencies(segments, options.get("agencies"))
    sha, auto = options["sha256"], ctx.settings.auto_agency_signature
    made = [
        store(ctx, work, s.code, f"{dossier_prefix(s.code)}/batches/{sha[:16]}-{n}", s.result, sign=auto)
        for n, s in enumerate(segments, start=1)
    ]
    documents = []
    codes = sorted({s.code for s in segments})
    with ctx.sessions.begin() as session:
        # Rows first, dossiers in one order, audit entries last: two batches making the same
        # dossiers at once neither collide nor wait on each other in a circle (PostgreSQL).
        may_create = options.get("creates_dossiers", True)  # a scanner's batch: only dossiers received
        created = [code for code in codes if _new_dossier(ctx, session, code, may_create)]
        rows = [_batch_document(session, s.code, n, options) for n, s in enumerate(segments, start=1)]
        for code in codes:  # a closed dossier anywhere: nothing is recorded
            lifecycle.check_open(session, code, "nhận tài liệu từ lô quét", "a document from a batch")
        for code in created:
            audit(session, "worker", "dossier.created", code, batch=options["sha256"])
        for segment, document, item in zip(segments, rows, made, strict=True):
            record(session, document, item, run)
            number, pages = document.number, len(item.kept)
            detail = {"document": document.id, "number": number, "job": run.job_id, "pages": pages}
            audit(session, "worker", "batch.document", segment.code, **detail)
            documents.append(_summary(item, number))
        lease.finish(session, run, {"documents": documents}, sum(d["pages"] for d in documents))
    for code in codes:
        write_manifest(ctx, code)


def _check_agencies(segments: list[Any], agencies: list[str] | None) -> None:
    """A station of some agencies files pages only into their dossiers (a separator sheet of
    another agency's dossier fails the batch, nothing recorded)."""
    for segment in segments:
        if agencies is not None and agency_of(segment.code) not in agencies:
            raise no_dossier(segment.code)


def _new_dossier(ctx: Context, session: Session, code: str, may_create: bool) -> bool:
    if not may_create:
        dossiers.require_received(session, code)
        return False
    parsed = parse_code(code, ctx.settings.dossier_code_pattern)
    kept = retention_for(session, parsed.agency, "")
    return insert_new(session, Dossier, code=code, agency=parsed.agency, received_on=parsed.received_on, retention=kept)


def _batch_document(session: Session, code: str, n: int, options: dict[str, Any]) -> Document:
    """The ``n``-th document of a batch in dossier ``code``: made the first time, the same row
    when the job runs again."""
    return document_for(
        session,
        code,
        options["sha256"],
        str(n),
        original_key=options["original_key"],
        original_size=options["size"],
        original_name=f"{options['original_name']} (tài liệu {n})",
    )


def _fail(ctx: Context, run: lease.Run, e: Exception) -> None:
    if not isinstance(e, SohoaError):
        log.exception("job %s failed", run.job_id)
    error = failures.job_error(e, run.job_id)  # the desk sees the reason, never paths or classes
    code = run.code
    with ctx.sessions.begin() as session:
        if not lease.fail(session, run, error):
            return  # another worker holds the job now
        lease.settle_dossier(session, code, lease.job_actor(run), run.station)  # what its documents make it
        audit(session, "worker", "scan.failed", code, document=run.document_id, job=run.job_id, error=error["code"])
    if code:
        write_manifest(ctx, code)  # it lists the original the failed job was given
