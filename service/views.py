"""The answers the service gives, as typed models: the API declares them as its response models
(so the OpenAPI schema shows every field) and the CLI prints them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from signing.report import SignatureReport, TimestampReport
from storage.catalog import JobStatus
from storage.lifecycle import DossierStatus


class Notice(BaseModel):
    """Something a person should know about a page or a signature, in both languages."""

    model_config = ConfigDict(extra="allow")
    code: str
    vi: str
    en: str


class PageDetail(BaseModel):
    source: str = Field(description="Tệp quét / source file")
    number: int = Field(description="Trang trong tệp quét / page in its source file")
    part: str = Field(description="Nửa trang đôi: trái, phải / half of a split spread")
    paper: str = Field(description="Khổ giấy đo được / paper size measured")
    dpi: tuple[float, float]
    rotate: int = Field(description="Độ xoay để đọc thẳng / degrees turned to read upright")
    skew: float = Field(description="Độ nghiêng đã chỉnh / degrees straightened")
    tiles: int = Field(description="Số mảnh OCR của bản vẽ khổ lớn / OCR tiles of a large sheet")
    blank: bool
    dropped: bool
    words: int
    confidence: float


class StoredFile(BaseModel):
    sha256: str
    size: int


class PdfaFile(StoredFile):
    flavour: str


class SignatureMade(BaseModel):
    """A signature just added to a document."""

    field: str
    signer: str
    time: str = Field(description="Thời điểm ký (ISO 8601, +07:00) / signing time")
    level: str = Field(description="Mức PAdES / PAdES level")
    note: str | None = None


class SignedFile(StoredFile, SignatureMade):
    pass


class ElectronicOriginal(BaseModel):
    """A PDF that arrived signed, kept byte for byte: what its signatures prove."""

    ok: bool
    signatures: int
    verdict_vi: str
    verdict_en: str


class DocumentResult(BaseModel):
    """One digitized document: its pages, PDF/A and, when the agency signs automatically
    (SOHOA_AUTO_AGENCY_SIGNATURE), its signed copy."""

    dossier: str
    document_id: int
    pages: int
    page_details: list[PageDetail]
    pdfa: PdfaFile | None = Field(
        description="Bản PDF/A; không có với bản điện tử giữ nguyên / none for an electronic original"
    )
    signed: SignedFile | None = None
    electronic: ElectronicOriginal | None = None
    notices: list[Notice]


class ScanResult(DocumentResult):
    seconds: float


class BatchResult(BaseModel):
    documents: list[DocumentResult]
    seconds: float


class JobError(BaseModel):
    code: str
    vi: str
    en: str
    field: str | None = None


class Progress(BaseModel):
    pages_done: int
    pages_total: int | None


class JobView(BaseModel):
    id: str
    status: JobStatus
    dossier: str | None
    document_id: int | None = Field(description="Số thứ tự tài liệu trong hồ sơ / the document's number in its dossier")
    posted_by: str | None = Field(description="Trạm quét hoặc người gửi / the station or person who posted it")
    progress: Progress
    attempts: int
    error: JobError | None
    result: ScanResult | BatchResult | None
    created_at: str | None
    started_at: str | None
    finished_at: str | None


class AcceptedJob(JobView):
    created: bool = Field(description="false: cùng tệp đã nhận trước đó / the same file was accepted before")


class UploadView(BaseModel):
    """An upload session (service.resumable): how many bytes the server holds, what comes next."""

    id: str
    dossier: str
    name: str
    size: int = Field(description="Số byte của cả tệp / the whole file's bytes")
    sha256: str
    offset: int = Field(
        description="Số byte máy chủ đã có: phần sau gửi từ đây / bytes held: the next piece starts here"
    )
    kind: str = Field(description="component, result hoặc batch (tách theo tờ phân cách)")
    state: Literal["open", "completing", "done"]
    job_id: str | None = Field(description="Công việc số hóa khi đã hoàn tất / the job, once completed")
    expires_at: str = Field(description="Bỏ dở đến lúc này thì bị xóa / swept if untouched until then")
    replaces: int | None = Field(
        None, description="Số tài liệu mà tệp này quét lại (thay bản quét) / the document this file is a new scan of"
    )


class JobPage(BaseModel):
    total: int
    limit: int
    offset: int
    jobs: list[JobView]


class DossierSummary(BaseModel):
    code: str
    agency: str
    title: str
    procedure: str
    procedure_code: str = Field("", description="Mã thủ tục hành chính / the procedure's code")
    applicant: str
    retention: str
    status: DossierStatus
    received_on: str | None
    due_on: str | None
    returned_on: str | None = Field(None, description="Ngày trả kết quả / the day the result was handed back")
    next: list[DossierStatus] = Field(description="Trạng thái có thể chuyển tới / statuses it may move to")


class DossierPage(BaseModel):
    total: int
    limit: int
    offset: int
    dossiers: list[DossierSummary]


Kind = Literal["original", "pdfa", "signed", "alto"]


class SignatureView(BaseModel):
    kind: Literal["officer", "signer", "agency"] = Field(
        description="officer: cán bộ một cửa xác nhận bản số hóa; signer: người có thẩm quyền ký kết quả; "
        "agency: con dấu cơ quan / the officer's vouching, a result's signer, the agency's seal"
    )
    signer: str
    time: str = Field(description="Thời điểm ký (ISO 8601, +07:00) / signing time")
    level: str
    actor: str = Field(description="Người yêu cầu ký / who asked for it")
    current: bool = Field(description="Trên bản hiện tại của tài liệu / on the document's current version")


class ReadField(BaseModel):
    """One field as digitize.metadata read it from the page."""

    value: str
    confidence: float = Field(description="0-1")
    boxes: list[dict[str, int]] = Field(description="page (từ 1), left, top, width, height: pixel")


class FieldInfo(BaseModel):
    key: str
    vi: str
    en: str
    kind: Literal["text", "date", "int", "code", "list"]
    choices: list[str] = Field(description="Các giá trị được nhận (kind=code) / the values it takes")
    dublin_core: str = Field(description="Phần tử Dublin Core trong XMP của PDF/A / its XMP element, if any")


class FieldTable(BaseModel):
    """The circular's fields (records.py): what a dossier's and a document's ``fields`` hold."""

    dossier: list[FieldInfo]
    document: list[FieldInfo]


