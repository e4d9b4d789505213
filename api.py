"""The HTTP API (FastAPI): routes parse input, call one service function, shape the answer and build
its URLs; typed errors become problem+json."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import gc
import os
import re
import sys
import warnings
from collections.abc import AsyncIterator, Iterator
from functools import partial
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import Body, Depends, FastAPI, Header, Query, Request
from fastapi import Path as ApiPath
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

import web.app
from errors import SohoaError
from service import (
    access,
    agencies,
    dossiers,
    gate,
    jobs,
    logs,
    onestop,
    packages,
    queue,
    resumable,
    retention,
    scans,
    scratch,
    signatures,
    statistics,
    uploads,
    views,
    webhooks,
)
from service import audit as audit_log
from service import search as searching
from service.access import Principal
from service.context import context
from service.metrics import CatalogCollector, readiness
from service.settings import get_settings
from storage import JobStatus, lifecycle
from storage.lifecycle import DossierStatus
from storage.search import DocumentFilter

if not sys.warnoptions:  # libraries' deprecation notices are not for the service's log
    warnings.simplefilter("ignore")
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
    body["request_id"] = logs.request_id.get()
    return JSONResponse({**body, **extra}, status_code=status, media_type=PROBLEM)


# How long a thread may keep the GIL while another waits for it (CPython's default is 5 ms). An
# upload's catalog transaction gives the GIL back at each SQLite call and then waits for it again
# behind the threads receiving other uploads; with 1 ms, 20 uploads at once were answered sooner
# (median burst p95 293 → 265 ms over 25 bursts each, docs/benchmarks.md, service section).
SWITCH_INTERVAL_S = 0.001


@contextlib.asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    settings = get_settings()
    ctx = context(settings)
    ctx.trust_roots()  # makes the demo PKI on first start, before any worker needs it
    scratch.sweep(settings.data_dir)  # what a server process killed mid-upload left (the worker's reaper does it too)
    resumable.sweep(ctx)  # upload sessions abandoned (each new session sweeps them too)
    # Of several server processes, the one that takes the lock runs the worker; when it dies,
    # the process started in its place takes it.
    lock = queue.worker_lock(settings) if settings.embedded_worker else None
    workers = None
    try:
        if lock is not None:
            ctx.signer()  # a wrong certificate or password shows at start, not at the first job
            workers = queue.start_workers(settings)
            queue.log.info("embedded worker started in server process %d", os.getpid())
        # What start-up loaded (pyHanko, numpy, the templates: some 250,000 objects) lives as long as
        # the process: out of the collector's sight, its full collections no longer walk it (they
        # took 130-180 ms, every dozen requests of the statistics page, docs/benchmarks.md).
        gc.collect()
        gc.freeze()
        yield
    finally:
        gc.unfreeze()  # a process that starts the app again (the tests) may collect it then
        if workers is not None:
            workers.stop()  # its jobs stop at their next page and are queued again
        if lock is not None:
            os.close(lock)


app = FastAPI(
    title="sohoa",
    summary="Số hóa hồ sơ một cửa: quét → OCR tiếng Việt → PDF/A có chữ ký số → tìm kiếm",
    version="0.1.0",
    lifespan=lifespan,
    docs_url=None,  # web/pages.py serves /docs from the repository's Swagger UI: it works offline
    redoc_url=None,
)
app.router.route_class = gate.GuardedRoute  # every route below: the caller and the body's size first


app.add_middleware(logs.RequestLog)


@app.exception_handler(SohoaError)
async def _sohoa_error(request: Request, exc: SohoaError) -> Response:
    if web.app.is_page(request):  # a person at a web page: a page, or the way to the login page
        return web.app.error_response(request, exc)
    response = problem(request, exc.status, exc.code, exc.vi, exc.en, exc.field)
    response.headers.update(exc.headers)
    return response


# Every route but the health checks names who may call it (an admin may call all); the gate
# checks it before the request's body is read.
Uploader = Annotated[Principal, Depends(gate.Caller(access.UPLOAD))]
Reader = Annotated[Principal, Depends(gate.Caller(access.READ))]
Signer = Annotated[Principal, Depends(gate.Caller(access.SIGN))]
Anyone = Annotated[Principal, Depends(gate.Caller(access.ANYONE))]
Clerk = Annotated[Principal, Depends(gate.Caller(("clerk",)))]
Archivist = Annotated[Principal, Depends(gate.Caller(("archivist",)))]
OneStop = Annotated[Principal, Depends(gate.Caller(access.ONESTOP))]
Fetcher = Annotated[Principal, Depends(gate.Caller(access.FETCH))]
Admin = Annotated[Principal, Depends(gate.Caller(()))]


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


class Health(BaseModel):
    status: Literal["ok"]


class Ready(Health):
    checks: dict[str, str] = Field(
        description="database, storage, queue: ok hoặc unavailable (lý do ở nhật ký) / ok or unavailable (logged)"
    )


@app.get("/healthz", tags=["vận hành"])
def healthz() -> Health:
    return Health(status="ok")


_registry = CollectorRegistry()
_registry.register(CatalogCollector())


@app.get("/metrics", tags=["vận hành"], response_class=PlainTextResponse)
def metrics(who: Admin) -> PlainTextResponse:
    """Số liệu dạng Prometheus. / Metrics in Prometheus text format."""
    return PlainTextResponse(generate_latest(_registry).decode(), media_type=CONTENT_TYPE_LATEST)


@app.get("/readyz", tags=["vận hành"], response_model=Ready)
def readyz(request: Request) -> JSONResponse:
    """Sẵn sàng phục vụ: cơ sở dữ liệu, kho lưu trữ, hàng đợi. / Ready: database, object store, queue."""
    checks = readiness()
    failing = ", ".join(k for k, v in checks.items() if v != "ok")
    if failing:
        return problem(
            request, 503, "not-ready", f"Chưa sẵn sàng: {failing}.", f"Not ready: {failing}.", failing, checks=checks
        )
    return JSONResponse(Ready(status="ok", checks=checks).model_dump())


class AcceptedJob(views.AcceptedJob):
    job_url: str


class AcceptedScans(BaseModel):
    dossier: str
    jobs: list[AcceptedJob]


class AcceptedBatch(views.JobView):
    job_url: str


# Bounds that keep numbers within the catalog's integer columns (an overflow would be a 500).
DocumentId = Annotated[
    int,
    ApiPath(ge=1, le=2**31 - 1, description="Số thứ tự tài liệu trong hồ sơ / the document's number in its dossier"),
]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000, description="Bỏ qua bấy nhiêu kết quả / results to skip")]


def _job_url(job_id: str) -> str:
    return app.url_path_for("get_job", job_id=job_id)


class ScanOptions(BaseModel):
    """A request's digitization choices over the settings (query parameters)."""

    spreads: Literal["auto", "never", "always"] | None = Field(
        None, description="Tách trang đôi: auto (khi thấy gáy), never, always. / Split two-page spreads."
    )
    blank_pages: Literal["flag", "drop"] | None = Field(
        None, description="Trang trắng: flag (đánh dấu) hoặc drop (bỏ)."
    )
    profile: Literal["archive", "compact"] | None = Field(
        None,
        description="Ảnh trang: archive (giữ nguyên như khi quét) hoặc compact (ảnh màu, xám nén JPEG). "
        "/ Page images: as scanned, or colour and grey pages as JPEG.",
    )

    def chosen(self) -> dict[str, str] | None:
        return self.model_dump(exclude_none=True) or None


