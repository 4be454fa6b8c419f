"""Member queries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, bindparam, exists, select

from sharebuy.kernel.errors import not_found
from sharebuy.members.models import consumers, members, merchant_staff, merchants


def consumer(conn: Connection, member_id: int) -> Mapping[Any, Any]:
    row = (
        conn.execute(
            select(members, consumers.c.phone, consumers.c.real_name)
            .join(consumers, consumers.c.member_id == members.c.id)
            .where(members.c.id == member_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise not_found("消费者", "consumer", member_id)
    return row


def merchant(conn: Connection, member_id: int, *, lock: bool = False) -> Mapping[Any, Any]:
    stmt = (
        select(members, merchants)
        .join(merchants, merchants.c.member_id == members.c.id)
        .where(members.c.id == member_id)
    )
    if lock:
        # The merchant row is locked before any account row, in every use case that changes
        # status, so status and balances are decided together.
        stmt = stmt.with_for_update(of=merchants)
    row = conn.execute(stmt).mappings().first()
    if row is None:
        raise not_found("商家", "merchant", member_id)
    return row


def member(conn: Connection, member_id: int) -> Mapping[Any, Any]:
    row = conn.execute(select(members).where(members.c.id == member_id)).mappings().first()
    if row is None:
        raise not_found("会员", "member", member_id)
    return row


def consumer_by_phone(conn: Connection, phone: str) -> int | None:
    found = conn.execute(select(consumers.c.member_id).where(consumers.c.phone == phone)).scalar()
    return None if found is None else int(found)


def is_staff(conn: Connection, merchant_id: int, consumer_id: int) -> bool:
    return bool(
        conn.execute(
            select(
                exists().where(
                    merchant_staff.c.merchant_id == merchant_id,
                    merchant_staff.c.consumer_id == consumer_id,
                )
            )
        ).scalar()
    )


# A sale locks the merchant row first (see rewards.purchase_service) and, in the same round
# trip, reads the consumer and whether it is the merchant's staff.
_buyer = members.alias("buyer")


def _buyer_column(column: Any, label: str) -> Any:
    return (
        select(column)
        .select_from(_buyer.join(consumers, consumers.c.member_id == _buyer.c.id))
        .where(_buyer.c.id == bindparam("consumer"))
        .scalar_subquery()
        .label(label)
    )


def sale_statement(*extra: Any) -> Any:
    """Lock the merchant (bind parameter `merchant`) and read the consumer (`consumer`) of a
    sale; `extra` adds labelled columns that other parts read in the same round trip."""
    return (
        select(
            members,
            merchants,
            _buyer_column(_buyer.c.id, "buyer_id"),
            _buyer_column(_buyer.c.frozen, "buyer_frozen"),
            _buyer_column(_buyer.c.activated_day, "buyer_activated_day"),
            exists()
            .where(
                merchant_staff.c.merchant_id == bindparam("merchant"),
                merchant_staff.c.consumer_id == bindparam("consumer"),
            )
            .label("buyer_is_staff"),
            *extra,
        )
        .join(merchants, merchants.c.member_id == members.c.id)
        .where(members.c.id == bindparam("merchant"))
        .with_for_update(of=merchants)
    )


def sale_parties(
    row: Mapping[Any, Any] | None, merchant_id: int, consumer_id: int
) -> tuple[Mapping[Any, Any], Mapping[Any, Any]]:
    """From a row of `sale_statement` (None: no such merchant): (the merchant row, locked, with
    the extra columns; consumer facts: id, frozen, activated_day, is_staff)."""
    if row is None:
        raise not_found("商家", "merchant", merchant_id)
    if row["buyer_id"] is None:
        raise not_found("消费者", "consumer", consumer_id)
    consumer = {
        "id": consumer_id,
        "frozen": bool(row["buyer_frozen"]),
        "activated_day": row["buyer_activated_day"],
        "is_staff": bool(row["buyer_is_staff"]),
    }
    return row, consumer
