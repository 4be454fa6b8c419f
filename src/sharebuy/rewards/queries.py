"""Read models of purchases, settlements and the economy for the HTTP API and the pages.

Lists are keyset-paginated (newest first, `before` = the last id or day already seen), so a
page never shifts while new rows arrive.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Engine, func, select

from sharebuy.db.uow import reading
from sharebuy.kernel.amounts import Cny, Points, Price, ShareValue
from sharebuy.kernel.errors import not_found
from sharebuy.members import domain as member_rules
from sharebuy.rewards.models import purchases, settlements

MAX_PAGE = 200


def _purchase_view(row: Any) -> dict[str, Any]:
    return {
        "id": int(row["id"]),
        "merchant_id": int(row["merchant_id"]),
        "consumer_id": int(row["consumer_id"]),
        "amount": Cny(int(row["amount"])),
        "business_day": row["business_day"],
        "occurred_at": row["occurred_at"],
        "concession_rate": member_rules.rate_from_units(int(row["concession_rate"])),
        "guide_price": Price(int(row["guide_price"])),
        "rule_version": int(row["rule_version"]),
        "consumer_share_value": ShareValue(int(row["consumer_share_value"])),
        "merchant_share_value": ShareValue(int(row["merchant_share_value"])),
        "registration_bonus": ShareValue(int(row["registration_bonus"])),
        "points_deducted": Points(int(row["points_deducted"])),
        "from_available": Points(int(row["from_available"])),
        "from_deposit": Points(int(row["from_deposit"])),
        "status": row["status"],
        "refunded_at": row["refunded_at"],
        "green_bonus": ShareValue(int(row["green_bonus"])),
    }


def purchase(engine: Engine, purchase_id: int) -> dict[str, Any]:
    with reading(engine) as conn:
        row = conn.execute(select(purchases).where(purchases.c.id == purchase_id)).mappings().first()
    if row is None:
        raise not_found("消费记录", "purchase", purchase_id)
    return _purchase_view(row)


def purchase_list(
    engine: Engine,
    *,
    consumer_id: int | None = None,
    merchant_id: int | None = None,
    day_from: date | None = None,
    day_to: date | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    stmt = select(purchases)
    if consumer_id is not None:
        stmt = stmt.where(purchases.c.consumer_id == consumer_id)
    if merchant_id is not None:
        stmt = stmt.where(purchases.c.merchant_id == merchant_id)
    if day_from is not None:
        stmt = stmt.where(purchases.c.business_day >= day_from)
    if day_to is not None:
        stmt = stmt.where(purchases.c.business_day <= day_to)
    if before is not None:
        stmt = stmt.where(purchases.c.id < before)
    stmt = stmt.order_by(purchases.c.id.desc()).limit(min(max(limit, 1), MAX_PAGE))
    with reading(engine) as conn:
        return [_purchase_view(r) for r in conn.execute(stmt).mappings()]


def settlement_list(engine: Engine, *, before: date | None = None, limit: int = 30) -> list[dict[str, Any]]:
    stmt = select(settlements)
    if before is not None:
        stmt = stmt.where(settlements.c.business_day < before)
    stmt = stmt.order_by(settlements.c.business_day.desc()).limit(min(max(limit, 1), MAX_PAGE))
    with reading(engine) as conn:
        rows = conn.execute(stmt).mappings().all()
    return [
        {
            "date": r["business_day"],
            "status": r["status"],
            "airdrop": Points(int(r["airdrop"])),
            "released": Points(int(r["released"])),
            "network_share_value": ShareValue(int(r["network_share_value"])),
            "holders": int(r["holders"]),
            "guide_price": Price(int(r["guide_price"])),
            "share_value_consumed": ShareValue(int(r["share_value_consumed"])),
        }
        for r in rows
    ]


def turnover(engine: Engine, day: date | None = None) -> dict[str, Any]:
    """Purchases not refunded: count and amount, over all time and on `day` if given."""

    def totals(conn: Any, *conditions: Any) -> tuple[int, int]:
        row = conn.execute(
            select(func.count(), func.coalesce(func.sum(purchases.c.amount), 0)).where(
                purchases.c.status == "recorded", *conditions
            )
        ).one()
        return int(row[0]), int(row[1])

    with reading(engine) as conn:
        count, amount = totals(conn)
        result: dict[str, Any] = {"purchases": count, "amount": Cny(amount)}
        if day is not None:
            day_count, day_amount = totals(conn, purchases.c.business_day == day)
            result.update(day=day, day_purchases=day_count, day_amount=Cny(day_amount))
    return result
