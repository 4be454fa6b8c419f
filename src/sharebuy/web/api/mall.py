"""The points mall over HTTP (区域产品兑换): browsing products by region, merchants' products
and their orders, redemptions and their delivery.

Browsing is for signed-in people.  A merchant's owner or staff manage its products and ship or
cancel its orders, naming `merchant_id`; a consumer redeems and confirms delivery for itself;
only an admin certifies products green.  Somebody else's order is answered 404, as if it did
not exist.  POS keys have no business here.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, StringConstraints

from sharebuy.identity.service import Principal
from sharebuy.kernel.errors import Forbidden
from sharebuy.mall import service as mall
from sharebuy.web.api.common import (
    ERROR_RESPONSES,
    IDEMPOTENCY_RESPONSES,
    MAX_ID,
    Id,
    IdempotencyKey,
    IdQuery,
    RequiredIdempotencyKey,
    idempotent,
    plain,
)
from sharebuy.web.api.schemas import Body
from sharebuy.web.deps import AdminDep, EngineDep, OperatorDep, UserDep, may_act_for_merchant

router = APIRouter(prefix="/mall", tags=["mall 积分商城"], responses=ERROR_RESPONSES)
CHANGES = IDEMPOTENCY_RESPONSES

PointsText = Annotated[str, StringConstraints(pattern=r"^\d{1,7}(\.\d{1,4})?$"), Field(examples=["150"])]
Title = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Description = Annotated[str, StringConstraints(max_length=2000)]
PictureUrl = Annotated[
    str,
    StringConstraints(max_length=500, pattern=r"^(https://\S+)?$"),
    Field(examples=["https://img.example.cn/a.jpg"]),
]
Region = Annotated[str, StringConstraints(pattern=r"^\d{6}$"), Field(examples=["441900"])]
RegionFilter = Annotated[
    str | None,
    Query(
        pattern=r"^(\d{2}|\d{4}|\d{6})$", description="a province (2 digits), a city (4) or a district (6)"
    ),
]
Stock = Annotated[int, Field(ge=0, le=1_000_000)]
Merchant = Annotated[int, Field(ge=1, le=MAX_ID, description="the merchant acted for (its owner or staff)")]
Limit = Annotated[int, Query(ge=1, le=200)]
Before = Annotated[int | None, Query(ge=1, le=MAX_ID, description="id of the last item already seen")]
OrderStatus = Literal["placed", "shipped", "delivered", "cancelled"]


# -- bodies -----------------------------------------------------------------------------------------


class ProductIn(Body):
    merchant_id: Merchant
    title_zh: Title = Field(examples=["增城荔枝礼盒"])
    title_en: Annotated[str, StringConstraints(max_length=100)] = ""
    description_zh: Description = ""
    description_en: Description = ""
    picture_url: PictureUrl = ""
    price: PointsText
    stock: Stock
    region: Region | None = Field(default=None, description="default: the merchant's region")


class ProductEditIn(Body):
    merchant_id: Merchant
    title_zh: Title | None = None
    title_en: Annotated[str, StringConstraints(max_length=100)] | None = None
    description_zh: Description | None = None
    description_en: Description | None = None
    picture_url: PictureUrl | None = None
    price: PointsText | None = None
    status: Literal["active", "paused"] | None = None


class StockIn(Body):
    merchant_id: Merchant
    quantity: Annotated[int, Field(ge=1, le=1_000_000)]


class GreenIn(Body):
    green: bool


class RedeemIn(Body):
    product_id: Annotated[int, Field(ge=1, le=MAX_ID)]
    quantity: Annotated[int, Field(ge=1, le=100)] = 1


class ShipIn(Body):
    merchant_id: Merchant
    note: Annotated[str, StringConstraints(max_length=200)] = Field(
        default="", examples=["顺丰 SF1234567890"]
    )


class CancelIn(Body):
    merchant_id: Annotated[
        int | None,
        Field(default=None, ge=1, le=MAX_ID, description="cancel as this merchant; omit as the consumer"),
    ] = None
    reason: Annotated[str, StringConstraints(max_length=500)] = ""


# -- answers ----------------------------------------------------------------------------------------


class ProductOut(BaseModel):
    id: int
    merchant_id: int
    merchant_name: str
    region_code: str
    title_zh: str
    title_en: str
    description_zh: str
    description_en: str
    picture_url: str | None
    price: str = Field(description="points per item")
    stock: int
    status: str
    green: bool
    created_at: datetime
    updated_at: datetime


class OrderTransitionOut(BaseModel):
    event: str
    from_status: str | None
    to_status: str
    role: str
    at: datetime
    reason: str


class OrderOut(BaseModel):
    id: int
    product_id: int
    title_zh: str
    title_en: str
    merchant_id: int
    merchant_name: str
    consumer_id: int
    quantity: int
    unit_price: str
    points: str
    fee: str
    green: bool
    green_share_value: str
    guide_price: str | None
    status: str
    shipping_note: str
    placed_at: datetime
    shipped_at: datetime | None
    deliver_by: datetime | None
    closed_at: datetime | None
    rule_version: int
    transitions: list[OrderTransitionOut] | None = None


class StateTotalOut(BaseModel):
    count: int
    points: str


class OverviewOut(BaseModel):
    products: dict[str, int]
    green_products: int
    orders: dict[str, StateTotalOut]
    escrow: str
    fees: str
    green_share_value: str
    as_of_day: date


# -- who acts -------------------------------------------------------------------------------------


def _consumer(principal: Principal) -> int:
    if principal.role != "consumer" or principal.member_id is None:
        raise Forbidden("forbidden", "无权执行此操作或访问此对象", "you may not do this or see this")
    return principal.member_id


def _viewer(principal: Principal) -> mall.Viewer:
    mine = set(principal.merchant_ids)
    if principal.member_id is not None:
        mine.add(principal.member_id)
    return mall.Viewer(frozenset(mine), principal.role in ("admin", "auditor"))


# -- products -------------------------------------------------------------------------------------


@router.get("/products", response_model=list[ProductOut])
def products(
    engine: EngineDep,
    principal: UserDep,
    region: RegionFilter = None,
    merchant_id: IdQuery = None,
    green: bool | None = None,
    include_paused: bool = False,
    before: Before = None,
    limit: Limit = 50,
) -> object:
    """商品（最新在前，可按省/市/区县筛选）· products, newest first, by province, city or district.
    `include_paused` is for a merchant's own people (with `merchant_id`) and operators."""
    if include_paused and principal.role not in ("admin", "auditor"):
        if merchant_id is None:
            raise Forbidden("forbidden", "无权执行此操作或访问此对象", "you may not do this or see this")
        may_act_for_merchant(principal, merchant_id)
    rows = mall.browse(
        engine,
        region=region,
        merchant_id=merchant_id,
        green=green,
        include_paused=include_paused,
        before=before,
        limit=limit,
    )
    return plain(rows)


