"""Merchants' figures: a day's turnover at one merchant, and the purchases of a period for a
statement (the console shows the one, the CSV download carries the other)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from sqlalchemy import Engine, func, select

from sharebuy.db.uow import reading
from sharebuy.kernel.amounts import Cny, Points, ShareValue
from sharebuy.rewards import queries
from sharebuy.rewards.models import purchases

STATEMENT_MAX_DAYS = 366


def merchant_day(engine: Engine, merchant_id: int, day: date) -> dict[str, Any]:
    """Purchases recorded (not refunded) at a merchant on a business day: count and sums."""
    with reading(engine) as conn:
        row = conn.execute(
            select(
                func.count(),
                func.coalesce(func.sum(purchases.c.amount), 0),
                func.coalesce(func.sum(purchases.c.points_deducted), 0),
                func.coalesce(func.sum(purchases.c.merchant_share_value), 0),
            ).where(
                purchases.c.merchant_id == merchant_id,
                purchases.c.business_day == day,
                purchases.c.status == "recorded",
            )
        ).one()
    return {
        "day": day,
        "purchases": int(row[0]),
        "amount": Cny(int(row[1])),
        "points_deducted": Points(int(row[2])),
        "merchant_share_value": ShareValue(int(row[3])),
    }


def merchant_purchases(
    engine: Engine, merchant_id: int, day_from: date, day_to: date
) -> Iterator[dict[str, Any]]:
    """Every purchase of the period at the merchant, newest first, read a page at a time."""
    before: int | None = None
    while True:
        page = queries.purchase_list(
            engine,
            merchant_id=merchant_id,
            day_from=day_from,
            day_to=day_to,
            before=before,
            limit=queries.MAX_PAGE,
        )
        yield from page
        if len(page) < queries.MAX_PAGE:
            return
        before = int(page[-1]["id"])
