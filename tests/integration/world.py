"""A small world for integration tests: the platform, consumers, an active merchant."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time

from sqlalchemy import Engine

from sharebuy.kernel.clock import BUSINESS_TZ
from sharebuy.ledger.verify import verify
from sharebuy.members import queries
from sharebuy.members import service as members
from sharebuy.rewards import checks, platform_service, purchase_service
from sharebuy.rewards.purchase_service import PurchaseResult

START = date(2025, 3, 1)
LATER = datetime(2026, 1, 1, tzinfo=BUSINESS_TZ)  # "now" for settlements: every test day is over


def at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), BUSINESS_TZ)


@dataclass
class World:
    engine: Engine
    consumers: list[int] = field(default_factory=list)
    merchant: int = 0
    owner: int = 0

    def buy(self, consumer: int, amount: str, day: date = START, **kw: object) -> PurchaseResult:
        return purchase_service.record_purchase(
            self.engine,
            merchant_id=kw.pop("merchant", self.merchant),
            consumer_id=consumer,  # type: ignore[arg-type]
            amount=amount,
            at=at(day),
            **kw,  # type: ignore[arg-type]
        )

    def consumer(self, member_id: int) -> dict[str, object]:
        return queries.consumer_balance(self.engine, member_id)

    def merchant_view(self, member_id: int | None = None) -> dict[str, object]:
        return queries.merchant_balance(self.engine, member_id or self.merchant)

    def platform(self) -> dict[str, object]:
        return queries.platform_balance(self.engine)

    def assert_verified(self) -> None:
        report = verify(self.engine, checks.CHECKS)
        assert report.ok, report.as_dict()


_phones = iter(f"139{n:08d}" for n in range(10**8))


def new_consumer(engine: Engine, name: str = "") -> int:
    return members.add_consumer(engine, phone=next(_phones), name=name)


def open_merchant(engine: Engine, owner: int, *, grant: str = "1000", rate: str = "0.10") -> int:
    merchant = members.add_merchant(engine, name="测试商家", owner_id=owner, region="441900", rate=rate)
    members.approve_merchant(engine, merchant)
    if grant != "0":
        members.grant_points(engine, merchant, grant, reason="bootstrap")
        members.post_deposit(engine, merchant)
    return merchant


def build(
    engine: Engine, *, consumers: int = 3, grant: str = "1000", rules: dict[str, object] | None = None
) -> World:
    platform_service.initialise(engine, start_day=START, overrides=rules or {})
    owner = new_consumer(engine, "店主")
    world = World(engine, owner=owner)
    world.consumers = [new_consumer(engine, f"c{i}") for i in range(consumers)]
    world.merchant = open_merchant(engine, owner, grant=grant)
    return world
