"""Registration, sign-in (tokens or a cookie session), refresh, sign-out, TOTP, and `me`."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response, status

from sharebuy.identity import service as identity
from sharebuy.settings import get_settings
from sharebuy.web.api.common import INVALID, SIGNED_IN, plain, problems
from sharebuy.web.api.schemas import (
    MeOut,
    RefreshIn,
    RegisteredOut,
    RegisterIn,
    SessionOut,
    SignInIn,
    TokensOut,
    TotpCodeIn,
    TotpSetupOut,
)
from sharebuy.web.deps import SESSION_COOKIE, EngineDep, PrincipalDep, UserDep
from sharebuy.web.ratelimit import limit_sign_in

router = APIRouter(prefix="/auth", tags=["auth 身份"], responses=INVALID)

BAD_CREDENTIALS = problems(
    {401: "wrong login or password, a TOTP code missing or wrong, or the user disabled"}
)
TOO_MANY = problems({429: "too many sign-in attempts from this client, or the account locked for a while"})
BAD_TOKEN = problems({401: "the refresh token is invalid, expired, revoked or already used"})


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=RegisteredOut,
    dependencies=[Depends(limit_sign_in)],
    responses={**problems({409: "the phone is already registered"}), **TOO_MANY},
)
def register(body: RegisterIn, engine: EngineDep) -> dict[str, object]:
    """注册消费者账户 · register a consumer with phone and password."""
    return identity.register_consumer(engine, phone=body.phone, password=body.password, name=body.name)


@router.post(
    "/token",
    response_model=TokensOut,
    dependencies=[Depends(limit_sign_in)],
    responses={**BAD_CREDENTIALS, **TOO_MANY},
)
def sign_in(body: SignInIn, engine: EngineDep) -> object:
    """登录，取得访问令牌与刷新令牌 · sign in for an access token and a refresh token."""
    return plain(identity.sign_in(engine, login=body.login, password=body.password, totp_code=body.totp_code))


@router.post("/refresh", response_model=TokensOut, responses=BAD_TOKEN)
def refresh(body: RefreshIn, engine: EngineDep) -> object:
    """换取新令牌（刷新令牌一次有效）· rotate: a refresh token works once."""
    return plain(identity.refresh(engine, body.refresh_token))


@router.post("/sign-out", status_code=status.HTTP_204_NO_CONTENT)
def sign_out(body: RefreshIn, engine: EngineDep) -> Response:
    """注销刷新令牌 · revoke the refresh token (and its rotations)."""
    identity.sign_out(engine, body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/session",
    response_model=SessionOut,
    dependencies=[Depends(limit_sign_in)],
    responses={**BAD_CREDENTIALS, **TOO_MANY},
)
def open_session(body: SignInIn, engine: EngineDep, response: Response) -> object:
    """网页登录：设置 HttpOnly 会话 Cookie，返回 CSRF 令牌 · cookie sign-in for the pages."""
    session = identity.open_session(
        engine, login=body.login, password=body.password, totp_code=body.totp_code
    )
    settings = get_settings()
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        max_age=settings.session_hours * 3600,
        httponly=True,
        secure=settings.cookie_secure or settings.environment == "production",
        samesite="lax",
        path="/",
    )
    return {"csrf_token": session.csrf_token, "expires_at": session.expires_at}


@router.delete("/session", status_code=status.HTTP_204_NO_CONTENT, responses=SIGNED_IN)
def close_session(request: Request, engine: EngineDep, principal: PrincipalDep) -> Response:
    """退出网页登录 · sign out of the pages."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        identity.close_session(engine, token)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/me", response_model=MeOut, responses=SIGNED_IN)
def me(principal: PrincipalDep) -> dict[str, object]:
    """当前身份 · who am I."""
    return {
        "user_id": principal.user_id,
        "role": principal.role,
        "member_id": principal.member_id,
        "merchant_ids": sorted(principal.merchant_ids),
        "owned_merchant_ids": sorted(principal.owned_merchant_ids),
    }


@router.post(
    "/totp",
    response_model=TotpSetupOut,
    responses={**SIGNED_IN, **problems({409: "TOTP is already enabled"})},
)
def begin_totp(engine: EngineDep, principal: UserDep) -> dict[str, object]:
    """开始设置两步验证 · start setting up TOTP (confirm with a code to enable it)."""
    assert principal.user_id is not None
    return identity.begin_totp(engine, principal.user_id)


@router.post(
    "/totp/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**SIGNED_IN, **problems({409: "TOTP is already enabled"})},
)
def confirm_totp(body: TotpCodeIn, engine: EngineDep, principal: UserDep) -> Response:
    """确认并启用两步验证 · enable TOTP with a current code."""
    assert principal.user_id is not None
    identity.confirm_totp(engine, principal.user_id, body.code)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/totp/disable", status_code=status.HTTP_204_NO_CONTENT, responses=SIGNED_IN)
def disable_totp(body: TotpCodeIn, engine: EngineDep, principal: UserDep) -> Response:
    """停用两步验证 · disable TOTP with a current code."""
    assert principal.user_id is not None
    identity.disable_totp(engine, principal.user_id, body.code)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