class DocumentView(BaseModel):
    id: int = Field(description="Số thứ tự trong hồ sơ: 1, 2, 3… / its number in the dossier, as URLs name it")
    kind: Literal["component", "result"] = Field(
        description="component: thành phần hồ sơ số hóa; result: kết quả giải quyết / a component or an issued result"
    )
    file: str
    pages: int
    original_sha256: str
    status: JobStatus = Field(description="Công việc số hóa gần nhất của tài liệu / its latest digitization job")
    job_id: str | None = Field(
        description="Công việc đó (tài liệu từ lô quét: không có) / that job (none: from a batch)"
    )
    error: JobError | None = Field(description="Lý do lỗi, khi công việc lỗi / why that job failed")
    notices: list[Notice] = Field(description="Lưu ý chất lượng các trang / what to know about its pages")
    versions: list[Kind] = Field(description="Các bản đã có / the versions made so far")
    signatures: list[SignatureView] = Field(description="Các chữ ký, theo thứ tự / its signatures, in order")
    fields: dict[str, Any] = Field(
        description="Thông tin văn bản theo Thông tư 05/2025/TT-BNV (GET /api/v1/fields) / the circular's fields"
    )
    read: dict[str, ReadField | None] | None = Field(
        description="Đọc từ trang: giá trị, độ tin cậy, vùng chữ / read from the page: value, confidence, boxes"
    )


class DocumentNotice(Notice):
    document: int = Field(description="Số thứ tự tài liệu / the document's number")


