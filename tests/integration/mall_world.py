"""Mall test helpers: a platform with an active merchant in 441900 (东莞), a second merchant in
110105 (北京朝阳), consumers funded from the reserve, and a clock the tests move by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from sharebuy.db.uow import reading
from sharebuy.kernel.amounts import Points, ShareValue
from sharebuy.ledger import repository as ledger
from sharebuy.mall import service as mall
from sharebuy.members import service as members
from tests.integration.market_world import Clock, assert_verified, fund
from tests.integration.world import build, new_consumer


@dataclass
class Mall:
    engine: Engine
    merchant: int
    owner: int
    other_merchant: int
    consumers: list[int]
    clock: Clock = field(default_factory=Clock)

    def product(self, merchant: int | None = None, **kw: Any) -> dict[str, Any]:
        values: dict[str, Any] = {"title_zh": "荔枝礼盒", "price": "150", "stock": 10, **kw}
        return mall.create_product(
            self.engine, merchant or self.merchant, actor="t", now=self.clock(), **values
        )

    def redeem(self, consumer: int, product_id: int, quantity: object = 1) -> dict[str, Any]:
        return mall.place_order(self.engine, consumer, product_id, quantity, actor="t", now=self.clock())

    def points(self, owner: int | str, kind: str = "available") -> Points:
        with reading(self.engine) as conn:
            return Points(ledger.balances(conn, str(owner))[kind])

    def share_value(self, owner: int) -> ShareValue:
        with reading(self.engine) as conn:
            return ShareValue(ledger.balances(conn, str(owner))["sv"])

    def verified(self) -> dict[str, Any]:
        return assert_verified(self.engine)


def build_mall(
    engine: Engine, *, consumers: int = 3, points: str = "1000", rules: dict[str, object] | None = None
) -> Mall:
    world = build(engine, consumers=consumers, rules=rules)
    other_owner = new_consumer(engine, "另一店主")
    other = members.add_merchant(engine, name="朝阳小店", owner_id=other_owner, region="110105", rate="0.10")
    members.approve_merchant(engine, other)
    members.grant_points(engine, other, "1000", reason="bootstrap")
    members.post_deposit(engine, other)
    for consumer in world.consumers:
        fund(engine, consumer, points)
    return Mall(engine, world.merchant, world.owner, other, list(world.consumers))
