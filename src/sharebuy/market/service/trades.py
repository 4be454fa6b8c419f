"""A trade's life after it opens: payment marked, receipt confirmed, cancellation, dispute and
the operator's decision, timeouts (the sweeper, and lazily on every read), dispute evidence.

Every state change goes through machine.apply and its transition table.  A due timeout is
applied before the caller's own transaction, as the system's act: a buyer who marks a trade
paid after its deadline finds it cancelled, and the cancellation stands.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from sharebuy.db.uow import UnitOfWork, reading, transaction
from sharebuy.events.repository import utc
from sharebuy.kernel.errors import Conflict, InvalidInput, Refused, not_found
from sharebuy.kernel.text import clean_text
from sharebuy.ledger.service import seal_soon
from sharebuy.market import domain, machine, repository, views
from sharebuy.market.models import evidence
from sharebuy.market.service import common


@dataclass(frozen=True)
class Viewer:
    """Who reads: the members the caller acts for, and whether it is an operator."""

    members: frozenset[int] = field(default_factory=frozenset)
    operator: bool = False


def viewer_role(trade: Any, viewer: Viewer) -> str:
    if int(trade["buyer_id"]) in viewer.members:
        return domain.BUYER
    if int(trade["seller_id"]) in viewer.members:
        return domain.SELLER
    if viewer.operator:
        return domain.OPERATOR
    raise not_found("交易", "trade", trade["id"])  # a stranger learns nothing, not even that it exists


# -- timeouts -----------------------------------------------------------------------------------


def _apply_due(engine: Engine, trade_id: int, now: datetime) -> str | None:
    """Apply the trade's due timeout in a short transaction of its own; the event applied, if any."""
    with reading(engine) as conn:
        if machine.due_event(repository.trade(conn, trade_id), now) is None:
            return None

    def work(uow: UnitOfWork) -> str | None:
        row = repository.trade(uow.c, trade_id, lock=True)
        event = machine.due_event(row, now)  # again, on the locked row: somebody may have been first
        if event is not None:
            machine.apply_due(uow.c, row, now)
            uow.commit()
        return event

    return common.side_effect(engine, work)


def sweep(engine: Engine, now: datetime | None = None, *, batch: int = 500) -> dict[str, Any]:
    """Apply every due timeout: unpaid trades are cancelled, unconfirmed ones go to dispute.
    Run every minute by the scheduler; each trade in its own transaction."""
    moment = common.utc_now(now)
    counts = {"expired": 0, "escalated": 0}
    with reading(engine) as conn:
        due = repository.due_trades(conn, moment, batch)
    for trade_id in due:
        event = _apply_due(engine, trade_id, moment)
        if event is not None:
            counts[event] += 1
    if counts["expired"]:
        seal_soon(engine)
    return {**counts, "at": moment, "more": len(due) == batch}


# -- the parties' actions -----------------------------------------------------------------------

Values = Callable[[Connection, datetime], dict[str, Any]]


def _act(
    engine: Engine,
    trade_id: int,
    member_id: int | None,
    event: str,
    *,
    actor: str,
    now: datetime | None,
    reason: str = "",
    values: Values | None = None,
) -> dict[str, Any]:
    moment = common.utc_now(now)
    _apply_due(engine, trade_id, moment)

    def work(uow: UnitOfWork) -> dict[str, Any]:
        row = repository.trade(uow.c, trade_id, lock=True)
        role = domain.OPERATOR if member_id is None else common.role_in(row, member_id)
        if machine.due_event(row, moment) is not None:
            raise Conflict(
                "trade_deadline_passed",
                "交易已过时限，请刷新后重试",
                "the trade has passed a deadline; reload it",
            )
        extra = values(uow.c, moment) if values is not None else None
        after = machine.apply(
            uow.c, row, event, role=role, actor=actor, now=moment, reason=reason, values=extra
        )
        view = views.trade(uow.c, after, role)
        uow.commit()
        return view

    result = transaction(engine, work)
    if result["status"] in (domain.COMPLETED, domain.CANCELLED):
        seal_soon(engine)
    return result


def mark_paid(
    engine: Engine, trade_id: int, buyer_id: int, reference: str, *, actor: str, now: datetime | None = None
) -> dict[str, Any]:
    """The buyer says it paid, with the payment's reference; the seller's confirm clock starts."""
    text = clean_text(reference, "付款凭证号", "payment reference", limit=100)

    def values(conn: Connection, moment: datetime) -> dict[str, Any]:
        hours = int(common.rules(conn, moment)["c2c_confirm_hours"])
        return {"payment_reference": text, "paid_at": moment, "confirm_by": moment + timedelta(hours=hours)}

    return _act(engine, trade_id, buyer_id, "paid", actor=actor, now=now, values=values)


def confirm(
    engine: Engine, trade_id: int, seller_id: int, *, actor: str, now: datetime | None = None
) -> dict[str, Any]:
    """The seller has the money: the escrow goes to the buyer (less the fee)."""
    return _act(engine, trade_id, seller_id, "confirmed", actor=actor, now=now)


