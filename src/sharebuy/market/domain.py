"""Pure market rules (SPEC §6, §10): the trade state machine, money maths, the risk notice.

Standard library only.  The transition TABLE below is the single definition of which event may
move a trade from which state, who may trigger it and what it does to the escrow; the service
applies every transition through it, so no code path can invent a state change.

Worked example: 10.0000 points at 2.0000 CNY with a 1% fee
    amount = 10 × 2.00 = 20.00 CNY        (paid by the buyer to the seller, off-platform)
    fee    = 10 × 0.01 = 0.1000 points    (half-up to 0.0001, to the platform fee account)
    buyer receives 9.9000 points out of the seller's escrow on completion.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sharebuy.kernel.amounts import Cny, Points, Price
from sharebuy.kernel.errors import Conflict, Forbidden, InvalidInput

# -- trade states, events and the transition table ----------------------------------------------

AWAITING_PAYMENT = "awaiting_payment"
PAID = "paid"
DISPUTED = "disputed"
COMPLETED = "completed"
CANCELLED = "cancelled"
STATES = (AWAITING_PAYMENT, PAID, DISPUTED, COMPLETED, CANCELLED)
OPEN_STATES = (AWAITING_PAYMENT, PAID, DISPUTED)  # the escrow is still held for these

BUYER, SELLER, OPERATOR, SYSTEM = "buyer", "seller", "operator", "system"

# What a transition does to the escrowed points.
HOLD = "hold"  # nothing moves
RELEASE = "release"  # escrow -> buyer (less the fee) and fee account
RETURN = "return"  # back to the listing's remaining, or to the seller


@dataclass(frozen=True, slots=True)
class Transition:
    source: str
    event: str  # also the outbox topic: market.trade.<event>
    target: str
    roles: frozenset[str]
    effect: str
    needs_reason: bool = False


def _t(
    source: str, event: str, target: str, roles: Iterable[str], effect: str, reason: bool = False
) -> Transition:
    return Transition(source, event, target, frozenset(roles), effect, reason)


TRANSITIONS: dict[tuple[str, str], Transition] = {
    (t.source, t.event): t
    for t in (
        _t(AWAITING_PAYMENT, "paid", PAID, {BUYER}, HOLD),
        _t(AWAITING_PAYMENT, "cancelled", CANCELLED, {BUYER}, RETURN),
        _t(AWAITING_PAYMENT, "expired", CANCELLED, {SYSTEM}, RETURN),
        _t(PAID, "confirmed", COMPLETED, {SELLER}, RELEASE),
        _t(PAID, "disputed", DISPUTED, {BUYER, SELLER}, HOLD, reason=True),
        # The platform cannot see cash: an unconfirmed payment goes to an operator, never released.
        _t(PAID, "escalated", DISPUTED, {SYSTEM}, HOLD),
        # A seller may still acknowledge the money during a dispute.
        _t(DISPUTED, "confirmed", COMPLETED, {SELLER}, RELEASE),
        _t(DISPUTED, "released", COMPLETED, {OPERATOR}, RELEASE, reason=True),
        _t(DISPUTED, "returned", CANCELLED, {OPERATOR}, RETURN, reason=True),
    )
}
OPENED = "opened"  # the creation of a trade: logged like a transition, from no state
EVENTS = (OPENED, *sorted({t.event for t in TRANSITIONS.values()}))
TOPICS = tuple(f"market.trade.{event}" for event in EVENTS)

STATE_ZH = {
    AWAITING_PAYMENT: "待付款",
    PAID: "已付款待确认",
    DISPUTED: "申诉中",
    COMPLETED: "已完成",
    CANCELLED: "已取消",
}


def step(status: str, event: str, role: str) -> Transition:
    """The transition for `event` from `status` by `role`, or the refusal that explains why not."""
    found = TRANSITIONS.get((status, event))
    if found is None:
        raise Conflict(
            "invalid_trade_transition",
            f"交易当前状态为「{STATE_ZH.get(status, status)}」，不能执行 {event}",
            f"a trade that is {status} cannot be {event}",
            status=status,
            event=event,
        )
    if role not in found.roles:
        raise Forbidden(
            "trade_role_forbidden",
            f"交易的{_ROLE_ZH.get(role, role)}不能执行 {event}",
            f"the trade's {role} may not make it {event}",
            role=role,
            event=event,
        )
    return found


_ROLE_ZH = {BUYER: "买方", SELLER: "卖方", OPERATOR: "运营", SYSTEM: "系统"}

# -- abuse rules ---------------------------------------------------------------------------------

CANCELS_PER_DAY = 3  # a buyer with this many cancellations in a business day takes no trades that day


def related(people_a: Iterable[int], people_b: Iterable[int]) -> bool:
    """Two members are one party if the people behind them overlap (a merchant's owner and
    staff stand behind it): no self-trade, not even through one's own shop (刷单)."""
    return bool(set(people_a) & set(people_b))


