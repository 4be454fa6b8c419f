"""The market benchmark's bulk-seeded order book is one the services could have written: verify
accepts it, and quick buy trades against it at the best prices first."""

from __future__ import annotations

from bench import market as bench_market
from sqlalchemy import Engine, select

from sharebuy.ledger.verify import verify
from sharebuy.market import service as market
from sharebuy.market.models import listings
from sharebuy.rewards import checks, platform_service


def test_a_seeded_book_verifies_and_trades_best_first(engine: Engine) -> None:
    platform_service.initialise(engine, start_day=bench_market.START, overrides=bench_market.RULES)
    bench_market.seed_book(engine, 60, seller_count=3)
    report = verify(engine, checks.CHECKS)
    assert report.ok, report.as_dict()
    with engine.connect() as conn:
        prices = sorted(int(p) for p in conn.execute(select(listings.c.price)).scalars())
    assert len(prices) == 60

    buyer = bench_market.trader(engine, 99)
    done = market.quick_buy(engine, buyer, "25", "3", actor="test", now=bench_market.NOW)
    # 25 points from listings of 10: three trades (10, 10, 5) at the three lowest prices
    assert [str(t["quantity"]) for t in done["trades"]] == ["10.0000", "10.0000", "5.0000"]
    assert sorted(t["price"].units for t in done["trades"]) == prices[:3]
    report = verify(engine, checks.CHECKS)
    assert report.ok, report.as_dict()