class HistoryEntry(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")
    at: str
    actor: str
    from_: str = Field(alias="from")
    to: str
    reason: str = ""


class DossierView(DossierSummary):
    fields: dict[str, Any] = Field(
        description="Thông tin hồ sơ theo Thông tư 05/2025/TT-BNV (GET /api/v1/fields) / the circular's fields"
    )
    documents: list[DocumentView]
    notices: list[DocumentNotice] = Field(description="Lưu ý của mọi tài liệu / every document's notices")
    history: list[HistoryEntry]


class SearchHit(BaseModel):
    dossier_code: str
    document_id: int
    page: int
    snippet: str
    exact: bool = Field(description="Khớp đúng dấu / matched with the diacritics as typed")
    title: str


class SearchResults(BaseModel):
    query: str
    filters: dict[str, str]
    total: int
    total_estimated: bool = Field(
        False,
        description="total là ước tính (khoảng), khi có rất nhiều kết quả / total is an estimate (about), "
        "when there are many matches (PostgreSQL, above 1,000)",
    )
    limit: int
    offset: int
    hits: list[SearchHit]


class AuditEventView(BaseModel):
    id: int
    at: str | None
    actor: str
    action: str
    dossier: str | None
    detail: dict[str, Any] | None
    prev_hash: str | None
    hash: str | None


class AuditEvents(BaseModel):
    total: int
    limit: int
    offset: int
    events: list[AuditEventView]


class LegalHoldView(BaseModel):
    dossier: str
    legal_hold: bool
    objects: list[str]


class RetentionDue(BaseModel):
    code: str
    title: str
    retention: str = Field(description="Mã thời hạn bảo quản: 70, 50, 30, 20, 10 (năm) / retention code (years)")
    status: str
    starts_on: str = Field(description="Thời hạn tính từ ngày tiếp nhận / the period runs from receipt")
    ends_on: str = Field(description="Ngày hết thời hạn bảo quản / the day retention ends")
    ended: bool = Field(description="Đã hết hạn / already ended")


class RetentionReport(BaseModel):
    today: str
    within_days: int
    dossiers: list[RetentionDue] = Field(description="Sớm hết hạn trước / soonest first")


class RenewalItem(BaseModel):
    dossier: str
    document_id: int = Field(description="Số thứ tự trong hồ sơ / its number in the dossier")
    key: str = Field(description="Bản đã ký hiện tại / the signed version now")
    expires: str = Field(
        description="Chứng thư của dấu thời gian cuối hết hạn / the last time stamp's certificate ends"
    )
    renewed: str | None = Field(None, description="Bản mới (đã gia hạn) / the new, renewed version")
    error_vi: str | None = None
    error_en: str | None = None


class RenewalReport(BaseModel):
    window_days: int
    dry_run: bool
    documents: list[RenewalItem]


class DocumentSigned(SignatureMade):
    kind: Literal["officer", "signer", "agency"]
    dossier: str
    document_id: int
    sha256: str


class PreparedSignature(BaseModel):
    id: str
    to_be_signed: str = Field(description="Dữ liệu cần ký, base64 / the bytes to sign, base64")
    sha256: str
    expires_at: str


class Verification(BaseModel):
    """What a signed PDF proves (signing.verify.DocumentReport)."""

    file: str
    ok: bool = Field(description="Mọi chữ ký hợp lệ, tin cậy, không bị sửa sau khi ký / all valid, trusted, unchanged")
    changed_after_signing: bool
    signatures: list[SignatureReport]
    timestamps: list[TimestampReport]
    lost_signatures: list[str]
    encrypted: bool
    pdfa: str | None
    pdfa_valid: bool
    pdfa_findings: list[str]
    verdict_vi: str
    verdict_en: str


class StoredVerification(Verification):
    dossier: str
    document_id: int
    version: str = Field(description="Khóa của phiên bản đã kiểm / the key of the version checked")
    sha256: str
    stored_intact: bool = Field(description="false: kho giữ byte khác với lúc lưu / the store holds other bytes")


class Subscriber(BaseModel):
    id: int
    url: str
    events: list[str] = Field(description="job.done, job.failed, document.signed, dossier.status")
    agencies: list[str] | None = Field(None, description="Cơ quan có sự kiện gửi tới (không có: mọi cơ quan)")
    created_at: str
    removed_at: str | None
    secret: str | None = Field(
        None, description="Khóa HMAC, chỉ hiện khi tạo / the HMAC key, shown once when it is added"
    )


class Delivery(BaseModel):
    id: int
    event_id: str
    event: str
    dossier: str | None
    subscriber: int
    url: str
    status: Literal["pending", "sending", "delivered", "failed", "dropped"]
    attempts: int
    last_status_code: int | None = Field(description="Mã HTTP lần gửi cuối / the last answer's HTTP status")
    last_error: str | None
    created_at: str
    next_attempt_at: str | None
    delivered_at: str | None


class DeliveryPage(BaseModel):
    total: int
    limit: int
    offset: int
    deliveries: list[Delivery]


class StatisticsRow(BaseModel):
    period: str = Field(description="Kỳ tiếp nhận: 2025-05-27, 2025-W22, 2025-05, 2025 / period of receipt")
    agency: str = Field(description="Mã cơ quan / agency code")
    rollup: bool = Field(description="Cộng cả các cơ quan cấp dưới / with the agencies under it")
    procedure_code: str
    procedure: str
    received: int = Field(description="Hồ sơ tiếp nhận / dossiers received")
    digitized: int = Field(description="Mọi thành phần đã số hóa / every component digitized")
    signed: int = Field(description="Mọi thành phần đã số hóa và đóng dấu / every component digitized and sealed")
    returned_on_time: int = Field(description="Trả đúng hạn / returned on or before the due date")
    returned_late: int = Field(description="Trả quá hạn / returned after the due date")
    digitization_rate: float | None = Field(description="signed / received")
    on_time_rate: float | None = Field(description="returned_on_time / (returned_on_time + returned_late)")


class StatisticsView(BaseModel):
    period: str
    by: list[str]
    received_from: str | None
    received_to: str | None
    rows: list[StatisticsRow]
    total: StatisticsRow = Field(description="Mọi hồ sơ được đếm / every dossier counted")
