"""Market queries on the caller's connection, inside its unit of work.

Locks, in the one order every market use case follows (so two never wait on each other in a
cycle): the taker's market profile, then the trade, then its listing or buy order, then member
accounts (ledger.lock_member_accounts, ascending ids), then the shared platform accounts.
Reserving from a listing always happens on its locked row: that is what lets exactly as many
racing buyers succeed as the listing has points for (I6).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select, update

from sharebuy.kernel.amounts import Price
from sharebuy.kernel.clock import BUSINESS_TZ
from sharebuy.kernel.errors import not_found
from sharebuy.market import domain
from sharebuy.market.models import (
    buy_orders,
    evidence,
    listings,
    market_switch,
    payment_methods,
    profiles,
    trade_transitions,
    trades,
)
from sharebuy.members.models import consumers, members, merchant_staff, merchants

Row = Mapping[Any, Any]


def _one(conn: Connection, stmt: Any, what_zh: str, what_en: str, ident: int) -> Row:
    row = conn.execute(stmt).mappings().first()
    if row is None:
        raise not_found(what_zh, what_en, ident)
    return row


# -- listings, buy orders, trades ------------------------------------------------------------


def listing(conn: Connection, listing_id: int, *, lock: bool = False) -> Row:
    stmt = select(listings).where(listings.c.id == listing_id)
    if lock:
        stmt = stmt.with_for_update()  # reservations are decided on the locked row only
    return _one(conn, stmt, "挂单", "listing", listing_id)


def buy_order(conn: Connection, order_id: int, *, lock: bool = False) -> Row:
    stmt = select(buy_orders).where(buy_orders.c.id == order_id)
    if lock:
        stmt = stmt.with_for_update()
    return _one(conn, stmt, "求购单", "buy order", order_id)


def trade(conn: Connection, trade_id: int, *, lock: bool = False) -> Row:
    stmt = select(trades).where(trades.c.id == trade_id)
    if lock:
        stmt = stmt.with_for_update()  # one transition at a time per trade
    return _one(conn, stmt, "交易", "trade", trade_id)


def insert_row(conn: Connection, table: Any, values: Mapping[str, Any]) -> int:
    return int(conn.execute(insert(table).returning(table.c.id), dict(values)).scalar_one())


def update_row(conn: Connection, table: Any, row_id: int, **values: Any) -> None:
    conn.execute(update(table).where(table.c.id == row_id).values(**values))


def open_quantity(conn: Connection, *, listing_id: int | None = None, buy_order_id: int | None = None) -> int:
    """Points held by the open trades of a listing or a buy order."""
    column = trades.c.listing_id if listing_id is not None else trades.c.buy_order_id
    ident = listing_id if listing_id is not None else buy_order_id
    stmt = select(func.coalesce(func.sum(trades.c.quantity), 0)).where(
        column == ident, trades.c.status.in_(domain.OPEN_STATES)
    )
    return int(conn.execute(stmt).scalar_one())


def open_trades_taken(conn: Connection, member_id: int) -> int:
    """Open trades this member started: takes of listings as buyer, fills of buy orders as seller."""
    stmt = select(func.count()).where(
        trades.c.status.in_(domain.OPEN_STATES),
        or_(
            and_(trades.c.buyer_id == member_id, trades.c.listing_id.is_not(None)),
            and_(trades.c.seller_id == member_id, trades.c.buy_order_id.is_not(None)),
        ),
    )
    return int(conn.execute(stmt).scalar_one())


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, datetime.min.time(), BUSINESS_TZ).astimezone(UTC)
    return start, start + timedelta(days=1)


def cancellations(conn: Connection, buyer_id: int, day: date) -> int:
    """Trades the buyer dropped on a business day: its own cancellations and payment timeouts."""
    start, end = day_bounds(day)
    stmt = select(func.count()).where(
        trade_transitions.c.buyer_id == buyer_id,
        trade_transitions.c.event.in_(("cancelled", "expired")),
        trade_transitions.c.at >= start,
        trade_transitions.c.at < end,
    )
    return int(conn.execute(stmt).scalar_one())


def log_transition(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(insert(trade_transitions), dict(values))


def transitions_of(conn: Connection, trade_id: int) -> Sequence[Row]:
    stmt = (
        select(trade_transitions)
        .where(trade_transitions.c.trade_id == trade_id)
        .order_by(trade_transitions.c.id)
    )
    return conn.execute(stmt).mappings().all()


def due_trades(conn: Connection, now: datetime, limit: int) -> list[int]:
    """Trades whose payment or confirmation deadline has passed, oldest deadline first."""
    stmt = (
        select(trades.c.id)
        .where(
            or_(
                and_(trades.c.status == domain.AWAITING_PAYMENT, trades.c.pay_by <= now),
                and_(trades.c.status == domain.PAID, trades.c.confirm_by <= now),
            )
        )
        .order_by(trades.c.id)
        .limit(limit)
    )
    return [int(i) for i in conn.execute(stmt).scalars()]


def book(
    conn: Connection, max_price: int, after: tuple[int, int] | None, limit: int, *, lock: bool
) -> Sequence[Row]:
    """Active listings at or below a price, best first (price, then the oldest), from a cursor."""
    stmt = select(listings).where(
        listings.c.status == "active", listings.c.price <= max_price, listings.c.remaining > 0
    )
    if after is not None:
        price, ident = after
        stmt = stmt.where(
            or_(listings.c.price > price, and_(listings.c.price == price, listings.c.id > ident))
        )
    stmt = stmt.order_by(listings.c.price, listings.c.id).limit(limit)
    if lock:
        stmt = stmt.with_for_update()
    return conn.execute(stmt).mappings().all()


# -- members as market parties ----------------------------------------------------------------


def party(conn: Connection, member_id: int) -> Row:
    """A member's facts for trading: kind, frozen, merchant status, and whose real name counts
    (a merchant trades under its owner's)."""
    person = func.coalesce(merchants.c.owner_id, members.c.id)
    stmt = (
        select(
            members.c.id,
            members.c.kind,
            members.c.frozen,
            merchants.c.status.label("merchant_status"),
            merchants.c.owner_id,
            consumers.c.real_name_verified_at,
            profiles.c.risk_accepted_at,
            profiles.c.risk_notice_version,
        )
        .select_from(members)
        .outerjoin(merchants, merchants.c.member_id == members.c.id)
        .outerjoin(consumers, consumers.c.member_id == person)
        .outerjoin(profiles, profiles.c.member_id == members.c.id)
        .where(members.c.id == member_id)
    )
    return _one(conn, stmt, "会员", "member", member_id)


def people_behind(conn: Connection, member_id: int) -> set[int]:
    """The member, and for a merchant its owner and staff: one party in the no-self-trade rule."""
    found = {member_id}
    owner = conn.execute(select(merchants.c.owner_id).where(merchants.c.member_id == member_id)).scalar()
    if owner is not None:
        found.add(int(owner))
        staff = conn.execute(
            select(merchant_staff.c.consumer_id).where(merchant_staff.c.merchant_id == member_id)
        ).scalars()
        found.update(int(s) for s in staff)
    return found


def merchant_ids(conn: Connection, member_ids: Sequence[int]) -> list[int]:
    stmt = select(members.c.id).where(members.c.id.in_(list(member_ids)), members.c.kind == "merchant")
    return sorted(int(i) for i in conn.execute(stmt).scalars())


def lock_profile(conn: Connection, member_id: int) -> Row | None:
    """The taker's profile row, locked: one member's takes are counted against its limits in turn."""
    stmt = select(profiles).where(profiles.c.member_id == member_id).with_for_update()
    return conn.execute(stmt).mappings().first()


def profile(conn: Connection, member_id: int) -> Row | None:
    return conn.execute(select(profiles).where(profiles.c.member_id == member_id)).mappings().first()


def upsert_profile(conn: Connection, member_id: int, now: datetime, **values: Any) -> None:
    if profile(conn, member_id) is None:
        conn.execute(insert(profiles), {"member_id": member_id, "created_at": now, **values})
    elif values:
        conn.execute(update(profiles).where(profiles.c.member_id == member_id).values(**values))


# -- payment methods ---------------------------------------------------------------------------


def methods_of(conn: Connection, member_id: int, kinds: Sequence[str] | None = None) -> Sequence[Row]:
    stmt = select(payment_methods).where(
        payment_methods.c.member_id == member_id, payment_methods.c.active.is_(True)
    )
    if kinds is not None:
        stmt = stmt.where(payment_methods.c.kind.in_(list(kinds)))
    return conn.execute(stmt.order_by(payment_methods.c.id)).mappings().all()


def method(conn: Connection, member_id: int, method_id: int) -> Row:
    stmt = select(payment_methods).where(
        payment_methods.c.id == method_id,
        payment_methods.c.member_id == member_id,
        payment_methods.c.active.is_(True),
    )
    return _one(conn, stmt, "收款方式", "payment method", method_id)


# -- evidence ----------------------------------------------------------------------------------


def evidence_count(conn: Connection, trade_id: int) -> int:
    return int(conn.execute(select(func.count()).where(evidence.c.trade_id == trade_id)).scalar_one())


def evidence_of(conn: Connection, trade_id: int) -> Sequence[Row]:
    cols = [c for c in evidence.c if c.name != "body"]
    stmt = select(*cols).where(evidence.c.trade_id == trade_id).order_by(evidence.c.id)
    return conn.execute(stmt).mappings().all()


def evidence_item(conn: Connection, trade_id: int, evidence_id: int) -> Row:
    stmt = select(evidence).where(evidence.c.id == evidence_id, evidence.c.trade_id == trade_id)
    return _one(conn, stmt, "证据", "evidence", evidence_id)


# -- the switch, the guide price, the K-line -------------------------------------------------------


def switch(conn: Connection) -> Row | None:
    return conn.execute(select(market_switch).where(market_switch.c.id == 1)).mappings().first()


def set_switch(conn: Connection, *, open_: bool, reason: str, actor: str, now: datetime) -> None:
    values = {"open": open_, "reason": reason, "actor": actor, "changed_at": now}
    done = conn.execute(update(market_switch).where(market_switch.c.id == 1).values(**values))
    if not done.rowcount:
        conn.execute(insert(market_switch), {"id": 1, **values})


def market_price(conn: Connection, day: date) -> Price | None:
    """The volume-weighted price of the trades completed on business day `day` (SPEC §6), or
    None if there were none: Σ(quantity × price) ÷ Σ quantity, half-up to 0.0001."""
    stmt = select(
        func.coalesce(func.sum(trades.c.quantity * trades.c.price), 0),
        func.coalesce(func.sum(trades.c.quantity), 0),
    ).where(trades.c.status == domain.COMPLETED, trades.c.completed_day == day)
    notional, quantity = conn.execute(stmt).one()
    return domain.vwap(int(notional), int(quantity))


def completed_since(conn: Connection, first_day: date) -> Sequence[tuple[date, int, int, int]]:
    """(day, price, quantity, amount) of completed trades from `first_day`, in completion order."""
    stmt = (
        select(trades.c.completed_day, trades.c.price, trades.c.quantity, trades.c.amount)
        .where(trades.c.status == domain.COMPLETED, trades.c.completed_day >= first_day)
        .order_by(trades.c.completed_day, trades.c.closed_at, trades.c.id)
    )
    return [(r[0], int(r[1]), int(r[2]), int(r[3])) for r in conn.execute(stmt)]
