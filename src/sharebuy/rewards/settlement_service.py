"""The daily release (每日空投 / 日结, SPEC §4): exactly once per business day, in date order.

A day is settled in three steps, each its own transaction, so a crash part-way resumes:
1. compute: the holders' share value at the end of the day, their points and the share value
   used up, written as the settlement header and its lines (all or nothing);
2. post: the lines in chunks, each chunk one balanced journal entry with a unique key, the
   header counting the chunks posted in the same transaction;
3. complete: the header is marked completed, the chain sealed and its head recorded (I7).
Running it again after any crash continues where it stopped; a completed day answers with its
first result.  Invariant I4: the points released on a day equal A_D exactly.

A day may have millions of holders, so the lines travel as numpy columns from the holders query
(`bulk.fetch_ints`) through the formulas to the writes (`bulk.insert_columns`,
`ledger.post_bulk`): no Python object is made per holder, and every step is linear in holders.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    select,
    text,
    update,
)

from sharebuy.db import bulk
from sharebuy.db.base import Units
from sharebuy.db.uow import UnitOfWork
from sharebuy.events import repository as events
from sharebuy.kernel.amounts import Points, Price, ShareValue
from sharebuy.kernel.clock import business_day
from sharebuy.kernel.errors import IntegrityViolation, Refused
from sharebuy.ledger import partitions
from sharebuy.ledger import repository as ledger
from sharebuy.ledger.domain import PT, SV
from sharebuy.ledger.models import accounts, entries, postings
from sharebuy.ledger.service import seal_pending
from sharebuy.market import repository as market_repository
from sharebuy.members.models import members, merchants
from sharebuy.rewards import domain, formulas, repository
from sharebuy.rewards.models import purchases, settlement_lines, settlements
from sharebuy.tiers import dividends

logger = logging.getLogger(__name__)

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
        _follow_up(engine, completed)
        return [replace_replayed(report(engine, target))]
    with _settlement_lock(engine):
        # Read again under the lock: another server may have settled while we waited for it.
        with UnitOfWork(engine, readonly=True) as uow:
            completed = _last_completed(uow.c)
        if completed is not None:
            _follow_up(engine, completed)
        if completed is not None and target <= completed:
            return [replace_replayed(report(engine, target))]
        reports = []
        day = start if completed is None else completed + timedelta(days=1)
        while day <= target:
            reports.append(settle_day(engine, day, progress=progress))
            day += timedelta(days=1)
        # Still under the settlement lock, so two servers never race to create the same month.
        partitions.ensure_ahead(engine, today)
    return reports


def _follow_up(engine: Engine, completed: date) -> None:
    """Finish what follows the last completed day (tiers, a closing dividend period) in case a
    crash came between completing the day and that step: both are idempotent, so doing it again
    after a clean run changes nothing, and the next day is never settled without it."""
    dividends.after_settlement(engine, completed)


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
    lines: _Lines | None = None
    with UnitOfWork(engine) as uow:
        header = _header(uow.c, day)
        if header is None:
            header, lines = _compute(uow.c, day, progress)
            uow.commit()
    if header["status"] == "posting":
        posted = int(header["chunks_posted"])
        if lines is None:  # resuming: the lines the computing run wrote, read once
            with UnitOfWork(engine, readonly=True) as uow:
                lines = _read_lines(uow.c, day, from_chunk=posted)
        with _SealAlongside(engine) as sealer:
            for chunk in range(posted, int(header["chunks"])):
                if stop_after_chunks is not None and chunk - posted >= stop_after_chunks:
                    return report(engine, day)
                with UnitOfWork(engine) as uow:
                    _post_chunk(uow.c, day, chunk, lines.chunk(chunk))
                    uow.commit()
                sealer.nudge()
                progress("post", chunk + 1, int(header["chunks"]))
        _complete(engine, day)
        # Tiers are evaluated, and a closing dividend period paid, once the day is complete:
        # both read the settled day, and each is idempotent should the run be repeated.
        dividends.after_settlement(engine, day)
    return report(engine, day)


class _SealAlongside:
    """On PostgreSQL, seal each posted chunk while the next one is being posted (a thread on a
    connection of its own), so that completing the day has little left to seal.  The chain is
    the same whoever seals: entries join it in id order.  SQLite has one writer at a time, so
    there all the sealing waits for `_complete`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.wake = threading.Event()
        self.done = False
        self.thread: threading.Thread | None = None

    def __enter__(self) -> _SealAlongside:
        if self.engine.dialect.name == "postgresql":
            self.thread = threading.Thread(target=self._run, name="settlement-sealer", daemon=True)
            self.thread.start()
        return self

    def nudge(self) -> None:
        self.wake.set()

    def __exit__(self, *exc: object) -> None:
        self.done = True
        self.wake.set()
        if self.thread is not None:
            self.thread.join()

    def _run(self) -> None:
        while True:
            self.wake.wait()
            self.wake.clear()
            if self.done:
                return
            try:
                seal_pending(self.engine)  # skips if another sealer holds the chain head
            except Exception:  # `_complete` seals whatever is left, and reports its errors
                logger.warning("sealing alongside the settlement failed", exc_info=True)
                return


