"""Signature verification: what each signature proves, and one verdict for the document."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import (
    DocumentSecurityStore,
    EmbeddedPdfSignature,
    PdfSignatureStatus,
    validate_pdf_signature,
)
from pyhanko_certvalidator import ValidationContext

from digitize.validate import check_pdfa
from signing.appearance import VIETNAM
from signing.errors import NotAPdf

# An untrusted chain is reported in the result; pyHanko would also log it with a traceback.
logging.getLogger("pyhanko.sign.validation.generic_cms").setLevel(logging.CRITICAL)


@dataclass
class SignatureReport:
    field: str
    signer: str
    issuer_chain: list[str]
    signing_time: str | None
    timestamp_time: str | None
    intact: bool
    valid: bool
    trusted: bool
    revocation: str
    level: str
    coverage: str
    modification_level: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.intact and self.valid and self.trusted


@dataclass
class DocumentReport:
    file: str
    signatures: list[SignatureReport]
    pdfa: str | None
    pdfa_valid: bool
    pdfa_findings: list[str]
    verdict_vi: str
    verdict_en: str

    @property
    def ok(self) -> bool:
        return bool(self.signatures) and all(s.ok for s in self.signatures) and self.pdfa_valid

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "ok": self.ok}


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


def verify_pdf(path: Path, trust_roots: list[Path]) -> DocumentReport:
    """Check every signature in ``path`` against ``trust_roots`` and the file's PDF/A conformance."""
    roots = load_roots(trust_roots)
    reports: list[SignatureReport] = []
    try:
        with path.open("rb") as f:
            if not f.read(1024).lstrip().startswith(b"%PDF"):
                raise NotAPdf(f"{path.name} không phải tệp PDF.", f"{path.name} is not a PDF file.", field=path.name)
            f.seek(0)
            reader = PdfFileReader(f, strict=False)
            if reader.encrypted:
                raise NotAPdf(f"{path.name} được mã hóa.", f"{path.name} is encrypted.", field=path.name)
            dss = DocumentSecurityStore.read_dss(reader) if "/DSS" in reader.root else None
            archived = bool(reader.embedded_timestamp_signatures)  # a document time stamp seals it (B-LTA)
            for embedded in reader.embedded_regular_signatures:
                status, revocation = _validate(embedded, dss, roots)
                chain = (
                    [c.subject.human_friendly for c in status.validation_path.iter_certs(include_root=True)]
                    if status.validation_path
                    else [status.signing_cert.issuer.human_friendly]
                )
                ts = status.timestamp_validity
                problems = []
                if not status.trusted:
                    problems.append("certificate chain does not reach a configured trust root")
                if revocation == "revoked":
                    problems.append("the signer's certificate is revoked")
                reports.append(
                    SignatureReport(
                        field=str(embedded.field_name),
                        signer=str(status.signing_cert.subject.human_friendly),
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
                        problems=problems,
                    )
                )
    except PdfReadError as e:
        raise NotAPdf(f"{path.name}: PDF hỏng ({e}).", f"{path.name}: corrupt PDF ({e}).", field=path.name) from e
    pdfa = check_pdfa(path)
    vi, en = _verdict(reports, pdfa.passed, pdfa.flavour)
    return DocumentReport(path.name, reports, pdfa.flavour, pdfa.passed, pdfa.findings, vi, en)


def _verdict(reports: list[SignatureReport], pdfa_ok: bool, flavour: str | None) -> tuple[str, str]:
    pdfa_vi = f"PDF/A-{flavour} hợp lệ" if pdfa_ok else "không đạt PDF/A"
    pdfa_en = f"valid PDF/A-{flavour}" if pdfa_ok else "not valid PDF/A"
    if not reports:
        return f"Tài liệu không có chữ ký số; {pdfa_vi}.", f"The document has no digital signature; {pdfa_en}."
    broken = [r for r in reports if not (r.intact and r.valid)]
    untrusted = [r for r in reports if r.intact and r.valid and not r.trusted]
    n = len(reports)
    if broken:
        return (
            f"CẢNH BÁO: {len(broken)}/{n} chữ ký không hợp lệ hoặc tài liệu đã bị sửa sau khi ký; {pdfa_vi}.",
            f"WARNING: {len(broken)} of {n} signatures invalid or the document altered after signing; {pdfa_en}.",
        )
    if untrusted:
        return (
            f"{n} chữ ký nguyên vẹn nhưng {len(untrusted)} chữ ký không thuộc chứng thư tin cậy; {pdfa_vi}.",
            f"{n} signatures intact but {len(untrusted)} not from a trusted certificate; {pdfa_en}.",
        )
    return f"Cả {n} chữ ký hợp lệ và tin cậy; {pdfa_vi}.", f"{n} of {n} signatures valid and trusted; {pdfa_en}."
