"""One way from settings to options: what digitize runs with and how the agency signs, for the
service's jobs and every CLI command alike (a per-upload or command-line choice overrides)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from digitize.pipeline import BlankPolicy, SpreadPolicy
from service.settings import Settings
from signing.demo_pki import demo_agency, demo_crl, demo_pki_at, demo_tsa, ensure_demo_pki

if TYPE_CHECKING:
    from pyhanko.sign.timestamps.api import TimeStamper

    from signing.signers import AgencySigner


class DigitizeOptions(TypedDict):
    """The keyword arguments ``digitize`` and ``digitize_batch`` take from the settings."""

    languages: str
    tessdata: Path
    jobs: int
    flavour: str
    max_pixels: int
    render_dpi: int
    spreads: SpreadPolicy
    blanks: BlankPolicy
    deskew_archive: bool
    jpeg_quality: int | None
    idle_cpu: bool


def digitize_options(
    settings: Settings,
    *,
    spreads: SpreadPolicy | None = None,
    blank_pages: BlankPolicy | None = None,
    profile: str | None = None,
    languages: str | None = None,
    jobs: int | None = None,
    flavour: str | None = None,
    idle_cpu: bool = False,
) -> DigitizeOptions:
    """The settings' digitize options with a request's or a command's choices over them.
    ``idle_cpu``: a server's job, whose OCR gives way to requests."""
    return DigitizeOptions(
        languages=languages or settings.ocr_languages,
        tessdata=settings.tessdata_dir,
        jobs=jobs or settings.ocr_jobs,
        flavour=flavour or settings.pdfa_flavour,
        max_pixels=settings.max_image_pixels,
        render_dpi=settings.render_dpi,
        spreads=spreads or settings.spreads,
        blanks=blank_pages or settings.blank_pages,
        deskew_archive=settings.deskew_archive,
        jpeg_quality=settings.jpeg_quality_for(profile),
        idle_cpu=idle_cpu,
    )


def job_digitize_options(settings: Settings, choices: dict[str, Any]) -> DigitizeOptions:
    """Options of a queued job: the choices its upload made (``?spreads=``, ``?blank_pages=``,
    ``?profile=``), kept in the job row, over the settings."""
    return digitize_options(
        settings,
        spreads=choices.get("spreads"),
        blank_pages=choices.get("blank_pages"),
        profile=choices.get("profile"),
        idle_cpu=True,
    )


@dataclass(frozen=True)
class AgencyProfile:
    """How a registered agency signs (service.agencies): hashable, its loaded key is cached by it."""

    code: str
    name: str
    pkcs12: Path | None = None
    pkcs12_password_file: Path | None = None
    pkcs11: tuple[str, str, str, str] | None = None  # module, token, key, PIN file ('' for none)
    seal_image: Path | None = None
    tsa_url: str = ""
    ocsp_url: str = ""

    @property
    def own_key(self) -> bool:
        return self.pkcs12 is not None or self.pkcs11 is not None


@dataclass(frozen=True)
class SigningProfile:
    """How the agency signs: the name on its stamp, the PAdES level, the time-stamping
    authority, and the roots a B-LT signature's chain is validated against."""

    agency_name: str | None  # None: the name in the certificate
    level: str
    tsa_url: str
    trust_roots: tuple[Path, ...]
    demo_pki: Path | None = None  # the demo PKI's folder, when its TSA stamps (no TSA configured)
    ocsp_url: str = ""  # the agency CA's OCSP responder, when the settings name one

    @property
    def note(self) -> str:
        """What a person should know of this profile's signatures (Vietnamese), or nothing."""
        if self.demo_pki is not None:
            return "Dấu thời gian và dữ liệu thu hồi của PKI DEMO: chữ ký B-LT để thử, không có giá trị pháp lý."
        if not self.tsa_url:
            return "Không có máy chủ dấu thời gian: chữ ký không có dấu thời gian tin cậy (B-B)."
        return ""

    def timestamper(self) -> TimeStamper | None:
        """The time-stamping authority: the configured one over HTTP, else the demo PKI's."""
        if self.tsa_url:
            from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper

            return RequestsHTTPTimeStamper(self.tsa_url, timeout=15)
        return demo_timestamper(self.demo_pki) if self.demo_pki is not None else None

    def sign_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``signing.sign.sign_pdf`` this profile sets."""
        crl = demo_crl(demo_pki_at(self.demo_pki)) if self.demo_pki is not None else None
        return {
            "agency_name": self.agency_name,
            "level": self.level,
            "tsa_url": self.tsa_url,
            "timestamper": self.timestamper(),
            "crls": [crl] if crl is not None else [],
            "trust_roots": list(self.trust_roots),
            "ocsp_url": self.ocsp_url,
        }


def demo_timestamper(folder: Path) -> TimeStamper | None:
    """The demo PKI's time-stamping authority, answering in this process (no server needed)."""
    from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

    tsa = demo_tsa(demo_pki_at(folder))
    return DummyTimeStamper(tsa[0], tsa[1]) if tsa is not None else None


