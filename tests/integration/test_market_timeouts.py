"""Deadlines with a clock the test moves, disputes decided both ways, and dispute evidence."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from sharebuy.kernel.amounts import Points
from sharebuy.kernel.errors import Conflict, InvalidInput, NotFound, SharebuyError
from sharebuy.market import queries
from sharebuy.market import service as market
from sharebuy.web.app import periodic_jobs
from tests.integration.market_world import Clock, assert_verified, available, escrow, trader
from tests.integration.world import build

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def setup(engine: Engine) -> tuple[Clock, int, int, int]:
    build(engine, consumers=0)
    clock = Clock()
    seller = trader(engine, now=clock(), points="100")
    buyer = trader(engine, now=clock())
    listing_id = market.create_listing(
        engine, seller, quantity="10", price="2", payment_kinds="alipay", actor="t", now=clock()
    )["id"]
    return clock, seller, buyer, int(listing_id)


def take(engine: Engine, buyer: int, listing_id: int, clock: Clock, quantity: str = "4") -> int:
    return int(market.take_listing(engine, buyer, listing_id, quantity, actor="t", now=clock())["id"])


def as_buyer(buyer: int) -> market.Viewer:
    return market.Viewer(frozenset({buyer}))


def test_the_sweeper_cancels_unpaid_trades(engine: Engine) -> None:
    clock, _, buyer, listing_id = setup(engine)
    trade_id = take(engine, buyer, listing_id, clock)
    assert market.sweep(engine, clock.advance(minutes=14, seconds=59))["expired"] == 0
    swept = market.sweep(engine, clock.advance(seconds=1))
    assert (swept["expired"], swept["escalated"]) == (1, 0)
    found = market.get_trade(engine, trade_id, as_buyer(buyer), now=clock())
    assert found["status"] == "cancelled" and found["transitions"][-1]["role"] == "system"
    assert str(queries.listing(engine, listing_id)["remaining"]) == "10.0000"
    assert market.profile(engine, buyer, now=clock())["cancellations_today"] == 1  # counts against the buyer
    assert market.sweep(engine, clock())["expired"] == 0  # nothing twice
    assert_verified(engine)


def test_reading_a_trade_applies_its_timeout(engine: Engine) -> None:
    clock, _, buyer, listing_id = setup(engine)
    trade_id = take(engine, buyer, listing_id, clock)
    late = clock.advance(minutes=16)
    assert market.get_trade(engine, trade_id, as_buyer(buyer), now=late)["status"] == "cancelled"
    assert str(queries.listing(engine, listing_id)["remaining"]) == "10.0000"
    assert_verified(engine)


def test_paying_after_the_deadline_is_too_late(engine: Engine) -> None:
    clock, _, buyer, listing_id = setup(engine)
    trade_id = take(engine, buyer, listing_id, clock)
    with pytest.raises(Conflict):
        market.mark_paid(engine, trade_id, buyer, "late", actor="t", now=clock.advance(minutes=20))
    # the expiry was the system's act and stands, though the buyer's request was refused
    assert market.get_trade(engine, trade_id, as_buyer(buyer), now=clock())["status"] == "cancelled"
    assert_verified(engine)


def test_an_unconfirmed_payment_goes_to_an_operator_never_to_the_buyer(engine: Engine) -> None:
    clock, seller, buyer, listing_id = setup(engine)
    trade_id = take(engine, buyer, listing_id, clock)
    market.mark_paid(engine, trade_id, buyer, "wx-1", actor="t", now=clock.advance(minutes=10))
    assert market.sweep(engine, clock.advance(hours=23, minutes=59))["escalated"] == 0
    assert market.sweep(engine, clock.advance(minutes=1))["escalated"] == 1
    found = market.get_trade(engine, trade_id, as_buyer(buyer), now=clock.advance(days=30))
    assert found["status"] == "disputed"  # and it stays so, however long
    assert available(engine, buyer) == Points(0) and escrow(engine, seller) == Points.parse("10")
    assert [t["id"] for t in queries.disputes(engine, now=clock())] == [trade_id]
    assert_verified(engine)


def disputed(engine: Engine, clock: Clock, buyer: int, listing_id: int, by: int) -> int:
    trade_id = take(engine, buyer, listing_id, clock)
    market.mark_paid(engine, trade_id, buyer, "bank-9", actor="t", now=clock())
    with pytest.raises(InvalidInput):
        market.dispute(engine, trade_id, by, reason="  ", actor="t", now=clock())
    market.dispute(
        engine, trade_id, by, reason="付了款对方不认 · paid, not acknowledged", actor="t", now=clock()
    )
    return trade_id


def test_decided_release(engine: Engine) -> None:
    clock, seller, buyer, listing_id = setup(engine)
    trade_id = disputed(engine, clock, buyer, listing_id, by=buyer)
    with pytest.raises(InvalidInput):
        market.decide(engine, trade_id, "release", reason="", actor="ops", now=clock())
    with pytest.raises(InvalidInput):
        market.decide(engine, trade_id, "split", reason="x", actor="ops", now=clock())
    done = market.decide(
        engine, trade_id, "release", reason="bank statement shows the payment", actor="ops:li"
    )
    assert done["status"] == "completed" and done["decision"] == "release"
    assert done["transitions"][-1]["role"] == "operator"
    assert available(engine, buyer) == Points.parse("4") and escrow(engine, seller) == Points.parse("6")
    with pytest.raises(Conflict):
        market.decide(engine, trade_id, "return", reason="again", actor="ops")
    assert_verified(engine)


def test_decided_return_to_the_listing_or_to_the_seller(engine: Engine) -> None:
    clock, seller, buyer, listing_id = setup(engine)
    first = disputed(engine, clock, buyer, listing_id, by=seller)
    second = disputed(engine, clock, buyer, listing_id, by=buyer)
    back = market.decide(engine, first, "return", reason="no payment arrived", actor="ops", now=clock())
    assert back["status"] == "cancelled" and back["decision"] == "return"
    assert str(queries.listing(engine, listing_id)["remaining"]) == "6.0000"  # 10 - 4 (second) back on offer
    market.cancel_listing(engine, seller, listing_id, actor="t", now=clock())
    market.decide(engine, second, "return", reason="no payment arrived", actor="ops", now=clock())
    assert escrow(engine, seller) == Points(0) and available(engine, seller) == Points.parse("100")
    assert_verified(engine)


def test_the_seller_may_still_confirm_during_a_dispute(engine: Engine) -> None:
    clock, seller, buyer, listing_id = setup(engine)
    trade_id = disputed(engine, clock, buyer, listing_id, by=buyer)
    with pytest.raises(SharebuyError):
        market.confirm(engine, trade_id, buyer, actor="t", now=clock())
    assert market.confirm(engine, trade_id, seller, actor="t", now=clock())["status"] == "completed"
    assert_verified(engine)


def test_a_returned_fill_goes_back_to_its_seller(engine: Engine) -> None:
    clock, seller, buyer, _ = setup(engine)
    order = market.create_buy_order(
        engine, buyer, quantity="5", price="1", payment_kinds="alipay", now=clock()
    )
    trade_id = market.fill_buy_order(engine, seller, order["id"], "5", actor="t", now=clock())["id"]
    market.mark_paid(engine, trade_id, buyer, "r", actor="t", now=clock())
    market.sweep(engine, clock.advance(hours=25))
    market.decide(engine, trade_id, "return", reason="buyer's bank reversed it", actor="ops", now=clock())
    assert available(engine, seller) == Points.parse("90")  # 100 - 10 listed; the 5 came back
    assert_verified(engine)


def test_evidence(engine: Engine) -> None:
    clock, seller, buyer, listing_id = setup(engine)
    stranger = trader(engine, now=clock())
    trade_id = take(engine, buyer, listing_id, clock)
    note = market.add_evidence(
        engine, trade_id, as_buyer(buyer), kind="text", text="转账备注 #77", actor="t", now=clock()
    )
    shot = market.add_evidence(
        engine, trade_id, as_buyer(buyer), kind="image", data=PNG, actor="t", now=clock()
    )
    assert (note["content_type"], shot["content_type"]) == ("text/plain", "image/png")
    assert shot["sha256"] == hashlib.sha256(PNG).hexdigest() and shot["role"] == "buyer"
    operator = market.Viewer(operator=True)
    assert [e["id"] for e in market.list_evidence(engine, trade_id, operator)] == [note["id"], shot["id"]]
    assert market.evidence_file(engine, trade_id, shot["id"], market.Viewer(frozenset({seller})))[1] == PNG
    refusals: list[dict[str, Any]] = [
        {"kind": "image", "data": b"GIF8 not really"},
        {"kind": "image", "data": b"\x89PNG\r\n\x1a\n" + b"\x00" * (2 * 1024 * 1024)},
        {"kind": "text", "text": ""},
        {"kind": "video", "data": PNG},
    ]
    for bad in refusals:
        with pytest.raises(InvalidInput):
            market.add_evidence(engine, trade_id, as_buyer(buyer), actor="t", now=clock(), **bad)
    with pytest.raises(NotFound):
        market.add_evidence(
            engine, trade_id, as_buyer(stranger), kind="text", text="hi", actor="t", now=clock()
        )
    with pytest.raises(NotFound):
        market.evidence_file(engine, trade_id, shot["id"], as_buyer(stranger))
    market.cancel(engine, trade_id, buyer, actor="t", now=clock())
    with pytest.raises(SharebuyError) as caught:
        market.add_evidence(
            engine, trade_id, as_buyer(buyer), kind="text", text="late", actor="t", now=clock()
        )
    assert caught.value.code == "trade_closed"


def test_the_scheduler_sweeps_every_minute() -> None:
    assert (timedelta(minutes=1), market.sweep) in periodic_jobs()
