"""The desk: reception (a new dossier, its scans, the receipt slip, separator sheets) and the
dossier page clerks and leaders work from (documents with their pages, lifecycle, signatures)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from errors import SohoaError
from service import access, dossiers, scans, signatures, slips
from service.audit import audit_events
from service.context import context
from service.views import DossierView, JobView
from storage import lifecycle
from web.render import failed, redirect, render
from web.session import Need, WebUser

router = APIRouter(include_in_schema=False)
Reader = Annotated[WebUser, Depends(Need(access.READ))]
Desk = Annotated[WebUser, Depends(Need(access.UPLOAD))]
Clerk = Annotated[WebUser, Depends(Need(("clerk",)))]
Signer = Annotated[WebUser, Depends(Need(access.SIGN))]
CodeForm = Annotated[str, Form(max_length=64)]


def _pdf(body: bytes, name: str) -> Response:
    return Response(body, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'})


@router.get("/reception")
def reception(request: Request, user: Desk) -> Response:
    recent = dossiers.list_dossiers(context(), limit=10, scope=user.principal.agencies)
    pattern = context().settings.dossier_code_pattern
    return render(request, "reception.html", user, recent=recent.dossiers, pattern=pattern)


@router.get("/reception/open")
def open_dossier(user: Desk, code: Annotated[str, Query(max_length=64)]) -> Response:
    """The code typed or scanned at reception: its dossier's page (the code checked there)."""
    return RedirectResponse(f"/dossiers/{quote(code.strip(), safe='')}", status_code=303)


@router.post("/reception")
def create_dossier(
    request: Request,
    user: Clerk,
    code: CodeForm,
    title: Annotated[str, Form(max_length=500)] = "",
    procedure: Annotated[str, Form(max_length=200)] = "",
    applicant: Annotated[str, Form(max_length=200)] = "",
    due_on: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    code = code.strip()
    meta: dict[str, object] = {"title": title, "procedure": procedure, "applicant": applicant}
    try:
        if due_on:
            meta["due_on"] = _day(due_on, "due_on")
        user.principal.require_dossier(code)  # another agency's code: as the API answers it
        dossiers.create_dossier(context(), code, meta, actor=user.principal.actor)
    except SohoaError as e:
        return failed(request, "/reception", e)
    return redirect(request, f"/dossiers/{code}", "reception_created", code=code)


def _day(value: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as e:
        raise SohoaError(
            f"Ngày «{value}» không hợp lệ (YYYY-MM-DD).", f"Invalid date “{value}” (YYYY-MM-DD).", field=field
        ) from e


@router.get("/separators.pdf")
def separator_sheets(user: Desk, code: Annotated[list[str], Query(max_length=64)]) -> Response:
    return _pdf(slips.separators(context(), [c.strip() for c in code if c.strip()][:50]), "to-phan-cach.pdf")


@router.get("/dossiers/{code}/receipt.pdf")
def receipt(user: Clerk, code: str) -> Response:
    ctx, who = context(), user.principal
    return _pdf(slips.receipt(ctx, code, actor=who.actor, receiver=who.name), f"giay-tiep-nhan-{code}.pdf")


def _jobs(view: DossierView) -> dict[int, JobView]:
    """Each document's latest job, for its pages' details (turn, split, blank) and progress."""
    found = {}
    for document in view.documents:
        if document.job_id:
            found[document.id] = scans.get_job(context(), document.job_id)
    return found


def _statuses_for(user: WebUser, view: DossierView) -> list[str]:
    return [s for s in view.next if user.may(lifecycle.roles_for(s))]


@router.get("/dossiers/{code}")
def dossier(request: Request, user: Reader, code: str) -> Response:
    ctx = context()
    view = dossiers.read_dossier(ctx, code, actor=user.principal.actor)
    trail = audit_events(ctx, dossier=code, limit=200) if user.may(("archivist",)) else None
    values: dict[str, Any] = {"d": view, "jobs": _jobs(view), "moves": _statuses_for(user, view), "trail": trail}
    return render(request, "dossier.html", user, **values)


@router.get("/dossiers/{code}/documents")
def documents(request: Request, user: Reader, code: str) -> Response:
    """The documents part of the dossier page alone, which its script reloads as jobs finish."""
    view = dossiers.dossier_view(context(), code)
    return render(request, "documents.html", user, d=view, jobs=_jobs(view))


@router.post("/dossiers/{code}/documents/{number}/remove")
def remove(
    request: Request, user: Clerk, code: str, number: int, reason: Annotated[str, Form(max_length=500)] = ""
) -> Response:
    try:
        dossiers.remove_document(context(), code, number, actor=user.principal.actor, reason=reason)
    except SohoaError as e:
        return failed(request, f"/dossiers/{code}", e)
    return redirect(request, f"/dossiers/{code}", "removed", n=number)


@router.post("/dossiers/{code}/transitions")
def transition(
    request: Request,
    user: Reader,
    code: str,
    to: Annotated[str, Form(max_length=32)],
    reason: Annotated[str, Form(max_length=1000)] = "",
    due_on: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    try:
        user.principal.require(lifecycle.roles_for(to))
        due = _day(due_on, "due_on") if due_on else None
        dossiers.transition(context(), code, to, actor=user.principal.actor, reason=reason, due_on=due)
    except SohoaError as e:
        return failed(request, f"/dossiers/{code}", e)
    return redirect(request, f"/dossiers/{code}", "moved", status=to)


@router.post("/dossiers/{code}/documents/{number}/signatures")
def sign(
    request: Request,
    user: Signer,
    code: str,
    number: int,
    kind: Annotated[str, Form(pattern="^(agency|personal)$")],
    pin: Annotated[str, Form(max_length=256)] = "",
    page_count: Annotated[str, Form(max_length=6)] = "",
    pages_readable: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """Vouch for or sign with the key the server holds for the person (their PIN), or seal."""
    ctx, who, back = context(), user.principal, f"/dossiers/{code}"
    try:
        if kind == "agency":
            made = signatures.seal(ctx, code, number, by=who)
        else:
            pages = int(page_count) if re.fullmatch(r"\d{1,6}", page_count) else None
            readable = pages_readable == "on"
            made = signatures.sign_personal(ctx, code, number, by=who, pin=pin, page_count=pages, readable=readable)
    except SohoaError as e:
        return failed(request, back, e)
    return redirect(request, f"{back}/documents/{number}/verification", "signed_ok", signer=made.signer, time=made.time)


@router.get("/dossiers/{code}/documents/{number}/verification")
async def verification(request: Request, user: Reader, code: str, number: int) -> Response:
    """The signature panel: every signature of the stored version with its verdict."""
    check = signatures.verify_document
    report = await run_in_threadpool(check, context(), code, number, actor=user.principal.actor)
    return render(request, "verification.html", user, code=code, number=number, report=report)
