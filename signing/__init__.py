"""PAdES signing with the agency certificate, visible Vietnamese stamps, and verification.

Names load on first use (PEP 562): pyHanko costs about 40 MB, which an API process that only
accepts uploads and a worker that has not signed yet need not pay."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from signing.sign import sign_pdf
    from signing.signers import AgencySigner, agency_signer, load_pkcs12
    from signing.verify import DocumentReport, verify_pdf

_WHERE = {
    "sign_pdf": "signing.sign",
    "AgencySigner": "signing.signers",
    "agency_signer": "signing.signers",
    "load_pkcs12": "signing.signers",
    "DocumentReport": "signing.verify",
    "verify_pdf": "signing.verify",
}
__all__ = ["AgencySigner", "DocumentReport", "agency_signer", "load_pkcs12", "sign_pdf", "verify_pdf"]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'signing' has no attribute {name!r}")