Choices = Annotated[ScanOptions, Query()]


@app.post(
    "/api/v1/dossiers/{code}/scans",
    status_code=202,
    tags=["hồ sơ"],
    openapi_extra=uploads.OPENAPI_BODY,
    response_model=AcceptedScans,
    responses={200: {"model": AcceptedScans, "description": "Mọi tệp đã nhận trước đó / every file accepted before"}},
)
async def post_scan(
    who: Uploader,
    request: Request,
    code: str,
    choices: Choices,
    kind: Annotated[
        Literal["component", "result"],
        Query(
            description="component: thành phần hồ sơ; result: kết quả giải quyết (ký bởi người có thẩm quyền rồi "
            "cơ quan) / a component of the dossier, or an issued result"
        ),
    ] = "component",
) -> JSONResponse:
    """Nhận một hay nhiều tệp quét cho hồ sơ; mỗi tệp là một tài liệu, một công việc số hóa. Trạm quét chỉ gửi
    vào hồ sơ đã tiếp nhận (trừ khi SOHOA_SCANNER_CREATES_DOSSIERS). / Accept one or more scans for a dossier;
    each file is a document with its own job. A scanner station posts only to dossiers received."""
    ctx = context()
    creates = dossiers.may_create(ctx.settings, who.role)
    # A bad code, a closed or (for a station) unknown dossier is refused before the body is read.
    await run_in_threadpool(partial(scans.check_dossier, ctx, code, create_dossier=creates))
    options = choices.chosen()
    accepted = []
    async with uploads.received(request, ctx.tmp, ctx.settings.max_upload_bytes) as items:
        for item in items:  # in a thread: it waits on the disk (fsync)
            submit = partial(scans.submit_scan, ctx, code, item.path, item.name, options=options, document_kind=kind)
            job = await run_in_threadpool(
                submit, actor=who.actor, sha256=item.sha256, take=True, create_dossier=creates
            )
            accepted.append(AcceptedJob(**job.model_dump(), job_url=_job_url(job.id)))
    answer = AcceptedScans(dossier=code, jobs=accepted)
    status = 202 if any(j.created for j in accepted) else 200
    return JSONResponse(answer.model_dump(mode="json"), status_code=status)


@app.post(
    "/api/v1/batches",
    status_code=202,
    tags=["hồ sơ"],
    openapi_extra=uploads.OPENAPI_BODY,
    response_model=AcceptedBatch,
)
async def post_batch(
    who: Uploader,
    request: Request,
    code: Annotated[str | None, Query(description="Mã hồ sơ cho các trang trước tờ phân cách đầu tiên")] = None,
) -> JSONResponse:
    """Nhận một lô quét; tờ phân cách chia lô thành tài liệu và hồ sơ.
    / Accept a batch scan; its separator sheets split it into documents and dossiers."""
    ctx = context()
    creates = dossiers.may_create(ctx.settings, who.role)
    if code:  # the dossier of the pages before the first separator, refused before the body is read
        who.require_dossier(code)
        await run_in_threadpool(partial(scans.check_dossier, ctx, code, create_dossier=creates))
    async with uploads.received(request, ctx.tmp, ctx.settings.max_upload_bytes, max_files=1) as items:
        [item] = items
        submit = partial(scans.submit_batch, ctx, item.path, item.name, default_code=code or "", actor=who.actor)
        job = await run_in_threadpool(submit, create_dossier=creates, agencies=who.agencies)
    answer = AcceptedBatch(**job.model_dump(), job_url=_job_url(job.id))
    return JSONResponse(answer.model_dump(mode="json"), status_code=202)


class UploadRequest(BaseModel):
    code: str = Field(max_length=64, description="Mã hồ sơ (với lô: hồ sơ của các trang trước tờ phân cách đầu)")
    name: str = Field(min_length=1, max_length=255, description="Tên tệp / file name")
    size: int = Field(gt=0, le=2**62, description="Số byte của cả tệp / the whole file's bytes")
    sha256: str = Field(pattern="^[0-9a-fA-F]{64}$", description="SHA-256 của cả tệp (hex) / the file's SHA-256")
    kind: Literal["component", "result", "batch"] = Field(
        "component", description="component, result, hoặc batch: lô tách theo tờ phân cách / a batch scan"
    )
    options: ScanOptions | None = None
    replaces: int | None = Field(
        None,
        ge=1,
        le=2**31 - 1,
        description="Số tài liệu cần quét lại (như `POST …/documents/{n}/scans`, chưa ai ký): kiểm tra ngay khi mở "
        "phiên, hoàn tất thì tài liệu giữ số, được số hóa lại / the number of a document to scan again (as `POST "
        "…/documents/{n}/scans`, before anyone signs it): checked when the session opens; completing it replaces "
        "the document's scan, which keeps its number and is digitized again",
    )


class Upload(views.UploadView):
    upload_url: str


def _upload(view: views.UploadView) -> Upload:
    return Upload(**view.model_dump(), upload_url=app.url_path_for("get_upload", upload_id=view.id))