# -- amounts ------------------------------------------------------------------------------------


def trade_amount(quantity: Points, price: Price) -> Cny:
    """CNY the buyer pays: quantity × price, half-up to 0.01."""
    return Cny.from_decimal(quantity.to_decimal() * price.to_decimal(), "half_up")


def trade_fee(quantity: Points, rate: Decimal) -> Points:
    """Points the platform keeps out of the escrow: quantity × rate, half-up to 0.0001."""
    return Points.from_decimal(quantity.to_decimal() * rate, "half_up")


def price_band(guide: Price, band: Decimal) -> tuple[Price, Price] | None:
    """Lowest and highest allowed price around the guide price; None when the band is off.

    The bounds are rounded inward (low up, high down) so no allowed price lies outside the band.
    """
    if band <= 0:
        return None
    low = Price.from_decimal(guide.to_decimal() * (1 - band), "round_up")
    high = Price.from_decimal(guide.to_decimal() * (1 + band), "truncate")
    return max(low, Price(1)), high


def vwap(notional: int, quantity: int) -> Price | None:
    """Volume-weighted price from Σ(quantity units × price units) and Σ quantity units.

    Exact integer maths, half-up to the price unit: (2n + q) // 2q.
    """
    if quantity <= 0:
        return None
    return Price((2 * notional + quantity) // (2 * quantity))


@dataclass(frozen=True, slots=True)
class Candle:
    day: date
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Points
    turnover: Cny
    trades: int
    vwap: Price


def candles(rows: Iterable[tuple[date, int, int, int]]) -> list[Candle]:
    """Daily OHLC from completed trades (day, price, quantity, amount) in completion order."""
    by_day: dict[date, list[tuple[int, int, int]]] = {}
    for day, price, quantity, amount in rows:
        by_day.setdefault(day, []).append((int(price), int(quantity), int(amount)))
    out = []
    for day in sorted(by_day):
        fills = by_day[day]
        prices = [p for p, _, _ in fills]
        volume = sum(q for _, q, _ in fills)
        average = vwap(sum(p * q for p, q, _ in fills), volume)
        assert average is not None
        out.append(
            Candle(
                day=day,
                open=Price(prices[0]),
                high=Price(max(prices)),
                low=Price(min(prices)),
                close=Price(prices[-1]),
                volume=Points(volume),
                turnover=Cny(sum(a for _, _, a in fills)),
                trades=len(fills),
                vwap=average,
            )
        )
    return out


def order_size_ok(take: int, remaining: int, low: int, high: int) -> bool:
    """A take between the order's min and max, or the whole of a remainder below the minimum."""
    if take <= 0 or take > remaining:
        return False
    return low <= take <= high or (take == remaining and remaining < low)


# -- payment methods -----------------------------------------------------------------------------

PAYMENT_KINDS = ("alipay", "wechat", "bank")
KIND_ZH = {"alipay": "支付宝", "wechat": "微信支付", "bank": "银行卡"}


def parse_kinds(values: Iterable[str] | str) -> tuple[str, ...]:
    """Accepted payment kinds, deduplicated, in the canonical order; at least one."""
    names = values.split(",") if isinstance(values, str) else list(values)
    chosen = {str(v).strip().lower() for v in names if str(v).strip()}
    unknown = chosen - set(PAYMENT_KINDS)
    if unknown:
        raise InvalidInput(
            "invalid_payment_kind",
            f"不支持的收款方式：{', '.join(sorted(unknown))}（可选 alipay、wechat、bank）",
            f"unknown payment method: {', '.join(sorted(unknown))} (alipay, wechat or bank)",
        )
    if not chosen:
        raise InvalidInput(
            "payment_kind_required", "请至少选择一种收款方式", "choose at least one payment method"
        )
    return tuple(k for k in PAYMENT_KINDS if k in chosen)


_BANK_CARD = re.compile(r"^[0-9]{12,19}$")
_ALIPAY = re.compile(r"^(1[3-9][0-9]{9}|[^@\s]{1,64}@[^@\s]{1,190}\.[A-Za-z]{2,})$")
_WECHAT = re.compile(r"^[A-Za-z][-_A-Za-z0-9]{5,19}$|^1[3-9][0-9]{9}$")


def clean_account(kind: str, account_name: str, account_id: str, bank_name: str = "") -> tuple[str, str, str]:
    """Validate a payment method's details: the holder's name and the account number or id."""
    (kind,) = parse_kinds([kind])
    name = " ".join(str(account_name or "").split())
    if not 1 <= len(name) <= 50 or not name.isprintable():
        raise InvalidInput(
            "invalid_account_name",
            "收款人姓名应为 1–50 个可显示的字符",
            "the account holder's name takes 1–50 printable characters",
        )
    ident = re.sub(r"\s", "", str(account_id or ""))
    pattern = {"bank": _BANK_CARD, "alipay": _ALIPAY, "wechat": _WECHAT}[kind]
    if not pattern.match(ident) or not ident.isprintable():
        raise InvalidInput(
            "invalid_account_id",
            f"{KIND_ZH[kind]}账号格式不正确",
            f"not a valid {kind} account: bank cards take 12–19 digits, Alipay a phone or e-mail, "
            "WeChat an id of 6–20 characters",
        )
    bank = " ".join(str(bank_name or "").split())
    if kind == "bank" and not (1 <= len(bank) <= 50 and bank.isprintable()):
        raise InvalidInput("bank_name_required", "请填写开户银行", "name the bank of the card")
    return name, ident, bank if kind == "bank" else ""


def mask(account_id: str) -> str:
    """An account shown to someone who may not see it: its last four characters only."""
    return "****" + account_id[-4:] if len(account_id) > 4 else "****"


# -- evidence ------------------------------------------------------------------------------------

MAX_IMAGE_BYTES = 2 * 1024 * 1024
MAX_TEXT_CHARS = 2000
MAX_EVIDENCE_PER_TRADE = 20
_MAGIC: Sequence[tuple[bytes, str]] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def sniff_image(data: bytes) -> str:
    """The image type from the file's own first bytes; anything else is refused (a declared
    content type is never trusted: a script named .png stays a script)."""
    for magic, content_type in _MAGIC:
        if data.startswith(magic):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    raise InvalidInput(
        "unsupported_image",
        "只接受 PNG、JPEG、GIF 或 WebP 图片",
        "only PNG, JPEG, GIF or WebP images are accepted",
    )


def check_image_size(size: int) -> None:
    if size <= 0:
        raise InvalidInput("empty_evidence", "证据文件为空", "the evidence file is empty")
    if size > MAX_IMAGE_BYTES:
        raise InvalidInput(
            "evidence_too_large",
            f"图片不能超过 {MAX_IMAGE_BYTES // 1024 // 1024} MB",
            f"an image may be at most {MAX_IMAGE_BYTES // 1024 // 1024} MB",
        )


# -- the risk notice (SPEC §10) ------------------------------------------------------------------

RISK_NOTICE_VERSION = 1
RISK_NOTICE_ZH = (
    "风险提示：共享积分的价格由会员之间的交易决定，可能下跌，也可能无人接手；"
    "平台只托管积分，从不经手、保管或兑付任何现金，买方直接向卖方付款，款项纠纷平台只能依证据裁决；"
    "平台不承诺任何收益、回报或积分升值，过去的价格不代表将来。请仅用闲置资金参与，并确认您已年满 18 周岁、"
    "以本人实名交易。"
)
RISK_NOTICE_EN = (
    "Risk notice: the price of shared points is set by trades between members; it can fall, and "
    "there may be no buyer at all. The platform only escrows points: it never handles, holds or "
    "pays out cash; the buyer pays the seller directly, and in a payment dispute the platform can "
    "only decide on the evidence. The platform promises no return, no yield and no rise in value; "
    "past prices say nothing about future ones. Trade only money you can spare, under your own "
    "verified name, and only if you are 18 or older."
)
