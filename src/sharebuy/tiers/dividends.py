"""The dividend pool (分红池, SPEC §7): a period's share of turnover, paid once, out of fees.

A period (a business day, or a calendar month) is paid after its last day is settled:
- pool wanted = turnover of its days × `dividend_pool_rate` ÷ the last day's guide price;
- pool = min(wanted, the platform fee account): the pool moves existing points, never mints;
- the members holding a tier at the end of its last day share it by their tier's weight,
  with the exact split of the daily release (formulas.split_airdrop_counting_leftover);
- one balanced journal entry: fees −pool, each member's available points +p_i.
The period row is unique by its key and written with the entry, in one transaction: a period is
paid at most once however many times, or from however many places, it is run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from sharebuy.db.uow import UnitOfWork, reading, transaction
from sharebuy.kernel.amounts import Cny, Points, Price
from sharebuy.kernel.clock import business_day
from sharebuy.kernel.errors import Refused, not_found
from sharebuy.ledger import repository as ledger
from sharebuy.ledger.domain import PT
from sharebuy.ledger.service import seal_soon
from sharebuy.rewards import formulas
from sharebuy.rewards import repository as rewards
from sharebuy.rewards.models import settlements
from sharebuy.tiers import domain
from sharebuy.tiers import repository as repo
from sharebuy.tiers import service as tier_service
from sharebuy.tiers.models import dividend_lines, dividend_periods, dividend_tiers, tiers

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodReport:
    period: str
    kind: str
    first_day: date
    last_day: date
    rule_version: int
    turnover: Cny
    pool_rate: str
    guide_price: Price
    pool_wanted: Points
    fee_balance: Points
    pool: Points
    capped: bool
    members: int
    leftover_units: int
    entry_id: int | None
    actor: str
    created_at: datetime
    tiers: list[dict[str, Any]]
    replayed: bool = False


def run_period(
    engine: Engine, period: str, *, actor: str = "operator", now: datetime | None = None
) -> PeriodReport:
    """Pay one period's pool; a period already paid answers with its report, marked replayed."""
    wanted_period = domain.parse_period(period)
    today = business_day(now or datetime.now(UTC))

    def work(uow: UnitOfWork) -> bool:
        conn = uow.c
        repo.serialise(conn)
        if _period_id(conn, wanted_period.key) is not None:
            return False
        _require_payable(conn, wanted_period)
        _pay(conn, wanted_period, actor, today)
        uow.commit()
        return True

    try:
        paid_now = transaction(engine, work)
    except IntegrityError:
        # A run racing this one wrote the period first (its unique key): answer with its report.
        paid_now = False
    seal_soon(engine)
    return replace(report(engine, wanted_period.key), replayed=not paid_now)


def _period_id(conn: Any, key: str) -> int | None:
    found = conn.execute(select(dividend_periods.c.id).where(dividend_periods.c.period == key)).scalar()
    return None if found is None else int(found)


def _require_payable(conn: Any, period: domain.Period) -> None:
    settled = rewards.last_settlement(conn)
    if settled is None or settled[0] < period.last_day:
        raise Refused(
            "period_not_settled",
            f"分红周期 {period.key} 的最后一天 {period.last_day} 尚未结算",
            f"the last day of dividend period {period.key} ({period.last_day}) is not settled yet",
        )
    if period.first_day < rewards.start_day(conn) and period.kind == "daily":
        raise Refused(
            "before_start",
            f"{period.first_day} 早于平台开始营业日",
            f"{period.first_day} is before the platform's first business day",
        )
    overlap = conn.execute(
        select(dividend_periods.c.period).where(
            dividend_periods.c.first_day <= period.last_day, dividend_periods.c.last_day >= period.first_day
        )
    ).scalar()
    if overlap is not None:
        raise Refused(
            "period_overlaps",
            f"分红周期 {period.key} 与已发放的 {overlap} 重叠，同一天的营业额只分一次",
            f"dividend period {period.key} overlaps {overlap}, already paid: a day's turnover is shared once",
        )


