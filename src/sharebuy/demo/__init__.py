"""Demo data: a small, deterministic week of the economy, loaded once.

Three merchants bootstrapped with points from the reserve, two in Dongguan (东莞, region 441900)
and a green-certified one in Guangzhou (广州天河, 440106), six consumers shopping over the past
week, every finished day settled.  The later parts are there too (showcase.py): a tier ladder
that every settled day evaluates, a daily dividend pool paid on the last day out of the mall's
fees, mall products in three regions with orders placed, shipped and delivered, and two
collectible editions, one token already minted.  Everyone can sign in: the consumers (three of
them own the shops), an admin and an auditor, with passwords drawn at random when the data is
loaded and written, with a POS key of the first shop, to a local file that only its owner can
read (never to the repository).
"""

from __future__ import annotations

import json
import os
import secrets
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from sharebuy.db.uow import reading
from sharebuy.demo import showcase
from sharebuy.identity import service as identity
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
MERCHANTS = [  # (name, owner index, rate, region)
    ("莞带生活超市", 0, "0.10", "441900"),
    ("松山湖咖啡", 1, "0.12", "441900"),
    ("天河绿源生鲜", 5, "0.15", "440106"),  # certified green: its sales earn a green bonus
]
GREEN_SHOP = 2
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
    (2, 2, 2, "268.00"),
    (4, 2, 3, "188.00"),
    (6, 0, 2, "420.00"),  # the last day: its turnover feeds the daily dividend pool
    (6, 1, 3, "39.00"),
    (6, 2, 4, "326.00"),
]
DEMO_DAYS = 7
# (login, pages, what is there): printed with the sign-ins so a first visitor knows where to go.
WHERE_TO_LOOK = [
    (
        "13800000003",
        "/wallet /mall/orders /collectibles/my",
        "钻石会员、分红、已收货的商城订单、一枚数字藏品 · Diamond tier, a dividend, a delivered order, a token",
    ),
    (
        "13800000004",
        "/mall /mall/orders /collectibles",
        "待确认收货的订单、已实名可兑换藏品 · a shipped order to confirm; real name set, may redeem",
    ),
    (
        "13800000006",
        "/merchant /mall/shop",
        "绿色商家天河绿源生鲜：商品与订单 · the green shop in Guangzhou: products, orders",
    ),
    (
        "admin",
        "/ops/tiers /ops/dividends /ops/green /ops/mall /ops/collectibles",
        "会员等级、分红报告、绿色商家、商城与藏品概览 · tiers, dividend report, green shops, mall, collectibles",
    ),
]


def load(engine: Engine, *, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    today = business_day(now)
    with reading(engine) as conn:
        started = rewards.is_initialised(conn)
        if started and member_repo.consumer_by_phone(conn, CONSUMERS[0][0]) is not None:
            return {"loaded": False, "reason": "demo data already present", **_summary(engine)}
    if not started:
        platform_service.initialise(engine, start_day=today - timedelta(days=DEMO_DAYS), actor="demo")
    accounts: list[dict[str, str]] = []
    ids = []
    for phone, name in CONSUMERS:
        password = _password()
        ids.append(identity.register_consumer(engine, phone=phone, password=password, name=name)["member_id"])
        accounts.append({"login": phone, "password": password, "role": "consumer", "name": name})
    for login, role in (("admin", "admin"), ("auditor", "auditor")):
        password = _password()
        identity.create_operator(engine, login=login, password=password, role=role)
        accounts.append({"login": login, "password": password, "role": role, "name": login})
    shops = []
    for name, owner, rate, region in MERCHANTS:
        shop = members.add_merchant(engine, name=name, owner_id=ids[owner], region=region, rate=rate)
        members.approve_merchant(engine, shop, actor="demo")
        members.grant_points(engine, shop, "2000", reason="启动积分（线下按初始价售出）", actor="demo")
        members.post_deposit(engine, shop, actor="demo")
        shops.append(shop)
    with reading(engine) as conn:
        first_open = rewards.start_day(conn)
        last = rewards.last_started_day(conn)
        if last is not None:
            first_open = max(first_open, last + timedelta(days=1))
    # The last demo day (if it is over) closes a daily dividend period; its rules come first,
    # since a rule may only start on a day that has no records yet.
    last_day = min(first_open + timedelta(days=max(p[0] for p in PURCHASES)), today)
    showcase.set_up_loyalty(engine, last_day if last_day < today else None)
    showcase.certify_green(engine, shops[GREEN_SHOP])
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
    # Settle all but the last finished day, let the mall's deliveries bring fees in, then settle
    # the last day, whose dividend the fees pay.  The mall needs consumers who hold points, from
    # at least one settled day.
    yesterday = today - timedelta(days=1)
    extras: dict[str, Any] = {}
    if yesterday - timedelta(days=1) >= first_open:
        settlement_service.settle(engine, through=yesterday - timedelta(days=1), now=now)
        extras["mall"] = showcase.stock_mall(engine, shops, ids, now)
    if yesterday >= first_open:
        settlement_service.settle(engine, through=yesterday, now=now)
    extras["collectibles"] = showcase.open_collectibles(engine, ids, now, mint="mall" in extras)
    pos = identity.create_api_key(engine, shops[0], name="演示收银机 demo till", created_by=None)
    _save_accounts({"accounts": accounts, "pos_key": {"merchant_id": shops[0], "key": pos["key"]}})
    return {"loaded": True, "consumers": ids, "merchants": shops, **extras, **_summary(engine)}


def accounts_file() -> Path:
    return Path(os.environ.get("SHAREBUY_DEMO_ACCOUNTS", "var/demo-accounts.json"))


def _password() -> str:
    return "demo-" + secrets.token_urlsafe(9)


def _save_accounts(data: dict[str, object]) -> None:
    path = accounts_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, ensure_ascii=False, indent=2)


def saved_accounts() -> dict[str, object] | None:
    """The demo sign-ins written when the data was loaded, if this machine loaded it."""
    try:
        loaded: dict[str, object] = json.loads(accounts_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return loaded


def _summary(engine: Engine) -> dict[str, Any]:
    with reading(engine) as conn:
        last = rewards.last_settlement(conn)
    return {
        "last_settled_day": None if last is None else last[0],
        "guide_price": None if last is None else last[1],
    }
