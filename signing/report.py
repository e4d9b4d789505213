"""What a verification found, as plain data: each signature, each document time stamp, one
verdict. Kept apart from ``verify`` so that the service's answers can name these types without
loading pyHanko."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass


@dataclass
class Finding:
    """One thing to tell a person, in Vietnamese and in English."""

    vi: str
    en: str


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
    signer_name: str = ""  # the certificate's common name, for sentences
    changed_after: bool = False  # the file was changed after this signature in a way it does not allow
    changes: list[Finding] = dataclasses.field(default_factory=list)  # what was changed, for a person
    problems: list[Finding] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.intact and self.valid and self.trusted and not self.changed_after


@dataclass
class TimestampReport:
    """A document time stamp (B-LTA): it proves the file existed as it was at that time."""

    field: str
    time: str | None
    intact: bool
    valid: bool
    trusted: bool
    changed_after: bool = False
    changes: list[Finding] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.intact and self.valid and not self.changed_after


@dataclass
class DocumentReport:
    file: str
    signatures: list[SignatureReport]
    pdfa: str | None
    pdfa_valid: bool
    pdfa_findings: list[str]
    verdict_vi: str
    verdict_en: str
    timestamps: list[TimestampReport] = dataclasses.field(default_factory=list)
    lost_signatures: list[str] = dataclasses.field(default_factory=list)  # signed once, removed or replaced since
    encrypted: bool = False  # opened without a password (an owner password restricts editing)

    @property
    def ok(self) -> bool:
        """Every signature valid, trusted and unchanged since; PDF/A valid where the file claims it."""
        return (
            bool(self.signatures)
            and all(s.ok for s in self.signatures)
            and all(t.ok for t in self.timestamps)
            and not self.lost_signatures
            and (self.pdfa_valid or self.pdfa is None)
        )

    @property
    def changed_after_signing(self) -> bool:
        signed: list[SignatureReport | TimestampReport] = [*self.signatures, *self.timestamps]
        return bool(self.lost_signatures) or any(s.changed_after for s in signed)

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "ok": self.ok, "changed_after_signing": self.changed_after_signing}
