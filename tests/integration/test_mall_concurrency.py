"""Races on PostgreSQL, with real threads: a product's stock is never oversold (the conditional
UPDATE `stock >= q`), and the mall escrow equals the points of the open orders."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from sqlalchemy import Engine

from sharebuy.kernel.amounts import Points
from sharebuy.kernel.errors import SharebuyError
from sharebuy.mall import service as mall
from tests.integration.mall_world import build_mall

pytestmark = pytest.mark.postgres


def test_32_consumers_race_for_a_product_with_stock_10(pg: Engine) -> None:
    world = build_mall(pg, consumers=32, points="100")
    product = world.product(price="10", stock=10)
    start = Barrier(32)
    seconds: list[float] = []

    def redeem(consumer: int) -> str:
        start.wait()  # all 32 at once, not as the pool happens to start them
        began = time.perf_counter()
        try:
            world.redeem(consumer, product["id"], 1)
            return "ok"
        except SharebuyError as error:
            return error.code
        finally:
            seconds.append(time.perf_counter() - began)

    with ThreadPoolExecutor(32) as pool:
        outcomes = Counter(pool.map(redeem, world.consumers))
    assert outcomes == {"ok": 10, "out_of_stock": 22}
    assert mall.get_product(pg, product["id"])["stock"] == 0
    assert world.points("platform", "mall_escrow") == Points.parse("100")
    paid = [c for c in world.consumers if world.points(c) == Points.parse("90")]
    assert len(paid) == 10  # the 22 refused kept every point
    report = world.verified()
    assert report["mall"]["escrow"] == "100.0000"
    print(f"32 racing redemptions: slowest {max(seconds) * 1000:.0f} ms")


def test_racing_redemptions_of_several_items_never_oversell(pg: Engine) -> None:
    world = build_mall(pg, consumers=12, points="1000")
    product = world.product(price="1", stock=20)
    start = Barrier(12)

    def redeem(n: int) -> int:
        start.wait()
        try:
            world.redeem(world.consumers[n], product["id"], 3)
            return 3
        except SharebuyError as error:
            assert error.code == "out_of_stock"
            return 0

    with ThreadPoolExecutor(12) as pool:
        taken = sum(pool.map(redeem, range(12)))
    assert taken == 18  # six orders of 3 fit in 20; the seventh would need 21
    assert mall.get_product(pg, product["id"])["stock"] == 2
    world.verified()
