"""The upload page's SHA-256 in the browser: a file hashed the way web/static/app.js does it
(hash-wasm, read a 4 MiB piece at a time) in Debian's chromium, beside Python's hashlib (what
the server does when the upload completes) on the same file, and the two digests compared.

    .venv/bin/python bench/browser_hash_bench.py --mib 512
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
HASHER = ROOT / "web" / "static" / "vendor" / "hash-wasm" / "sha256.umd.min.js"
PIECES = """async () => {
  const file = document.getElementById("f").files[0], piece = 4 << 20, started = performance.now();
  const hasher = (await hashwasm.createSHA256()).init();
  for (let at = 0; at < file.size; at += piece) {
    hasher.update(new Uint8Array(await file.slice(at, at + piece).arrayBuffer()));
  }
  return [hasher.digest("hex"), (performance.now() - started) / 1000];
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=512, help="the file's size in MiB")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hash-bench-") as tmp:
        path = Path(tmp) / "scan.bin"
        with path.open("wb") as f:
            for _ in range(args.mib):
                f.write(os.urandom(1 << 20))
        started, digest = time.perf_counter(), hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(4 << 20):
                digest.update(chunk)
        native = time.perf_counter() - started
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page()
            page.set_content('<input type="file" id="f">')
            page.add_script_tag(path=str(HASHER))
            page.set_input_files("#f", str(path))
            found, seconds = page.evaluate(PIECES)
            browser.close()
    assert found == digest.hexdigest(), "the browser's SHA-256 differs from hashlib's"
    print(f"{args.mib} MiB: chromium + hash-wasm {seconds:.1f} s ({args.mib / seconds:.0f} MiB/s); "
          f"hashlib {native:.1f} s ({args.mib / native:.0f} MiB/s); digests equal")  # fmt: skip


if __name__ == "__main__":
    main()
