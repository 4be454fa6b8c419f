"""The one way a trade changes state: `apply` checks the transition table (domain.TRANSITIONS),
moves the escrow the transition calls for, writes the log row and announces the event in the
outbox (`market.trade.<event>`), all on the caller's connection and transaction.

Invariant kept here (I6): the escrow leaves a seller only by `release` (to the buyer and the fee
account) or `give_back`, and a returned quantity goes back either to its listing's remaining
or, if the listing is closed, to the seller, never both.  The caller holds the trade row locked;
the listing or buy order is locked here before any account (the market's lock order).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from sharebuy.events import repository as events
from sharebuy.kernel.amounts import Cny, Points, Price
from sharebuy.kernel.text import clean_text
from sharebuy.market import domain, escrow, repository
from sharebuy.market.models import buy_orders, listings, trades

Row = Mapping[Any, Any]


def opened(conn: Connection, trade_id: int, *, role: str, actor: str, now: datetime) -> Row:
    """Log and announce a trade just inserted in awaiting_payment."""
    row = repository.trade(conn, trade_id)
    _log(conn, row, domain.OPENED, None, role, actor, now, "")
    _announce(conn, row, domain.OPENED, None, now)
    return row


def apply(
    conn: Connection,
    trade: Row,
    event: str,
    *,
    role: str,
    actor: str,
    now: datetime,
    reason: str = "",
    values: Mapping[str, Any] | None = None,
) -> Row:
    """Move a locked trade along the table by `event`; returns the trade as it is afterwards."""
    step = domain.step(trade["status"], event, role)
    text = clean_text(reason, "理由", "reason", limit=1000, required=step.needs_reason)
    changes: dict[str, Any] = {"status": step.target, **(values or {})}
    if step.effect != domain.HOLD:
        day = escrow.posting_day(conn, now)
        source = _lock_source(conn, trade)
        if step.effect == domain.RELEASE:
            escrow.release(
                conn,
                int(trade["seller_id"]),
                int(trade["buyer_id"]),
                Points(int(trade["quantity"])),
                Points(int(trade["fee"])),
                day=day,
                reference=escrow.trade_ref(int(trade["id"])),
                actor=actor,
                reason=f"trade {trade['id']} {event}",
            )
            changes.update(closed_at=now, completed_day=day)
        else:
            _give_back(conn, trade, source, day, actor, event)
            changes.update(closed_at=now)
    repository.update_row(conn, trades, int(trade["id"]), **changes)
    if step.effect == domain.RELEASE:
        _close_if_done(conn, trade, now)
    after = repository.trade(conn, int(trade["id"]))
    _log(conn, after, event, trade["status"], role, actor, now, text)
    _announce(conn, after, event, trade["status"], now)
    return after


def due_event(trade: Row, now: datetime) -> str | None:
    """The timeout a trade has reached, if any: never a release (SPEC §6)."""
    if trade["status"] == domain.AWAITING_PAYMENT and _utc(trade["pay_by"]) <= now:
        return "expired"
    if (
        trade["status"] == domain.PAID
        and trade["confirm_by"] is not None
        and _utc(trade["confirm_by"]) <= now
    ):
        return "escalated"
    return None


def apply_due(conn: Connection, trade: Row, now: datetime) -> Row:
    """Apply a locked trade's due timeout, if it has one."""
    event = due_event(trade, now)
    if event is None:
        return trade
    values = {"disputed_at": now} if event == "escalated" else None
    reason = (
        "付款时限已过 · payment deadline passed"
        if event == "expired"
        else ("卖方未在时限内确认收款，转人工处理 · the seller did not confirm in time; an operator decides")
    )
    return apply(
        conn, trade, event, role=domain.SYSTEM, actor="system", now=now, reason=reason, values=values
    )


def _utc(moment: datetime) -> datetime:
    return events.utc(moment) or moment


def _lock_source(conn: Connection, trade: Row) -> Row:
    if trade["listing_id"] is not None:
        return repository.listing(conn, int(trade["listing_id"]), lock=True)
    return repository.buy_order(conn, int(trade["buy_order_id"]), lock=True)


def _give_back(conn: Connection, trade: Row, source: Row, day: Any, actor: str, event: str) -> None:
    quantity = int(trade["quantity"])
    if trade["listing_id"] is not None and source["status"] != "closed":
        # The escrow stays where it is: the points are simply on offer again.
        repository.update_row(
            conn, listings, int(source["id"]), remaining=int(source["remaining"]) + quantity
        )
        return
    escrow.give_back(
        conn,
        int(trade["seller_id"]),
        Points(quantity),
        day=day,
        reference=escrow.trade_ref(int(trade["id"])),
        actor=actor,
        reason=f"trade {trade['id']} {event}",
    )
    if trade["buy_order_id"] is not None and source["status"] == "active":
        repository.update_row(
            conn, buy_orders, int(source["id"]), remaining=int(source["remaining"]) + quantity
        )


def _close_if_done(conn: Connection, trade: Row, now: datetime) -> None:
    """A listing or buy order with nothing left and no open trade is filled: off the book."""
    if trade["listing_id"] is not None:
        table, ident = listings, int(trade["listing_id"])
        source = repository.listing(conn, ident)
        still_open = repository.open_quantity(conn, listing_id=ident)
    else:
        table, ident = buy_orders, int(trade["buy_order_id"])
        source = repository.buy_order(conn, ident)
        still_open = repository.open_quantity(conn, buy_order_id=ident)
    if source["status"] != "closed" and int(source["remaining"]) == 0 and still_open == 0:
        repository.update_row(conn, table, ident, status="closed", closed_reason="filled", updated_at=now)


def _log(
    conn: Connection,
    trade: Row,
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
            "trade_id": int(trade["id"]),
            "event": event,
            "from_status": source,
            "to_status": trade["status"],
            "role": role,
            "actor": actor,
            "buyer_id": int(trade["buyer_id"]),
            "at": now,
            "reason": reason,
        },
    )


def _announce(conn: Connection, trade: Row, event: str, source: str | None, now: datetime) -> None:
    """One outbox event per merchant party; a trade between consumers goes out platform-wide
    with no member ids in it (its price and size are public on the K-line anyway)."""
    payload: dict[str, Any] = {
        "trade_id": int(trade["id"]),
        "event": event,
        "from_status": source,
        "status": trade["status"],
        "listing_id": trade["listing_id"],
        "buy_order_id": trade["buy_order_id"],
        "quantity": Points(int(trade["quantity"])),
        "price": Price(int(trade["price"])),
        "amount": Cny(int(trade["amount"])),
        "fee": Points(int(trade["fee"])),
        "at": now,
    }
    topic = f"market.trade.{event}"
    parties = repository.merchant_ids(conn, [int(trade["buyer_id"]), int(trade["seller_id"])])
    if not parties:
        events.emit(conn, topic, None, payload, now=now)
    for merchant in parties:
        side = domain.BUYER if merchant == int(trade["buyer_id"]) else domain.SELLER
        mine = {**payload, "side": side, "buyer_id": trade["buyer_id"], "seller_id": trade["seller_id"]}
        events.emit(conn, topic, merchant, mine, now=now)
