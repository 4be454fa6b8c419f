"""The points-mall pages (积分商城): consumers browse products by region, redeem them (each form
carries an idempotency key, so a double submit redeems once) and follow their orders; a shop's
owner or staff list, pause and restock its products and ship or cancel its orders
(`as=<merchant id>`); operators see the overview and certify products green.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Response

from sharebuy.kernel.errors import SharebuyError
from sharebuy.mall import service as mall
from sharebuy.members import queries as member_queries
from sharebuy.web.api.common import plain
from sharebuy.web.pages.common import (
    FormDep,
    Page,
    PageDenied,
    PageDep,
    PageRoute,
    acting_for,
    field_errors,
    member_of,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)

AS = Query("", max_length=20, pattern=r"^\d*$", alias="as")
REGION = Query("", max_length=6, alias="region")
REDEEM_FIELDS = {
    "invalid_quantity": "quantity",
    "out_of_stock": "quantity",
    "insufficient_points": "quantity",
}
PRODUCT_FIELDS = {
    "text_required": "title_zh",
    "invalid_text": "title_zh",
    "invalid_price": "price",
    "too_many_decimals": "price",
    "invalid_decimal": "price",
    "invalid_stock": "stock",
    "invalid_picture_url": "picture_url",
    "invalid_region": "region",
}


def _denied() -> PageDenied:
    return PageDenied("forbidden", "无权执行此操作或访问此对象", "you may not do this or see this")


def _region(text: str) -> str:
    """A malformed filter is ignored on a page (the API refuses it): the page still shows."""
    return text if re.fullmatch(r"\d{2}|\d{4}|\d{6}", text or "") else ""


# -- consumers ---------------------------------------------------------------------------------------


def _index(page: Page, region: str, status_code: int = 200, **context: Any) -> Response:
    member = member_of(page)
    products = plain(mall.browse(page.engine, region=region or None, limit=100))
    return page.render(
        "mall/index.html",
        status_code=status_code,
        title=page._("Points mall"),
        products=products,
        region=region,
        balance=plain(member_queries.consumer_balance(page.engine, member)),
        **context,
    )


@router.get("/mall")
def index(page: PageDep, region: str = REGION) -> Response:
    if page.user.is_operator:
        return page.redirect("/ops/mall")
    return _index(page, _region(region))


def _product(page: Page, product_id: int, status_code: int = 200, **context: Any) -> Response:
    member = member_of(page)
    viewer = frozenset({member, *page.user.merchant_ids})
    product = plain(mall.get_product(page.engine, product_id, members_=viewer))
    return page.render(
        "mall/product.html",
        status_code=status_code,
        title=product["title_zh"] if page.lang == "zh" or not product["title_en"] else product["title_en"],
        product=product,
        balance=plain(member_queries.consumer_balance(page.engine, member)),
        **context,
    )


@router.get("/mall/products/{product_id}")
def product(page: PageDep, product_id: int) -> Response:
    return _product(page, product_id)


@router.post("/mall/products/{product_id}/redeem")
def redeem(page: PageDep, form: FormDep, product_id: int) -> Response:
    consumer = member_of(page)
    quantity = form.get("quantity")
    try:
        order, _replayed = page.once(
            form.key,
            {"quantity": quantity},
            lambda: mall.place_order(page.engine, consumer, product_id, quantity, actor=page.user.scope),
        )
    except SharebuyError as error:
        if error.status == 404:
            raise
        return _product(
            page,
            product_id,
            error.status,
            values=form.echo(),
            errors=field_errors(page, error, REDEEM_FIELDS),
        )
    return page.redirect(
        "/mall/orders",
        page._("Redeemed: %(points)s points are held until you confirm delivery.", points=order["points"]),
    )


@router.get("/mall/orders")
def my_orders(page: PageDep) -> Response:
    consumer = member_of(page)
    orders = plain(mall.list_orders(page.engine, consumer_id=consumer, limit=100))
    return page.render("mall/orders.html", title=page._("My redemptions"), orders=orders)


@router.post("/mall/orders/{order_id}/deliver")
def deliver(page: PageDep, form: FormDep, order_id: int) -> Response:
    consumer = member_of(page)
    page.once(
        form.key,
        {},
        lambda: mall.confirm_delivery(page.engine, order_id, consumer, actor=page.user.scope),
    )
    return page.redirect("/mall/orders", page._("Delivery confirmed; the points went to the shop."))


@router.post("/mall/orders/{order_id}/cancel")
def cancel(page: PageDep, form: FormDep, order_id: int) -> Response:
    consumer = member_of(page)
    page.once(
        form.key,
        {},
        lambda: mall.cancel(page.engine, order_id, consumer, actor=page.user.scope),
    )
    return page.redirect("/mall/orders", page._("Order cancelled; every point is back in your wallet."))


# -- a shop's products and orders -------------------------------------------------------------------


def _shop_url(merchant: int) -> str:
    return f"/mall/shop?{urlencode({'as': merchant})}"


def _shop(page: Page, merchant_text: str, status_code: int = 200, **context: Any) -> Response:
    if not merchant_text:
        shops = sorted(page.user.merchant_ids)
        if not shops:
            raise _denied()
        merchant_text = str(shops[0])
    merchant = acting_for(page, merchant_text)
    if merchant == page.user.member_id:
        raise _denied()
    return page.render(
        "mall/shop.html",
        status_code=status_code,
        title=page._("Shop products and orders"),
        merchant=plain(member_queries.merchant_profile(page.engine, merchant)),
        as_id=merchant,
        products=plain(mall.browse(page.engine, merchant_id=merchant, include_paused=True, limit=200)),
        orders=plain(mall.list_orders(page.engine, merchant_id=merchant, limit=100)),
        **context,
    )


@router.get("/mall/shop")
def shop(page: PageDep, merchant: str = AS) -> Response:
    return _shop(page, merchant)


@router.post("/mall/shop/products")
def add_product(page: PageDep, form: FormDep) -> Response:
    merchant = acting_for(page, form.get("as") or "x")
    values = {
        name: form.get(name)
        for name in (
            "title_zh",
            "title_en",
            "description_zh",
            "description_en",
            "picture_url",
            "price",
            "stock",
            "region",
        )
    }
    try:
        page.once(
            form.key,
            {"as": merchant, **values},
            lambda: mall.create_product(
                page.engine,
                merchant,
                title_zh=values["title_zh"],
                title_en=values["title_en"],
                description_zh=values["description_zh"],
                description_en=values["description_en"],
                picture_url=values["picture_url"] or None,
                price=values["price"] or "0",
                stock=values["stock"] or "0",
                region=values["region"] or None,
                actor=page.user.scope,
            ),
        )
    except SharebuyError as error:
        if error.status in (403, 404):
            raise
        return _shop(
            page,
            str(merchant),
            error.status,
            values=form.echo(),
            errors=field_errors(page, error, PRODUCT_FIELDS),
        )
    return page.redirect(_shop_url(merchant), page._("Product listed."))


@router.post("/mall/shop/products/{product_id}/status")
def set_status(page: PageDep, form: FormDep, product_id: int) -> Response:
    merchant = acting_for(page, form.get("as") or "x")
    wanted = form.get("status")
    page.once(
        form.key,
        {"as": merchant, "status": wanted},
        lambda: mall.update_product(
            page.engine, merchant, product_id, {"status": wanted}, actor=page.user.scope
        ),
    )
    return page.redirect(_shop_url(merchant), page._("Product updated."))


@router.post("/mall/shop/products/{product_id}/stock")
def restock(page: PageDep, form: FormDep, product_id: int) -> Response:
    merchant = acting_for(page, form.get("as") or "x")
    more = form.get("quantity")
    page.once(
        form.key,
        {"as": merchant, "quantity": more},
        lambda: mall.add_stock(page.engine, merchant, product_id, more, actor=page.user.scope),
    )
    return page.redirect(_shop_url(merchant), page._("Stock added."))


@router.post("/mall/shop/orders/{order_id}/ship")
def ship(page: PageDep, form: FormDep, order_id: int) -> Response:
    merchant = acting_for(page, form.get("as") or "x")
    note = form.get("note")
    page.once(
        form.key,
        {"as": merchant, "note": note},
        lambda: mall.ship(page.engine, order_id, merchant, note=note, actor=page.user.scope),
    )
    return page.redirect(_shop_url(merchant), page._("Order shipped."))


@router.post("/mall/shop/orders/{order_id}/cancel")
def shop_cancel(page: PageDep, form: FormDep, order_id: int) -> Response:
    merchant = acting_for(page, form.get("as") or "x")
    page.once(
        form.key,
        {"as": merchant},
        lambda: mall.cancel(page.engine, order_id, merchant, actor=page.user.scope),
    )
    return page.redirect(
        _shop_url(merchant), page._("Order cancelled; the points went back to the consumer.")
    )


# -- operators -------------------------------------------------------------------------------------


@router.get("/ops/mall")
def overview(page: PageDep) -> Response:
    if not page.user.is_operator:
        raise _denied()
    return page.render(
        "operator/mall.html",
        title=page._("Points mall"),
        overview=plain(mall.overview(page.engine)),
        products=plain(mall.browse(page.engine, include_paused=True, limit=200)),
        is_admin=page.user.role == "admin",
    )


@router.post("/ops/mall/products/{product_id}/green")
def green(page: PageDep, form: FormDep, product_id: int) -> Response:
    if page.user.role != "admin":
        raise _denied()
    on = form.get("green") == "1"
    page.once(
        form.key,
        {"green": on},
        lambda: mall.certify_green(page.engine, product_id, on, actor=page.user.scope),
    )
    return page.redirect("/ops/mall", page._("Green certification updated."))
