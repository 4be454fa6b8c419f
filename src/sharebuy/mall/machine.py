"""The one way a redemption order changes state: `apply` checks the transition table
(domain.TRANSITIONS), moves the points the transition calls for, writes the log row and
announces the event in the outbox (`mall.order.<event>`), all in the caller's transaction.

Invariants kept here: the mall escrow holds exactly the points of open orders (each order's
points enter on placing and leave once, by `pay` or `refund`), and a cancelled order's items
go back to its product's stock, so initial + added = stock + items of orders not cancelled.
The caller holds the order row locked; the product row is locked (by its UPDATE) before any
account, the mall's lock order.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from sharebuy.events import repository as events
from sharebuy.events.repository import utc
from sharebuy.kernel.amounts import Points, ShareValue
from sharebuy.kernel.text import clean_text
from sharebuy.mall import domain, escrow, repository
from sharebuy.mall.models import orders
from sharebuy.market.escrow import posting_day
from sharebuy.rewards import repository as rewards

Row = Mapping[Any, Any]


def placed(conn: Connection, order_id: int, *, actor: str, now: datetime) -> Row:
    """Log and announce an order just inserted in `placed` (its points already held)."""
    row = repository.order(conn, order_id)
    _log(conn, row, domain.OPENED, None, domain.CONSUMER, actor, now, "")
    _announce(conn, row, domain.OPENED, None, now)
    return row


def apply(
    conn: Connection,
    order: Row,
    event: str,
    *,
    role: str,
    actor: str,
    now: datetime,
    reason: str = "",
    values: Mapping[str, Any] | None = None,
) -> Row:
    """Move a locked order along the table by `event`; returns the order as it is afterwards."""
    step = domain.step(order["status"], event, role)
    text = clean_text(reason, "理由", "reason", limit=500, required=False)
    changes: dict[str, Any] = {"status": step.target, **(values or {})}
    order_id, points = int(order["id"]), Points(int(order["points"]))
    if step.effect == domain.REFUND:
        repository.put_back_stock(conn, int(order["product_id"]), int(order["quantity"]), now)
        escrow.refund(
            conn,
            int(order["consumer_id"]),
            points,
            day=posting_day(conn, now),
            order_id=order_id,
            actor=actor,
        )
        changes["closed_at"] = now
    elif step.effect == domain.PAY:
        # The terms are those in force when the consumer redeemed; the bonus is valued at the
        # guide price of delivery, the day the consumer has the goods.
        book = rewards.version(conn, int(order["rule_version"]))
        fee = domain.fee(points, book["mall_fee_rate"])
        price = rewards.current_guide_price(conn)
        bonus = (
            domain.green_bonus(points, price, book["mall_green_bonus_rate"])
            if order["green"]
            else ShareValue(0)
        )
        escrow.pay(
            conn,
            int(order["merchant_id"]),
            int(order["consumer_id"]),
            points,
            fee,
            bonus,
            day=posting_day(conn, now),
            order_id=order_id,
            actor=actor,
            rule_version=int(order["rule_version"]),
        )
        changes.update(closed_at=now, fee=fee.units, green_share_value=bonus.units, guide_price=price.units)
    repository.update_row(conn, orders, order_id, **changes)
    after = repository.order(conn, order_id)
    _log(conn, after, event, order["status"], role, actor, now, text)
    _announce(conn, after, event, order["status"], now)
    return after


def ship_values(conn: Connection, note: str, now: datetime) -> dict[str, Any]:
    book = rewards.rules_for(conn, posting_day(conn, now))
    return {
        "shipping_note": note,
        "shipped_at": now,
        "deliver_by": now + timedelta(days=int(book["mall_auto_deliver_days"])),
    }


def is_due(order: Row, now: datetime) -> bool:
    """A shipped order the consumer has not confirmed in time is delivered by the system."""
    deliver_by = utc(order["deliver_by"])
    return order["status"] == domain.SHIPPED and deliver_by is not None and deliver_by <= now


def apply_due(conn: Connection, order: Row, now: datetime) -> Row:
    if not is_due(order, now):
        return order
    return apply(
        conn,
        order,
        "delivered",
        role=domain.SYSTEM,
        actor="system",
        now=now,
        reason="发货后到期自动确认收货 · delivered automatically after the confirmation period",
    )


def _log(
    conn: Connection,
    order: Row,
    event: str,
    source: str | None,
    role: str,
    actor: str,
    now: datetime,
    reason: str,
) -> None:
    repository.log_transition(
        conn,
        {
            "order_id": int(order["id"]),
            "event": event,
            "from_status": source,
            "to_status": order["status"],
            "role": role,
            "actor": actor,
            "at": now,
            "reason": reason,
        },
    )


def _announce(conn: Connection, order: Row, event: str, source: str | None, now: datetime) -> None:
    """To the listing merchant's webhooks: the order, never the consumer's other data."""
    payload = {
        "order_id": int(order["id"]),
        "event": event,
        "from_status": source,
        "status": order["status"],
        "product_id": int(order["product_id"]),
        "merchant_id": int(order["merchant_id"]),
        "consumer_id": int(order["consumer_id"]),
        "quantity": int(order["quantity"]),
        "points": Points(int(order["points"])),
        "fee": Points(int(order["fee"])),
        "green_share_value": ShareValue(int(order["green_share_value"])),
        "at": now,
    }
    events.emit(conn, f"mall.order.{event}", int(order["merchant_id"]), payload, now=now)
