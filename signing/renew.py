"""B-LTA renewal: a signed file's last time stamp is only as good as its TSA's certificate, so
before that certificate expires the file gets fresh revocation data for it and a new document time
stamp over everything (PAdES B-LTA, ETSI EN 319 142-1 5.5)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from asn1crypto import cms
from asn1crypto import crl as asn1_crl
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.general import extract_certificate_info
from pyhanko.sign.signers.pdf_signer import TimestampDSSContentSettings
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.validation import add_validation_info
from pyhanko.sign.validation.dss import DocumentSecurityStore, collect_validation_info
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend

from signing.errors import NotAPdf
from signing.sign import add_timestamp_field, atomic_write, is_pdfa1, open_writer
from signing.verify import load_roots


def _token_expiry(token: cms.SignedData) -> dt.datetime:
    return extract_certificate_info(token).signer_cert.not_valid_after


def _signature_token(signed_data: cms.SignedData) -> cms.SignedData | None:
    """The RFC 3161 token a signature carries (B-T and up), if any."""
    for attr in signed_data["signer_infos"][0]["unsigned_attrs"] or []:
        if attr["type"].native == "signature_time_stamp_token":
            return attr["values"][0]["content"]
    return None


def last_timestamp_expiry(path: Path) -> dt.datetime | None:
    """When the certificate of the file's last time stamp expires: the last document time stamp
    (B-LTA), else the time stamp in the last signature (B-T, B-LT); None without any."""
    try:
        with path.open("rb") as f:
            reader = PdfFileReader(f, strict=False)
            stamps = reader.embedded_timestamp_signatures
            if stamps:
                return _token_expiry(stamps[-1].signed_data)
            for embedded in reversed(reader.embedded_regular_signatures):
                if (token := _signature_token(embedded.signed_data)) is not None:
                    return _token_expiry(token)
    except PdfReadError as e:
        raise NotAPdf(f"{path.name}: PDF hỏng ({e}).", f"{path.name}: corrupt PDF ({e}).", field=path.name) from e
    return None


def _renew_pdfa1(src: Path, dst: Path, timestamper: TimeStamper, context: ValidationContext) -> None:
    """The same for a PDF/A-1 file, in one revision written by the writer that keeps it PDF/A-1
    (pyHanko's own would make it PDF 1.7 with Info and XMP out of step): the last time stamp's
    (or signature's) fresh revocation data, a field for the new time stamp with an appearance,
    then the time stamp with its own chain's data, as sign.py's B-LTA seal on PDF/A-1 does."""
    with src.open("rb") as f, atomic_write(dst) as out:
        writer = open_writer(f)
        reader = writer.prev
        last = (reader.embedded_timestamp_signatures or reader.embedded_regular_signatures)[-1]
        paths = asyncio.run(collect_validation_info(last, context))
        DocumentSecurityStore.supply_dss_in_writer(writer, None, paths=paths, validation_context=context)
        field = add_timestamp_field(writer)
        signers.PdfTimeStamper(timestamper, field_name=field).timestamp_pdf(
            writer,
            "sha256",
            validation_context=context,
            output=out,
            dss_settings=TimestampDSSContentSettings(include_vri=False, update_before_ts=True),
        )


def renew_timestamp(
    src: Path,
    dst: Path,
    timestamper: TimeStamper,
    trust_roots: Sequence[Path],
    crls: Sequence[asn1_crl.CertificateList] = (),
) -> None:
    """``src`` with fresh revocation data for its last time stamp's chain in the DSS, then a new
    document time stamp over it all, written to ``dst`` (incremental updates: every earlier
    signature stays as it was). A file without a document time stamp yet (B-LT) first gets the
    data of its last signature and the time stamp inside it. Soft-fail: a responder that no
    longer answers for an expired certificate leaves the data embedded when it was signed."""
    context = ValidationContext(
        trust_roots=load_roots(list(trust_roots)),
        crls=list(crls),
        allow_fetching=True,
        revocation_mode="soft-fail",
        fetcher_backend=RequestsFetcherBackend(per_request_timeout=15),
    )
    with src.open("rb") as f:
        if is_pdfa1(PdfFileReader(f, strict=False)):
            return _renew_pdfa1(src, dst, timestamper, context)
    refreshed = dst.with_name(f"{dst.name}.dss")
    try:
        with src.open("rb") as f:
            reader = PdfFileReader(f, strict=False)
            if not reader.embedded_timestamp_signatures and reader.embedded_regular_signatures:
                with atomic_write(refreshed) as out:
                    last = reader.embedded_regular_signatures[-1]
                    add_validation_info(last, context, output=out, add_vri_entry=False)
                src = refreshed
        with src.open("rb") as f, atomic_write(dst) as out:
            reader = PdfFileReader(f, strict=False)
            stamper = signers.PdfTimeStamper(timestamper)
            stamper.update_archival_timestamp_chain(reader, context, in_place=False, output=out)
    finally:
        refreshed.unlink(missing_ok=True)
