"""PAdES signing of a PDF with a visible appearance; the output appears whole or not at all."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import re
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter
from pyhanko.sign.signers.pdf_signer import (
    DSSContentSettings,
    SigDSSPlacementPreference,
    TimestampDSSContentSettings,
)
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper
from pyhanko.sign.validation import read_certification_data
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (
    InsufficientRevinfoError,
    InvalidCertificateError,
    PathBuildingError,
    PathValidationError,
    RevokedError,
)
from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend

from digitize.xmp import register_prefix
from signing import placement
from signing.appearance import VIETNAM, Stamp, digitized_copy_lines, empty_appearance, text_stamp, vietnam_time
from signing.errors import CertificateUnusable, NotAPdf, SigningError, require_pdf
from signing.revocation import fetch_ocsp
from signing.signers import AgencySigner
from signing.verify import load_roots

register_prefix()  # pyHanko writes a PDF/A-2 file's XMP again when it signs: keep sohoa's prefix

_PDFA_1 = re.compile(rb"pdfaid:part(?:>\s*|=[\"'])1\b")


class _PdfA1Writer(IncrementalPdfFileWriter):
    """Keeps a PDF/A-1 file PDF/A-1. pyHanko would raise its version to 1.7 (PDF/A-1 is PDF 1.4)
    and rewrite Info and XMP so that their producers disagree (PDF/A-1 wants them equal), and
    PDF/A-1 wants a /CIDSet in the stamp font."""

    output_version = (1, 4)
    needs_cidset = True  # for the stamp font: see appearance.StampFont

    def ensure_output_version(self, version: tuple[int, int]) -> None:
        pass

    def _update_meta(self) -> None:
        pass


def is_pdfa1(reader: PdfFileReader) -> bool:
    """Whether the file's XMP declares PDF/A-1."""
    try:
        xmp = reader.root["/Metadata"].get_object().data
    except (KeyError, AttributeError):
        xmp = b""
    return _PDFA_1.search(xmp) is not None


def open_writer(f: BinaryIO) -> IncrementalPdfFileWriter:
    """An incremental writer for a file to sign, one that keeps PDF/A-1 for a PDF/A-1 file."""
    reader = PdfFileReader(f, strict=False)
    return (_PdfA1Writer if is_pdfa1(reader) else IncrementalPdfFileWriter).from_reader(reader)


def _dss_settings(writer: IncrementalPdfFileWriter) -> DSSContentSettings:
    """B-LT's OCSP/CRL data go in the signature's own revision for a PDF/A-1 file, written by
    the writer that keeps it PDF/A-1; pyHanko's default, a revision of its own, is written
    by a plain writer (PDF 1.7, XMP rewritten without its dc schema)."""
    if isinstance(writer, _PdfA1Writer):
        return DSSContentSettings(placement=SigDSSPlacementPreference.TOGETHER_WITH_SIGNATURE, include_vri=False)
    return DSSContentSettings()


def add_timestamp_field(writer: IncrementalPdfFileWriter) -> str:
    """The field for B-LTA's document time stamp on a PDF/A-1 file, made in the signature's
    revision: an invisible widget (zero size, Print flag: PDF/A-1 forbids Hidden) with an
    empty appearance, since PDF/A-1 wants one for every widget (PDFBox Preflight 5.3.1).
    Made after the signature, its appearance would count as form filling, more than the
    LTA update a document time stamp is (and than a "no changes" certification allows)."""
    name = f"Timestamp-{uuid.uuid4()}"  # pyHanko's name for it
    fields.append_signature_field(
        writer, fields.SigFieldSpec(sig_field_name=name, on_page=0, readable_field_name="Timestamp")
    )
    [(_name, _value, ref)] = fields.enumerate_sig_fields(writer, with_name=name)
    widget = ref.get_object()  # the field is its own widget (SigFieldSpec's combine_annotation)
    widget[generic.NameObject("/AP")] = generic.DictionaryObject(
        {generic.NameObject("/N"): writer.add_object(empty_appearance())}
    )
    return name


