"""Commands for the points mall: products by region, redemptions and their delivery, green
certification, the automatic-delivery sweep and the operator's overview.

Members act through the web; these commands are for the operator, who may act for a merchant
or a consumer when support needs it (every act is logged with `--actor`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from sharebuy.cli.output import STATE, emit
from sharebuy.kernel.clock import parse_moment
from sharebuy.kernel.errors import InvalidInput
from sharebuy.mall import service as mall

Json = Annotated[bool, typer.Option("--json", help="输出一个 JSON 对象 · print one JSON object")]
Actor = Annotated[str, typer.Option("--actor", help="记录在案的操作人 · the operator on record")]
At = Annotated[str | None, typer.Option("--at", help="ISO-8601 时间，默认现在 · default now")]
OPERATOR = mall.Viewer(operator=True)
mall_app = typer.Typer(help="积分商城（区域产品兑换）· the points mall", no_args_is_help=True)


def _at(at: str | None) -> datetime | None:
    return parse_moment(at) if at is not None else None


def _merchant_of(product_id: int) -> int:
    return int(mall.get_product(STATE.engine(), product_id, operator=True)["merchant_id"])


@mall_app.command("products")
def products(
    region: Annotated[str | None, typer.Option("--region", help="省 2 位、市 4 位或区县 6 位代码")] = None,
    merchant: Annotated[int | None, typer.Option("--merchant")] = None,
    all_: Annotated[bool, typer.Option("--all", help="含已下架 · include paused")] = False,
    before: Annotated[int | None, typer.Option("--before", help="翻页：早于此商品 ID")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=200)] = 50,
    json_out: Json = False,
) -> None:
    """商品列表（最新在前）· products, newest first."""
    rows = mall.browse(
        STATE.engine(), region=region, merchant_id=merchant, include_paused=all_, before=before, limit=limit
    )
    emit({"products": rows}, json_out, "products")


@mall_app.command("product")
def product(product_id: int, json_out: Json = False) -> None:
    """查看一件商品 · one product."""
    emit(mall.get_product(STATE.engine(), product_id, operator=True), json_out, f"product {product_id}")


@mall_app.command("add")
def add(
    merchant: Annotated[int, typer.Option("--merchant", help="上架的商家 ID")],
    title: Annotated[str, typer.Option("--title", help="中文标题")],
    price: Annotated[str, typer.Option("--price", help="每件积分价，如 150")],
    stock: Annotated[int, typer.Option("--stock", help="初始库存")],
    title_en: Annotated[str, typer.Option("--title-en")] = "",
    description: Annotated[str, typer.Option("--description", help="中文描述")] = "",
    description_en: Annotated[str, typer.Option("--description-en")] = "",
    picture: Annotated[str | None, typer.Option("--picture", help="https:// 图片地址")] = None,
    region: Annotated[str | None, typer.Option("--region", help="6 位行政区划代码，默认商家所在地")] = None,
    actor: Actor = "operator",
    json_out: Json = False,
) -> None:
    """代商家上架商品 · list a product for a merchant."""
    found = mall.create_product(
        STATE.engine(),
        merchant,
        title_zh=title,
        title_en=title_en,
        description_zh=description,
        description_en=description_en,
        picture_url=picture,
        price=price,
        stock=stock,
        region=region,
        actor=actor,
    )
    emit(found, json_out, "product")


@mall_app.command("status")
def status(product_id: int, value: str, actor: Actor = "operator", json_out: Json = False) -> None:
    """上架（active）或下架（paused）· put a product on or off the shelf."""
    found = mall.update_product(
        STATE.engine(), _merchant_of(product_id), product_id, {"status": value}, actor=actor
    )
    emit(found, json_out, "product")


@mall_app.command("restock")
def restock(product_id: int, quantity: int, actor: Actor = "operator", json_out: Json = False) -> None:
    """补货 · add stock to a product."""
    found = mall.add_stock(STATE.engine(), _merchant_of(product_id), product_id, quantity, actor=actor)
    emit(found, json_out, "product")


@mall_app.command("green")
def green(
    product_id: int,
    off: Annotated[bool, typer.Option("--off", help="撤销绿色认证")] = False,
    actor: Actor = "operator",
    json_out: Json = False,
) -> None:
    """认证绿色商品（--off 撤销）· certify a product green, or withdraw it with --off."""
    emit(mall.certify_green(STATE.engine(), product_id, not off, actor=actor), json_out, "product")


@mall_app.command("redeem")
def redeem(
    consumer: Annotated[int, typer.Option("--consumer")],
    product_id: Annotated[int, typer.Option("--product")],
    quantity: Annotated[str, typer.Option("--quantity")] = "1",
    at: At = None,
    actor: Actor = "operator",
    json_out: Json = False,
) -> None:
    """代消费者兑换 · redeem for a consumer (points into the mall escrow)."""
    found = mall.place_order(STATE.engine(), consumer, product_id, quantity, actor=actor, now=_at(at))
    emit(found, json_out, "order")


@mall_app.command("orders")
def orders(
    consumer: Annotated[int | None, typer.Option("--consumer")] = None,
    merchant: Annotated[int | None, typer.Option("--merchant")] = None,
    status_: Annotated[
        str | None, typer.Option("--status", help="placed、shipped、delivered 或 cancelled")
    ] = None,
    before: Annotated[int | None, typer.Option("--before")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=200)] = 50,
    json_out: Json = False,
) -> None:
    """兑换订单（最新在前）· orders, newest first."""
    if status_ is not None and status_ not in ("placed", "shipped", "delivered", "cancelled"):
        raise InvalidInput(
            "invalid_status",
            "状态只能是 placed、shipped、delivered 或 cancelled",
            "status is placed, shipped, delivered or cancelled",
        )
    rows = mall.list_orders(
        STATE.engine(), consumer_id=consumer, merchant_id=merchant, status=status_, before=before, limit=limit
    )
    emit({"orders": rows}, json_out, "orders")


@mall_app.command("order")
def order(order_id: int, json_out: Json = False) -> None:
    """一笔订单及其状态记录（到期的自动收货先生效）· one order and its log."""
    emit(mall.get_order(STATE.engine(), order_id, OPERATOR), json_out, f"order {order_id}")


def _order(order_id: int) -> dict[str, object]:
    return mall.get_order(STATE.engine(), order_id, OPERATOR)


@mall_app.command("ship")
def ship(
    order_id: int,
    note: Annotated[str, typer.Option("--note", help="快递公司与单号")] = "",
    at: At = None,
    actor: Actor = "operator",
    json_out: Json = False,
) -> None:
    """代商家发货 · ship for the merchant."""
    merchant = int(str(_order(order_id)["merchant_id"]))
    emit(
        mall.ship(STATE.engine(), order_id, merchant, note=note, actor=actor, now=_at(at)), json_out, "order"
    )


@mall_app.command("deliver")
def deliver(order_id: int, at: At = None, actor: Actor = "operator", json_out: Json = False) -> None:
    """代消费者确认收货 · confirm delivery for the consumer."""
    consumer = int(str(_order(order_id)["consumer_id"]))
    emit(
        mall.confirm_delivery(STATE.engine(), order_id, consumer, actor=actor, now=_at(at)), json_out, "order"
    )


@mall_app.command("cancel")
def cancel(
    order_id: int,
    by: Annotated[str, typer.Option("--by", help="consumer 或 merchant")] = "consumer",
    reason: Annotated[str, typer.Option("--reason")] = "",
    at: At = None,
    actor: Actor = "operator",
    json_out: Json = False,
) -> None:
    """发货前取消，积分全额退回 · cancel before shipping, on behalf of --by; a full refund."""
    if by not in ("consumer", "merchant"):
        raise InvalidInput(
            "invalid_party", "--by 只能是 consumer 或 merchant", "--by is consumer or merchant"
        )
    member = int(str(_order(order_id)[f"{by}_id"]))
    found = mall.cancel(STATE.engine(), order_id, member, reason=reason, actor=actor, now=_at(at))
    emit(found, json_out, "order")


@mall_app.command("sweep")
def sweep(at: At = None, json_out: Json = False) -> None:
    """发货后到期的订单自动确认收货 · deliver every shipped order past its confirmation period."""
    emit(mall.sweep(STATE.engine(), _at(at)), json_out, "sweep")


@mall_app.command("overview")
def overview(json_out: Json = False) -> None:
    """运营概览 · the operator's overview: products, orders, escrow, fees, green bonus."""
    emit(mall.overview(STATE.engine()), json_out, "mall")


def register(app: typer.Typer) -> None:
    app.add_typer(mall_app, name="mall")