def signing_profile(
    settings: Settings,
    *,
    agency_name: str | None = None,
    level: str | None = None,
    tsa_url: str | None = None,
    trust_roots: list[Path] | None = None,
    demo: bool = True,
    agency: AgencyProfile | None = None,
) -> SigningProfile:
    """The settings' signing profile with a command's choices over it. ``level`` ``auto`` is
    B-LT with a time-stamping authority (the configured one, or the demo PKI's while the demo
    PKI signs and no TSA is configured; ``demo`` false: another key signs), B-B without."""
    if agency is not None:  # a registered agency: its name, its TSA and OCSP over the deployment's
        agency_name, tsa_url = agency_name or agency.name, tsa_url or agency.tsa_url or None
        demo = demo and not agency.own_key
    tsa = settings.tsa_url if tsa_url is None else tsa_url
    roots = tuple(trust_roots or default_trust_roots(settings))  # makes the demo PKI if it signs
    demo_pki = None
    if demo and not tsa and uses_demo_pki(settings) and demo_tsa(demo_pki_at(settings.pki_dir)) is not None:
        demo_pki = settings.pki_dir
    chosen = level or settings.signing_level
    return SigningProfile(
        agency_name=agency_name or settings.agency_name or None,
        level=("B-LT" if tsa or demo_pki else "B-B") if chosen == "auto" else chosen,
        tsa_url=tsa,
        trust_roots=roots,
        demo_pki=demo_pki,
        ocsp_url=(agency.ocsp_url if agency else "") or settings.ocsp_url,
    )


def default_trust_roots(settings: Settings, *, make_demo: bool = True) -> list[Path]:
    """``SOHOA_TRUST_ROOTS``, and the demo root while the demo PKI signs: made on first use, or
    (``make_demo`` false, for a command that only reads) taken only if it is there."""
    roots = list(settings.trust_roots)
    if uses_demo_pki(settings):
        demo_root = demo_pki_at(settings.pki_dir).root_cert
        if make_demo:
            demo_root = ensure_demo_pki(settings.pki_dir, settings.demo_agency).root_cert
        if demo_root.is_file():
            roots.append(demo_root)
    return roots


def uses_demo_pki(settings: Settings) -> bool:
    return settings.signing_pkcs12 is None and settings.signing_pkcs11_module is None


@lru_cache(maxsize=256)
def agency_signer(settings: Settings, agency: AgencyProfile | None = None) -> AgencySigner:
    """The agency's key: a registered agency's own (token or PKCS#12 file; with the demo PKI, a
    DEMO certificate of its own), else the deployment's as the settings name it: a PKCS#11 token
    or HSM, else a PKCS#12 file, else the demo PKI."""
    from signing.signers import Pkcs11Config, load_pkcs12
    from signing.signers import agency_signer as load  # pyHanko loads when first needed

    if agency is not None and agency.pkcs11 is not None:
        module, label, key, pin = agency.pkcs11
        config = Pkcs11Config(Path(module), label, key, Path(pin) if pin else None)
        return load(None, None, pki_dir=settings.pki_dir, agency_name=agency.name, pkcs11=config)
    if agency is not None and agency.pkcs12 is not None:
        return load(agency.pkcs12, agency.pkcs12_password_file, pki_dir=settings.pki_dir, agency_name=agency.name)
    if agency is not None and uses_demo_pki(settings):
        p12, password = demo_agency(ensure_demo_pki(settings.pki_dir, settings.demo_agency), agency.code, agency.name)
        return load_pkcs12(p12, password.read_bytes().strip(), demo=True)
    token = None
    if settings.signing_pkcs11_module is not None:
        token = Pkcs11Config(
            settings.signing_pkcs11_module,
            settings.signing_pkcs11_token,
            settings.signing_pkcs11_key,
            settings.signing_pkcs11_pin_file,
        )
    return load(
        settings.signing_pkcs12,
        settings.signing_pkcs12_password_file,
        pki_dir=settings.pki_dir,
        agency_name=settings.demo_agency,
        pkcs11=token,
    )
