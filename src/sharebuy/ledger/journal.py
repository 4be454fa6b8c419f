"""The audit log: journal entries as an operator reads them, newest first.

A read model only: an entry is never edited, so a page of entries never changes once written
(except for its seal, which the chain adds after commit).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select

from sharebuy.db.uow import reading
from sharebuy.kernel.amounts import Points, ShareValue
from sharebuy.ledger import repository
from sharebuy.ledger.domain import PT
from sharebuy.ledger.models import accounts, entries, postings

MAX_PAGE = 200


def entry_kinds(engine: Engine) -> list[str]:
    with reading(engine) as conn:
        return [str(k) for (k,) in conn.execute(select(entries.c.kind).distinct().order_by(entries.c.kind))]


def entries_page(
    engine: Engine, *, kind: str | None = None, before: int | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Entries newest first with their postings (account owner, kind, asset, signed amount)."""
    stmt = select(entries)
    if kind:
        stmt = stmt.where(entries.c.kind == kind)
    if before is not None:
        stmt = stmt.where(entries.c.id < before)
    stmt = stmt.order_by(entries.c.id.desc()).limit(min(max(limit, 1), MAX_PAGE))
    with reading(engine) as conn:
        rows = conn.execute(stmt).mappings().all()
        ids = [int(r["id"]) for r in rows]
        legs: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
        if ids:
            found = conn.execute(
                select(
                    postings.c.entry_id,
                    postings.c.asset,
                    postings.c.amount,
                    accounts.c.owner,
                    accounts.c.kind,
                )
                .join(accounts, accounts.c.id == postings.c.account_id)
                .where(postings.c.entry_id.in_(ids))
                .order_by(postings.c.id)
            ).all()
            for entry_id, asset, amount, owner, account_kind in found:
                legs[int(entry_id)].append(
                    {
                        "owner": owner,
                        "account": account_kind,
                        "asset": "points" if asset == PT else "share_value",
                        "amount": Points(int(amount)) if asset == PT else ShareValue(int(amount)),
                    }
                )
    return [
        {
            "id": int(r["id"]),
            "kind": r["kind"],
            "business_day": r["business_day"],
            "created_at": r["created_at"],
            "reference": r["reference"],
            "reason": r["reason"],
            "actor": r["actor"],
            "rule_version": r["rule_version"],
            "reverses_id": r["reverses_id"],
            "seq": r["seq"],
            "hash": r["hash"],
            "postings": legs[int(r["id"])],
        }
        for r in rows
    ]


def chain_state(engine: Engine) -> dict[str, Any]:
    """How far the hash chain reaches: its head and how many entries wait to be sealed."""
    with reading(engine) as conn:
        seq, digest = repository.head(conn)
        total = int(conn.execute(select(func.count()).select_from(entries)).scalar_one())
        pending = repository.unsealed_count(conn)
    return {"head_seq": seq, "head_hash": digest, "entries": total, "unsealed": pending}
