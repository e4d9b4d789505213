"""The HTTP API (FastAPI): routes check input, call one service function and map errors to problem+json."""

from __future__ import annotations

import base64
import contextlib
import tempfile
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import FastAPI, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, Field
from sqlalchemy import select, text
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

import jobs
import service
from errors import SohoaError
from metrics import CatalogCollector
from settings import get_settings
from signing import verify_pdf
from storage import Document, Dossier, Job, parse_code
from storage.errors import NotFound

PROBLEM = "application/problem+json"
CHUNK = 1 << 20


def _lang(request: Request) -> str:
    return "en" if request.headers.get("accept-language", "vi").lower().startswith("en") else "vi"


def problem(
    request: Request, status: int, code: str, vi: str, en: str, field: str | None = None, **extra: object
) -> JSONResponse:
    """RFC 9457 problem details, Vietnamese first; ``extra`` members go in as they are."""
    lang = _lang(request)
    body = {
        "type": f"urn:sohoa:error:{code}",
        "title": vi if lang == "vi" else en,
        "status": status,
        "detail": vi if lang == "vi" else en,
        "detail_vi": vi,
        "detail_en": en,
    }
    if field:
        body["field"] = field
    return JSONResponse({**body, **extra}, status_code=status, media_type=PROBLEM)


@contextlib.asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    ctx = service.context(settings)
    ctx.signer()  # makes the demo PKI on first start, before the first job needs it
    consumer = jobs.start_embedded_worker(settings) if settings.embedded_worker else None
    try:
        yield
    finally:
        if consumer is not None:
            consumer.stop(graceful=True)


app = FastAPI(
    title="sohoa",
    summary="Số hóa hồ sơ một cửa: quét → OCR tiếng Việt → PDF/A có chữ ký số → tìm kiếm",
    version="0.1.0",
    lifespan=lifespan,
)


@app.exception_handler(SohoaError)
async def _sohoa_error(request: Request, exc: SohoaError) -> JSONResponse:
    return problem(request, exc.status, exc.code, exc.vi, exc.en, exc.field)


@app.exception_handler(RequestValidationError)
async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    fields = ", ".join(".".join(str(p) for p in e["loc"] if p not in ("body", "query", "path")) for e in exc.errors())
    return problem(
        request, 422, "invalid-request", f"Yêu cầu không hợp lệ: {fields}.", f"Invalid request: {fields}.", fields
    )


@app.exception_handler(StarletteHTTPException)
async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    messages = {404: ("Không tìm thấy.", "Not found."), 405: ("Phương thức không được phép.", "Method not allowed.")}
    vi, en = messages.get(exc.status_code, (str(exc.detail), str(exc.detail)))
    return problem(request, exc.status_code, f"http-{exc.status_code}", vi, en)


@app.get("/healthz", tags=["vận hành"])
def healthz() -> dict[str, str]:
    return {"status": "ok"}


_registry = CollectorRegistry()
_registry.register(CatalogCollector())


@app.get("/metrics", tags=["vận hành"], response_class=PlainTextResponse)
def metrics() -> PlainTextResponse:
    """Số liệu dạng Prometheus. / Metrics in Prometheus text format."""
    return PlainTextResponse(generate_latest(_registry).decode(), media_type=CONTENT_TYPE_LATEST)


@app.get("/readyz", tags=["vận hành"])
def readyz(request: Request) -> JSONResponse:
    """Sẵn sàng phục vụ: cơ sở dữ liệu, kho lưu trữ, hàng đợi. / Ready: database, object store, queue."""
    ctx = service.context()
    checks: dict[str, str] = {}
    for name, probe in (
        ("database", lambda: ctx.sessions().execute(text("SELECT 1")).scalar_one()),
        ("storage", ctx.store.check),
        ("queue", lambda: jobs.queue(ctx.settings).huey.pending_count()),
    ):
        try:
            probe()
            checks[name] = "ok"
        except Exception as e:  # any failure means "not ready"; the message says which part
            checks[name] = f"{type(e).__name__}: {e}"[:200]
    ready = all(v == "ok" for v in checks.values())
    if not ready:
        failing = ", ".join(k for k, v in checks.items() if v != "ok")
        return problem(
            request, 503, "not-ready", f"Chưa sẵn sàng: {failing}.", f"Not ready: {failing}.", failing, checks=checks
        )
    return JSONResponse({"status": "ok", "checks": checks})


