"""The daily release (每日空投 / 日结, SPEC §4): exactly once per business day, in date order.

A day is settled in three steps, each its own transaction, so a crash part-way resumes:
1. compute: the holders' share value at the end of the day, their points and the share value
   used up, written as the settlement header and its lines (all or nothing);
2. post: the lines in chunks, each chunk one balanced journal entry with a unique key, the
   header counting the chunks posted in the same transaction;
3. complete: the header is marked completed, the chain sealed and its head recorded (I7).
Running it again after any crash continues where it stopped; a completed day answers with its
first result.  Invariant I4: the points released on a day equal A_D exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, and_, exists, func, insert, literal, select, text, update

from sharebuy.db import bulk
from sharebuy.db.uow import UnitOfWork
from sharebuy.events import repository as events
from sharebuy.kernel.amounts import Points, Price, ShareValue
from sharebuy.kernel.clock import business_day
from sharebuy.kernel.errors import Refused
from sharebuy.ledger import repository as ledger
from sharebuy.ledger.domain import PT, SV
from sharebuy.ledger.models import accounts, entries, postings
from sharebuy.ledger.service import seal_pending
from sharebuy.members.models import members, merchants
from sharebuy.rewards import domain, formulas, repository
from sharebuy.rewards.models import purchases, settlement_lines, settlements

CHUNK_SIZE = 50_000
# The advisory lock every settler takes on PostgreSQL: two servers never settle at once.
SETTLEMENT_LOCK = 0x5348_4259  # "SHBY"

Progress = Callable[[str, int, int], None]


def _quiet(_phase: str, _done: int, _total: int) -> None:
    return None


@dataclass(frozen=True)
class SettlementReport:
    date: date
    status: str
    rule_version: int
    guide_price: Price
    price_source: str
    airdrop: Points
    released: Points
    network_share_value: ShareValue
    holders: int
    share_value_consumed: ShareValue
    leftover_units: int
    journal_head_seq: int | None
    journal_head_hash: str | None
    replayed: bool = False


def settle(
    engine: Engine,
    *,
    through: date | None = None,
    now: datetime | None = None,
    progress: Progress = _quiet,
) -> list[SettlementReport]:
    """Settle every unsettled day up to `through` (default: yesterday), oldest first.

    Returns one report per day from the first unsettled one to `through`; a `through` that is
    already settled answers with its stored report, marked replayed.
    """
    today = business_day(now or datetime.now(UTC))
    with UnitOfWork(engine, readonly=True) as uow:
        start = repository.start_day(uow.c)
        target = through if through is not None else today - timedelta(days=1)
        if target >= today:
            raise Refused(
                "day_not_over",
                f"营业日 {target} 尚未结束（今天是 {today}），不能结算",
                f"business day {target} has not ended yet (today is {today})",
            )
        if target < start:
            raise Refused(
                "before_start",
                f"{target} 早于平台开始营业日 {start}",
                f"{target} is before the platform's first business day {start}",
            )
        completed = _last_completed(uow.c)
    if completed is not None and target <= completed:
        return [replace_replayed(report(engine, target))]
    with _settlement_lock(engine):
        # Read again under the lock: another server may have settled while we waited for it.
        with UnitOfWork(engine, readonly=True) as uow:
            completed = _last_completed(uow.c)
        if completed is not None and target <= completed:
            return [replace_replayed(report(engine, target))]
        reports = []
        day = start if completed is None else completed + timedelta(days=1)
        while day <= target:
            reports.append(settle_day(engine, day, progress=progress))
            day += timedelta(days=1)
    return reports


def replace_replayed(found: SettlementReport) -> SettlementReport:
    return replace(found, replayed=True)


class _settlement_lock:
    """Session-level advisory lock on PostgreSQL; SQLite writers are serialised already."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.conn: Connection | None = None

    def __enter__(self) -> None:
        if self.engine.dialect.name != "postgresql":
            return
        self.conn = self.engine.connect()
        got = self.conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": SETTLEMENT_LOCK}).scalar()
        self.conn.commit()
        if not got:
            self.conn.close()
            self.conn = None
            raise Refused(
                "settlement_running",
                "另一个结算正在进行，请稍后再试",
                "another settlement is running; try again shortly",
            )

    def __exit__(self, *exc: object) -> None:
        if self.conn is not None:
            self.conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": SETTLEMENT_LOCK})
            self.conn.commit()
            self.conn.close()


