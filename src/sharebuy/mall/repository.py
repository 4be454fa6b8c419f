"""Mall reads and writes on a connection inside a service's unit of work.

The one write that matters most is `take_stock`: a conditional UPDATE (`stock >= q`) that the
database evaluates on the latest committed row, so concurrent redemptions can never take more
than is there, whichever order they arrive in.  No read-then-write of the stock anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from sharebuy.kernel.errors import not_found
from sharebuy.mall import domain
from sharebuy.mall.models import order_transitions, orders, products
from sharebuy.members.models import merchant_staff, merchants

Row = Mapping[Any, Any]


def product(conn: Connection, product_id: int, *, lock: bool = False) -> Row:
    stmt = select(products).where(products.c.id == product_id)
    if lock:
        stmt = stmt.with_for_update()  # edits and stock additions one at a time per product
    row = conn.execute(stmt).mappings().first()
    if row is None:
        raise not_found("商品", "product", product_id)
    return row


def order(conn: Connection, order_id: int, *, lock: bool = False) -> Row:
    stmt = select(orders).where(orders.c.id == order_id)
    if lock:
        stmt = stmt.with_for_update()  # one transition at a time per order
    row = conn.execute(stmt).mappings().first()
    if row is None:
        raise not_found("兑换订单", "order", order_id)
    return row


def insert_row(conn: Connection, table: Any, values: Mapping[str, Any]) -> int:
    return int(conn.execute(insert(table).returning(table.c.id), dict(values)).scalar_one())


def update_row(conn: Connection, table: Any, row_id: int, **values: Any) -> None:
    conn.execute(update(table).where(table.c.id == row_id).values(**values))


def take_stock(conn: Connection, product_id: int, count: int, now: datetime) -> bool:
    """Decrement an active product's stock by `count` if at least that much is left.

    The condition is part of the UPDATE: on PostgreSQL a racing redemption waits for the row,
    then re-checks `stock >= count` against the committed value; on SQLite writers are serial.
    """
    done = conn.execute(
        update(products)
        .where(
            products.c.id == product_id,
            products.c.status == domain.PRODUCT_ACTIVE,
            products.c.stock >= count,
        )
        .values(stock=products.c.stock - count, updated_at=now)
    )
    return done.rowcount == 1


def put_back_stock(conn: Connection, product_id: int, count: int, now: datetime) -> None:
    """A cancelled order's items are on offer again (an increment needs no condition)."""
    conn.execute(
        update(products)
        .where(products.c.id == product_id)
        .values(stock=products.c.stock + count, updated_at=now)
    )


def add_stock(conn: Connection, product_id: int, count: int, now: datetime) -> None:
    conn.execute(
        update(products)
        .where(products.c.id == product_id)
        .values(stock=products.c.stock + count, added_stock=products.c.added_stock + count, updated_at=now)
    )


def log_transition(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(insert(order_transitions), dict(values))


def transitions_of(conn: Connection, order_id: int) -> Sequence[Row]:
    return (
        conn.execute(
            select(order_transitions)
            .where(order_transitions.c.order_id == order_id)
            .order_by(order_transitions.c.id)
        )
        .mappings()
        .all()
    )


def due_orders(conn: Connection, now: datetime, limit: int) -> list[int]:
    """Shipped orders whose automatic delivery time has come, oldest first."""
    rows = conn.execute(
        select(orders.c.id)
        .where(orders.c.status == domain.SHIPPED, orders.c.deliver_by <= now)
        .order_by(orders.c.deliver_by, orders.c.id)
        .limit(limit)
    )
    return [int(r[0]) for r in rows]


def people_behind(conn: Connection, merchant_id: int) -> set[int]:
    """The owner and the staff of a merchant: they may not redeem at their own shop."""
    owner = conn.execute(select(merchants.c.owner_id).where(merchants.c.member_id == merchant_id)).scalar()
    staff = conn.execute(
        select(merchant_staff.c.consumer_id).where(merchant_staff.c.merchant_id == merchant_id)
    ).scalars()
    return {int(s) for s in staff} | ({int(owner)} if owner is not None else set())


def browse(
    conn: Connection,
    *,
    region: str | None = None,
    merchant_id: int | None = None,
    include_paused: bool = False,
    green: bool | None = None,
    before: int | None = None,
    limit: int = 50,
) -> Sequence[Row]:
    """Products newest first; `region` is a code prefix (province, city or district)."""
    stmt = select(products).order_by(products.c.id.desc()).limit(limit)
    if not include_paused:
        stmt = stmt.where(products.c.status == domain.PRODUCT_ACTIVE)
    if region:
        stmt = stmt.where(products.c.region_code.like(f"{region}%"))
    if merchant_id is not None:
        stmt = stmt.where(products.c.merchant_id == merchant_id)
    if green is not None:
        stmt = stmt.where(products.c.green.is_(green))
    if before is not None:
        stmt = stmt.where(products.c.id < before)
    return conn.execute(stmt).mappings().all()


def orders_of(
    conn: Connection,
    *,
    consumer_id: int | None = None,
    merchant_id: int | None = None,
    status: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> Sequence[Row]:
    stmt = select(orders).order_by(orders.c.id.desc()).limit(limit)
    if consumer_id is not None:
        stmt = stmt.where(orders.c.consumer_id == consumer_id)
    if merchant_id is not None:
        stmt = stmt.where(orders.c.merchant_id == merchant_id)
    if status is not None:
        stmt = stmt.where(orders.c.status == status)
    if before is not None:
        stmt = stmt.where(orders.c.id < before)
    return conn.execute(stmt).mappings().all()


def totals(conn: Connection) -> dict[str, Any]:
    """The operator's overview: products, orders and points by state."""
    by_state = {
        str(status): (int(count), int(points or 0))
        for status, count, points in conn.execute(
            select(orders.c.status, func.count(), func.sum(orders.c.points)).group_by(orders.c.status)
        )
    }
    product_counts: dict[str, int] = {
        str(k): int(v)
        for k, v in conn.execute(select(products.c.status, func.count()).group_by(products.c.status))
    }
    green = conn.execute(
        select(func.count()).select_from(products).where(products.c.green.is_(True))
    ).scalar()
    fees = conn.execute(
        select(func.coalesce(func.sum(orders.c.fee), 0)).where(orders.c.status == domain.DELIVERED)
    ).scalar_one()
    bonus = conn.execute(select(func.coalesce(func.sum(orders.c.green_share_value), 0))).scalar_one()
    return {
        "orders": by_state,
        "products": {str(k): int(v) for k, v in product_counts.items()},
        "green_products": int(green or 0),
        "fees": int(fees),
        "green_share_value": int(bonus),
    }
