"""Sell listings (挂卖) and buy orders (求购): creating, pausing, repricing and cancelling them.

Invariant kept here (I6): a listing's points move available → escrow when it is created, and its
remaining (never what its open trades hold) moves escrow → available when it is cancelled, in
the same transaction as the listing row, which is locked first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from sharebuy.db.uow import UnitOfWork, transaction
from sharebuy.kernel.amounts import Points, Price
from sharebuy.kernel.errors import InvalidInput, Refused
from sharebuy.ledger.service import seal_soon
from sharebuy.market import domain, escrow, repository, views
from sharebuy.market.models import buy_orders, listings
from sharebuy.market.service import common


def _bounds(quantity: Points, low: object | None, high: object | None, book: Any) -> tuple[Points, Points]:
    minimum = common.quantity(low, book, "min_order") if low is not None else book["c2c_min_order_points"]
    maximum = Points.parse(high) if high is not None else quantity
    if minimum > quantity:
        minimum = quantity
    if not minimum <= maximum:
        raise InvalidInput(
            "invalid_order_bounds",
            "单笔最少不能大于单笔最多",
            "the minimum per order cannot exceed the maximum",
        )
    return minimum, min(maximum, quantity)


def create_listing(
    engine: Engine,
    seller_id: int,
    *,
    quantity: object,
    price: object,
    payment_kinds: list[str] | str,
    min_order: object | None = None,
    max_order: object | None = None,
    actor: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """List points for sale: they move from available to escrow (SPEC §6 挂卖)."""
    moment = common.utc_now(now)
    unit_price = common.price(price)
    kinds = domain.parse_kinds(payment_kinds)

    def work(uow: UnitOfWork) -> dict[str, Any]:
        conn = uow.c
        book = common.rules(conn, moment)
        amount = common.quantity(quantity, book)
        low, high = _bounds(amount, min_order, max_order, book)
        common.require_open(conn, book)
        common.require_can_trade(conn, seller_id, book)
        common.require_band(conn, book, unit_price)
        _require_methods(conn, seller_id, kinds)
        listing_id = repository.insert_row(
            conn,
            listings,
            {
                "seller_id": seller_id,
                "quantity": amount.units,
                "remaining": amount.units,
                "price": unit_price.units,
                "min_order": low.units,
                "max_order": high.units,
                "payment_kinds": ",".join(kinds),
                "status": "active",
                "created_at": moment,
                "updated_at": moment,
            },
        )
        escrow.hold(
            conn,
            seller_id,
            amount,
            day=escrow.posting_day(conn, moment),
            reference=escrow.listing_ref(listing_id),
            actor=actor,
            reason=f"listing {listing_id} placed in escrow",
        )
        view = views.listing(conn, repository.listing(conn, listing_id))
        uow.commit()
        return view

    result = transaction(engine, work)
    seal_soon(engine)
    return result


def _require_methods(conn: Any, member_id: int, kinds: tuple[str, ...]) -> None:
    have = {m["kind"] for m in repository.methods_of(conn, member_id, kinds)}
    missing = [k for k in kinds if k not in have]
    if missing:
        raise Refused(
            "payment_method_missing",
            f"请先添加收款方式：{', '.join(domain.KIND_ZH[k] for k in missing)}",
            f"add a payment method of each accepted kind first: {', '.join(missing)}",
        )


def _own_listing(uow: UnitOfWork, seller_id: int, listing_id: int) -> Any:
    row = repository.listing(uow.c, listing_id, lock=True)
    if int(row["seller_id"]) != seller_id:
        raise common.not_yours("挂单", "listing")
    if row["status"] == "closed":
        raise Refused("listing_closed", f"挂单 {listing_id} 已关闭", f"listing {listing_id} is closed")
    return row


def set_listing_status(
    engine: Engine, seller_id: int, listing_id: int, *, paused: bool, now: datetime | None = None
) -> dict[str, Any]:
    """Pause (off the book, escrow kept) or resume a listing."""
    moment = common.utc_now(now)

    def work(uow: UnitOfWork) -> dict[str, Any]:
        row = _own_listing(uow, seller_id, listing_id)
        if not paused and row["status"] == "paused":
            book = common.rules(uow.c, moment)
            common.require_open(uow.c, book)
            common.require_band(uow.c, book, Price(int(row["price"])))
        repository.update_row(
            uow.c, listings, listing_id, status="paused" if paused else "active", updated_at=moment
        )
        view = views.listing(uow.c, repository.listing(uow.c, listing_id))
        uow.commit()
        return view

    return transaction(engine, work)


def set_listing_price(
    engine: Engine, seller_id: int, listing_id: int, price: object, *, now: datetime | None = None
) -> dict[str, Any]:
    """A new price for what remains; open trades keep the price they were opened at."""
    moment = common.utc_now(now)
    unit_price = common.price(price)

    def work(uow: UnitOfWork) -> dict[str, Any]:
        _own_listing(uow, seller_id, listing_id)
        common.require_band(uow.c, common.rules(uow.c, moment), unit_price)
        repository.update_row(uow.c, listings, listing_id, price=unit_price.units, updated_at=moment)
        view = views.listing(uow.c, repository.listing(uow.c, listing_id))
        uow.commit()
        return view

    return transaction(engine, work)


def cancel_listing(
    engine: Engine, seller_id: int, listing_id: int, *, actor: str, now: datetime | None = None
) -> dict[str, Any]:
    """Close a listing: its remaining returns from escrow to available at once; what its open
    trades hold returns when each of them ends (or goes to the buyer if it completes)."""
    moment = common.utc_now(now)

    def work(uow: UnitOfWork) -> dict[str, Any]:
        row = _own_listing(uow, seller_id, listing_id)
        remaining = Points(int(row["remaining"]))
        repository.update_row(
            uow.c,
            listings,
            listing_id,
            status="closed",
            closed_reason="cancelled",
            remaining=0,
            updated_at=moment,
        )
        if remaining.is_positive():
            escrow.give_back(
                uow.c,
                seller_id,
                remaining,
                day=escrow.posting_day(uow.c, moment),
                reference=escrow.listing_ref(listing_id),
                actor=actor,
                reason=f"listing {listing_id} cancelled",
            )
        view = {**views.listing(uow.c, repository.listing(uow.c, listing_id)), "returned": remaining}
        uow.commit()
        return view

    result = transaction(engine, work)
    seal_soon(engine)
    return result


# -- buy orders ---------------------------------------------------------------------------------


def create_buy_order(
    engine: Engine,
    buyer_id: int,
    *,
    quantity: object,
    price: object,
    payment_kinds: list[str] | str,
    min_order: object | None = None,
    max_order: object | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Ask to buy points at a price (求购); sellers fill it and escrow their points on fill."""
    moment = common.utc_now(now)
    unit_price = common.price(price)
    kinds = domain.parse_kinds(payment_kinds)

    def work(uow: UnitOfWork) -> dict[str, Any]:
        conn = uow.c
        book = common.rules(conn, moment)
        amount = common.quantity(quantity, book)
        low, high = _bounds(amount, min_order, max_order, book)
        common.require_open(conn, book)
        common.require_can_trade(conn, buyer_id, book)
        common.require_band(conn, book, unit_price)
        order_id = repository.insert_row(
            conn,
            buy_orders,
            {
                "buyer_id": buyer_id,
                "quantity": amount.units,
                "remaining": amount.units,
                "price": unit_price.units,
                "min_order": low.units,
                "max_order": high.units,
                "payment_kinds": ",".join(kinds),
                "status": "active",
                "created_at": moment,
                "updated_at": moment,
            },
        )
        view = views.buy_order(conn, repository.buy_order(conn, order_id))
        uow.commit()
        return view

    return transaction(engine, work)


def cancel_buy_order(
    engine: Engine, buyer_id: int, order_id: int, *, now: datetime | None = None
) -> dict[str, Any]:
    """Take a buy order off the book; fills already open run their course."""
    moment = common.utc_now(now)

    def work(uow: UnitOfWork) -> dict[str, Any]:
        row = repository.buy_order(uow.c, order_id, lock=True)
        if int(row["buyer_id"]) != buyer_id:
            raise common.not_yours("求购单", "buy order")
        if row["status"] == "closed":
            raise Refused("buy_order_closed", f"求购单 {order_id} 已关闭", f"buy order {order_id} is closed")
        repository.update_row(
            uow.c,
            buy_orders,
            order_id,
            status="closed",
            closed_reason="cancelled",
            remaining=0,
            updated_at=moment,
        )
        view = views.buy_order(uow.c, repository.buy_order(uow.c, order_id))
        uow.commit()
        return view

    return transaction(engine, work)
