"""The market's ledger entries: points into escrow, back to the seller, and out to the buyer.

Every escrow posting carries a reference naming the listing (`market:listing:<id>`) or the trade
(`market:trade:<id>`) it belongs to, so verify can recompute each listing's escrow from the
journal alone and compare it with the listing's remaining plus its open trades (I6).  Member
accounts are locked through ledger.lock_member_accounts (ascending ids) before a balance is read.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import Connection

from sharebuy.kernel.amounts import Points
from sharebuy.kernel.clock import business_day
from sharebuy.kernel.errors import Refused
from sharebuy.ledger import repository as ledger
from sharebuy.ledger.domain import PT, Leg
from sharebuy.rewards import repository as rewards

ESCROW_KIND = "market_escrow"
RETURN_KIND = "market_return"
RELEASE_KIND = "market_release"
KINDS = (ESCROW_KIND, RETURN_KIND, RELEASE_KIND)


def listing_ref(listing_id: int) -> str:
    return f"market:listing:{listing_id}"


def trade_ref(trade_id: int) -> str:
    return f"market:trade:{trade_id}"


def posting_day(conn: Connection, now: datetime) -> date:
    """The business day market entries and completions count on: today, never before the first
    business day, and never a day whose settlement has begun (its guide price is fixed)."""
    day = max(business_day(now), rewards.start_day(conn))
    started = rewards.last_started_day(conn)
    if started is not None and day <= started:
        day = started + timedelta(days=1)
    return day


def hold(
    conn: Connection, member_id: int, quantity: Points, *, day: date, reference: str, actor: str, reason: str
) -> int:
    """available → escrow for a seller; refused, writing nothing, if available is short."""
    locked = ledger.lock_member_accounts(conn, [member_id])
    own = locked[member_id]
    available = Points(own["available"][1])
    if available < quantity:
        raise Refused(
            "insufficient_points",
            f"可用积分 {available} 不足 {quantity}",
            f"available points {available} are fewer than {quantity}",
            available=available,
            needed=quantity,
        )
    return ledger.post(
        conn,
        kind=ESCROW_KIND,
        business_day=day,
        legs=[Leg(own["available"][0], PT, -quantity.units), Leg(own["escrow"][0], PT, quantity.units)],
        reference=reference,
        reason=reason,
        actor=actor,
        locked=locked.flat(),
    )


def give_back(
    conn: Connection, member_id: int, quantity: Points, *, day: date, reference: str, actor: str, reason: str
) -> int:
    """escrow → available for a seller (a cancelled listing, a returned trade)."""
    locked = ledger.lock_member_accounts(conn, [member_id])
    own = locked[member_id]
    return ledger.post(
        conn,
        kind=RETURN_KIND,
        business_day=day,
        legs=[Leg(own["escrow"][0], PT, -quantity.units), Leg(own["available"][0], PT, quantity.units)],
        reference=reference,
        reason=reason,
        actor=actor,
        locked=locked.flat(),
    )


def release(
    conn: Connection,
    seller_id: int,
    buyer_id: int,
    quantity: Points,
    fee: Points,
    *,
    day: date,
    reference: str,
    actor: str,
    reason: str,
) -> int:
    """escrow(seller) → available(buyer) less the fee → the platform fee account."""
    locked = ledger.lock_member_accounts(conn, [seller_id, buyer_id])
    legs = [
        Leg(locked[seller_id]["escrow"][0], PT, -quantity.units),
        Leg(locked[buyer_id]["available"][0], PT, (quantity - fee).units),
    ]
    platform_ids: list[int] = []
    if fee.is_positive():
        fees = ledger.platform_accounts(conn)["fees"]
        legs.append(Leg(fees, PT, fee.units))
        platform_ids.append(fees)
    return ledger.post(
        conn,
        kind=RELEASE_KIND,
        business_day=day,
        legs=[leg for leg in legs if leg.amount],
        reference=reference,
        reason=reason,
        actor=actor,
        platform_ids=platform_ids,
        locked=locked.flat(),
    )