def _pay(conn: Any, period: domain.Period, actor: str, today: date) -> None:
    version_id = rewards.version_id_for(conn, period.last_day)
    rules = rewards.version(conn, version_id)
    rate = rules["dividend_pool_rate"]
    price = int(
        conn.execute(
            select(settlements.c.guide_price).where(settlements.c.business_day == period.last_day)
        ).scalar_one()
    )
    turnover = repo.turnover(conn, period.first_day, period.last_day)
    wanted = domain.pool_wanted(turnover, rate, price)
    # Read, not locked: only a dividend run takes points out of the fee account and runs are
    # serialised (repo.serialise), so the balance can only grow before our debit; locking it
    # here would take a platform row before member rows, against the global lock order.
    fee_balance = Points(ledger.balances(conn, "platform")["fees"])
    members = repo.dividend_members(conn, period.last_day)
    pool, capped = domain.capped_pool(wanted, fee_balance)
    if not members:
        pool = Points(0)
    ids = np.array([int(m.member_id) for m in members], dtype=np.int64)
    weights = np.array([int(m.weight) for m in members], dtype=np.int64)
    points, leftover = formulas.split_airdrop_counting_leftover(pool.units, weights, ids)
    entry_id = None
    if pool.units:
        platform = ledger.platform_accounts(conn)
        account_ids = np.array([int(m.account_id) for m in members], dtype=np.int64)
        paid = points > 0
        entry_id = ledger.post_bulk(
            conn,
            kind="dividend",
            business_day=today,
            legs=[
                (PT, account_ids[paid], points[paid]),
                (PT, np.array([platform["fees"]]), np.array([-pool.units])),
            ],
            reference=f"dividend:{period.key}",
            reason=f"dividend pool {period.key}",
            actor=actor,
            idempotency_key=f"dividend:{period.key}",
            rule_version=version_id,
            platform_ids=(platform["fees"],),
        )
    period_id = conn.execute(
        insert(dividend_periods).returning(dividend_periods.c.id),
        {
            "period": period.key,
            "kind": period.kind,
            "first_day": period.first_day,
            "last_day": period.last_day,
            "rule_version": version_id,
            "turnover": turnover.units,
            "pool_rate": int(rate * 10_000),
            "guide_price": price,
            "pool_wanted": wanted.units,
            "fee_balance": fee_balance.units,
            "pool": pool.units,
            "capped": capped and bool(members),
            "members": len(members),
            "leftover_units": leftover,
            "entry_id": entry_id,
            "actor": actor,
            "created_at": datetime.now(UTC),
        },
    ).scalar_one()
    per_tier: dict[str, list[int]] = {}
    for member, share in zip(members, points.tolist(), strict=True):
        totals = per_tier.setdefault(member.tier_code, [int(member.weight), 0, 0])
        totals[1] += 1
        totals[2] += share
    if per_tier:
        conn.execute(
            insert(dividend_tiers),
            [
                {"period_id": period_id, "tier_code": code, "weight": w, "members": n, "amount": amount}
                for code, (w, n, amount) in sorted(per_tier.items())
            ],
        )
        conn.execute(
            insert(dividend_lines),
            [
                {"period_id": period_id, "member_id": int(m.member_id), "tier_code": m.tier_code, "points": p}
                for m, p in zip(members, points.tolist(), strict=True)
            ],
        )


def after_settlement(engine: Engine, day: date) -> None:
    """What the daily settlement does for tiers once day D is complete: evaluate the tiers for D,
    then pay the period that D closes, if the pool is on.  Nothing at all without a ladder."""
    with reading(engine) as conn:
        if not repo.has_tiers(conn):
            return
        rules = rewards.rules_for(conn, day)
    tier_service.evaluate(engine, day, actor="settlement")
    if not rules["dividend_pool_rate"]:
        return
    period = domain.period_of(rules["dividend_period"], day)
    if day != period.last_day:
        return
    try:
        run_period(engine, period.key, actor="settlement")
    except Refused as refusal:  # e.g. overlaps a period the operator paid by hand: logged, not fatal
        logger.warning("dividend period %s not paid: %s", period.key, refusal.message("en"))


