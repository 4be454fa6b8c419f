"""The points-mall pages over HTTP: a shop lists a product, a consumer browses by region and
redeems it once however often the form is sent, the shop ships, the consumer confirms delivery,
an operator certifies green; refusals land next to their field; strangers are turned away."""

from __future__ import annotations

import re
from typing import Any

from sharebuy.db.uow import reading
from sharebuy.kernel.amounts import Points
from sharebuy.ledger import repository as ledger
from sharebuy.ledger.verify import verify
from sharebuy.mall import service as mall
from sharebuy.rewards import checks
from tests.integration.market_world import fund
from tests.web.test_pages import Browser, field_error, token, world  # noqa: F401  (the fixture)


def _available(engine: Any, member: int) -> Points:
    with reading(engine) as conn:
        return Points(ledger.balances(conn, str(member))["available"])


def test_a_redemption_through_the_pages(world: dict[str, Any]) -> None:  # noqa: F811
    engine, shop, consumer = world["engine"], world["shop"], world["consumer"]
    fund(engine, consumer, "500")
    owner = Browser(world["app"])
    owner.sign_in("13800000002")
    listed = owner.submit(
        f"/mall/shop?as={shop}",
        "/mall/shop/products",
        {"as": str(shop), "title_zh": "荔枝礼盒", "title_en": "Lychee box", "price": "150", "stock": "3"},
    )
    assert listed.status_code == 303, listed.text
    bad = owner.submit(
        f"/mall/shop?as={shop}",
        "/mall/shop/products",
        {"as": str(shop), "title_zh": "坏图", "price": "1", "stock": "1", "picture_url": "http://x.cn/a.jpg"},
    )
    assert bad.status_code == 422 and field_error(bad.text, "picture_url")
    product = mall.browse(engine)[0]

    person = Browser(world["app"])
    person.sign_in("13800000001")
    assert "荔枝礼盒" in person.get("/mall?region=4419").text
    assert "荔枝礼盒" not in person.get("/mall?region=11").text
    before = _available(engine, consumer)
    page = person.get(f"/mall/products/{product['id']}").text
    form = {"csrf_token": token(page), "idempotency_key": token(page, "idempotency_key"), "quantity": "2"}
    first = person.client.post(f"/mall/products/{product['id']}/redeem", data=form, follow_redirects=False)
    again = person.client.post(f"/mall/products/{product['id']}/redeem", data=form, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert len(mall.list_orders(engine, consumer_id=consumer)) == 1  # the double submit redeemed once
    assert _available(engine, consumer) == before - Points.parse("300")
    too_many = person.submit(
        f"/mall/products/{product['id']}", f"/mall/products/{product['id']}/redeem", {"quantity": "2"}
    )
    assert too_many.status_code == 422 and field_error(too_many.text, "quantity")

    order = mall.list_orders(engine, consumer_id=consumer)[0]
    shipped = owner.submit(
        f"/mall/shop?as={shop}", f"/mall/shop/orders/{order['id']}/ship", {"as": str(shop), "note": "SF 1"}
    )
    assert shipped.status_code == 303
    assert "SF 1" in person.get("/mall/orders").text
    delivered = person.submit("/mall/orders", f"/mall/orders/{order['id']}/deliver", {})
    assert delivered.status_code == 303
    assert mall.get_order(engine, order["id"], mall.Viewer(operator=True))["status"] == "delivered"

    boss = Browser(world["app"])
    boss.sign_in("boss")
    assert "荔枝礼盒" in boss.get("/ops/mall").text
    certified = boss.submit("/ops/mall", f"/ops/mall/products/{product['id']}/green", {"green": "1"})
    assert certified.status_code == 303 and mall.get_product(engine, product["id"])["green"] is True
    assert verify(engine, checks.CHECKS).ok


def test_strangers_are_turned_away(world: dict[str, Any]) -> None:  # noqa: F811
    person = Browser(world["app"])
    person.sign_in("13800000001")
    shop = world["shop"]
    assert person.get(f"/mall/shop?as={shop}").status_code == 403  # not the consumer's shop
    assert person.get("/mall/shop").status_code == 403  # the consumer has no shop
    assert person.get("/ops/mall").status_code == 403
    anonymous = Browser(world["app"])
    assert anonymous.get("/mall").status_code == 303  # to the sign-in page
    page = person.get("/mall").text
    refused = person.client.post(
        "/ops/mall/products/1/green", data={"csrf_token": token(page), "green": "1"}, follow_redirects=False
    )
    assert refused.status_code == 403
    assert re.search(r"积分商城", page)