def _seal_pdfa1(
    signed: BinaryIO, out: BinaryIO, field: str, timestamper: TimeStamper, context: ValidationContext
) -> None:
    """B-LTA's document time stamp on a PDF/A-1 file signed at B-LT, as pyHanko's
    ``use_pades_lta`` adds it (the TSA's chain and OCSP/CRL data in the DSS, then the time
    stamp over everything, in one revision), but written by the writer that keeps PDF/A-1
    (pyHanko's own is a plain one: PDF 1.7, XMP rewritten without its dc schema)."""
    signers.PdfTimeStamper(timestamper, field_name=field).timestamp_pdf(
        open_writer(signed),
        "sha256",
        validation_context=context,
        output=out,
        # Before the time stamp, in its revision: after it, pyHanko would add a revision of its own.
        dss_settings=TimestampDSSContentSettings(include_vri=False, update_before_ts=True),
    )


def check_may_sign(writer: IncrementalPdfFileWriter, label: str, field: str | None) -> None:
    """Refuse before writing: a document certified "no changes", or a field already signed or absent."""
    certification = read_certification_data(writer.prev)
    if certification is not None and certification.permission == MDPPerm.NO_CHANGES:
        raise SigningError(
            f"{label} đã được chứng nhận «không cho phép thay đổi»: không thể ký thêm.",
            f"{label} is certified “no changes allowed”: it cannot be signed again.",
            field="document",
        )
    if field is None:
        return
    existing = {name: value for name, value, _ in fields.enumerate_sig_fields(writer.prev)}
    if field not in existing:
        raise SigningError(
            f"{label} không có ô ký «{field}».", f"{label} has no signature field “{field}”.", field="field"
        )
    if existing[field] is not None:
        raise SigningError(
            f"Ô ký «{field}» đã được ký.", f"Signature field “{field}” is already signed.", field="field"
        )


def add_signature_fields(src: Path, dst: Path, specs: Sequence[tuple[str, tuple[int, int, int, int]]]) -> None:
    """Every signature field a result needs (name, box on page 1), made before the first
    signature so that signing them later changes nothing an earlier signature covers."""
    try:
        with src.open("rb") as f:
            writer = open_writer(f)
            for name, box in specs:
                fields.append_signature_field(writer, fields.SigFieldSpec(sig_field_name=name, on_page=0, box=box))
            with atomic_write(dst) as out:
                writer.write(out)
    except (PdfReadError, KeyError, IndexError) as e:
        raise NotAPdf(f"{src.name}: PDF hỏng ({e}).", f"{src.name}: corrupt PDF ({e}).", field=src.name) from e


@contextlib.contextmanager
def atomic_write(dst: Path) -> Iterator[BinaryIO]:
    """A file that appears at ``dst`` whole, or not at all."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=".signing-", suffix=".pdf")
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def next_field_name(writer: IncrementalPdfFileWriter) -> str:
    existing = {name for name, _, _ in fields.enumerate_sig_fields(writer.prev)}
    n = 1
    while f"Sig{n}" in existing:
        n += 1
    return f"Sig{n}"


LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")


def check_signing_certificate(cert: asn1_x509.Certificate, name: str, moment: dt.datetime) -> None:
    """Refuse, before anything is written, a certificate that cannot make a valid signature."""
    validity = cert["tbs_certificate"]["validity"]
    not_before, not_after = validity["not_before"].native, validity["not_after"].native
    if moment < not_before:
        raise CertificateUnusable(
            f"Chứng thư của {name} chưa có hiệu lực (từ {not_before:%d/%m/%Y}).",
            f"The certificate of {name} is not valid yet (from {not_before:%Y-%m-%d}).",
            field="certificate",
        )
    if moment > not_after:
        raise CertificateUnusable(
            f"Chứng thư của {name} đã hết hạn ngày {not_after:%d/%m/%Y}.",
            f"The certificate of {name} expired on {not_after:%Y-%m-%d}.",
            field="certificate",
        )
    usage = set(cert.key_usage_value.native) if cert.key_usage_value is not None else set()
    if not usage & {"digital_signature", "non_repudiation"}:
        raise CertificateUnusable(
            f"Chứng thư của {name} không được dùng để ký số (thiếu digitalSignature/nonRepudiation).",
            f"The certificate of {name} is not for signing (no digitalSignature/nonRepudiation usage).",
            field="certificate",
        )


def check_certificate(agency: AgencySigner, moment: dt.datetime) -> None:
    check_signing_certificate(agency.signer.signing_cert, agency.name, moment)


def check_revocation(agency: AgencySigner, context: ValidationContext) -> None:
    """Validate the agency's chain now, revocation included, to name what is wrong with it."""
    cert = agency.signer.signing_cert
    assert cert is not None
    check_chain(cert, list(agency.signer.cert_registry), context, agency.name)


