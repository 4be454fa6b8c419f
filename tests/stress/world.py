"""The bank test's world, bootstrapped through the services before the server starts.

The platform opened `HISTORY_DAYS` business days ago: the first few days carry purchases and
are settled (so consumers hold points to sell), the rest are left for the run's settlements to
release one by one while the clients buy, refund and trade today.  Every consumer can sign in,
trades on the market (real name, risk notice, Alipay and a bank card), and each shop has a POS key.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Engine, func, select

from sharebuy.db import migrate
from sharebuy.db.uow import reading
from sharebuy.identity import service as identity
from sharebuy.kernel.clock import BUSINESS_TZ, business_day
from sharebuy.market import service as market
from sharebuy.market.models import listings, trades
from sharebuy.members import domain as member_domain
from sharebuy.members import service as members
from sharebuy.rewards import platform_service, purchase_service, settlement_service
from sharebuy.rewards.models import purchases

HISTORY_DAYS = 60
SETTLED_DAYS = 3
CONSUMERS = 12
SHOPS = 3  # owned by the first three consumers
RULES = {
    # The run lasts minutes: no trade may time out under it, so every trade's end is the clients'.
    "c2c_payment_minutes": "1440",
    "c2c_max_open_trades_per_member": "1000",
}
_serial = itertools.count(1)


def id_number() -> str:
    """A valid GB 11643 number (Beijing Chaoyang, born 1990), a new sequence each call."""
    n = next(_serial)
    first17 = f"110105{19900101 + n // 1000:08d}{n % 1000:03d}"
    return first17 + member_domain.id_check_character(first17)


@dataclass
class Person:
    member_id: int
    login: str
    password: str
    token: str = ""


@dataclass
class Shop:
    merchant_id: int
    owner: int  # index into World.consumers
    pos_key: str


@dataclass
class World:
    start: date
    settled_through: date
    consumers: list[Person] = field(default_factory=list)
    shops: list[Shop] = field(default_factory=list)
    admin: Person | None = None
    # Rows made before the run: anything above these ids was made by the run's requests.
    purchases_before: int = 0
    listings_before: int = 0
    trades_before: int = 0


def _max_id(engine: Engine, table: object) -> int:
    with reading(engine) as conn:
        return int(conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one())  # type: ignore[attr-defined]


def build(engine: Engine) -> World:
    migrate.upgrade(engine)
    now = datetime.now(UTC)
    today = business_day(now)
    start = today - timedelta(days=HISTORY_DAYS)
    platform_service.initialise(engine, start_day=start, overrides=RULES, actor="stress")
    world = World(start=start, settled_through=start + timedelta(days=SETTLED_DAYS - 1))
    for n in range(CONSUMERS):
        phone, password = f"139{n:08d}", f"stress-{n:04d}-secret"
        made = identity.register_consumer(engine, phone=phone, password=password, name=f"压测{n}")
        world.consumers.append(Person(made["member_id"], phone, password))
    identity.create_operator(engine, login="stressadmin", password="stress-admin-secret", role="admin")
    world.admin = Person(0, "stressadmin", "stress-admin-secret")
    for s in range(SHOPS):
        owner = world.consumers[s].member_id
        shop = members.add_merchant(engine, name=f"压测商家{s}", owner_id=owner, region="441900", rate="0.10")
        members.approve_merchant(engine, shop, actor="stress")
        members.grant_points(engine, shop, "50000", reason="压测启动积分", actor="stress")
        members.post_deposit(engine, shop, actor="stress")
        key = identity.create_api_key(engine, shop, name=f"stress till {s}", created_by=None)["key"]
        world.shops.append(Shop(shop, s, key))
    for offset in range(SETTLED_DAYS):
        day = start + timedelta(days=offset)
        for n, person in enumerate(world.consumers):
            shop = world.shops[(n + 1) % SHOPS] if n < SHOPS else world.shops[n % SHOPS]
            purchase_service.record_purchase(
                engine,
                merchant_id=shop.merchant_id,
                consumer_id=person.member_id,
                amount=f"{200 + 37 * n}.00",
                at=datetime.combine(day, time(10, n), BUSINESS_TZ),
                key=f"bootstrap-{offset}-{n}",
                actor="stress",
            )
    settlement_service.settle(engine, through=world.settled_through, now=now)
    for person in world.consumers:
        members.set_real_name(engine, person.member_id, "张三", id_number(), now=now)
    for person in [*world.consumers, *(_shop_person(world, s) for s in world.shops)]:
        market.accept_risk_notice(engine, person.member_id, version=1, actor="stress", now=now)
        market.add_payment_method(
            engine,
            person.member_id,
            kind="alipay",
            account_name="张三",
            account_id=f"1390000{person.member_id:04d}",
            now=now,
        )
        market.add_payment_method(
            engine,
            person.member_id,
            kind="bank",
            account_name="张三",
            account_id=f"6222020000{person.member_id:06d}",
            bank_name="工商银行",
            now=now,
        )
    world.purchases_before = _max_id(engine, purchases)
    world.listings_before = _max_id(engine, listings)
    world.trades_before = _max_id(engine, trades)
    return world


def _shop_person(world: World, shop: Shop) -> Person:
    return Person(shop.merchant_id, "", "")
