"""Request dependencies: the engine, the caller (principal) and the checks on what it may do.

Credentials, in order: `Authorization: Bearer <access token>`, a merchant POS key
(`Authorization: Bearer sbk_...` or `X-API-Key`), or the web session cookie.  A request
authenticated by the cookie must also carry the session's CSRF token on any unsafe method,
so another site cannot make a signed-in browser act.

FastAPI runs every plain `def` dependency in a worker thread, one hand-off each; the checks
here that touch no database are `async def` so that they run on the event loop, and the
caller's credentials are looked up in a single hand-off (`current_principal`).
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, Request, Security
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPBearer
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from sharebuy.identity import service as identity
from sharebuy.identity.service import Principal
from sharebuy.kernel.errors import Forbidden, Unauthenticated
from sharebuy.web.i18n import language

SESSION_COOKIE = "sb_session"
CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]


async def get_language(accept_language: Annotated[str | None, Header()] = None) -> str:
    return language(accept_language)


LangDep = Annotated[str, Depends(get_language)]


def _credentials(request: Request) -> tuple[str, str] | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        token = value.strip()
        return ("key", token) if token.startswith("sbk_") else ("token", token)
    key = request.headers.get("x-api-key")
    if key:
        return ("key", key.strip())
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return ("session", cookie)
    return None


def _check_csrf(request: Request, expected: str) -> None:
    if request.method in _SAFE_METHODS:
        return
    given = request.headers.get(CSRF_HEADER, "")
    if not given or not hmac.compare_digest(given, expected):
        raise Forbidden(
            "csrf_failed",
            "缺少或错误的 CSRF 令牌，请刷新页面后重试",
            "missing or wrong CSRF token; reload the page and retry",
        )


def authenticate(request: Request, engine: Engine) -> Principal | None:
    found = _credentials(request)
    if found is None:
        return None
    kind, value = found
    if kind == "token":
        return identity.authenticate_access_token(engine, value)
    if kind == "key":
        return identity.authenticate_api_key(engine, value)
    principal, csrf = identity.authenticate_session(engine, value)
    _check_csrf(request, csrf)
    return principal


def optional_principal(request: Request, engine: EngineDep) -> Principal | None:
    principal = authenticate(request, engine)
    request.state.principal = principal
    return principal


# The three ways in, declared for the OpenAPI document (so that clients and /docs know them);
# `authenticate` reads the credentials itself, in its own order, so these never refuse anything.
_BEARER = HTTPBearer(
    scheme_name="token", description="an access token, or a POS key `sbk_...`", auto_error=False
)
_POS_KEY = APIKeyHeader(name="X-API-Key", scheme_name="posKey", description="a POS key", auto_error=False)
_SESSION = APIKeyCookie(
    name=SESSION_COOKIE,
    scheme_name="session",
    description="the web session; unsafe methods also need the X-CSRF-Token header",
    auto_error=False,
)


def _signed_in(request: Request, engine: Engine) -> Principal:
    principal = optional_principal(request, engine)
    if principal is None:
        raise _not_signed_in()
    return principal


def _not_signed_in() -> Unauthenticated:
    return Unauthenticated("not_signed_in", "请先登录", "sign in first")


async def current_principal(
    request: Request,
    engine: EngineDep,
    _token: Annotated[object, Security(_BEARER)] = None,
    _key: Annotated[object, Security(_POS_KEY)] = None,
    _session: Annotated[object, Security(_SESSION)] = None,
) -> Principal:
    # The look-up blocks on the database: one worker thread for it, and the rest on the loop.
    return await run_in_threadpool(_signed_in, request, engine)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


class Credentials:
    """The caller's credentials, present but not yet checked: for a route that does all its
    work in one worker thread (a purchase), where the hand-off to a thread of its own for the
    check cost as much CPU as the check.  A request without any is refused before its body is
    read, as with `current_principal`; a wrong, expired or revoked one is refused (401) by
    `principal`, before anything else the route does, but after the body was validated."""

    def __init__(self, request: Request) -> None:
        self._request = request

    def principal(self, engine: Engine) -> Principal:
        return _signed_in(self._request, engine)


async def credentials(
    request: Request,
    _token: Annotated[object, Security(_BEARER)] = None,
    _key: Annotated[object, Security(_POS_KEY)] = None,
    _session: Annotated[object, Security(_SESSION)] = None,
) -> Credentials:
    if _credentials(request) is None:
        raise _not_signed_in()
    return Credentials(request)


CredentialsDep = Annotated[Credentials, Depends(credentials)]
MaybePrincipalDep = Annotated[Principal | None, Depends(optional_principal)]


# -- who may do what -------------------------------------------------------------------------


def _refuse() -> Forbidden:
    return Forbidden("forbidden", "无权执行此操作或访问此对象", "you may not do this or see this")


async def require_admin(principal: PrincipalDep) -> Principal:
    if principal.role != "admin":
        raise _refuse()
    return principal


async def require_operator(principal: PrincipalDep) -> Principal:
    """Admin or auditor: reads across the whole platform."""
    if principal.role not in ("admin", "auditor"):
        raise _refuse()
    return principal


async def require_user(principal: PrincipalDep) -> Principal:
    """A signed-in person (not a POS key)."""
    if principal.user_id is None:
        raise _refuse()
    return principal


async def require_consumer(principal: PrincipalDep) -> Principal:
    if principal.role != "consumer" or principal.member_id is None:
        raise _refuse()
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]
OperatorDep = Annotated[Principal, Depends(require_operator)]
UserDep = Annotated[Principal, Depends(require_user)]
ConsumerDep = Annotated[Principal, Depends(require_consumer)]


def may_read_member(principal: Principal, member_id: int) -> None:
    """Operators read everyone; a consumer reads itself and the merchants it owns or staffs."""
    if principal.role in ("admin", "auditor"):
        return
    if principal.member_id == member_id or member_id in principal.merchant_ids:
        return
    raise _refuse()


def may_act_for_merchant(
    principal: Principal, merchant_id: int, *, owner_only: bool = False, pos: bool = False
) -> None:
    """A merchant's owner (and, unless `owner_only`, its staff; with `pos`, its POS keys) acts for it."""
    if principal.role == "pos":
        if pos and merchant_id in principal.merchant_ids:
            return
        raise _refuse()
    allowed = principal.owned_merchant_ids if owner_only else principal.merchant_ids
    if merchant_id in allowed:
        return
    raise _refuse()


def may_read_merchant(principal: Principal, merchant_id: int) -> None:
    if principal.role in ("admin", "auditor"):
        return
    may_act_for_merchant(principal, merchant_id, pos=True)
