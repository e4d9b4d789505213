"""Metadata read from the page (digitize.metadata): % of fields right and ms per document beyond OCR.

A generated set following decree 30/2020's layout (tests/officialdocs.py): with and without a
parent agency line, letters with "V/v", TM./KT./TL./TUQ. authority lines, a red seal over the
signer's title, 200 and 300 dpi, grey and colour, skewed up to 4 degrees. Each page goes through
the real pipeline (digitize: ingest, OCR, PDF/A); the reading is then timed on its words alone.
The peer: the same fields by a plain regular-expression pass over the OCR text (what a search
for "Số:" and "ngày … tháng … năm" finds without the layout).

    .venv/bin/python bench/metadata_bench.py --documents 48
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import random
import re
import sys
import tempfile
import time
import unicodedata
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from officialdocs import make_document, render  # noqa: E402

from digitize import Source, digitize, metadata, ocr  # noqa: E402
from digitize.ocr import version  # noqa: E402
from records import READ_FROM_PAGE  # noqa: E402

CLASSES = list(itertools.product((200, 300), ("grey", "colour"), ("seal", "plain"), ("level", "skewed")))


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", " ".join(text.split()))


def regex_peer(text: str) -> dict[str, str]:
    """What a text-only pass finds: the number after "Số:", the date, nothing of the layout."""
    out = {}
    if m := re.search(r"Số:\s*(\S+)", text):
        out["number"] = m[1]
    if m := re.search(r"ngày (\d{1,2}) tháng (\d{1,2}) năm (\d{4})", text):
        day, month, year = (int(g) for g in m.groups())
        out["issued_on"] = datetime.date(year, month, day).isoformat()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=48)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--show", action="store_true", help="print every wrong field")
    parser.add_argument("--no-second-reading", action="store_true", help="OCR leaves picture blocks unread")
    args = parser.parse_args()
    if args.no_second_reading:
        ocr.PICTURE_AREA = 0.0  # what the pages give without reading a seal's area again
    extra = " --no-second-reading" if args.no_second_reading else ""
    print(f"$ python bench/metadata_bench.py --documents {args.documents} --seed {args.seed}{extra}")
    print(f"{datetime.date.today()}, Tesseract {version()}, {len(CLASSES)} classes: dpi × colour × seal × skew")
    rng = random.Random(args.seed)
    right: dict[str, list[bool]] = defaultdict(list)
    peer: list[bool] = []
    took: list[float] = []
    whole: dict[str, list[float]] = defaultdict(list)  # digitize (OCR and PDF/A) per document, by seal
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.documents):
            dpi, colour, seal, skew = CLASSES[n % len(CLASSES)]
            doc = make_document(rng, 380)
            angle = rng.choice((-1, 1)) * rng.uniform(1.5, 4) if skew == "skewed" else 0.0
            img = render(doc, dpi=dpi, colour=colour == "colour", seal=seal == "seal", skew=angle, seed=n)
            path = Path(tmp) / f"{n}.{'jpg' if colour == 'colour' else 'png'}"
            img.save(path, dpi=(dpi, dpi), **({"quality": 88} if colour == "colour" else {}))
            began = time.perf_counter()
            result = digitize([Source(path, path.name)], Path(tmp) / f"{n}.pdf", title="", tessdata=ROOT / "ocr-models")
            whole[seal].append(time.perf_counter() - began)
            pages = [metadata.PageWords(p.width, p.height, p.lines) for p in result.pages]
            started = time.perf_counter()
            found = metadata.read(pages)
            took.append(time.perf_counter() - started)
            guess = regex_peer("\n".join(p.text for p in result.pages))
            for key in READ_FROM_PAGE:
                value = found[key]
                ok = nfc(value.value if value else "") == nfc(doc.truth[key])
                for tag in ("all", f"{dpi} dpi", colour, seal, skew, doc.type if doc.letter else "typed"):
                    right[tag].append(ok)
                right[key].append(ok)
                peer.append(guess.get(key, "") == doc.truth[key])
                if not ok and args.show:
                    print(f"  #{n} {dpi} {colour} {seal} {skew} {key}: {value.value if value else None!r} "
                          f"≠ {doc.truth[key]!r}")  # fmt: skip
    print("\n| set | fields | sohoa % right | regex peer % right |")
    print("|---|---:|---:|---:|")
    for tag, oks in right.items():
        extra = f"{100 * sum(peer) / len(peer):.1f}" if tag == "all" else ""
        print(f"| {tag} | {len(oks)} | {100 * sum(oks) / len(oks):.1f} | {extra} |")
    took.sort()
    print(
        f"\nreading beyond OCR: median {1000 * took[len(took) // 2]:.2f} ms, max {1000 * took[-1]:.2f} ms per document"
    )
    for seal, seconds in whole.items():  # the second reading of a seal's area is part of OCR
        print(f"digitize, {seal} pages: {sum(seconds) / len(seconds):.2f} s per document (OCR, PDF/A)")


if __name__ == "__main__":
    main()
