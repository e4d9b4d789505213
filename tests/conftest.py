"""Shared fixtures: an isolated data directory per test, rendered Vietnamese pages, the demo PKI."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
CORPUS = ROOT / "tests" / "resources" / "scans"  # the real scans the tests read (LICENSES.md there)

import os  # noqa: E402
import subprocess  # noqa: E402

import pkcs11  # noqa: E402
from asn1crypto import pem  # noqa: E402
from certomancer.registry import CertLabel, KeyLabel  # noqa: E402
from pkcs11 import Attribute, CertificateType, ObjectClass  # noqa: E402

import pki_server  # noqa: E402
from pages import TEXT, save_page  # noqa: E402
from service import context as context_module  # noqa: E402
from service import options, queue  # noqa: E402
from service import settings as settings_module  # noqa: E402
from service.context import context  # noqa: E402


def _clear_caches() -> None:
    settings_module.get_settings.cache_clear()
    context_module._context.cache_clear()
    options.agency_signer.cache_clear()
    queue.queue.cache_clear()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """SOHOA_DATA_DIR points at a fresh folder; cached settings and contexts are reset."""
    var = tmp_path / "var"
    monkeypatch.setenv("SOHOA_DATA_DIR", str(var))
    monkeypatch.setenv("SOHOA_OCR_JOBS", "2")
    _clear_caches()
    yield var
    _clear_caches()


@pytest.fixture(scope="session")
def page_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_page(tmp_path_factory.mktemp("pages") / "don-khai-sinh.png")


@pytest.fixture(scope="session")
def page_jpeg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_page(tmp_path_factory.mktemp("pages") / "don-khai-sinh.jpg", quality=90)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pki_server.TestPki]:
    """The test PKI (certomancer) with its TSA, OCSP responder and CRLs on loopback, per module."""
    test_pki, _thread, server = pki_server.start(tmp_path_factory.mktemp("test-pki"))
    yield test_pki
    server.shutdown()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pki")


@pytest.fixture(scope="session")
def digitized_pdf(tmp_path_factory: pytest.TempPathFactory, page_png: Path) -> Path:
    """One rendered Vietnamese page as PDF/A-2b, made once for the session."""
    from digitize import Source, digitize

    out = tmp_path_factory.mktemp("pdfa") / "don.pdf"
    digitize(
        [Source(page_png, page_png.name)],
        out,
        title="Đơn đăng ký khai sinh",
        identifier="000.00.12.H12-250527-0001",
        tessdata=ROOT / "ocr-models",
        jobs=2,
    )
    return out


MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
PIN, SO_PIN = "123456", "654321"


TOKENS = ("sohoa", "ca-nhan")


@pytest.fixture(scope="session")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[pki_server.TestPki, Path]]:
    folder = tmp_path_factory.mktemp("softhsm")
    (folder / "tokens").mkdir()
    conf = folder / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {folder / 'tokens'}\nobjectstore.backend = file\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)  # read when the library starts: once per process
    test_pki, _thread, server = pki_server.start(tmp_path_factory.mktemp("pki"))
    key = folder / "agency.key.pem"
    key.write_bytes(pem.armor("PRIVATE KEY", test_pki.arch.key_set.get_private_key(KeyLabel("agency")).dump()))
    # Two tokens with the same key and certificate: "sohoa" as the agency's (or a clerk's USB
    # token), "ca-nhan" as a person's own on the server's HSM, logged in apart from the agency's.
    for label in TOKENS:
        init = ["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", SO_PIN]
        subprocess.run(init, check=True, capture_output=True)
        subprocess.run(
            ["softhsm2-util", "--import", str(key), "--token", label, "--label", "agency", "--id", "01", "--pin", PIN],
            check=True,
            capture_output=True,
        )
    key.unlink()  # from now on the key lives only in the tokens
    for label in TOKENS:
        with pkcs11.lib(str(MODULE)).get_token(token_label=label).open(rw=True, user_pin=PIN) as session:
            for cert_label, object_id in (("agency", b"\x01"), ("interm", b"\x02")):  # the certificate and its CA
                cert = test_pki.arch.get_cert(CertLabel(cert_label))
                session.create_object(
                    {
                        Attribute.CLASS: ObjectClass.CERTIFICATE,
                        Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
                        Attribute.TOKEN: True,
                        Attribute.LABEL: cert_label,
                        Attribute.ID: object_id,
                        Attribute.VALUE: cert.dump(),
                        Attribute.SUBJECT: cert.subject.dump(),
                        Attribute.ISSUER: cert.issuer.dump(),
                        Attribute.SERIAL_NUMBER: cert["tbs_certificate"]["serial_number"].dump(),
                    }
                )
    pin_file = folder / "pin"
    pin_file.write_text(PIN)
    yield test_pki, pin_file
    server.shutdown()  # type: ignore[attr-defined]


SOHOA = str(Path(sys.executable).parent / "sohoa")


def free_port() -> int:
    """A loopback port nothing listens on (once the probing socket is closed)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli_token(env: dict[str, str], name: str, role: str) -> str:
    """A token from `sohoa users add`, in the catalog ``env`` names."""
    add = [SOHOA, "users", "add", name, "--role", role, "-q"]
    return subprocess.run(add, env=env, capture_output=True, text=True, check=True).stdout.strip()


