"""Redemptions racing on PostgreSQL, with real threads: an edition of 10 gives exactly 10
tokens, serials 1..10, however many consumers try at once."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, select

from sharebuy.collectibles import service as collectibles
from sharebuy.collectibles.models import tokens
from sharebuy.kernel.amounts import Points
from sharebuy.kernel.errors import SharebuyError
from tests.integration.collectibles_world import collector, edition
from tests.integration.market_world import Clock, assert_verified, available
from tests.integration.world import build

pytestmark = pytest.mark.postgres


def test_32_consumers_race_for_an_edition_of_10(pg: Engine) -> None:
    build(pg, consumers=0)
    clock = Clock()
    made = edition(pg, now=clock(), supply=10, price="3")
    racers = [collector(pg, now=clock(), points="3") for _ in range(32)]

    def redeem(member: int) -> str:
        try:
            collectibles.redeem(pg, made["id"], member, actor="t", now=clock())
            return "ok"
        except SharebuyError as error:
            return error.code

    with ThreadPoolExecutor(32) as pool:
        outcomes = Counter(pool.map(redeem, racers))
    assert outcomes == {"ok": 10, "sold_out": 22}
    with pg.connect() as conn:
        found = conn.execute(select(tokens.c.serial, tokens.c.owner_id).order_by(tokens.c.serial)).all()
    assert [s for s, _ in found] == list(range(1, 11))
    winners = {int(owner) for _, owner in found}
    assert len(winners) == 10
    assert all(available(pg, m) == (Points(0) if m in winners else Points.parse("3")) for m in racers)
    assert collectibles.get_edition(pg, made["id"], now=clock())["minted"] == 10
    assert_verified(pg)
