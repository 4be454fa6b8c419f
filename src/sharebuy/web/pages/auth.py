"""Signing up, signing in and out: the pages over `identity.service` (cookie sessions)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from sharebuy.identity import service as identity
from sharebuy.kernel.errors import SharebuyError
from sharebuy.market import service as market
from sharebuy.web.deps import SESSION_COOKIE
from sharebuy.web.pages.common import (
    ANON_CSRF_COOKIE,
    FormDep,
    Page,
    PageDep,
    PageRoute,
    field_errors,
    home_of,
    safe_next,
)
from sharebuy.web.ratelimit import limit_sign_in

router = APIRouter(route_class=PageRoute, include_in_schema=False)

SIGN_IN_FIELDS = {
    "invalid_credentials": "password",
    "totp_required": "totp_code",
    "totp_invalid": "totp_code",
    "totp_replayed": "totp_code",
    "account_disabled": "_form",
    "account_locked": "_form",
    "too_many_attempts": "_form",
}
SIGN_UP_FIELDS = {
    "invalid_phone": "phone",
    "phone_taken": "phone",
    "name_too_long": "name",
    "invalid_real_name": "name",
    "password_too_short": "password",
    "password_too_long": "password",
    "password_too_simple": "password",
    "password_is_login": "password",
    "too_many_attempts": "_form",
}


def _start_session(
    page: Page, login: str, password: str, totp: str | None, target: str, flash: str | None = None
) -> Response:
    session = identity.open_session(page.engine, login=login, password=password, totp_code=totp or None)
    principal, _csrf = identity.authenticate_session(page.engine, session.token)
    settings = page.request.app.state.settings
    response = page.redirect(safe_next(target, home_of(principal)), flash)
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        max_age=settings.session_hours * 3600,
        httponly=True,
        secure=settings.cookie_secure or settings.environment == "production",
        samesite="lax",
        path="/",
    )
    response.delete_cookie(ANON_CSRF_COOKIE, path="/")
    return response


@router.get("/")
def index(page: PageDep) -> Response:
    if page.principal is not None:
        return page.redirect(page.home())
    return page.render("auth/index.html", title=page._("Welcome"), notice=market.risk_notice())


@router.get("/login")
def sign_in_form(page: PageDep, next: str = "") -> Response:
    if page.principal is not None:
        return page.redirect(safe_next(next, page.home()))
    return page.render("auth/login.html", title=page._("Sign in"), values={"next": next})


@router.post("/login")
def sign_in(request: Request, page: PageDep, form: FormDep) -> Response:
    try:
        limit_sign_in(request)
        return _start_session(
            page, form.get("login"), form.raw("password"), form.get("totp_code"), form.get("next")
        )
    except SharebuyError as error:
        values = form.echo()
        if error.code in ("totp_required", "totp_invalid", "totp_replayed"):
            values["need_totp"] = "1"
        return page.render(
            "auth/login.html",
            status_code=error.status,
            title=page._("Sign in"),
            values=values,
            errors=field_errors(page, error, SIGN_IN_FIELDS),
        )


@router.get("/signup")
def sign_up_form(page: PageDep) -> Response:
    if page.principal is not None:
        return page.redirect(page.home())
    return page.render("auth/signup.html", title=page._("Create your account"))


@router.post("/signup")
def sign_up(request: Request, page: PageDep, form: FormDep) -> Response:
    values = form.echo()
    password = form.raw("password")
    if password != form.raw("password_again"):
        return page.render(
            "auth/signup.html",
            status_code=422,
            title=page._("Create your account"),
            values=values,
            errors={"password_again": page._("The two passwords are not the same.")},
        )
    if not form.get("accept_terms"):
        return page.render(
            "auth/signup.html",
            status_code=422,
            title=page._("Create your account"),
            values=values,
            errors={"accept_terms": page._("Please confirm that you have read the risk notice.")},
        )
    try:
        limit_sign_in(request)
        made = identity.register_consumer(
            page.engine, phone=form.get("phone"), password=password, name=form.get("name")
        )
    except SharebuyError as error:
        return page.render(
            "auth/signup.html",
            status_code=error.status,
            title=page._("Create your account"),
            values=values,
            errors=field_errors(page, error, SIGN_UP_FIELDS),
        )
    return _start_session(
        page, str(made["phone"]), password, None, "/wallet", page._("Welcome! Your account is ready.")
    )


@router.post("/logout")
def sign_out(page: PageDep, form: FormDep) -> Response:
    token = page.request.cookies.get(SESSION_COOKIE)
    if token:
        identity.close_session(page.engine, token)
    response = page.redirect("/login", page._("You have signed out."))
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