def cancel(
    engine: Engine, trade_id: int, buyer_id: int, *, reason: str = "", actor: str, now: datetime | None = None
) -> dict[str, Any]:
    """The buyer backs out before paying: the points are on offer again."""
    return _act(engine, trade_id, buyer_id, "cancelled", actor=actor, now=now, reason=reason)


def dispute(
    engine: Engine, trade_id: int, member_id: int, *, reason: str, actor: str, now: datetime | None = None
) -> dict[str, Any]:
    """Either side asks an operator to decide (申诉), after the buyer marked the trade paid."""
    return _act(
        engine,
        trade_id,
        member_id,
        "disputed",
        actor=actor,
        now=now,
        reason=reason,
        values=lambda _conn, moment: {"disputed_at": moment},
    )


def decide(
    engine: Engine, trade_id: int, decision: str, *, reason: str, actor: str, now: datetime | None = None
) -> dict[str, Any]:
    """An operator's ruling on a dispute: `release` to the buyer or `return` to the seller's side."""
    if decision not in ("release", "return"):
        raise InvalidInput(
            "invalid_decision", "裁决只能是 release 或 return", "the decision is release or return"
        )
    text = clean_text(reason, "裁决理由", "reason", limit=1000)
    event = "released" if decision == "release" else "returned"
    return _act(
        engine,
        trade_id,
        None,
        event,
        actor=actor,
        now=now,
        reason=text,
        values=lambda _conn, _moment: {"decision": decision, "decided_by": actor, "decision_reason": text},
    )


def get_trade(engine: Engine, trade_id: int, viewer: Viewer, now: datetime | None = None) -> dict[str, Any]:
    """A trade as the viewer may see it, with its due timeout applied first."""
    moment = common.utc_now(now)
    with reading(engine) as conn:
        viewer_role(repository.trade(conn, trade_id), viewer)
    if _apply_due(engine, trade_id, moment) == "expired":
        seal_soon(engine)
    with reading(engine) as conn:
        row = repository.trade(conn, trade_id)
        return views.trade(conn, row, viewer_role(row, viewer))


# -- evidence -----------------------------------------------------------------------------------


def add_evidence(
    engine: Engine,
    trade_id: int,
    viewer: Viewer,
    *,
    kind: str,
    text: str | None = None,
    data: bytes | None = None,
    actor: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Attach a note or an image (a payment screenshot) to an open trade, for the operator."""
    moment = common.utc_now(now)
    if kind == "text":
        body = clean_text(text or "", "说明", "text", limit=domain.MAX_TEXT_CHARS).encode()
        content_type = "text/plain"
    elif kind == "image":
        body = data or b""
        domain.check_image_size(len(body))
        content_type = domain.sniff_image(body)
    else:
        raise InvalidInput(
            "invalid_evidence_kind", "证据类型只能是 text 或 image", "evidence is text or image"
        )

    def work(uow: UnitOfWork) -> dict[str, Any]:
        row = repository.trade(uow.c, trade_id, lock=True)
        role = viewer_role(row, viewer)
        if row["status"] not in domain.OPEN_STATES:
            raise Refused(
                "trade_closed", "交易已结束，不能再提交证据", "the trade has ended; no more evidence"
            )
        if repository.evidence_count(uow.c, trade_id) >= domain.MAX_EVIDENCE_PER_TRADE:
            raise Refused(
                "too_much_evidence",
                f"每笔交易最多 {domain.MAX_EVIDENCE_PER_TRADE} 份证据",
                f"at most {domain.MAX_EVIDENCE_PER_TRADE} pieces of evidence per trade",
            )
        evidence_id = repository.insert_row(
            uow.c,
            evidence,
            {
                "trade_id": trade_id,
                "role": role,
                "uploader": actor,
                "kind": kind,
                "content_type": content_type,
                "size": len(body),
                "sha256": hashlib.sha256(body).hexdigest(),
                "body": body,
                "created_at": moment,
            },
        )
        found = [e for e in repository.evidence_of(uow.c, trade_id) if int(e["id"]) == evidence_id]
        uow.commit()
        return _evidence_view(found[0])

    return transaction(engine, work)


def _evidence_view(row: Any) -> dict[str, Any]:
    return {
        "id": int(row["id"]),
        "trade_id": int(row["trade_id"]),
        "role": row["role"],
        "kind": row["kind"],
        "content_type": row["content_type"],
        "size": int(row["size"]),
        "sha256": row["sha256"],
        "created_at": utc(row["created_at"]),
    }


def list_evidence(engine: Engine, trade_id: int, viewer: Viewer) -> list[dict[str, Any]]:
    with reading(engine) as conn:
        viewer_role(repository.trade(conn, trade_id), viewer)
        return [_evidence_view(e) for e in repository.evidence_of(conn, trade_id)]


def evidence_file(engine: Engine, trade_id: int, evidence_id: int, viewer: Viewer) -> tuple[str, bytes, str]:
    """(content type, bytes, sha256) of one piece of evidence."""
    with reading(engine) as conn:
        viewer_role(repository.trade(conn, trade_id), viewer)
        row = repository.evidence_item(conn, trade_id, evidence_id)
    return str(row["content_type"]), bytes(row["body"]), str(row["sha256"])
