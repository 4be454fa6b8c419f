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

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    any_,
    bindparam,
    cast,
    column,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError

from sharebuy.db import bulk
from sharebuy.db.arrays import ArrayLiteral, array_params
from sharebuy.db.prepared import Prepared
from sharebuy.kernel import caches
from sharebuy.kernel.errors import IntegrityViolation, Refused
from sharebuy.ledger import domain
from sharebuy.ledger.domain import Leg
from sharebuy.ledger.models import accounts, chain_head, entries, postings


class InsufficientBalance(Refused):
    pass


# -- accounts ---------------------------------------------------------------------------


def _open(
    conn: Connection, owner: str, member_id: int | None, kinds: Mapping[str, tuple[str, bool, bool]]
) -> None:
    conn.execute(
        insert(accounts),
        [
            {
                "owner": owner,
                "member_id": member_id,
                "kind": kind,
                "asset": asset,
                "balance": 0,
                "allow_negative": neg,
                "allow_positive": pos,
            }
            for kind, (asset, neg, pos) in kinds.items()
        ],
    )


def open_member_accounts(conn: Connection, member_id: int) -> dict[str, int]:
    _open(conn, str(member_id), member_id, domain.MEMBER_KINDS)
    return member_accounts(conn, member_id)


def open_platform_accounts(conn: Connection) -> dict[str, int]:
    _open(conn, "platform", None, domain.PLATFORM_KINDS)
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


class Locked(dict[int, dict[str, tuple[int, int]]]):
    """member -> kind -> (account id, balance) for rows this transaction has locked."""

    def flat(self) -> dict[int, tuple[str, int]]:
        return {acc: (kind, bal) for kinds in self.values() for kind, (acc, bal) in kinds.items()}


# Two members at most (a sale, a refund, a deposit): fixed parameters keep one compiled form.
_lock_accounts = Prepared(
    select(accounts.c.id, accounts.c.member_id, accounts.c.kind, accounts.c.balance)
    .where(accounts.c.member_id.in_([bindparam("m1"), bindparam("m2")]))
    .order_by(accounts.c.id)
    .with_for_update()
)


def lock_member_accounts(conn: Connection, member_ids: Sequence[int]) -> Locked:
    """Lock every account of these members, in ascending account id, and read their balances.

    The global lock order is: merchant rows, then member accounts by ascending id, then the
    shared platform accounts (see `post`).  One order means two transactions never wait on each
    other in a cycle.
    """
    ids = sorted(set(member_ids))
    if len(ids) > 2:
        raise ValueError("lock_member_accounts locks the accounts of one or two members")
    found = Locked({m: {} for m in member_ids})
    for acc_id, member_id, kind, bal in _lock_accounts.run(conn, {"m1": ids[0], "m2": ids[-1]}):
        found[int(member_id)][kind] = (int(acc_id), int(bal))
    return found


# -- posting ----------------------------------------------------------------------------


_insert_entry = Prepared(insert(entries).returning(entries.c.id))
_insert_posting = Prepared(insert(postings))
_add_to_balance = Prepared(
    update(accounts)
    .where(accounts.c.id == bindparam("acc"))
    .values(balance=accounts.c.balance + bindparam("delta"))
)


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
    locked: Mapping[int, tuple[str, int]] | None = None,
) -> int:
    """Write one balanced journal entry and apply it to the balances, or raise and write nothing.

    `locked` holds the member accounts the caller has locked (id -> (kind, balance)): their new
    balances are checked here, before anything is written, for a clear refusal.  Any other sign
    violation is refused by the CHECK constraints.  `platform_ids` names the shared platform
    accounts among the legs: they are updated last, so the rows every transaction touches are
    held for the shortest time.
    """
    entry_id, rest = _write(
        conn,
        dict(
            kind=kind,
            business_day=business_day,
            reference=reference,
            reason=reason,
            actor=actor,
            idempotency_key=idempotency_key,
            reverses_id=reverses_id,
            rule_version=rule_version,
        ),
        legs,
        platform_ids,
        locked,
        defer_shared=False,
    )
    apply_shared(conn, rest)
    return entry_id


# Balance changes of shared platform accounts that a caller applies itself, last.
SharedLegs = list[dict[str, int]]