@app.post("/api/v1/uploads", status_code=201, tags=["tải lên từng phần"])
def open_upload(who: Uploader, body: UploadRequest) -> Upload:
    """Mở phiên tải lên từng phần (tiếp tục được khi mất mạng): mã hồ sơ, tên, cỡ và SHA-256 của tệp; với
    `replaces`: bản quét mới cho tài liệu số đó của hồ sơ (hồ sơ của cơ quan khác: 404, như mọi nơi).
    / Open an upload in pieces that resumes after a dropped connection; with `replaces`, a new scan for that
    document of the dossier (another agency's dossier: 404, as everywhere)."""
    options = body.options.chosen() if body.options else None
    view = resumable.open_session(
        context(), who, body.code, body.name, body.size, body.sha256, kind=body.kind, options=options,
        replaces=body.replaces,
    )  # fmt: skip
    return _upload(view)


@app.get("/api/v1/uploads/{upload_id}", tags=["tải lên từng phần"])
def get_upload(who: Uploader, upload_id: str) -> Upload:
    """Máy chủ đã có bao nhiêu byte (gửi tiếp từ `offset`). / How many bytes the server holds."""
    return _upload(resumable.get_session(context(), upload_id, who))


@app.patch(
    "/api/v1/uploads/{upload_id}",
    tags=["tải lên từng phần"],
    openapi_extra=resumable.OPENAPI_PIECE,
    response_model=Upload,
)
async def patch_upload(
    who: Uploader,
    request: Request,
    upload_id: str,
    upload_offset: Annotated[int, Header(ge=0, le=2**62, description="Vị trí byte đầu của phần này")],
) -> JSONResponse:
    """Gửi một phần tệp từ `Upload-Offset` (phải bằng số byte máy chủ đã có, nếu không: 409 kèm vị trí đúng).
    / Send a piece from `Upload-Offset` (the bytes the server holds, else 409 with the right offset)."""
    ctx, declared = context(), request.headers.get("content-length", "")
    begin = partial(resumable.begin_piece, ctx, upload_id, who, upload_offset)
    piece = await run_in_threadpool(
        begin, int(declared) if declared.isdigit() else None, request.headers.get("content-digest")
    )
    view = _upload(await resumable.receive(ctx, piece, request.stream(), who))
    return JSONResponse(view.model_dump(mode="json"), headers={"Upload-Offset": str(view.offset)})


@app.post(
    "/api/v1/uploads/{upload_id}/complete",
    status_code=202,
    tags=["tải lên từng phần"],
    response_model=AcceptedScans,
    responses={200: {"model": AcceptedScans, "description": "Đã nhận trước đó / accepted before"}},
)
def complete_upload(who: Uploader, request: Request, upload_id: str) -> JSONResponse:
    """Hoàn tất: kiểm SHA-256 của cả tệp rồi nhận như một bản quét, hoặc (phiên có `replaces`) thay bản quét của
    tài liệu như `POST …/documents/{n}/scans` (202 kèm công việc; gọi lại trả đúng công việc đó). / Complete: check
    the file's SHA-256, then accept it as a scan, or (a session with `replaces`) as the document's new scan, as
    `POST …/documents/{n}/scans` does (202 with its job; again: the same job)."""
    job = resumable.complete(context(), upload_id, who, request.headers.get("content-digest"))
    answer = AcceptedScans(dossier=job.dossier or "", jobs=[AcceptedJob(**job.model_dump(), job_url=_job_url(job.id))])
    return JSONResponse(answer.model_dump(mode="json"), status_code=202 if job.created else 200)


class Job(views.JobView):
    job_url: str


class JobPage(views.JobPage):
    jobs: list[Job]  # type: ignore[assignment]  # the same jobs, with their links


