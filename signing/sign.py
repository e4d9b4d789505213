"""PAdES signing of a PDF with a visible appearance; the output appears whole or not at all."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import SigSeedSubFilter

from signing.appearance import VIETNAM, digitized_copy_stamp
from signing.errors import NotAPdf, SigningError
from signing.signers import AgencySigner


def _next_field_name(writer: IncrementalPdfFileWriter) -> str:
    existing = {name for name, _, _ in fields.enumerate_sig_fields(writer.prev)}
    n = 1
    while f"Sig{n}" in existing:
        n += 1
    return f"Sig{n}"


def sign_pdf(src: Path, dst: Path, agency: AgencySigner, *, agency_name: str, reason: str = "Số hóa") -> dict[str, str]:
    """Sign ``src`` as the agency (PAdES B-B) with the digitized-copy stamp; write ``dst`` atomically."""
    moment = dt.datetime.now(VIETNAM)
    try:
        with src.open("rb") as f:
            if not f.read(1024).lstrip().startswith(b"%PDF"):
                raise NotAPdf(f"{src.name} không phải tệp PDF.", f"{src.name} is not a PDF file.", field=src.name)
            f.seek(0)
            writer = IncrementalPdfFileWriter(f, strict=False)
            if writer.prev.encrypted:
                raise NotAPdf(
                    f"{src.name} được mã hóa; không ký được.",
                    f"{src.name} is encrypted and cannot be signed.",
                    field=src.name,
                )
            name = _next_field_name(writer)
            page_box = tuple(float(v) for v in writer.root["/Pages"]["/Kids"][0].get_object()["/MediaBox"])
            stamp = digitized_copy_stamp(page_box, agency_name, moment)  # type: ignore[arg-type]
            meta = signers.PdfSignatureMetadata(
                field_name=name,
                md_algorithm="sha256",
                subfilter=SigSeedSubFilter.PADES,
                reason=reason,
                location="Việt Nam",
            )
            pdf_signer = signers.PdfSigner(
                meta,
                signer=agency.signer,
                stamp_style=stamp.style,
                new_field_spec=fields.SigFieldSpec(sig_field_name=name, on_page=0, box=stamp.box),
            )
            dst.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=".signing-", suffix=".pdf")
            try:
                with os.fdopen(fd, "wb") as out:
                    pdf_signer.sign_pdf(writer, output=out, appearance_text_params=stamp.text_params)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, dst)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
    except (PdfReadError, KeyError, IndexError) as e:
        raise NotAPdf(
            f"{src.name}: PDF hỏng, không ký được ({e}).",
            f"{src.name}: corrupt PDF, cannot sign ({e}).",
            field=src.name,
        ) from e
    except SigningError:
        raise
    except Exception as e:  # pyHanko signals certificate problems with many exception types
        raise SigningError(f"Ký số thất bại: {e}", f"Signing failed: {e}") from e
    return {"field": name, "signer": agency.subject, "time": stamp.text_params["when"], "level": "PAdES B-B"}