def _header(conn: Connection, day: date) -> Any:
    return conn.execute(select(settlements).where(settlements.c.business_day == day)).mappings().first()


# -- the lines, as columns ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Lines:
    """Settlement lines ordered by member id (so chunk numbers ascend too), as numpy columns."""

    member_id: np.ndarray
    chunk_no: np.ndarray
    points: np.ndarray
    consumed: np.ndarray

    def chunk(self, number: int) -> _Lines:
        lo, hi = np.searchsorted(self.chunk_no, [number, number + 1])
        return _Lines(self.member_id[lo:hi], self.chunk_no[lo:hi], self.points[lo:hi], self.consumed[lo:hi])


def _read_lines(conn: Connection, day: date, *, from_chunk: int) -> _Lines:
    data = bulk.fetch_ints(
        conn,
        select(
            settlement_lines.c.member_id,
            settlement_lines.c.chunk,
            settlement_lines.c.points,
            settlement_lines.c.share_value_consumed,
        )
        .where(settlement_lines.c.business_day == day, settlement_lines.c.chunk >= from_chunk)
        .order_by(settlement_lines.c.member_id),
        4,
    )
    return _Lines(data[:, 0], data[:, 1], data[:, 2], data[:, 3])


# -- step 1: compute --------------------------------------------------------------------------


