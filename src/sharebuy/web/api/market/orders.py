"""Listings (挂卖), buy orders (求购) and quick buy; taking a listing or filling a buy order opens a trade."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import JSONResponse

from sharebuy.identity.service import Principal
from sharebuy.market import queries
from sharebuy.market import service as market
from sharebuy.web.api.common import (
    ERROR_RESPONSES,
    Id,
    IdempotencyKey,
    IdQuery,
    RequiredIdempotencyKey,
    idempotent,
    plain,
)
from sharebuy.web.api.market.access import (
    CHANGES,
    Before,
    Limit,
    Offset,
    PriceQuery,
    acting,
)
from sharebuy.web.api.market.schemas import (
    ActingIn,
    BuyOrderOut,
    ListingOut,
    OrderIn,
    PriceIn,
    QuickBuyIn,
    QuickBuyOut,
    TakeIn,
    TradeOut,
)
from sharebuy.web.deps import (
    EngineDep,
    PrincipalDep,
    UserDep,
)

router = APIRouter(tags=["market C2C 市场"], responses=ERROR_RESPONSES)


# -- listings -----------------------------------------------------------------------------------


@router.get("/listings", response_model=list[ListingOut])
def listing_book(
    engine: EngineDep,
    principal: PrincipalDep,
    min_price: PriceQuery = None,
    max_price: PriceQuery = None,
    payment_kind: Annotated[Literal["alipay", "wechat", "bank"] | None, Query()] = None,
    min_quantity: Annotated[str | None, Query(pattern=r"^[0-9]{1,9}(\.[0-9]{1,4})?$")] = None,
    seller_id: IdQuery = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> object:
    """在售挂单，价格从低到高、同价先挂先得 · listings on offer, best price first, then the oldest."""
    rows = queries.listing_book(
        engine,
        min_price=min_price,
        max_price=max_price,
        payment_kind=payment_kind,
        min_quantity=min_quantity,
        seller_id=seller_id,
        offset=offset,
        limit=limit,
    )
    return plain(rows)


@router.post("/listings", status_code=status.HTTP_201_CREATED, response_model=ListingOut, responses=CHANGES)
def create_listing(
    body: OrderIn, request: Request, engine: EngineDep, principal: UserDep, key: RequiredIdempotencyKey
) -> JSONResponse:
    """挂卖：积分转入托管 · list points for sale; they move into escrow. Idempotency-Key required."""
    seller = acting(principal, body.merchant_id, owner_only=True)

    def effect() -> dict[str, Any]:
        return market.create_listing(
            engine,
            seller,
            quantity=body.quantity,
            price=body.price,
            payment_kinds=list(body.payment_kinds),
            min_order=body.min_order,
            max_order=body.max_order,
            actor=principal.scope,
        )

    return idempotent(request, engine, principal, key, body, effect, status_code=201)


@router.get("/my/listings", response_model=list[ListingOut])
def my_listings(
    engine: EngineDep,
    principal: UserDep,
    merchant_id: IdQuery = None,
    status_: Annotated[Literal["active", "paused", "closed"] | None, Query(alias="status")] = None,
    before: Before = None,
    limit: Limit = 50,
) -> object:
    """我的挂单（最新在前）· your listings, newest first."""
    seller = acting(principal, merchant_id)
    return plain(queries.listings_of(engine, seller, status=status_, before=before, limit=limit))


@router.get("/listings/{listing_id}", response_model=ListingOut)
def listing(listing_id: Id, engine: EngineDep, principal: PrincipalDep) -> object:
    return plain(queries.listing(engine, listing_id))


def _listing_status(
    listing_id: int,
    paused: bool,
    body: ActingIn | None,
    request: Request,
    engine: Any,
    principal: Principal,
    key: str | None,
) -> JSONResponse:
    seller = acting(principal, body.merchant_id if body else None, owner_only=True)
    return idempotent(
        request,
        engine,
        principal,
        key,
        body,
        lambda: market.set_listing_status(engine, seller, listing_id, paused=paused),
    )


@router.post("/listings/{listing_id}/pause", response_model=ListingOut, responses=CHANGES)
def pause_listing(
    listing_id: Id,
    request: Request,
    engine: EngineDep,
    principal: UserDep,
    body: ActingIn | None = None,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """暂停挂单（积分仍在托管）· take a listing off the book for now; its escrow stays."""
    return _listing_status(listing_id, True, body, request, engine, principal, key)


@router.post("/listings/{listing_id}/resume", response_model=ListingOut, responses=CHANGES)
def resume_listing(
    listing_id: Id,
    request: Request,
    engine: EngineDep,
    principal: UserDep,
    body: ActingIn | None = None,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """恢复挂单 · put a paused listing back on the book."""
    return _listing_status(listing_id, False, body, request, engine, principal, key)


@router.put("/listings/{listing_id}/price", response_model=ListingOut)
def set_listing_price(listing_id: Id, body: PriceIn, engine: EngineDep, principal: UserDep) -> object:
    """改价（须在指导价幅度内；进行中的交易保持原价）· reprice what remains."""
    seller = acting(principal, body.merchant_id, owner_only=True)
    return plain(market.set_listing_price(engine, seller, listing_id, body.price))


@router.post("/listings/{listing_id}/cancel", response_model=ListingOut, responses=CHANGES)
def cancel_listing(
    listing_id: Id,
    request: Request,
    engine: EngineDep,
    principal: UserDep,
    key: RequiredIdempotencyKey,
    body: ActingIn | None = None,
) -> JSONResponse:
    """撤单：剩余积分退回可用 · cancel a listing; its remaining returns from escrow. Key required."""
    seller = acting(principal, body.merchant_id if body else None, owner_only=True)
    return idempotent(
        request,
        engine,
        principal,
        key,
        body,
        lambda: market.cancel_listing(engine, seller, listing_id, actor=principal.scope),
    )


@router.post(
    "/listings/{listing_id}/take",
    status_code=status.HTTP_201_CREATED,
    response_model=TradeOut,
    responses=CHANGES,
)
def take_listing(
    listing_id: Id,
    body: TakeIn,
    request: Request,
    engine: EngineDep,
    principal: UserDep,
    key: RequiredIdempotencyKey,
) -> JSONResponse:
    """买入挂单的一部分，生成待付款交易 · buy from a listing: a trade awaiting payment. Key required."""
    buyer = acting(principal, body.merchant_id)
    return idempotent(
        request,
        engine,
        principal,
        key,
        body,
        lambda: market.take_listing(engine, buyer, listing_id, body.quantity, actor=principal.scope),
        status_code=201,
    )


@router.post("/quick-buy", status_code=status.HTTP_201_CREATED, response_model=QuickBuyOut, responses=CHANGES)
def quick_buy(
    body: QuickBuyIn, request: Request, engine: EngineDep, principal: UserDep, key: RequiredIdempotencyKey
) -> JSONResponse:
    """快速买入：按价格优先、时间优先成交多笔 · buy up to a quantity at up to a price. Key required."""
    buyer = acting(principal, body.merchant_id)

    def effect() -> dict[str, Any]:
        return market.quick_buy(
            engine,
            buyer,
            body.quantity,
            body.max_price,
            payment_kinds=None if body.payment_kinds is None else list(body.payment_kinds),
            allow_partial=body.allow_partial,
            actor=principal.scope,
        )

    return idempotent(request, engine, principal, key, body, effect, status_code=201)


# -- buy orders ---------------------------------------------------------------------------------


@router.get("/buy-orders", response_model=list[BuyOrderOut])
def buy_order_book(
    engine: EngineDep, principal: PrincipalDep, offset: Offset = 0, limit: Limit = 50
) -> object:
    """求购单，出价从高到低 · open buy orders, best (highest) price first."""
    return plain(queries.buy_order_book(engine, offset=offset, limit=limit))


@router.post(
    "/buy-orders", status_code=status.HTTP_201_CREATED, response_model=BuyOrderOut, responses=CHANGES
)
def create_buy_order(
    body: OrderIn, request: Request, engine: EngineDep, principal: UserDep, key: IdempotencyKey = None
) -> JSONResponse:
    """发布求购 · ask to buy points at a price; sellers fill it."""
    buyer = acting(principal, body.merchant_id)

    def effect() -> dict[str, Any]:
        return market.create_buy_order(
            engine,
            buyer,
            quantity=body.quantity,
            price=body.price,
            payment_kinds=list(body.payment_kinds),
            min_order=body.min_order,
            max_order=body.max_order,
        )

    return idempotent(request, engine, principal, key, body, effect, status_code=201)


@router.get("/my/buy-orders", response_model=list[BuyOrderOut])
def my_buy_orders(
    engine: EngineDep,
    principal: UserDep,
    merchant_id: IdQuery = None,
    status_: Annotated[Literal["active", "closed"], Query(alias="status")] = "active",
    offset: Offset = 0,
    limit: Limit = 50,
) -> object:
    buyer = acting(principal, merchant_id)
    return plain(queries.buy_order_book(engine, buyer_id=buyer, status=status_, offset=offset, limit=limit))


@router.get("/buy-orders/{order_id}", response_model=BuyOrderOut)
def buy_order(order_id: Id, engine: EngineDep, principal: PrincipalDep) -> object:
    return plain(queries.buy_order(engine, order_id))


@router.post("/buy-orders/{order_id}/cancel", response_model=BuyOrderOut, responses=CHANGES)
def cancel_buy_order(
    order_id: Id,
    request: Request,
    engine: EngineDep,
    principal: UserDep,
    body: ActingIn | None = None,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """撤销求购 · withdraw a buy order; fills already open run their course."""
    buyer = acting(principal, body.merchant_id if body else None)
    return idempotent(
        request, engine, principal, key, body, lambda: market.cancel_buy_order(engine, buyer, order_id)
    )


@router.post(
    "/buy-orders/{order_id}/fill",
    status_code=status.HTTP_201_CREATED,
    response_model=TradeOut,
    responses=CHANGES,
)
def fill_buy_order(
    order_id: Id,
    body: TakeIn,
    request: Request,
    engine: EngineDep,
    principal: UserDep,
    key: RequiredIdempotencyKey,
) -> JSONResponse:
    """卖给求购单：积分转入托管 · sell into a buy order; your points go to escrow. Key required."""
    seller = acting(principal, body.merchant_id, owner_only=True)
    return idempotent(
        request,
        engine,
        principal,
        key,
        body,
        lambda: market.fill_buy_order(engine, seller, order_id, body.quantity, actor=principal.scope),
        status_code=201,
    )
