"""Ledger writes and reads on a connection inside a service's unit of work.

Invariants kept here:
- I1: `post` refuses legs that do not balance per asset.
- I3: balances change only through `post`, which locks rows in one global order and refuses
  (and the CHECK constraint refuses again) any member balance that would go negative.
- I5: an idempotency key is unique in the journal; a second use fails at the database.
- I7: `seal` appends committed entries to the hash chain in id order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from sharebuy.db import bulk
from sharebuy.kernel import caches
from sharebuy.kernel.errors import Refused
from sharebuy.ledger import domain
from sharebuy.ledger.domain import Leg
from sharebuy.ledger.models import accounts, chain_head, entries, postings


class InsufficientBalance(Refused):
    pass


# -- accounts ---------------------------------------------------------------------------


def open_member_accounts(conn: Connection, member_id: int) -> dict[str, int]:
    rows = [
        {
            "owner": str(member_id),
            "member_id": member_id,
            "kind": kind,
            "asset": asset,
            "balance": 0,
            "allow_negative": neg,
            "allow_positive": pos,
        }
        for kind, (asset, neg, pos) in domain.MEMBER_KINDS.items()
    ]
    conn.execute(insert(accounts), rows)
    return member_accounts(conn, member_id)


def open_platform_accounts(conn: Connection) -> dict[str, int]:
    rows = [
        {
            "owner": "platform",
            "member_id": None,
            "kind": kind,
            "asset": asset,
            "balance": 0,
            "allow_negative": neg,
            "allow_positive": pos,
        }
        for kind, (asset, neg, pos) in domain.PLATFORM_KINDS.items()
    ]
    conn.execute(insert(accounts), rows)
    return platform_accounts(conn)


def member_accounts(conn: Connection, member_id: int) -> dict[str, int]:
    rows = conn.execute(select(accounts.c.kind, accounts.c.id).where(accounts.c.owner == str(member_id)))
    return {kind: acc_id for kind, acc_id in rows}


_platform_cache: dict[str, dict[str, int]] = {}


def platform_accounts(conn: Connection) -> dict[str, int]:
    """Platform account ids never change once opened, so they are cached per database."""
    key = conn.engine.url.render_as_string(hide_password=True)
    cached = _platform_cache.get(key)
    if cached is not None:
        return cached
    rows = conn.execute(select(accounts.c.kind, accounts.c.id).where(accounts.c.owner == "platform")).all()
    found = {kind: acc_id for kind, acc_id in rows}
    if len(found) == len(domain.PLATFORM_KINDS):
        _platform_cache[key] = found
    return found


caches.register(_platform_cache.clear)


def balances(conn: Connection, owner: str) -> dict[str, int]:
    rows = conn.execute(select(accounts.c.kind, accounts.c.balance).where(accounts.c.owner == owner))
    return {kind: int(bal) for kind, bal in rows}


def lock_member_accounts(
    conn: Connection, member_ids: Sequence[int]
) -> dict[int, dict[str, tuple[int, int]]]:
    """Lock every account of these members, in ascending account id, and read their balances.

    Every writer that locks member accounts does so in ascending id, and platform accounts only
    after (see `post`); one global order means two transactions never wait on each other in a
    cycle.  Returns member -> kind -> (account id, balance).
    """
    stmt = (
        select(accounts.c.id, accounts.c.member_id, accounts.c.kind, accounts.c.balance)
        .where(accounts.c.member_id.in_(sorted(set(member_ids))))
        .order_by(accounts.c.id)
        .with_for_update()
    )
    found: dict[int, dict[str, tuple[int, int]]] = {m: {} for m in member_ids}
    for acc_id, member_id, kind, bal in conn.execute(stmt):
        found[int(member_id)][kind] = (int(acc_id), int(bal))
    return found


# -- posting ----------------------------------------------------------------------------


def post(
    conn: Connection,
    *,
    kind: str,
    business_day: date,
    legs: Iterable[Leg],
    reference: str,
    reason: str,
    actor: str,
    idempotency_key: str | None = None,
    reverses_id: int | None = None,
    rule_version: int | None = None,
    platform_ids: Iterable[int] = (),
) -> int:
    """Write one balanced journal entry and apply it to the balances, or raise and write nothing.

    `platform_ids` names the shared platform accounts among the legs: they are updated last so
    that the rows every transaction touches are held for the shortest time.
    """
    merged = domain.merge_legs(legs)
    domain.require_balanced(merged)
    entry_id = conn.execute(
        insert(entries).returning(entries.c.id),
        {
            "kind": kind,
            "business_day": business_day,
            "reference": reference,
            "reason": reason,
            "actor": actor,
            "idempotency_key": idempotency_key,
            "reverses_id": reverses_id,
            "rule_version": rule_version,
            "created_at": datetime.now(UTC),
        },
    ).scalar_one()
    conn.execute(
        insert(postings),
        [
            {"entry_id": entry_id, "account_id": leg.account_id, "asset": leg.asset, "amount": leg.amount}
            for leg in merged
        ],
    )
    shared = set(platform_ids)
    ordered = sorted(merged, key=lambda leg: (leg.account_id in shared, leg.account_id))
    for leg in ordered:
        apply_delta(conn, leg.account_id, leg.amount)
    return int(entry_id)


_apply_stmt = (
    update(accounts)
    .where(accounts.c.id == bindparam("acc"))
    .values(balance=accounts.c.balance + bindparam("delta"))
    .returning(accounts.c.balance, accounts.c.allow_negative, accounts.c.allow_positive)
)


def apply_delta(conn: Connection, account_id: int, delta: int) -> int:
    """Add `delta` to one balance (locking the row) and refuse a result its kind forbids."""
    balance, may_neg, may_pos = conn.execute(_apply_stmt, {"acc": account_id, "delta": delta}).one()
    if balance < 0 and not may_neg:
        raise InsufficientBalance(
            "insufficient_balance",
            f"账户 {account_id} 余额不足",
            f"account {account_id} has insufficient balance",
            account=account_id,
        )
    if balance > 0 and not may_pos:
        raise InsufficientBalance(
            "account_sign",
            f"账户 {account_id} 不能为正",
            f"account {account_id} cannot hold a positive balance",
            account=account_id,
        )
    return int(balance)


def entry_by_key(conn: Connection, key: str) -> Mapping[Any, Any] | None:
    row = conn.execute(select(entries).where(entries.c.idempotency_key == key)).mappings().first()
    return row


def entry_legs(conn: Connection, entry_id: int) -> list[tuple[int, str, int]]:
    rows = conn.execute(
        select(postings.c.account_id, postings.c.asset, postings.c.amount)
        .where(postings.c.entry_id == entry_id)
        .order_by(postings.c.account_id)
    )
    return [(int(a), s, int(m)) for a, s, m in rows]


# -- the hash chain -----------------------------------------------------------------------


def init_chain(conn: Connection) -> None:
    conn.execute(insert(chain_head), {"id": 1, "seq": 0, "hash": domain.GENESIS_HASH})


def seal(conn: Connection, *, batch: int = 2000) -> int:
    """Append committed, unsealed entries to the chain in id order; returns how many.

    Runs in its own short transaction after the writers commit, so writers never queue on the
    chain head: only sealers do, and one sealer seals everybody's entries at once.  An entry
    that commits with a lower id than one already sealed simply takes the next position.
    """
    head = conn.execute(
        select(chain_head.c.seq, chain_head.c.hash).where(chain_head.c.id == 1).with_for_update()
    ).one()
    seq, prev = int(head.seq), str(head.hash)
    sealed = 0
    while True:
        pending = (
            conn.execute(select(entries).where(entries.c.seq.is_(None)).order_by(entries.c.id).limit(batch))
            .mappings()
            .all()
        )
        if not pending:
            break
        ids = [int(row["id"]) for row in pending]
        legs_by_entry: dict[int, list[tuple[int, str, int]]] = {i: [] for i in ids}
        for entry_id, acc, asset, amount in conn.execute(
            select(postings.c.entry_id, postings.c.account_id, postings.c.asset, postings.c.amount).where(
                postings.c.entry_id.in_(ids)
            )
        ):
            legs_by_entry[int(entry_id)].append((int(acc), asset, int(amount)))
        updates = []
        for row in pending:
            seq += 1
            digest = domain.chain_hash(prev, domain.canonical_entry(row, legs_by_entry[int(row["id"])]))
            updates.append({"eid": row["id"], "s": seq, "p": prev, "h": digest})
            prev = digest
        conn.execute(
            update(entries)
            .where(entries.c.id == bindparam("eid"))
            .values(
                seq=bindparam("s"),
                prev_hash=bindparam("p"),
                hash=bindparam("h"),
            ),
            updates,
        )
        sealed += len(pending)
        if len(pending) < batch:
            break
    if sealed:
        conn.execute(update(chain_head).where(chain_head.c.id == 1).values(seq=seq, hash=prev))
    return sealed


def head(conn: Connection) -> tuple[int, str]:
    row = conn.execute(select(chain_head.c.seq, chain_head.c.hash).where(chain_head.c.id == 1)).one()
    return int(row.seq), str(row.hash)


def unsealed_count(conn: Connection) -> int:
    return int(
        conn.execute(select(func.count()).select_from(entries).where(entries.c.seq.is_(None))).scalar_one()
    )


def post_bulk(
    conn: Connection,
    *,
    kind: str,
    business_day: date,
    legs: Sequence[tuple[int, str, int]],
    reference: str,
    reason: str,
    actor: str,
    idempotency_key: str | None = None,
    rule_version: int | None = None,
) -> int:
    """`post` for entries with very many legs (the daily release): same rules, bulk writes.

    The caller locks every member row it debits, in id order, before computing the legs; the
    CHECK constraints refuse any sign violation and abort the whole transaction.
    """
    merged = domain.merge_legs(Leg(a, s, m) for a, s, m in legs)
    domain.require_balanced(merged)
    entry_id = conn.execute(
        insert(entries).returning(entries.c.id),
        {
            "kind": kind,
            "business_day": business_day,
            "reference": reference,
            "reason": reason,
            "actor": actor,
            "idempotency_key": idempotency_key,
            "reverses_id": None,
            "rule_version": rule_version,
            "created_at": datetime.now(UTC),
        },
    ).scalar_one()
    bulk.insert_rows(
        conn,
        "postings",
        ("entry_id", "account_id", "asset", "amount"),
        ((entry_id, leg.account_id, leg.asset, leg.amount) for leg in merged),
    )
    bulk.add_to_balances(conn, ((leg.account_id, leg.amount) for leg in merged))
    return int(entry_id)