def check_chain(
    cert: asn1_x509.Certificate, intermediates: list[asn1_x509.Certificate], context: ValidationContext, name: str
) -> None:
    """``cert`` chains to one of the context's trust roots and is not revoked (as far as the
    context's revocation mode asks); otherwise an error that says which."""
    validator = CertificateValidator(cert, intermediate_certs=intermediates, validation_context=context)
    try:
        asyncio.run(validator.async_validate_usage(set(), extended_optional=True))
    except RevokedError as e:
        raise CertificateUnusable(
            f"Chứng thư của {name} đã bị thu hồi; không ký được.",
            f"The certificate of {name} has been revoked; it cannot sign.",
            field="certificate",
        ) from e
    except (PathBuildingError, InvalidCertificateError) as e:  # the latter: self-signed, not a root
        raise CertificateUnusable(
            f"Chứng thư của {name} không dẫn tới chứng thư gốc tin cậy nào (SOHOA_TRUST_ROOTS).",
            f"The certificate of {name} does not chain to a trusted root (SOHOA_TRUST_ROOTS).",
            field="certificate",
        ) from e
    except (PathValidationError, InsufficientRevinfoError) as e:
        raise CertificateUnusable(
            f"Không xác minh được chứng thư của {name} (chuỗi tin cậy hoặc tình trạng thu hồi): {e}",
            f"The certificate of {name} cannot be validated (chain of trust or revocation): {e}",
            field="certificate",
        ) from e


def signer_context(trust_roots: Sequence[Path]) -> ValidationContext:
    """How a person's certificate is checked before they sign: it must chain to a configured
    root; revocation is checked where the CA publishes it (OCSP or CRL fetched now) and a CA
    that cannot be reached does not stop the signature (soft-fail)."""
    return ValidationContext(
        trust_roots=load_roots(list(trust_roots)),
        allow_fetching=True,
        revocation_mode="soft-fail",
        fetcher_backend=RequestsFetcherBackend(per_request_timeout=10),
    )


