"""Read models: balances of a consumer, a merchant and the platform."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, func, select

from sharebuy.db.uow import reading
from sharebuy.kernel.amounts import Points, ShareValue
from sharebuy.kernel.clock import business_day
from sharebuy.kernel.errors import not_found
from sharebuy.ledger import repository as ledger
from sharebuy.ledger.domain import PT
from sharebuy.ledger.models import accounts, entries, postings
from sharebuy.members import domain, repository
from sharebuy.members.models import members, merchants
from sharebuy.rewards import repository as rewards
from sharebuy.rewards.models import settlements


def _member_view(bal: dict[str, int]) -> dict[str, Any]:
    return {
        "share_value": ShareValue(bal["sv"]),
        "clawback_owed": ShareValue(-bal["sv_owed"]),
        "points": {
            "available": Points(bal["available"]),
            "escrow": Points(bal["escrow"]),
            "deposit": Points(bal["deposit"]),
        },
    }


def consumer_balance(engine: Engine, consumer_id: int) -> dict[str, Any]:
    with reading(engine) as conn:
        row = repository.consumer(conn, consumer_id)
        view = {"id": consumer_id, **_member_view(ledger.balances(conn, str(consumer_id)))}
        view["frozen"] = bool(row["frozen"])
        view["activated_day"] = row["activated_day"]
    return view


def merchant_balance(engine: Engine, merchant_id: int, now: datetime | None = None) -> dict[str, Any]:
    with reading(engine) as conn:
        row = repository.merchant(conn, merchant_id)
        view = {"id": merchant_id, **_member_view(ledger.balances(conn, str(merchant_id)))}
        view.update(
            status=row["status"],
            suspension_reason=row["suspension_reason"],
            concession_rate=domain.rate_from_units(int(row["concession_rate"])),
            deposit_required=rewards.deposit_required(conn, business_day(now or datetime.now(UTC))),
            guide_price=rewards.current_guide_price(conn),
        )
    return view


def platform_balance(engine: Engine) -> dict[str, Any]:
    with reading(engine) as conn:
        rewards.start_day(conn)  # refuses a database that was never initialised
        bal = ledger.balances(conn, "platform")
        total_issue = -bal["issue"]
        held = conn.execute(
            select(func.coalesce(func.sum(accounts.c.balance), 0)).where(
                accounts.c.kind.in_(("available", "escrow", "deposit"))
            )
        ).scalar_one()
        released = conn.execute(select(func.coalesce(func.sum(settlements.c.released), 0))).scalar_one()
        outstanding = conn.execute(
            select(func.coalesce(func.sum(accounts.c.balance), 0)).where(accounts.c.kind == "sv")
        ).scalar_one()
        owed = conn.execute(
            select(func.coalesce(func.sum(accounts.c.balance), 0)).where(accounts.c.kind == "sv_owed")
        ).scalar_one()
        price = rewards.current_guide_price(conn)
    return {
        "total_issue": Points(total_issue),
        "reserve": Points(bal["reserve"]),
        "burned": Points(bal["burned"]),
        "fees": Points(bal["fees"]),
        "held_by_members": Points(int(held)),
        "released": Points(int(released)),
        "share_value_issued": ShareValue(-bal["sv_issued"]),
        "share_value_retired": ShareValue(bal["sv_retired"]),
        "share_value_outstanding": ShareValue(int(outstanding)),
        "clawback_owed": ShareValue(-int(owed)),
        "guide_price": price,
    }


def history(
    engine: Engine,
    member_id: int,
    *,
    kind: str | None = None,
    day_from: date | None = None,
    day_to: date | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """A member's ledger postings, newest first: which entry moved how much of what, and why."""
    stmt = (
        select(
            postings.c.id,
            entries.c.id.label("entry_id"),
            entries.c.kind,
            entries.c.business_day,
            entries.c.created_at,
            entries.c.reference,
            entries.c.reason,
            accounts.c.kind.label("account"),
            postings.c.asset,
            postings.c.amount,
        )
        .join(entries, entries.c.id == postings.c.entry_id)
        .join(accounts, accounts.c.id == postings.c.account_id)
        .where(accounts.c.member_id == member_id)
    )
    if kind is not None:
        stmt = stmt.where(entries.c.kind == kind)
    if day_from is not None:
        stmt = stmt.where(entries.c.business_day >= day_from)
    if day_to is not None:
        stmt = stmt.where(entries.c.business_day <= day_to)
    if before is not None:
        stmt = stmt.where(postings.c.id < before)
    stmt = stmt.order_by(postings.c.id.desc()).limit(min(max(limit, 1), 200))
    with reading(engine) as conn:
        rows = conn.execute(stmt).mappings().all()
    return [
        {
            "id": int(r["id"]),
            "entry_id": int(r["entry_id"]),
            "kind": r["kind"],
            "business_day": r["business_day"],
            "created_at": r["created_at"],
            "reference": r["reference"],
            "reason": r["reason"],
            "account": r["account"],
            "asset": "points" if r["asset"] == PT else "share_value",
            "amount": Points(int(r["amount"])) if r["asset"] == PT else ShareValue(int(r["amount"])),
        }
        for r in rows
    ]


def merchant_list(
    engine: Engine,
    *,
    status: str | None = None,
    ids: Iterable[int] | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Merchants newest first; `ids` restricts to those (a member's own shops)."""
    stmt = select(members.c.id, members.c.name, members.c.created_at, merchants).join(
        merchants, merchants.c.member_id == members.c.id
    )
    if status is not None:
        stmt = stmt.where(merchants.c.status == status)
    if ids is not None:
        stmt = stmt.where(members.c.id.in_(list(ids)))
    if before is not None:
        stmt = stmt.where(members.c.id < before)
    stmt = stmt.order_by(members.c.id.desc()).limit(min(max(limit, 1), 200))
    with reading(engine) as conn:
        rows = conn.execute(stmt).mappings().all()
    return [_merchant_public(r) for r in rows]


def _merchant_public(r: Any) -> dict[str, Any]:
    return {
        "id": int(r["id"]),
        "name": r["name"],
        "owner_id": int(r["owner_id"]),
        "region_code": r["region_code"],
        "concession_rate": domain.rate_from_units(int(r["concession_rate"])),
        "status": r["status"],
        "suspension_reason": r["suspension_reason"],
        "created_at": r["created_at"],
    }


def merchant_profile(engine: Engine, merchant_id: int) -> dict[str, Any]:
    with reading(engine) as conn:
        row = repository.merchant(conn, merchant_id)
        member = repository.member(conn, merchant_id)
    return _merchant_public(
        {**row, "id": merchant_id, "name": member["name"], "created_at": member["created_at"]}
    )


def consumer_profile(engine: Engine, consumer_id: int) -> dict[str, Any]:
    with reading(engine) as conn:
        row = repository.consumer(conn, consumer_id)
    return {
        "id": consumer_id,
        "name": row["name"],
        "phone": row["phone"],
        "real_name": row["real_name"],
        "frozen": bool(row["frozen"]),
        "activated_day": row["activated_day"],
        "created_at": row["created_at"],
    }


def consumer_id_by_phone(engine: Engine, phone: str) -> int:
    number = domain.normalise_phone(phone)
    with reading(engine) as conn:
        found = repository.consumer_by_phone(conn, number)
    if found is None:
        raise not_found("手机号对应的消费者", "consumer with phone", number)
    return found


def merchants_by_status(engine: Engine) -> dict[str, int]:
    with reading(engine) as conn:
        rows = conn.execute(select(merchants.c.status, func.count()).group_by(merchants.c.status)).all()
    return {str(status): int(n) for status, n in rows}