def post_deferring_shared(
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
    locked: Mapping[int, tuple[str, int]] | None = None,
) -> tuple[int, SharedLegs]:
    """`post`, except that the legs on `platform_ids` come back unapplied, for `apply_shared`.

    Every transaction touches the shared platform rows, so their row locks serialise all
    writers: a caller with more to write after the entry (the purchase row, its event) applies
    them as its very last statement, and holds those locks only for that statement and the
    commit.  The caller must call `apply_shared` in the same transaction before committing
    (verify's balance check catches one that does not).
    """
    entry_id, rest = _write(
        conn,
        dict(
            kind=kind,
            business_day=business_day,
            reference=reference,
            reason=reason,
            actor=actor,
            idempotency_key=idempotency_key,
            reverses_id=reverses_id,
            rule_version=rule_version,
        ),
        legs,
        platform_ids,
        locked,
        defer_shared=True,
    )
    return entry_id, rest


def _write(
    conn: Connection,
    entry: dict[str, Any],
    legs: Iterable[Leg],
    platform_ids: Iterable[int],
    locked: Mapping[int, tuple[str, int]] | None,
    *,
    defer_shared: bool,
) -> tuple[int, SharedLegs]:
    """Check the legs, write the entry and its postings and apply the member accounts' legs
    (and the shared accounts' unless `defer_shared`); the legs still to apply come back."""
    merged = domain.merge_legs(legs)
    domain.require_balanced(merged)
    if locked:
        _precheck(merged, locked)
    entry = {**entry, "created_at": datetime.now(UTC)}
    shared = set(platform_ids)
    own = [leg for leg in merged if leg.account_id not in shared]
    rest = [{"acc": leg.account_id, "delta": leg.amount} for leg in merged if leg.account_id in shared]
    if conn.dialect.name == "postgresql" and locked and all(leg.account_id in locked for leg in own):
        return _write_pg(conn, entry, merged, shared), rest
    entry_id = int(_insert_entry.run(conn, entry, insert=True).scalar_one())
    _insert_posting.run_many(
        conn,
        [
            {
                "entry_id": entry_id,
                "account_id": leg.account_id,
                "asset": leg.asset,
                "amount": leg.amount,
                "business_day": entry["business_day"],
            }
            for leg in merged
        ],
        insert=True,
    )
    changes = [{"acc": leg.account_id, "delta": leg.amount} for leg in own]
    # SQLite's writer holds the whole database from BEGIN IMMEDIATE on: no row is held longer
    # for being updated earlier, so one statement is cheaper than two.
    if defer_shared and conn.dialect.name != "sqlite":
        _add_to_balances(conn, changes)
        return entry_id, rest
    _add_to_balances(conn, changes + rest)  # one statement, in the lock order: shared rows last
    return entry_id, []


# The entry, its postings and the balances of the member accounts the caller holds locked, in
# one round trip.  A multi-row UPDATE takes its row locks in no set order, which is safe only
# because this transaction holds every one of those rows already; the shared accounts, which
# it does not hold, are left to `apply_shared`, which locks them in id order.
_post_pg = Prepared(
    text(
        """
    WITH entry AS (
        INSERT INTO journal_entries (kind, business_day, reference, reason, actor, idempotency_key,
                                     reverses_id, rule_version, created_at)
        VALUES (:kind, :business_day, :reference, :reason, :actor, :idempotency_key,
                :reverses_id, :rule_version, :created_at)
        RETURNING id
    ), leg AS (
        SELECT * FROM unnest(CAST(:accounts AS BIGINT[]), CAST(:assets AS VARCHAR[]),
                             CAST(:amounts AS BIGINT[]), CAST(:own AS BOOLEAN[]))
                 AS leg(account_id, asset, amount, own)
    ), written AS (
        INSERT INTO postings (entry_id, account_id, asset, amount, business_day)
        SELECT entry.id, leg.account_id, leg.asset, leg.amount, CAST(:business_day AS DATE)
        FROM entry, leg
    ), applied AS (
        UPDATE ledger_accounts SET balance = ledger_accounts.balance + leg.amount
        FROM leg WHERE ledger_accounts.id = leg.account_id AND leg.own
    )
    SELECT id FROM entry
    """
    )
    .bindparams(*array_params("accounts", "assets", "amounts", "own"))
    .columns(column("id", BigInteger))
)

_CHECK_VIOLATION = "23514"