@app.get("/api/v1/jobs", tags=["công việc"])
def list_jobs(
    who: Anyone,
    status: Annotated[JobStatus | None, Query(description="Trạng thái / status")] = None,
    dossier: Annotated[str | None, Query(max_length=64, description="Mã hồ sơ / dossier code")] = None,
    since: Annotated[
        dt.datetime | None, Query(description="Gửi từ lúc (ISO 8601; không có múi giờ: giờ cơ quan) / posted since")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Offset = 0,
) -> JobPage:
    """Các công việc, mới nhất trước, lọc theo trạng thái, hồ sơ, thời điểm; trạm quét chỉ thấy công việc của
    mình. / Jobs, newest first, by status, dossier and time; a scanner station sees only its own."""
    found = jobs.list_jobs(
        context(),
        who=who,
        status=status,
        dossier=dossier,
        since=since,
        limit=limit,
        offset=offset,
    )
    listed = [Job(**j.model_dump(), job_url=_job_url(j.id)) for j in found.jobs]
    return JobPage(**found.model_dump(exclude={"jobs"}), jobs=listed)


@app.post("/api/v1/jobs/{job_id}/cancel", tags=["công việc"])
def cancel_job(who: Uploader, job_id: str) -> views.JobView:
    """Hủy một công việc đang chờ hoặc đang chạy (trạm quét: chỉ việc của mình). / Cancel a queued or running job
    (a scanner station: only its own); a running one stops at its next page."""
    return scans.cancel_job(context(), job_id, who)


@app.get("/api/v1/jobs/{job_id}", tags=["công việc"])
def get_job(who: Anyone, job_id: str) -> views.JobView:
    """Trạng thái, tiến độ và lỗi của một công việc (trạm quét: chỉ của mình). / A job's status, progress and
    errors (a scanner station: its own only)."""
    return scans.get_job(context(), job_id, who=who)


class DossierFields(BaseModel):
    title: str = Field("", max_length=500, description="Trích yếu hồ sơ / title")
    procedure: str = Field("", max_length=200, description="Thủ tục hành chính / administrative procedure")
    procedure_code: str = Field("", max_length=64, description="Mã thủ tục hành chính / the procedure's code")
    applicant: str = Field("", max_length=200, description="Người nộp / applicant")
    retention: Literal["", "01", "70", "50", "30", "20", "10"] = Field(
        "", description="Thời hạn bảo quản: 01 vĩnh viễn, hoặc số năm / retention code"
    )
    due_on: dt.date | None = Field(None, description="Ngày hẹn trả / due date")


class DossierCreate(DossierFields):
    code: str = Field(max_length=64, description="Mã hồ sơ, ví dụ 000.00.12.H12-250527-0001")


class DossierUpdate(BaseModel):
    title: str | None = Field(None, max_length=500)
    procedure: str | None = Field(None, max_length=200)
    procedure_code: str | None = Field(None, max_length=64)
    applicant: str | None = Field(None, max_length=200)
    retention: Literal["", "01", "70", "50", "30", "20", "10"] | None = None


class Transition(BaseModel):
    to: DossierStatus = Field(description="Trạng thái mới / new status")
    reason: str = Field("", max_length=1000, description="Lý do (bắt buộc khi từ chối, rút, bổ sung, gia hạn)")
    due_on: dt.date | None = Field(None, description="Ngày hẹn trả mới khi gia hạn / new due date (EXTENDED)")


class Document(views.DocumentView):
    downloads: dict[str, str] = Field(description="original, pdfa, signed, alto: đường tải / download paths")
    verification_url: str
    job_url: str | None


class Dossier(views.DossierView):
    documents: list[Document]  # type: ignore[assignment]  # the same documents, with their links


def _with_links(view: views.DossierView) -> Dossier:
    """A dossier's answer with the URLs of its documents' downloads and verification."""

    def links(d: views.DocumentView) -> Document:
        params = {"code": view.code, "document_id": str(d.id)}
        downloads = {k: app.url_path_for("download", **params, kind=k) for k in d.versions}
        verification = app.url_path_for("verify_document", **params)
        job = _job_url(d.job_id) if d.job_id else None
        return Document(**d.model_dump(), downloads=downloads, verification_url=verification, job_url=job)

    return Dossier(**view.model_dump(exclude={"documents"}), documents=[links(d) for d in view.documents])


@app.post("/api/v1/dossiers", status_code=201, tags=["hồ sơ"])
def create_dossier(who: Clerk, body: DossierCreate) -> Dossier:
    """Tạo hồ sơ với thông tin tiếp nhận. / Create a dossier with its receipt details."""
    who.require_dossier(body.code)
    meta = body.model_dump(exclude={"code"})
    return _with_links(dossiers.create_dossier(context(), body.code, meta, actor=who.actor))


@app.get("/api/v1/dossiers", tags=["hồ sơ"])
def list_dossiers(
    who: Reader,
    agency: Annotated[str | None, Query(max_length=32, description="Mã cơ quan")] = None,
    procedure: Annotated[str | None, Query(max_length=200, description="Thủ tục")] = None,
    status: Annotated[DossierStatus | None, Query(description="Trạng thái")] = None,
    received_from: Annotated[dt.date | None, Query(description="Tiếp nhận từ ngày")] = None,
    received_to: Annotated[dt.date | None, Query(description="Tiếp nhận đến ngày")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Offset = 0,
) -> views.DossierPage:
    """Danh sách hồ sơ, lọc theo cơ quan, thủ tục, trạng thái, ngày. / Dossiers, filtered."""
    return dossiers.list_dossiers(
        context(),
        scope=who.agencies,
        agency=agency,
        procedure=procedure,
        status=status,
        received_from=received_from,
        received_to=received_to,
        limit=limit,
        offset=offset,
    )


@app.get("/api/v1/dossiers/{code}", tags=["hồ sơ"])
def get_dossier(who: Fetcher, code: str) -> Dossier:
    """Hồ sơ, tài liệu, đường tải về và lịch sử trạng thái. / A dossier, documents, downloads and history."""
    return _with_links(dossiers.read_dossier(context(), code, actor=who.actor))


@app.patch("/api/v1/dossiers/{code}", tags=["hồ sơ"])
def update_dossier(who: Clerk, code: str, body: DossierUpdate) -> Dossier:
    """Sửa thông tin hồ sơ. / Change a dossier's details."""
    meta = body.model_dump(exclude_none=True)
    return _with_links(dossiers.update_dossier(context(), code, meta, actor=who.actor))


FieldValues = Annotated[
    dict[str, Any],
    Body(
        description="Khóa và giá trị theo GET /api/v1/fields (null: xóa) / keys and values as GET /api/v1/fields lists",
        examples=[{"type": "Quyết định", "number": "125/QĐ-UBND", "issued_on": "2025-02-05"}],
    ),
]


@app.get("/api/v1/fields", tags=["hồ sơ"])
def field_table(who: Reader) -> views.FieldTable:
    """Các trường thông tin của hồ sơ và văn bản (Thông tư 05/2025/TT-BNV) và danh mục giá trị.
    / The circular's dossier and document fields, with their controlled lists."""
    return dossiers.field_table()


@app.patch("/api/v1/dossiers/{code}/fields", tags=["hồ sơ"])
def update_dossier_fields(who: Clerk, code: str, body: FieldValues) -> Dossier:
    """Sửa thông tin hồ sơ theo Thông tư 05/2025/TT-BNV; ghi giá trị cũ vào nhật ký.
    / Change a dossier's fields of the circular; the log keeps the old values."""
    return _with_links(dossiers.update_fields(context(), code, body, actor=who.actor))


@app.patch("/api/v1/dossiers/{code}/documents/{document_id}/fields", tags=["hồ sơ"])
def update_document_fields(who: Clerk, code: str, document_id: DocumentId, body: FieldValues) -> Dossier:
    """Xác nhận hoặc sửa thông tin văn bản (số, ngày, loại, trích yếu… đọc sẵn từ trang); ghi giá trị cũ vào nhật
    ký. / Confirm or correct a document's fields (number, date, type, subject… read from its page); audited."""
    return _with_links(dossiers.update_document_fields(context(), code, document_id, body, actor=who.actor))


@app.post("/api/v1/dossiers/{code}/transitions", tags=["hồ sơ"])
def transition(who: Reader, code: str, body: Transition) -> Dossier:
    """Chuyển trạng thái hồ sơ (ghi người, giờ, lý do). / Move a dossier along its lifecycle."""
    who.require(lifecycle.roles_for(body.to))  # e.g. only a leader approves
    moved = dossiers.transition(context(), code, body.to, actor=who.actor, reason=body.reason, due_on=body.due_on)
    return _with_links(moved)


@app.post(
    "/api/v1/dossiers/{code}/documents/{document_id}/scans",
    status_code=202,
    tags=["hồ sơ"],
    openapi_extra=uploads.OPENAPI_ONE_FILE,
)
async def replace_scan(
    who: Uploader, request: Request, code: str, document_id: DocumentId, choices: Choices
) -> AcceptedScans:
    """Quét lại một tài liệu (lỗi hoặc kém chất lượng) khi chưa ai ký: tài liệu giữ số thứ tự, được số hóa lại từ
    bản quét mới. Tệp lớn: gửi từng phần qua `POST /api/v1/uploads` với `replaces`. / A new scan for a document
    (failed or poor) before anyone signs it: it keeps its number and is digitized again from the new scan. A large
    file: in pieces through `POST /api/v1/uploads` with `replaces`."""
    ctx = context()
    await run_in_threadpool(scans.check_document, ctx, code, document_id)  # before the body is read
    async with uploads.received(request, ctx.tmp, ctx.settings.max_upload_bytes, max_files=1) as items:
        [item] = items
        replace = partial(scans.replace_scan, ctx, code, document_id, item.path, item.name, options=choices.chosen())
        job = await run_in_threadpool(replace, actor=who.actor, sha256=item.sha256, take=True)
    return AcceptedScans(dossier=code, jobs=[AcceptedJob(**job.model_dump(), job_url=_job_url(job.id))])


@app.delete("/api/v1/dossiers/{code}/documents/{document_id}", tags=["hồ sơ"])
def remove_document(
    who: Clerk,
    code: str,
    document_id: DocumentId,
    reason: Annotated[str, Query(max_length=500, description="Lý do gỡ / why it is removed")] = "",
) -> Dossier:
    """Gỡ một tài liệu (quét nhầm, không đọc được) khi chưa ai ký; ghi vào nhật ký. / Remove a document (a wrong or
    unreadable scan) before anyone signs it; audited."""
    removed = dossiers.remove_document(context(), code, document_id, actor=who.actor, reason=reason)
    return _with_links(removed)


_BYTES = {"schema": {"type": "string", "format": "binary"}}


class LegalHold(BaseModel):
    on: bool = Field(description="true: phong tỏa; false: gỡ phong tỏa / set or lift the hold")
    reason: str = Field("", max_length=500, description="Căn cứ (quyết định, vụ việc) / grounds")


@app.post("/api/v1/dossiers/{code}/legal-hold", tags=["lưu trữ"])
def legal_hold(who: Archivist, code: str, body: LegalHold) -> views.LegalHoldView:
    """Phong tỏa pháp lý mọi đối tượng của hồ sơ (kho S3 có khóa đối tượng).
    / Put a dossier's objects under legal hold, or lift it (S3 with object lock)."""
    return dossiers.legal_hold(context(), code, body.on, actor=who.actor, reason=body.reason)


@app.get(
    "/api/v1/dossiers/{code}/package",
    tags=["lưu trữ"],
    response_class=StreamingResponse,
    responses={200: {"description": "Gói E-ARK / the E-ARK package", "content": {"application/zip": _BYTES}}},
)
def export_package(who: Archivist, code: str) -> StreamingResponse:
    """Gói E-ARK (CSIP/SIP, zip) của hồ sơ, truyền dần từ kho: bản quét gốc, PDF/A, bản đã ký, METS, EAD,
    PREMIS. / The dossier's E-ARK package (CSIP/SIP, zip), streamed from the store."""
    chunks = packages.export(context(), code, actor=who.actor)
    headers = {"Content-Disposition": f'attachment; filename="{code}.zip"'}
    return StreamingResponse(chunks, media_type="application/zip", headers=headers)


@app.get("/api/v1/retention", tags=["lưu trữ"])
def retention_due(
    who: Archivist,
    due_within: Annotated[str, Query(max_length=16, description="Khoảng: 90d, 12w, 1y / the window")] = "90d",
) -> views.RetentionReport:
    """Hồ sơ sắp hết (hoặc đã hết) thời hạn bảo quản. / Dossiers whose retention ends within the window."""
    return retention.due(context(), retention.parse_window(due_within), scope=who.agencies)


@app.get("/api/v1/audit-events", tags=["lưu trữ"])
def audit_events(
    who: Archivist,
    dossier: Annotated[str | None, Query(max_length=64, description="Mã hồ sơ")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> views.AuditEvents:
    """Nhật ký kiểm tra (chuỗi băm). / The hash-chained audit log."""
    return audit_log.audit_events(context(), dossier=dossier, limit=limit, offset=offset, scope=who.agencies)


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one range a ``Range: bytes=…`` header asks for, as (first, last); None for the whole
    object (no header, or several ranges, which RFC 9110 lets a server answer in full)."""
    match = _RANGE.fullmatch(header.strip()) if header else None
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.groups()
    if first == "":  # the last N bytes
        start, end = max(0, size - int(last)), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        raise RangeNotSatisfiable(header or "", size)
    return start, end


class RangeNotSatisfiable(SohoaError):
    status = 416
    code = "range-not-satisfiable"

    def __init__(self, header: str, size: int) -> None:
        super().__init__(
            f"Khoảng byte {header} nằm ngoài tệp ({size} byte).",
            f"Byte range {header} is outside the file ({size} bytes).",
            field="Range",
        )
        self.headers["Content-Range"] = f"bytes */{size}"  # RFC 9110 15.5.17: the size, for the next try


@app.get("/api/v1/dossiers/{code}/documents/{document_id}/verification", tags=["chữ ký số"])
def verify_document(who: Fetcher, code: str, document_id: DocumentId) -> views.StoredVerification:
    """Kiểm tra bản mới nhất đã lưu của tài liệu: chữ ký, thay đổi sau khi ký, PDF/A.
    / Verify the document's latest stored version: signatures, changes after signing, PDF/A."""
    return signatures.verify_document(context(), code, document_id, actor=who.actor)


@app.get(
    "/api/v1/dossiers/{code}/documents/{document_id}/{kind}",
    tags=["hồ sơ"],
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Tệp / the file",
            "content": {t: _BYTES for t in ("application/pdf", "application/xml", "application/octet-stream")},
        },
        206: {"description": "Một khoảng byte (Range) / one byte range", "content": {"application/pdf": _BYTES}},
    },
)
def download(
    who: Fetcher,
    request: Request,
    code: str,
    document_id: DocumentId,
    kind: views.Kind,
) -> StreamingResponse:
    """Tải bản gốc, bản PDF/A, bản đã ký hoặc ALTO; hỗ trợ HTTP Range để tải tiếp.
    / Download the original, the PDF/A, the signed PDF/A or ALTO; HTTP Range resumes."""
    ctx = context()
    version = dossiers.document_version(ctx, code, document_id, kind, actor=who.actor)
    size, headers = ctx.store.size(version.key), _download_headers(version)
    wanted = _byte_range(request.headers.get("range"), size)
    if_range = request.headers.get("if-range")
    if wanted and if_range and if_range != headers.get("ETag"):
        wanted = None  # the client's copy is of another version: send it whole
    start, end = wanted or (0, size - 1)
    stream = ctx.store.open(version.key, start)

    def chunks() -> Iterator[bytes]:
        left = end - start + 1
        with stream:
            while left > 0 and (chunk := stream.read(min(CHUNK, left))):
                left -= len(chunk)
                yield chunk

    headers["Content-Length"] = str(end - start + 1)
    if wanted:
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return StreamingResponse(
        chunks(), status_code=206 if wanted else 200, media_type=version.media_type, headers=headers
    )


@app.head("/api/v1/dossiers/{code}/documents/{document_id}/{kind}", tags=["hồ sơ"], response_class=Response)
def download_head(who: Fetcher, code: str, document_id: DocumentId, kind: views.Kind) -> Response:
    """Kích thước, ETag, tên tệp của một bản tải về, không kèm nội dung (không ghi nhật ký: không đọc nội dung).
    / A download's size, ETag and file name, without its body (not in the audit log: nothing is read)."""
    ctx = context()
    version = dossiers.document_version(ctx, code, document_id, kind, actor=None)
    headers = {**_download_headers(version), "Content-Length": str(ctx.store.size(version.key))}
    return Response(status_code=200, media_type=version.media_type, headers=headers)


def _download_headers(version: dossiers.Version) -> dict[str, str]:
    """What a download's GET and HEAD both say of it (RFC 9110: the same header fields)."""
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(version.name, safe='')}",
    }
    if version.sha256:
        headers["ETag"] = f'"{version.sha256}"'
    return headers


