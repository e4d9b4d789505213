"""Signature verification: what each signature proves, what changed after it, and one verdict
for the document."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asn1crypto import cms, pem
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.crypt import AuthStatus
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import SigSeedSubFilter, enumerate_sig_fields
from pyhanko.sign.validation import (
    DocumentSecurityStore,
    EmbeddedPdfSignature,
    PdfSignatureStatus,
    read_certification_data,
    validate_pdf_signature,
    validate_pdf_timestamp,
)
from pyhanko_certvalidator import ValidationContext

from digitize.validate import check_pdfa
from signing import changes
from signing.appearance import VIETNAM
from signing.errors import NotAPdf, require_pdf
from signing.report import DocumentReport, Finding, SignatureReport, TimestampReport
from signing.signers import common_name

# An untrusted chain or a suspicious change is reported in the result; pyHanko would also log
# it, with a traceback.
for _name in ("pyhanko.sign.validation", "pyhanko.sign.diff_analysis"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)


def load_roots(paths: list[Path]) -> list[asn1_x509.Certificate]:
    roots = []
    for path in paths:
        data = path.read_bytes()
        if pem.detect(data):
            roots += [asn1_x509.Certificate.load(der) for _, _, der in pem.unarmor(data, multiple=True)]
        else:
            roots.append(asn1_x509.Certificate.load(data))
    return roots


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(VIETNAM).replace(microsecond=0).isoformat() if moment else None


def _validate(
    embedded: EmbeddedPdfSignature, dss: DocumentSecurityStore | None, roots: list
) -> tuple[PdfSignatureStatus, str]:
    """One validation when the document carries OCSP/CRL data (B-LT): against that data
    alone, nothing fetched. Without it, or when it cannot settle trust, a plain one."""
    if dss is not None:
        context = dss.as_validation_context(
            {"trust_roots": roots, "allow_fetching": False, "revocation_mode": "hard-fail"}
        )
        status = validate_pdf_signature(embedded, context)
        if status.revoked:
            return status, "revoked"
        if status.trusted:
            return status, "good (embedded OCSP/CRL)"
        revocation = "not established by the embedded data"
    else:
        revocation = "not checked (no embedded revocation data)"
    context = ValidationContext(trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail")
    status = validate_pdf_signature(embedded, context)
    return status, revocation if status.trusted else "not checked (untrusted chain)"


def _level(has_timestamp: bool, revocation: str, archived: bool) -> str:
    if not has_timestamp:
        return "PAdES B-B"
    if not revocation.startswith("good"):
        return "PAdES B-T"
    return "PAdES B-LTA" if archived else "PAdES B-LT"


@dataclass
class _Context:
    """What every signature of one file is judged against."""

    reader: PdfFileReader
    roots: list[asn1_x509.Certificate]
    dss: DocumentSecurityStore | None
    signed_fields: set[str]
    certified: Any  # the certification's DocMDP permission, if the file is certified


def _changes(ctx: _Context, embedded: EmbeddedPdfSignature, status: Any) -> tuple[bool, list[Finding], str | None]:
    why = changes.disallowed(status, ctx.signed_fields, ctx.certified)
    if why is None:
        return False, [], None
    return True, changes.described(ctx.reader, embedded.signed_revision), why


def _signature(ctx: _Context, embedded: EmbeddedPdfSignature, archived: bool) -> SignatureReport:
    status, revocation = _validate(embedded, ctx.dss, ctx.roots)
    chain = (
        [c.subject.human_friendly for c in status.validation_path.iter_certs(include_root=True)]
        if status.validation_path
        else [status.signing_cert.issuer.human_friendly]
    )
    ts = status.timestamp_validity
    problems = []
    if not status.trusted:
        problems.append(
            Finding(
                "chuỗi chứng thư không dẫn tới chứng thư gốc tin cậy", "the certificate chain reaches no trust root"
            )
        )
    if revocation == "revoked":
        problems.append(Finding("chứng thư của người ký đã bị thu hồi", "the signer's certificate is revoked"))
    changed, found, why = _changes(ctx, embedded, status)
    if why:
        problems.append(Finding(f"thay đổi sau khi ký ({why})", f"changed after signing ({why})"))
    return SignatureReport(
        field=str(embedded.field_name),
        signer=str(status.signing_cert.subject.human_friendly),
        signer_name=common_name(status.signing_cert),
        issuer_chain=chain,
        signing_time=_iso(status.signer_reported_dt),
        timestamp_time=_iso(ts.timestamp) if ts else None,
        intact=status.intact,
        valid=status.valid,
        trusted=status.trusted and revocation != "revoked",
        revocation=revocation,
        level=_level(ts is not None, revocation, archived),
        coverage=status.coverage.name if status.coverage else "UNKNOWN",
        modification_level=status.modification_level.name if status.modification_level else "UNKNOWN",
        changed_after=changed,
        changes=found,
        problems=problems,
    )


def _timestamp(ctx: _Context, embedded: EmbeddedPdfSignature) -> TimestampReport:
    context = (
        ctx.dss.as_validation_context({"trust_roots": ctx.roots, "allow_fetching": False})
        if ctx.dss is not None
        else ValidationContext(trust_roots=ctx.roots, allow_fetching=False)
    )
    status = validate_pdf_timestamp(embedded, context)
    changed, found, _why = _changes(ctx, embedded, status)
    return TimestampReport(
        field=str(embedded.field_name),
        time=_iso(status.timestamp),
        intact=status.intact,
        valid=status.valid,
        trusted=status.trusted,
        changed_after=changed,
        changes=found,
    )


def _unreadable(name: str, sig_object: Any, error: Exception | None, reader: PdfFileReader) -> SignatureReport:
    """A filled signature field whose value cannot be checked, with the plain reason."""
    subfilter = str(sig_object.get("/SubFilter", ""))
    if error is None:
        problem = Finding(
            f"định dạng chữ ký {subfilter} không được hỗ trợ", f"the signature format {subfilter} is not supported"
        )
    elif reader.encrypted and _parses_when_decrypted(sig_object):
        problem = Finding(
            "công cụ ký đã mã hóa nội dung chữ ký (/Contents) cùng tệp, trái tiêu chuẩn PDF (ISO 32000-1 mục 7.6.1): "
            "không phần mềm chuẩn nào kiểm tra được chữ ký này; hãy yêu cầu cơ quan ký lại bằng công cụ đúng chuẩn",
            "the signing tool encrypted the signature's contents (/Contents) with the file, against the PDF "
            "standard (ISO 32000-1 section 7.6.1): no standard software can check this signature; ask the issuer "
            "to sign again with a conforming tool",
        )
    else:
        problem = Finding(f"không đọc được dữ liệu chữ ký ({error})", f"the signature data cannot be read ({error})")
    return SignatureReport(
        field=name,
        signer="",
        issuer_chain=[],
        signing_time=None,
        timestamp_time=None,
        intact=False,
        valid=False,
        trusted=False,
        revocation="not checked (unreadable signature)",
        level="",
        coverage="UNKNOWN",
        modification_level="UNKNOWN",
        problems=[problem],
    )


def _parses_when_decrypted(sig_object: Any) -> bool:
    try:
        value = sig_object.raw_get("/Contents", decrypt=generic.EncryptedObjAccess.TRANSPARENT)
        cms.ContentInfo.load(value.original_bytes)["content"].native  # noqa: B018  (parse it all)
        return True
    except Exception:
        return False


def _embedded(reader: PdfFileReader) -> tuple[list[EmbeddedPdfSignature], list[SignatureReport], set[str]]:
    """The file's signatures in signing order, and those that cannot be read (pyHanko would skip a
    signature of an unknown format, or fail on the whole file for one unreadable signature)."""
    readable, unreadable, names = [], [], set()
    known = {f.value for f in SigSeedSubFilter}
    for name, value, sig_field in enumerate_sig_fields(reader, filled_status=True):
        names.add(str(name))
        sig_object = value.get_object()
        try:
            if sig_object.get("/SubFilter") not in known:
                unreadable.append(_unreadable(str(name), sig_object, None, reader))
                continue
            readable.append(EmbeddedPdfSignature(reader, sig_field, name))
        except (ValueError, TypeError, KeyError, PdfReadError) as e:
            unreadable.append(_unreadable(str(name), sig_object, e, reader))
    readable.sort(key=lambda e: e.signed_revision)
    return readable, unreadable, names


def _open(path: Path, f: Any) -> PdfFileReader:
    """A reader on the file; one encrypted with an empty user password (an owner password that
    restricts editing, as agencies issue signed documents) is opened as any reader would."""
    require_pdf(f, path)
    reader = PdfFileReader(f, strict=False)
    if reader.encrypted and reader.decrypt(b"").status == AuthStatus.FAILED:
        raise NotAPdf(
            f"{path.name} được mã hóa bằng mật khẩu mở tệp: không kiểm tra được khi không có mật khẩu.",
            f"{path.name} is encrypted with a password to open it: it cannot be checked without it.",
            field=path.name,
        )
    return reader


def verify_pdf(path: Path, trust_roots: list[Path]) -> DocumentReport:
    """Check every signature in ``path`` against ``trust_roots``, every change made after each
    of them, and the file's PDF/A conformance."""
    try:
        with path.open("rb") as f:
            reader = _open(path, f)
            embedded, unreadable, names = _embedded(reader)
            certification = read_certification_data(reader)
            ctx = _Context(
                reader,
                load_roots(trust_roots),
                DocumentSecurityStore.read_dss(reader) if "/DSS" in reader.root else None,
                names,
                certification.permission if certification else None,
            )
            stamps = [_timestamp(ctx, e) for e in embedded if e.sig_object_type == "/DocTimeStamp"]
            archived = any(t.intact and t.valid and t.trusted for t in stamps)  # sealed by a time stamp (B-LTA)
            regular = [_signature(ctx, e, archived) for e in embedded if e.sig_object_type != "/DocTimeStamp"]
            lost = changes.lost_signatures(reader)
            encrypted = reader.encrypted
    except PdfReadError as e:
        raise NotAPdf(f"{path.name}: PDF hỏng ({e}).", f"{path.name}: corrupt PDF ({e}).", field=path.name) from e
    reports = regular + unreadable
    pdfa = check_pdfa(path)
    report = DocumentReport(
        path.name, reports, pdfa.flavour, pdfa.passed, pdfa.findings, "", "", stamps, lost, encrypted
    )
    report.verdict_vi, report.verdict_en = _verdict(report)
    return report


