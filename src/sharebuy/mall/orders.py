"""Redemption use cases: a consumer redeems points for a product, the merchant ships, the
consumer confirms delivery (or the system does, `mall_auto_deliver_days` after shipping: by the
scheduler's sweep, and lazily before any read or action on the order); either side cancels
before shipping with a full refund.

Placing is one transaction: the conditional stock decrement (never oversold), the order row,
the points into the mall escrow, the log and the outbox event, or none of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from sharebuy.db.uow import UnitOfWork, reading, transaction
from sharebuy.kernel.amounts import Points, ShareValue
from sharebuy.kernel.clock import business_day
from sharebuy.kernel.errors import Conflict, Refused, not_found
from sharebuy.kernel.text import clean_text
from sharebuy.ledger import repository as ledger
from sharebuy.ledger.service import seal_soon
from sharebuy.mall import domain, escrow, machine, repository, views
from sharebuy.mall.models import orders
from sharebuy.mall.products import utc_now
from sharebuy.market.escrow import posting_day
from sharebuy.market.service.common import side_effect
from sharebuy.members import repository as members
from sharebuy.rewards import repository as rewards


@dataclass(frozen=True)
class Viewer:
    """Who reads or acts: the members the caller stands for, and whether it is an operator."""

    members: frozenset[int] = field(default_factory=frozenset)
    operator: bool = False


def role_of(order: Any, viewer: Viewer) -> str:
    if int(order["consumer_id"]) in viewer.members:
        return domain.CONSUMER
    if int(order["merchant_id"]) in viewer.members:
        return domain.MERCHANT
    if viewer.operator:
        return domain.OPERATOR
    raise not_found("兑换订单", "order", order["id"])  # a stranger learns nothing, not even that it exists


# -- placing ---------------------------------------------------------------------------------------


def place_order(
    engine: Engine,
    consumer_id: int,
    product_id: int,
    quantity: object,
    *,
    actor: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Redeem `quantity` items: stock taken, points held in the mall escrow, order placed."""
    moment = utc_now(now)
    count = domain.quantity(quantity)

    def work(uow: UnitOfWork) -> dict[str, Any]:
        conn = uow.c
        product = repository.product(conn, product_id)
        consumer = members.member(conn, consumer_id)
        if consumer["kind"] != "consumer" or consumer["frozen"]:
            raise Refused(
                "consumer_cannot_redeem",
                "只有未冻结的消费者可以兑换",
                "only a consumer who is not frozen may redeem",
            )
        merchant = members.merchant(conn, int(product["merchant_id"]))
        if merchant["frozen"] or merchant["status"] not in ("active", "suspended"):
            raise Refused(
                "merchant_not_active",
                "该商家目前不能接受兑换",
                "this merchant cannot take redemptions now",
            )
        if consumer_id in repository.people_behind(conn, int(product["merchant_id"])):
            raise Refused(
                "self_dealing",
                "商家店主或员工不能兑换本店商品",
                "a merchant's owner or staff cannot redeem the merchant's own products",
            )
        if product["status"] != domain.PRODUCT_ACTIVE:
            raise Refused(
                "product_paused", "商品已下架，暂不能兑换", "the product is paused and cannot be redeemed"
            )
        if not repository.take_stock(conn, product_id, count, moment):
            # The conditional UPDATE refused: read why only now, for the message.
            left = repository.product(conn, product_id)
            if left["status"] != domain.PRODUCT_ACTIVE:
                raise Refused(
                    "product_paused", "商品已下架，暂不能兑换", "the product is paused and cannot be redeemed"
                )
            raise Refused(
                "out_of_stock",
                f"库存不足：剩余 {left['stock']} 件，不能兑换 {count} 件",
                f"not enough stock: {left['stock']} left, {count} asked for",
                stock=left["stock"],
                quantity=count,
            )
        unit = Points(int(product["price"]))
        points = domain.total(unit, count)
        day = posting_day(conn, moment)
        book = rewards.rules_for(conn, day)
        order_id = repository.insert_row(
            conn,
            orders,
            {
                "product_id": product_id,
                "merchant_id": int(product["merchant_id"]),
                "consumer_id": consumer_id,
                "quantity": count,
                "unit_price": unit.units,
                "points": points.units,
                "fee": 0,
                "green": bool(product["green"]),
                "green_share_value": 0,
                "status": domain.PLACED,
                "placed_at": moment,
                "rule_version": book.version,
            },
        )
        escrow.hold(conn, consumer_id, points, day=day, order_id=order_id, actor=actor)
        row = machine.placed(conn, order_id, actor=actor, now=moment)
        view = views.order(conn, row)
        uow.commit()
        return view

    result = transaction(engine, work)
    seal_soon(engine)
    return result


# -- timeouts --------------------------------------------------------------------------------------