class PaperCheck(BaseModel):
    """What the one-stop officer confirms when vouching for a digitized copy (decree 107/2021)."""

    page_count: int | None = Field(
        None, ge=0, le=100_000, description="Số trang của bản giấy (cán bộ đếm) / pages of the paper, as counted"
    )
    pages_readable: bool = Field(
        False, description="Mọi trang bản số hóa đều đọc được / every page of the digitized copy is readable"
    )


class SignatureRequest(PaperCheck):
    kind: Literal["agency", "personal"] = Field(
        "agency",
        description="agency: con dấu cơ quan (văn thư, lãnh đạo); personal: chữ ký của chính người gọi bằng khóa "
        "máy chủ giữ cho họ (cán bộ xác nhận bản số hóa, lãnh đạo ký kết quả) / the agency's seal, or the "
        "caller's own signature with the key the server holds for them",
    )
    pin: str = Field("", max_length=256, description="Mã PIN khóa cá nhân (kind=personal) / personal key PIN")
    reason: str = Field("", max_length=200, description="Lý do ký / reason")


@app.post("/api/v1/dossiers/{code}/documents/{document_id}/signatures", status_code=201, tags=["chữ ký số"])
def sign_document(who: Signer, code: str, document_id: DocumentId, body: SignatureRequest) -> views.DocumentSigned:
    """Ký trên máy chủ: cán bộ một cửa xác nhận bản số hóa (hoặc lãnh đạo ký kết quả) bằng khóa của mình, rồi
    cơ quan đóng dấu; mỗi bản chỉ một con dấu. / Sign on the server: the officer vouches for a digitized copy
    (or the leader signs a result) with their own key, then the agency seals, once per version."""
    ctx = context()
    if body.kind == "agency":
        return signatures.seal(ctx, code, document_id, by=who, reason=body.reason)
    return signatures.sign_personal(
        ctx,
        code,
        document_id,
        by=who,
        pin=body.pin,
        page_count=body.page_count,
        readable=body.pages_readable,
        reason=body.reason,
    )


