"""Electronic originals: a PDF that arrives already signed (a result another agency issued, a
citizen's signed form) is kept as it is, byte for byte, not digitized again as images, which
would strip its signatures and burn old stamps into a picture. Its signatures are verified and
reported, its own text is indexed page by page, and the signed original is the document's
signed version. ``SOHOA_SIGNED_PDFS=digitize`` digitizes such files as images instead, with a
notice that their signatures are not carried over."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import storage.search
from digitize import programs
from service import lease
from service.context import Context, audit
from storage import Document, Page, lifecycle

KEPT = {
    "code": "electronic-original",
    "vi": "Tệp PDF đã có chữ ký số: giữ nguyên bản điện tử, không số hóa lại.",
    "en": "The PDF already carries digital signatures: kept as the electronic original, not digitized again.",
}
STRIPPED = {
    "code": "signatures-not-kept",
    "vi": "Tệp gốc có chữ ký số; bản số hóa (ảnh) không mang các chữ ký đó: tệp gốc vẫn được lưu nguyên vẹn.",
    "en": "The original carries digital signatures; the digitized (image) copy does not: the original is kept as is.",
}


def keep(ctx: Context, run: lease.Run, original: Path, name: str, work: Path) -> dict[str, Any]:
    """Record the signed PDF as its document's signed version, its pages' text indexed; the
    job's result: the verification of its signatures and a notice saying it was kept."""
    from signing import verify_pdf  # pyHanko loads in the worker only
    from signing.renew import last_timestamp_expiry

    code, doc_id = run.code, run.document_id
    assert code is not None and doc_id is not None
    report = verify_pdf(original, ctx.trust_roots())
    texts = programs.pdf_text(original, work / "text.txt", label=name)
    expires = last_timestamp_expiry(original)  # the renewal selects by it
    with ctx.sessions.begin() as session:
        lifecycle.check_open(session, code, "ghi bản điện tử", "recording an electronic original")
        document = session.get(Document, doc_id)
        assert document is not None
        storage.search.forget_pages(session, document)
        document.signed_key, document.signed_sha256 = document.original_key, document.original_sha256
        document.stamp_expires, document.stamp_sha256 = expires, document.original_sha256
        document.page_count = len(texts)
        document.notices = [KEPT]  # shown on the document and its dossier
        for number, text in enumerate(texts, start=1):
            session.add(Page(document_id=doc_id, number=number, text=text, words=len(text.split()), confidence=100.0))
        storage.search.index_document(session, document)
        lease.digitized(session, code, run)
        number = document.number
        audit(session, "worker", "scan.kept_electronic", code, document=doc_id, number=number, job=run.job_id,
              ok=report.ok)  # fmt: skip
        summary = {
            "dossier": code,
            "document_id": number,  # in its dossier, as URLs name it
            "pages": len(texts),
            "page_details": [],
            "pdfa": None,
            "electronic": {
                "ok": report.ok,
                "signatures": len(report.signatures),
                "verdict_vi": report.verdict_vi,
                "verdict_en": report.verdict_en,
            },
            "notices": [KEPT],
        }
        lease.finish(session, run, summary, len(texts))
    return summary
