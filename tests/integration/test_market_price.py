"""The guide price from the trades that made it: VWAP of the day's completed trades, exact,
the previous price if none, never below the floor; it feeds the settlement and the deposits."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from sharebuy.db.uow import reading
from sharebuy.kernel.amounts import Points, Price
from sharebuy.market import queries, repository
from sharebuy.market import service as market
from sharebuy.members import service as members
from sharebuy.rewards import repository as rewards
from sharebuy.rewards import settlement_service
from tests.integration.market_world import Clock, assert_verified, fund, make_ready, trader
from tests.integration.world import LATER, START, at, build, new_consumer


def trade_at(engine: Engine, clock: Clock, seller: int, buyer: int, quantity: str, price: str) -> dict:
    listing_id = market.create_listing(
        engine, seller, quantity=quantity, price=price, payment_kinds="alipay", actor="t", now=clock()
    )["id"]
    trade = market.take_listing(engine, buyer, listing_id, quantity, actor="t", now=clock())
    market.mark_paid(engine, trade["id"], buyer, "r", actor="t", now=clock())
    return market.confirm(engine, trade["id"], seller, actor="t", now=clock())


def test_vwap_and_kline(engine: Engine) -> None:
    build(engine, consumers=0, rules={"c2c_min_order_points": "0.0001"})
    clock = Clock()
    seller, buyer = trader(engine, now=clock(), points="200"), trader(engine, now=clock())
    trade_at(engine, clock, seller, buyer, "10", "2")
    trade_at(engine, clock, seller, buyer, "30", "3")
    trade_at(engine, clock, seller, buyer, "0.005", "1.0001")  # 0.0050005 CNY: pays 0.01
    # open and cancelled trades do not count
    listing_id = market.create_listing(
        engine, seller, quantity="5", price="9", payment_kinds="alipay", actor="t", now=clock()
    )["id"]
    gone = market.take_listing(engine, buyer, listing_id, "1", actor="t", now=clock())
    market.cancel(engine, gone["id"], buyer, actor="t", now=clock())
    market.take_listing(engine, buyer, listing_id, "1", actor="t", now=clock())
    # Σ q·p / Σ q = (20 + 90 + 0.0050005) / 40.005 = 2.749781..., half-up to 2.7498 (exact
    # notional, not the rounded CNY paid)
    with reading(engine) as conn:
        assert repository.market_price(conn, START) == Price.parse("2.7498")
        assert repository.market_price(conn, START + timedelta(days=1)) is None
    (candle,) = queries.kline(engine, days=7, now=clock())["candles"]
    assert (candle.open, candle.high, candle.low, candle.close) == tuple(
        Price.parse(x) for x in ("2", "3", "1.0001", "1.0001")
    )
    assert candle.volume == Points.parse("40.005") and str(candle.turnover) == "110.01" and candle.trades == 3
    assert candle.vwap == Price.parse("2.7498")
    assert queries.guide_price(engine, now=clock())["today_market_price"] == Price.parse("2.7498")
    assert_verified(engine)


def test_a_day_of_trades_at_two_makes_the_next_deposit_250(engine: Engine) -> None:
    """SPEC §5: the deposit is worth 500.00 CNY at the guide price: 500 points at 1.00, 250 at 2.00."""
    world = build(engine, consumers=1)
    world.buy(world.consumers[0], "1000")  # a holder, so the day releases points too
    clock = Clock()
    seller, buyer = trader(engine, now=clock(), points="100"), trader(engine, now=clock())
    with reading(engine) as conn:
        assert rewards.deposit_required(conn, START) == Points.parse("500")
    for _ in range(3):
        trade_at(engine, clock, seller, buyer, "5", "2")
    (report,) = settlement_service.settle(engine, through=START, now=LATER)
    assert report.guide_price == Price.parse("2") and report.price_source == "market"
    with reading(engine) as conn:
        assert rewards.deposit_required(conn, START + timedelta(days=1)) == Points.parse("250")
    # A merchant opening the next day posts 250 points, not 500.
    newcomer = members.add_merchant(
        engine, name="新店", owner_id=new_consumer(engine), region="441900", rate="0.10"
    )
    members.approve_merchant(engine, newcomer)
    members.grant_points(engine, newcomer, "300", reason="bootstrap", now=at(START + timedelta(days=1)))
    state = members.post_deposit(engine, newcomer, now=at(START + timedelta(days=1)))
    assert (
        state.status == "active"
        and state.deposit == Points.parse("250")
        and state.available == Points.parse("50")
    )
    assert_verified(engine)


def test_no_trades_keep_the_price_and_the_floor_holds(engine: Engine) -> None:
    build(engine, consumers=0, rules={"price_floor": "1.0000"})
    clock = Clock()
    seller, buyer = trader(engine, now=clock(), points="100"), trader(engine, now=clock())
    trade_at(engine, clock, seller, buyer, "10", "1.5")
    day2 = START + timedelta(days=1)
    clock.now = at(day2, 10)
    trade_at(engine, clock, seller, buyer, "10", "0.5")  # below the floor
    reports = settlement_service.settle(engine, through=START + timedelta(days=2), now=LATER)
    prices = [(r.guide_price, r.price_source) for r in reports]
    assert prices == [
        (Price.parse("1.5"), "market"),
        (Price.parse("1"), "market"),
        (Price.parse("1"), "carried"),
    ]


def test_a_completion_after_the_days_settlement_counts_the_next_day(engine: Engine) -> None:
    """A settled guide price never changes: a trade completed (by the clock) on a day whose
    settlement has begun counts toward the first unsettled day."""
    build(engine, consumers=0)
    clock = Clock()
    seller, buyer = trader(engine, now=clock(), points="100"), trader(engine, now=clock())
    listing_id = market.create_listing(
        engine, seller, quantity="5", price="3", payment_kinds="alipay", actor="t", now=clock()
    )["id"]
    trade = market.take_listing(engine, buyer, listing_id, "5", actor="t", now=clock())
    market.mark_paid(engine, trade["id"], buyer, "r", actor="t", now=clock())
    settlement_service.settle(engine, through=START, now=LATER)
    done = market.confirm(engine, trade["id"], seller, actor="t", now=clock())
    assert done["completed_day"] == START + timedelta(days=1)
    (next_day,) = settlement_service.settle(engine, through=START + timedelta(days=1), now=LATER)
    assert next_day.guide_price == Price.parse("3")
    assert_verified(engine)


def test_merchants_buy_points_for_their_concessions(engine: Engine) -> None:
    """The closed loop of SPEC §1: a consumer sells released points to a merchant."""
    world = build(engine, consumers=0, grant="500")
    clock = Clock()
    consumer = trader(engine, now=clock())
    fund(engine, consumer, "30")
    make_ready(engine, world.merchant, now=clock(), consumer=world.owner)
    trade_at(engine, clock, consumer, world.merchant, "30", "1.2")
    assert world.merchant_view()["points"]["available"] == Points.parse("30")
    assert_verified(engine)