class RemotePrepare(PaperCheck):
    certificates: str = Field(
        description="Chứng thư của người ký và chuỗi CA, dạng PEM / signer certificate and CA chain, PEM"
    )


class RemoteComplete(BaseModel):
    signature: str = Field(
        description="Chữ ký (base64) trên `to_be_signed` / the signature over `to_be_signed`, base64"
    )


class Prepared(views.PreparedSignature):
    complete_url: str


@app.post("/api/v1/dossiers/{code}/documents/{document_id}/remote-signatures", status_code=201, tags=["chữ ký số"])
def prepare_remote_signature(who: Signer, code: str, document_id: DocumentId, body: RemotePrepare) -> Prepared:
    """Bước 1 ký bằng USB token của cán bộ: chuẩn bị tài liệu, trả về dữ liệu cần ký.
    / Step 1 of signing with a clerk's token: prepare the document and return the bytes to sign."""
    chain = body.certificates.encode()
    prepared = signatures.prepare_remote(
        context(), code, document_id, chain, by=who, page_count=body.page_count, readable=body.pages_readable
    )
    url = app.url_path_for("complete_remote_signature", pending_id=prepared.id)
    return Prepared(**prepared.model_dump(), complete_url=url)


@app.post("/api/v1/remote-signatures/{pending_id}", tags=["chữ ký số"])
def complete_remote_signature(who: Signer, pending_id: str, body: RemoteComplete) -> views.DocumentSigned:
    """Bước 2: gửi chữ ký về, dịch vụ hoàn tất tài liệu. / Step 2: send the signature; the service completes the PDF."""
    try:
        signature = base64.b64decode(body.signature, validate=True)
    except ValueError as e:
        raise SohoaError("Chữ ký phải ở dạng base64.", "The signature must be base64.", field="signature") from e
    return signatures.complete_remote(context(), pending_id, signature, by=who)