def _last_completed(conn: Connection) -> date | None:
    found = repository.last_settlement(conn)
    return None if found is None else found[0]


def settle_day(
    engine: Engine, day: date, *, progress: Progress = _quiet, stop_after_chunks: int | None = None
) -> SettlementReport:
    """Settle one day whose predecessors are settled; resumes a half-done run of that day.

    `stop_after_chunks` ends the run early after posting that many chunks, as a crash would;
    the recovery tests use it.
    """
    with UnitOfWork(engine) as uow:
        header = _header(uow.c, day)
        if header is None:
            header = _compute(uow.c, day, progress)
            uow.commit()
    if header["status"] == "posting":
        posted = int(header["chunks_posted"])
        for chunk in range(posted, int(header["chunks"])):
            if stop_after_chunks is not None and chunk - posted >= stop_after_chunks:
                return report(engine, day)
            with UnitOfWork(engine) as uow:
                _post_chunk(uow.c, day, chunk)
                uow.commit()
            progress("post", chunk + 1, int(header["chunks"]))
        _complete(engine, day)
    return report(engine, day)


def _header(conn: Connection, day: date) -> Any:
    return conn.execute(select(settlements).where(settlements.c.business_day == day)).mappings().first()


# -- step 1: compute --------------------------------------------------------------------------


