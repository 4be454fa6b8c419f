"""Concurrent writers on PostgreSQL: no lost update, no negative balance, keys applied once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, text

from sharebuy.db import uow
from sharebuy.kernel.amounts import Points, ShareValue
from sharebuy.kernel.errors import Refused
from sharebuy.rewards import purchase_service
from tests.integration.world import build, new_consumer, open_merchant

pytestmark = pytest.mark.postgres


def test_sixteen_threads_at_one_merchant(pg: Engine) -> None:
    """16 threads × 10 purchases of 10.00 at one merchant holding 1000 − 500 deposit = 500 points.

    Each sale costs 1.0000 point, so all 160 fit in the available points: the merchant must end
    with exactly 340.0000 available, the platform 160.0000 burned, every consumer 100.00 SV.
    """
    world = build(pg, consumers=0, grant="1000")
    buyers = [new_consumer(pg) for _ in range(16)]

    def shop(consumer: int) -> None:
        for n in range(10):
            world.buy(consumer, "10", key=f"{consumer}-{n}")

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(shop, buyers))
    merchant = world.merchant_view()
    assert merchant["points"]["available"] == Points.parse("340")
    assert merchant["share_value"] == ShareValue.parse("320")
    assert world.platform()["burned"] == Points.parse("160")
    for consumer in buyers:
        assert world.consumer(consumer)["share_value"] == ShareValue.parse("100")
    world.assert_verified()


def test_shops_selling_to_shared_customers_at_once_never_deadlock(
    pg: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """4 merchants and 8 consumers, every thread selling at every merchant to every consumer:
    member rows, then the shared platform rows, are locked in one order, so no transaction is
    ever aborted as a deadlock (a retry would hide it; the spy counts them) and no unit is lost."""
    world = build(pg, consumers=0, grant="1000")
    shops = [world.merchant, *(open_merchant(pg, new_consumer(pg)) for _ in range(3))]
    buyers = [new_consumer(pg) for _ in range(8)]
    aborted: list[str] = []
    spied = uow.is_retryable

    def counting(error: BaseException) -> bool:
        aborted.append(str(getattr(getattr(error, "orig", None), "sqlstate", None)))
        return spied(error)

    monkeypatch.setattr(uow, "is_retryable", counting)

    def sell(thread: int) -> None:
        for n in range(12):
            shop = shops[(thread + n) % len(shops)]
            consumer = buyers[(thread * 3 + n) % len(buyers)]
            world.buy(consumer, "10", merchant=shop, key=f"{thread}-{n}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(sell, range(8)))
    assert "40P01" not in aborted, aborted
    assert world.platform()["burned"] == Points.parse("96")  # 8 × 12 sales of 1.0000 point
    for shop in shops:
        assert world.merchant_view(shop)["points"]["available"] == Points.parse("476")
    for consumer in buyers:
        assert world.consumer(consumer)["share_value"] == ShareValue.parse("120")
    world.assert_verified()


def test_racing_for_the_last_points_never_goes_negative(pg: Engine) -> None:
    """500 deposit + 20 available; 40 racing sales of 1 point each: 20 from available, then the
    deposit, which suspends the merchant: every later sale is refused, nothing goes negative."""
    world = build(pg, consumers=0, grant="520")
    buyers = [new_consumer(pg) for _ in range(8)]
    outcomes: list[str] = []

    def shop(consumer: int) -> None:
        for n in range(5):
            try:
                world.buy(consumer, "10", key=f"{consumer}-{n}")
                outcomes.append("ok")
            except Refused as error:
                outcomes.append(error.code)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(shop, buyers))
    merchant = world.merchant_view()
    accepted = outcomes.count("ok")
    assert accepted == 21  # 20 from available, the 21st dips into the deposit and suspends
    assert set(outcomes) == {"ok", "merchant_suspended"}
    assert merchant["status"] == "suspended"
    assert merchant["points"]["available"] == Points(0)
    assert merchant["points"]["deposit"] == Points.parse("499")
    world.assert_verified()


def test_same_key_raced_takes_effect_once(pg: Engine) -> None:
    world = build(pg)
    consumer = world.consumers[0]

    def attempt(_: int) -> int:
        return purchase_service.record_purchase(
            pg, merchant_id=world.merchant, consumer_id=consumer, amount="50", key="one-key"
        ).id

    with ThreadPoolExecutor(12) as pool:
        ids = set(pool.map(attempt, range(12)))
    assert len(ids) == 1
    assert world.consumer(consumer)["share_value"] == ShareValue.parse("50")
    world.assert_verified()


def test_a_single_read_on_every_request_runs_outside_a_transaction_block(pg: Engine) -> None:
    """`reading_one` (the caller's key, the Idempotency-Key) spends no BEGIN and ROLLBACK round
    trips: each statement is its own transaction, where `reading` shares one between them."""
    ask = text("SELECT pg_current_xact_id()::text")
    with uow.reading_one(pg) as conn:
        alone = {conn.execute(ask).scalar_one() for _ in range(2)}
    with uow.reading(pg) as conn:
        shared = {conn.execute(ask).scalar_one() for _ in range(2)}
    assert len(alone) == 2 and len(shared) == 1
    with uow.reading(pg) as conn:  # a connection back in the pool is back in transaction blocks
        assert len({conn.execute(ask).scalar_one() for _ in range(3)}) == 1
