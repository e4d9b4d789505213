"""Administration: people and scanner stations with their roles, agencies and tokens, the
agencies, the service's health, its queue and failed jobs, and the settings, read-only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from errors import SohoaError
from service import access, agencies, jobs, keys, people
from service.context import context
from service.metrics import readiness
from service.options import uses_demo_pki
from service.settings import shown
from web.render import failed, redirect, render
from web.session import Need, WebUser

router = APIRouter(include_in_schema=False)
Admin = Annotated[WebUser, Depends(Need(()))]


@router.get("/admin")
def admin(request: Request, user: Admin) -> Response:
    ctx = context()
    user.principal.require_everywhere()
    values: dict[str, Any] = {
        "users": access.tokens(ctx.sessions),
        "memberships": agencies.memberships(ctx),
        "agencies": agencies.list_agencies(ctx),
        "roles": tuple(access.ROLES),
        "health": readiness(),
        "recent": jobs.list_jobs(ctx, limit=10).jobs,
        "failures": jobs.list_jobs(ctx, status="failed", limit=10).jobs,
        "settings": shown(ctx.settings),
        "demo_pki": uses_demo_pki(ctx.settings),
    }
    return render(request, "admin.html", user, **values)


@router.post("/admin/users")
def add_user(
    request: Request,
    user: Admin,
    name: Annotated[str, Form(max_length=100)],
    role: Annotated[str, Form(max_length=16)],
    password: Annotated[str, Form(max_length=1000)] = "",
    agency: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    ctx, actor = context(), user.principal.actor
    chosen = agency.replace(",", " ").split()  # codes, by commas or spaces; none: every agency
    try:
        user.principal.require_everywhere()
        for code in chosen:  # an unknown agency is refused before the user is made
            agencies.get(ctx, code)
        if password:
            row, token = people.add_person(ctx, name, role, password, actor=actor)
        else:
            row, token = access.issue(ctx.sessions, name, role, actor=actor)
        if chosen:
            agencies.assign(ctx, row.id, chosen, actor=actor)
    except SohoaError as e:
        return failed(request, "/admin", e)
    return redirect(request, "/admin", "admin_token_once", name=row.name, token=token)


@router.post("/admin/users/{token_id}/revoke")
def revoke_user(request: Request, user: Admin, token_id: int) -> Response:
    try:
        user.principal.require_everywhere()
        access.revoke(context().sessions, token_id, actor=user.principal.actor)
    except SohoaError as e:
        return failed(request, "/admin", e)
    return redirect(request, "/admin")


@router.post("/admin/users/{token_id}/demo-key")
def demo_key(request: Request, user: Admin, token_id: int) -> Response:
    """A DEMO personal key for a clerk or leader (demo PKI only), so that a fresh install vouches
    and signs from the pages; its PIN is shown once. A real one is bound with `sohoa users key`."""
    try:
        user.principal.require_everywhere()  # people are managed by an administrator of no agency
        name, pin = keys.make_demo_key(context(), token_id, actor=user.principal.actor)
    except SohoaError as e:
        return failed(request, "/admin", e)
    return redirect(request, "/admin", "admin_demo_key_once", name=name, pin=pin)
