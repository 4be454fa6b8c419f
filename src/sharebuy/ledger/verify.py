"""`sharebuy verify`: recompute the invariants of SPEC §8 from the journal itself.

Balances are a cache; the postings are the truth.  Each check reports ok or the first thing
that is wrong (an entry id where one is to blame), and the whole report fails if any does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, select

from sharebuy.db.uow import UnitOfWork
from sharebuy.ledger import domain, repository
from sharebuy.ledger.models import accounts, chain_head, entries, postings


@dataclass
class Check:
    name: str
    ok: bool = True
    detail: str = ""
    entry_id: int | None = None

    def fail(self, detail: str, entry_id: int | None = None) -> None:
        if self.ok:  # keep the first failure: it is the one to look at
            self.ok, self.detail, self.entry_id = False, detail, entry_id


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    chain_hashes: dict[int, str] = field(default_factory=dict)  # position -> hash, for I7 extras

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def first_bad_entry(self) -> int | None:
        ids = [c.entry_id for c in self.checks if not c.ok and c.entry_id is not None]
        return min(ids) if ids else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "first_bad_entry": self.first_bad_entry,
            "checks": {
                c.name: {
                    "ok": c.ok,
                    **({"detail": c.detail} if c.detail else {}),
                    **({"entry_id": c.entry_id} if c.entry_id else {}),
                }
                for c in self.checks
            },
            **self.facts,
        }


Extra = Callable[[Connection, Report], Check]


def verify(engine: Engine, extra: Sequence[Extra] = ()) -> Report:
    """Run the ledger's checks, then those other parts of the business pass in `extra`."""
    report = Report()
    with UnitOfWork(engine, readonly=True) as uow:
        conn = uow.c
        report.checks.append(_balanced(conn))
        report.checks.append(_balances_match(conn))
        report.checks.append(_conservation(conn))
        report.checks.append(_non_negative(conn))
        report.checks.append(_idempotency(conn))
        report.checks.append(_chain(conn, report))
        report.checks.append(_posting_days(conn))
        report.checks.append(_entry_references(conn))
        for more in extra:
            report.checks.append(more(conn, report))
        report.facts["entries"] = int(conn.execute(select(func.count()).select_from(entries)).scalar_one())
    return report


def _balanced(conn: Connection) -> Check:
    check = Check("I1_balanced")
    bad = conn.execute(
        select(postings.c.entry_id, postings.c.asset, func.sum(postings.c.amount))
        .group_by(postings.c.entry_id, postings.c.asset)
        .having(func.sum(postings.c.amount) != 0)
        .order_by(postings.c.entry_id)
        .limit(1)
    ).first()
    if bad is not None:
        check.fail(f"entry {bad[0]} is off by {bad[2]} units of {bad[1]}", int(bad[0]))
    empty = conn.execute(
        select(entries.c.id)
        .where(~select(postings.c.id).where(postings.c.entry_id == entries.c.id).exists())
        .order_by(entries.c.id)
        .limit(1)
    ).scalar()
    if empty is not None:
        check.fail(f"entry {empty} has no postings", int(empty))
    return check


def _sums(conn: Connection) -> Any:
    return (
        select(postings.c.account_id, func.sum(postings.c.amount).label("total"))
        .group_by(postings.c.account_id)
        .subquery()
    )


def _balances_match(conn: Connection) -> Check:
    """Each stored balance equals the sum of its postings (a hand-edited balance shows here)."""
    check = Check("balances_match_postings")
    sums = _sums(conn)
    bad = conn.execute(
        select(accounts.c.id, accounts.c.owner, accounts.c.kind, accounts.c.balance, sums.c.total)
        .outerjoin(sums, sums.c.account_id == accounts.c.id)
        .where(accounts.c.balance != func.coalesce(sums.c.total, 0))
        .order_by(accounts.c.id)
        .limit(1)
    ).first()
    if bad is not None:
        last = conn.execute(
            select(func.max(postings.c.entry_id)).where(postings.c.account_id == bad[0])
        ).scalar()
        check.fail(
            f"account {bad[0]} ({bad[1]}/{bad[2]}) holds {bad[3]} but its postings sum to {bad[4] or 0}",
            None if last is None else int(last),
        )
    return check


