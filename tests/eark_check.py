"""The E-ARK validator (PyPI ``eark-validator``) run offline: it reads four CSIP vocabularies from
the DILCIS Board's site when it starts; here it reads the copies in resources/eark (see the
README there)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

VOCABULARIES = Path(__file__).resolve().parent / "resources" / "eark"


def _local(url: str, *_args: Any, **_kwargs: Any) -> list[bytes]:
    """The vocabulary the URL names, from the copy here: one ``<Term>`` a line, as the published
    file has them (the validator reads the text between the first ``>`` and the next ``<`` of each
    line holding "Term"; the copies put ``<Entry>`` on the same line)."""
    text = (VOCABULARIES / Path(urlparse(url).path).name).read_text(encoding="utf-8")
    return [line[line.index("<Term") :].encode() for line in text.splitlines() if "<Term" in line]


def validate(package: Path) -> Any:
    """The validator's report on a package (a zip with one folder, or the folder)."""
    import urllib.request
    from unittest import mock

    # The module reads the vocabularies when it is imported (``from urllib.request import urlopen``).
    with mock.patch.object(urllib.request, "urlopen", _local):
        from eark_validator.packages import PackageValidator

    return PackageValidator(package).validation_report


def problems(report: Any) -> list[str]:
    """Every error and warning the report gives: structure, schema and schematron."""
    found = [f"structure {m.rule_id}: {m.message}" for m in report.structure.messages]
    if report.metadata is not None:
        for results in (report.metadata.schema_results, report.metadata.schematron_results):
            found += [f"{m.rule_id} {m.severity.value}: {m.message} ({m.location})" for m in results.messages]
    return found
