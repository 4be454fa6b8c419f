"""Read models: balances of a consumer, a merchant and the platform."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select

from sharebuy.db.uow import reading
from sharebuy.kernel.amounts import Points, ShareValue
from sharebuy.kernel.clock import business_day
from sharebuy.ledger import repository as ledger
from sharebuy.ledger.models import accounts
from sharebuy.members import domain, repository
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