def _conservation(conn: Connection) -> Check:
    """I2: reserve + all holdings + fees + burned = total issue, from postings and from balances."""
    check = Check("I2_points_conserved")
    issue = conn.execute(
        select(accounts.c.balance).where(accounts.c.owner == "platform", accounts.c.kind == "issue")
    ).scalar()
    if issue is None:
        check.fail("the platform is not initialised")
        return check
    total_issue = -int(issue)
    held_postings = conn.execute(
        select(func.coalesce(func.sum(postings.c.amount), 0))
        .join(accounts, accounts.c.id == postings.c.account_id)
        .where(accounts.c.kind.in_(domain.POINT_HOLDING_KINDS))
    ).scalar_one()
    held_balances = conn.execute(
        select(func.coalesce(func.sum(accounts.c.balance), 0)).where(
            accounts.c.kind.in_(domain.POINT_HOLDING_KINDS)
        )
    ).scalar_one()
    genesis = conn.execute(
        select(func.sum(postings.c.amount))
        .join(entries, entries.c.id == postings.c.entry_id)
        .join(accounts, accounts.c.id == postings.c.account_id)
        .where(entries.c.kind == "genesis", accounts.c.kind == "reserve")
    ).scalar()
    if genesis is None or int(genesis) != total_issue:
        check.fail(f"the genesis entry placed {genesis} in the reserve, the issue account says {total_issue}")
    if int(held_postings) != total_issue:
        check.fail(f"points held per the postings sum to {held_postings}, not the total issue {total_issue}")
    if int(held_balances) != total_issue:
        check.fail(f"points held per the balances sum to {held_balances}, not the total issue {total_issue}")
    return check


def _non_negative(conn: Connection) -> Check:
    """I3: no member balance negative (clawback owed is the one kind that is a debt, ≤ 0)."""
    check = Check("I3_non_negative")
    sums = _sums(conn)
    total = func.coalesce(sums.c.total, 0)
    bad = conn.execute(
        select(accounts.c.id, accounts.c.owner, accounts.c.kind, total)
        .outerjoin(sums, sums.c.account_id == accounts.c.id)
        .where(
            ((accounts.c.allow_negative.is_(False)) & ((total < 0) | (accounts.c.balance < 0)))
            | ((accounts.c.allow_positive.is_(False)) & ((total > 0) | (accounts.c.balance > 0)))
        )
        .order_by(accounts.c.id)
        .limit(1)
    ).first()
    if bad is not None:
        check.fail(f"account {bad[0]} ({bad[1]}/{bad[2]}) has the forbidden balance {bad[3]}")
    return check


def _idempotency(conn: Connection) -> Check:
    """I5: no idempotency key took effect twice."""
    check = Check("I5_idempotent")
    dup = conn.execute(
        select(entries.c.idempotency_key, func.min(entries.c.id))
        .where(entries.c.idempotency_key.is_not(None))
        .group_by(entries.c.idempotency_key)
        .having(func.count() > 1)
        .limit(1)
    ).first()
    if dup is not None:
        check.fail(f"idempotency key {dup[0]} appears more than once", int(dup[1]))
    reversed_twice = conn.execute(
        select(entries.c.reverses_id)
        .where(entries.c.reverses_id.is_not(None))
        .group_by(entries.c.reverses_id)
        .having(func.count() > 1)
        .limit(1)
    ).scalar()
    if reversed_twice is not None:
        check.fail(f"entry {reversed_twice} is reversed more than once", int(reversed_twice))
    return check


def _posting_days(conn: Connection) -> Check:
    """Each posting carries its entry's business day: the partition key must not drift from it
    (the hash chain covers the entry's day, not the posting's copy of it)."""
    check = Check("postings_day_matches_entry")
    bad = conn.execute(
        select(postings.c.entry_id, postings.c.business_day, entries.c.business_day)
        .join(entries, entries.c.id == postings.c.entry_id)
        .where(postings.c.business_day != entries.c.business_day)
        .order_by(postings.c.entry_id)
        .limit(1)
    ).first()
    if bad is not None:
        check.fail(f"a posting of entry {bad[0]} is dated {bad[1]}, its entry {bad[2]}", int(bad[0]))
    return check