def _write_pg(conn: Connection, entry: dict[str, Any], merged: list[Leg], shared: set[int]) -> int:
    params = {
        **entry,
        "accounts": [leg.account_id for leg in merged],
        "assets": [leg.asset for leg in merged],
        "amounts": [leg.amount for leg in merged],
        "own": [leg.account_id not in shared for leg in merged],
    }
    try:
        return int(_post_pg.run(conn, params).scalar_one())
    except IntegrityError as error:
        raise_if_insufficient(error)
        raise


def apply_shared(conn: Connection, shared: SharedLegs) -> None:
    """Apply the platform legs `post_deferring_shared` left, locking them in account id order."""
    if conn.dialect.name != "postgresql":
        _add_to_balances(conn, shared)
        return
    try:
        _shared_update.run(conn, shared_params(shared))
    except IntegrityError as error:
        raise_if_insufficient(error)
        raise


def shared_params(shared: SharedLegs) -> dict[str, list[int]]:
    return {"accounts": [c["acc"] for c in shared], "deltas": [c["delta"] for c in shared]}


def raise_if_insufficient(error: IntegrityError) -> None:
    """A CHECK constraint refused a balance: say so.  Any other violation (a reused idempotency
    key, say) is the caller's to answer."""
    if getattr(error.orig, "sqlstate", None) == _CHECK_VIOLATION:
        raise _insufficient() from error


# Several shared rows in one statement on PostgreSQL, still locked in ascending id order: the
# subquery's lock clause locks its rows after its ORDER BY, and the UPDATE reaches a row only
# through it, so the subquery has locked every row, in order, before the UPDATE writes it.
# FOR NO KEY UPDATE is the lock the UPDATE itself takes: FOR UPDATE would also conflict with
# the KEY SHARE locks that other writers' postings (foreign keys to these rows) hold until they
# commit, and two such writers would deadlock.  A caller may add CTEs that insert rows of its
# own (they lock no existing row).
_shared_ids = cast(bindparam("accounts", type_=ArrayLiteral()), ARRAY(BigInteger))
_held = (
    select(accounts.c.id)
    .where(accounts.c.id == any_(_shared_ids))
    .order_by(accounts.c.id)
    .with_for_update(key_share=True)
    .subquery("held")
)
_change = (
    func.unnest(_shared_ids, cast(bindparam("deltas", type_=ArrayLiteral()), ARRAY(BigInteger)))
    .table_valued(column("account_id", BigInteger), column("delta", BigInteger))
    .render_derived(name="change")
)
shared_update_pg = (
    update(accounts)
    .values(balance=accounts.c.balance + _change.c.delta)
    .where(accounts.c.id == _held.c.id, _change.c.account_id == _held.c.id)
)
_shared_update = Prepared(shared_update_pg)


def _add_to_balances(conn: Connection, changes: SharedLegs) -> None:
    if not changes:
        return
    try:
        _add_to_balance.run_many(conn, changes)
    except IntegrityError as error:
        raise _insufficient() from error


def _insufficient() -> InsufficientBalance:
    return InsufficientBalance(
        "insufficient_balance",
        "余额不足或账户方向不允许",
        "a balance would become negative (or a debt positive)",
    )


def _precheck(legs: Iterable[Leg], locked: Mapping[int, tuple[str, int]]) -> None:
    for leg in legs:
        held = locked.get(leg.account_id)
        if held is None:
            continue
        kind, balance = held
        _asset, may_neg, may_pos = domain.MEMBER_KINDS[kind]
        after = balance + leg.amount
        if (after < 0 and not may_neg) or (after > 0 and not may_pos):
            raise InsufficientBalance(
                "insufficient_balance",
                f"账户 {leg.account_id}（{kind}）余额不足",
                f"account {leg.account_id} ({kind}) has insufficient balance",
                account=leg.account_id,
            )


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


