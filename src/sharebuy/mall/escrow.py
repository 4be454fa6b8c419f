"""The mall's ledger entries: a consumer's points into the platform's mall escrow, back to the
consumer, or on to the merchant (less the fee) with the green bonus minted on the way.

Every entry carries the reference `mall:order:<id>`, so verify can recompute each order's
escrow from the journal alone and compare it with the open orders.  Member accounts are locked
through ledger.lock_member_accounts (ascending ids) before a balance is read; the shared
platform accounts come last (ledger.post orders them so).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection

from sharebuy.kernel.amounts import Points, ShareValue
from sharebuy.kernel.errors import Refused
from sharebuy.ledger import repository as ledger
from sharebuy.ledger.domain import PT, SV, Leg
from sharebuy.rewards import domain as rewards_domain

HOLD_KIND = "mall_hold"
REFUND_KIND = "mall_refund"
PAY_KIND = "mall_pay"
KINDS = (HOLD_KIND, REFUND_KIND, PAY_KIND)
ESCROW = "mall_escrow"


def order_ref(order_id: int) -> str:
    return f"mall:order:{order_id}"


def hold(conn: Connection, consumer_id: int, points: Points, *, day: date, order_id: int, actor: str) -> int:
    """available → the mall escrow; refused, writing nothing, if available is short."""
    locked = ledger.lock_member_accounts(conn, [consumer_id])
    own = locked[consumer_id]
    available = Points(own["available"][1])
    if available < points:
        raise Refused(
            "insufficient_points",
            f"可用积分 {available} 不足以兑换（需要 {points}）",
            f"available points {available} are fewer than the {points} this redemption needs",
            available=available,
            needed=points,
        )
    escrow = ledger.platform_accounts(conn)[ESCROW]
    return ledger.post(
        conn,
        kind=HOLD_KIND,
        business_day=day,
        legs=[Leg(own["available"][0], PT, -points.units), Leg(escrow, PT, points.units)],
        reference=order_ref(order_id),
        reason=f"mall order {order_id} placed",
        actor=actor,
        platform_ids=[escrow],
        locked=locked.flat(),
    )


def refund(
    conn: Connection, consumer_id: int, points: Points, *, day: date, order_id: int, actor: str
) -> int:
    """The mall escrow → back to the consumer, every point of it."""
    locked = ledger.lock_member_accounts(conn, [consumer_id])
    escrow = ledger.platform_accounts(conn)[ESCROW]
    return ledger.post(
        conn,
        kind=REFUND_KIND,
        business_day=day,
        legs=[Leg(escrow, PT, -points.units), Leg(locked[consumer_id]["available"][0], PT, points.units)],
        reference=order_ref(order_id),
        reason=f"mall order {order_id} cancelled",
        actor=actor,
        platform_ids=[escrow],
        locked=locked.flat(),
    )


def pay(
    conn: Connection,
    merchant_id: int,
    consumer_id: int,
    points: Points,
    fee: Points,
    bonus: ShareValue,
    *,
    day: date,
    order_id: int,
    actor: str,
    rule_version: int,
) -> int:
    """The mall escrow → the merchant's available less the fee → the platform fee account; a
    green bonus is share value minted for the consumer exactly as a purchase mints it (a
    clawback owed is repaid first, the contra is sv_issued)."""
    locked = ledger.lock_member_accounts(conn, [merchant_id, consumer_id])
    platform = ledger.platform_accounts(conn)
    consumer = locked[consumer_id]
    repay, rest = rewards_domain.net_against_owed(bonus.units, consumer["sv_owed"][1])
    legs = [
        Leg(platform[ESCROW], PT, -points.units),
        Leg(locked[merchant_id]["available"][0], PT, (points - fee).units),
        Leg(platform["fees"], PT, fee.units),
        Leg(consumer["sv_owed"][0], SV, repay),
        Leg(consumer["sv"][0], SV, rest),
        Leg(platform["sv_issued"], SV, -bonus.units),
    ]
    return ledger.post(
        conn,
        kind=PAY_KIND,
        business_day=day,
        legs=[leg for leg in legs if leg.amount],
        reference=order_ref(order_id),
        reason=f"mall order {order_id} delivered",
        actor=actor,
        rule_version=rule_version,
        platform_ids=[platform[ESCROW], platform["fees"], platform["sv_issued"]],
        locked=locked.flat(),
    )