def _compute(conn: Connection, day: date, progress: Progress) -> tuple[Any, _Lines]:
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
    market = market_repository.market_price(conn, day)  # VWAP of the trades completed on D (SPEC §6)
    price = domain.guide_price(last_price, market, rules["price_floor"])
    source = "market" if market is not None else ("carried" if previous is not None else "initial")
    reserve = ledger.balances(conn, "platform")["reserve"]
    airdrop = min(rules["daily_airdrop"].units, reserve)

    progress("compute", 0, 1)
    bulk.tune_for_bulk(conn)
    ids, share_value = _holders(conn, day, rules["activity_window_days"])
    if len(ids) == 0:
        airdrop = 0
    points, leftover = formulas.split_airdrop_counting_leftover(airdrop, share_value, ids)
    consumed = formulas.share_value_consumed(points, share_value, price.units)
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
            "network_share_value": formulas.exact_sum(share_value),
            "holders": len(ids),
            "released": 0,
            "share_value_consumed": 0,
            "leftover_units": leftover,
            "chunks": chunks,
            "chunks_posted": 0,
            "started_at": datetime.now(UTC),
        },
    )
    # Holders are in member id order, so chunk k is the k-th run of CHUNK_SIZE member ids.
    lines = _Lines(ids, np.arange(len(ids), dtype=np.int64) // CHUNK_SIZE, points, consumed)
    bulk.insert_columns(
        conn,
        "settlement_lines",
        {
            "business_day": day,
            "member_id": lines.member_id,
            "chunk": lines.chunk_no.astype(np.int32),  # an INTEGER column
            "share_value": share_value,
            "points": lines.points,
            "share_value_consumed": lines.consumed,
            "consumed_from_owed": 0,
        },
    )
    progress("compute", 1, 1)
    return _header(conn, day), lines


def _holders(conn: Connection, day: date, window_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Eligible holders and their share value at the end of `day`, ordered by member id.

    Share value at the end of the day is today's balance less whatever was posted for later
    days, so a day can be settled after later purchases were already recorded (catch-up).
    Subtracting costs a scan of the later postings; when there are none the balances are the
    day's end already.  On PostgreSQL another transaction may commit a later entry between
    statements, so "none" is asked again after the balances were read: an entry committed
    before that read is seen by the second question, and then the exact query runs.
    """
    if not _has_entries_after(conn, day):
        found = bulk.fetch_ints(conn, _holders_query(day, window_days, catch_up=False), 2)
        if not _has_entries_after(conn, day):
            return _by_member(found)
    return _by_member(bulk.fetch_ints(conn, _holders_query(day, window_days, catch_up=True), 2))


def _holders_query(day: date, window_days: int, *, catch_up: bool) -> Any:
    holders: Any = accounts.join(members, members.c.id == accounts.c.member_id).outerjoin(
        merchants, merchants.c.member_id == members.c.id
    )
    at_end: Any = accounts.c.balance
    if catch_up:
        later = (
            select(postings.c.account_id, func.sum(postings.c.amount).label("delta"))
            .join(entries, entries.c.id == postings.c.entry_id)
            .where(entries.c.business_day > day, postings.c.asset == SV)
            .group_by(postings.c.account_id)
            .subquery()
        )
        holders = holders.outerjoin(later, later.c.account_id == accounts.c.id)
        # A SUM is NUMERIC on PostgreSQL: cast back so that the driver hands over plain ints.
        at_end = cast(accounts.c.balance - func.coalesce(later.c.delta, 0), Units)
    # No ORDER BY: numpy sorts the unique member ids faster than the database, without spilling.
    stmt = (
        select(members.c.id, at_end)
        .select_from(holders)
        .where(
            accounts.c.kind == "sv",
            members.c.frozen.is_(False),
            members.c.activated_day.is_not(None),
            members.c.activated_day <= day,
            func.coalesce(merchants.c.status, literal("consumer")) != "closed",
            at_end > 0,
        )
    )
    if window_days:
        since = day - timedelta(days=window_days - 1)
        active = lambda column: exists().where(  # noqa: E731
            and_(column == members.c.id, purchases.c.business_day >= since, purchases.c.business_day <= day)
        )
        stmt = stmt.where(active(purchases.c.consumer_id) | active(purchases.c.merchant_id))
    return stmt


def _has_entries_after(conn: Connection, day: date) -> bool:
    found = conn.execute(select(entries.c.id).where(entries.c.business_day > day).limit(1)).first()
    return found is not None


def _by_member(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(member ids ascending, share values) from (member id, share value) rows."""
    rows = rows[np.argsort(rows[:, 0])]
    return rows[:, 0].copy(), rows[:, 1].copy()


# -- step 2: post --------------------------------------------------------------------------------


def _post_chunk(conn: Connection, day: date, chunk: int, lines: _Lines) -> None:
    header = (
        conn.execute(select(settlements).where(settlements.c.business_day == day).with_for_update())
        .mappings()
        .one()
    )
    if header["status"] != "posting" or int(header["chunks_posted"]) != chunk:
        return  # another run posted it already
    bulk.tune_for_bulk(conn)
    sv, sv_balance, available = _lock_holder_accounts(conn, lines.member_id)
    taken, owed = formulas.take_back(lines.consumed, sv_balance)
    paid, took, short = lines.points > 0, taken > 0, owed > 0
    released = formulas.exact_sum(lines.points)
    consumed_total = formulas.exact_sum(lines.consumed)
    platform = ledger.platform_accounts(conn)
    legs: list[ledger.BulkLegs] = [
        (PT, available[paid], lines.points[paid]),
        (SV, sv[took], -taken[took]),
        # A refund after the day ended left less share value than the day had: the rest is owed.
        (SV, _lock_owed_accounts(conn, lines.member_id[short]), -owed[short]),
    ]
    if released:
        legs.append((PT, np.array([platform["reserve"]]), np.array([-released])))
    if consumed_total:
        legs.append((SV, np.array([platform["sv_retired"]]), np.array([consumed_total])))
    if released or consumed_total:
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
            platform_ids=(platform["reserve"], platform["sv_retired"]),
        )
    if short.any():
        conn.execute(
            update(settlement_lines)
            .where(
                settlement_lines.c.business_day == day,
                settlement_lines.c.member_id == bindparam("member"),
            )
            .values(consumed_from_owed=bindparam("owed")),
            [
                {"member": m, "owed": o}
                for m, o in zip(lines.member_id[short].tolist(), owed[short].tolist(), strict=True)
            ],
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


def _lock_holder_accounts(conn: Connection, member_ids: np.ndarray) -> tuple[np.ndarray, ...]:
    """Lock the chunk's share value and available points accounts in ascending id (the global
    order); returns, aligned with `member_ids`: sv account ids, their balances, available ids."""
    if len(member_ids) == 0:
        return _NO_IDS, _NO_IDS, _NO_IDS
    rows = bulk.fetch_ints(
        conn,
        select(
            accounts.c.id,
            accounts.c.member_id,
            case((accounts.c.kind == "sv", 0), else_=1),
            accounts.c.balance,
        )
        .where(
            accounts.c.member_id >= int(member_ids[0]),
            accounts.c.member_id <= int(member_ids[-1]),
            accounts.c.kind.in_(("sv", "available")),
        )
        .order_by(accounts.c.id)
        .with_for_update(),
        4,
    )
    sv, sv_balance = _aligned(rows[rows[:, 2] == 0], member_ids, "sv")
    available, _ = _aligned(rows[rows[:, 2] == 1], member_ids, "available")
    return sv, sv_balance, available


def _lock_owed_accounts(conn: Connection, member_ids: np.ndarray) -> np.ndarray:
    """The clawback owed accounts of these members (rarely any), locked after their share value
    accounts.  That is out of the ascending order but cannot deadlock: every writer of a
    member's owed account first locks the member's share value account (its lowest id, through
    `ledger.lock_member_accounts`), which this transaction holds already."""
    if len(member_ids) == 0:
        return _NO_IDS
    rows = bulk.fetch_ints(
        conn,
        select(accounts.c.id, accounts.c.member_id, literal(0), accounts.c.balance)
        .where(accounts.c.member_id.in_(member_ids.tolist()), accounts.c.kind == "sv_owed")
        .order_by(accounts.c.id)
        .with_for_update(),
        4,
    )
    return _aligned(rows, member_ids, "sv_owed")[0]


_NO_IDS = np.zeros(0, dtype=np.int64)


def _aligned(rows: np.ndarray, member_ids: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(account id, balance) of one kind for each of `member_ids`, from rows (id, member, _, balance)."""
    rows = rows[np.argsort(rows[:, 1], kind="stable")]
    at = np.searchsorted(rows[:, 1], member_ids)
    if len(rows) == 0 or (rows[np.minimum(at, len(rows) - 1), 1] != member_ids).any():
        raise IntegrityViolation(
            "missing_account", f"持有人缺少 {kind} 账户", f"a holder has no {kind} account"
        )
    return rows[at, 0], rows[at, 3]


# -- step 3: complete ------------------------------------------------------------------------------


def _complete(engine: Engine, day: date) -> None:
    # Seal first, then mark the day completed and record the chain head in one transaction: a
    # crash between two separate commits would leave a completed day with no head (I7), and a
    # completed day is never taken up again.
    seal_pending(engine, wait=True)
    with UnitOfWork(engine) as uow:
        seq, digest = ledger.head(uow.c)
        done = uow.c.execute(
            update(settlements)
            .where(settlements.c.business_day == day, settlements.c.status == "posting")
            .values(
                status="completed",
                completed_at=datetime.now(UTC),
                journal_head_seq=seq,
                journal_head_hash=digest,
            )
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
