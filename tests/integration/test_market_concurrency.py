"""Races on PostgreSQL, with real threads: buyers never both get the same points (SPEC §6),
and the escrow always equals the listings' remaining plus their open trades (I6)."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from sharebuy.kernel.amounts import Points
from sharebuy.kernel.errors import SharebuyError
from sharebuy.market import queries
from sharebuy.market import service as market
from tests.integration.market_world import Clock, assert_verified, escrow, trader
from tests.integration.world import build

pytestmark = pytest.mark.postgres


def _attempt(call: object) -> str:
    try:
        call()  # type: ignore[operator]
        return "ok"
    except SharebuyError as error:
        return error.code


def test_32_buyers_race_for_a_10_point_listing(pg: Engine) -> None:
    build(pg, consumers=0)
    clock = Clock()
    seller = trader(pg, now=clock(), points="10")
    buyers = [trader(pg, now=clock()) for _ in range(32)]
    listing_id = market.create_listing(
        pg, seller, quantity="10", price="2", payment_kinds="alipay", actor="t", now=clock()
    )["id"]

    def take(buyer: int) -> str:
        return _attempt(lambda: market.take_listing(pg, buyer, listing_id, "1", actor="t", now=clock()))

    with ThreadPoolExecutor(32) as pool:
        outcomes = Counter(pool.map(take, buyers))
    assert outcomes == {"ok": 10, "sold_out": 22}
    found = queries.listing(pg, listing_id)
    assert str(found["remaining"]) == "0.0000" and str(found["in_trades"]) == "10.0000"
    assert escrow(pg, seller) == Points.parse("10")
    assert_verified(pg)


def test_quick_buys_race_over_several_listings(pg: Engine) -> None:
    build(pg, consumers=0)
    clock = Clock()
    sellers = [trader(pg, now=clock(), points="10") for _ in range(3)]
    for n, seller in enumerate(sellers):
        market.create_listing(
            pg,
            seller,
            quantity="7" if n else "6",
            price=f"1.{n}",
            payment_kinds="bank",
            actor="t",
            now=clock(),
        )
    buyers = [trader(pg, now=clock()) for _ in range(8)]

    def buy(buyer: int) -> str:
        return _attempt(lambda: market.quick_buy(pg, buyer, "5", "2", actor="t", now=clock()))

    with ThreadPoolExecutor(8) as pool:
        outcomes = Counter(pool.map(buy, buyers))
    bought = sum(
        (
            Points.parse(str(t["quantity"]))
            for b in buyers
            for t in queries.trades_of(pg, market.Viewer(frozenset({b})), member_ids=[b], now=clock())
        ),
        Points(0),
    )
    assert bought == Points.parse("20")  # everything on offer, and not a point more
    assert outcomes["ok"] >= 4 and set(outcomes) <= {"ok", "no_matching_listings"}
    assert_verified(pg)


def test_cancelling_a_listing_while_buyers_take_it(pg: Engine) -> None:
    build(pg, consumers=0)
    clock = Clock()
    seller = trader(pg, now=clock(), points="20")
    buyers = [trader(pg, now=clock()) for _ in range(12)]
    listing_id = market.create_listing(
        pg, seller, quantity="20", price="1", payment_kinds="alipay", actor="t", now=clock()
    )["id"]

    def act(n: int) -> str:
        if n == 6:
            return _attempt(lambda: market.cancel_listing(pg, seller, listing_id, actor="t", now=clock()))
        return _attempt(lambda: market.take_listing(pg, buyers[n], listing_id, "1", actor="t", now=clock()))

    with ThreadPoolExecutor(12) as pool:
        outcomes = list(pool.map(act, range(12)))
    taken = sum(1 for n, o in enumerate(outcomes) if o == "ok" and n != 6)
    assert outcomes[6] == "ok"
    assert escrow(pg, seller) == Points.parse(str(taken))  # only the open trades still hold points
    assert_verified(pg)


def test_paying_races_the_sweeper(pg: Engine) -> None:
    """A payment a second before the deadline races the sweeper at the deadline: for each trade
    exactly one of them wins, and the trade is paid or cancelled accordingly."""
    build(pg, consumers=0)
    clock = Clock()
    seller = trader(pg, now=clock(), points="20")
    buyers = [trader(pg, now=clock()) for _ in range(6)]
    listing_id = market.create_listing(
        pg, seller, quantity="20", price="1", payment_kinds="alipay", actor="t", now=clock()
    )["id"]
    trades = [market.take_listing(pg, b, listing_id, "1", actor="t", now=clock())["id"] for b in buyers]
    deadline = clock.advance(minutes=15)
    just_before = deadline - timedelta(seconds=1)

    def pay(n: int) -> str:
        return _attempt(lambda: market.mark_paid(pg, trades[n], buyers[n], "r", actor="t", now=just_before))

    with ThreadPoolExecutor(7) as pool:
        swept = pool.submit(market.sweep, pg, deadline)
        paid = list(pool.map(pay, range(6)))
    assert set(paid) <= {"ok", "invalid_trade_transition"}
    for trade_id, outcome in zip(trades, paid, strict=True):
        status = market.get_trade(pg, trade_id, market.Viewer(operator=True), now=deadline)["status"]
        assert status == ("paid" if outcome == "ok" else "cancelled")
    assert swept.result()["expired"] == paid.count("invalid_trade_transition")
    assert_verified(pg)
