"""What every market use case checks before it acts: the clock, the rules of the day, whether
the market is open, whether a member may trade at all, the price band, and who is on which side.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from sharebuy.db.uow import UnitOfWork, is_retryable
from sharebuy.kernel.amounts import Points, Price
from sharebuy.kernel.clock import business_day
from sharebuy.kernel.errors import Forbidden, InvalidInput, Refused, not_found
from sharebuy.market import domain, repository
from sharebuy.rewards import repository as rewards
from sharebuy.rewards.rules import Rulebook

T = TypeVar("T")
Row = Mapping[Any, Any]


def utc_now(now: datetime | None) -> datetime:
    """Every stored moment is UTC (SQLite compares them as text)."""
    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def rules(conn: Connection, now: datetime) -> Rulebook:
    return rewards.rules_for(conn, max(business_day(now), rewards.start_day(conn)))


def is_open(conn: Connection, book: Rulebook) -> bool:
    """Open when the rulebook says so and the operator's switch is not off."""
    switch = repository.switch(conn)
    return bool(book["c2c_market_open"]) and (switch is None or bool(switch["open"]))


def require_open(conn: Connection, book: Rulebook) -> None:
    if not is_open(conn, book):
        raise Refused(
            "market_closed",
            "C2C 市场已暂停：不能挂单或发起新交易，进行中的交易可以继续完成",
            "the C2C market is closed: no new listings or trades; open trades can still finish",
        )


def eligibility(conn: Connection, member_id: int, book: Rulebook) -> list[tuple[str, str, str]]:
    """Why a member may not trade now, as (code, zh, en); empty when it may."""
    row = repository.party(conn, member_id)
    reasons = []
    if row["frozen"]:
        reasons.append(("member_frozen", f"会员 {member_id} 已冻结", f"member {member_id} is frozen"))
    # An approved merchant may already buy: it needs points for its deposit.
    if row["kind"] == "merchant" and row["merchant_status"] not in ("approved", "active", "suspended"):
        reasons.append(
            (
                "merchant_not_trading",
                "商家尚未获批或已关闭，不能交易",
                "a merchant that is not approved, or is closed, may not trade",
            )
        )
    if bool(book["c2c_real_name_required"]) and row["real_name_verified_at"] is None:
        reasons.append(
            (
                "real_name_required",
                "交易前须完成实名登记（商家以店主的实名交易）",
                "trading needs a verified real name first (a merchant trades under its owner's)",
            )
        )
    if row["risk_accepted_at"] is None or int(row["risk_notice_version"] or 0) < domain.RISK_NOTICE_VERSION:
        reasons.append(
            (
                "risk_notice_required",
                "首次交易前须阅读并接受风险提示",
                "read and accept the risk notice before the first trade",
            )
        )
    return reasons


def require_can_trade(conn: Connection, member_id: int, book: Rulebook) -> None:
    reasons = eligibility(conn, member_id, book)
    if reasons:
        code, zh, en = reasons[0]
        raise Refused(code, zh, en, member=member_id)


def require_band(conn: Connection, book: Rulebook, price: Price) -> None:
    band = domain.price_band(rewards.current_guide_price(conn), book["c2c_price_band"])
    if band is not None and not band[0] <= price <= band[1]:
        raise Refused(
            "price_out_of_band",
            f"价格 {price} 不在指导价允许范围 {band[0]}–{band[1]} 内",
            f"price {price} is outside the allowed band {band[0]}–{band[1]} around the guide price",
            low=band[0],
            high=band[1],
        )


def in_band(conn: Connection, book: Rulebook, price: Price) -> bool:
    band = domain.price_band(rewards.current_guide_price(conn), book["c2c_price_band"])
    return band is None or band[0] <= price <= band[1]


def require_unrelated(conn: Connection, buyer_id: int, seller_id: int) -> None:
    if domain.related(repository.people_behind(conn, buyer_id), repository.people_behind(conn, seller_id)):
        raise Refused(
            "self_trade",
            "不能与自己或自己名下/任职的商家交易",
            "no trading with yourself, nor between a merchant and its owner or staff",
        )


def require_may_take(conn: Connection, taker_id: int, buyer_id: int, book: Rulebook, now: datetime) -> None:
    """The taker's per-member limit, and the buyer's cancellations today (SPEC §6 abuse rules)."""
    limit = int(book["c2c_max_open_trades_per_member"])
    if repository.open_trades_taken(conn, taker_id) >= limit:
        raise Refused(
            "too_many_open_trades",
            f"同时进行中的交易不能超过 {limit} 笔",
            f"at most {limit} open trades at a time",
            limit=limit,
        )
    if repository.cancellations(conn, buyer_id, business_day(now)) >= domain.CANCELS_PER_DAY:
        raise Refused(
            "cancellation_limit",
            f"买方今日已取消 {domain.CANCELS_PER_DAY} 笔交易，明日才能再买",
            f"the buyer cancelled {domain.CANCELS_PER_DAY} trades today and may buy again tomorrow",
        )


def quantity(value: object, book: Rulebook, what: str = "quantity") -> Points:
    amount = Points.parse(value)
    minimum: Points = book["c2c_min_order_points"]
    if amount < minimum:
        raise InvalidInput(
            "below_min_order",
            f"{what} 不能少于 {minimum} 积分",
            f"{what} must be at least {minimum} points",
            minimum=minimum,
        )
    return amount


MAX_PRICE = Price.parse("10000")


def price(value: object) -> Price:
    found = Price.parse(value)
    if not found.is_positive() or found > MAX_PRICE:
        raise InvalidInput(
            "invalid_price",
            f"单价应在 0.0001 到 {MAX_PRICE} 元之间",
            f"the price must lie in 0.0001..{MAX_PRICE}",
        )
    return found


def role_in(trade: Row, member_id: int) -> str:
    """Which side of the trade a member is on; a stranger is told the trade does not exist."""
    if int(trade["buyer_id"]) == member_id:
        return domain.BUYER
    if int(trade["seller_id"]) == member_id:
        return domain.SELLER
    raise not_found("交易", "trade", trade["id"])


def not_yours(what_zh: str, what_en: str) -> Forbidden:
    return Forbidden("not_yours", f"这不是你的{what_zh}", f"this {what_en} is not yours")


def side_effect(engine: Engine, work: Callable[[UnitOfWork], T], attempts: int = 5) -> T:
    """A short write of its own, outside any request's idempotency record (a due timeout applied
    before the request's own transaction): it is the system's act, not the caller's."""
    for attempt in range(attempts):
        try:
            with UnitOfWork(engine) as uow:
                return work(uow)
        except Exception as error:
            if attempt + 1 >= attempts or not is_retryable(error):
                raise
    raise AssertionError("unreachable")
