"""Green certification of merchants (绿色积分, SPEC §7): the operator certifies and revokes.

A sale at a certified merchant earns the consumer a bonus in share value (the purchase service
asks `repository.is_green` inside the sale's transaction and records the bonus on the purchase,
so the refund takes back exactly what was given).  Every change is logged with its actor.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update

from sharebuy.db.uow import UnitOfWork, reading, transaction
from sharebuy.kernel.errors import not_found
from sharebuy.kernel.text import check_note
from sharebuy.members.models import members
from sharebuy.tiers.models import green_log, green_merchants


def _require_merchant(conn: Any, merchant_id: int) -> None:
    kind = conn.execute(select(members.c.kind).where(members.c.id == merchant_id)).scalar()
    if kind != "merchant":
        raise not_found("商家", "merchant", merchant_id)


def set_green(
    engine: Engine, merchant_id: int, green: bool, *, actor: str = "operator", note: str = ""
) -> dict[str, Any]:
    """Certify (green=True) or revoke; setting the status a merchant already has changes nothing."""
    check_note(note)

    def work(uow: UnitOfWork) -> dict[str, Any]:
        conn = uow.c
        _require_merchant(conn, merchant_id)
        row = (
            conn.execute(
                select(green_merchants).where(green_merchants.c.merchant_id == merchant_id).with_for_update()
            )
            .mappings()
            .first()
        )
        if row is not None and bool(row["green"]) == green:
            return _view(row, changed=False)
        now = datetime.now(UTC)
        values = {"green": green, "changed_by": actor, "changed_at": now, "note": note}
        if row is None:
            conn.execute(insert(green_merchants), {"merchant_id": merchant_id, **values})
        else:
            conn.execute(
                update(green_merchants).where(green_merchants.c.merchant_id == merchant_id).values(**values)
            )
        conn.execute(
            insert(green_log),
            {
                "merchant_id": merchant_id,
                "action": "certify" if green else "revoke",
                "actor": actor,
                "note": note,
                "at": now,
            },
        )
        uow.commit()
        return _view({"merchant_id": merchant_id, **values}, changed=True)

    return transaction(engine, work)


def _view(row: Any, *, changed: bool) -> dict[str, Any]:
    return {
        "merchant_id": int(row["merchant_id"]),
        "green": bool(row["green"]),
        "changed_by": row["changed_by"],
        "changed_at": row["changed_at"],
        "note": row["note"],
        "changed": changed,
    }


def status(engine: Engine, merchant_id: int) -> dict[str, Any]:
    with reading(engine) as conn:
        _require_merchant(conn, merchant_id)
        row = (
            conn.execute(select(green_merchants).where(green_merchants.c.merchant_id == merchant_id))
            .mappings()
            .first()
        )
        log = conn.execute(
            select(green_log)
            .where(green_log.c.merchant_id == merchant_id)
            .order_by(green_log.c.id.desc())
            .limit(20)
        ).mappings()
        history = [
            {"action": r["action"], "actor": r["actor"], "note": r["note"], "at": r["at"]} for r in log
        ]
    return {
        "merchant_id": merchant_id,
        "green": bool(row["green"]) if row is not None else False,
        "changed_at": row["changed_at"] if row is not None else None,
        "history": history,
    }


def green_merchants_list(engine: Engine) -> list[dict[str, Any]]:
    """Every merchant ever certified, with its current status, newest change first."""
    with reading(engine) as conn:
        rows = conn.execute(
            select(green_merchants, members.c.name)
            .join(members, members.c.id == green_merchants.c.merchant_id)
            .order_by(green_merchants.c.changed_at.desc(), green_merchants.c.merchant_id)
        ).mappings()
        return [{**_view(r, changed=False), "name": r["name"]} for r in rows]