@app.get("/api/v1/search", tags=["tìm kiếm"])
def search(
    who: Reader,
    q: Annotated[
        str, Query(min_length=1, max_length=500, description='Từ cần tìm, có hoặc không dấu; cụm từ trong "…"')
    ],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Offset = 0,
    agency: Annotated[str | None, Query(max_length=32, description="Mã cơ quan / agency code")] = None,
    procedure: Annotated[str | None, Query(max_length=200, description="Thủ tục hành chính / procedure")] = None,
    status: Annotated[str | None, Query(max_length=32, description="Trạng thái hồ sơ / dossier status")] = None,
    received_from: Annotated[
        dt.date | None, Query(description="Nhận từ ngày (YYYY-MM-DD) / received on or after")
    ] = None,
    received_to: Annotated[
        dt.date | None, Query(description="Nhận đến ngày (YYYY-MM-DD) / received on or before")
    ] = None,
    type: Annotated[str | None, Query(max_length=64, description="Loại văn bản, ví dụ Quyết định / type")] = None,
    number: Annotated[str | None, Query(max_length=100, description="Số, ký hiệu: 125/QĐ-UBND / number")] = None,
    issuer: Annotated[str | None, Query(max_length=200, description="Cơ quan ban hành (một phần tên) / issuer")] = None,
    issued_from: Annotated[dt.date | None, Query(description="Ban hành từ ngày / issued on or after")] = None,
    issued_to: Annotated[dt.date | None, Query(description="Ban hành đến ngày / issued on or before")] = None,
) -> views.SearchResults:
    """Tìm trong nội dung OCR và thông tin hồ sơ, có dấu hoặc không dấu; khớp đúng dấu xếp trước.
    / Search OCR text and dossier metadata, with or without diacritics; exact matches first."""
    return searching.search(
        context(),
        q,
        limit=limit,
        offset=offset,
        agency=agency,
        procedure=procedure,
        status=status,
        received_from=received_from,
        received_to=received_to,
        documents=DocumentFilter(type, number, issuer, issued_from, issued_to),
        scope=who.agencies,
        actor=who.actor,
    )


@app.post("/api/v1/verify", tags=["chữ ký số"], openapi_extra=uploads.OPENAPI_ONE_FILE)
async def verify(who: Anyone, request: Request) -> views.Verification:
    """Kiểm tra chữ ký số, thay đổi sau khi ký và PDF/A của một tệp (multipart, trường `file`).
    / Verify a PDF's signatures, the changes made after them, and its PDF/A conformance."""
    ctx = context()
    async with uploads.received(request, ctx.tmp, ctx.settings.max_upload_bytes, max_files=1) as items:
        [item] = items
        verify = partial(signatures.verify_file, ctx, item.path, name=item.name, actor=who.actor)
        return await run_in_threadpool(verify)


class OneStopFields(BaseModel):
    """A dossier as the one-stop system knows it; a field left out (or null) is left as it is."""

    procedure_code: str | None = Field(None, max_length=64, description="Mã thủ tục hành chính / procedure code")
    procedure: str | None = Field(None, max_length=200, description="Tên thủ tục / procedure name")
    applicant: str | None = Field(None, max_length=200, description="Người nộp / applicant")
    title: str | None = Field(None, max_length=500, description="Trích yếu / title")
    retention: Literal["", "01", "70", "50", "30", "20", "10"] | None = None
    received_on: dt.date | None = Field(None, description="Ngày tiếp nhận (mặc định: ngày trong mã) / received on")
    due_on: dt.date | None = Field(None, description="Ngày hẹn trả (gia hạn: ngày mới) / due date")
    status: DossierStatus | None = Field(None, description="Trạng thái trên hệ thống một cửa / its status there")
    reason: str = Field("", max_length=1000, description="Lý do (từ chối, rút, bổ sung, gia hạn) / reason")
    returned_on: dt.date | None = Field(None, description="Ngày trả kết quả (RETURNED; mặc định hôm nay)")


class OneStopDossier(OneStopFields):
    code: str = Field(max_length=64, description="Mã hồ sơ / dossier code")


class OneStopDay(BaseModel):
    dossiers: list[OneStopDossier] = Field(max_length=2000, description="Tối đa 2000 hồ sơ / at most 2000")


class ItemError(BaseModel):
    code: str
    detail_vi: str
    detail_en: str
    field: str | None


class OneStopItem(BaseModel):
    code: str
    status: int = Field(description="201 tạo mới, 200 đã có, hoặc mã lỗi / 201 created, 200 existed, or the error's")
    dossier: views.DossierSummary | None
    error: ItemError | None


class OneStopResults(BaseModel):
    created: int
    updated: int
    refused: int
    results: list[OneStopItem]


@app.put(
    "/api/v1/dossiers/{code}",
    tags=["một cửa"],
    response_model=Dossier,
    responses={201: {"model": Dossier, "description": "Hồ sơ mới / a new dossier"}},
)
def put_dossier(who: OneStop, code: str, body: OneStopFields) -> JSONResponse:
    """Tạo hoặc cập nhật hồ sơ từ hệ thống một cửa (gửi lại cùng nội dung không thay đổi gì: 201 rồi 200).
    / Create or update a dossier from the one-stop system; the same body twice changes nothing (201, then 200)."""
    made = onestop.put_dossier(context(), code, body.model_dump(exclude_none=True), actor=who.actor)
    answer = _with_links(made.dossier).model_dump(mode="json", by_alias=True)
    return JSONResponse(answer, status_code=201 if made.created else 200)


@app.put("/api/v1/dossiers", tags=["một cửa"])
def put_dossiers(who: OneStop, body: OneStopDay) -> OneStopResults:
    """Các hồ sơ trong ngày từ hệ thống một cửa, trả lời từng hồ sơ; hồ sơ lỗi không cản hồ sơ khác.
    / A day's dossiers from the one-stop system, answered one by one; one refused does not stop the others."""
    items = [(d.code, d.model_dump(exclude_none=True, exclude={"code"})) for d in body.dossiers]
    done = onestop.put_many(context(), items, by=who)
    results = [
        OneStopItem(
            code=r.code,
            status=r.status,
            dossier=views.DossierSummary.model_validate(r.dossier.model_dump()) if r.dossier else None,
            error=ItemError(code=r.error.code, detail_vi=r.error.vi, detail_en=r.error.en, field=r.error.field)
            if r.error
            else None,
        )
        for r in done
    ]
    count = [sum(r.status == s for r in done) for s in (201, 200)]
    return OneStopResults(created=count[0], updated=count[1], refused=len(done) - sum(count), results=results)


