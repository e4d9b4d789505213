"""Apache PDFBox Preflight, the second PDF/A-1b validator of the tests (beside pikepdf's).

Debian 12's libpdfbox2-java ships Preflight itself (/usr/share/java/preflight.jar, with
xmpbox.jar); it needs javax.activation (libactivation-java) and javax.xml.bind
(libjaxb-api-java), which Java 11+ no longer includes, and a Java runtime. `make test`
installs all of them. Preflight checks PDF/A-1b only, and accepts signature fields, so a
signed file is checked as it is.
"""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

JAVA_DIR = Path("/usr/share/java")
JARS = [
    "preflight.jar",  # libpdfbox2-java
    "xmpbox.jar",
    "pdfbox2.jar",
    "fontbox2.jar",  # libfontbox2-java
    "commons-logging.jar",  # libcommons-logging-java
    "javax.activation.jar",  # libactivation-java
    "jaxb-api.jar",  # libjaxb-api-java
]
VALIDATOR = "org.apache.pdfbox.preflight.Validator_A1b"


@dataclass(frozen=True)
class PreflightError:
    code: str  # Preflight's error code, e.g. "2.4.3" (org.apache.pdfbox.preflight.PreflightConstants)
    details: str
    page: int | None = None  # 0-based, when Preflight names one

    def __str__(self) -> str:
        where = f" (page {self.page + 1})" if self.page is not None else ""
        return f"{self.code}: {self.details}{where}"


@dataclass
class PreflightReport:
    passed: bool
    flavour: str | None  # as Preflight names it: "PDF/A1-b"
    errors: list[PreflightError] = field(default_factory=list)

    @property
    def codes(self) -> list[str]:
        return sorted({e.code for e in self.errors})


def classpath() -> str:
    missing = [j for j in JARS if not (JAVA_DIR / j).is_file()]
    if missing or shutil.which("java") is None:
        raise RuntimeError(
            f"PDFBox Preflight needs a Java runtime and {', '.join(missing) or 'its jars'} in {JAVA_DIR}: "
            "run `make system-deps` (default-jre-headless libpdfbox2-java libactivation-java libjaxb-api-java)"
        )
    return ":".join(str(JAVA_DIR / j) for j in JARS)


def preflight(path: Path) -> PreflightReport:
    """Validate ``path`` as PDF/A-1b with PDFBox Preflight (its XML report, which always exits 0)."""
    run = subprocess.run(
        ["java", "-Djava.awt.headless=true", "-cp", classpath(), VALIDATOR, "xml", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    start = run.stdout.find("<?xml")
    if run.returncode != 0 or start < 0:
        raise RuntimeError(f"Preflight did not run on {path} (exit {run.returncode}): {run.stderr.strip()[-2000:]}")
    root = ET.fromstring(run.stdout[start:])
    valid = root.find("isValid")
    errors = [
        PreflightError(
            e.findtext("code", ""),
            e.findtext("details", ""),
            int(page) if (page := e.findtext("page")) is not None else None,
        )
        for e in root.iterfind("errors/error")
    ]
    if (thrown := root.find("exceptionThrown")) is not None:  # a file Preflight cannot even parse
        errors.append(PreflightError("exception", thrown.findtext("message") or "exception"))
    passed = valid is not None and valid.text == "true" and not errors
    return PreflightReport(passed, (valid.get("type") or None) if valid is not None else None, errors)