def legs_of(
    conn: Connection, entry_ids: Sequence[int], days: Iterable[date] = ()
) -> dict[int, list[tuple[int, str, int]]]:
    """The postings of several entries at once: entry id -> [(account, asset, amount)].

    `days`, the entries' business days when the caller has them, lets a journal partitioned by
    month read only those months' postings instead of probing every month's index."""
    found: dict[int, list[tuple[int, str, int]]] = {i: [] for i in entry_ids}
    stmt = select(postings.c.entry_id, postings.c.account_id, postings.c.asset, postings.c.amount).where(
        postings.c.entry_id.in_(entry_ids)
    )
    months = sorted(set(days))
    if months:
        stmt = stmt.where(postings.c.business_day.in_(months))
    rows = conn.execute(stmt)
    for entry_id, acc, asset, amount in rows:
        found[int(entry_id)].append((int(acc), asset, int(amount)))
    return found


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
    ).first()
    if head is None:
        return 0  # before `init` there is no chain, and no entry to seal either
    seq, prev = int(head.seq), str(head.hash)
    sealed = 0
    while True:
        pending = _pending.run(conn, {"batch": batch}).mappings()
        if not pending:
            break
        legs_by_entry = _pending_legs(conn, pending)
        updates = []
        for row in pending:
            seq += 1
            digest = domain.chain_hash(prev, domain.canonical_entry(row, legs_by_entry[int(row["id"])]))
            updates.append({"eid": row["id"], "day": row["business_day"], "s": seq, "p": prev, "h": digest})
            prev = digest
        _write_seals(conn, updates)
        sealed += len(pending)
        if len(pending) < batch:
            break
    if sealed:
        conn.execute(update(chain_head).where(chain_head.c.id == 1).values(seq=seq, hash=prev))
    return sealed


# What the chain hashes of an entry (domain.canonical_entry), for the oldest unsealed entries.
_pending = Prepared(
    select(*(entries.c[name] for name in domain.CANONICAL_FIELDS))
    .where(entries.c.seq.is_(None))
    .order_by(entries.c.id)
    .limit(bindparam("batch", type_=Integer))
)
_legs_between = Prepared(
    select(postings.c.entry_id, postings.c.account_id, postings.c.asset, postings.c.amount).where(
        postings.c.entry_id.between(bindparam("first"), bindparam("last")),
        # Names the months of a partitioned journal, as legs_of's days do.
        postings.c.business_day.between(bindparam("from_day"), bindparam("to_day")),
    )
)


def _pending_legs(conn: Connection, pending: list[dict[str, Any]]) -> dict[int, list[tuple[int, str, int]]]:
    """The postings of entries about to be sealed.  They are mostly consecutive ids: one range
    read (no list of ids to send) unless a straggler far behind would make the range wide."""
    ids = [int(row["id"]) for row in pending]
    days = [row["business_day"] for row in pending]
    if ids[-1] - ids[0] >= 4 * len(ids):
        return legs_of(conn, ids, days)
    found: dict[int, list[tuple[int, str, int]]] = {i: [] for i in ids}
    params = {"first": ids[0], "last": ids[-1], "from_day": min(days), "to_day": max(days)}
    for entry_id, acc, asset, amount in _legs_between.run(conn, params):
        legs = found.get(entry_id)
        if legs is not None:  # an entry inside the range may be sealed already
            legs.append((int(acc), asset, int(amount)))
    return found


_seal_entry = Prepared(
    update(entries)
    # The day is redundant for the row but names its month on a partitioned journal.
    .where(entries.c.id == bindparam("eid"), entries.c.business_day == bindparam("day"))
    .values(seq=bindparam("s"), prev_hash=bindparam("p"), hash=bindparam("h"))
)
# On PostgreSQL one statement for the whole batch instead of one per entry (the rows are new
# and unsealed: only the sealer, which holds the chain head, writes them).
_seal_entries_pg = Prepared(
    text(
        """
    UPDATE journal_entries SET seq = sealed.seq, prev_hash = sealed.prev_hash, hash = sealed.hash
    FROM unnest(CAST(:ids AS BIGINT[]), CAST(:days AS DATE[]), CAST(:seqs AS BIGINT[]),
                CAST(:prevs AS VARCHAR[]), CAST(:hashes AS VARCHAR[]))
         AS sealed(id, business_day, seq, prev_hash, hash)
    WHERE journal_entries.id = sealed.id AND journal_entries.business_day = sealed.business_day
    """
    ).bindparams(*array_params("ids", "days", "seqs", "prevs", "hashes"))
)


def _write_seals(conn: Connection, updates: list[dict[str, Any]]) -> None:
    if conn.dialect.name != "postgresql":
        _seal_entry.run_many(conn, updates)
        return
    columns = {"ids": "eid", "seqs": "s", "prevs": "p", "hashes": "h"}
    params = {name: [u[key] for u in updates] for name, key in columns.items()}
    _seal_entries_pg.run(conn, params | {"days": [u["day"].isoformat() for u in updates]})