@router.get("/products/{product_id}", response_model=ProductOut)
def product(product_id: Id, engine: EngineDep, principal: UserDep) -> object:
    """一件商品（已下架的只给本店和运营）· a product; a paused one only for its merchant and operators."""
    viewer = _viewer(principal)
    return plain(mall.get_product(engine, product_id, members_=viewer.members, operator=viewer.operator))


@router.post("/products", status_code=status.HTTP_201_CREATED, response_model=ProductOut, responses=CHANGES)
def create_product(
    body: ProductIn, request: Request, engine: EngineDep, principal: UserDep, key: IdempotencyKey = None
) -> JSONResponse:
    """商家上架商品（店主或店员）· a merchant lists a product (its owner or staff)."""
    may_act_for_merchant(principal, body.merchant_id)
    return idempotent(
        request,
        engine,
        principal,
        key,
        body,
        lambda: mall.create_product(
            engine,
            body.merchant_id,
            title_zh=body.title_zh,
            title_en=body.title_en,
            description_zh=body.description_zh,
            description_en=body.description_en,
            picture_url=body.picture_url or None,
            price=body.price,
            stock=body.stock,
            region=body.region,
            actor=principal.scope,
        ),
        status_code=201,
    )


@router.post("/products/{product_id}/edit", response_model=ProductOut, responses=CHANGES)
def edit_product(
    product_id: Id,
    body: ProductEditIn,
    request: Request,
    engine: EngineDep,
    principal: UserDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """修改本店商品（标题、描述、图片、积分价、上架/下架）· edit one's own product, or pause it."""
    may_act_for_merchant(principal, body.merchant_id)
    changes = body.model_dump(exclude_none=True, exclude={"merchant_id"})
    return idempotent(
        request,
        engine,
        principal,
        key,
        body,
        lambda: mall.update_product(engine, body.merchant_id, product_id, changes, actor=principal.scope),
    )


@router.post("/products/{product_id}/stock", response_model=ProductOut, responses=CHANGES)
def add_stock(
    product_id: Id,
    body: StockIn,
    request: Request,
    engine: EngineDep,
    principal: UserDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """补货 · add stock to one's own product."""
    may_act_for_merchant(principal, body.merchant_id)
    return idempotent(
        request,
        engine,
        principal,
        key,
        body,
        lambda: mall.add_stock(engine, body.merchant_id, product_id, body.quantity, actor=principal.scope),
    )


@router.post("/products/{product_id}/green", response_model=ProductOut, responses=CHANGES)
def certify_green(
    product_id: Id,
    body: GreenIn,
    request: Request,
    engine: EngineDep,
    principal: AdminDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """运营认证绿色商品（或撤销）· an admin certifies a product green, or withdraws it."""
    return idempotent(
        request,
        engine,
        principal,
        key,
        body,
        lambda: mall.certify_green(engine, product_id, body.green, actor=principal.scope),
    )


# -- orders ---------------------------------------------------------------------------------------


@router.post("/orders", status_code=status.HTTP_201_CREATED, response_model=OrderOut, responses=CHANGES)
def redeem(
    body: RedeemIn, request: Request, engine: EngineDep, principal: UserDep, key: RequiredIdempotencyKey
) -> JSONResponse:
    """消费者用积分兑换商品 · a consumer redeems points for a product. Idempotency-Key required."""
    consumer = _consumer(principal)
    return idempotent(
        request,
        engine,
        principal,
        key,
        body,
        lambda: mall.place_order(engine, consumer, body.product_id, body.quantity, actor=principal.scope),
        status_code=201,
    )


@router.get("/orders", response_model=list[OrderOut])
def orders(
    engine: EngineDep,
    principal: UserDep,
    merchant_id: IdQuery = None,
    status_: Annotated[OrderStatus | None, Query(alias="status")] = None,
    before: Before = None,
    limit: Limit = 50,
) -> object:
    """我的兑换订单，或（带 merchant_id）本店的订单 · your redemptions, or your merchant's orders."""
    if merchant_id is not None:
        may_act_for_merchant(principal, merchant_id)
        rows = mall.list_orders(engine, merchant_id=merchant_id, status=status_, before=before, limit=limit)
    else:
        rows = mall.list_orders(
            engine, consumer_id=_consumer(principal), status=status_, before=before, limit=limit
        )
    return plain(rows)


@router.get("/orders/{order_id}", response_model=OrderOut)
def order(order_id: Id, engine: EngineDep, principal: UserDep) -> object:
    """一笔兑换订单及其状态记录 · an order and its transitions, for its consumer, merchant and operators."""
    return plain(mall.get_order(engine, order_id, _viewer(principal)))


@router.post("/orders/{order_id}/ship", response_model=OrderOut, responses=CHANGES)
def ship(
    order_id: Id,
    body: ShipIn,
    request: Request,
    engine: EngineDep,
    principal: UserDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """商家发货 · the merchant ships (a carrier and tracking number in the note)."""
    may_act_for_merchant(principal, body.merchant_id)
    return idempotent(
        request,
        engine,
        principal,
        key,
        body,
        lambda: mall.ship(engine, order_id, body.merchant_id, note=body.note, actor=principal.scope),
    )


@router.post("/orders/{order_id}/deliver", response_model=OrderOut, responses=CHANGES)
def deliver(
    order_id: Id, request: Request, engine: EngineDep, principal: UserDep, key: IdempotencyKey = None
) -> JSONResponse:
    """消费者确认收货，积分转给商家（扣除手续费）· the consumer confirms delivery; points go to the merchant."""
    consumer = _consumer(principal)
    return idempotent(
        request,
        engine,
        principal,
        key,
        None,
        lambda: mall.confirm_delivery(engine, order_id, consumer, actor=principal.scope),
    )


@router.post("/orders/{order_id}/cancel", response_model=OrderOut, responses=CHANGES)
def cancel(
    order_id: Id,
    body: CancelIn,
    request: Request,
    engine: EngineDep,
    principal: UserDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """发货前取消（消费者，或带 merchant_id 的商家），积分全额退回 · cancel before shipping; a full refund."""
    if body.merchant_id is not None:
        may_act_for_merchant(principal, body.merchant_id)
        member = body.merchant_id
    else:
        member = _consumer(principal)
    return idempotent(
        request,
        engine,
        principal,
        key,
        body,
        lambda: mall.cancel(engine, order_id, member, reason=body.reason, actor=principal.scope),
    )


@router.get("/overview", response_model=OverviewOut)
def overview(engine: EngineDep, principal: OperatorDep) -> object:
    """运营概览：商品、订单、托管积分、手续费与绿色奖励 · the operators' overview of the mall."""
    return plain(mall.overview(engine))