async def _save_upload(upload: UploadFile, dest: Path, limit: int) -> None:
    size = 0
    with dest.open("wb") as out:
        while chunk := await upload.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise SohoaError(
                    f"Tệp {upload.filename} vượt giới hạn {limit:,} byte.",
                    f"{upload.filename} exceeds the limit of {limit:,} bytes.",
                    field="file",
                )
            out.write(chunk)
    if size == 0:
        raise SohoaError(f"Tệp {upload.filename} rỗng.", f"{upload.filename} is empty.", field="file")


@app.post("/api/v1/dossiers/{code}/scans", status_code=202, tags=["hồ sơ"])
async def post_scan(
    code: str,
    file: Annotated[UploadFile, File(description="PDF, TIFF, JPEG, JPEG 2000 hoặc PNG")],
    spreads: Annotated[
        Literal["auto", "never", "always"] | None,
        Query(description="Tách trang đôi: auto (khi thấy gáy), never, always. / Split two-page spreads."),
    ] = None,
    blank_pages: Annotated[
        Literal["flag", "drop"] | None, Query(description="Trang trắng: flag (đánh dấu) hoặc drop (bỏ).")
    ] = None,
) -> JSONResponse:
    """Nhận một tệp quét cho hồ sơ và xếp hàng số hóa. / Accept one scan for a dossier and queue it."""
    ctx = service.context()
    parse_code(code, ctx.settings.dossier_code_pattern)  # reject a bad code before reading the body
    with tempfile.TemporaryDirectory(dir=ctx.tmp) as tmp:
        upload = Path(tmp) / "upload"
        await _save_upload(file, upload, ctx.settings.max_upload_bytes)
        options = {k: v for k, v in (("spreads", spreads), ("blank_pages", blank_pages)) if v} or None
        job, created = await run_in_threadpool(
            partial(service.accept_scan, ctx, code, upload, file.filename or "scan", options=options)
        )
    if created:
        jobs.enqueue(job.id, ctx.settings)
    body = {**service.job_view(job), "created": created, "job_url": f"/api/v1/jobs/{job.id}"}
    return JSONResponse(body, status_code=202 if created else 200)


@app.post("/api/v1/batches", status_code=202, tags=["hồ sơ"])
async def post_batch(
    file: Annotated[UploadFile, File(description="Lô quét có tờ phân cách (QR mã hồ sơ, PATCH-T)")],
    code: Annotated[str | None, Query(description="Mã hồ sơ cho các trang trước tờ phân cách đầu tiên")] = None,
) -> JSONResponse:
    """Nhận một lô quét; tờ phân cách chia lô thành tài liệu và hồ sơ.
    / Accept a batch scan; its separator sheets split it into documents and dossiers."""
    ctx = service.context()
    with tempfile.TemporaryDirectory(dir=ctx.tmp) as tmp:
        upload = Path(tmp) / "upload"
        await _save_upload(file, upload, ctx.settings.max_upload_bytes)
        job = await run_in_threadpool(
            partial(service.accept_batch, ctx, upload, file.filename or "batch", default_code=code or "")
        )
    jobs.enqueue(job.id, ctx.settings)
    return JSONResponse({**service.job_view(job), "job_url": f"/api/v1/jobs/{job.id}"}, status_code=202)


@app.get("/api/v1/jobs/{job_id}", tags=["công việc"])
def get_job(job_id: str) -> dict[str, Any]:
    """Trạng thái, tiến độ và lỗi của một công việc. / A job's status, progress and errors."""
    with service.context().sessions() as session:
        job = session.get(Job, job_id)
        if job is None:
            raise NotFound(f"Không có công việc {job_id[:40]}.", f"No job {job_id[:40]}.", field="job_id")
        return service.job_view(job)


@app.get("/api/v1/dossiers/{code}", tags=["hồ sơ"])
def get_dossier(code: str) -> dict[str, Any]:
    """Hồ sơ, các tài liệu và đường tải về. / A dossier, its documents and download links."""
    ctx = service.context()
    parse_code(code, ctx.settings.dossier_code_pattern)
    with ctx.sessions() as session:
        dossier = session.get(Dossier, code)
        if dossier is None:
            raise NotFound(f"Không có hồ sơ {code}.", f"No dossier {code}.", field="code")
        base = f"/api/v1/dossiers/{code}/documents"
        return {
            "code": dossier.code,
            "agency": dossier.agency,
            "status": dossier.status,
            "received_on": dossier.received_on.isoformat() if dossier.received_on else None,
            "documents": [
                {
                    "id": d.id,
                    "file": d.original_name,
                    "pages": d.page_count,
                    "original_sha256": d.original_sha256,
                    "downloads": {k: f"{base}/{d.id}/{k}" for k, key in _versions(d).items() if key},
                }
                for d in dossier.documents
            ],
        }


