"""Rows into JSON-ready views: listings, buy orders, trades.

Who sees what is decided here: the seller's payment details go to the buyer of an open trade
and to nobody else (an operator deciding a dispute sees the accounts masked).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, func, select

from sharebuy.events.repository import utc
from sharebuy.kernel.amounts import Cny, Points, Price
from sharebuy.market import domain, repository
from sharebuy.market.models import trades

Row = Mapping[Any, Any]


def _held(conn: Connection, column: Any, ids: Sequence[int]) -> dict[int, int]:
    if not ids:
        return {}
    stmt = (
        select(column, func.sum(trades.c.quantity))
        .where(column.in_(list(ids)), trades.c.status.in_(domain.OPEN_STATES))
        .group_by(column)
    )
    return {int(i): int(q) for i, q in conn.execute(stmt)}


def listings(conn: Connection, rows: Sequence[Row]) -> list[dict[str, Any]]:
    held = _held(conn, trades.c.listing_id, [int(r["id"]) for r in rows])
    return [_order(r, "seller_id", held.get(int(r["id"]), 0)) for r in rows]


def listing(conn: Connection, row: Row) -> dict[str, Any]:
    return listings(conn, [row])[0]


def buy_orders(conn: Connection, rows: Sequence[Row]) -> list[dict[str, Any]]:
    held = _held(conn, trades.c.buy_order_id, [int(r["id"]) for r in rows])
    return [_order(r, "buyer_id", held.get(int(r["id"]), 0)) for r in rows]


def buy_order(conn: Connection, row: Row) -> dict[str, Any]:
    return buy_orders(conn, [row])[0]


def _order(row: Row, owner: str, in_trades: int) -> dict[str, Any]:
    return {
        "id": int(row["id"]),
        owner: int(row[owner]),
        "quantity": Points(int(row["quantity"])),
        "remaining": Points(int(row["remaining"])),
        "in_trades": Points(in_trades),
        "price": Price(int(row["price"])),
        "min_order": Points(int(row["min_order"])),
        "max_order": Points(int(row["max_order"])),
        "payment_kinds": row["payment_kinds"].split(","),
        "status": row["status"],
        "closed_reason": row["closed_reason"],
        "created_at": utc(row["created_at"]),
        "updated_at": utc(row["updated_at"]),
    }


def trade(conn: Connection, row: Row, role: str | None) -> dict[str, Any]:
    """A trade as `role` (buyer, seller, operator) may see it."""
    quantity, fee = Points(int(row["quantity"])), Points(int(row["fee"]))
    details = json.loads(row["payment_details"])
    if role == domain.BUYER and row["status"] in domain.OPEN_STATES:
        shown: list[dict[str, Any]] | None = details
    elif role == domain.OPERATOR:
        shown = [{**d, "account_id": domain.mask(str(d["account_id"]))} for d in details]
    else:
        shown = None
    return {
        "id": int(row["id"]),
        "listing_id": row["listing_id"],
        "buy_order_id": row["buy_order_id"],
        "buyer_id": int(row["buyer_id"]),
        "seller_id": int(row["seller_id"]),
        "your_role": role,
        "quantity": quantity,
        "price": Price(int(row["price"])),
        "amount": Cny(int(row["amount"])),
        "fee": fee,
        "buyer_receives": quantity - fee,
        "status": row["status"],
        "payment_reference": row["payment_reference"],
        "seller_payment_methods": shown,
        "opened_at": utc(row["opened_at"]),
        "pay_by": utc(row["pay_by"]),
        "paid_at": utc(row["paid_at"]),
        "confirm_by": utc(row["confirm_by"]),
        "disputed_at": utc(row["disputed_at"]),
        "closed_at": utc(row["closed_at"]),
        "completed_day": row["completed_day"],
        "decision": row["decision"],
        "decision_reason": row["decision_reason"],
        "transitions": [
            {
                "event": t["event"],
                "from_status": t["from_status"],
                "to_status": t["to_status"],
                "role": t["role"],
                "at": utc(t["at"]),
                "reason": t["reason"],
            }
            for t in repository.transitions_of(conn, int(row["id"]))
        ],
    }