def sign_pdf(
    src: Path,
    dst: Path,
    agency: AgencySigner,
    *,
    agency_name: str | None = None,
    level: str = "B-B",
    tsa_url: str = "",
    timestamper: TimeStamper | None = None,
    crls: Sequence[asn1_crl.CertificateList] = (),
    trust_roots: Sequence[Path] = (),
    ocsp_url: str = "",
    reason: str = "Số hóa",
    field: str | None = None,
    certify: MDPPerm | None = None,
    stamp: Stamp | Callable[[dt.datetime], Stamp] | None = None,
    page: int = 0,
    heading: str = "",
) -> dict[str, str]:
    """Sign ``src`` with ``agency``'s key (the agency's, or a person's) and write ``dst`` atomically.

    B-T adds an RFC 3161 time stamp from ``tsa_url`` (or ``timestamper``: the demo PKI's, in
    process); B-LT also validates the chain now (OCSP/CRL from the certificates' own URLs or
    ``ocsp_url``, hard-fail) and embeds it, so the signature can be checked offline for years; B-LTA seals it
    all with a document time stamp (PDF/A-1 stays PDF/A-1: ``_seal_pdfa1``). A revoked, expired
    or unsuitable certificate is refused. ``field`` signs a field made beforehand; ``certify``
    makes this the certifying signature, with the changes it still allows (DocMDP).

    The digitized-copy stamp shows ``heading`` (what an officer vouches for), ``agency_name`` or
    the certificate's name, and the signature's own time, in free space at the top right of
    page 1 (``placement``; ``note`` says when it had to cover text). Another stamp (an issued
    result's) is given for ``page`` (from 0), or made from the signing time by a callable."""
    _check_level(level, bool(tsa_url or timestamper))
    moment = dt.datetime.now(VIETNAM).replace(microsecond=0)  # the stamp's time and the signature's
    check_certificate(agency, moment)
    timestamper = None if level == "B-B" else timestamper or RequestsHTTPTimeStamper(tsa_url, timeout=15)
    long_term = level in ("B-LT", "B-LTA")
    context = _long_term_context(agency, trust_roots, crls, ocsp_url) if long_term else None
    with _signing_errors(src, tsa_url), src.open("rb") as f:
        writer = _writer_to_sign(f, src, field)
        name = field or next_field_name(writer)
        note = ""
        if stamp is None:  # the digitized-copy stamp, unless the caller brings another (an issued result's)
            stamp, note = placed_stamp(writer, src, digitized_copy_lines(agency_name or agency.name, moment, heading))
        stamp = stamp(moment) if callable(stamp) else stamp
        # PDF/A-1 at B-LTA: signed at B-LT, then sealed by a writer that keeps it PDF/A-1.
        seal_separately = level == "B-LTA" and isinstance(writer, _PdfA1Writer)
        seal_field = add_timestamp_field(writer) if seal_separately else ""
        meta = signers.PdfSignatureMetadata(
            field_name=name,
            md_algorithm="sha256",
            subfilter=SigSeedSubFilter.PADES,
            reason=reason,
            location="Việt Nam",
            embed_validation_info=long_term,
            dss_settings=_dss_settings(writer),
            use_pades_lta=level == "B-LTA" and not seal_separately,
            validation_context=context,
            certify=certify is not None,
            docmdp_permissions=certify or MDPPerm.FILL_FORMS,
        )
        pdf_signer = TimedSigner(
            meta,
            signer=agency.signer,
            timestamper=timestamper,
            stamp_style=stamp.style,
            # A field made beforehand keeps its own place; otherwise the stamp's.
            new_field_spec=None if field else fields.SigFieldSpec(sig_field_name=name, on_page=page, box=stamp.box),
            moment=moment,
        )
        with atomic_write(dst) as out:
            if seal_separately:
                assert timestamper is not None and context is not None
                signed = pdf_signer.sign_pdf(writer, appearance_text_params=stamp.text_params)
                _seal_pdfa1(signed, out, seal_field, timestamper, context)
            else:
                pdf_signer.sign_pdf(writer, output=out, appearance_text_params=stamp.text_params)
    info = {"field": name, "signer": agency.subject, "time": vietnam_time(moment), "level": f"PAdES {level}"}
    return {**info, "note": note} if note else info


