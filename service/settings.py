"""Service configuration: every setting is an environment variable with the SOHOA_ prefix."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from digitize.separators import DOSSIER_CODE_PATTERN
from errors import SohoaError

ROOT = Path(__file__).resolve().parent.parent  # the checkout: ocr-models/ sits beside the packages

DEMO_AGENCY = "UBND xã Mẫu (DEMO)"


def default_data_dir() -> Path:
    """Where state lives when SOHOA_DATA_DIR does not say: the ``var/`` folder of the checkout
    sohoa runs from (``make run``'s), whatever the current folder; installed as a package,
    ``$XDG_DATA_HOME/sohoa`` (``~/.local/share/sohoa``)."""
    if (ROOT / "pyproject.toml").is_file():
        return ROOT / "var"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "sohoa"


class Settings(BaseSettings):
    """Defaults give the embedded setup: files under ``var/``, SQLite, in-process worker."""

    model_config = SettingsConfigDict(env_prefix="SOHOA_", extra="ignore", frozen=True)

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Where the embedded defaults keep their state (default: the checkout's `var/` folder).",
    )
    object_store_url: str = Field(
        "",
        description="Object store: `file:///path`, `s3://ACCESS:SECRET@host:port/bucket` (HTTP) or `s3s://…` (TLS); "
        "empty means `file://<data_dir>/objects`.",
    )
    retention_days: int = Field(
        3650, ge=1, description="Days an object stored with retention stays undeletable (S3 COMPLIANCE mode)."
    )
    database_url: str = Field(
        "", description="SQLAlchemy URL of the catalog; empty means `sqlite:///<data_dir>/sohoa.db`."
    )
    queue_url: str = Field("", description="Job queue; empty means `sqlite:///<data_dir>/queue.db` (Huey SQLite).")
    api_processes: int = Field(
        max(1, os.cpu_count() or 1),
        ge=1,
        description="HTTP server processes (`sohoa serve`); one of them runs the embedded worker.",
    )
    embedded_worker: bool = Field(True, description="Run the job worker inside the server process.")
    worker_threads: int = Field(1, ge=1, description="Jobs processed at once by one worker.")
    job_lease_seconds: float = Field(
        60, gt=0, description="A running job's lease, renewed while its worker lives; a dead worker's job is rerun."
    )
    ocr_jobs: int = Field(
        max(1, os.cpu_count() or 1), ge=1, description="Pages OCR'd in parallel (one Tesseract each)."
    )
    ocr_languages: str = Field("vie", description="Tesseract languages, e.g. `vie` or `vie+eng`.")
    tessdata_dir: Path = Field(ROOT / "ocr-models", description="Folder of the `.traineddata` models Tesseract loads.")
    render_dpi: int = Field(
        300, ge=72, le=1200, description="DPI for rasterising PDF pages that are not a single image."
    )
    max_image_pixels: int = Field(250_000_000, description="Largest page image accepted (decompression-bomb guard).")
    max_upload_bytes: int = Field(
        512 * 1024 * 1024, description="Largest upload accepted (each file, and a request's whole body)."
    )
    upload_session_hours: float = Field(
        24,
        gt=0,
        description="An upload session (a file sent in pieces, `/api/v1/uploads`) untouched for this long is "
        "abandoned: its row and bytes are swept.",
    )
    large_job_pages: int = Field(
        100,
        ge=1,
        description="A scan of more pages is a large job: it runs in a lane of its own and gives way to small "
        "ones, so a dossier of a few pages never waits behind a thousand-page file.",
    )
    max_pages_per_dossier: int = Field(
        5000, ge=1, description="Most pages a dossier may hold; a scan going past it fails as its pages stream in."
    )
    pdfa_flavour: str = Field("2b", pattern="^(1b|2b|3b)$", description="PDF/A flavour written.")
    spreads: Literal["auto", "never", "always"] = Field(
        "auto", description="Split two-page spreads: where a gutter is found, never, or always in the middle."
    )
    deskew_archive: bool = Field(
        False, description="Straighten skewed pages in the archived image too, not only for OCR."
    )
    image_profile: Literal["archive", "compact"] = Field(
        "archive",
        description="Page images: `archive` keeps each scan as made (no generation loss); `compact` stores "
        "colour and grey pages as JPEG at the set quality (bilevel pages stay CCITT G4).",
    )
    jpeg_quality: int = Field(75, ge=30, le=95, description="JPEG quality of the `compact` profile.")
    signed_pdfs: Literal["keep", "digitize"] = Field(
        "keep",
        description="A PDF that already carries digital signatures: kept as the electronic original (its "
        "signatures verified, its text indexed), or digitized as images (its signatures not carried over).",
    )
    blank_pages: Literal["flag", "drop"] = Field(
        "flag", description="Blank pages: flag them, or drop them from the PDF/A."
    )
    scanner_creates_dossiers: bool = Field(
        False,
        description="A scanner station's scan (or batch) may create the dossier it names; off: the dossier must "
        "have been received (created by a clerk or the one-stop software), so a mistyped code is refused.",
    )
    dossier_code_pattern: str = Field(
        DOSSIER_CODE_PATTERN, description="Regular expression a dossier code must match in full."
    )
    agency_name: str = Field(
        "",
        description="Name shown on the agency's stamp; empty: the name in its certificate (the demo PKI's is "
        f"{DEMO_AGENCY!r}).",
    )

    @property
    def demo_agency(self) -> str:
        """The name the demo PKI's agency certificate is made with."""
        return self.agency_name or DEMO_AGENCY

    signing_pkcs12: Path | None = Field(
        None, description="Agency certificate (PKCS#12); empty means the demo PKI in `<data_dir>/pki`."
    )
    signing_pkcs12_password_file: Path | None = Field(None, description="File holding the PKCS#12 password.")
    signing_pkcs11_module: Path | None = Field(
        None, description="PKCS#11 library of the token or HSM holding the agency key (takes precedence over PKCS#12)."
    )
    signing_pkcs11_token: str = Field("", description="Label of that token.")
    signing_pkcs11_key: str = Field("", description="Label of the key and its certificate on the token.")
    signing_pkcs11_pin_file: Path | None = Field(None, description="File holding the token's user PIN.")
    signing_level: Literal["auto", "B-B", "B-T", "B-LT", "B-LTA"] = Field(
        "auto", description="PAdES level of the agency's signatures; `auto` is B-LT with a TSA, B-B without."
    )
    tsa_url: str = Field("", description="RFC 3161 time-stamping authority (needed from B-T up).")
    ocsp_url: str = Field(
        "", description="OCSP responder of the agency's CA, asked first at B-LT (else the certificates' own URLs)."
    )
    auto_agency_signature: bool = Field(
        False,
        description="Sign every digitized copy as the agency as soon as it is made, before an officer has "
        "vouched for it (decree 107/2021 wants the officer first: off by default).",
    )
    seal_roles: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("leader", "seal_keeper"),
        description="Comma-separated roles that may apply the agency's seal (an administrator always may).",
    )
    seal_image: Path | None = Field(
        None,
        description="PNG of the agency's seal (transparent background) shown on results it seals; "
        "empty: a seal marked DEMO while the demo PKI signs.",
    )
    trust_roots: Annotated[tuple[Path, ...], NoDecode] = Field(
        default=(),
        description="Comma-separated PEM files of trusted root CAs (the demo root is added when the demo PKI is used).",
    )
    timezone: str = Field(
        "Asia/Ho_Chi_Minh", description="The office's time zone: every time shown to people is in it (+07:00)."
    )
    audit_anchor_seconds: float = Field(
        60, gt=0, description="How often a worker writes the audit log's head as a write-once object (its anchor)."
    )
    renewal_hour: int = Field(
        2,
        ge=-1,
        le=23,
        description="Hour of the day (SOHOA_TIMEZONE) when a worker renews the time stamps of signed files "
        "(B-LTA); -1: never.",
    )
    renewal_window_days: int = Field(
        365,
        ge=1,
        description="Renew a signed file when its last time stamp's certificate expires within this many days.",
    )
    login_attempts: int = Field(
        5, ge=1, description="Wrong passwords in a row that lock a web account for SOHOA_LOGIN_LOCKOUT_SECONDS."
    )
    login_lockout_seconds: float = Field(900, gt=0, description="How long a web account stays locked.")
    session_hours: float = Field(12, gt=0, description="How long a web session lasts after logging in.")
    webhook_retry_seconds: Annotated[tuple[float, ...], NoDecode] = Field(
        default=(10, 30, 60, 120, 300, 600, 1200, 1800, 3600),
        description="Comma-separated waits before each new attempt at a webhook delivery the subscriber "
        "did not take (exponential back-off); the last one repeats.",
    )
    webhook_give_up_hours: float = Field(
        72, gt=0, description="A webhook delivery still refused this long after its event is marked failed."
    )
    host: str = Field("127.0.0.1", description="Address `sohoa serve` binds to.")
    port: int = Field(8000, description="Port `sohoa serve` listens on.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Asia/Ho_Chi_Minh)") from e
        return value

    @field_validator("seal_roles", mode="before")
    @classmethod
    def _split_roles(cls, value: object) -> object:
        from service.access import ROLES

        roles = tuple(r.strip() for r in value.split(",") if r.strip()) if isinstance(value, str) else value
        unknown = [r for r in roles if r not in ROLES] if isinstance(roles, tuple) else []
        if unknown:
            raise ValueError(f"unknown role {', '.join(unknown)} (roles: {', '.join(ROLES)})")
        return roles

    @field_validator("webhook_retry_seconds", mode="before")
    @classmethod
    def _split_seconds(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(float(p) for p in value.split(",") if p.strip())
        return value

    @field_validator("webhook_retry_seconds")
    @classmethod
    def _some_seconds(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(v < 0 for v in value):
            raise ValueError("one or more waits in seconds, none negative (e.g. 10,30,60)")
        return value

    @field_validator("trust_roots", mode="before")
    @classmethod
    def _split_paths(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(Path(p.strip()) for p in value.split(",") if p.strip())
        return value

    @property
    def objects_url(self) -> str:
        return self.object_store_url or f"file://{(self.data_dir / 'objects').resolve()}"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'sohoa.db').resolve()}"

    @property
    def queue(self) -> str:
        return self.queue_url or f"sqlite:///{(self.data_dir / 'queue.db').resolve()}"

    def jpeg_quality_for(self, profile: str | None) -> int | None:
        """The JPEG quality page images are stored at under ``profile`` (the configured one if
        None): None keeps each scan as made."""
        return self.jpeg_quality if (profile or self.image_profile) == "compact" else None

    @property
    def pki_dir(self) -> Path:
        return self.data_dir / "pki"


def shown(settings: Settings) -> list[tuple[str, str]]:
    """Every setting as an administrator may read it: SOHOA_ name and value, with the passwords in
    URLs (object store, database, queue) replaced by ***."""
    hidden = re.compile(r"(?<=://)([^/@:]*):[^/@]*@")
    return [
        (f"SOHOA_{name.upper()}", hidden.sub(r"\1:***@", str(getattr(settings, name))))
        for name in type(settings).model_fields
    ]


class SettingsInvalid(SohoaError):
    status = 500
    code = "settings-invalid"


@lru_cache
def get_settings() -> Settings:
    """The settings from the environment; a value that cannot be used is an error naming its
    SOHOA_ variable (not a validation traceback)."""
    try:
        return Settings()
    except ValidationError as e:
        wrong = [(f"SOHOA_{str(err['loc'][0]).upper()}", err["msg"]) for err in e.errors()]
        names = ", ".join(name for name, _ in wrong)
        said = "; ".join(f"{name}: {msg}" for name, msg in wrong)
        raise SettingsInvalid(f"Cấu hình không dùng được ({said}).", f"Unusable settings ({said}).", field=names) from e
