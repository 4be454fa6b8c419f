"""Demo data: a small, deterministic week of the economy, loaded once.

Two merchants in Dongguan (东莞, region 441900) bootstrapped with points from the reserve, six
consumers shopping over the past week, every finished day settled.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine

from sharebuy.db.uow import reading
from sharebuy.kernel.clock import BUSINESS_TZ, business_day
from sharebuy.members import repository as member_repo
from sharebuy.members import service as members
from sharebuy.rewards import platform_service, purchase_service, settlement_service
from sharebuy.rewards import repository as rewards

CONSUMERS = [
    ("13800000001", "张伟"),
    ("13800000002", "李娜"),
    ("13800000003", "王芳"),
    ("13800000004", "刘洋"),
    ("13800000005", "陈静"),
    ("13800000006", "杨磊"),
]
MERCHANTS = [  # (name, owner index, rate)
    ("莞带生活超市", 0, "0.10"),
    ("松山湖咖啡", 1, "0.12"),
]
# (day offset from the start, merchant index, consumer index, amount)
PURCHASES = [
    (0, 0, 2, "5000.00"),
    (0, 1, 3, "88.00"),
    (0, 0, 4, "1260.50"),
    (1, 0, 3, "320.00"),
    (1, 1, 2, "45.00"),
    (1, 1, 5, "99.90"),
    (2, 0, 5, "2100.00"),
    (2, 1, 4, "36.00"),
    (3, 0, 2, "760.00"),
    (3, 1, 3, "128.00"),
    (3, 0, 1, "450.00"),
    (4, 1, 0, "66.60"),
    (4, 0, 4, "980.00"),
    (5, 0, 3, "1500.00"),
    (5, 1, 5, "72.00"),
    (5, 1, 2, "58.00"),
]
DEMO_DAYS = 7


def load(engine: Engine, *, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    today = business_day(now)
    with reading(engine) as conn:
        started = rewards.is_initialised(conn)
        if started and member_repo.consumer_by_phone(conn, CONSUMERS[0][0]) is not None:
            return {"loaded": False, "reason": "demo data already present", **_summary(engine)}
    if not started:
        platform_service.initialise(engine, start_day=today - timedelta(days=DEMO_DAYS), actor="demo")
    ids = [members.add_consumer(engine, phone=p, name=n) for p, n in CONSUMERS]
    shops = []
    for name, owner, rate in MERCHANTS:
        shop = members.add_merchant(engine, name=name, owner_id=ids[owner], region="441900", rate=rate)
        members.approve_merchant(engine, shop, actor="demo")
        members.grant_points(engine, shop, "2000", reason="启动积分（线下按初始价售出）", actor="demo")
        members.post_deposit(engine, shop, actor="demo")
        shops.append(shop)
    with reading(engine) as conn:
        first_open = rewards.start_day(conn)
        last = rewards.last_started_day(conn)
        if last is not None:
            first_open = max(first_open, last + timedelta(days=1))
    for offset, shop, buyer, amount in PURCHASES:
        day = min(first_open + timedelta(days=offset), today)
        at = datetime.combine(day, time(10 + offset, 30), BUSINESS_TZ)
        purchase_service.record_purchase(
            engine,
            merchant_id=shops[shop],
            consumer_id=ids[buyer],
            amount=amount,
            at=at,
            key=f"demo-{offset}-{shop}-{buyer}",
            actor="demo",
        )
    if today - timedelta(days=1) >= first_open:
        settlement_service.settle(engine, through=today - timedelta(days=1), now=now)
    return {"loaded": True, "consumers": ids, "merchants": shops, **_summary(engine)}


def _summary(engine: Engine) -> dict[str, Any]:
    with reading(engine) as conn:
        last = rewards.last_settlement(conn)
    return {
        "last_settled_day": None if last is None else last[0],
        "guide_price": None if last is None else last[1],
    }