class TimedSigner(signers.PdfSigner):
    """pyHanko's signer with the signing time set: the time the stamp shows is then the
    signature's own (pyHanko would take the clock again, a moment later)."""

    def __init__(self, *args: Any, moment: dt.datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.moment = moment

    def init_signing_session(self, pdf_out: Any, existing_fields_only: bool = False) -> Any:
        session = super().init_signing_session(pdf_out, existing_fields_only)
        session.system_time = self.moment
        return session


COVERS_TEXT = "Dấu chữ ký che một phần chữ ở đầu trang 1: góc trên bên phải không còn chỗ trống."


def placed_stamp(writer: IncrementalPdfFileWriter, src: Path, lines: list[str]) -> tuple[Stamp, str]:
    """A text stamp in free space at the top right of page 1, below the stamps already there;
    the note says (in Vietnamese) when it could only go over text."""
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    page_box = tuple(float(v) for v in page["/MediaBox"])
    text = text_stamp(lines)
    ink = placement.page_ink(src, page_box)  # type: ignore[arg-type]
    where = placement.place(text.size, page_box, placement.signature_boxes(writer), ink)  # type: ignore[arg-type]
    return Stamp(text.style, where.box, {}), COVERS_TEXT if where.covers_text else ""


def _check_level(level: str, has_tsa: bool) -> None:
    if level not in LEVELS:
        raise SigningError(f"Mức chữ ký {level} không hợp lệ.", f"Unknown signature level {level}.", field="level")
    if level != "B-B" and not has_tsa:
        raise SigningError(
            f"Mức {level} cần máy chủ dấu thời gian (SOHOA_TSA_URL).",
            f"Level {level} needs a time-stamping authority (SOHOA_TSA_URL).",
            field="tsa_url",
        )


def _long_term_context(
    agency: AgencySigner, trust_roots: Sequence[Path], crls: Sequence[asn1_crl.CertificateList], ocsp_url: str
) -> ValidationContext:
    """B-LT and up: the chain validated now, revocation data fetched (hard-fail) to embed, or
    given (``crls``: the demo root's; ``ocsp_url``: the responder the settings name)."""
    cert, chain = agency.signer.signing_cert, list(agency.signer.cert_registry)
    answer = fetch_ocsp(ocsp_url, cert, chain) if ocsp_url and cert is not None else None
    context = ValidationContext(
        trust_roots=load_roots(list(trust_roots)),
        crls=list(crls),
        ocsps=[answer] if answer is not None else [],
        allow_fetching=True,
        revocation_mode="hard-fail",
        fetcher_backend=RequestsFetcherBackend(per_request_timeout=15),
    )
    check_revocation(agency, context)
    return context


def _writer_to_sign(f: BinaryIO, src: Path, field: str | None) -> IncrementalPdfFileWriter:
    """A writer on a PDF that may be signed (``field``, if named, free to sign)."""
    require_pdf(f, src)
    writer = open_writer(f)
    if writer.prev.encrypted:
        raise NotAPdf(
            f"{src.name} được mã hóa; không ký được.",
            f"{src.name} is encrypted and cannot be signed.",
            field=src.name,
        )
    check_may_sign(writer, src.name, field)
    return writer


@contextlib.contextmanager
def _signing_errors(src: Path, tsa_url: str) -> Iterator[None]:
    """What goes wrong while signing, as an error that says what and where; nothing is written."""
    try:
        yield
    except (PdfReadError, KeyError, IndexError) as e:
        raise NotAPdf(
            f"{src.name}: PDF hỏng, không ký được ({e}).",
            f"{src.name}: corrupt PDF, cannot sign ({e}).",
            field=src.name,
        ) from e
    except SigningError:
        raise
    except TimestampRequestError as e:
        raise SigningError(
            f"Không lấy được dấu thời gian từ {tsa_url}: {e}. Chưa ký, không ghi gì.",
            f"No time stamp from {tsa_url}: {e}. Nothing was signed or written.",
            field="tsa_url",
        ) from e
    except (PathValidationError, PathBuildingError, InsufficientRevinfoError) as e:
        raise CertificateUnusable(
            f"Chứng thư ký không hợp lệ lúc này (thu hồi, không tin cậy hoặc không kiểm tra được): {e}",
            f"The signing certificate does not validate now (revoked, untrusted or unverifiable): {e}",
            field="certificate",
        ) from e
    except Exception as e:  # pyHanko signals certificate problems with many exception types
        raise SigningError(f"Ký số thất bại: {e}", f"Signing failed: {e}") from e
