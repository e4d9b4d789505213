"""Interface to the external programs digitize runs: poppler's pdftoppm, pdfinfo and pdftotext,
libtiff's tiffcp.

Nothing else in sohoa starts a program. This module alone knows their command lines, their
version probes, the Debian package each comes in, and how their failures become typed errors:
a program that is not installed raises ``MissingProgram`` naming that package, one that fails
on an input raises ``ProgramFailed`` naming the program and the file (never a bare
``FileNotFoundError`` or ``CalledProcessError``)."""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pdf2image
from pdf2image.exceptions import PDFPageCountError, PopplerNotInstalledError

from digitize.errors import MissingProgram, ProgramFailed


@dataclass(frozen=True)
class Program:
    """An external program: its name on PATH, its Debian package and how it tells its version."""

    name: str
    package: str
    version_args: tuple[str, ...]


PDFTOPPM = Program("pdftoppm", "poppler-utils", ("-v",))
PDFINFO = Program("pdfinfo", "poppler-utils", ("-v",))  # pdf2image asks it the page count first
TIFFCP = Program("tiffcp", "libtiff-tools", ("-h",))
PDFTOTEXT = Program("pdftotext", "poppler-utils", ("-v",))
PROGRAMS = (PDFTOPPM, PDFINFO, TIFFCP, PDFTOTEXT)


def locate(program: Program) -> str:
    """The program's path on PATH, or ``MissingProgram`` naming the package that provides it."""
    found = shutil.which(program.name)
    if found is None:
        raise MissingProgram(program.name, program.package)
    return found


def version(program: Program) -> str:
    """The program's version, as it prints it (poppler and libtiff print it on stderr)."""
    done = subprocess.run([locate(program), *program.version_args], capture_output=True, text=True, check=False)
    found = re.search(r"[Vv]ersion (\S+)", done.stderr + done.stdout)
    return found.group(1) if found else "unknown"


def _tail(text: str, files: tuple[Path, ...]) -> str:
    """The last words of a program's error output, with scratch paths cut to file names."""
    for path in files:
        text = text.replace(str(path), path.name)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " ".join(lines)[-300:] or "no message"


def _run(program: Program, args: list[str], label: str, files: tuple[Path, ...]) -> None:
    """Run the program to its end; a non-zero exit is ``ProgramFailed`` with its last words."""
    try:
        done = subprocess.run([locate(program), *args], capture_output=True, text=True, check=False)
    except FileNotFoundError as e:  # removed between the lookup and the start
        raise MissingProgram(program.name, program.package) from e
    if done.returncode != 0:
        raise ProgramFailed(program.name, label, f"exit {done.returncode}: {_tail(done.stderr, files)}")


def render_pdf_page(pdf: Path, number: int, dpi: int, out: Path, *, label: str) -> Path:
    """Page ``number`` of ``pdf`` rendered by pdftoppm at ``dpi`` into ``out`` + ".png", through
    pdf2image (written to disk, not loaded: a poster page is hundreds of MB of pixels)."""
    for program in (PDFINFO, PDFTOPPM):
        locate(program)
    target = out.with_suffix(".png")
    try:
        pdf2image.convert_from_path(
            pdf,
            dpi=dpi,
            output_folder=out.parent,
            first_page=number,
            last_page=number,
            fmt="png",
            single_file=True,
            output_file=out.name,
            paths_only=True,
        )
    except PopplerNotInstalledError as e:  # pdfinfo removed since the lookup
        raise MissingProgram(PDFINFO.name, PDFINFO.package) from e
    except PDFPageCountError as e:  # pdfinfo could not read the file: its stderr follows the first line
        detail = str(e).partition("\n")[2]
        raise ProgramFailed(PDFINFO.name, label, _tail(detail, (pdf,))) from e
    except FileNotFoundError as e:  # pdftoppm removed since the lookup
        raise MissingProgram(PDFTOPPM.name, PDFTOPPM.package) from e
    if not target.exists():  # pdf2image does not look at pdftoppm's exit status
        raise ProgramFailed(PDFTOPPM.name, label, f"page {number} not rendered")
    return target


def restrip_tiff(source: Path, index: int, rows_per_strip: int, target: Path, *, label: str) -> None:
    """Page ``index`` of a TIFF copied by tiffcp into ``target`` in Deflate strips of
    ``rows_per_strip`` rows (tiffcp decodes a strip row by row)."""
    args = ["-r", str(rows_per_strip), "-c", "zip", f"{source},{index}", str(target)]
    _run(TIFFCP, args, label, (source, target))


def pdf_text(pdf: Path, out: Path, *, label: str) -> list[str]:
    """The text of each page of a PDF that has its own (an electronic document), in reading
    order, as pdftotext extracts it into ``out`` (NFC: the catalog's form)."""
    _run(PDFTOTEXT, ["-enc", "UTF-8", str(pdf), str(out)], label, (pdf, out))
    pages = out.read_text(encoding="utf-8").split("\f")
    return [unicodedata.normalize("NFC", text).strip() for text in pages[:-1] or pages]
