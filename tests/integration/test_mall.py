"""The points mall on SQLite and PostgreSQL: listing by region, redemption from placing to
delivery or cancellation, the fee and the green bonus, automatic delivery, refusals, and
verify (stock and mall escrow conservation, I2 with the mall escrow) after every scenario."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, update

from sharebuy.db.uow import UnitOfWork
from sharebuy.kernel.amounts import Points, ShareValue
from sharebuy.kernel.errors import SharebuyError
from sharebuy.ledger.verify import verify
from sharebuy.mall import service as mall
from sharebuy.mall.models import products
from sharebuy.members import service as members
from sharebuy.rewards import checks
from tests.integration.mall_world import Mall, build_mall

P = Points.parse


def _code(call: object) -> str:
    with pytest.raises(SharebuyError) as caught:
        call()  # type: ignore[operator]
    return caught.value.code


@pytest.fixture
def world(engine: Engine) -> Mall:
    return build_mall(engine)


def test_products_are_browsed_by_province_city_and_district(world: Mall) -> None:
    lychee = world.product(title_en="Lychee box", picture_url="https://img.example.cn/l.jpg")
    duck = world.product(world.other_merchant, title_zh="烤鸭", price="80", stock=5)
    elsewhere = world.product(title_zh="莞城腊肠", region="441302", price="20")
    assert lychee["region_code"] == "441900" and lychee["price"] == P("150") and lychee["stock"] == 10

    def ids(**kw: object) -> set[int]:
        return {p["id"] for p in mall.browse(world.engine, **kw)}  # type: ignore[arg-type]

    assert ids() == {lychee["id"], duck["id"], elsewhere["id"]}
    assert ids(region="44") == ids(region="440000") == {lychee["id"], elsewhere["id"]}
    assert ids(region="4419") == ids(region="441900") == {lychee["id"]}
    assert ids(region="4413") == {elsewhere["id"]}
    assert ids(region="11") == ids(region="110105") == {duck["id"]}
    assert ids(region="12") == set()
    mall.update_product(world.engine, world.merchant, lychee["id"], {"status": "paused"}, actor="t")
    assert lychee["id"] not in ids(region="44")
    # A paused product is its merchant's and the operators' to see, nobody else's.
    assert (
        mall.get_product(world.engine, lychee["id"], members_=frozenset({world.merchant}))["status"]
        == "paused"
    )
    assert _code(lambda: mall.get_product(world.engine, lychee["id"])) == "product_not_found"
    assert _code(lambda: mall.browse(world.engine, region="4")) == "invalid_region_filter"
    world.verified()


def test_product_input_is_checked(world: Mall) -> None:
    assert _code(lambda: world.product(picture_url="http://img.example.cn/a.jpg")) == "invalid_picture_url"
    assert _code(lambda: world.product(picture_url="javascript:alert(1)")) == "invalid_picture_url"
    assert _code(lambda: world.product(price="0")) == "invalid_price"
    assert _code(lambda: world.product(price="-1")) == "invalid_price"
    assert _code(lambda: world.product(price="1.00001")) == "too_many_decimals"
    assert _code(lambda: world.product(stock=-1)) == "invalid_stock"
    assert _code(lambda: world.product(stock="1.5")) == "invalid_stock"
    assert _code(lambda: world.product(title_zh=" ")) == "text_required"
    assert _code(lambda: world.product(region="991234")) == "invalid_region"
    # Only an active merchant lists: an applicant does not.
    applicant = members.add_merchant(
        world.engine, name="新店", owner_id=world.consumers[2], region="441900", rate="0.1"
    )
    assert _code(lambda: world.product(applicant)) == "merchant_not_active"
    world.verified()


def test_a_redemption_from_placing_to_delivery(world: Mall) -> None:
    buyer = world.consumers[0]
    product = world.product(price="150", stock=10)
    merchant_before = world.points(world.merchant)
    order = world.redeem(buyer, product["id"], 2)
    assert order["status"] == "placed" and order["points"] == P("300")
    assert world.points(buyer) == P("700")
    assert world.points("platform", "mall_escrow") == P("300")
    assert mall.get_product(world.engine, product["id"])["stock"] == 8
    report = world.verified()
    assert report["mall"]["escrow"] == "300.0000"

    # The consumer cannot ship, the merchant cannot confirm delivery.
    assert _code(lambda: mall.ship(world.engine, order["id"], buyer, actor="t")) == "order_role_forbidden"
    shipped = mall.ship(
        world.engine, order["id"], world.merchant, note="顺丰 SF123", actor="t", now=world.clock()
    )
    assert shipped["status"] == "shipped" and shipped["shipping_note"] == "顺丰 SF123"
    assert shipped["deliver_by"] == world.clock() + timedelta(days=7)
    assert (
        _code(lambda: mall.cancel(world.engine, order["id"], buyer, actor="t", now=world.clock()))
        == "invalid_order_transition"
    )
    world.verified()

    done = mall.confirm_delivery(world.engine, order["id"], buyer, actor="t", now=world.clock())
    assert done["status"] == "delivered" and done["fee"] == P("6")  # 2% of 300
    assert world.points(world.merchant) == merchant_before + P("294")
    assert world.points("platform", "mall_escrow") == P("0")
    assert world.points("platform", "fees") == P("6")
    assert world.share_value(buyer) == ShareValue(0)  # not a green product
    assert [t["event"] for t in done["transitions"]] == ["placed", "shipped", "delivered"]
    assert _code(
        lambda: mall.confirm_delivery(world.engine, order["id"], buyer, actor="t", now=world.clock())
    ) == ("invalid_order_transition")
    world.verified()


def test_cancellations_refund_in_full_and_restock(world: Mall) -> None:
    buyer = world.consumers[0]
    product = world.product(price="100", stock=3)
    first = world.redeem(buyer, product["id"], 2)
    second = world.redeem(buyer, product["id"], 1)
    assert world.points(buyer) == P("700")
    by_consumer = mall.cancel(world.engine, first["id"], buyer, reason="不要了", actor="t")
    assert by_consumer["status"] == "cancelled" and by_consumer["transitions"][-1]["role"] == "consumer"
    by_merchant = mall.cancel(world.engine, second["id"], world.merchant, reason="缺货", actor="t")
    assert by_merchant["transitions"][-1]["role"] == "merchant"
    assert world.points(buyer) == P("1000")
    assert world.points("platform", "mall_escrow") == P("0")
    assert mall.get_product(world.engine, product["id"])["stock"] == 3
    # Someone else's order is not there for a stranger or the other merchant.
    for stranger in (world.consumers[1], world.other_merchant):
        assert (
            _code(lambda s=stranger: mall.cancel(world.engine, first["id"], s, actor="t"))
            == "order_not_found"
        )
    world.verified()


def test_refusals_write_nothing(world: Mall) -> None:
    buyer, poor = world.consumers[0], world.consumers[1]
    product = world.product(price="150", stock=10)
    for bad in (0, -1, 101, "1.5", "x", True):
        assert _code(lambda b=bad: world.redeem(buyer, product["id"], b)) == "invalid_quantity"
    assert _code(lambda: world.redeem(buyer, product["id"], 11)) == "out_of_stock"
    assert _code(lambda: world.redeem(buyer, 999_999)) == "product_not_found"
    assert _code(lambda: world.redeem(world.owner, product["id"])) == "self_dealing"
    assert _code(lambda: world.redeem(world.merchant, product["id"])) == "consumer_cannot_redeem"
    # 7 × 150 = 1050 > 1000: refused, and the stock it would have taken is still there.
    assert _code(lambda: world.redeem(poor, product["id"], 7)) == "insufficient_points"
    assert mall.get_product(world.engine, product["id"])["stock"] == 10
    # A merchant manages only its own products.
    assert (
        _code(
            lambda: mall.update_product(
                world.engine, world.other_merchant, product["id"], {"price": "1"}, actor="t"
            )
        )
        == "product_not_found"
    )
    assert _code(lambda: mall.add_stock(world.engine, world.other_merchant, product["id"], 5, actor="t")) == (
        "product_not_found"
    )
    assert (
        _code(
            lambda: mall.update_product(world.engine, world.merchant, product["id"], {"stock": 99}, actor="t")
        )
        == "field_not_editable"
    )
    mall.update_product(world.engine, world.merchant, product["id"], {"status": "paused"}, actor="t")
    assert _code(lambda: world.redeem(buyer, product["id"])) == "product_paused"
    assert world.points(buyer) == P("1000") and world.points("platform", "mall_escrow") == P("0")
    world.verified()


def test_restocking_keeps_stock_conserved(world: Mall) -> None:
    product = world.product(price="10", stock=1)
    world.redeem(world.consumers[0], product["id"], 1)
    assert _code(lambda: world.redeem(world.consumers[1], product["id"], 1)) == "out_of_stock"
    restocked = mall.add_stock(world.engine, world.merchant, product["id"], 4, actor="t")
    assert restocked["stock"] == 4
    assert (
        _code(lambda: mall.add_stock(world.engine, world.merchant, product["id"], 0, actor="t"))
        == "invalid_stock"
    )
    world.redeem(world.consumers[1], product["id"], 4)
    world.verified()


def test_shipped_orders_are_delivered_automatically(world: Mall) -> None:
    buyer = world.consumers[0]
    product = world.product(price="50", stock=5)
    swept = world.redeem(buyer, product["id"], 1)
    lazy = world.redeem(buyer, product["id"], 1)
    for order in (swept, lazy):
        mall.ship(world.engine, order["id"], world.merchant, actor="t", now=world.clock())
    world.clock.advance(days=6, hours=23)
    assert mall.sweep(world.engine, now=world.clock())["delivered"] == 0
    world.clock.advance(hours=1)
    # Read before the sweep: the read delivers it first.
    seen = mall.get_order(world.engine, lazy["id"], mall.Viewer(frozenset({buyer})), now=world.clock())
    assert seen["status"] == "delivered" and seen["transitions"][-1]["role"] == "system"
    assert mall.sweep(world.engine, now=world.clock())["delivered"] == 1
    assert mall.get_order(world.engine, swept["id"], mall.Viewer(operator=True), now=world.clock())[
        "status"
    ] == ("delivered")
    assert world.points("platform", "mall_escrow") == P("0")
    assert world.points("platform", "fees") == P("2")  # 2% of 2 × 50
    world.verified()


def test_a_green_product_earns_share_value_on_delivery(engine: Engine) -> None:
    world = build_mall(engine, rules={"mall_fee_rate": "0.01", "mall_green_bonus_rate": "0.05"})
    buyer = world.consumers[0]
    product = world.product(price="150", stock=5)
    certified = mall.certify_green(world.engine, product["id"], True, actor="admin")
    assert certified["green"] is True
    order = world.redeem(buyer, product["id"], 2)
    assert order["green"] is True
    mall.ship(world.engine, order["id"], world.merchant, actor="t", now=world.clock())
    done = mall.confirm_delivery(world.engine, order["id"], buyer, actor="t", now=world.clock())
    # 300 points × 1.0000 CNY (guide price) × 5% = 15.00 SV; the fee is 1% = 3 points.
    assert done["green_share_value"] == ShareValue.parse("15.00") and done["fee"] == P("3")
    assert world.share_value(buyer) == ShareValue.parse("15.00")
    # A cancelled green redemption earns nothing.
    other = world.redeem(buyer, product["id"], 1)
    mall.cancel(world.engine, other["id"], buyer, actor="t")
    assert world.share_value(buyer) == ShareValue.parse("15.00")
    world.verified()


def test_verify_names_broken_stock_and_escrow(world: Mall) -> None:
    product = world.product(price="10", stock=5)
    world.redeem(world.consumers[0], product["id"], 2)
    world.verified()
    with UnitOfWork(world.engine) as uow:
        uow.c.execute(update(products).where(products.c.id == product["id"]).values(stock=4))
        uow.commit()
    report = verify(world.engine, checks.CHECKS).as_dict()
    assert not report["ok"]
    assert not report["checks"]["mall_stock_conserved"]["ok"]
    assert report["checks"]["mall_escrow_conserved"]["ok"]


def test_mall_events_go_to_the_merchant(world: Mall) -> None:
    from sqlalchemy import select

    from sharebuy.events.models import outbox_events

    product = world.product(price="10", stock=5)
    order = world.redeem(world.consumers[0], product["id"], 1)
    mall.ship(world.engine, order["id"], world.merchant, actor="t", now=world.clock())
    mall.confirm_delivery(world.engine, order["id"], world.consumers[0], actor="t", now=world.clock())
    cancelled = world.redeem(world.consumers[0], product["id"], 1)
    mall.cancel(world.engine, cancelled["id"], world.merchant, actor="t")
    with UnitOfWork(world.engine, readonly=True) as uow:
        rows = uow.c.execute(
            select(outbox_events.c.topic, outbox_events.c.merchant_id)
            .where(outbox_events.c.topic.like("mall.%"))
            .order_by(outbox_events.c.id)
        ).all()
    assert [r[0] for r in rows] == [
        "mall.order.placed",
        "mall.order.shipped",
        "mall.order.delivered",
        "mall.order.placed",
        "mall.order.cancelled",
    ]
    assert {r[1] for r in rows} == {world.merchant}