def _entry_references(conn: Connection) -> Check:
    """Every column that names a journal entry names one that exists.

    The database enforces this with foreign keys, except on a partitioned journal (PostgreSQL),
    where a foreign key would have to carry the partition key too: there this check is the
    guard.  The referring columns are read from the metadata, so new tables are covered."""
    check = Check("entry_references_exist")
    for table in sorted(entries.metadata.tables.values(), key=lambda t: t.name):
        for fk in sorted(table.foreign_keys, key=lambda f: f.parent.name):
            if fk.column is not entries.c.id or table is postings:
                continue  # postings are checked by I1: a posting of no entry unbalances nothing
            column, target = fk.parent, entries.alias("target")  # an alias: reverses_id is a self-reference
            dangling = conn.execute(
                select(column)
                .where(column.is_not(None), ~select(target.c.id).where(target.c.id == column).exists())
                .limit(1)
            ).scalar()
            if dangling is not None:
                check.fail(f"{table.name}.{column.name} names entry {dangling}, which does not exist")
    orphan = conn.execute(
        select(postings.c.entry_id)
        .where(~select(entries.c.id).where(entries.c.id == postings.c.entry_id).exists())
        .limit(1)
    ).scalar()
    if orphan is not None:
        check.fail(f"postings name entry {orphan}, which does not exist")
    return check


def _sealedentries(conn: Connection, batch: int = 2000) -> Iterator[tuple[Any, list[tuple[int, str, int]]]]:
    after = 0
    while True:
        rows = (
            conn.execute(
                select(entries)
                .where(and_(entries.c.seq.is_not(None), entries.c.seq > after))
                .order_by(entries.c.seq)
                .limit(batch)
            )
            .mappings()
            .all()
        )
        if not rows:
            return
        legs = repository.legs_of(conn, [int(r["id"]) for r in rows], [r["business_day"] for r in rows])
        for row in rows:
            yield row, legs[int(row["id"])]
        after = int(rows[-1]["seq"])


def _chain(conn: Connection, report: Report) -> Check:
    """I7: recompute every sealed entry's hash in chain order."""
    check = Check("I7_hash_chain")
    prev, expected_seq, hashes = domain.GENESIS_HASH, 1, {}
    for row, legs in _sealedentries(conn):
        seq = int(row["seq"])
        if seq != expected_seq:
            # The entry that belongs here is the one linked to the previous hash: name it, not
            # merely the next one in position order, when its position was what changed.
            moved = conn.execute(
                select(entries.c.id)
                .where(entries.c.prev_hash == prev, entries.c.seq != expected_seq)
                .limit(1)
            ).scalar()
            culprit = int(moved) if moved is not None and int(moved) != int(row["id"]) else int(row["id"])
            check.fail(f"chain position {expected_seq} is missing (found {seq}; entry {culprit})", culprit)
            break
        digest = domain.chain_hash(prev, domain.canonical_entry(row, legs))
        if row["prev_hash"] != prev or row["hash"] != digest:
            check.fail(f"entry {row['id']} (position {seq}) does not match its hash", int(row["id"]))
            break
        hashes[seq] = digest
        prev, expected_seq = digest, expected_seq + 1
    head = conn.execute(select(chain_head.c.seq, chain_head.c.hash).where(chain_head.c.id == 1)).first()
    if check.ok and head is not None and (int(head.seq) != expected_seq - 1 or head.hash != prev):
        check.fail(f"the chain head says position {head.seq}, the chain ends at {expected_seq - 1}")
    unsealed = int(
        conn.execute(select(func.count()).select_from(entries).where(entries.c.seq.is_(None))).scalar_one()
    )
    report.facts["chain"] = {"sealed": expected_seq - 1, "unsealed": unsealed, "head_hash": prev}
    report.chain_hashes = hashes
    return check
