"""What every page shares: who is asking, in which language, CSRF, forms, flashes, rendering.

Pages sit on the same services as the JSON API and on the same authorization helpers
(`web.deps`); they hold no business rule.  A signed-in browser carries the session cookie of
`identity.open_session`; every form posts the session's CSRF token back in a hidden field (or
the `X-CSRF-Token` header for HTMX requests).  Before sign-in, forms carry a double-submit token
from the `sb_csrf` cookie instead.  Every form that changes something also carries an
Idempotency-Key drawn when the form was rendered, so a double click or a retried submit takes
effect once.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, unquote, urlencode

from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from sqlalchemy import Engine
from starlette.datastructures import UploadFile

from sharebuy.idempotency import service as idempotency
from sharebuy.identity import service as identity
from sharebuy.identity.service import Principal
from sharebuy.kernel.errors import SharebuyError, Unauthenticated
from sharebuy.web.api.common import plain
from sharebuy.web.deps import SESSION_COOKIE, may_act_for_merchant
from sharebuy.web.i18n import language
from sharebuy.web.pages.text import LANGS, environment, gettext_for

T = TypeVar("T")

LANG_COOKIE = "lang"
ANON_CSRF_COOKIE = "sb_csrf"
FLASH_COOKIE = "sb_flash"
CSRF_FIELD = "csrf_token"
KEY_FIELD = "idempotency_key"
_YEAR = 365 * 24 * 3600


class SignInRequired(Exception):
    """The page needs a signed-in person; the browser is sent to the sign-in page."""


class PageDenied(SharebuyError):
    status = 403


@dataclass
class Page:
    """One page request: the caller, the language, the CSRF token and cookies to set."""

    request: Request
    engine: Engine
    lang: str
    principal: Principal | None
    csrf: str
    cookies: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    drop_cookies: list[str] = field(default_factory=list)

    # -- language ---------------------------------------------------------------------------

    def _(self, message: str, **values: Any) -> str:
        return gettext_for(self.lang, message, **values)

    def error_text(self, error: SharebuyError) -> str:
        return error.message(self.lang)

    # -- who --------------------------------------------------------------------------------

    @property
    def user(self) -> Principal:
        if self.principal is None:
            raise SignInRequired()
        return self.principal

    def home(self) -> str:
        return home_of(self.principal)

    # -- answers ----------------------------------------------------------------------------

    def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        flash = self.request.cookies.get(FLASH_COOKIE)
        if flash:
            self.drop_cookies.append(FLASH_COOKIE)
        values = {
            "page": self,
            "request": self.request,
            "principal": self.principal,
            "csrf_token": self.csrf,
            "flash": _read_flash(flash),
            "path": self.request.url.path,
            "other_lang": "en" if self.lang == "zh" else "zh",
            "switch_url": switch_url(self.request, "en" if self.lang == "zh" else "zh"),
            "new_key": lambda: uuid.uuid4().hex,
            "errors": {},
            "values": {},
            **context,
        }
        html = environment(self.lang).get_template(template).render(values)
        response = HTMLResponse(html, status_code=status_code)
        response.headers["Cache-Control"] = "no-store"
        self.finish(response)
        return response

    def redirect(self, url: str, flash: str | None = None, kind: str = "ok") -> RedirectResponse:
        response = RedirectResponse(url, status_code=303)
        if flash:
            self.cookies[FLASH_COOKIE] = (quote(f"{kind}|{flash}"), 60)
        self.finish(response)
        return response

    def finish(self, response: Response) -> None:
        secure = self.request.app.state.settings.cookie_secure
        for name in self.drop_cookies:
            if name not in self.cookies:
                response.delete_cookie(name, path="/")
        for name, (value, max_age) in self.cookies.items():
            response.set_cookie(
                name,
                value,
                max_age=max_age,
                path="/",
                httponly=name != LANG_COOKIE,
                samesite="lax",
                secure=secure,
            )

    # -- changes made once --------------------------------------------------------------------

    def once(
        self,
        key: str,
        payload: Mapping[str, Any],
        effect: Callable[[], T],
        *,
        atomic: bool = True,
    ) -> tuple[Any, bool]:
        """Run a form's effect once per Idempotency-Key, like the API's `idempotent`:
        (the answer as plain JSON values, whether it was replayed)."""
        principal = self.user
        path = self.request.url.path
        claim = idempotency.Request(
            scope=principal.scope,
            key=idempotency.check_key(key or uuid.uuid4().hex),
            method="POST",
            path=path,
            fingerprint=idempotency.fingerprint("POST", path, dict(payload)),
        )
        answer = idempotency.run(self.engine, claim, effect, lambda r: (200, plain(r)), atomic=atomic)
        return answer.body, answer.replayed


def _read_flash(raw: str | None) -> dict[str, str] | None:
    if not raw:
        return None
    kind, _, text = unquote(raw).partition("|")
    if kind not in ("ok", "warn", "error"):
        return None
    return {"kind": kind, "text": text[:500]}


def home_of(principal: Principal | None) -> str:
    if principal is None:
        return "/login"
    if principal.role in ("admin", "auditor"):
        return "/ops"
    return "/wallet"


def switch_url(request: Request, lang: str) -> str:
    query = {k: v for k, v in request.query_params.items() if k != "lang"}
    query["lang"] = lang
    return f"{request.url.path}?{urlencode(query)}"


def safe_next(target: str | None, default: str = "/") -> str:
    """Only a path on this site: never another host (an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def _lang(request: Request) -> tuple[str, bool]:
    asked = request.query_params.get("lang")
    if asked in LANGS:
        return asked, True
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in LANGS:
        return cookie, False
    return language(request.headers.get("accept-language")), False


def get_page(request: Request) -> Page:
    engine: Engine = request.app.state.engine
    lang, chosen = _lang(request)
    principal: Principal | None = None
    csrf = ""
    drop: list[str] = []
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        try:
            principal, csrf = identity.authenticate_session(engine, token)
        except Unauthenticated:
            drop.append(SESSION_COOKIE)  # expired or signed out elsewhere: start afresh
    page = Page(request, engine, lang, principal, csrf, drop_cookies=drop)
    if chosen:
        page.cookies[LANG_COOKIE] = (lang, _YEAR)
    if principal is None:
        anon = request.cookies.get(ANON_CSRF_COOKIE) or ""
        if len(anon) < 20:
            anon = secrets.token_urlsafe(24)
            page.cookies[ANON_CSRF_COOKIE] = (anon, None)
        page.csrf = anon
    return page


PageDep = Annotated[Page, Depends(get_page)]


# -- forms ---------------------------------------------------------------------------------------


@dataclass
class Form:
    values: dict[str, str]
    lists: dict[str, list[str]]
    files: dict[str, UploadFile]
    key: str

    def get(self, name: str, default: str = "") -> str:
        return self.values.get(name, default).strip()

    def raw(self, name: str) -> str:
        return self.values.get(name, "")

    def many(self, name: str) -> list[str]:
        return self.lists.get(name, [])

    def echo(self) -> dict[str, Any]:
        """What the person typed, to put back into the form when it is refused."""
        shown: dict[str, Any] = {k: v for k, v in self.values.items() if k not in (CSRF_FIELD, "password")}
        shown.update({k: v for k, v in self.lists.items() if len(v) > 1})
        return shown


def csrf_refused() -> PageDenied:
    return PageDenied(
        "csrf_failed",
        "表单已过期或来源不明（CSRF 校验失败），请返回、刷新页面后重试",
        "the form has expired or did not come from this site (CSRF check failed); go back, reload and retry",
    )


async def read_form(request: Request, page: PageDep) -> Form:
    """The posted form, once its CSRF token matches the session's (or the double-submit cookie)."""
    data = await request.form()
    values: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    files: dict[str, UploadFile] = {}
    for name, value in data.multi_items():
        if isinstance(value, UploadFile):
            files[name] = value
        else:
            values.setdefault(name, value)
            lists.setdefault(name, []).append(value)
    given = values.get(CSRF_FIELD) or request.headers.get("x-csrf-token", "")
    if not page.csrf or not given or not hmac.compare_digest(given, page.csrf):
        raise csrf_refused()
    return Form(values, lists, files, values.get(KEY_FIELD, "").strip())


FormDep = Annotated[Form, Depends(read_form)]


@dataclass
class Refusal:
    """A refused form: the message by the field it belongs to, or above the form."""

    errors: dict[str, str]

    @classmethod
    def of(cls, page: Page, error: SharebuyError, fields: Mapping[str, str]) -> Refusal:
        return cls({fields.get(error.code, "_form"): page.error_text(error)})


def field_errors(page: Page, error: SharebuyError, fields: Mapping[str, str]) -> dict[str, str]:
    """Put a service's refusal next to the field that caused it (`fields`: code -> field)."""
    return Refusal.of(page, error, fields).errors


# -- error pages -----------------------------------------------------------------------------


def _error_page(request: Request, error: SharebuyError) -> Response:
    page = get_page(request)
    if isinstance(error, Unauthenticated):
        return sign_in_redirect(request)
    status = error.status if 400 <= error.status < 600 else 400
    return page.render(
        "error.html",
        status_code=status,
        title=page._("Something went wrong"),
        message=page.error_text(error),
        code=error.code,
    )


def sign_in_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    query = {"next": target}
    asked = request.query_params.get("lang")
    if asked in LANGS:  # a link in English stays in English through the sign-in page
        query["lang"] = asked
    response = RedirectResponse(f"/login?{urlencode(query)}", status_code=303)
    if request.cookies.get(SESSION_COOKIE):
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# Scripts only from the site's own files (no inline script, handler or javascript: URL), so
# text that slipped past escaping could not run; styles may be inline (style attributes, and
# the <style> htmx adds for its indicators); QR codes are SVG, the camera a MediaStream.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class PageRoute(APIRoute):
    """Routes that answer in HTML: a refusal is a page in the reader's language, not JSON.
    Every answer carries the pages' Content-Security-Policy."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response: Response = await handler(request)
            except SignInRequired:
                response = sign_in_redirect(request)
            except SharebuyError as error:
                response = _error_page(request, error)
            response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
            return response

        return route


# -- who the page acts for --------------------------------------------------------------------


def member_of(page: Page) -> int:
    """The signed-in consumer's member id; operators have a console of their own."""
    principal = page.user
    if principal.role != "consumer" or principal.member_id is None:
        raise PageDenied(
            "members_only",
            "此页面供会员使用；运营人员请使用运营控制台",
            "this page is for members; operators use the operator console",
        )
    return principal.member_id


def acting_for(page: Page, merchant: object, *, owner_only: bool = False) -> int:
    """The member a market or profile page acts for: the consumer, or one of its shops (`as`)."""
    consumer = member_of(page)
    text = str(merchant or "").strip()
    if not text:
        return consumer
    if not text.isdigit():
        raise PageDenied("forbidden", "无权执行此操作或访问此对象", "you may not do this or see this")
    merchant_id = int(text)
    may_act_for_merchant(page.user, merchant_id, owner_only=owner_only)
    return merchant_id
