"""The public market pages (risk notice, guide price, K-line, status) and a member's standing:
real name, the risk notice accepted, payment methods, limits."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import JSONResponse

from sharebuy.market import queries
from sharebuy.market import service as market
from sharebuy.members import service as members
from sharebuy.web.api.common import (
    ERROR_RESPONSES,
    INVALID,
    Id,
    IdempotencyKey,
    IdQuery,
    idempotent,
    plain,
)
from sharebuy.web.api.market.access import (
    CHANGES,
    acting,
)
from sharebuy.web.api.market.schemas import (
    GuidePriceOut,
    KlineOut,
    MarketStatusOut,
    PaymentMethodIn,
    PaymentMethodOut,
    ProfileOut,
    RealNameIn,
    RealNameOut,
    RiskAcceptIn,
    RiskNoticeOut,
)
from sharebuy.web.deps import (
    ConsumerDep,
    EngineDep,
    UserDep,
)

router = APIRouter(tags=["market C2C 市场"], responses=ERROR_RESPONSES)


# -- public: the notice, prices, the switch ---------------------------------------------------


@router.get("/risk-notice", response_model=RiskNoticeOut, responses=INVALID)
def risk_notice() -> object:
    """风险提示（首次交易前须接受）· the risk notice, to accept before the first trade."""
    return market.risk_notice()


@router.get("/guide-price", response_model=GuidePriceOut, responses=INVALID)
def guide_price(engine: EngineDep) -> object:
    """指导价：上一结算日的成交量加权均价 · the guide price, and today's market price so far."""
    return plain(queries.guide_price(engine))


@router.get("/kline", response_model=KlineOut, responses=INVALID)
def kline(
    engine: EngineDep,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
    to: Annotated[date | None, Query(description="the last business day (default today)")] = None,
) -> object:
    """日 K 线：开高低收、成交量与成交额 · daily OHLC, volume and turnover."""
    return plain(queries.kline(engine, days=days, to=to))


@router.get("/status", response_model=MarketStatusOut, responses=INVALID)
def market_status(engine: EngineDep) -> object:
    """市场是否开放 · whether the market is open."""
    return plain(market.market_status(engine))


# -- a member's standing --------------------------------------------------------------------------


@router.post("/real-name", response_model=RealNameOut, responses=CHANGES)
def real_name(
    body: RealNameIn, request: Request, engine: EngineDep, principal: ConsumerDep, key: IdempotencyKey = None
) -> JSONResponse:
    """实名登记（本人；商家以店主实名交易）· record your real name (merchants trade under the owner's)."""
    assert principal.member_id is not None
    consumer = principal.member_id
    return idempotent(
        request,
        engine,
        principal,
        key,
        body,
        lambda: members.set_real_name(engine, consumer, body.real_name, body.id_number),
    )


@router.post("/risk-notice/accept", response_model=ProfileOut, responses=CHANGES)
def accept_risk_notice(
    body: RiskAcceptIn, request: Request, engine: EngineDep, principal: UserDep, key: IdempotencyKey = None
) -> JSONResponse:
    """接受风险提示 · accept the risk notice (for yourself, or as a merchant's owner)."""
    member = acting(principal, body.merchant_id, owner_only=True)
    return idempotent(
        request,
        engine,
        principal,
        key,
        body,
        lambda: market.accept_risk_notice(engine, member, version=body.version, actor=principal.scope),
    )


@router.get("/profile", response_model=ProfileOut)
def profile(engine: EngineDep, principal: UserDep, merchant_id: IdQuery = None) -> object:
    """我的市场资格：实名、风险提示、进行中的交易、今日取消次数 · may I trade, and my limits."""
    return plain(market.profile(engine, acting(principal, merchant_id)))


@router.get("/payment-methods", response_model=list[PaymentMethodOut])
def payment_methods(engine: EngineDep, principal: UserDep, merchant_id: IdQuery = None) -> object:
    """我的收款方式 · your payment methods."""
    return plain(market.list_payment_methods(engine, acting(principal, merchant_id, owner_only=True)))


@router.post(
    "/payment-methods",
    status_code=status.HTTP_201_CREATED,
    response_model=PaymentMethodOut,
    responses=CHANGES,
)
def add_payment_method(
    body: PaymentMethodIn, request: Request, engine: EngineDep, principal: UserDep, key: IdempotencyKey = None
) -> JSONResponse:
    """添加收款方式（商家限店主）· add a payment method (a merchant's owner only)."""
    member = acting(principal, body.merchant_id, owner_only=True)

    def effect() -> dict[str, Any]:
        return market.add_payment_method(
            engine,
            member,
            kind=body.kind,
            account_name=body.account_name,
            account_id=body.account_id,
            bank_name=body.bank_name,
        )

    return idempotent(request, engine, principal, key, body, effect, status_code=201)


@router.delete("/payment-methods/{method_id}", response_model=PaymentMethodOut)
def remove_payment_method(
    method_id: Id, engine: EngineDep, principal: UserDep, merchant_id: IdQuery = None
) -> object:
    """停用收款方式（进行中的交易仍显示原信息）· retire a payment method."""
    member = acting(principal, merchant_id, owner_only=True)
    return plain(market.remove_payment_method(engine, member, method_id))
