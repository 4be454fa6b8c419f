"""The later parts of the business in the demo: tiers and the dividend pool, a green merchant,
the regional points mall and digital collectibles.

Everything goes through the services the API and the pages call (no table is written here), in
the order a real week would produce it: the ladder and the pool's rules exist before the first
sale, so every settled day evaluates the tiers (a history that reads forwards) and the last one
pays its daily dividend out of the fees the mall's deliveries brought in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from sharebuy.collectibles import service as collectibles
from sharebuy.demo.picture import Colour, banded_png
from sharebuy.mall import service as mall
from sharebuy.members import domain as member_domain
from sharebuy.members import service as members
from sharebuy.rewards import platform_service
from sharebuy.tiers import green
from sharebuy.tiers import service as tiers

ACTOR = "demo"

# (code, kind, 中文, English, threshold CNY, dividend weight): earned by one's own spending
# (consumers) or turnover (merchants), never by bringing in anybody.
TIERS = [
    ("silver", "consumer", "银卡会员", "Silver", "300", 1),
    ("gold", "consumer", "金卡会员", "Gold", "2000", 2),
    ("diamond", "consumer", "钻石会员", "Diamond", "5000", 4),
    ("growing", "merchant", "成长商家", "Growing shop", "500", 1),
    ("star", "merchant", "星级商家", "Star shop", "10000", 3),
]
# The last demo day pays a daily pool of 0.5% of its turnover, from the mall's fees.
DIVIDEND_RULES = {"dividend_period": "daily", "dividend_pool_rate": "0.005"}
GREEN_NOTE = "绿色食品认证（演示）· green food certification (demo)"

# (merchant index, 中文标题, English title, 中文介绍, English description, points, stock,
#  region or None for the merchant's own, green)
PRODUCTS = [
    (
        0,
        "东莞米粉礼盒",
        "Dongguan rice noodle gift box",
        "东莞本地米粉六袋装，附酱料包。",
        "Six packs of local Dongguan rice noodles with sauce.",
        "68",
        30,
        None,
        False,
    ),
    (
        0,
        "厚街腊肠 500克",
        "Houjie cured sausage, 500 g",
        "厚街传统工艺腊肠，真空包装。",
        "Houjie cured sausage made the traditional way, vacuum packed.",
        "45",
        20,
        None,
        False,
    ),
    (
        1,
        "松山湖手冲咖啡豆 250克",
        "Songshan Lake pour-over beans, 250 g",
        "店内烘焙的中浅烘咖啡豆，一周内发货。",
        "Medium-light beans roasted in the shop, sent within a week.",
        "88",
        15,
        None,
        False,
    ),
    (
        2,
        "增城挂绿荔枝礼盒",
        "Zengcheng lychee gift box",
        "当季增城荔枝 2.5 公斤，冷链配送。",
        "2.5 kg of Zengcheng lychees in season, sent chilled.",
        "120",
        12,
        "440106",
        True,
    ),
    (
        2,
        "有机蔬菜周卡（越秀自提点）",
        "Organic vegetable box (Yuexiu pick-up)",
        "一周的有机时令蔬菜，在越秀区自提点领取。",
        "A week of organic seasonal vegetables, collected at the Yuexiu pick-up point.",
        "60",
        25,
        "440104",
        True,
    ),
]
# (consumer index, product index, quantity, how far it went): placed → shipped → delivered.
ORDERS = [
    (2, 0, 2, "delivered"),
    (4, 3, 1, "delivered"),
    (3, 2, 1, "shipped"),
    (5, 1, 1, "placed"),
]
SHIPPING_NOTES = ["顺丰 SF1400000001", "京东物流 JD0020000002", "中通 ZT7300000003"]

# Real names (实名) for the consumers who may hold collectibles: fictitious people, valid GB 11643
# numbers of Dongguan (441900) computed below, not anybody's real identity.
REAL_NAMES = {2: ("王芳", "44190019900315123"), 3: ("刘洋", "44190019880920456")}


@dataclass(frozen=True)
class Edition:
    title_zh: str
    title_en: str
    description_zh: str
    description_en: str
    supply: int
    price: str
    bands: list[Colour]
    sun: Colour


EDITIONS = [
    Edition(
        "松山湖晨光",
        "Morning on Songshan Lake",
        "松山湖日出时分的湖面，限量 10 份，用积分兑换，只可赠送，不可买卖。",
        "Sunrise over Songshan Lake; 10 tokens, redeemed with points, given away but never sold.",
        10,
        "20",
        [(255, 196, 140), (250, 160, 120), (90, 150, 200), (40, 100, 160)],
        (255, 236, 150),
    ),
    Edition(
        "莞城骑楼",
        "Arcades of Guancheng",
        "莞城老街的骑楼剪影，限量 5 份。",
        "The arcaded street of old Guancheng in silhouette; 5 tokens.",
        5,
        "50",
        [(120, 60, 60), (180, 90, 70), (220, 170, 120), (90, 70, 60)],
        (250, 220, 180),
    ),
]
MINTS = [(0, 2)]  # (edition index, consumer index): a token already in a demo consumer's hands


def set_up_loyalty(engine: Engine, dividend_day: date | None) -> None:
    """The tier ladder, and the daily pool from `dividend_day` on (before any sale is recorded,
    as the rulebook requires: a rule never changes a day that already has records)."""
    for code, kind, name_zh, name_en, threshold, weight in TIERS:
        tiers.set_tier(
            engine,
            code=code,
            member_kind=kind,
            name_zh=name_zh,
            name_en=name_en,
            threshold=threshold,
            weight=weight,
            actor=ACTOR,
        )
    if dividend_day is not None:
        platform_service.set_rules(
            engine,
            DIVIDEND_RULES,
            effective_from=dividend_day,
            actor=ACTOR,
            note="演示：每日分红池 · demo pool",
        )


def certify_green(engine: Engine, merchant_id: int) -> None:
    green.set_green(engine, merchant_id, True, actor=ACTOR, note=GREEN_NOTE)


def stock_mall(engine: Engine, shops: list[int], consumers: list[int], now: datetime) -> dict[str, Any]:
    """The products on the shelves and a few orders, each taken as far as its story goes."""
    product_ids = []
    for shop, title_zh, title_en, text_zh, text_en, price, stock, region, is_green in PRODUCTS:
        listed = mall.create_product(
            engine,
            shops[shop],
            title_zh=title_zh,
            title_en=title_en,
            description_zh=text_zh,
            description_en=text_en,
            price=price,
            stock=stock,
            region=region,
            actor=ACTOR,
            now=now - timedelta(hours=3),
        )
        product_ids.append(int(listed["id"]))
        if is_green:
            mall.certify_green(engine, product_ids[-1], True, actor=ACTOR, now=now - timedelta(hours=3))
    order_ids = []
    for n, (buyer, item, quantity, state) in enumerate(ORDERS):
        merchant_id = shops[PRODUCTS[item][0]]
        order = mall.place_order(
            engine,
            consumers[buyer],
            product_ids[item],
            quantity,
            actor=ACTOR,
            now=now - timedelta(hours=2),
        )
        order_id = int(order["id"])
        order_ids.append(order_id)
        if state in ("shipped", "delivered"):
            mall.ship(
                engine,
                order_id,
                merchant_id,
                note=SHIPPING_NOTES[n % len(SHIPPING_NOTES)],
                actor=ACTOR,
                now=now - timedelta(hours=1),
            )
        if state == "delivered":
            mall.confirm_delivery(
                engine, order_id, consumers[buyer], actor=ACTOR, now=now - timedelta(minutes=30)
            )
    return {"products": product_ids, "orders": order_ids}


def _id_number(first17: str) -> str:
    return first17 + member_domain.id_check_character(first17)


def open_collectibles(engine: Engine, consumers: list[int], now: datetime, *, mint: bool) -> dict[str, Any]:
    """Two editions with pictures drawn in code, real names for two consumers, and (once the
    consumers hold points from a settled day: `mint`) one token minted."""
    for index, (name, first17) in REAL_NAMES.items():
        members.set_real_name(engine, consumers[index], name, _id_number(first17), now=now)
    edition_ids = []
    for spec in EDITIONS:
        edition = collectibles.create_edition(
            engine,
            title_zh=spec.title_zh,
            title_en=spec.title_en,
            description_zh=spec.description_zh,
            description_en=spec.description_en,
            supply=spec.supply,
            price=spec.price,
            opens_at=now - timedelta(days=1),
            closes_at=now + timedelta(days=180),
            image=banded_png(spec.bands, spec.sun),
            actor=ACTOR,
            now=now - timedelta(hours=1),
        )
        edition_ids.append(int(edition["id"]))
    tokens = [
        collectibles.redeem(engine, edition_ids[edition], consumers[holder], actor=ACTOR, now=now)["token_id"]
        for edition, holder in MINTS
        if mint
    ]
    return {"editions": edition_ids, "tokens": tokens}
