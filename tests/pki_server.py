"""The test PKI (certomancer) with its TSA, OCSP responder and CRLs served on loopback."""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import yaml
from asn1crypto import pem
from certomancer.integrations.animator import Animator, AnimatorArchStore
from certomancer.registry import ArchLabel, CertLabel, CertomancerConfig, PKIArchitecture
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from werkzeug.serving import make_server

logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request log lines in test output
ARCHITECTURE = Path(__file__).resolve().parent / "pki" / "architecture.yml"
SERVICE_KEYS = ("root", "interm", "tsa", "tsa-short", "ocsp")
KEYS = ("root", "interm", "tsa", "tsa-short", "ocsp", "agency", "revoked", "expired", "no-signing", "future")
SHORT_TSA_DAYS = 30  # how long the short-lived TSA's certificate has left, from the day the PKI starts


@dataclass
class TestPki:
    arch: PKIArchitecture
    url: str
    root_pem: Path
    folder: Path

    def pkcs12(self, label: str, password: bytes = b"mat-khau") -> Path:
        """The certificate ``label`` with its key and chain, as the agency would get it."""
        path = self.folder / f"{label}.p12"
        path.write_bytes(self.arch.package_pkcs12(CertLabel(label), password=password))
        return path

    @property
    def tsa_url(self) -> str:
        return f"{self.url}/sohoa/tsa/tsa"

    @property
    def short_tsa_url(self) -> str:
        """A TSA whose certificate expires SHORT_TSA_DAYS from today."""
        return f"{self.url}/sohoa/tsa/tsa-short"


def _architecture() -> dict:  # type: ignore[type-arg]
    """The architecture, with the short-lived TSA's certificate dated from today."""
    import datetime as dt

    arch = yaml.safe_load(ARCHITECTURE.read_text(encoding="utf-8"))
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    arch["certs"]["tsa-short"]["validity"] = {
        "valid-from": (today - dt.timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%S+0000"),
        "valid-to": (today + dt.timedelta(days=SHORT_TSA_DAYS)).strftime("%Y-%m-%dT%H:%M:%S+0000"),
    }
    return arch  # type: ignore[no-any-return]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(folder: Path) -> tuple[TestPki, threading.Thread, object]:
    """Generate keys, load the architecture and serve it; returns the PKI, thread and server."""
    for label in KEYS:
        # The services' own keys are EC: quick to load and use on every request. Signers keep
        # RSA, as the certificates Vietnamese CAs issue do.
        if label in SERVICE_KEYS:
            key = ec.generate_private_key(ec.SECP256R1())
        else:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (folder / f"{label}.key.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    config = {
        "external-url-prefix": url,
        "keysets": {
            "sohoa-test": {"path-prefix": str(folder), "keys": {label: {"path": f"{label}.key.pem"} for label in KEYS}}
        },
        "pki-architectures": {"sohoa": _architecture()},
    }
    cfg = CertomancerConfig(config, key_search_dir=str(folder), external_url_prefix=url)
    arch = cfg.get_pki_arch(ArchLabel("sohoa"))
    server = make_server("127.0.0.1", port, Animator(AnimatorArchStore(cfg.pki_archs), with_web_ui=False))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    root_pem = folder / "root.pem"
    root_pem.write_bytes(pem.armor("CERTIFICATE", arch.get_cert(CertLabel("root")).dump()))
    return TestPki(arch, url, root_pem, folder), thread, server


if __name__ == "__main__":  # a PKI in a process of its own, for benchmarks: prints its TSA URL
    import sys

    folder = Path(sys.argv[1])
    pki, thread, _server = start(folder)
    pki.pkcs12("agency", b"mat-khau")
    print(pki.tsa_url, flush=True)
    thread.join()