# -- reading ---------------------------------------------------------------------------------


def report(engine: Engine, period: str) -> PeriodReport:
    key = domain.parse_period(period).key
    with reading(engine) as conn:
        row = (
            conn.execute(select(dividend_periods).where(dividend_periods.c.period == key)).mappings().first()
        )
        if row is None:
            raise not_found("分红周期", "dividend period", key)
        tier_rows = conn.execute(
            select(dividend_tiers, tiers.c.name_zh, tiers.c.name_en)
            .outerjoin(tiers, tiers.c.code == dividend_tiers.c.tier_code)
            .where(dividend_tiers.c.period_id == row["id"])
            .order_by(dividend_tiers.c.weight.desc(), dividend_tiers.c.tier_code)
        ).mappings()
        per_tier = [
            {
                "tier_code": t["tier_code"],
                "name_zh": t["name_zh"] or t["tier_code"],
                "name_en": t["name_en"] or t["tier_code"],
                "weight": int(t["weight"]),
                "members": int(t["members"]),
                "amount": Points(int(t["amount"])),
            }
            for t in tier_rows
        ]
    return _report(row, per_tier)


def _report(row: Any, per_tier: list[dict[str, Any]]) -> PeriodReport:
    return PeriodReport(
        period=row["period"],
        kind=row["kind"],
        first_day=row["first_day"],
        last_day=row["last_day"],
        rule_version=int(row["rule_version"]),
        turnover=Cny(int(row["turnover"])),
        pool_rate=str(domain.rate_text(int(row["pool_rate"]))),
        guide_price=Price(int(row["guide_price"])),
        pool_wanted=Points(int(row["pool_wanted"])),
        fee_balance=Points(int(row["fee_balance"])),
        pool=Points(int(row["pool"])),
        capped=bool(row["capped"]),
        members=int(row["members"]),
        leftover_units=int(row["leftover_units"]),
        entry_id=None if row["entry_id"] is None else int(row["entry_id"]),
        actor=row["actor"],
        created_at=row["created_at"],
        tiers=per_tier,
    )


def periods(engine: Engine, *, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    with reading(engine) as conn:
        rows = conn.execute(
            select(dividend_periods).order_by(dividend_periods.c.last_day.desc()).limit(limit).offset(offset)
        ).mappings()
        return [
            {
                "period": r["period"],
                "kind": r["kind"],
                "first_day": r["first_day"],
                "last_day": r["last_day"],
                "turnover": Cny(int(r["turnover"])),
                "pool_wanted": Points(int(r["pool_wanted"])),
                "pool": Points(int(r["pool"])),
                "capped": bool(r["capped"]),
                "members": int(r["members"]),
                "created_at": r["created_at"],
            }
            for r in rows
        ]


def lines(
    engine: Engine, period: str, *, member_id: int | None = None, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    key = domain.parse_period(period).key
    with reading(engine) as conn:
        period_id = _period_id(conn, key)
        if period_id is None:
            raise not_found("分红周期", "dividend period", key)
        stmt = select(dividend_lines).where(dividend_lines.c.period_id == period_id)
        if member_id is not None:
            stmt = stmt.where(dividend_lines.c.member_id == member_id)
        rows = conn.execute(stmt.order_by(dividend_lines.c.member_id).limit(limit).offset(offset)).mappings()
        return [
            {
                "member_id": int(r["member_id"]),
                "tier_code": r["tier_code"],
                "points": Points(int(r["points"])),
            }
            for r in rows
        ]


def member_dividends(engine: Engine, member_id: int, *, limit: int = 24) -> list[dict[str, Any]]:
    with reading(engine) as conn:
        rows = conn.execute(
            select(dividend_periods.c.period, dividend_lines.c.tier_code, dividend_lines.c.points)
            .join(dividend_periods, dividend_periods.c.id == dividend_lines.c.period_id)
            .where(dividend_lines.c.member_id == member_id)
            .order_by(dividend_periods.c.last_day.desc())
            .limit(limit)
        ).all()
    return [{"period": p, "tier_code": t, "points": Points(int(v))} for p, t, v in rows]
