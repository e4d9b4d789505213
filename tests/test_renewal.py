"""B-LTA renewal: a signed file whose last time stamp comes from a TSA certificate that ends soon
gets a new document time stamp (from a TSA that lasts) as a new version, the old one kept; a dry
run lists without writing; a second run renews nothing; the worker schedules it daily."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import subprocess
from pathlib import Path

import pytest

from conftest import SOHOA, _clear_caches
from digitize.validate import check_pdfa
from pki_server import SHORT_TSA_DAYS
from service import audit as audit_log
from service import dossiers, renewal
from service.context import context
from service.queue import queue, renewal_schedule
from service.run import run_job
from service.scans import accept_scan
from service.settings import Settings
from storage.catalog import iso

CODE = "000.00.12.H12-250527-0001"
PASSWORD = b"mat-khau"


def _signed_file(tmp_path: Path, name: str) -> Path:
    ctx = context()
    key = dossiers.document_version(ctx, CODE, 1, "signed", actor=None).key
    path = tmp_path / name
    ctx.store.get_file(key, path)
    return path


def _revocation_data(path: Path) -> int:
    import pikepdf

    with pikepdf.open(path) as pdf:
        return len(pdf.Root.DSS.get("/OCSPs", [])) + len(pdf.Root.DSS.get("/CRLs", []))


def test_a_time_stamp_near_its_end_is_renewed_once_as_a_new_version(  # type: ignore[no-untyped-def]
    pki, data_dir: Path, page_png: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from signing import verify_pdf
    from signing.renew import last_timestamp_expiry

    password = tmp_path / "p12.password"
    password.write_bytes(PASSWORD)
    monkeypatch.setenv("SOHOA_SIGNING_PKCS12", str(pki.pkcs12("agency", PASSWORD)))
    monkeypatch.setenv("SOHOA_SIGNING_PKCS12_PASSWORD_FILE", str(password))
    monkeypatch.setenv("SOHOA_TSA_URL", pki.short_tsa_url)  # signed with the TSA whose certificate ends soon
    monkeypatch.setenv("SOHOA_TRUST_ROOTS", str(pki.root_pem))
    monkeypatch.setenv("SOHOA_AUTO_AGENCY_SIGNATURE", "true")
    _clear_caches()
    ctx = context()
    job, _ = accept_scan(ctx, CODE, page_png, page_png.name)
    run_job(ctx, job.id)
    first = _signed_file(tmp_path, "first.pdf")
    old_key = dossiers.document_version(ctx, CODE, 1, "signed", actor=None).key
    expires = last_timestamp_expiry(first)
    assert expires is not None and expires - dt.datetime.now(dt.UTC) < dt.timedelta(days=SHORT_TSA_DAYS + 1)

    assert renewal.renew(ctx, window_days=SHORT_TSA_DAYS - 5).documents == []  # not yet within that window
    planned = renewal.renew(ctx, dry_run=True)
    assert [(d.dossier, d.document_id, d.key, d.renewed) for d in planned.documents] == [(CODE, 1, old_key, None)]
    cli = subprocess.run([SOHOA, "renew", "--dry-run"], env=os.environ.copy(), capture_output=True, text=True)
    assert cli.returncode == 0 and f"{CODE} tài liệu 1" in cli.stdout and "dry run" in cli.stdout
    # The TSA configured is still the short one: its new stamp would be due again, so nothing is kept.
    refused = renewal.renew(ctx)
    assert "expires within the window too" in (refused.documents[0].error_en or "")
    assert dossiers.document_version(ctx, CODE, 1, "signed", actor=None).key == old_key

    monkeypatch.setenv("SOHOA_TSA_URL", pki.tsa_url)  # a TSA whose certificate lasts to 2050
    _clear_caches()
    ctx = context()
    [item] = renewal.renew(ctx).documents
    assert item.renewed and item.renewed != old_key and item.error_en is None
    assert dossiers.document_version(ctx, CODE, 1, "signed", actor=None).key == item.renewed
    assert ctx.store.exists(old_key)  # the previous version stays (write-once)
    renewed = _signed_file(tmp_path, "renewed.pdf")
    assert renewed.read_bytes().startswith(first.read_bytes())  # an incremental update: nothing before it changed
    assert _revocation_data(renewed) > _revocation_data(first)  # refreshed before the new time stamp
    report = verify_pdf(renewed, [pki.root_pem])
    assert report.ok and len(report.timestamps) == 1 and report.timestamps[0].ok, report.to_dict()
    assert all(s.intact and s.valid for s in report.signatures)
    status = check_pdfa(renewed)  # still PDF/A, its XMP (with sohoa's fields) as pyHanko wrote it again
    assert status.passed, status.findings
    new_expiry = last_timestamp_expiry(renewed)
    assert new_expiry is not None and new_expiry.year == 2050

    assert renewal.renew(ctx).documents == []  # idempotent: nothing is due any more
    events = [e for e in audit_log.audit_events(ctx, limit=500).events if e.action == "signature.timestamp_renewed"]
    assert [(e.actor, (e.detail or {})["previous"], (e.detail or {})["key"]) for e in events] == [
        ("renewal", old_key, item.renewed)
    ]


def test_the_daily_job_selects_from_the_catalog_and_opens_no_file_outside_the_window(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each signed version's last time stamp expiry is kept in the catalog when it is signed (here
    a signed PDF kept as the electronic original, signed with the demo PKI's time stamp): the
    job finds what is due with one query and reads no file to do so. A version signed before the
    expiry was kept is read once, on the first run, and its expiry kept."""
    import pikepdf
    from sqlalchemy import update

    from signing import sign_pdf
    from signing.renew import last_timestamp_expiry
    from storage import Document

    ctx = context()
    blank, signed = tmp_path / "blank.pdf", tmp_path / "ket-qua.pdf"
    with pikepdf.new() as pdf:
        pdf.add_blank_page()
        pdf.save(blank)
    sign_pdf(blank, signed, ctx.signer(), **ctx.signing().sign_kwargs())
    job, _ = accept_scan(ctx, CODE, signed, signed.name)
    run_job(ctx, job.id)
    expires = last_timestamp_expiry(signed)
    assert expires is not None
    days = (expires - dt.datetime.now(dt.UTC)).days
    reads: list[str] = []
    get_file = ctx.store.get_file
    monkeypatch.setattr(ctx.store, "get_file", lambda key, dest: (reads.append(key), get_file(key, dest))[-1])

    assert renewal.renew(ctx, dry_run=True, window_days=days - 1).documents == [] and reads == []
    [item] = renewal.renew(ctx, dry_run=True, window_days=days + 1).documents
    assert (item.dossier, item.document_id, item.expires) == (CODE, 1, iso(expires)) and reads == []

    with ctx.sessions.begin() as session:  # as a row signed before this revision
        session.execute(update(Document).values(stamp_expires=None, stamp_sha256=None))
    assert renewal.renew(ctx, dry_run=True, window_days=days - 1).documents == [] and len(reads) == 1
    assert renewal.renew(ctx, dry_run=True, window_days=days - 1).documents == [] and len(reads) == 1
    assert [d.expires for d in renewal.renew(ctx, dry_run=True, window_days=days + 1).documents] == [iso(expires)]
    assert len(reads) == 1


