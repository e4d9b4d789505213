"""Settings: environment variables with the SOHOA_ prefix, every one documented in the README."""

from pathlib import Path

import pytest

from conftest import ROOT
from service.settings import Settings


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in Settings.model_fields:
        assert f"`SOHOA_{name.upper()}`" in readme, name


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SOHOA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SOHOA_TRUST_ROOTS", "/a.pem, /b.pem")
    monkeypatch.setenv("SOHOA_QUEUE_URL", "redis://127.0.0.1:6379/0")
    s = Settings()
    assert s.db_url == f"sqlite:///{tmp_path.resolve()}/sohoa.db"
    assert s.objects_url == f"file://{tmp_path.resolve()}/objects"
    assert s.queue == "redis://127.0.0.1:6379/0"
    assert s.trust_roots == (Path("/a.pem"), Path("/b.pem"))


def test_invalid_flavour_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOHOA_PDFA_FLAVOUR", "4z")
    with pytest.raises(ValueError, match="pdfa_flavour"):
        Settings()


def test_times_shown_to_people_are_in_the_office_time_zone(tmp_path: Path) -> None:
    import datetime as dt

    from pydantic import ValidationError

    from service.context import context
    from storage import catalog

    moment = dt.datetime(2026, 12, 6, 18, 30, tzinfo=dt.UTC)
    assert catalog.iso(moment) == "2026-12-07T01:30:00+07:00"
    assert catalog.iso(dt.date(2025, 5, 27)) == "2025-05-27"  # a date stays a date
    with pytest.raises(ValidationError, match="unknown time zone"):
        Settings(timezone="Asia/Ha_Noi")
    try:
        context(Settings(data_dir=tmp_path, timezone="Europe/Paris"))  # the context sets the zone
        assert catalog.iso(moment) == "2026-12-06T19:30:00+01:00"
    finally:
        context(Settings(data_dir=tmp_path, timezone="Asia/Ho_Chi_Minh"))


def test_seal_roles_must_be_roles(monkeypatch: pytest.MonkeyPatch) -> None:
    from service.settings import SettingsInvalid, get_settings

    monkeypatch.setenv("SOHOA_SEAL_ROLES", "leader, van_thu")
    get_settings.cache_clear()
    with pytest.raises(SettingsInvalid) as e:
        get_settings()
    assert e.value.field == "SOHOA_SEAL_ROLES" and "van_thu" in e.value.vi
    monkeypatch.setenv("SOHOA_SEAL_ROLES", "leader, seal_keeper")
    get_settings.cache_clear()
    assert get_settings().seal_roles == ("leader", "seal_keeper")
    get_settings.cache_clear()