def serve(env: dict[str, str], stderr: Any = subprocess.DEVNULL) -> tuple[subprocess.Popen[str], str]:
    """`sohoa serve` on a free port, returned with its base URL once /healthz answers (by then
    the app's start-up, the demo PKI included, is done)."""
    import time
    import urllib.request

    port = free_port()
    cmd = [SOHOA, "serve", "--port", str(port)]
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=stderr, text=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        if server.poll() is not None:
            raise AssertionError(f"sohoa serve exited with {server.returncode}")
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=1)
            return server, base
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise AssertionError("sohoa serve did not answer in 30 s")


PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL schema of its own on the machine's server, so runs never see each other's tables."""
    import uuid

    from sqlalchemy import create_engine, text

    schema = f"sohoa_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    yield f"{PG}?options=-csearch_path%3D{schema}"
    with admin.connect() as c:
        c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The catalog's URL on each engine the service supports: tests using it run on both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def service_on_each_catalog(data_dir: Path, catalog_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The whole service (API, jobs, search) on SQLite, then on PostgreSQL."""
    monkeypatch.setenv("SOHOA_DATABASE_URL", catalog_url)
    _clear_caches()
    yield catalog_url
    context().sessions.kw["bind"].dispose()
    _clear_caches()


__all__ = ["CORPUS", "MODULE", "ROOT", "TEXT"]


import s3_server  # noqa: E402


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[s3_server.S3Server]:
    """One S3 server for the session: the one SOHOA_TEST_S3_ENDPOINT names, else SeaweedFS on loopback."""
    if (server := s3_server.from_environment()) is not None:
        yield server
        return
    server = s3_server.start(tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_url(s3_endpoint: s3_server.S3Server) -> str:
    """``s3://ACCESS:SECRET@host:port/bucket`` of a bucket no other test uses (made by the store on first use)."""
    import uuid

    return s3_endpoint.url(f"sohoa-test-{uuid.uuid4().hex[:16]}")


# Two tiers: `make test` runs everything; `make test-fast` (pytest -m "not slow") leaves out what
# runs OCR or starts a server (sohoa serve, SeaweedFS, PostgreSQL, Redis, certomancer's TSA/OCSP).
# Fixtures that do either: a test using one is slow.
SLOW_FIXTURES = frozenset({"digitized_pdf", "signed_files", "osd_calls", "token", "pki", "s3_endpoint", "pg_url"})
# Parametrized fixtures that reach a server only for some values (through request.getfixturevalue,
# which item.fixturenames does not show).
SLOW_PARAMS = {"catalog_url": "postgresql", "store": "s3"}
# Modules whose tests digitize, run the CLI or start servers (a quick test among them runs in the
# full suite only); other slow tests carry @pytest.mark.slow themselves.
SLOW_MODULES = frozenset(
    {
        "test_api",
        "test_audit",
        "test_cli",
        "test_digitize",
        "test_export",
        "test_gate",
        "test_logs",
        "test_races",
        "test_scaled",
        "test_scaleout",
        "test_separators",
        "test_serve",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if (
            SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ()))
            or any(params.get(name) == value for name, value in SLOW_PARAMS.items())
            or item.path.stem in SLOW_MODULES
        ):
            item.add_marker(pytest.mark.slow)


def pytest_configure(config: pytest.Config) -> None:
    """In the fast tier, a Tesseract engine is an error naming the cure, so a test that OCRs
    without being marked slow is caught rather than slowing the tier down unnoticed."""
    if "not slow" not in (config.getoption("markexpr") or ""):
        return
    from digitize import ocr

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("Tesseract started in the fast tier: mark the test @pytest.mark.slow")

    ocr._engine = refuse  # type: ignore[assignment]