def test_a_pdfa_1b_file_stays_pdfa_1b_when_renewed(data_dir: Path, tmp_path: Path) -> None:
    """pyHanko's own writer made a renewed PDF/A-1 file PDF 1.7, its Info and XMP out of step, the
    new time stamp's widget without appearance (pikepdf 6.7.3-7, Preflight 5.3.1): a PDF/A-1
    file is renewed by the writer that keeps it PDF/A-1, its XMP (sohoa's fields) untouched, once
    from its signature's time stamp, then from its first document time stamp."""
    import pikepdf
    from test_xmp import _made

    from preflight import preflight
    from signing import sign_pdf, verify_pdf
    from signing.renew import renew_timestamp

    ctx = context()
    profile = ctx.signing()  # the demo PKI: B-LT, its time stamp from the TSA in process
    paths = [tmp_path / f"{n}.pdf" for n in ("signed", "renewed", "again")]
    sign_pdf(_made(tmp_path, "1b"), paths[0], ctx.signer(), **profile.sign_kwargs())
    for src, dst in itertools.pairwise(paths):
        renew_timestamp(src, dst, profile.timestamper(), profile.trust_roots, profile.sign_kwargs()["crls"])
        assert dst.read_bytes().startswith(src.read_bytes())  # an incremental update
    status = check_pdfa(paths[-1])
    assert status.passed and status.flavour == "1b", status.findings
    report = verify_pdf(paths[-1], ctx.trust_roots())
    assert report.ok and [t.ok for t in report.timestamps] == [True, True], report.to_dict()
    with pikepdf.open(paths[0]) as signed, pikepdf.open(paths[-1]) as renewed:
        assert renewed.Root.Metadata.read_bytes() == signed.Root.Metadata.read_bytes()
        assert renewed.pdf_version == "1.4"
    preflight_report = preflight(paths[-1])
    assert preflight_report.passed, [str(e) for e in preflight_report.errors]


def test_the_worker_renews_daily_at_the_hour_set() -> None:
    schedule = renewal_schedule(Settings(renewal_hour=2, timezone="Asia/Ho_Chi_Minh"))
    assert schedule is not None
    assert schedule(dt.datetime(2026, 12, 7, 19, 0))  # 02:00 at +07:00 is 19:00 UTC
    assert not schedule(dt.datetime(2026, 12, 7, 2, 0)) and not schedule(dt.datetime(2026, 12, 7, 19, 1))
    assert renewal_schedule(Settings(renewal_hour=-1)) is None


def test_the_queue_has_the_periodic_renewal_task(data_dir: Path) -> None:
    lanes = queue()
    assert lanes.renew is not None and lanes.renew.name == "renew"
    assert lanes.huey._registry._periodic_tasks  # the small lane's scheduler queues it