def _compute(conn: Connection, day: date, progress: Progress) -> Any:
    previous = conn.execute(
        select(settlements.c.business_day, settlements.c.status, settlements.c.guide_price)
        .where(settlements.c.business_day < day)
        .order_by(settlements.c.business_day.desc())
        .limit(1)
    ).first()
    start = repository.start_day(conn)
    if day > start and (
        previous is None or previous.business_day != day - timedelta(days=1) or previous.status != "completed"
    ):
        raise Refused(
            "earlier_day_unsettled",
            f"{day} 之前的营业日尚未结算完成",
            f"the business days before {day} are not all settled",
        )
    version_id = repository.version_id_for(conn, day)
    rules = repository.version(conn, version_id)
    last_price = (
        Price(int(previous.guide_price)) if previous is not None else repository.current_guide_price(conn)
    )
    market = None  # the C2C market's volume-weighted price of the day feeds this
    price = domain.guide_price(last_price, market, rules["price_floor"])
    source = "market" if market is not None else ("carried" if previous is not None else "initial")
    reserve = ledger.balances(conn, "platform")["reserve"]
    airdrop = min(rules["daily_airdrop"].units, reserve)

    progress("compute", 0, 1)
    ids, share_value = _holders(conn, day, rules["activity_window_days"])
    if len(ids) == 0:
        airdrop = 0
    points = formulas.split_airdrop(airdrop, share_value, ids)
    consumed = formulas.share_value_consumed(points, share_value, price.units)
    network = int(share_value.astype(object).sum()) if len(ids) else 0
    leftover = airdrop - int((share_value.astype(object) * airdrop // network).sum()) if network else 0
    chunks = (len(ids) + CHUNK_SIZE - 1) // CHUNK_SIZE
    conn.execute(
        insert(settlements),
        {
            "business_day": day,
            "status": "posting",
            "rule_version": version_id,
            "guide_price": price.units,
            "price_source": source,
            "airdrop": airdrop,
            "network_share_value": network,
            "holders": len(ids),
            "released": 0,
            "share_value_consumed": 0,
            "leftover_units": leftover,
            "chunks": chunks,
            "chunks_posted": 0,
            "started_at": datetime.now(UTC),
        },
    )
    chunk_of = np.arange(len(ids), dtype=np.int64) // CHUNK_SIZE
    bulk.insert_rows(
        conn,
        "settlement_lines",
        (
            "business_day",
            "member_id",
            "chunk",
            "share_value",
            "points",
            "share_value_consumed",
            "consumed_from_owed",
        ),
        (
            (day, int(i), int(c), int(s), int(p), int(u), 0)
            for i, c, s, p, u in zip(ids, chunk_of, share_value, points, consumed, strict=True)
        ),
    )
    progress("compute", 1, 1)
    return _header(conn, day)


def _holders(conn: Connection, day: date, window_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Eligible holders and their share value at the end of `day`, ordered by member id.

    Share value at the end of the day is today's balance less whatever was posted for later
    days, so a day can be settled after later purchases were already recorded (catch-up).
    """
    later = (
        select(postings.c.account_id, func.sum(postings.c.amount).label("delta"))
        .join(entries, entries.c.id == postings.c.entry_id)
        .where(entries.c.business_day > day, postings.c.asset == SV)
        .group_by(postings.c.account_id)
        .subquery()
    )
    at_end = (accounts.c.balance - func.coalesce(later.c.delta, 0)).label("sv")
    stmt = (
        select(members.c.id, at_end)
        .select_from(accounts)
        .join(members, members.c.id == accounts.c.member_id)
        .outerjoin(merchants, merchants.c.member_id == members.c.id)
        .outerjoin(later, later.c.account_id == accounts.c.id)
        .where(
            accounts.c.kind == "sv",
            members.c.frozen.is_(False),
            members.c.activated_day.is_not(None),
            members.c.activated_day <= day,
            func.coalesce(merchants.c.status, literal("consumer")) != "closed",
            at_end > 0,
        )
        .order_by(members.c.id)
    )
    if window_days:
        since = day - timedelta(days=window_days - 1)
        active = lambda column: exists().where(  # noqa: E731
            and_(column == members.c.id, purchases.c.business_day >= since, purchases.c.business_day <= day)
        )
        stmt = stmt.where(active(purchases.c.consumer_id) | active(purchases.c.merchant_id))
    rows = conn.execute(stmt).all()
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    data = np.array(rows, dtype=np.int64)
    return data[:, 0].copy(), data[:, 1].copy()


# -- step 2: post --------------------------------------------------------------------------------


def _post_chunk(conn: Connection, day: date, chunk: int) -> None:
    header = (
        conn.execute(select(settlements).where(settlements.c.business_day == day).with_for_update())
        .mappings()
        .one()
    )
    if header["status"] != "posting" or int(header["chunks_posted"]) != chunk:
        return  # another run posted it already
    lines = conn.execute(
        select(
            settlement_lines.c.member_id, settlement_lines.c.points, settlement_lines.c.share_value_consumed
        )
        .where(settlement_lines.c.business_day == day, settlement_lines.c.chunk == chunk)
        .order_by(settlement_lines.c.member_id)
    ).all()
    member_ids = [int(r[0]) for r in lines]
    held = _lock_holder_accounts(conn, member_ids)
    platform = ledger.platform_accounts(conn)
    legs: list[tuple[int, str, int]] = []
    released = consumed_total = 0
    from_owed: list[tuple[int, int]] = []
    for member_id, pts, used in lines:
        acc = held[int(member_id)]
        if pts:
            legs.append((acc["available"][0], PT, int(pts)))
            released += int(pts)
        if used:
            taken, owed = domain.take_back(int(used), acc["sv"][1])
            if taken:
                legs.append((acc["sv"][0], SV, -taken))
            if owed:
                # A refund after the day ended left less share value than the day had.
                legs.append((acc["sv_owed"][0], SV, -owed))
                from_owed.append((int(member_id), owed))
            consumed_total += int(used)
    if released:
        legs.append((platform["reserve"], PT, -released))
    if consumed_total:
        legs.append((platform["sv_retired"], SV, consumed_total))
    if legs:
        ledger.post_bulk(
            conn,
            kind="release",
            business_day=day,
            legs=legs,
            reference=f"settlement:{day.isoformat()}:chunk:{chunk}",
            reason="daily release",
            actor="settlement",
            idempotency_key=f"release:{day.isoformat()}:{chunk}",
            rule_version=int(header["rule_version"]),
        )
    for member_id, owed in from_owed:
        conn.execute(
            update(settlement_lines)
            .where(settlement_lines.c.business_day == day, settlement_lines.c.member_id == member_id)
            .values(consumed_from_owed=owed)
        )
    conn.execute(
        update(settlements)
        .where(settlements.c.business_day == day)
        .values(
            chunks_posted=chunk + 1,
            released=settlements.c.released + released,
            share_value_consumed=settlements.c.share_value_consumed + consumed_total,
        )
    )


def _lock_holder_accounts(conn: Connection, member_ids: list[int]) -> dict[int, dict[str, tuple[int, int]]]:
    """Lock the chunk's share value and points accounts in ascending id (the global order)."""
    held: dict[int, dict[str, tuple[int, int]]] = {m: {} for m in member_ids}
    if not member_ids:
        return held
    rows = conn.execute(
        select(accounts.c.id, accounts.c.member_id, accounts.c.kind, accounts.c.balance)
        .where(
            accounts.c.member_id >= member_ids[0],
            accounts.c.member_id <= member_ids[-1],
            accounts.c.kind.in_(("sv", "sv_owed", "available")),
        )
        .order_by(accounts.c.id)
        .with_for_update()
    )
    for acc_id, member_id, kind, balance in rows:
        if int(member_id) in held:
            held[int(member_id)][kind] = (int(acc_id), int(balance))
    return held


# -- step 3: complete ------------------------------------------------------------------------------


def _complete(engine: Engine, day: date) -> None:
    with UnitOfWork(engine) as uow:
        done = uow.c.execute(
            update(settlements)
            .where(settlements.c.business_day == day, settlements.c.status == "posting")
            .values(status="completed", completed_at=datetime.now(UTC))
        )
        if done.rowcount:  # only the run that completes the day announces it
            header = _header(uow.c, day)
            events.emit(
                uow.c,
                "settlement.completed",
                None,
                {
                    "business_day": day,
                    "released": Points(int(header["released"])),
                    "network_share_value": ShareValue(int(header["network_share_value"])),
                    "holders": int(header["holders"]),
                    "guide_price": Price(int(header["guide_price"])),
                },
            )
        uow.commit()
    seal_pending(engine, wait=True)
    with UnitOfWork(engine) as uow:
        seq, digest = ledger.head(uow.c)
        uow.c.execute(
            update(settlements)
            .where(settlements.c.business_day == day, settlements.c.journal_head_seq.is_(None))
            .values(journal_head_seq=seq, journal_head_hash=digest)
        )
        uow.commit()


# -- reading ---------------------------------------------------------------------------------


def report(engine: Engine, day: date) -> SettlementReport:
    with UnitOfWork(engine, readonly=True) as uow:
        row = _header(uow.c, day)
    if row is None:
        raise Refused("not_settled", f"营业日 {day} 尚未结算", f"business day {day} has not been settled")
    return SettlementReport(
        date=row["business_day"],
        status=row["status"],
        rule_version=int(row["rule_version"]),
        guide_price=Price(int(row["guide_price"])),
        price_source=row["price_source"],
        airdrop=Points(int(row["airdrop"])),
        released=Points(int(row["released"])),
        network_share_value=ShareValue(int(row["network_share_value"])),
        holders=int(row["holders"]),
        share_value_consumed=ShareValue(int(row["share_value_consumed"])),
        leftover_units=int(row["leftover_units"]),
        journal_head_seq=row["journal_head_seq"],
        journal_head_hash=row["journal_head_hash"],
    )


def lines(
    engine: Engine, day: date, *, member_id: int | None = None, limit: int = 100, offset: int = 0
) -> list[dict[str, object]]:
    stmt = select(settlement_lines).where(settlement_lines.c.business_day == day)
    if member_id is not None:
        stmt = stmt.where(settlement_lines.c.member_id == member_id)
    stmt = stmt.order_by(settlement_lines.c.member_id).limit(limit).offset(offset)
    with UnitOfWork(engine, readonly=True) as uow:
        rows = uow.c.execute(stmt).mappings().all()
    return [
        {
            "member_id": int(r["member_id"]),
            "share_value": ShareValue(int(r["share_value"])),
            "points": Points(int(r["points"])),
            "share_value_consumed": ShareValue(int(r["share_value_consumed"])),
        }
        for r in rows
    ]
