"""The market's use cases on SQLite and PostgreSQL: listings and escrow, trades, buy orders,
quick buy, the abuse rules.  `verify` (with I6) runs after every scenario."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, select

from sharebuy.events.models import outbox_events
from sharebuy.kernel.amounts import Points
from sharebuy.kernel.errors import Conflict, Forbidden, InvalidInput, NotFound, Refused, SharebuyError
from sharebuy.market import queries
from sharebuy.market import service as market
from sharebuy.members import service as members
from tests.integration.market_world import (
    Clock,
    assert_verified,
    available,
    escrow,
    fees,
    fund,
    make_ready,
    trader,
)
from tests.integration.world import World, build, new_consumer


def code_of(call: Callable[[], Any]) -> str:
    with pytest.raises(SharebuyError) as caught:
        call()
    return caught.value.code


def setup(engine: Engine, **rules: object) -> tuple[World, Clock, int, int]:
    world = build(engine, consumers=0, rules=rules or None)
    clock = Clock()
    seller = trader(engine, now=clock(), points="100")
    buyer = trader(engine, now=clock())
    return world, clock, seller, buyer


def listing(
    engine: Engine, seller: int, clock: Clock, quantity: str = "10", price: str = "2", **kw: Any
) -> int:
    kw.setdefault("payment_kinds", ["alipay", "bank"])
    return int(
        market.create_listing(engine, seller, quantity=quantity, price=price, actor="t", now=clock(), **kw)[
            "id"
        ]
    )


def test_listing_moves_points_to_escrow_and_back(engine: Engine) -> None:
    _, clock, seller, _ = setup(engine)
    listing_id = listing(engine, seller, clock, "40")
    assert available(engine, seller) == Points.parse("60") and escrow(engine, seller) == Points.parse("40")
    paused = market.set_listing_status(engine, seller, listing_id, paused=True, now=clock())
    assert paused["status"] == "paused"
    assert queries.listing_book(engine) == []
    market.set_listing_status(engine, seller, listing_id, paused=False, now=clock())
    repriced = market.set_listing_price(engine, seller, listing_id, "2.5", now=clock())
    assert repriced["price"] == Points.parse("2.5") or str(repriced["price"]) == "2.5000"
    cancelled = market.cancel_listing(engine, seller, listing_id, actor="t", now=clock())
    assert cancelled["returned"] == Points.parse("40") and cancelled["status"] == "closed"
    assert available(engine, seller) == Points.parse("100") and escrow(engine, seller) == Points(0)
    assert (
        code_of(lambda: market.cancel_listing(engine, seller, listing_id, actor="t", now=clock()))
        == "listing_closed"
    )
    assert_verified(engine)


def test_listing_refusals(engine: Engine) -> None:
    _, clock, seller, buyer = setup(engine)
    assert code_of(lambda: listing(engine, seller, clock, "101")) == "insufficient_points"
    assert code_of(lambda: listing(engine, seller, clock, "0.5")) == "below_min_order"
    assert code_of(lambda: listing(engine, seller, clock, "10", "0")) == "invalid_price"
    assert (
        code_of(lambda: listing(engine, seller, clock, "10", payment_kinds=["wechat"]))
        == "payment_method_missing"
    )
    assert (
        code_of(lambda: listing(engine, seller, clock, "10", min_order="5", max_order="2"))
        == "invalid_order_bounds"
    )
    listing_id = listing(engine, seller, clock)
    assert (
        code_of(lambda: market.cancel_listing(engine, buyer, listing_id, actor="t", now=clock()))
        == "not_yours"
    )
    assert available(engine, seller) == Points.parse("90")
    assert_verified(engine)


def test_a_whole_trade_with_a_fee(engine: Engine) -> None:
    """10 listed at 2.00; 4 bought, paid, confirmed with a 1% fee: the buyer gets 3.9600 points,
    the fee account 0.0400, the listing keeps 6 in escrow."""
    _, clock, seller, buyer = setup(engine, c2c_fee_rate="0.01")
    listing_id = listing(engine, seller, clock)
    opened = market.take_listing(engine, buyer, listing_id, "4", actor="t", now=clock())
    assert opened["status"] == "awaiting_payment" and str(opened["amount"]) == "8.00"
    assert str(opened["fee"]) == "0.0400" and str(opened["buyer_receives"]) == "3.9600"
    assert [m["kind"] for m in opened["seller_payment_methods"]] == ["alipay", "bank"]
    assert str(queries.listing(engine, listing_id)["remaining"]) == "6.0000"
    assert escrow(engine, seller) == Points.parse("10")  # reserving moves no points
    paid = market.mark_paid(
        engine, opened["id"], buyer, "ALIPAY-0001", actor="t", now=clock.advance(minutes=3)
    )
    assert paid["status"] == "paid" and paid["payment_reference"] == "ALIPAY-0001"
    done = market.confirm(engine, opened["id"], seller, actor="t", now=clock.advance(minutes=3))
    assert done["status"] == "completed" and done["seller_payment_methods"] is None
    assert available(engine, buyer) == Points.parse("3.96")
    assert fees(engine) == Points.parse("0.04")
    assert escrow(engine, seller) == Points.parse("6")
    assert [t["event"] for t in done["transitions"]] == ["opened", "paid", "confirmed"]
    with engine.connect() as conn:
        topics = [row.topic for row in conn.execute(select(outbox_events.c.topic))]
    assert topics == ["market.trade.opened", "market.trade.paid", "market.trade.confirmed"]
    assert_verified(engine)


def test_who_may_do_what_to_a_trade(engine: Engine) -> None:
    _, clock, seller, buyer = setup(engine)
    stranger = trader(engine, now=clock())
    trade_id = market.take_listing(
        engine, buyer, listing(engine, seller, clock), "2", actor="t", now=clock()
    )["id"]
    with pytest.raises(Forbidden):
        market.mark_paid(engine, trade_id, seller, "x", actor="t", now=clock())  # a seller cannot mark paid
    with pytest.raises(NotFound):
        market.mark_paid(engine, trade_id, stranger, "x", actor="t", now=clock())
    market.mark_paid(engine, trade_id, buyer, "ref", actor="t", now=clock())
    with pytest.raises(Forbidden):
        market.confirm(engine, trade_id, buyer, actor="t", now=clock())  # a buyer cannot confirm
    with pytest.raises(Conflict):
        market.cancel(engine, trade_id, buyer, actor="t", now=clock())  # paid: too late to cancel
    # Payment details: the buyer of an open trade only.
    seen = {
        who: market.get_trade(engine, trade_id, market.Viewer(frozenset({who})), now=clock())
        for who in (buyer, seller)
    }
    assert seen[buyer]["seller_payment_methods"] and seen[seller]["seller_payment_methods"] is None
    with pytest.raises(NotFound):
        market.get_trade(engine, trade_id, market.Viewer(frozenset({stranger})), now=clock())
    operator = market.get_trade(engine, trade_id, market.Viewer(operator=True), now=clock())
    assert all(m["account_id"].startswith("****") for m in operator["seller_payment_methods"])
    market.confirm(engine, trade_id, seller, actor="t", now=clock())
    closed = market.get_trade(engine, trade_id, market.Viewer(frozenset({buyer})), now=clock())
    assert closed["seller_payment_methods"] is None  # no longer open
    assert_verified(engine)


def test_cancellation_returns_to_the_listing_or_the_seller(engine: Engine) -> None:
    _, clock, seller, buyer = setup(engine)
    listing_id = listing(engine, seller, clock)
    first = market.take_listing(engine, buyer, listing_id, "3", actor="t", now=clock())["id"]
    second = market.take_listing(engine, buyer, listing_id, "2", actor="t", now=clock())["id"]
    market.cancel(engine, first, buyer, reason="changed my mind", actor="t", now=clock())
    assert str(queries.listing(engine, listing_id)["remaining"]) == "8.0000"
    closed = market.cancel_listing(engine, seller, listing_id, actor="t", now=clock())
    assert str(closed["returned"]) == "8.0000" and str(closed["in_trades"]) == "2.0000"
    assert escrow(engine, seller) == Points.parse("2")  # the open trade still holds its 2
    market.cancel(engine, second, buyer, actor="t", now=clock())
    assert escrow(engine, seller) == Points(0) and available(engine, seller) == Points.parse("100")
    assert str(queries.listing(engine, listing_id)["remaining"]) == "0.0000"
    assert_verified(engine)


def test_a_listing_sold_out_closes_itself(engine: Engine) -> None:
    _, clock, seller, buyer = setup(engine)
    listing_id = listing(engine, seller, clock, "2")
    trade_id = market.take_listing(engine, buyer, listing_id, "2", actor="t", now=clock())["id"]
    assert (
        code_of(lambda: market.take_listing(engine, buyer, listing_id, "1", actor="t", now=clock()))
        == "sold_out"
    )
    market.mark_paid(engine, trade_id, buyer, "r", actor="t", now=clock())
    market.confirm(engine, trade_id, seller, actor="t", now=clock())
    found = queries.listing(engine, listing_id)
    assert (found["status"], found["closed_reason"]) == ("closed", "filled")
    assert_verified(engine)


def test_order_sizes(engine: Engine) -> None:
    _, clock, seller, buyer = setup(engine)
    listing_id = listing(engine, seller, clock, "10.5", min_order="2", max_order="5")
    assert (
        code_of(lambda: market.take_listing(engine, buyer, listing_id, "1", actor="t", now=clock()))
        == "order_size"
    )
    assert (
        code_of(lambda: market.take_listing(engine, buyer, listing_id, "6", actor="t", now=clock()))
        == "order_size"
    )
    for _ in range(2):
        market.take_listing(engine, buyer, listing_id, "5", actor="t", now=clock())
    # the last half point is below the minimum, but may be taken whole
    crumb = market.take_listing(engine, buyer, listing_id, "0.5", actor="t", now=clock())
    assert str(crumb["quantity"]) == "0.5000"
    assert_verified(engine)


def test_buy_orders(engine: Engine) -> None:
    _, clock, seller, buyer = setup(engine, c2c_fee_rate="0.005")
    order = market.create_buy_order(
        engine, buyer, quantity="20", price="1.5", payment_kinds=["bank"], min_order="5", now=clock()
    )
    assert [o["id"] for o in queries.buy_order_book(engine)] == [order["id"]]
    fill = market.fill_buy_order(engine, seller, order["id"], "8", actor="t", now=clock())
    assert fill["buyer_id"] == buyer and fill["your_role"] == "seller"
    seen = market.get_trade(engine, fill["id"], market.Viewer(frozenset({buyer})), now=clock())
    assert [m["kind"] for m in seen["seller_payment_methods"]] == ["bank"]
    assert escrow(engine, seller) == Points.parse("8") and available(engine, seller) == Points.parse("92")
    assert str(queries.buy_order(engine, order["id"])["remaining"]) == "12.0000"
    # A fill cancelled by its buyer goes back to the seller, and the order offers it again.
    market.cancel(engine, fill["id"], buyer, actor="t", now=clock())
    assert escrow(engine, seller) == Points(0) and available(engine, seller) == Points.parse("100")
    assert str(queries.buy_order(engine, order["id"])["remaining"]) == "20.0000"
    again = market.fill_buy_order(engine, seller, order["id"], "20", actor="t", now=clock())
    market.mark_paid(engine, again["id"], buyer, "bank-77", actor="t", now=clock())
    market.confirm(engine, again["id"], seller, actor="t", now=clock())
    assert available(engine, buyer) == Points.parse("19.9")  # 0.5% of 20 kept as the fee
    assert queries.buy_order(engine, order["id"])["status"] == "closed"
    assert code_of(
        lambda: market.fill_buy_order(engine, seller, order["id"], "5", actor="t", now=clock())
    ) == ("buy_order_not_active")
    assert_verified(engine)


def test_buy_order_refusals(engine: Engine) -> None:
    _, clock, seller, buyer = setup(engine)
    order = market.create_buy_order(
        engine, buyer, quantity="5", price="1", payment_kinds="wechat", now=clock()
    )
    assert code_of(
        lambda: market.fill_buy_order(engine, seller, order["id"], "5", actor="t", now=clock())
    ) == ("no_common_payment_method")
    poor = trader(engine, now=clock(), points="1")
    order2 = market.create_buy_order(
        engine, buyer, quantity="5", price="1", payment_kinds="alipay", now=clock()
    )
    assert code_of(
        lambda: market.fill_buy_order(engine, poor, order2["id"], "5", actor="t", now=clock())
    ) == ("insufficient_points")
    assert code_of(lambda: market.cancel_buy_order(engine, seller, order2["id"], now=clock())) == "not_yours"
    market.cancel_buy_order(engine, buyer, order2["id"], now=clock())
    assert_verified(engine)


def test_quick_buy_takes_the_best_prices_first(engine: Engine) -> None:
    _, clock, seller, buyer = setup(engine)
    other = trader(engine, now=clock(), points="100")
    dear = listing(engine, seller, clock, "10", "2.5")
    cheap_late = listing(engine, other, clock, "3", "2")
    cheap_early = listing(engine, seller, clock, "3", "1.5")
    too_dear = listing(engine, other, clock, "50", "3")
    bought = market.quick_buy(engine, buyer, "10", "2.5", actor="t", now=clock())
    sources = [(t["listing_id"], str(t["quantity"])) for t in bought["trades"]]
    assert sources == [(cheap_early, "3.0000"), (cheap_late, "3.0000"), (dear, "4.0000")]
    assert str(bought["filled"]) == "10.0000" and str(bought["amount"]) == "20.50"
    assert str(bought["average_price"]) == "2.0500"
    assert str(queries.listing(engine, too_dear)["remaining"]) == "50.0000"
    # Not enough at that price and no partial fill allowed: nothing at all happens.
    assert code_of(
        lambda: market.quick_buy(engine, buyer, "10", "2.5", allow_partial=False, actor="t", now=clock())
    ) in ("not_enough_listings", "too_many_open_trades")
    assert str(queries.listing(engine, dear)["remaining"]) == "6.0000"
    assert (
        code_of(lambda: market.quick_buy(engine, buyer, "1", "1", actor="t", now=clock()))
        == "no_matching_listings"
    )
    assert_verified(engine)


def test_quick_buy_all_or_nothing(engine: Engine) -> None:
    _, clock, seller, buyer = setup(engine)
    listing(engine, seller, clock, "4", "2")
    assert (
        code_of(
            lambda: market.quick_buy(engine, buyer, "5", "2", allow_partial=False, actor="t", now=clock())
        )
        == "not_enough_listings"
    )
    assert market.profile(engine, buyer, now=clock())["open_trades"] == 0
    partial = market.quick_buy(engine, buyer, "5", "2", actor="t", now=clock())
    assert str(partial["filled"]) == "4.0000" and str(partial["unfilled"]) == "1.0000"
    assert_verified(engine)


# -- abuse rules --------------------------------------------------------------------------------


def test_no_self_trade_not_even_through_ones_shop(engine: Engine) -> None:
    world, clock, seller, _ = setup(engine)
    listing_id = listing(engine, seller, clock)
    assert (
        code_of(lambda: market.take_listing(engine, seller, listing_id, "1", actor="t", now=clock()))
        == "self_trade"
    )
    # The world's merchant is owned by world.owner; a staff member of it too.
    make_ready(engine, world.merchant, now=clock(), consumer=world.owner)
    make_ready(engine, world.owner, now=clock())
    staff = trader(engine, now=clock())
    members.add_staff(engine, world.merchant, staff)
    shop_listing = listing(engine, world.merchant, clock, "5")
    for insider in (world.owner, staff):
        assert code_of(
            lambda who=insider: market.take_listing(engine, who, shop_listing, "1", actor="t", now=clock())
        ) == ("self_trade")
    outsider = trader(engine, now=clock())
    assert market.take_listing(engine, outsider, shop_listing, "1", actor="t", now=clock())["status"]
    assert_verified(engine)


def test_real_name_and_risk_notice_come_first(engine: Engine) -> None:
    _, clock, seller, _ = setup(engine)
    listing_id = listing(engine, seller, clock)
    newcomer = new_consumer(engine)
    assert market.profile(engine, newcomer, now=clock())["refusals"] == [
        "real_name_required",
        "risk_notice_required",
    ]
    assert code_of(
        lambda: market.take_listing(engine, newcomer, listing_id, "1", actor="t", now=clock())
    ) == ("real_name_required")
    with pytest.raises(InvalidInput):
        members.set_real_name(engine, newcomer, "李四", "110105194912310021", now=clock())
    members.set_real_name(engine, newcomer, "李四", "11010519491231002X", now=clock())
    other = new_consumer(engine)
    assert code_of(
        lambda: members.set_real_name(engine, other, "王五", "11010519491231002X", now=clock())
    ) == ("id_number_taken")
    assert code_of(
        lambda: market.take_listing(engine, newcomer, listing_id, "1", actor="t", now=clock())
    ) == ("risk_notice_required")
    assert code_of(
        lambda: market.accept_risk_notice(engine, newcomer, version=0, actor="t", now=clock())
    ) == ("risk_notice_outdated")
    market.accept_risk_notice(engine, newcomer, version=1, actor="t", now=clock())
    assert market.take_listing(engine, newcomer, listing_id, "1", actor="t", now=clock())["status"]
    assert_verified(engine)


def test_real_name_switch_off(engine: Engine) -> None:
    _, clock, seller, _ = setup(engine, c2c_real_name_required="off")
    anonymous = new_consumer(engine)
    market.accept_risk_notice(engine, anonymous, version=1, actor="t", now=clock())
    assert market.take_listing(engine, anonymous, listing(engine, seller, clock), "1", actor="t", now=clock())


def test_three_cancellations_bar_the_buyer_for_the_day(engine: Engine) -> None:
    _, clock, seller, buyer = setup(engine)
    listing_id = listing(engine, seller, clock)
    for _ in range(3):
        trade_id = market.take_listing(engine, buyer, listing_id, "1", actor="t", now=clock())["id"]
        market.cancel(engine, trade_id, buyer, actor="t", now=clock())
    assert code_of(lambda: market.take_listing(engine, buyer, listing_id, "1", actor="t", now=clock())) == (
        "cancellation_limit"
    )
    assert (
        code_of(lambda: market.quick_buy(engine, buyer, "1", "5", actor="t", now=clock()))
        == "cancellation_limit"
    )
    assert market.profile(engine, buyer, now=clock())["may_buy_today"] is False
    clock.advance(days=1)
    assert market.take_listing(engine, buyer, listing_id, "1", actor="t", now=clock())["status"]
    assert_verified(engine)


def test_open_trade_limit(engine: Engine) -> None:
    _, clock, seller, buyer = setup(engine, c2c_max_open_trades_per_member="2")
    listing_id = listing(engine, seller, clock)
    for _ in range(2):
        market.take_listing(engine, buyer, listing_id, "1", actor="t", now=clock())
    assert code_of(lambda: market.take_listing(engine, buyer, listing_id, "1", actor="t", now=clock())) == (
        "too_many_open_trades"
    )


def test_quick_buy_stops_at_the_open_trade_limit(engine: Engine) -> None:
    _, clock, seller, buyer = setup(engine, c2c_max_open_trades_per_member="2")
    for _ in range(3):
        listing(engine, seller, clock, "1")
    bought = market.quick_buy(engine, buyer, "3", "2", actor="t", now=clock())
    assert len(bought["trades"]) == 2 and str(bought["unfilled"]) == "1.0000"
    assert_verified(engine)


def test_closing_the_market(engine: Engine) -> None:
    _, clock, seller, buyer = setup(engine)
    listing_id = listing(engine, seller, clock)
    trade_id = market.take_listing(engine, buyer, listing_id, "2", actor="t", now=clock())["id"]
    closed = market.set_market_open(engine, False, reason="regulator notice", actor="ops", now=clock())
    assert closed["open"] is False and closed["reason"] == "regulator notice"
    assert code_of(lambda: listing(engine, seller, clock)) == "market_closed"
    assert code_of(lambda: market.take_listing(engine, buyer, listing_id, "1", actor="t", now=clock())) == (
        "market_closed"
    )
    assert code_of(lambda: market.set_market_open(engine, False, reason="", actor="ops")) == "text_required"
    # Open trades finish; listings can still be withdrawn.
    market.mark_paid(engine, trade_id, buyer, "r", actor="t", now=clock())
    market.confirm(engine, trade_id, seller, actor="t", now=clock())
    market.cancel_listing(engine, seller, listing_id, actor="t", now=clock())
    market.set_market_open(engine, True, reason="", actor="ops", now=clock())
    assert listing(engine, seller, clock)
    assert_verified(engine)


def test_the_rulebook_can_close_the_market_too(engine: Engine) -> None:
    _, clock, seller, _ = setup(engine, c2c_market_open="off")
    assert code_of(lambda: listing(engine, seller, clock)) == "market_closed"
    assert market.market_status(engine, now=clock())["rule_open"] is False


def test_price_band(engine: Engine) -> None:
    _, clock, seller, buyer = setup(engine, c2c_price_band="0.10")
    assert code_of(lambda: listing(engine, seller, clock, "5", "1.11")) == "price_out_of_band"
    listing_id = listing(engine, seller, clock, "5", "1.10")
    assert code_of(lambda: market.set_listing_price(engine, seller, listing_id, "0.89", now=clock())) == (
        "price_out_of_band"
    )
    assert (
        code_of(
            lambda: market.create_buy_order(
                engine, buyer, quantity="5", price="2", payment_kinds="bank", now=clock()
            )
        )
        == "price_out_of_band"
    )
    band = queries.guide_price(engine, now=clock())
    assert (str(band["band_low"]), str(band["band_high"])) == ("0.9000", "1.1000")


def test_merchant_trades_under_its_owners_real_name(engine: Engine) -> None:
    world, clock, seller, _ = setup(engine)
    listing_id = listing(engine, seller, clock)
    market.accept_risk_notice(engine, world.merchant, version=1, actor="t", now=clock())
    assert code_of(
        lambda: market.take_listing(engine, world.merchant, listing_id, "5", actor="t", now=clock())
    ) == ("real_name_required")
    members.set_real_name(engine, world.owner, "店主", "11010519491231002X", now=clock())
    trade = market.take_listing(engine, world.merchant, listing_id, "5", actor="t", now=clock())
    market.mark_paid(engine, trade["id"], world.merchant, "r", actor="t", now=clock())
    market.confirm(engine, trade["id"], seller, actor="t", now=clock())
    with engine.connect() as conn:
        rows = conn.execute(select(outbox_events.c.merchant_id, outbox_events.c.payload)).all()
    assert {r.merchant_id for r in rows} == {world.merchant}
    assert all(json.loads(r.payload)["side"] == "buyer" for r in rows)
    assert_verified(engine)


def test_payment_methods(engine: Engine) -> None:
    _, clock, seller, _ = setup(engine)
    methods = market.list_payment_methods(engine, seller)
    assert [m["kind"] for m in methods] == ["alipay", "bank"]
    assert (
        code_of(
            lambda: market.add_payment_method(
                engine, seller, kind="alipay", account_name="张三", account_id=methods[0]["account_id"]
            )
        )
        == "payment_method_exists"
    )
    assert (
        code_of(
            lambda: market.add_payment_method(
                engine, seller, kind="wechat", account_name="张三", account_id="x"
            )
        )
        == "invalid_account_id"
    )
    market.remove_payment_method(engine, seller, methods[0]["id"])
    assert (
        code_of(lambda: listing(engine, seller, clock, payment_kinds=["alipay"])) == "payment_method_missing"
    )
    with pytest.raises(NotFound):
        market.remove_payment_method(engine, seller, methods[0]["id"])


def test_seller_frozen_after_listing(engine: Engine) -> None:
    _, clock, seller, buyer = setup(engine)
    listing_id = listing(engine, seller, clock)
    members.set_frozen(engine, seller, True)
    assert code_of(lambda: market.take_listing(engine, buyer, listing_id, "1", actor="t", now=clock())) == (
        "seller_unavailable"
    )
    assert (
        code_of(lambda: market.quick_buy(engine, buyer, "1", "5", actor="t", now=clock()))
        == "no_matching_listings"
    )


def test_refused_requests_write_nothing(engine: Engine) -> None:
    _, clock, seller, buyer = setup(engine)
    fund(engine, buyer, "5")
    before = (available(engine, seller), escrow(engine, seller))
    with pytest.raises(Refused):
        listing(engine, seller, clock, "1000")
    assert (available(engine, seller), escrow(engine, seller)) == before
    assert queries.listings_of(engine, seller) == []
