"""Pure points-mall rules (SPEC §7 区域产品兑换): the order state machine, product fields,
region filters and the arithmetic of a redemption.  Standard library only.

The transition TABLE is the single definition of which event may move an order from which
state, who may trigger it and what it does to the points in the mall escrow; the service
applies every change through it.

Worked example: 2 × 150.0000 points, a 2% fee, a green product, guide price 1.2000, bonus 5%
    points   = 2 × 150 = 300.0000          (consumer available → mall escrow on placing)
    fee      = 300 × 0.02 = 6.0000         (half-up to 0.0001, to the platform fee account)
    merchant receives 294.0000 on delivery
    green SV = 300 × 1.20 × 0.05 = 18.00   (half-up to 0.01, minted for the consumer)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit

from sharebuy.kernel.amounts import Points, Price, ShareValue
from sharebuy.kernel.errors import Conflict, Forbidden, InvalidInput

# -- order states, events and the transition table ------------------------------------------

PLACED = "placed"
SHIPPED = "shipped"
DELIVERED = "delivered"
CANCELLED = "cancelled"
STATES = (PLACED, SHIPPED, DELIVERED, CANCELLED)
OPEN_STATES = (PLACED, SHIPPED)  # the points are still in the mall escrow for these

CONSUMER, MERCHANT, OPERATOR, SYSTEM = "consumer", "merchant", "operator", "system"

# What a transition does to the escrowed points.
HOLD = "hold"  # nothing moves
PAY = "pay"  # escrow -> the merchant (less the fee) and the fee account; green bonus minted
REFUND = "refund"  # escrow -> back to the consumer, in full


@dataclass(frozen=True, slots=True)
class Transition:
    source: str
    event: str  # also the outbox topic: mall.order.<event>
    target: str
    roles: frozenset[str]
    effect: str


def _t(source: str, event: str, target: str, roles: Iterable[str], effect: str) -> Transition:
    return Transition(source, event, target, frozenset(roles), effect)


TRANSITIONS: dict[tuple[str, str], Transition] = {
    (t.source, t.event): t
    for t in (
        _t(PLACED, "shipped", SHIPPED, {MERCHANT}, HOLD),
        # Either side may back out before the goods leave; the consumer gets every point back.
        _t(PLACED, "cancelled", CANCELLED, {CONSUMER, MERCHANT}, REFUND),
        _t(SHIPPED, "delivered", DELIVERED, {CONSUMER, SYSTEM}, PAY),
    )
}
OPENED = "placed"  # the creation of an order: logged like a transition, from no state
EVENTS = (OPENED, "shipped", "delivered", "cancelled")
TOPICS = tuple(f"mall.order.{event}" for event in EVENTS)

STATE_ZH = {PLACED: "待发货", SHIPPED: "已发货", DELIVERED: "已收货", CANCELLED: "已取消"}
_ROLE_ZH = {CONSUMER: "兑换人", MERCHANT: "商家", OPERATOR: "运营", SYSTEM: "系统"}


def step(status: str, event: str, role: str) -> Transition:
    """The transition for `event` from `status` by `role`, or the refusal that explains why not."""
    found = TRANSITIONS.get((status, event))
    if found is None:
        raise Conflict(
            "invalid_order_transition",
            f"订单当前状态为「{STATE_ZH.get(status, status)}」，不能执行 {event}",
            f"an order that is {status} cannot be {event}",
            status=status,
            event=event,
        )
    if role not in found.roles:
        raise Forbidden(
            "order_role_forbidden",
            f"订单的{_ROLE_ZH.get(role, role)}不能执行 {event}",
            f"the order's {role} may not make it {event}",
            role=role,
            event=event,
        )
    return found


# -- products ------------------------------------------------------------------------------------

PRODUCT_ACTIVE, PRODUCT_PAUSED = "active", "paused"
PRODUCT_STATUSES = (PRODUCT_ACTIVE, PRODUCT_PAUSED)
MAX_STOCK = 1_000_000
MAX_QUANTITY = 100  # per order: a redemption is a household's, not a wholesaler's
MAX_PRICE = Points.parse("1000000")
MAX_URL = 500


def price(value: object) -> Points:
    found = Points.parse(value)
    if not found.is_positive() or found > MAX_PRICE:
        raise InvalidInput(
            "invalid_price",
            f"商品积分价应在 0.0001 到 {MAX_PRICE} 之间",
            f"the price in points must lie in 0.0001..{MAX_PRICE}",
        )
    return found


def _whole(value: object, low: int, high: int, code: str, zh: str, en: str) -> int:
    text = str(value).strip()
    if isinstance(value, bool) or not re.fullmatch(r"-?\d{1,9}", text) or not low <= int(text) <= high:
        raise InvalidInput(
            code, f"{zh}应为 {low} 到 {high} 的整数", f"{en} must be a whole number {low}..{high}"
        )
    return int(text)


def stock(value: object, *, low: int = 0) -> int:
    return _whole(value, low, MAX_STOCK, "invalid_stock", "库存", "stock")


def quantity(value: object) -> int:
    return _whole(value, 1, MAX_QUANTITY, "invalid_quantity", "兑换数量", "quantity")


def picture_url(value: object) -> str | None:
    """An optional picture: https only, so a page never loads anything over plain http."""
    text = str(value or "").strip()
    if not text:
        return None
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:  # e.g. "https://[" (an unclosed IPv6 literal)
        parts, host = None, None
    if (
        len(text) > MAX_URL
        or parts is None
        or parts.scheme != "https"
        or not host
        or any(c.isspace() or not c.isprintable() for c in text)
    ):
        raise InvalidInput(
            "invalid_picture_url",
            f"图片地址须为 https:// 开头的网址，最多 {MAX_URL} 个字符",
            f"the picture must be an https:// URL of at most {MAX_URL} characters",
        )
    return text


def product_status(value: object) -> str:
    text = str(value or "").strip()
    if text not in PRODUCT_STATUSES:
        raise InvalidInput(
            "invalid_product_status", "商品状态只能是 active 或 paused", "a product is active or paused"
        )
    return text


def region_prefix(value: object) -> str:
    """A consumer's region filter: a province (2 digits), a city (4) or a district (6) of a
    GB/T 2260 code; the code's trailing zeros name the larger unit (440000 = the province)."""
    text = str(value or "").strip()
    if not re.fullmatch(r"\d{2}|\d{4}|\d{6}", text):
        raise InvalidInput(
            "invalid_region_filter",
            "地区筛选应为 2 位（省）、4 位（市）或 6 位（区县）行政区划代码",
            "the region filter is 2 (province), 4 (city) or 6 (district) digits of a GB/T 2260 code",
        )
    if len(text) == 6:
        # 440000 and 441900 are a province and a city written in full: match them as prefixes.
        while len(text) > 2 and text.endswith("00"):
            text = text[:-2]
    return text


# -- arithmetic ----------------------------------------------------------------------------------


def total(unit_price: Points, count: int) -> Points:
    return Points(unit_price.units * count)


def fee(points: Points, rate: Decimal) -> Points:
    """The platform's fee on a delivered redemption, half-up to 0.0001, never above the points."""
    return min(Points.from_decimal(points.to_decimal() * rate, "half_up"), points)


def green_bonus(points: Points, guide_price: Price, rate: Decimal) -> ShareValue:
    """Share value for redeeming a green product: the points' value at the guide price × rate."""
    return ShareValue.from_decimal(points.to_decimal() * guide_price.to_decimal() * rate, "half_up")