def head(conn: Connection) -> tuple[int, str]:
    row = conn.execute(select(chain_head.c.seq, chain_head.c.hash).where(chain_head.c.id == 1)).one()
    return int(row.seq), str(row.hash)


def unsealed_count(conn: Connection) -> int:
    return int(
        conn.execute(select(func.count()).select_from(entries).where(entries.c.seq.is_(None))).scalar_one()
    )


# One block of a bulk entry's legs: the asset, then account ids and signed amounts as arrays.
BulkLegs = tuple[str, npt.NDArray[np.int64], npt.NDArray[np.int64]]


def post_bulk(
    conn: Connection,
    *,
    kind: str,
    business_day: date,
    legs: Sequence[BulkLegs],
    reference: str,
    reason: str,
    actor: str,
    idempotency_key: str | None = None,
    rule_version: int | None = None,
    platform_ids: Iterable[int] = (),
) -> int:
    """`post` for entries with very many legs (the daily release): same rules, bulk writes.

    The legs come as column blocks so that no Python object is made per leg.  The caller locks
    every member row it debits, in id order, before computing the legs; the CHECK constraints
    refuse any sign violation and abort the whole transaction.  As in `post`, the shared
    `platform_ids` are updated last, so the rows every transaction touches are held shortest.
    """
    account_ids, assets, amounts = _merge_bulk_legs(legs)
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
    bulk.insert_columns(
        conn,
        "postings",
        {
            "entry_id": int(entry_id),
            "account_id": account_ids,
            "asset": assets,
            "amount": amounts,
            "business_day": business_day,
        },
    )
    last = np.isin(account_ids, list(platform_ids))
    bulk.add_to_balances(conn, account_ids[~last], amounts[~last])
    bulk.add_to_balances(conn, account_ids[last], amounts[last])
    return int(entry_id)


def _merge_bulk_legs(
    blocks: Sequence[BulkLegs],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bytes_], npt.NDArray[np.int64]]:
    """`domain.merge_legs` and `domain.require_balanced` on columns: one posting per account and
    asset, zero nets dropped, in (account, asset) order; refuses an entry that does not balance
    per asset (I1) or has no postings."""
    names = sorted({asset for asset, _ids, _amounts in blocks})
    totals = dict.fromkeys(names, 0)
    for asset, _ids, amounts in blocks:
        totals[asset] += _exact_sum(np.asarray(amounts, dtype=np.int64))
    off = {asset: total for asset, total in totals.items() if total != 0}
    if off:
        raise IntegrityViolation(
            "unbalanced_entry", f"分录不平衡：{off}", f"entry does not balance per asset: {off}"
        )
    account = np.concatenate([np.asarray(ids, dtype=np.int64) for _a, ids, _m in blocks] or [_NO_INTS])
    amount = np.concatenate([np.asarray(m, dtype=np.int64) for _a, _i, m in blocks] or [_NO_INTS])
    code = np.concatenate(
        [np.full(len(ids), names.index(asset), dtype=np.int64) for asset, ids, _m in blocks] or [_NO_INTS]
    )
    order = np.lexsort((code, account))  # last key first: by account, then asset
    account, code, amount = account[order], code[order], amount[order]
    starts = np.flatnonzero(np.r_[True, (account[1:] != account[:-1]) | (code[1:] != code[:-1])])
    if len(starts) < len(account):  # the same account twice: add its amounts up, exactly
        exact = _exact_sum(np.abs(amount)) <= _INT64_MAX
        amount = np.add.reduceat(amount if exact else amount.astype(object), starts)
        account, code = account[starts], code[starts]
    keep = amount != 0
    if not keep.any():
        raise IntegrityViolation("empty_entry", "分录没有过账行", "entry has no postings")
    asset_names = np.array([a.encode("ascii") for a in names])
    return account[keep], asset_names[code[keep]], np.asarray(amount[keep], dtype=np.int64)


_NO_INTS = np.zeros(0, dtype=np.int64)
_INT64_MAX = int(np.iinfo(np.int64).max)


def _exact_sum(values: npt.NDArray[np.int64]) -> int:
    """Σ values as a Python int, in int64 only when no partial sum can overflow."""
    if len(values) == 0:
        return 0
    largest = max(int(values.max()), -int(values.min()))
    return int(values.sum()) if largest * len(values) <= _INT64_MAX else sum(values.tolist())
