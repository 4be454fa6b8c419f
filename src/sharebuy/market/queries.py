"""Market read models: the order book, one's own listings and trades, the dispute queue, the
guide price and the K-line (SPEC §6: published daily OHLC and volume)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, or_, select

from sharebuy.db.uow import reading
from sharebuy.kernel.amounts import Points, Price
from sharebuy.kernel.clock import business_day
from sharebuy.kernel.errors import InvalidInput
from sharebuy.market import domain, machine, repository, views
from sharebuy.market.models import buy_orders, listings, trades
from sharebuy.market.service import common
from sharebuy.market.service.trades import Viewer, _apply_due, viewer_role
from sharebuy.rewards import repository as rewards


def _page(limit: int) -> int:
    return min(max(limit, 1), 200)


def listing_book(
    engine: Engine,
    *,
    status: str = "active",
    min_price: object | None = None,
    max_price: object | None = None,
    payment_kind: str | None = None,
    min_quantity: object | None = None,
    seller_id: int | None = None,
    offset: int = 0,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Listings best price first, then the oldest: the order a quick buy fills them in."""
    stmt = select(listings).where(listings.c.status == status)
    if status == "active":
        stmt = stmt.where(listings.c.remaining > 0)
    if min_price is not None:
        stmt = stmt.where(listings.c.price >= Price.parse(min_price).units)
    if max_price is not None:
        stmt = stmt.where(listings.c.price <= Price.parse(max_price).units)
    if payment_kind is not None:
        (kind,) = domain.parse_kinds([payment_kind])
        stmt = stmt.where(listings.c.payment_kinds.contains(kind))
    if min_quantity is not None:
        stmt = stmt.where(listings.c.remaining >= Points.parse(min_quantity).units)
    if seller_id is not None:
        stmt = stmt.where(listings.c.seller_id == seller_id)
    stmt = stmt.order_by(listings.c.price, listings.c.id).offset(max(offset, 0)).limit(_page(limit))
    with reading(engine) as conn:
        return views.listings(conn, conn.execute(stmt).mappings().all())


def listings_of(
    engine: Engine, seller_id: int, *, status: str | None = None, before: int | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """A seller's own listings, newest first, whatever their status."""
    stmt = select(listings).where(listings.c.seller_id == seller_id)
    if status is not None:
        stmt = stmt.where(listings.c.status == status)
    if before is not None:
        stmt = stmt.where(listings.c.id < before)
    stmt = stmt.order_by(listings.c.id.desc()).limit(_page(limit))
    with reading(engine) as conn:
        return views.listings(conn, conn.execute(stmt).mappings().all())


def listing(engine: Engine, listing_id: int) -> dict[str, Any]:
    with reading(engine) as conn:
        return views.listing(conn, repository.listing(conn, listing_id))


def buy_order_book(
    engine: Engine, *, buyer_id: int | None = None, status: str = "active", offset: int = 0, limit: int = 50
) -> list[dict[str, Any]]:
    """Buy orders, the best (highest) price first, then the oldest."""
    stmt = select(buy_orders).where(buy_orders.c.status == status)
    if buyer_id is not None:
        stmt = stmt.where(buy_orders.c.buyer_id == buyer_id)
    stmt = (
        stmt.order_by(buy_orders.c.price.desc(), buy_orders.c.id).offset(max(offset, 0)).limit(_page(limit))
    )
    with reading(engine) as conn:
        return views.buy_orders(conn, conn.execute(stmt).mappings().all())


def buy_order(engine: Engine, order_id: int) -> dict[str, Any]:
    with reading(engine) as conn:
        return views.buy_order(conn, repository.buy_order(conn, order_id))


def trades_of(
    engine: Engine,
    viewer: Viewer,
    *,
    member_ids: Iterable[int],
    status: str | None = None,
    before: int | None = None,
    limit: int = 50,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The trades of these members, newest first; due timeouts are applied as they are read."""
    ids = list(member_ids)
    stmt = select(trades).where(or_(trades.c.buyer_id.in_(ids), trades.c.seller_id.in_(ids)))
    return _trade_page(engine, stmt, viewer, status, before, limit, common.utc_now(now))


def disputes(
    engine: Engine, *, before: int | None = None, limit: int = 50, now: datetime | None = None
) -> list[dict[str, Any]]:
    """The operators' queue: disputed trades, newest first."""
    stmt = select(trades)
    viewer = Viewer(operator=True)
    return _trade_page(engine, stmt, viewer, domain.DISPUTED, before, limit, common.utc_now(now))


def all_trades(
    engine: Engine, *, status: str | None = None, before: int | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    return _trade_page(
        engine, select(trades), Viewer(operator=True), status, before, limit, common.utc_now(None)
    )


def _trade_page(
    engine: Engine,
    stmt: Any,
    viewer: Viewer,
    status: str | None,
    before: int | None,
    limit: int,
    now: datetime,
) -> list[dict[str, Any]]:
    conditions = []
    if status is not None:
        conditions.append(trades.c.status == status)
    if before is not None:
        conditions.append(trades.c.id < before)
    if conditions:
        stmt = stmt.where(and_(*conditions))
    stmt = stmt.order_by(trades.c.id.desc()).limit(_page(limit))
    with reading(engine) as conn:
        rows: list[Any] = list(conn.execute(stmt).mappings().all())
    due = [int(r["id"]) for r in rows if machine.due_event(r, now) is not None]
    for trade_id in due:
        _apply_due(engine, trade_id, now)
    with reading(engine) as conn:
        if due:
            rows = [repository.trade(conn, int(r["id"])) for r in rows]
        return [views.trade(conn, r, viewer_role(r, viewer)) for r in rows]


# -- prices -------------------------------------------------------------------------------------


def guide_price(engine: Engine, now: datetime | None = None) -> dict[str, Any]:
    """The guide price in force (the last settled day's) and today's market price so far."""
    moment = common.utc_now(now)
    with reading(engine) as conn:
        book = common.rules(conn, moment)
        last = rewards.last_settlement(conn)
        price = rewards.current_guide_price(conn)
        today = business_day(moment)
        band = domain.price_band(price, book["c2c_price_band"])
        return {
            "guide_price": price,
            "as_of": None if last is None else last[0],
            "price_floor": book["price_floor"],
            "band_low": None if band is None else band[0],
            "band_high": None if band is None else band[1],
            "today": today,
            "today_market_price": repository.market_price(conn, today),
            "notice_zh": "价格由会员交易决定，可能下跌；平台不承诺任何收益。",
            "notice_en": "Prices are set by members' trades and can fall; the platform promises no return.",
        }


def kline(
    engine: Engine, *, days: int = 30, to: date | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """Daily candles for the `days` business days ending `to` (default today); days without a
    completed trade have no candle."""
    span = min(max(days, 1), 366)
    last = to or business_day(common.utc_now(now))
    try:
        first: date = last - timedelta(days=span - 1)
    except OverflowError:
        raise InvalidInput("invalid_date", "日期超出范围", "the date is out of range") from None
    with reading(engine) as conn:
        candles = domain.candles(r for r in repository.completed_since(conn, first) if r[0] <= last)
    return {"days": span, "from": first, "to": last, "candles": candles}
