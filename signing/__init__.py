"""PAdES signing with the agency certificate, visible Vietnamese stamps, and verification."""

from signing.sign import sign_pdf
from signing.signers import AgencySigner, agency_signer, load_pkcs12
from signing.verify import DocumentReport, verify_pdf

__all__ = ["AgencySigner", "DocumentReport", "agency_signer", "load_pkcs12", "sign_pdf", "verify_pdf"]