def _versions(document: Document) -> dict[str, str | None]:
    """What can be downloaded of a document, by kind: object keys, None if not made yet."""
    return {
        "original": document.original_key,
        "pdfa": document.pdfa_key,
        "signed": document.signed_key,
        "alto": document.alto_key,  # words with their boxes, ALTO v4 XML
    }


@app.get("/api/v1/dossiers/{code}/documents/{document_id}/{kind}", tags=["hồ sơ"])
def download(code: str, document_id: int, kind: Literal["original", "pdfa", "signed", "alto"]) -> StreamingResponse:
    """Tải bản gốc, bản PDF/A hoặc bản đã ký. / Download the original, the PDF/A or the signed PDF/A."""
    ctx = service.context()
    parse_code(code, ctx.settings.dossier_code_pattern)
    with ctx.sessions() as session:
        document = session.scalars(
            select(Document).where(Document.id == document_id, Document.dossier_code == code)
        ).first()
        key = _versions(document)[kind] if document else None
        if not key:
            raise NotFound(
                f"Hồ sơ {code} chưa có bản {kind} của tài liệu {document_id}.",
                f"Dossier {code} has no {kind} version of document {document_id}.",
                field="kind",
            )
        suffix = ".xml" if kind == "alto" else ".pdf"
        name = document.original_name if kind == "original" else f"{code}-{document_id}-{kind}{suffix}"  # type: ignore[union-attr]
    stream = ctx.store.open(key)

    def chunks() -> Iterator[bytes]:
        with stream:
            while chunk := stream.read(CHUNK):
                yield chunk

    media = {"alto": "application/xml", "original": "application/octet-stream"}.get(kind, "application/pdf")
    if kind == "original" and key.endswith(".pdf"):
        media = "application/pdf"
    headers = {
        "Content-Length": str(ctx.store.size(key)),
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}",
    }
    return StreamingResponse(chunks(), media_type=media, headers=headers)


class RemotePrepare(BaseModel):
    certificates: str = Field(
        description="Chứng thư của người ký và chuỗi CA, dạng PEM / signer certificate and CA chain, PEM"
    )


class RemoteComplete(BaseModel):
    signature: str = Field(
        description="Chữ ký (base64) trên `to_be_signed` / the signature over `to_be_signed`, base64"
    )


@app.post("/api/v1/dossiers/{code}/documents/{document_id}/remote-signatures", status_code=201, tags=["chữ ký số"])
def prepare_remote_signature(code: str, document_id: int, body: RemotePrepare) -> dict[str, Any]:
    """Bước 1 ký bằng USB token của cán bộ: chuẩn bị tài liệu, trả về dữ liệu cần ký.
    / Step 1 of signing with a clerk's token: prepare the document and return the bytes to sign."""
    return service.prepare_remote(service.context(), code, document_id, body.certificates.encode())


@app.post("/api/v1/remote-signatures/{pending_id}", tags=["chữ ký số"])
def complete_remote_signature(pending_id: str, body: RemoteComplete) -> dict[str, Any]:
    """Bước 2: gửi chữ ký về, dịch vụ hoàn tất tài liệu. / Step 2: send the signature; the service completes the PDF."""
    try:
        signature = base64.b64decode(body.signature, validate=True)
    except ValueError as e:
        raise SohoaError("Chữ ký phải ở dạng base64.", "The signature must be base64.", field="signature") from e
    return service.complete_remote(service.context(), pending_id, signature)


@app.get("/api/v1/search", tags=["tìm kiếm"])
def search(
    q: Annotated[str, Query(min_length=1, max_length=500, description="Từ cần tìm, có hoặc không dấu")],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Tìm trong nội dung OCR, có dấu hoặc không dấu. / Search OCR text, with or without diacritics."""
    return service.search(service.context(), q, limit=limit, offset=offset)


@app.post("/api/v1/verify", tags=["chữ ký số"])
async def verify(file: Annotated[UploadFile, File(description="Tệp PDF đã ký")]) -> dict[str, Any]:
    """Kiểm tra chữ ký số và PDF/A của một tệp. / Verify a PDF's signatures and PDF/A conformance."""
    ctx = service.context()
    with tempfile.TemporaryDirectory(dir=ctx.tmp) as tmp:
        path = Path(tmp) / Path(service.clean_filename(file.filename or "document.pdf")).name
        await _save_upload(file, path, ctx.settings.max_upload_bytes)
        report = await run_in_threadpool(verify_pdf, path, ctx.trust_roots())
        return report.to_dict()
