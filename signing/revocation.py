"""Revocation data from the OCSP responder the settings name (SOHOA_OCSP_URL): for a CA whose
certificates name none, or an office that reaches its CA's responder at an internal address.
A B-LT signature embeds the answer like one fetched from the certificate's own URL."""

from __future__ import annotations

import logging

import requests
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

log = logging.getLogger(__name__)


def fetch_ocsp(
    url: str, cert: asn1_x509.Certificate, chain: list[asn1_x509.Certificate]
) -> asn1_ocsp.OCSPResponse | None:
    """The responder's answer for ``cert`` (its issuer found in ``chain``), or None when it gives
    none: the chain is then checked from the certificates' own URLs, which names what failed."""
    issuer = next((c for c in chain if c.subject == cert.issuer and c.dump() != cert.dump()), None)
    if issuer is None:
        log.warning("OCSP %s: the issuer of %s is not in its chain", url, cert.subject.human_friendly)
        return None
    subject, by = x509.load_der_x509_certificate(cert.dump()), x509.load_der_x509_certificate(issuer.dump())
    # A SHA-1 CertID: what every responder answers to (it names the certificate, it signs nothing).
    built = ocsp.OCSPRequestBuilder().add_certificate(subject, by, hashes.SHA1()).build()
    request = built.public_bytes(serialization.Encoding.DER)
    try:
        answer = requests.post(url, data=request, headers={"Content-Type": "application/ocsp-request"}, timeout=15)
        answer.raise_for_status()
        response = asn1_ocsp.OCSPResponse.load(answer.content)
        if response["response_status"].native != "successful":
            raise ValueError(response["response_status"].native)
    except (requests.RequestException, ValueError) as e:
        log.warning("OCSP %s gave no answer for %s: %s", url, cert.subject.human_friendly, e)
        return None
    return response
