"""Mall invariants for `verify`, recomputed from the tables and the journal:

- stock conservation, per product: initial + added = remaining stock + the items of its orders
  that are not cancelled (nothing sold twice, nothing lost by a cancellation);
- mall escrow conservation: the platform's mall escrow balance = the points of open orders
  (placed or shipped), and per order the escrow postings under `mall:order:<id>` sum to its
  points while it is open and to zero once it is delivered or cancelled; no escrow posting
  belongs to an order the mall does not know.
(I2 counts the mall escrow among the points held: ledger.domain.POINT_HOLDING_KINDS.)
"""

from __future__ import annotations

import re
from collections import defaultdict

from sqlalchemy import Connection, func, select

from sharebuy.kernel.amounts import Points
from sharebuy.ledger.models import accounts, entries, postings
from sharebuy.ledger.verify import Check, Report
from sharebuy.mall import domain
from sharebuy.mall.escrow import ESCROW
from sharebuy.mall.models import orders, products

_REF = re.compile(r"^mall:order:(\d+)$")


def stock_conserved(conn: Connection, report: Report) -> Check:
    check = Check("mall_stock_conserved")
    taken = dict(
        conn.execute(
            select(orders.c.product_id, func.sum(orders.c.quantity))
            .where(orders.c.status != domain.CANCELLED)
            .group_by(orders.c.product_id)
        ).all()
    )
    count = 0
    for row in conn.execute(
        select(products.c.id, products.c.initial_stock, products.c.added_stock, products.c.stock).order_by(
            products.c.id
        )
    ):
        count += 1
        items = int(taken.get(row.id, 0) or 0)
        if int(row.initial_stock) + int(row.added_stock) != int(row.stock) + items:
            check.fail(
                f"product {row.id}: initial {row.initial_stock} + added {row.added_stock} "
                f"≠ stock {row.stock} + {items} in orders not cancelled"
            )
    report.facts.setdefault("mall", {})["products"] = count
    return check


def escrow_conserved(conn: Connection, report: Report) -> Check:
    check = Check("mall_escrow_conserved")
    balance = conn.execute(
        select(accounts.c.balance).where(accounts.c.owner == "platform", accounts.c.kind == ESCROW)
    ).scalar()
    order_rows = {
        int(r.id): r
        for r in conn.execute(select(orders.c.id, orders.c.points, orders.c.status, orders.c.fee))
    }
    posted = conn.execute(
        select(entries.c.reference, func.sum(postings.c.amount), func.max(entries.c.id))
        .join(postings, postings.c.entry_id == entries.c.id)
        .join(accounts, accounts.c.id == postings.c.account_id)
        .where(accounts.c.owner == "platform", accounts.c.kind == ESCROW)
        .group_by(entries.c.reference)
    ).all()
    by_order: dict[int, int] = defaultdict(int)
    for reference, amount, last_entry in posted:
        found = _REF.match(reference or "")
        if found is None or int(found.group(1)) not in order_rows:
            check.fail(
                f"mall escrow moved by entry {last_entry} under reference {reference!r}", int(last_entry)
            )
            continue
        by_order[int(found.group(1))] += int(amount)
    open_points = 0
    for order_id, row in sorted(order_rows.items()):
        held = int(row.points) if row.status in domain.OPEN_STATES else 0
        open_points += held
        if by_order.get(order_id, 0) != held:
            check.fail(
                f"mall order {order_id} ({row.status}) holds {by_order.get(order_id, 0)} in escrow, not {held}"
            )
    if balance is None:
        if order_rows:
            check.fail("the platform has no mall escrow account but there are mall orders")
    elif int(balance) != open_points:
        check.fail(f"the mall escrow holds {balance}, the open orders' points sum to {open_points}")
    report.facts.setdefault("mall", {}).update(orders=len(order_rows), escrow=str(Points(open_points)))
    return check


CHECKS = (stock_conserved, escrow_conserved)