def _apply_due(engine: Engine, order_id: int, now: datetime) -> bool:
    """Deliver the order automatically in a short transaction of its own, if its time has come."""
    with reading(engine) as conn:
        if not machine.is_due(repository.order(conn, order_id), now):
            return False

    def work(uow: UnitOfWork) -> bool:
        row = repository.order(uow.c, order_id, lock=True)
        if not machine.is_due(row, now):  # again, on the locked row: somebody may have been first
            return False
        machine.apply_due(uow.c, row, now)
        uow.commit()
        return True

    # The system's act, not the caller's: outside any request's idempotency record.
    done = side_effect(engine, work)
    if done:
        seal_soon(engine)
    return done


def sweep(engine: Engine, now: datetime | None = None, *, batch: int = 500) -> dict[str, Any]:
    """Deliver every shipped order past its confirmation period; each in its own transaction.
    Run every minute by the scheduler (and by `sharebuy mall sweep`)."""
    moment = utc_now(now)
    with reading(engine) as conn:
        due = repository.due_orders(conn, moment, batch)
    delivered = sum(1 for order_id in due if _apply_due(engine, order_id, moment))
    return {"delivered": delivered, "at": moment, "more": len(due) == batch}


# -- the parties' actions --------------------------------------------------------------------------


def _act(
    engine: Engine,
    order_id: int,
    viewer: Viewer,
    event: str,
    *,
    actor: str,
    now: datetime | None,
    reason: str = "",
    note: str | None = None,
) -> dict[str, Any]:
    moment = utc_now(now)
    _apply_due(engine, order_id, moment)

    def work(uow: UnitOfWork) -> dict[str, Any]:
        row = repository.order(uow.c, order_id, lock=True)
        role = role_of(row, viewer)
        if machine.is_due(row, moment):
            raise Conflict(
                "order_changed", "订单状态已变化，请刷新后重试", "the order has changed; reload it"
            )
        values = machine.ship_values(uow.c, note or "", moment) if event == "shipped" else None
        after = machine.apply(
            uow.c, row, event, role=role, actor=actor, now=moment, reason=reason, values=values
        )
        view = views.order(uow.c, after)
        uow.commit()
        return view

    result = transaction(engine, work)
    if result["status"] in (domain.DELIVERED, domain.CANCELLED):
        seal_soon(engine)
    return result


def ship(
    engine: Engine,
    order_id: int,
    merchant_id: int,
    *,
    note: str = "",
    actor: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The merchant sends the goods (a carrier and tracking number in the note, say)."""
    text = clean_text(note, "发货说明", "shipping note", limit=200, required=False)
    return _act(
        engine, order_id, Viewer(frozenset({merchant_id})), "shipped", actor=actor, now=now, note=text
    )


def confirm_delivery(
    engine: Engine, order_id: int, consumer_id: int, *, actor: str, now: datetime | None = None
) -> dict[str, Any]:
    """The consumer has the goods: the points go to the merchant, less the fee."""
    return _act(engine, order_id, Viewer(frozenset({consumer_id})), "delivered", actor=actor, now=now)


def cancel(
    engine: Engine,
    order_id: int,
    member_id: int,
    *,
    reason: str = "",
    actor: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Either side backs out before shipping: every point back to the consumer, the items to stock."""
    return _act(
        engine, order_id, Viewer(frozenset({member_id})), "cancelled", actor=actor, now=now, reason=reason
    )


# -- reading ---------------------------------------------------------------------------------------


def get_order(engine: Engine, order_id: int, viewer: Viewer, now: datetime | None = None) -> dict[str, Any]:
    """An order as its consumer, its merchant or an operator sees it, due delivery applied first."""
    moment = utc_now(now)
    with reading(engine) as conn:
        role_of(repository.order(conn, order_id), viewer)
    _apply_due(engine, order_id, moment)
    with reading(engine) as conn:
        return views.order(conn, repository.order(conn, order_id))


def list_orders(
    engine: Engine,
    *,
    consumer_id: int | None = None,
    merchant_id: int | None = None,
    status: str | None = None,
    before: int | None = None,
    limit: int = 50,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """One party's orders, newest first; those due for delivery are delivered before the read."""
    moment = utc_now(now)

    def page(conn: Any, only: str | None) -> Any:
        return repository.orders_of(
            conn, consumer_id=consumer_id, merchant_id=merchant_id, status=only, before=before, limit=limit
        )

    with reading(engine) as conn:
        shown = page(conn, None)
    for row in shown:
        if machine.is_due(row, moment):
            _apply_due(engine, int(row["id"]), moment)
    with reading(engine) as conn:
        return views.orders_of(conn, page(conn, status))


def overview(engine: Engine) -> dict[str, Any]:
    """The operator's view: products, orders by state, points in escrow, fees and green bonus."""
    with reading(engine) as conn:
        found = repository.totals(conn)
        held = ledger.balances(conn, "platform").get(escrow.ESCROW, 0)
        day = business_day(utc_now(None))
    return {
        "products": found["products"],
        "green_products": found["green_products"],
        "orders": {
            status: {
                "count": found["orders"].get(status, (0, 0))[0],
                "points": Points(found["orders"].get(status, (0, 0))[1]),
            }
            for status in domain.STATES
        },
        "escrow": Points(held),
        "fees": Points(found["fees"]),
        "green_share_value": ShareValue(found["green_share_value"]),
        "as_of_day": day,
    }