class SubscriberCreate(BaseModel):
    url: str = Field(max_length=500, description="Địa chỉ nhận (http/https) / where events are posted")
    events: list[Literal["job.done", "job.failed", "document.signed", "dossier.status"]] | None = Field(
        None, description="Sự kiện muốn nhận (mặc định: tất cả) / events wanted (default: all)"
    )
    secret: str = Field("", max_length=200, description="Khóa HMAC (để trống: dịch vụ tạo) / HMAC key (empty: made)")
    agencies: list[Annotated[str, Field(max_length=32)]] | None = Field(
        None, max_length=1000, description="Chỉ sự kiện của các cơ quan này và cấp dưới (mặc định: mọi cơ quan)"
    )


class Subscribers(BaseModel):
    subscribers: list[views.Subscriber]


class AgencyCreate(agencies.AgencyFields):
    code: str = Field(max_length=32, description="Mã cơ quan (phần đầu của mã hồ sơ), ví dụ 000.00.12.H12")


class Agencies(BaseModel):
    agencies: list[agencies.AgencyView]


@app.get("/api/v1/agencies", tags=["cơ quan"])
def list_agencies(who: Anyone) -> Agencies:
    """Các cơ quan đã đăng ký (người dùng của một số cơ quan: các cơ quan đó và cấp dưới).
    / The registered agencies (a user of some agencies: those and the agencies under them)."""
    return Agencies(agencies=agencies.list_agencies(context(), who.agencies))


@app.post("/api/v1/agencies", status_code=201, tags=["cơ quan"])
def add_agency(who: Admin, body: AgencyCreate) -> agencies.AgencyView:
    """Đăng ký một cơ quan: tên trên con dấu, cấp trên, khóa ký, TSA, OCSP, bảng thời hạn bảo quản.
    / Register an agency: its stamp's name, parent, signing key, TSA, OCSP and retention table."""
    who.require_everywhere()
    return agencies.add(context(), body.code, body, actor=who.actor)


@app.patch("/api/v1/agencies/{agency}", tags=["cơ quan"])
def update_agency(
    who: Admin, agency: Annotated[str, ApiPath(max_length=32)], body: agencies.AgencyFields
) -> agencies.AgencyView:
    """Sửa thông tin một cơ quan (chỉ các trường gửi lên). / Change an agency's details (the fields sent)."""
    who.require_everywhere()
    return agencies.update(context(), agency, body, actor=who.actor)


@app.post("/api/v1/webhooks", status_code=201, tags=["một cửa"])
def add_webhook(who: Admin, body: SubscriberCreate) -> views.Subscriber:
    """Thêm nơi nhận webhook; khóa bí mật chỉ hiện trong câu trả lời này.
    / Add a webhook subscriber; its secret is shown in this answer only."""
    who.require_everywhere()
    events = [str(e) for e in body.events] if body.events else None
    return webhooks.add_subscriber(context(), body.url, events, body.secret, actor=who.actor, agencies=body.agencies)


@app.get("/api/v1/webhooks", tags=["một cửa"])
def list_webhooks(who: Admin) -> Subscribers:
    """Các nơi nhận webhook (không kèm khóa). / Webhook subscribers (without their secrets)."""
    who.require_everywhere()
    return Subscribers(subscribers=webhooks.subscribers(context()))


@app.delete("/api/v1/webhooks/{subscriber_id}", tags=["một cửa"])
def remove_webhook(who: Admin, subscriber_id: Annotated[int, ApiPath(ge=1, le=2**31 - 1)]) -> views.Subscriber:
    """Ngừng gửi tới một nơi nhận; việc gửi còn chờ bị bỏ (vẫn trong nhật ký).
    / Stop sending to a subscriber; what still waited for it is dropped (kept in the log)."""
    who.require_everywhere()
    return webhooks.remove_subscriber(context(), subscriber_id, actor=who.actor)


@app.get("/api/v1/webhook-deliveries", tags=["một cửa"])
def webhook_deliveries(
    who: Admin,
    status: Annotated[
        Literal["pending", "sending", "delivered", "failed", "dropped"] | None, Query(description="Trạng thái")
    ] = None,
    subscriber: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="Nơi nhận / subscriber")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> views.DeliveryPage:
    """Nhật ký gửi webhook, mới nhất trước. / The webhook delivery log, newest first."""
    who.require_everywhere()  # it names every agency's dossiers
    return webhooks.deliveries(context(), status=status, subscriber=subscriber, limit=limit, offset=offset)


@app.get(
    "/api/v1/statistics",
    tags=["thống kê"],
    response_model=views.StatisticsView,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def get_statistics(
    who: Fetcher,
    request: Request,
    period: Annotated[Literal["day", "week", "month", "year", "all"], Query(description="Kỳ / period")] = "month",
    by: Annotated[
        str, Query(max_length=40, description="Nhóm theo: agency, procedure (phân cách bằng dấu phẩy) / group by")
    ] = "agency,procedure",
    received_from: Annotated[dt.date | None, Query(description="Tiếp nhận từ ngày / received on or after")] = None,
    received_to: Annotated[dt.date | None, Query(description="Tiếp nhận đến ngày / received on or before")] = None,
    agency: Annotated[
        str | None, Query(max_length=32, description="Cơ quan và cấp dưới / an agency and those under it")
    ] = None,
    procedure: Annotated[str | None, Query(max_length=64, description="Mã thủ tục / procedure code")] = None,
    format: Annotated[Literal["json", "csv"] | None, Query(description="json hoặc csv (hoặc Accept)")] = None,
) -> Response:
    """Số liệu báo cáo: tiếp nhận, đã số hóa, đã ký, trả đúng hạn, trễ hạn, tỷ lệ số hóa và đúng hạn, theo cơ quan
    (cộng dồn lên cơ quan cấp trên), thủ tục và kỳ tiếp nhận. / The province's figures by agency (rolled up),
    procedure and period of receipt, as JSON or CSV."""
    figures = statistics.statistics(
        context(),
        period=period,
        by=by.split(","),
        received_from=received_from,
        received_to=received_to,
        agency=agency,
        procedure=procedure,
        agencies=None if who.agencies is None else tuple(sorted(who.agencies)),
    )
    if format == "csv" or (format is None and "text/csv" in request.headers.get("accept", "")):
        name = f"thong-ke-{period}.csv"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        return Response(statistics.to_csv(figures), media_type="text/csv; charset=utf-8", headers=headers)
    return JSONResponse(figures.model_dump(mode="json"))


web.app.install(app)  # after the API's routes: the web pages' routes never shadow one of them
