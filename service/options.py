"""One way from settings to options: what digitize runs with and how the agency signs, for the
service's jobs and every CLI command alike (a per-upload or command-line choice overrides)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from digitize.pipeline import BlankPolicy, SpreadPolicy
from service.settings import Settings
from signing.demo_pki import DEMO_ROOT, ensure_demo_pki

if TYPE_CHECKING:
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
class SigningProfile:
    """How the agency signs: the name on its stamp, the PAdES level, the time-stamping
    authority, and the roots a B-LT signature's chain is validated against."""

    agency_name: str | None  # None: the name in the certificate
    level: str
    tsa_url: str
    trust_roots: tuple[Path, ...]

    def sign_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``signing.sign.sign_pdf`` this profile sets."""
        return {
            "agency_name": self.agency_name,
            "level": self.level,
            "tsa_url": self.tsa_url,
            "trust_roots": list(self.trust_roots),
        }


def signing_profile(
    settings: Settings,
    *,
    agency_name: str | None = None,
    level: str | None = None,
    tsa_url: str | None = None,
    trust_roots: list[Path] | None = None,
) -> SigningProfile:
    """The settings' signing profile with a command's choices over it; ``level`` ``auto`` is
    B-LT with a time-stamping authority, B-B without."""
    tsa = settings.tsa_url if tsa_url is None else tsa_url
    chosen = level or settings.signing_level
    return SigningProfile(
        agency_name=agency_name or settings.agency_name or None,
        level=("B-LT" if tsa else "B-B") if chosen == "auto" else chosen,
        tsa_url=tsa,
        trust_roots=tuple(trust_roots or default_trust_roots(settings)),
    )


def default_trust_roots(settings: Settings, *, make_demo: bool = True) -> list[Path]:
    """``SOHOA_TRUST_ROOTS``, and the demo root while the demo PKI signs: made on first use, or
    (``make_demo`` false, for a command that only reads) taken only if it is there."""
    roots = list(settings.trust_roots)
    if uses_demo_pki(settings):
        demo_root = settings.pki_dir / DEMO_ROOT
        if make_demo:
            demo_root = ensure_demo_pki(settings.pki_dir, settings.demo_agency).root_cert
        if demo_root.is_file():
            roots.append(demo_root)
    return roots


def uses_demo_pki(settings: Settings) -> bool:
    return settings.signing_pkcs12 is None and settings.signing_pkcs11_module is None


@lru_cache(maxsize=4)
def agency_signer(settings: Settings) -> AgencySigner:
    """The agency's key as the settings name it: a PKCS#11 token or HSM, else a PKCS#12 file,
    else the demo PKI."""
    from signing.signers import Pkcs11Config
    from signing.signers import agency_signer as load  # pyHanko loads when first needed

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