def _verdict(report: DocumentReport) -> tuple[str, str]:
    """One sentence in each language: what is wrong, worst first, or that all is well."""
    if report.pdfa is None:
        pdfa_vi, pdfa_en = "tệp không khai báo PDF/A", "the file does not claim PDF/A"
    elif report.pdfa_valid:
        pdfa_vi, pdfa_en = f"PDF/A-{report.pdfa} hợp lệ", f"valid PDF/A-{report.pdfa}"
    else:
        pdfa_vi, pdfa_en = f"không đạt PDF/A-{report.pdfa}", f"not valid PDF/A-{report.pdfa}"
    sigs, n = report.signatures, len(report.signatures)
    if not sigs and not report.lost_signatures:
        return f"Tài liệu không có chữ ký số; {pdfa_vi}.", f"The document has no digital signature; {pdfa_en}."
    vi: list[str] = []
    en: list[str] = []
    signed: list[SignatureReport | TimestampReport] = [*sigs, *report.timestamps]
    changed = [s for s in signed if s.changed_after]
    if changed:  # the last signature a change came after; earlier ones were changed after too
        last = changed[-1]
        who = f"{last.field} ({last.signer_name})" if isinstance(last, SignatureReport) else last.field
        vi.append(f"tài liệu đã bị thay đổi sau chữ ký {who}: " + "; ".join(c.vi for c in last.changes))
        en.append(f"the document was changed after signature {who}: " + "; ".join(c.en for c in last.changes))
    if report.lost_signatures:
        names = ", ".join(report.lost_signatures)
        vi.append(f"chữ ký {names} đã bị xóa hoặc thay thế sau khi ký")
        en.append(f"signature {names} was removed or replaced after signing")
    for s in sigs:
        if not (s.intact and s.valid):
            reasons_vi = "; ".join(p.vi for p in s.problems) or "dữ liệu được ký đã bị sửa hoặc chữ ký sai"
            reasons_en = "; ".join(p.en for p in s.problems) or "the signed data was altered or the signature is wrong"
            vi.append(f"chữ ký {s.field} không hợp lệ ({reasons_vi})")
            en.append(f"signature {s.field} is not valid ({reasons_en})")
    for t in report.timestamps:
        if not (t.intact and t.valid):
            vi.append(f"dấu thời gian tài liệu {t.field} không hợp lệ")
            en.append(f"document time stamp {t.field} is not valid")
    if vi:
        return f"CẢNH BÁO: {'; '.join(vi)}; {pdfa_vi}.", f"WARNING: {'; '.join(en)}; {pdfa_en}."
    untrusted = [s for s in sigs if not s.trusted]
    if untrusted:
        return (
            f"{n} chữ ký nguyên vẹn nhưng {len(untrusted)} chữ ký không thuộc chứng thư tin cậy; {pdfa_vi}.",
            f"{n} signatures intact but {len(untrusted)} not from a trusted certificate; {pdfa_en}.",
        )
    return f"Cả {n} chữ ký hợp lệ và tin cậy; {pdfa_vi}.", f"{n} of {n} signatures valid and trusted; {pdfa_en}."
